//! Integrations written apart from golive (tests/examples/), in another language and another
//! style than the Rust reference shops, through the bundled suites. A compliant one must pass
//! every check (no false alarm because golive expected its own reference's habits); each
//! planted mistake must fail exactly the checks that catch it.

use std::collections::BTreeSet;
use std::path::Path;

use golive::exit;
use golive::report::Outcome;
use golive::run::{self, RunConfig, RunOutcome, TargetSpec};

use crate::support::{assert_junit_valid, failing, junit_failures, ROOT};

/// Runs the bundled KontoCloud suite against the Python shop of `target` (a file under
/// tests/examples/kontocloud-python/), with the shop's planted mistakes switched on.
async fn run_python_shop(target: &str, flaws: &[&str], reports: &Path) -> RunOutcome {
    let file = Path::new(ROOT)
        .join("tests/examples/kontocloud-python")
        .join(target);
    let mut loaded = golive::suite::load_target(&file).expect("the example target loads");
    let suite = run::load_bundled_suite("kontocloud").expect("the bundled suite loads");
    assert!(
        golive::suite::cross_rules(&suite, &loaded).is_empty(),
        "the example target fits the suite"
    );
    let start = loaded.value.start.as_mut().expect("golive starts the shop");
    start.env.insert("SHOP_FLAWS".into(), flaws.join(","));
    let outcome = run::run(
        RunConfig {
            suite,
            target: TargetSpec::File(Box::new(loaded)),
            reports_dir: reports.to_owned(),
            time_scale: None,
            wait_timeout_s: Some(3.0),
            jobs: 1,
        },
        &|_| Box::new(golive::report::Silent),
    )
    .await;
    let junit = std::fs::read_to_string(reports.join("junit.xml")).expect("junit.xml written");
    assert_eq!(
        junit_failures(&junit, &outcome.report.suite.id),
        failing(&outcome),
        "junit.xml and the run disagree"
    );
    assert_junit_valid(&reports.join("junit.xml"));
    outcome
}

