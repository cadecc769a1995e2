//! Hostile targets and signals: a table of the ways a team's integration (or CI) can end a run
//! badly, each driven through the real `golive` binary against a real process on loopback.
//! Every row must end with a clear verdict or error and the exit code that says it, the three
//! reports written, no panic (exit 101) and no process of the run left alive — proven by pid
//! and process group, never by name.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use golive::exit;

use crate::support::{assert_junit_valid, ROOT};

const GOLIVE: &str = env!("CARGO_BIN_EXE_golive");
const SHOP: &str = include_str!("hostile/shop.py");

/// Two short KontoCloud journeys and one check per journey: enough to reach every part of a
/// run, fast with the timeouts below.
const SUITE: &str = r#"golive: 1
id: hostile
title: Hostile targets
provider: kontocloud
settings:
  wait_timeout_s: 0.5
  request_timeout_s: 1
scenarios:
  - id: pay
    title: A purchase the shopper pays
    vars: { amount: "10.00", currency: EUR, payment_type: Purchase }
    steps:
      - trigger: { name: start_payment }
      - shopper: { pay: OK }
      - wait_for: { operation: payment_status }
      - probe_order: { settle_s: 0.3 }
  - id: pay_again
    title: Another purchase
    vars: { amount: "11.00", currency: EUR, payment_type: Purchase }
    steps:
      - trigger: { name: start_payment }
      - shopper: { pay: OK }
      - wait_for: { operation: payment_status }
      - probe_order: { settle_s: 0.3 }
checks:
  - id: H-PAID
    title: A paid purchase makes the order paid
    description: After a confirmed payment the shop reports the order paid.
    severity: critical
    source: inferred
    kind: order_outcome
    scenarios: [pay, pay_again]
    params: { expect: paid }
"#;

fn target_yaml(command: &str, base_url: &str, ready_timeout: f64) -> String {
    format!(
        r#"golive: 1
name: hostile shop
start:
  command: {command:?}
  env:
    PORT: "{{{{ port }}}}"
    PIDFILE: pids
    KONTOCLOUD_BASE_URL: "{{{{ sandbox.url }}}}"
    KONTOCLOUD_USER_ID: "{{{{ credentials.user_id }}}}"
    KONTOCLOUD_PASSWORD: "{{{{ credentials.password }}}}"
base_url: "{base_url}"
ready: {{ path: /health, timeout_s: {ready_timeout} }}
triggers:
  start_payment:
    method: POST
    path: /checkout
    json: {{ orderId: "{{{{ order_id }}}}", amount: "{{{{ amount }}}}", currency: "{{{{ currency }}}}", paymentType: "{{{{ payment_type }}}}" }}
order_probe:
  path: "/orders/{{{{ order_id }}}}"
  paid_when: {{ pointer: /status, in: [paid, authorized] }}
"#
    )
}

