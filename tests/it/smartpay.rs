//! SmartPay end to end: the bundled suite against the built-in reference shop, in every
//! compliant style and with every flaw, through the real sandbox and real HTTP on loopback.
//! Provider time runs at 1/50 (the "3 minutes" PENDING rule takes 3.6 s, and its 20 s
//! tolerance 0.4 s: enough for timers on a busy 2-core CI machine).

use std::collections::BTreeSet;
use std::path::Path;

use golive::exit;
use golive::report::{Outcome, Verdict};
use golive::run::{self, RunConfig, RunOutcome, TargetSpec};

const TIME_SCALE: f64 = 0.02;

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
    crate::support::run_reference("smartpay", style, flaws, reports, Some(TIME_SCALE)).await
}

#[test]
fn every_compliant_style_passes_every_check() {
    let r = golive::providers::reference("smartpay").unwrap();
    let runs: Vec<_> = r
        .styles
        .iter()
        .map(|style| (style, spawn_run(Some(style), vec![])))
        .collect();
    for (style, run) in runs {
        let outcome = run.join().unwrap();
        let failures: Vec<String> = outcome
            .report
            .failures()
            .map(|c| format!("{}: {}", c.name(), c.message))
            .collect();
        assert_eq!(outcome.report.run_error, None, "style {style}");
        assert!(failures.is_empty(), "style {style} failed: {failures:#?}");
        assert_eq!(outcome.exit_code, exit::PASSED, "style {style}");
        let broken: Vec<String> = outcome
            .report
            .scenarios
            .iter()
            .filter_map(|s| s.error.clone())
            .collect();
        assert!(broken.is_empty(), "style {style}: {broken:?}");
        // Every check was judged; style b authenticates with Basic, so no token is issued
        // and token reuse has nothing to judge there.
        let skipped: BTreeSet<&str> = outcome
            .report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Skipped)
            .map(|c| c.id.as_str())
            .collect();
        let allowed: BTreeSet<&str> = if *style == "b" {
            ["SP-TOKEN-REUSE"].into()
        } else {
            BTreeSet::new()
        };
        assert_eq!(skipped, allowed, "style {style}");
    }
}

#[test]
fn each_flaw_fails_exactly_the_checks_that_should_catch_it() {
    let r = golive::providers::reference("smartpay").unwrap();
    let runs: Vec<_> = r
        .flaws
        .iter()
        .map(|flaw| (flaw, spawn_run(None, vec![flaw.name])))
        .collect();
    let mut mismatches = Vec::new();
    for (flaw, run) in runs {
        let outcome = run.join().unwrap();
        assert_eq!(outcome.report.run_error, None, "flaw {}", flaw.name);
        let expected: BTreeSet<String> = flaw.caught_by.iter().map(|s| s.to_string()).collect();
        let got = run::failing_ids(&outcome.report);
        if got != expected {
            let detail: Vec<String> = outcome
                .report
                .failures()
                .map(|c| format!("{}: {}", c.name(), c.message))
                .collect();
            mismatches.push(format!(
                "{}: expected {expected:?}, got {got:?}: {detail:#?}",
                flaw.name
            ));
        }
        assert_eq!(outcome.exit_code, exit::CHECKS_FAILED, "flaw {}", flaw.name);
        assert_eq!(outcome.report.verdict, Verdict::Failed);
        for c in outcome.report.failures() {
            assert!(
                !c.evidence.is_empty() || c.message.contains("never"),
                "{}: a failure without evidence: {}",
                c.name(),
                c.message
            );
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
            time_scale: Some(TIME_SCALE),
            wait_timeout_s: Some(3.0),
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
    assert!(
        started.elapsed().as_secs() < 30,
        "took {:?}",
        started.elapsed()
    );
}
