//! `golive sandbox` and `golive judge`: the simulated provider on its own, and the checks over
//! a journal recorded earlier, from the outside.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use golive::journal::{self, Entry};

use crate::support::{run_reference, ROOT};

const GOLIVE: &str = env!("CARGO_BIN_EXE_golive");

/// What `golive sandbox` prints before it serves: its URL and test account as `NAME=value`
/// lines, up to the "Ctrl-C" line. The reader is handed back so the pipe stays open.
fn printed_environment(
    child: &mut Child,
) -> (
    std::collections::BTreeMap<String, String>,
    BufReader<std::process::ChildStdout>,
) {
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = std::collections::BTreeMap::new();
    let mut line = String::new();
    while !line.starts_with("Ctrl-C") {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("golive sandbox ended before printing its credentials: {printed:?}");
        }
        if let Some((k, v)) = line.trim().split_once('=') {
            printed.insert(k.to_string(), v.to_string());
        }
    }
    (printed, stdout)
}

/// `golive sandbox --provider kontocloud --journal PATH`, with `extra` arguments, its stdout
/// piped for [`printed_environment`].
fn spawn_sandbox(journal: &Path, extra: &[&str]) -> Child {
    Command::new(GOLIVE)
        .args(["sandbox", "--provider", "kontocloud", "--journal"])
        .arg(journal)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for a process to end, at most `limit`; kills it (by its pid) and fails if it does not.
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("golive sandbox did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn the_standalone_sandbox_serves_journals_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("dev.jsonl");
    let port = golive::driver::process::free_port().unwrap();
    let mut child = Command::new(GOLIVE)
        .args(["sandbox", "--provider", "kontocloud", "--port"])
        .arg(port.to_string())
        .arg("--journal")
        .arg(&journal_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It prints its URL and the test account, as environment variables, then serves.
    // Kept open until the test ends, so the sandbox's stdout never closes under it.
    let (printed, _stdout) = printed_environment(&mut child);
    let url = &printed["KONTOCLOUD_BASE_URL"];
    assert_eq!(url, &format!("http://127.0.0.1:{port}"));
    let user = &printed["KONTOCLOUD_USER_ID"];
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{url}/user/{user}/issue"))
        .json(&serde_json::json!({
            "password": printed["KONTOCLOUD_PASSWORD"],
            "partnerReference": "dev-1", "localDate": "2026-01-01", "localTime": "120000"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let token: serde_json::Value = answer.json().await.unwrap();
    assert!(token["token"].is_string(), "{token}");

    // Ctrl-C: the sandbox flushes its journal and exits 0.
    let pid = child.id() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    // The process is gone: signal 0 to its pid finds nothing (it has been reaped above).
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0);

    let exchanges: Vec<_> = journal::read_path(&journal_path)
        .unwrap()
        .filter_map(|e| match e.unwrap() {
            Entry::Exchange(x) => Some(x),
            _ => None,
        })
        .collect();
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    assert_eq!(exchanges[0].request.url, format!("/user/{user}/issue"));
    assert_eq!(exchanges[0].status(), Some(200));
    assert_eq!(exchanges[0].operation(), Some("issue_token"));
}

#[test]
fn the_standalone_sandbox_names_an_unknown_provider() {
    let out = Command::new(GOLIVE)
        .args(["sandbox", "--provider", "paypel", "--journal"])
        .arg(tempfile::tempdir().unwrap().path().join("j.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("paypel") && err.contains("kontocloud"),
        "{err}"
    );
}

/// (check id, scenario, outcome) of every verdict of a report.json.
fn verdicts(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["scenario"].as_str().unwrap_or("").to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn a_journal_judged_offline_gives_the_runs_verdicts() {
    let run_dir = tempfile::tempdir().unwrap();
    let outcome = run_reference(
        "kontocloud",
        None,
        &["trust_callback"],
        run_dir.path(),
        Some(0.1),
    )
    .await;
    assert_eq!(outcome.exit_code, 1, "the flawed shop fails checks");
    let judged_dir = tempfile::tempdir().unwrap();
    let out = Command::new(GOLIVE)
        .args(["judge", "--suite"])
        .arg(Path::new(ROOT).join("suites/kontocloud-go-live.yaml"))
        .arg("--journal")
        .arg(run_dir.path().join("journal.jsonl"))
        .arg("--reports")
        .arg(judged_dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = read_json(&run_dir.path().join("report.json"));
    let offline = read_json(&judged_dir.path().join("report.json"));
    assert_eq!(verdicts(&offline), verdicts(&run));
    assert!(verdicts(&run).iter().any(|(_, _, o)| o == "failed"));
    // The same scenarios, read back from the journal's tags.
    let ids = |r: &serde_json::Value| -> Vec<String> {
        r["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&offline), ids(&run));
    for file in ["junit.xml", "report.html"] {
        assert!(judged_dir.path().join(file).exists(), "{file} written");
    }
    crate::support::assert_junit_valid(&judged_dir.path().join("junit.xml"));
}

#[test]
fn a_check_whose_scenarios_the_journal_lacks_is_skipped_with_that_reason() {
    // A journal with one scenario of the suite: the checks of the other scenarios say why they
    // were not judged.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let j = golive::journal::Journal::create(&path).unwrap();
    j.start_scenario(golive::journal::ScenarioStart {
        lane: 0,
        scenario: "purchase_captured".into(),
        title: "t".into(),
        at_ms: 0.0,
        token_lifetime_s: Some(600.0),
    });
    j.end_scenario(golive::journal::ScenarioEnd {
        scenario: "purchase_captured".into(),
        at_ms: 1.0,
        error: None,
    });
    j.flush().unwrap();
    let suite = golive::run::load_bundled_suite("kontocloud").unwrap();
    let judged = golive::standalone::judge(&suite, &path, &dir.path().join("reports"));
    let forged: Vec<_> = suite
        .value
        .checks
        .iter()
        .filter(|c| {
            c.scenarios
                .as_ref()
                .is_some_and(|s| !s.iter().any(|s| s == "purchase_captured"))
        })
        .map(|c| c.id.clone())
        .collect();
    assert!(!forged.is_empty());
    for id in forged {
        let c = judged.report.checks.iter().find(|c| c.id == id).unwrap();
        assert_eq!(c.outcome, golive::report::Outcome::Skipped);
        assert!(
            c.message
                .contains("the journal holds none of this check's scenarios"),
            "{}",
            c.message
        );
    }
}

#[tokio::test]
async fn the_standalone_sandbox_injects_the_faults_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("faults.jsonl");
    let mut child = spawn_sandbox(
        &journal_path,
        &[
            "--settings",
            r#"{"inject":[{"operation":"issue_token","status":503,"times":1}]}"#,
        ],
    );
    // Kept open until the test ends, so the sandbox's stdout never closes under it.
    let (printed, _stdout) = printed_environment(&mut child);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let issue = || {
        client
            .post(format!(
                "{}/user/{}/issue",
                printed["KONTOCLOUD_BASE_URL"], printed["KONTOCLOUD_USER_ID"]
            ))
            .json(&serde_json::json!({
                "password": printed["KONTOCLOUD_PASSWORD"],
                "partnerReference": "dev-2", "localDate": "2026-01-01", "localTime": "120000"
            }))
            .send()
    };
    // Once, as asked; then the sandbox answers normally again.
    assert_eq!(issue().await.unwrap().status(), 503);
    assert_eq!(issue().await.unwrap().status(), 200);
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    let injected: Vec<_> = journal::read_path(&journal_path)
        .unwrap()
        .filter_map(|e| match e.unwrap() {
            Entry::Exchange(x) => Some(x.facts.injected.is_some()),
            _ => None,
        })
        .collect();
    assert_eq!(injected, vec![true, false]);
}

#[test]
fn the_standalone_sandbox_refuses_settings_that_are_not_a_json_object() {
    let dir = tempfile::tempdir().unwrap();
    for (settings, expected) in [("[1]", "JSON object"), ("{nope", "not JSON")] {
        let out = Command::new(GOLIVE)
            .args(["sandbox", "--provider", "kontocloud", "--journal"])
            .arg(dir.path().join("j.jsonl"))
            .args(["--settings", settings])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{err}");
    }
}

/// The exchanges a journal file holds now (a line cut short by a write in progress is not
/// counted).
fn journaled_now(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .filter_map(|e| match e {
            Entry::Exchange(x) => Some(x.seq),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_killed_standalone_sandbox_leaves_every_answered_exchange_in_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("killed.jsonl");
    let mut child = spawn_sandbox(&journal_path, &[]);
    let (printed, _stdout) = printed_environment(&mut child);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!(
        "{}/user/{}/issue",
        printed["KONTOCLOUD_BASE_URL"], printed["KONTOCLOUD_USER_ID"]
    );
    const CALLS: u64 = 300;
    for i in 0..CALLS {
        let answer = client
            .post(&url)
            .json(&serde_json::json!({
                "password": printed["KONTOCLOUD_PASSWORD"],
                "partnerReference": format!("kill-{i}"), "localDate": "2026-01-01", "localTime": "120000"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    // Nobody asks for a flush: the journal writer gets every answered exchange into the file
    // on its own (within 100 ms by design; the bound here is only against a hang).
    let deadline = Instant::now() + Duration::from_secs(30);
    while (journaled_now(&journal_path).len() as u64) < CALLS {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} of {CALLS} answered exchanges reached the journal",
                journaled_now(&journal_path).len()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: no handler, no flush at exit. What was written stays, whole and in order.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) },
        0
    );
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(!status.success());
    let text = std::fs::read_to_string(&journal_path).unwrap();
    assert!(text.ends_with('\n'), "the journal ends in a cut line");
    let seqs: Vec<u64> = journal::read_path(&journal_path)
        .unwrap()
        .filter_map(|e| match e.unwrap() {
            Entry::Exchange(x) => Some(x.seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, (1..=CALLS).collect::<Vec<_>>());
}