/// A folder with the suite, the hostile shop and a target whose command is `command`. The
/// guard kills, by pid, whatever a failing test would otherwise leave behind.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(command: &str, base_url: &str, ready_timeout: f64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("suite.yaml"), SUITE).unwrap();
        std::fs::write(dir.path().join("shop.py"), SHOP).unwrap();
        std::fs::write(
            dir.path().join("target.yaml"),
            target_yaml(command, base_url, ready_timeout),
        )
        .unwrap();
        Setup { dir }
    }

    /// A target running shop.py in `mode`, on golive's free port.
    fn shop(mode: &str, ready_timeout: f64) -> Self {
        Self::new(
            &format!("echo $$ >> pids; exec python3 shop.py {mode}"),
            "http://127.0.0.1:{{ port }}",
            ready_timeout,
        )
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        Command::new(GOLIVE)
            .args(["run", "--suite", "suite.yaml", "--reports", "out"])
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("golive starts")
    }

    /// Runs golive against the target file to its end.
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--target", "target.yaml"];
        all.extend_from_slice(args);
        finish(self.spawn(&all))
    }

    /// The pids the run's processes wrote.
    fn pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.path().join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for pid in self.pids() {
            if pid > 1 && alive(pid) {
                // SAFETY: kill sends a signal to a process this test's run started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Waits for golive to end; a run still going after a minute is a hang.
fn finish(mut child: Child) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("golive hung: {:?}", child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `/proc/<pid>/stat`'s state and process group; None when the process is gone.
fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = text[text.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let _ppid = rest.next()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Alive: present and not a zombie (a zombie is dead, waiting only to be reaped).
fn alive(pid: i32) -> bool {
    matches!(stat(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// The live processes of a process group.
fn group_members(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| matches!(stat(*pid), Some((s, g)) if g == pgid && s != 'Z' && s != 'X'))
        .collect()
}

/// No process of the run, nor anything in its process groups, is alive (a killed process may
/// take a moment to go).
fn assert_nothing_survives(pids: &[i32], context: &str) {
    assert!(!pids.is_empty(), "the target wrote no pid: {context}");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let survivors: Vec<i32> = pids
            .iter()
            .flat_map(|p| {
                let mut v = group_members(*p);
                if alive(*p) {
                    v.push(*p);
                }
                v
            })
            .collect();
        if survivors.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("processes of the run survived it: {survivors:?}\n{context}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The three reports are there, JUnit valid, and report.json carries the verdict.
fn assert_reports(dir: &Path, verdict: &str, context: &str) -> serde_json::Value {
    let out = dir.join("out");
    for f in ["junit.xml", "report.html", "report.json", "journal.jsonl"] {
        assert!(out.join(f).exists(), "{f} missing: {context}");
    }
    assert_junit_valid(&out.join("junit.xml"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"], verdict, "{context}");
    assert_eq!(
        golive::report::json::schema_errors(&json),
        Vec::<String>::new()
    );
    json
}

fn assert_no_panic(out: &Output, context: &str) {
    assert_ne!(out.status.code(), Some(101), "{context}");
    assert!(!context.contains("panicked"), "{context}");
}

/// One row of the table: a hostile shop mode, the exit code and verdict it must get, and what
/// the output must say.
fn hostile(mode: &str, ready_timeout: f64, code: i32, verdict: &str, says: &[&str]) -> Setup {
    let setup = Setup::shop(mode, ready_timeout);
    let started = Instant::now();
    let out = setup.run(&["-q"]);
    let t = text(&out);
    let context = format!("mode {mode} after {:?}:\n{t}", started.elapsed());
    assert_no_panic(&out, &context);
    assert_eq!(out.status.code(), Some(code), "{context}");
    for s in says {
        assert!(t.contains(s), "`{s}` not said: {context}");
    }
    assert_reports(setup.path(), verdict, &context);
    assert_nothing_survives(&setup.pids(), &context);
    setup
}

#[test]
fn a_target_that_exits_at_once_is_named_with_its_exit_code_and_output() {
    let setup = Setup::new(
        "echo $$ >> pids; echo cannot bind port 8080; exit 3",
        "http://127.0.0.1:{{ port }}",
        5.0,
    );
    let out = setup.run(&["-q"]);
    let t = text(&out);
    assert_no_panic(&out, &t);
    assert_eq!(out.status.code(), Some(exit::RUN_FAILED), "{t}");
    assert!(
        t.contains("exited (exit code 3) before it was ready"),
        "{t}"
    );
    assert!(t.contains("cannot bind port 8080"), "{t}");
    assert_reports(setup.path(), "error", &t);
    assert_nothing_survives(&setup.pids(), &t);
}

#[test]
fn a_target_that_is_never_ready_is_stopped_after_its_timeout() {
    hostile(
        "never_ready",
        1.0,
        exit::RUN_FAILED,
        "error",
        &["not ready within 1 s", "503"],
    );
}

#[test]
fn a_target_that_kills_itself_mid_run_ends_the_run_naming_scenario_and_step() {
    let setup = hostile(
        "kill_self",
        5.0,
        exit::RUN_FAILED,
        "error",
        &[
            "your integration exited (signal 9, SIGKILL) during scenario pay, step 1 (trigger start_payment)",
            "Scenarios not run: pay_again",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(setup.path().join("out/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["not_run"], serde_json::json!(["pay_again"]));
}

#[test]
fn a_target_that_accepts_and_never_answers_is_judged_without_hanging() {
    // Every call times out after the suite's request_timeout_s (1 s): the journeys break off,
    // and the check that needed them cannot pass.
    hostile(
        "hang",
        5.0,
        exit::CHECKS_FAILED,
        "failed",
        &["H-PAID", "incomplete:"],
    );
}

#[test]
fn a_target_answering_garbage_bytes_is_judged_not_a_crash() {
    hostile("garbage", 5.0, exit::CHECKS_FAILED, "failed", &["H-PAID"]);
}

#[test]
fn a_target_answering_huge_bodies_is_judged_with_bounded_memory() {
    let setup = hostile("huge", 5.0, exit::CHECKS_FAILED, "failed", &["H-PAID"]);
    let journal = std::fs::metadata(setup.path().join("out/journal.jsonl")).unwrap();
    assert!(journal.len() < 5 * 1024 * 1024, "{} bytes", journal.len());
}

#[test]
fn a_slowloris_target_runs_into_the_request_timeout() {
    hostile("slowloris", 5.0, exit::CHECKS_FAILED, "failed", &["H-PAID"]);
}

#[test]
fn a_port_taken_by_another_server_is_said_before_the_target_starts() {
    // Another process already answers /health on the port the target file names.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for conn in listener.incoming().take(1) {
            use std::io::Write;
            let mut conn = conn.unwrap();
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let setup = Setup::new(
        "echo $$ >> pids; exec python3 shop.py ok",
        &format!("http://127.0.0.1:{port}"),
        5.0,
    );
    let out = setup.run(&["-q"]);
    let t = text(&out);
    assert_no_panic(&out, &t);
    assert_eq!(out.status.code(), Some(exit::RUN_FAILED), "{t}");
    assert!(
        t.contains(&format!("something already answers at 127.0.0.1:{port}")),
        "{t}"
    );
    assert_reports(setup.path(), "error", &t);
    assert!(setup.pids().is_empty(), "the target was started anyway");
    // The check connected once; the helper server ends after that one connection.
    server.join().unwrap();
}

#[test]
fn a_target_that_ignores_sigterm_is_killed() {
    let setup = Setup::new(
        "trap '' TERM; echo $$ >> pids; exec python3 shop.py never_ready",
        "http://127.0.0.1:{{ port }}",
        1.0,
    );
    let started = Instant::now();
    let out = setup.run(&["-q"]);
    let t = text(&out);
    assert_no_panic(&out, &t);
    assert_eq!(out.status.code(), Some(exit::RUN_FAILED), "{t}");
    assert_reports(setup.path(), "error", &t);
    assert_nothing_survives(&setup.pids(), &t);
    // One second to be ready, two to stop politely, then SIGKILL.
    assert!(started.elapsed() < Duration::from_secs(10), "{t}");
}

#[test]
fn a_target_that_detaches_keeping_its_port_is_found_and_stopped() {
    let setup = Setup::shop("detach", 5.0);
    let out = setup.run(&["-q"]);
    let t = text(&out);
    assert_no_panic(&out, &t);
    assert_eq!(out.status.code(), Some(exit::RUN_FAILED), "{t}");
    assert!(t.contains("exited (exit code 0)"), "{t}");
    assert!(
        t.contains("running outside its process group (detached)"),
        "{t}"
    );
    assert_reports(setup.path(), "error", &t);
    // The daemon wrote its own pid; it left the target's group, yet it is gone.
    assert_eq!(setup.pids().len(), 2, "{t}");
    assert_nothing_survives(&setup.pids(), &t);
}

/// The reference shop as a team's target, its pid noted, with the bundled suite: a run long
/// enough to be interrupted.
fn reference_target(trap_term: bool) -> Setup {
    let setup = Setup::new(
        &format!(
            "{}echo $$ >> pids; exec {{{{ golive }}}} reference kontocloud --port {{{{ port }}}}",
            if trap_term { "trap '' TERM; " } else { "" }
        ),
        "http://127.0.0.1:{{ port }}",
        10.0,
    );
    std::fs::copy(
        Path::new(ROOT).join("suites/kontocloud-go-live.yaml"),
        setup.path().join("suite.yaml"),
    )
    .unwrap();
    setup
}

/// Starts golive against the target file, waits until its first scenario is under way, and
/// sends each signal after its pause.
fn interrupt(setup: &Setup, signals: &[(libc::c_int, Duration)]) -> (Output, Duration) {
    interrupt_with(setup, &["--target", "target.yaml"], signals)
}

fn interrupt_with(
    setup: &Setup,
    args: &[&str],
    signals: &[(libc::c_int, Duration)],
) -> (Output, Duration) {
    let mut child = setup.spawn(args);
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("[1/") {
            break;
        }
    }
    assert!(seen.contains("[1/"), "the run never got going:\n{seen}");
    let started = Instant::now();
    let pid = child.id() as i32;
    for (signal, after) in signals {
        std::thread::sleep(*after);
        // SAFETY: kill sends a signal to the golive process this test started.
        unsafe { libc::kill(pid, *signal) };
    }
    let rest = std::thread::spawn(move || {
        for line in lines {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let mut out = finish(child);
    let took = started.elapsed();
    out.stderr = rest.join().unwrap().into_bytes();
    (out, took)
}

fn interrupted_cleanly(signal: libc::c_int, name: &str) {
    let setup = reference_target(false);
    let (out, _) = interrupt(&setup, &[(signal, Duration::from_millis(200))]);
    let t = text(&out);
    assert_no_panic(&out, &t);
    assert_eq!(out.status.code(), Some(exit::INTERRUPTED), "{t}");
    assert!(t.contains("golive INTERRUPTED"), "{t}");
    assert!(t.contains(&format!("Interrupted by {name}")), "{t}");
    assert!(t.contains("Scenarios not run:"), "{t}");
    let json = assert_reports(setup.path(), "interrupted", &t);
    assert_eq!(json["interrupted"], name);
    let not_run = json["not_run"].as_array().unwrap();
    assert!(!not_run.is_empty(), "{t}");
    // Each scenario not run is in JUnit, its checks as errors: nothing vanishes.
    let junit = std::fs::read_to_string(setup.path().join("out/junit.xml")).unwrap();
    assert!(junit.contains(r#"type="interrupted""#), "{junit}");
    let first = not_run[0].as_str().unwrap();
    assert!(
        junit.contains(&format!("scenario {first} was not run")),
        "{junit}"
    );
    let html = std::fs::read_to_string(setup.path().join("out/report.html")).unwrap();
    assert!(html.contains(&format!("The run was interrupted by {name}")));
    assert_nothing_survives(&setup.pids(), &t);
}

#[test]
fn sigint_stops_the_target_and_writes_partial_reports() {
    interrupted_cleanly(libc::SIGINT, "SIGINT");
}

#[test]
fn sigterm_stops_the_target_and_writes_partial_reports() {
    interrupted_cleanly(libc::SIGTERM, "SIGTERM");
}

#[test]
fn a_second_ctrl_c_stops_at_once_and_still_kills_the_target() {
    // The shop ignores SIGTERM, so the orderly stop would take two seconds; the second
    // SIGINT does not wait for it.
    let setup = reference_target(true);
    let (out, took) = interrupt(
        &setup,
        &[
            (libc::SIGINT, Duration::from_millis(100)),
            (libc::SIGINT, Duration::from_millis(300)),
        ],
    );
    let t = text(&out);
    assert_no_panic(&out, &t);
    assert_eq!(out.status.code(), Some(exit::INTERRUPTED), "{t}");
    assert!(t.contains("again: stopping now"), "{t}");
    assert!(took < Duration::from_millis(1800), "took {took:?}: {t}");
    assert_nothing_survives(&setup.pids(), &t);
}

#[test]
fn reports_that_cannot_be_written_are_not_listed() {
    // `out` is a file, so no report can go into `out/`.
    let setup = Setup::shop("ok", 5.0);
    std::fs::write(setup.path().join("out"), "not a folder").unwrap();
    let out = setup.run(&["-q"]);
    let t = text(&out);
    assert_no_panic(&out, &t);
    assert_eq!(out.status.code(), Some(exit::RUN_FAILED), "{t}");
    assert!(t.contains("the reports could not be written"), "{t}");
    assert!(!t.contains("Reports:") && !t.contains("report.html"), "{t}");
    assert!(t.contains("No report was written"), "{t}");
}

#[test]
fn sigint_stops_a_built_in_reference_shop_run_too() {
    // The reference shop runs inside golive (`--reference`): the interruption stops it and
    // still writes the partial reports.
    let setup = reference_target(false);
    let (out, _) = interrupt_with(
        &setup,
        &["--reference"],
        &[(libc::SIGINT, Duration::from_millis(200))],
    );
    let t = text(&out);
    assert_no_panic(&out, &t);
    assert_eq!(out.status.code(), Some(exit::INTERRUPTED), "{t}");
    let json = assert_reports(setup.path(), "interrupted", &t);
    assert_eq!(json["interrupted"], "SIGINT");
}
