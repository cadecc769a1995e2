//! KontoCloud end to end: the bundled suite against the built-in reference shop, in every
//! compliant style and with every flaw, through the real sandbox and real HTTP on loopback.

use std::collections::BTreeSet;

use golive::exit;
use golive::report::{Outcome, Verdict};

use crate::support::{assert_junit_valid, failing, run_reference};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_compliant_style_passes_every_check() {
    let r = golive::providers::reference("kontocloud").unwrap();
    let mut runs = tokio::task::JoinSet::new();
    for style in r.styles {
        runs.spawn(async move {
            let dir = tempfile::tempdir().unwrap();
            let outcome = run_reference("kontocloud", Some(style), &[], dir.path(), None).await;
            (style, outcome, dir)
        });
    }
    while let Some(done) = runs.join_next().await {
        let (style, outcome, dir) = done.unwrap();
        let failures: Vec<String> = outcome
            .report
            .failures()
            .map(|c| format!("{}: {}", c.name(), c.message))
            .collect();
        assert_eq!(outcome.report.run_error, None, "style {style}");
        assert!(failures.is_empty(), "style {style} failed: {failures:#?}");
        assert_eq!(outcome.exit_code, exit::PASSED, "style {style}");
        // Every check was judged somewhere: none is skipped on a full compliant run.
        let skipped: Vec<&str> = outcome
            .report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Skipped)
            .map(|c| c.id.as_str())
            .collect();
        assert!(skipped.is_empty(), "style {style} skipped {skipped:?}");
        assert_junit_valid(&dir.path().join("junit.xml"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_flaw_fails_exactly_the_checks_that_should_catch_it() {
    let r = golive::providers::reference("kontocloud").unwrap();
    let mut runs = tokio::task::JoinSet::new();
    for flaw in r.flaws {
        runs.spawn(async move {
            let dir = tempfile::tempdir().unwrap();
            let outcome = run_reference("kontocloud", None, &[flaw.name], dir.path(), None).await;
            (flaw, outcome, dir)
        });
    }
    let mut mismatches = Vec::new();
    while let Some(done) = runs.join_next().await {
        let (flaw, outcome, dir) = done.unwrap();
        assert_eq!(outcome.report.run_error, None, "flaw {}", flaw.name);
        let expected: BTreeSet<String> = flaw.caught_by.iter().map(|s| s.to_string()).collect();
        let got = failing(&outcome);
        if got != expected {
            mismatches.push(format!("{}: expected {expected:?}, got {got:?}", flaw.name));
        }
        assert_eq!(outcome.exit_code, exit::CHECKS_FAILED, "flaw {}", flaw.name);
        assert_eq!(outcome.report.verdict, Verdict::Failed);
        // The failures carry their evidence: the exchanges are in the report.
        for c in outcome.report.failures() {
            for seq in &c.evidence {
                assert!(
                    outcome.report.exchange(*seq).is_some(),
                    "{}: evidence #{seq} missing",
                    c.name()
                );
            }
        }
        assert_junit_valid(&dir.path().join("junit.xml"));
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn every_check_of_the_suite_is_caught_by_some_flaw() {
    // A check no flawed shop can fail would be a check that never fails.
    let suite = golive::run::load_bundled_suite("kontocloud").unwrap();
    let r = golive::providers::reference("kontocloud").unwrap();
    let caught: BTreeSet<&str> = r
        .flaws
        .iter()
        .flat_map(|f| f.caught_by.iter().copied())
        .collect();
    let missing: Vec<&str> = suite
        .value
        .checks
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| !caught.contains(id))
        .collect();
    assert!(missing.is_empty(), "no flaw exercises {missing:?}");
    for id in &caught {
        assert!(
            suite.value.checks.iter().any(|c| c.id == *id),
            "flaw names unknown check {id}"
        );
    }
}
