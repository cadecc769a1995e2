//! MobilePay PoS V10, beyond the one trial per style and flaw of tests/providers.rs: what the
//! flaws cover, and that the integrator's credentials never reach the reports. Provider time
//! runs at the reference's `test_time_scale` (1/20: pollDelayInMs 50 ms on the wire); the only
//! real waits are the 2.5 s timeout of the point-of-sale creation and short settles.

use std::collections::BTreeSet;
use std::path::Path;

use golive::exit;
use golive::run::{self, RunOutcome};

const TIME_SCALE: Option<f64> = golive::providers::mobilepay::reference::REFERENCE.test_time_scale;

async fn run_reference(style: Option<&str>, flaws: &[&str], dir: &Path) -> RunOutcome {
    crate::support::run_reference("mobilepay", style, flaws, dir, TIME_SCALE).await
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
