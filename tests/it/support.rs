//! What several test modules share: the external tools the tests drive, and running a suite
//! against a reference shop inside the test process.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use golive::run::{self, RunConfig, RunOutcome, TargetSpec};

#[path = "../shared/junit.rs"]
mod junit;
pub use junit::{assert_junit_valid, junit_failures, tool, xmllint};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The golive binary cargo built for these tests.
pub const GOLIVE: &str = env!("CARGO_BIN_EXE_golive");

/// Runs golive in `cwd` as a team would type it; two minutes without an end is a hang and
/// fails the test.
pub fn golive(args: &[&str], cwd: &Path) -> Output {
    let mut command = Command::new(GOLIVE);
    command.args(args).current_dir(cwd).env("NO_COLOR", "1");
    finish(command, args)
}

/// Runs a golive command made ready by the caller (another binary, environment or folder)
/// to its end, its output captured; two minutes without an end is a hang.
pub fn finish(mut command: Command, args: &[&str]) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("golive starts");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("golive {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a golive run printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn chromium() -> PathBuf {
    tool("/usr/bin/chromium")
}

pub fn venv_python() -> PathBuf {
    tool(&format!("{ROOT}/target/test-venv/bin/python"))
}

/// Runs a provider's bundled suite against its built-in reference shop.
pub async fn run_reference(
    provider: &str,
    style: Option<&str>,
    flaws: &[&str],
    reports: &Path,
    time_scale: Option<f64>,
) -> RunOutcome {
    let flaws: Vec<String> = flaws.iter().map(|f| f.to_string()).collect();
    let outcome = run::run(
        RunConfig {
            suite: run::load_bundled_suite(provider).expect("the bundled suite loads"),
            target: TargetSpec::reference(provider, style, &flaws).expect("a known reference"),
            reports_dir: reports.to_owned(),
            time_scale,
            // The reference shops call within milliseconds; a flawed one that never calls
            // should not cost the suite's full wait.
            wait_timeout_s: Some(3.0),
            jobs: 1,
        },
        &|_| Box::new(golive::report::Silent),
    )
    .await;
    // What CI sees must be what golive decided: the JUnit file fails the same checks.
    let junit = std::fs::read_to_string(reports.join("junit.xml")).expect("junit.xml written");
    let suite_id = &outcome.report.suite.id;
    assert_eq!(
        junit_failures(&junit, suite_id),
        run::failing_ids(&outcome.report),
        "junit.xml and the run disagree"
    );
    outcome
}

/// The ids of the checks that failed.
pub fn failing(outcome: &RunOutcome) -> BTreeSet<String> {
    run::failing_ids(&outcome.report)
}
