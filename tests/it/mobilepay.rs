//! MobilePay PoS V10 end to end: the bundled suite against the built-in reference PoS
//! backend, in every compliant style and with every flaw, through the real sandbox and real
//! HTTP on loopback. Provider time runs at 1/20 (pollDelayInMs 50 ms on the wire); the only
//! real waits are the 2.5 s timeout of the point-of-sale creation and short settles.

use std::collections::BTreeSet;
use std::path::Path;

use golive::exit;
use golive::reference::Flaw;
use golive::report::{Outcome, Verdict};
use golive::run::{self, RunOutcome};

const TIME_SCALE: f64 = 0.05;

async fn run_reference(style: Option<&str>, flaws: &[&str], dir: &Path) -> RunOutcome {
    crate::support::run_reference("mobilepay", style, flaws, dir, Some(TIME_SCALE)).await
}

fn failing(outcome: &RunOutcome) -> BTreeSet<String> {
    run::failing_ids(&outcome.report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compliant_style_passes_every_check() {
    // run() borrows its sink factory across awaits (not Send): the runs share one thread,
    // which is enough, as they mostly wait on loopback HTTP.
    tokio::task::LocalSet::new()
        .run_until(async move {
            let r = golive::providers::reference("mobilepay").unwrap();
            let mut runs = tokio::task::JoinSet::new();
            for style in r.styles {
                runs.spawn_local(async move {
                    let dir = tempfile::tempdir().unwrap();
                    let outcome = run_reference(Some(style), &[], dir.path()).await;
                    (style, outcome, dir)
                });
            }
            while let Some(done) = runs.join_next().await {
                let (style, outcome, _dir) = done.unwrap();
                assert_eq!(outcome.report.run_error, None, "style {style}");
                let failures: Vec<String> = outcome
                    .report
                    .failures()
                    .map(|c| format!("{}: {}", c.name(), c.message))
                    .collect();
                assert!(failures.is_empty(), "style {style} failed: {failures:#?}");
                assert_eq!(outcome.exit_code, exit::PASSED, "style {style}");
                let errors: Vec<_> = outcome
                    .report
                    .scenarios
                    .iter()
                    .filter_map(|s| s.error.clone())
                    .collect();
                assert!(
                    errors.is_empty(),
                    "style {style}: scenarios stopped early: {errors:?}"
                );
                // Every check was judged: none is skipped on a full compliant run.
                let skipped: Vec<&str> = outcome
                    .report
                    .checks
                    .iter()
                    .filter(|c| c.outcome == Outcome::Skipped)
                    .map(|c| c.id.as_str())
                    .collect();
                assert!(skipped.is_empty(), "style {style} skipped {skipped:?}");
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flaw_fails_exactly_the_checks_that_should_catch_it() {
    // run() borrows its sink factory across awaits (not Send): the runs share one thread,
    // which is enough, as they mostly wait on loopback HTTP.
    tokio::task::LocalSet::new()
        .run_until(async move {
            let r = golive::providers::reference("mobilepay").unwrap();
            let mut runs = tokio::task::JoinSet::new();
            for flaw in r.flaws {
                runs.spawn_local(async move {
                    let dir = tempfile::tempdir().unwrap();
                    let outcome = run_reference(None, &[flaw.name], dir.path()).await;
                    (flaw, outcome, dir)
                });
            }
            let mut mismatches = Vec::new();
            while let Some(done) = runs.join_next().await {
                let (flaw, outcome, _dir): (&Flaw, RunOutcome, _) = done.unwrap();
                assert_eq!(outcome.report.run_error, None, "flaw {}", flaw.name);
                let expected: BTreeSet<String> =
                    flaw.caught_by.iter().map(|s| s.to_string()).collect();
                let got = failing(&outcome);
                if got != expected {
                    mismatches.push(format!("{}: expected {expected:?}, got {got:?}", flaw.name));
                }
                assert_eq!(outcome.exit_code, exit::CHECKS_FAILED, "flaw {}", flaw.name);
                assert_eq!(outcome.report.verdict, Verdict::Failed);
                // The failures carry their evidence: the exchanges are in the report.
                for c in outcome.report.failures() {
                    // (A missing call, e.g. no refund capture, has nothing to show.)
                    for seq in &c.evidence {
                        assert!(
                            outcome.report.exchange(*seq).is_some(),
                            "{}: evidence #{seq} missing",
                            c.name()
                        );
                    }
                }
            }
            assert!(mismatches.is_empty(), "{mismatches:#?}");
        })
        .await;
}

#[test]
fn flaws_name_only_checks_of_the_suite() {
    let suite = run::load_bundled_suite("mobilepay").unwrap();
    let r = golive::providers::reference("mobilepay").unwrap();
    for flaw in r.flaws {
        assert!(
            !flaw.caught_by.is_empty(),
            "flaw {} is caught by nothing",
            flaw.name
        );
        for id in flaw.caught_by {
            assert!(
                suite.value.checks.iter().any(|c| c.id == *id),
                "flaw {} names unknown check {id}",
                flaw.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_id_and_secret_never_reach_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run_reference(Some("b"), &["token_per_call"], dir.path()).await;
    assert_eq!(outcome.exit_code, exit::CHECKS_FAILED);
    // The journal keeps the raw token request; the reports must not.
    let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    let token_call = journal
        .lines()
        .find(|l| l.contains("/integrator-authentication/connect/token"))
        .unwrap();
    let entry: serde_json::Value = serde_json::from_str(token_call).unwrap();
    let headers = entry["request"]["headers"].as_array().unwrap();
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|h| h[1].as_str().unwrap().to_owned())
            .unwrap()
    };
    let client_id = header("x-ibm-client-id");
    let basic = header("authorization");
    assert!(client_id.starts_with("golive-integrator-"), "{client_id}");
    for name in ["report.json", "report.html", "junit.xml"] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(!text.contains(&client_id), "{name} shows the client id");
        assert!(
            !text.contains(basic.trim_start_matches("Basic ")),
            "{name} shows the Basic credentials"
        );
    }
}

#[test]
fn every_check_but_one_is_caught_by_some_flaw() {
    // A check no flawed till can fail would be a check that never fails. One is proven by
    // its kind's unit tests only: a wrong token request stops the whole journey
    // (MP-TOKEN-REQUEST).
    let not_by_a_flaw = ["MP-TOKEN-REQUEST"];
    let suite = run::load_bundled_suite("mobilepay").unwrap();
    let r = golive::providers::reference("mobilepay").unwrap();
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
        .filter(|id| !caught.contains(id) && !not_by_a_flaw.contains(id))
        .collect();
    assert!(missing.is_empty(), "no flaw exercises {missing:?}");
}
