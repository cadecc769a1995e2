//! What several test modules share: the external tools the tests drive, and running a suite
//! against a reference shop inside the test process.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use golive::run::{self, RunConfig, RunOutcome, TargetSpec};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The golive binary cargo built for these tests.
pub const GOLIVE: &str = env!("CARGO_BIN_EXE_golive");

/// Runs golive in `cwd` as a team would type it; two minutes without an end is a hang and
/// fails the test.
pub fn golive(args: &[&str], cwd: &Path) -> Output {
    let mut child = Command::new(GOLIVE)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
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

/// A tool the tests need; a missing one fails the test (no silent skip).
pub fn tool(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: run scripts/test-deps (it installs xmllint, chromium and the junitparser venv)"
    );
    p
}

pub fn xmllint() -> PathBuf {
    tool("/usr/bin/xmllint")
}

pub fn chromium() -> PathBuf {
    tool("/usr/bin/chromium")
}

pub fn venv_python() -> PathBuf {
    tool(&format!("{ROOT}/target/test-venv/bin/python"))
}

/// Asserts that a JUnit file validates against the Jenkins junit-10 XSD.
pub fn assert_junit_valid(junit: &Path) {
    let out = Command::new(xmllint())
        .arg("--noout")
        .arg("--schema")
        .arg(format!("{ROOT}/schemas/junit-10.xsd"))
        .arg(junit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmllint: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(junit).unwrap_or_default()
    );
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

/// The check ids of the failed testcases of a golive JUnit file.
pub fn junit_failures(xml: &str, suite_id: &str) -> BTreeSet<String> {
    let prefix = format!("classname=\"golive.{suite_id}.");
    xml.split("<testcase ")
        .skip(1)
        .filter(|case| {
            let end = case.find("</testcase>").unwrap_or(case.len());
            case[..end].contains("<failure")
        })
        .filter_map(|case| {
            let start = case.find(&prefix)? + prefix.len();
            let len = case[start..].find('"')?;
            Some(case[start..start + len].to_string())
        })
        .collect()
}

/// The ids of the checks that failed.
pub fn failing(outcome: &RunOutcome) -> BTreeSet<String> {
    run::failing_ids(&outcome.report)
}
