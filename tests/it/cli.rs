//! The `golive` binary from the outside: the commands a team types, against real files, real
//! processes and real servers on loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{assert_junit_valid, golive, text, GOLIVE, ROOT};

fn suite_path() -> PathBuf {
    Path::new(ROOT).join("suites/kontocloud-go-live.yaml")
}

const BAD_SUITE: &str = r#"golive: 1
id: broken
title: A suite with mistakes
provider: kontocloud
scenarios:
  - id: pay
    title: Pay
    stepz: []
  - id: pay2
    title: Pay again
    steps:
      - trigger: { name: start_payment }
      - shopper: { pay: OK, tip: 5 }
      - wait_for: { operation: payment_status, timeout_s: "ten" }
checks:
  - id: C1
    title: A check
    description: d
    severity: urgent
    source: inferred
    kind: token_reuse
  - id: C2
    title: Another
    description: d
    severity: major
    source: inferred
    kind: token_reuze
"#;

#[test]
fn validate_names_every_mistake_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("suite.yaml"), BAD_SUITE).unwrap();
    let out = golive(&["validate", "--suite", "suite.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    insta::assert_snapshot!("validate_schema_errors", text(&out));
}

#[test]
fn validate_finds_what_the_schema_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let suite = BAD_SUITE
        .replace("    stepz: []\n", "    steps: [{ probe_order: {} }]\n")
        .replace("timeout_s: \"ten\"", "timeout_s: 10")
        .replace("severity: urgent", "severity: critical");
    std::fs::write(dir.path().join("suite.yaml"), &suite).unwrap();
    std::fs::write(
        dir.path().join("target.yaml"),
        "golive: 1\nname: shop\nbase_url: http://127.0.0.1:9\ntriggers:\n  begin: { path: /pay }\n",
    )
    .unwrap();
    let out = golive(
        &[
            "validate",
            "--suite",
            "suite.yaml",
            "--target",
            "target.yaml",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    insta::assert_snapshot!("validate_semantic_errors", text(&out));
}

#[test]
fn a_duplicate_key_is_an_error_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let suite = std::fs::read_to_string(suite_path()).unwrap().replacen(
        "title: KontoCloud Go-Live Assessment\n",
        "title: KontoCloud Go-Live Assessment\ntitle: again\n",
        1,
    );
    std::fs::write(dir.path().join("dup.yaml"), suite).unwrap();
    let out = golive(&["run", "--suite", "dup.yaml", "--reference"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(t.contains("dup.yaml:9:1"), "{t}");
    assert!(t.contains("appear only once"), "{t}");
    assert!(t.to_lowercase().contains("duplicate"), "{t}");
    assert!(
        !dir.path().join("reports").exists(),
        "nothing runs on a bad suite"
    );
}

#[test]
fn the_bundled_files_are_valid() {
    let out = golive(
        &[
            "validate",
            "--suite",
            "suites/kontocloud-go-live.yaml",
            "--target",
            "targets/kontocloud-reference.yaml",
        ],
        Path::new(ROOT),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The README's path for a team: a target file whose command starts the integration, named
/// by its bare file name from the folder it is in (`--target my-shop.yaml`: its parent is the
/// empty path, which once became the command's working directory and failed to start).
#[test]
fn run_starts_the_target_command_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(ROOT).join("targets/kontocloud-reference.yaml"),
        dir.path().join("my-shop.yaml"),
    )
    .unwrap();
    let out = golive(
        &[
            "run",
            "--suite",
            suite_path().to_str().unwrap(),
            "--target",
            "my-shop.yaml",
            "--reports",
            "out",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("PASSED"), "{t}");
    for f in [
        "junit.xml",
        "report.html",
        "report.json",
        "journal.jsonl",
        "target.log",
    ] {
        assert!(dir.path().join("out").join(f).exists(), "{f} missing");
    }
    assert_junit_valid(&dir.path().join("out/junit.xml"));
}

#[test]
fn a_flawed_reference_exits_1_and_names_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let out = golive(
        &[
            "run",
            "--suite",
            suite_path().to_str().unwrap(),
            "--reference",
            "--flaw",
            "trust_callback",
            "--reports",
            "out",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("KC-STATUS-VERIFIED"), "{t}");
    assert!(t.contains("out/report.html"), "{t}");
}

fn write_target(dir: &Path, start: &str, ready_timeout: f64) -> PathBuf {
    let yaml = format!(
        r#"golive: 1
name: troubled shop
start:
  command: {start}
  env:
    KONTOCLOUD_BASE_URL: "{{{{ sandbox.url }}}}"
    KONTOCLOUD_USER_ID: "{{{{ credentials.user_id }}}}"
    KONTOCLOUD_PASSWORD: "{{{{ credentials.password }}}}"
base_url: "http://127.0.0.1:{{{{ port }}}}"
ready: {{ path: /health, timeout_s: {ready_timeout} }}
triggers:
  start_payment:
    path: /checkout
    json: {{ orderId: "{{{{ order_id }}}}", amount: "{{{{ amount }}}}", currency: "{{{{ currency }}}}", paymentType: "{{{{ payment_type }}}}" }}
order_probe:
  path: "/orders/{{{{ order_id }}}}"
  paid_when: {{ pointer: /status, in: [paid, authorized] }}
"#
    );
    let path = dir.join("target.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Runs the KontoCloud suite against a target file whose shop is started by `start`.
fn run_troubled(start: &str, ready_timeout: f64) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let target = write_target(dir.path(), start, ready_timeout);
    let out = golive(
        &[
            "run",
            "--suite",
            suite_path().to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
            "--reports",
            "out",
            "-q",
        ],
        dir.path(),
    );
    (dir, out)
}

#[test]
fn a_target_that_never_becomes_ready_is_a_run_error_with_reports() {
    let (dir, out) = run_troubled("\"sleep 30\"", 1.0);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("not ready within 1 s"), "{t}");
    assert_junit_valid(&dir.path().join("out/junit.xml"));
    let json = std::fs::read_to_string(dir.path().join("out/report.json")).unwrap();
    assert!(json.contains("\"verdict\": \"error\""), "{json}");
}

#[test]
fn a_target_that_exits_at_start_is_named_with_its_output() {
    let (_dir, out) = run_troubled("\"echo cannot bind port; exit 3\"", 10.0);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("exited"), "{t}");
    assert!(t.contains("cannot bind port"), "{t}");
}

#[test]
fn the_targets_own_log_is_masked_like_the_reports() {
    // A shop that prints its password, its Basic-style pair in base64 and a JWT, then exits.
    let (dir, out) = run_troubled(
        "\"echo pw: $KONTOCLOUD_PASSWORD b64: $(printf u:%s $KONTOCLOUD_PASSWORD | base64) jwt: eyJhbGciOiJub25lIn0.eyJzdWIiOiJsb2cifQ.LogSig42; exit 3\"",
        10.0,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let log = std::fs::read_to_string(dir.path().join("out/target.log")).unwrap();
    let masked =
        regex::Regex::new(r"pw: fp:[0-9a-f]{8} b64: fp:[0-9a-f]{8} jwt: fp:[0-9a-f]{8}\n").unwrap();
    assert!(masked.is_match(&log), "{log}");
    let t = text(&out);
    assert!(t.contains("pw: fp:") && !t.contains("LogSig42"), "{t}");
    for f in ["report.json", "report.html", "junit.xml"] {
        let report = std::fs::read_to_string(dir.path().join("out").join(f)).unwrap();
        assert!(!report.contains("LogSig42"), "{f}");
    }
}

#[test]
fn a_target_that_dies_mid_run_ends_the_run_and_says_so() {
    // The reference shop, killed two seconds into the run by the shell that started it: once
    // the command has exited, golive stops instead of driving the rest against a dead port.
    let started = std::time::Instant::now();
    let (dir, out) = run_troubled(
        "\"{{ golive }} reference kontocloud --port {{ port }} & sleep 2; kill $!\"",
        10.0,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("your integration exited (exit code 0) during scenario"),
        "{t}"
    );
    assert!(t.contains("Scenarios not run:"), "{t}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{t}"
    );
    let json = std::fs::read_to_string(dir.path().join("out/report.json")).unwrap();
    assert!(json.contains("\"verdict\": \"error\""), "{json}");
    assert_junit_valid(&dir.path().join("out/junit.xml"));
}

/// A shop that answers garbage: a 10 MB page of noise at checkout, non-JSON at the order
/// probe, and never calls the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_answering_garbage_gets_failed_checks_not_a_crash() {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/checkout",
            post(|| async { vec![0xffu8; 10 * 1024 * 1024] }),
        )
        .route("/orders/{id}", get(|| async { "<<not json>>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(Path::new(ROOT).join("targets/kontocloud-reference.yaml"))
        .unwrap()
        .replace(
            "base_url: \"http://127.0.0.1:{{ port }}\"",
            &format!("base_url: \"http://{addr}\""),
        );
    // Attach: no start command.
    let yaml =
        yaml.split("start:").next().unwrap().to_string() + &yaml[yaml.find("base_url:").unwrap()..];
    std::fs::write(dir.path().join("target.yaml"), yaml).unwrap();
    let suite = suite_path();
    let cwd = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        golive(
            &[
                "run",
                "--suite",
                suite.to_str().unwrap(),
                "--target",
                "target.yaml",
                "--reports",
                "out",
                "-q",
            ],
            &cwd,
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let journal = std::fs::read_to_string(dir.path().join("out/journal.jsonl")).unwrap();
    assert!(
        journal.contains("\"truncated\":true"),
        "the 10 MB answer is cut in the journal"
    );
    assert!(
        journal.len() < 20 * 1024 * 1024,
        "the journal keeps bodies bounded"
    );
    let t = text(&out);
    assert!(t.contains("KC-PAID-WHEN-CONFIRMED"), "{t}");
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    // `golive references | head -1`: the reader goes away before golive has written.
    let mut child = Command::new(GOLIVE)
        .arg("references")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0));
}

/// README's "Your own integration" lists the variables each bundled suite hands to triggers:
/// it must say what `golive provider P` (written from the code) says.
#[test]
fn the_readme_lists_the_trigger_variables_golive_provider_prints() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    for provider in ["kontocloud", "smartpay", "mobilepay", "ppaas"] {
        let out = golive(&["provider", provider], Path::new(ROOT));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let page = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = page
            .lines()
            .skip_while(|l| !l.starts_with("Triggers the bundled suite fires"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert!(!lines.is_empty(), "{page}");
        let block = format!("\n{provider}\n{}\n", lines.join("\n"));
        assert!(
            readme.contains(&block),
            "README.md should list, as `golive provider {provider}` does:{block}"
        );
    }
}

// CLI habits: filters, --bail, --verbose, --color, --var, {{ env.NAME }}, per-format report paths.

/// An environment variable set (`Some`) or removed (`None`).
type Var<'a> = (&'a str, Option<&'a str>);

/// golive in `cwd` with the environment changed as `env` says (`None` removes a variable);
/// NO_COLOR is removed unless `env` sets it, so colour tests start from a plain environment.
fn golive_env(args: &[&str], cwd: &Path, env: &[Var]) -> Output {
    let mut command = Command::new(GOLIVE);
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null());
    for (name, value) in env {
        match value {
            Some(v) => command.env(name, v),
            None => command.env_remove(name),
        };
    }
    command.output().expect("golive runs")
}

fn json_file(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn ids(values: &serde_json::Value, key: &str) -> Vec<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}

/// A quick journey and one rule: what the tests of console habits drive.
const ONE_JOURNEY: [&str; 4] = [
    "--scenario",
    "purchase_declined",
    "--check",
    "KC-UNCONFIRMED-NOT-PAID",
];

#[test]
fn a_filtered_run_drives_and_reports_only_what_matches_and_says_which_filter() {
    let dir = tempfile::tempdir().unwrap();
    let out = golive(
        &[
            "run",
            "kontocloud",
            "--reference",
            "--scenario",
            "purchase_*",
            "--check",
            "KC-STATUS-*",
            "--check",
            "KC-UNCONFIRMED-NOT-PAID",
            "--reports",
            "r",
            "--json",
            "out/result.json",
            "--junit",
            "out/ci.xml",
        ],
        dir.path(),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("golive: kontocloud-go-live against kontocloud reference shop (style a, compliant), 2 scenarios"),
        "{t}"
    );
    assert!(t.contains("  Filtered: --scenario 'purchase_*' --check 'KC-STATUS-*' --check 'KC-UNCONFIRMED-NOT-PAID'; 7 scenario(s) left out: "), "{t}");
    // The summary lists the files where they went; the journal stays in the reports folder.
    assert!(
        t.contains("Reports: r/report.html\n         out/ci.xml\n         out/result.json\n"),
        "{t}"
    );
    let root = dir.path();
    assert!(root.join("r/journal.jsonl").exists() && root.join("r/report.html").exists());
    assert!(!root.join("r/report.json").exists() && !root.join("r/junit.xml").exists());

    let report = json_file(&root.join("out/result.json"));
    assert_eq!(
        ids(&report["scenarios"], "id"),
        ["purchase_captured", "purchase_declined"]
    );
    let checks = ids(&report["checks"], "id");
    assert!(!checks.is_empty());
    assert!(
        checks
            .iter()
            .all(|c| c.starts_with("KC-STATUS-") || c == "KC-UNCONFIRMED-NOT-PAID"),
        "{checks:?}"
    );
    assert_eq!(report["verdict"], "passed");
    // The filter is not an incompleteness: checks of scenarios left out are left out too.
    assert!(report.get("incomplete").is_none(), "{report:#}");
    assert_eq!(
        report["filter"]["scenarios"],
        serde_json::json!(["purchase_*"])
    );
    let left_out = report["filter"]["checks_left_out"].as_array().unwrap();
    assert!(
        left_out.iter().any(|c| c == "KC-TOKEN-REUSE"),
        "{left_out:?}"
    );
    // The journal is named by its path, since the JSON report is not beside it.
    assert_eq!(report["journal"], "r/journal.jsonl");

    let junit = std::fs::read_to_string(root.join("out/ci.xml")).unwrap();
    assert!(
        junit.contains(r#"<property name="filter" value="--scenario &apos;purchase_*&apos;"#)
            || junit.contains(r#"<property name="filter" value="--scenario 'purchase_*'"#),
        "{junit}"
    );
    // A CI page lists testcases: each left-out check is one, skipped, naming the flag.
    assert!(
        junit.contains(
            r#"<testcase name="KC-TOKEN-REUSE" classname="golive.kontocloud-go-live.KC-TOKEN-REUSE">
            <skipped message="not run: left out by --check &apos;KC-STATUS-*&apos; --check &apos;KC-UNCONFIRMED-NOT-PAID&apos;, which does not select this check"/>"#
        ),
        "{junit}"
    );
    assert_eq!(
        junit.matches("not run: left out by").count(),
        2 * left_out.len(),
        "a skip (message and system-out) per left-out check: {junit}"
    );
    assert_junit_valid(&root.join("out/ci.xml"));
    let html = std::fs::read_to_string(root.join("r/report.html")).unwrap();
    assert!(
        html.contains(r#"id="filter""#),
        "the HTML report says it was filtered"
    );
}

#[test]
fn a_filter_that_matches_nothing_is_a_usage_error_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut said = Vec::new();
    for args in [
        ["--scenario", "purchase_captred"],
        ["--check", "KC-TOKEN-REUSED*"],
    ] {
        let mut all = vec!["run", "kontocloud", "--reference", "--reports", "r"];
        all.extend(args);
        let out = golive(&all, dir.path());
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        said.push(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    assert!(
        !dir.path().join("r").exists(),
        "nothing ran, nothing was written"
    );
    insta::assert_snapshot!("filter_matches_nothing", said.join("---\n"));
}

#[test]
fn bail_stops_after_the_first_failed_scenario_and_writes_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = golive(
        &[
            "demo",
            "--flaw",
            "trust_callback",
            "--scenario",
            "purchase_*",
            "--bail",
            "--reports",
            "r",
        ],
        dir.path(),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("Stopped by --bail: KC-STATUS-VERIFIED failed in scenario purchase_captured"),
        "{t}"
    );
    assert!(t.contains("Scenarios not run: purchase_declined"), "{t}");
    let report = json_file(&dir.path().join("r/report.json"));
    assert_eq!(ids(&report["scenarios"], "id"), ["purchase_captured"]);
    assert_eq!(report["not_run"], serde_json::json!(["purchase_declined"]));
    assert_eq!(
        report["bailed"],
        "KC-STATUS-VERIFIED failed in scenario purchase_captured"
    );
    assert_eq!(report["verdict"], "failed");
    let junit = std::fs::read_to_string(dir.path().join("r/junit.xml")).unwrap();
    assert!(junit.contains(r#"<property name="bailed""#), "{junit}");
    assert_junit_valid(&dir.path().join("r/junit.xml"));

    // Without --bail the same run drives both scenarios.
    let out = golive(
        &[
            "demo",
            "--flaw",
            "trust_callback",
            "--scenario",
            "purchase_*",
            "--reports",
            "r",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = json_file(&dir.path().join("r/report.json"));
    assert_eq!(report["scenarios"].as_array().unwrap().len(), 2);
    assert!(report.get("bailed").is_none());
}

#[test]
fn bail_in_one_lane_stops_the_others_after_their_scenario() {
    // Only token_renewal (the first lane's first scenario) fails; the other lane's scenarios
    // pass, and without the stop it would drive all of them (5 scenarios or more in all). Each
    // lane's `--bail` judges the whole journal, so it sees the other lane's failure.
    let dir = tempfile::tempdir().unwrap();
    let out = golive(
        &[
            "demo",
            "--flaw",
            "ignore_token_expiry",
            "--jobs",
            "2",
            "--bail",
            "--reports",
            "r",
            "-q",
        ],
        dir.path(),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let report = json_file(&dir.path().join("r/report.json"));
    let driven = ids(&report["scenarios"], "id");
    let not_run = report["not_run"].as_array().unwrap().len();
    assert!(driven.contains(&"token_renewal".to_string()), "{driven:?}");
    assert_eq!(driven.len() + not_run, 9, "{driven:?}");
    // The other lane finishes what it is driving when the first bails (its scenarios take
    // 0.2 to 1.2 s against token_renewal's 1.5 s), and starts nothing more.
    assert!(driven.len() <= 4, "the other lane went on: {driven:?}");
    assert!(
        report["bailed"]
            .as_str()
            .unwrap()
            .contains("after scenario token_renewal"),
        "{}",
        report["bailed"]
    );
}

#[test]
fn verbose_with_jobs_shows_every_lanes_exchanges_with_its_lane() {
    let dir = tempfile::tempdir().unwrap();
    let out = golive(
        &[
            "demo",
            "-v",
            "--jobs",
            "3",
            "--scenario",
            "purchase_*",
            "--scenario",
            "block_amount_authorized",
            "--reports",
            "r",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr.contains("3 scenarios in 3 lanes (lane 1: sandbox at"),
        "{stderr}"
    );
    assert!(stderr.contains("lane 3: sandbox at"), "{stderr}");
    assert!(stderr.contains("lane 2: target ready at"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('#')).collect();
    let journaled = std::fs::read_to_string(dir.path().join("r/journal.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""type":"exchange""#))
        .count();
    assert_eq!(lines.len(), journaled, "one line per exchange:\n{stderr}");
    for k in 1..=3 {
        assert!(
            lines.iter().any(|l| l.ends_with(&format!(" · lane {k}"))),
            "no exchange of lane {k}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("went by unseen"), "{stderr}");
    // Progress counts the run's scenarios, not one lane's.
    let out = golive(
        &[
            "demo",
            "--jobs",
            "3",
            "--scenario",
            "purchase_*",
            "--scenario",
            "block_amount_authorized",
            "--reports",
            "r",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[3/3]"), "{stderr}");
    assert!(!stderr.contains("/1]"), "{stderr}");
}

#[test]
fn verbose_prints_every_exchange_as_one_line_as_it_happens() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["demo", "-v", "--reports", "r"];
    args.extend(ONE_JOURNEY);
    let out = golive(&args, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let line = regex::Regex::new(
        r"^#(\d+) (integration|browser|provider|harness) [A-Z]+ /\S* → (\d{3}|error: .*|no answer) \(\d+ ms\)( \[[a-z_:]+\])?$",
    )
    .unwrap();
    let unseen = regex::Regex::new(r"^#(\d+)(?:–#(\d+))? went by unseen").unwrap();
    let mut covered = Vec::new();
    for l in stderr.lines() {
        if let Some(c) = line.captures(l) {
            covered.push(c[1].parse::<u64>().unwrap());
        } else if let Some(c) = unseen.captures(l) {
            let first: u64 = c[1].parse().unwrap();
            let last: u64 = c.get(2).map_or(first, |m| m.as_str().parse().unwrap());
            covered.extend(first..=last);
        } else {
            assert!(!l.starts_with('#'), "a malformed exchange line: {l}");
        }
    }
    // Every exchange of the journal, once and in order, before the judging begins.
    let journal = std::fs::read_to_string(dir.path().join("r/journal.jsonl")).unwrap();
    let journaled = journal.lines().filter(|l| l.contains(r#""seq":"#)).count() as u64;
    assert!(journaled >= 4, "{journal}");
    assert_eq!(covered, (1..=journaled).collect::<Vec<_>>(), "{stderr}");
    let judging = stderr.find("judging ").unwrap();
    let last_line = stderr.rfind(&format!("#{journaled} ")).unwrap();
    assert!(last_line < judging, "{stderr}");
    assert!(stderr.contains(" [trigger:start_payment]"), "{stderr}");
    assert!(
        stderr.contains(" browser POST /ewallet → 200 ("),
        "{stderr}"
    );
}

#[test]
fn colour_follows_the_flag_no_color_and_clicolor_force() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &[Var], bool); 5] = [
        (&[], &[], false),
        (&[], &[("CLICOLOR_FORCE", Some("1"))], true),
        (
            &[],
            &[("CLICOLOR_FORCE", Some("1")), ("NO_COLOR", Some("1"))],
            false,
        ),
        (&["--color", "always"], &[("NO_COLOR", Some("1"))], true),
        (
            &["--color", "never"],
            &[("CLICOLOR_FORCE", Some("1"))],
            false,
        ),
    ];
    for (flags, env, coloured) in cases {
        let mut args = vec!["demo", "-q", "--reports", "r"];
        args.extend(ONE_JOURNEY);
        args.extend(flags);
        let out = golive_env(&args, dir.path(), env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.contains("\u{1b}[1;32mPASSED\u{1b}[0m"),
            coloured,
            "{flags:?} {env:?}: {stdout}"
        );
        if !coloured {
            assert!(!stdout.contains('\u{1b}'), "{flags:?} {env:?}: {stdout}");
        }
    }
}

/// The reference shop's target, with a body field from a `--var` and an environment variable.
fn target_with_var_and_env(dir: &Path) {
    let reference =
        std::fs::read_to_string(Path::new(ROOT).join("targets/kontocloud-reference.yaml")).unwrap();
    let target = reference
        .replace(
            "      currency: \"{{ currency }}\"\n",
            "      currency: \"{{ currency }}\"\n      note: \"{{ note }} {{ env.GOLIVE_IT_SHOP_TAG }}\"\n",
        )
        .replace(
            "    KONTOCLOUD_PASSWORD: \"{{ credentials.password }}\"\n",
            "    KONTOCLOUD_PASSWORD: \"{{ credentials.password }}\"\n    SHOP_TAG: \"{{ env.GOLIVE_IT_SHOP_TAG }}\"\n",
        );
    assert_ne!(target, reference);
    std::fs::write(dir.join("shop.yaml"), target).unwrap();
}

#[test]
fn vars_and_the_environment_reach_the_templates_and_validation_knows_them() {
    let dir = tempfile::tempdir().unwrap();
    target_with_var_and_env(dir.path());
    let validate = ["validate", "--suite", "kontocloud", "--target", "shop.yaml"];
    // Without them: each template that reads them is named, at its line.
    let out = golive_env(&validate, dir.path(), &[("GOLIVE_IT_SHOP_TAG", None)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    insta::assert_snapshot!("var_and_env_missing", String::from_utf8_lossy(&out.stderr));
    // With them, valid.
    let mut with = validate.to_vec();
    with.extend(["--var", "note=hi"]);
    let out = golive_env(&with, dir.path(), &[("GOLIVE_IT_SHOP_TAG", Some("blue"))]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A run with them sends them, and --var overrides the suite's own `currency`.
    let mut run = vec![
        "run",
        "kontocloud",
        "--target",
        "shop.yaml",
        "--var",
        "note=hi",
        "--var",
        "currency=SEK",
        "-q",
        "--reports",
        "r",
    ];
    run.extend(ONE_JOURNEY);
    let out = golive_env(&run, dir.path(), &[("GOLIVE_IT_SHOP_TAG", Some("blue"))]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let journal = std::fs::read_to_string(dir.path().join("r/journal.jsonl")).unwrap();
    assert!(journal.contains(r#"\"note\":\"hi blue\""#), "{journal}");
    assert!(journal.contains(r#"\"currency\":\"SEK\""#), "{journal}");
    assert!(!journal.contains(r#"\"currency\":\"EUR\""#), "{journal}");
    // A run without the environment variable stops before anything starts.
    let out = golive_env(&run, dir.path(), &[("GOLIVE_IT_SHOP_TAG", None)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out)
            .contains("golive was started without the environment variable `GOLIVE_IT_SHOP_TAG`"),
        "{}",
        text(&out)
    );
}

#[test]
fn demo_of_an_unknown_provider_lists_the_providers_and_references_say_what_styles_are() {
    let dir = tempfile::tempdir().unwrap();
    let out = golive(&["demo", "--provider", "nosuch"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "no demo for provider `nosuch`; expected one of: kontocloud, smartpay, mobilepay, ppaas, or all"
        ),
        "{}",
        text(&out)
    );
    let out = golive(&["references"], dir.path());
    let t = text(&out);
    for provider in ["kontocloud", "smartpay", "mobilepay", "ppaas"] {
        let section = t
            .split(&format!("{provider} (styles: "))
            .nth(1)
            .unwrap_or_else(|| panic!("{provider} missing: {t}"));
        for style in ["a", "b"] {
            let line = section
                .lines()
                .find(|l| l.starts_with(&format!("  --style {style}: ")))
                .unwrap_or_else(|| panic!("{provider} style {style} not described: {t}"));
            assert!(line.len() > "  --style a: ".len() + 10, "{line}");
        }
    }
}
