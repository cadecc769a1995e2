//! SmartPay end to end, beyond the one trial per style and flaw of tests/providers.rs: the
//! other style with the flaws it can have, what the flaws cover, and a shop answering garbage.
//! Provider time runs at the reference's `test_time_scale` (1/20: the "3 minutes" PENDING rule
//! takes 9 s, and its 20 s tolerance 1 s: enough for timers on a busy 2-core CI machine running
//! the tests side by side).

use std::collections::BTreeSet;
use std::path::Path;

use golive::exit;
use golive::run::{self, RunConfig, RunOutcome, TargetSpec};

const TIME_SCALE: Option<f64> = golive::providers::smartpay::reference::REFERENCE.test_time_scale;

/// Runs the suite against the reference shop on a thread of its own, so the runs go side by
/// side.
fn spawn_run(
    style: Option<&'static str>,
    flaws: Vec<&'static str>,
) -> std::thread::JoinHandle<RunOutcome> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        runtime.block_on(run_reference(style, &flaws, dir.path()))
    })
}

async fn run_reference(style: Option<&str>, flaws: &[&str], reports: &Path) -> RunOutcome {
    crate::support::run_reference("smartpay", style, flaws, reports, TIME_SCALE).await
}

#[test]
fn the_other_style_catches_the_flaws_it_can_have_too() {
    // Style b (Basic, background verification, 45 s pace) with the flaws that do not depend
    // on Bearer tokens: the checks judge the behaviour, not the style.
    let flaws = [
        "trust_widget",
        "pending_forever",
        "new_modification_id_on_retry",
        "leak_merchant_key",
    ];
    let runs: Vec<_> = flaws
        .iter()
        .map(|flaw| (flaw, spawn_run(Some("b"), vec![flaw])))
        .collect();
    let r = golive::providers::reference("smartpay").unwrap();
    for (flaw, run) in runs {
        let outcome = run.join().unwrap();
        let expected: BTreeSet<String> = r
            .flaw(flaw)
            .unwrap()
            .caught_by
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            run::failing_ids(&outcome.report),
            expected,
            "style b, flaw {flaw}"
        );
    }
}

#[test]
fn every_check_of_the_suite_is_caught_by_some_flaw() {
    let suite = run::load_bundled_suite("smartpay").unwrap();
    let r = golive::providers::reference("smartpay").unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_that_answers_garbage_fails_checks_without_hanging() {
    use axum::routing::{any, get};
    let app = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .fallback(any(|| async { "<p>Something went wrong</p>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let yaml = include_str!("../../targets/smartpay-reference.yaml")
        .replace("start:", "unused_start:")
        .replace("http://127.0.0.1:{{ port }}", &format!("http://{addr}"));
    // Drop the start command: golive attaches to the running garbage shop.
    let yaml: String = {
        let mut out = Vec::new();
        let mut skipping = false;
        for line in yaml.lines() {
            if line.starts_with("unused_start:") {
                skipping = true;
                continue;
            }
            if skipping && (line.starts_with(' ') || line.is_empty()) {
                continue;
            }
            skipping = false;
            out.push(line);
        }
        out.join("\n")
    };
    let target = golive::suite::parse_target(&yaml, Path::new("garbage.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let outcome = run::run(
        RunConfig {
            suite: run::load_bundled_suite("smartpay").unwrap(),
            target: TargetSpec::File(Box::new(target)),
            reports_dir: dir.path().to_owned(),
            time_scale: TIME_SCALE,
            wait_timeout_s: Some(3.0),
            jobs: 1,
        },
        &|_| Box::new(golive::report::Silent),
    )
    .await;
    server.abort();
    assert_eq!(outcome.report.run_error, None);
    assert_eq!(outcome.exit_code, exit::CHECKS_FAILED);
    let failing = run::failing_ids(&outcome.report);
    assert!(failing.contains("SP-PAID-WHEN-CONFIRMED"), "{failing:?}");
    let errors: Vec<String> = outcome
        .report
        .scenarios
        .iter()
        .filter_map(|s| s.error.clone())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("no checkout token")),
        "{errors:?}"
    );
    // Not a speed test: a hang would run into the test's own timeout. Each scenario may wait
    // once for the checkout a shop could create in the background (3 s here), so the bound is
    // the suite's 11 scenarios' waits with room for a loaded machine.
    assert!(
        started.elapsed().as_secs() < 150,
        "took {:?}: something waited longer than its wait timeout",
        started.elapsed()
    );
}
