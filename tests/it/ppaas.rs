//! The PPaaS suite end to end, in process: the bundled suite against the built-in reference
//! service provider. Every compliant style passes every check; every flaw fails exactly the
//! checks its `caught_by` names — no more (a false alarm), no fewer (a missed mistake).
//!
//! Provider time runs at 0.2 (the 5 s webhook deadline is 1 s, PPaaS waits 2 s for an answer);
//! the cases run side by side, a few at a time, so the module takes about half a minute.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use golive::run::failing_ids;

const TIME_SCALE: f64 = 0.2;
/// Runs at once: each mostly waits on the network and its sleeps, but the machine has 2 cores
/// and the webhook deadline (1 s at this scale) must not be missed for want of CPU.
const PARALLEL: usize = 5;

struct Case {
    style: &'static str,
    flaws: Vec<String>,
}

struct Verdict {
    exit_code: i32,
    failing: BTreeSet<String>,
    summary: String,
    report_json: String,
    report_html: String,
    seconds: f64,
}

async fn drive(case: &Case) -> Verdict {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let started = Instant::now();
    let flaws: Vec<&str> = case.flaws.iter().map(String::as_str).collect();
    let outcome = crate::support::run_reference(
        "ppaas",
        Some(case.style),
        &flaws,
        dir.path(),
        Some(TIME_SCALE),
    )
    .await;
    let summary = outcome
        .report
        .checks
        .iter()
        .filter(|c| c.outcome == golive::report::Outcome::Failed)
        .map(|c| {
            format!(
                "  {} [{}]: {}",
                c.id,
                c.scenario.as_deref().unwrap_or("run"),
                c.message
            )
        })
        .chain(outcome.report.scenarios.iter().filter_map(|s| {
            s.error
                .as_ref()
                .map(|e| format!("  scenario {}: {e}", s.id))
        }))
        .chain(
            outcome
                .report
                .run_error
                .iter()
                .map(|e| format!("  run error: {e}")),
        )
        .collect::<Vec<_>>()
        .join("\n");
    Verdict {
        exit_code: outcome.exit_code,
        failing: failing_ids(&outcome.report),
        summary,
        report_json: std::fs::read_to_string(dir.path().join("report.json")).unwrap_or_default(),
        report_html: std::fs::read_to_string(dir.path().join("report.html")).unwrap_or_default(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ppaas_reference_styles_pass_and_each_flaw_fails_exactly_its_checks() {
    let r = golive::providers::reference("ppaas").expect("a PPaaS reference service provider");
    assert!(r.styles.len() >= 2, "more than one compliant style");
    let mut cases: Vec<Case> = r
        .styles
        .iter()
        .map(|s| Case {
            style: s,
            flaws: Vec::new(),
        })
        .collect();
    // Flaws alternate between the styles: a flaw is caught whatever the legitimate style
    // around it.
    for (i, f) in r.flaws.iter().enumerate() {
        cases.push(Case {
            style: r.styles[i % r.styles.len()],
            flaws: vec![f.name.to_owned()],
        });
    }
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    // A run's future holds its event sink by reference (not Send): the runs share this thread
    // in a LocalSet, while the sandboxes and service providers they start run on the workers.
    let local = tokio::task::LocalSet::new();
    let mut results = local
        .run_until(async move {
            let handles: Vec<_> = cases
                .into_iter()
                .enumerate()
                .map(|(i, case)| {
                    let gate = gate.clone();
                    tokio::task::spawn_local(async move {
                        let _permit = gate.acquire_owned().await.expect("the gate stays open");
                        let verdict = drive(&case).await;
                        (i, case, verdict)
                    })
                })
                .collect();
            let mut results = Vec::new();
            for h in handles {
                results.push(h.await.expect("a run does not panic"));
            }
            results
        })
        .await;
    results.sort_by_key(|(i, _, _)| *i);

    let secret = regex::Regex::new(r"sbx-[A-Za-z0-9]{32}").expect("a regex");
    let mut problems = Vec::new();
    for (_, case, v) in &results {
        let label = format!(
            "style {} {}",
            case.style,
            if case.flaws.is_empty() {
                "compliant".to_string()
            } else {
                format!("flaw {}", case.flaws.join("+"))
            }
        );
        eprintln!(
            "{label}: exit {} in {:.1} s, failing {:?}",
            v.exit_code, v.seconds, v.failing
        );
        let expected: BTreeSet<String> = case
            .flaws
            .iter()
            .flat_map(|f| {
                r.flaw(f)
                    .expect("a known flaw")
                    .caught_by
                    .iter()
                    .map(|c| c.to_string())
            })
            .collect();
        let expected_exit = if expected.is_empty() { 0 } else { 1 };
        if v.exit_code != expected_exit || v.failing != expected {
            problems.push(format!(
                "{label}: exit {} (expected {expected_exit}), failing {:?} (expected {:?})\n{}",
                v.exit_code, v.failing, expected, v.summary
            ));
        }
        // The client secret (`sbx-` and 32 characters) never reaches a report.
        for (name, text) in [
            ("report.json", &v.report_json),
            ("report.html", &v.report_html),
        ] {
            if text.is_empty() {
                problems.push(format!("{label}: no {name}"));
            } else if secret.is_match(text) {
                problems.push(format!("{label}: the client secret is in {name}"));
            }
        }
    }
    eprintln!(
        "{} runs in {:.1} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
