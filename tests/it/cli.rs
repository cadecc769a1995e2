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
