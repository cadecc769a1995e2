//! CI sharding: `golive run --partition K/N` slices, and `golive junit-merge` puts them back
//! together with the full run's verdicts.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

use crate::support::{assert_junit_valid, ROOT};

const GOLIVE: &str = env!("CARGO_BIN_EXE_golive");

/// `golive run` of the bundled KontoCloud suite against the reference shop with a mistake.
fn run(reports: &Path, partition: Option<&str>) -> i32 {
    let mut cmd = Command::new(GOLIVE);
    cmd.arg("run")
        .arg("--suite")
        .arg(Path::new(ROOT).join("suites/kontocloud-go-live.yaml"))
        .args(["--reference", "--flaw", "trust_callback", "--quiet"])
        .args(["--time-scale", "0.1", "--wait-timeout", "3", "--reports"])
        .arg(reports)
        .env("NO_COLOR", "1");
    if let Some(p) = partition {
        cmd.args(["--partition", p]);
    }
    let out = cmd.output().unwrap();
    out.status.code().unwrap_or(-1)
}

/// (classname, testcase name) → passed | failed | error | skipped | elsewhere.
fn verdicts(junit: &Path) -> BTreeMap<(String, String), String> {
    let report = Report::deserialize_from_str(&std::fs::read_to_string(junit).unwrap()).unwrap();
    report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .map(|c| {
            let outcome = match &c.status {
                TestCaseStatus::Success { .. } => "passed",
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Failure,
                    ..
                } => "failed",
                TestCaseStatus::NonSuccess { .. } => "error",
                TestCaseStatus::Skipped { message, .. } => {
                    if message.as_ref().is_some_and(|m| {
                        m.as_str().starts_with(golive::partition::NOT_IN_PARTITION)
                    }) {
                        "elsewhere"
                    } else {
                        "skipped"
                    }
                }
            };
            let class = c.classname.as_ref().map(|c| c.as_str().to_owned());
            (
                (class.unwrap_or_default(), c.name.as_str().to_owned()),
                outcome.to_owned(),
            )
        })
        .collect()
}

fn scenario_ids(report_json: &Path) -> Vec<String> {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_json).unwrap()).unwrap();
    r["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn partitions_cover_every_scenario_once_and_merge_to_the_full_runs_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let parts: Vec<_> = (1..=3)
        .map(|k| dir.path().join(format!("part{k}")))
        .collect();
    // The four runs at once: they share nothing but the machine.
    let codes: Vec<i32> = std::thread::scope(|s| {
        let mut handles = vec![s.spawn(|| run(&full, None))];
        for (k, p) in parts.iter().enumerate() {
            let label = format!("{}/3", k + 1);
            handles.push(s.spawn(move || run(p, Some(&label))));
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(codes[0], 1, "the flawed shop fails checks in the full run");

    // Every scenario in exactly one partition.
    let mut union: Vec<String> = parts
        .iter()
        .flat_map(|p| scenario_ids(&p.join("report.json")))
        .collect();
    let mut all = scenario_ids(&full.join("report.json"));
    assert!(parts
        .iter()
        .all(|p| !scenario_ids(&p.join("report.json")).is_empty()));
    union.sort();
    all.sort();
    assert_eq!(union, all);

    // A partition does not pass what it did not run.
    let one = verdicts(&parts[0].join("junit.xml"));
    assert!(one.values().any(|v| v == "elsewhere"), "{one:?}");

    let merged = dir.path().join("merged.xml");
    let out = Command::new(GOLIVE)
        .args(["junit-merge", "-o"])
        .arg(&merged)
        .args(parts.iter().map(|p| p.join("junit.xml")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_junit_valid(&merged);
    assert_eq!(verdicts(&merged), verdicts(&full.join("junit.xml")));
    let xml = std::fs::read_to_string(&merged).unwrap();
    assert_eq!(
        xml.matches("<testsuite ").count(),
        1,
        "one assessment, one testsuite"
    );
}

#[test]
fn a_bad_partition_is_refused_before_anything_runs() {
    let out = Command::new(GOLIVE)
        .arg("run")
        .arg("--suite")
        .arg(Path::new(ROOT).join("suites/kontocloud-go-live.yaml"))
        .args(["--reference", "--partition", "4/3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("K/N"), "{err}");
}