fn target_log(reports: &Path) -> String {
    std::fs::read_to_string(reports.join("target.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_python_shop_with_its_own_order_ids_passes_every_check() {
    let mut runs = tokio::task::JoinSet::new();
    for target in ["target.yaml", "target-redirect.yaml"] {
        runs.spawn(async move {
            let dir = tempfile::tempdir().unwrap();
            let outcome = run_python_shop(target, &[], dir.path()).await;
            (target, outcome, dir)
        });
    }
    while let Some(done) = runs.join_next().await {
        let (target, outcome, dir) = done.unwrap();
        let log = target_log(dir.path());
        let report = &outcome.report;
        assert_eq!(report.run_error, None, "{target}: {log}");
        let scenario_errors: Vec<String> = report
            .scenarios
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.id)))
            .collect();
        assert!(
            scenario_errors.is_empty(),
            "{target}: {scenario_errors:#?}\n{log}"
        );
        let failures: Vec<String> = report
            .failures()
            .map(|c| format!("{}: {}", c.name(), c.message))
            .collect();
        assert!(failures.is_empty(), "{target}: {failures:#?}\n{log}");
        let skipped: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Skipped)
            .map(|c| c.id.as_str())
            .collect();
        assert!(skipped.is_empty(), "{target} skipped {skipped:?}");
        assert_eq!(outcome.exit_code, exit::PASSED, "{target}");
        // golive stopped the shop it started (by its process group): nothing listens any more.
        let addr = report
            .target
            .base_url
            .trim_start_matches("http://")
            .to_owned();
        assert!(
            std::net::TcpStream::connect(&addr).is_err(),
            "{target}: the shop at {addr} still runs"
        );

        // golive asked about the shop's own orders, by the shop's ids, and got answers.
        let probes: Vec<_> = report
            .exchanges
            .iter()
            .filter(|e| e.role == "order_probe")
            .collect();
        assert!(!probes.is_empty(), "{target}: no order probe");
        for p in &probes {
            assert!(
                p.path().starts_with("/api/orders/ORD"),
                "{target}: probe by golive's id: {}",
                p.path()
            );
            assert_eq!(p.status(), Some(200), "{target}: {}", p.path());
        }
        // The forged callback names the shop's order, so it tests the shop's guard.
        let forged = report
            .exchanges
            .iter()
            .find(|e| e.role == "forged_callback")
            .expect("a forged callback");
        let named = forged
            .query_param("merchantTransactionId")
            .unwrap_or_default();
        assert!(named.starts_with("ORD"), "{target}: forged with {named}");
        assert!(
            forged.request.url.contains(&format!("o={named}")),
            "{target}: the forged callback goes to the shop's callBackUrl for the same order: {}",
            forged.request.url
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_python_shops_planted_mistakes_fail_exactly_their_checks() {
    const MISTAKES: &[(&str, &[&str])] = &[
        (
            "trust_callback",
            &[
                "KC-STATUS-VERIFIED",
                "KC-UNCONFIRMED-NOT-PAID",
                "KC-BLOCKAMOUNT",
            ],
        ),
        ("constant_partner_reference", &["KC-PARTNER-REFERENCE"]),
        ("retry_forever", &["KC-RETRY-0099"]),
    ];
    let mut runs = tokio::task::JoinSet::new();
    for (flaw, caught_by) in MISTAKES {
        runs.spawn(async move {
            let dir = tempfile::tempdir().unwrap();
            let outcome = run_python_shop("target.yaml", &[flaw], dir.path()).await;
            (*flaw, *caught_by, outcome, dir)
        });
    }
    let mut mismatches = Vec::new();
    while let Some(done) = runs.join_next().await {
        let (flaw, caught_by, outcome, dir) = done.unwrap();
        assert_eq!(
            outcome.report.run_error,
            None,
            "{flaw}: {}",
            target_log(dir.path())
        );
        let expected: BTreeSet<String> = caught_by.iter().map(|s| s.to_string()).collect();
        let got = failing(&outcome);
        if got != expected {
            let why: Vec<String> = outcome
                .report
                .failures()
                .map(|c| format!("{}: {}", c.name(), c.message))
                .collect();
            mismatches.push(format!(
                "{flaw}: expected {expected:?}, got {got:?}: {why:#?}"
            ));
        }
        assert_eq!(outcome.exit_code, exit::CHECKS_FAILED, "{flaw}");
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// A shop without a capability says so (`not_offered`): the scenario that needs it is not run
/// and its checks are skipped with the reason in every report, instead of failing for want of
/// traffic. The suite here is the bundled one plus a back-office capture journey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_the_shop_does_not_offer_makes_its_scenario_not_applicable() {
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(ROOT).join("tests/examples/kontocloud-python/target.yaml");
    let mut target = golive::suite::load_target(&file).unwrap();
    let extra = golive::suite::parse_target(
        "golive: 1\nname: x\nbase_url: http://127.0.0.1:1\ntriggers:\n  capture_order: { not_offered: automatic capture }\n",
        Path::new("extra.yaml"),
    )
    .unwrap();
    target
        .value
        .triggers
        .extend(extra.value.triggers.into_iter());
    let mut suite = run::load_bundled_suite("kontocloud").unwrap();
    let scenario: golive::suite::Scenario = serde_json::from_value(serde_json::json!({
        "id": "back_office_capture",
        "title": "The back office captures a BlockAmount",
        "vars": {"amount": "50.00", "currency": "EUR", "payment_type": "BlockAmount"},
        "steps": [
            {"trigger": {"name": "start_payment"}},
            {"shopper": {"pay": "OK"}},
            {"trigger": {"name": "capture_order"}},
            {"probe_order": {"settle_s": 1}}
        ]
    }))
    .unwrap();
    suite.value.scenarios.push(scenario);
    let check: golive::suite::CheckSpec = serde_json::from_value(serde_json::json!({
        "id": "KC-BACK-OFFICE-CAPTURE",
        "title": "A captured BlockAmount is paid",
        "description": "After the back office captures, the order is paid.",
        "severity": "major",
        "source": "test",
        "kind": "order_outcome",
        "scenarios": ["back_office_capture"],
        "params": {"expect": "paid"}
    }))
    .unwrap();
    suite.value.checks.push(check);
    let outcome = run::run(
        RunConfig {
            suite,
            target: TargetSpec::File(Box::new(target)),
            reports_dir: dir.path().to_owned(),
            time_scale: None,
            wait_timeout_s: Some(3.0),
            jobs: 1,
        },
        &|_| Box::new(golive::report::Silent),
    )
    .await;
    let report = &outcome.report;
    assert_eq!(report.run_error, None);
    let reason = "not applicable: the shop does not offer `capture_order` (automatic capture)";
    let s = report
        .scenarios
        .iter()
        .find(|s| s.id == "back_office_capture")
        .unwrap();
    assert_eq!(s.not_applicable.as_deref(), Some(reason));
    assert_eq!(s.error, None);
    let verdicts: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.id == "KC-BACK-OFFICE-CAPTURE")
        .collect();
    assert!(!verdicts.is_empty());
    for c in verdicts {
        assert_eq!(c.outcome, Outcome::Skipped, "{}: {}", c.name(), c.message);
        assert!(c.message.contains(reason), "{}", c.message);
    }
    // Nothing else is broken by it: the rest of the run passes.
    let failures: Vec<String> = report.failures().map(|c| c.name()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(outcome.exit_code, exit::PASSED);

    // Every report says so.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("<skipped message=\"{reason}")),
        "{junit}"
    );
    assert_junit_valid(&dir.path().join("junit.xml"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert!(golive::report::json::schema_errors(&json).is_empty());
    let scenario = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "back_office_capture")
        .unwrap();
    assert_eq!(scenario["not_applicable"], reason);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains(&format!(
            "<p class=\"not-applicable\">{reason}; its checks are skipped.</p>"
        )),
        "the HTML report names the reason"
    );
    let console = golive::report::console::summary(report, dir.path(), false);
    assert!(
        console
            .lines()
            .any(|l| l.contains("back_office_capture") && l.ends_with(reason)),
        "{console}"
    );
}
