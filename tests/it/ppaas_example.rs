//! The bundled PPaaS suite against a service provider golive did not write: the Python example
//! of tests/examples/ppaas/ (requests-oauthlib for its token, its own ids, 201 answers, PENDING
//! sent from another thread right after the webhook answer, a consumer hook that answers 202),
//! started by golive from its target file's `start` command and stopped by its process group.
//!
//! Every compliant style passes every check; every planted mistake (an env flag of the Python
//! service provider) fails exactly the checks that must catch it. The events API is golive's
//! inference: a service provider that reads it differently fails PP-UNKNOWN-OPERATION, naming
//! its call, unless the suite states that reading in `settings.sandbox.events_api`.
//!
//! Provider time runs at 0.2, as in tests/it/ppaas.rs.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use golive::report::Outcome;
use golive::run::{self, RunConfig, RunOutcome, TargetSpec};
use golive::suite::{load_target, parse_suite, Loaded, Suite};

use crate::support::{failing, venv_python, ROOT};

const TIME_SCALE: f64 = 0.2;
/// Runs at once: each is a Python process mostly waiting on the network and its back-offs.
const PARALLEL: usize = 3;
/// The Python service provider's own reading of the events path (`{id}`: the transaction).
const OTHER_EVENTS_PATH: &str = "/events/v1/transactions/{id}";

struct Case {
    label: &'static str,
    style: &'static str,
    flaws: &'static str,
    /// The Python service provider's events path, when not golive's reading.
    events_path: Option<&'static str>,
    /// Whether the suite states the Python service provider's reading of the events path.
    suite_reads_other_path: bool,
    expected: &'static [&'static str],
}

/// The bundled suite, optionally with its inferred events path stated as `/events/v1/...`:
/// the override a team whose integration reads the silence that way writes, in YAML.
fn suite(reads_other_path: bool) -> Loaded<Suite> {
    let file = Path::new(ROOT).join("suites/ppaas-go-live.yaml");
    let text = std::fs::read_to_string(&file).expect("the bundled PPaaS suite");
    let golive_reading =
        r#"path: "/qrcode-payment/v1/transactions/{client_transaction_id}/events""#;
    assert!(
        text.contains(golive_reading),
        "the suite states golive's events path"
    );
    let text = if reads_other_path {
        text.replace(
            golive_reading,
            r#"path: "/events/v1/transactions/{client_transaction_id}""#,
        )
    } else {
        text
    };
    parse_suite(&text, &file).unwrap_or_else(|e| panic!("the suite loads: {e}"))
}

async fn drive(case: &Case, reports: &Path) -> RunOutcome {
    let file = Path::new(ROOT).join("tests/examples/ppaas/target.yaml");
    let mut target = load_target(&file).unwrap_or_else(|e| panic!("the example target loads: {e}"));
    let start = target
        .value
        .start
        .as_mut()
        .expect("the target starts its service");
    start.env.insert("PPAAS_SP_STYLE".into(), case.style.into());
    start.env.insert("PPAAS_SP_FLAWS".into(), case.flaws.into());
    if let Some(path) = case.events_path {
        start.env.insert("PPAAS_SP_EVENTS_PATH".into(), path.into());
    }
    run::run(
        RunConfig {
            suite: suite(case.suite_reads_other_path),
            target: TargetSpec::File(Box::new(target)),
            reports_dir: reports.to_owned(),
            time_scale: Some(TIME_SCALE),
            wait_timeout_s: Some(3.0),
            jobs: 1,
        },
        &|_| Box::new(golive::report::Silent),
    )
    .await
}

fn summary(outcome: &RunOutcome) -> String {
    outcome
        .report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
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
        .join("\n")
}

/// Runs the cases side by side and returns what went wrong, with each run's outcome.
async fn judge_cases(cases: Vec<Case>) -> (Vec<String>, Vec<(Case, RunOutcome)>) {
    venv_python();
    let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    // A run's future holds its event sink by reference (not Send): the runs share this thread.
    let local = tokio::task::LocalSet::new();
    let results = local
        .run_until(async move {
            let handles: Vec<_> = cases
                .into_iter()
                .map(|case| {
                    let gate = gate.clone();
                    tokio::task::spawn_local(async move {
                        let _permit = gate.acquire_owned().await.expect("the gate stays open");
                        let dir = tempfile::tempdir().expect("a temporary directory");
                        let outcome = drive(&case, dir.path()).await;
                        let log = std::fs::read_to_string(dir.path().join("target.log"))
                            .unwrap_or_default();
                        (case, outcome, log)
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
    let mut problems = Vec::new();
    let mut outcomes = Vec::new();
    for (case, outcome, log) in results {
        let expected: BTreeSet<String> = case.expected.iter().map(|s| s.to_string()).collect();
        let got = failing(&outcome);
        eprintln!(
            "{}: exit {}, failing {got:?}",
            case.label, outcome.exit_code
        );
        let expected_exit = if expected.is_empty() { 0 } else { 1 };
        if outcome.exit_code != expected_exit || got != expected {
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            problems.push(format!(
                "{}: exit {} (expected {expected_exit}), failing {got:?} (expected {expected:?})\n{}\n  service provider log (last lines, newest first):\n    {}",
                case.label,
                outcome.exit_code,
                summary(&outcome),
                tail.join("\n    ")
            ));
        }
        outcomes.push((case, outcome));
    }
    (problems, outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_service_provider_passes_and_each_planted_mistake_fails_exactly_its_checks() {
    let cases = vec![
        Case {
            label: "style b compliant (QR code as a PNG image, events one at a time)",
            style: "b",
            flaws: "",
            events_path: None,
            suite_reads_other_path: false,
            expected: &[],
        },
        Case {
            // 12.5 and 9.9 EUR are no integer: PPaaS refuses those events (the token_renewal
            // scenario's), so its payments never end for the terminal. Round amounts (20.0)
            // pass the schema: only a rule comparing with the webhook's amount catches those.
            label: "flaw amounts_in_major_units",
            style: "b",
            flaws: "amounts_in_major_units",
            events_path: None,
            suite_reads_other_path: false,
            expected: &["PP-REQUEST-SCHEMA", "PP-EVENT-AMOUNT", "PP-EVENT-OUTCOME"],
        },
        Case {
            label: "flaw no_retry_after_failed_event",
            style: "b",
            flaws: "no_retry_after_failed_event",
            events_path: None,
            suite_reads_other_path: false,
            expected: &["PP-EVENT-REDELIVERY"],
        },
        Case {
            // Its first token lives one second: every event after it carries an expired token
            // and is refused, so no later payment ends for the terminal (ack_down is not
            // judged for its outcome).
            label: "flaw token_never_renewed",
            style: "b",
            flaws: "token_never_renewed",
            events_path: None,
            suite_reads_other_path: false,
            expected: &["PP-TOKEN-VALID", "PP-EVENT-OUTCOME"],
        },
        Case {
            label: "its own reading of the events path, stated in the suite",
            style: "b",
            flaws: "",
            events_path: Some(OTHER_EVENTS_PATH),
            suite_reads_other_path: true,
            expected: &[],
        },
        Case {
            // Every event gets a 404: the payments never end for the terminal, and the call is
            // named. The redelivery rules have no acknowledgement failure to judge (skipped).
            label: "its own reading of the events path, not stated in the suite",
            style: "b",
            flaws: "",
            events_path: Some(OTHER_EVENTS_PATH),
            suite_reads_other_path: false,
            expected: &["PP-UNKNOWN-OPERATION", "PP-EVENT-OUTCOME"],
        },
    ];
    let (mut problems, outcomes) = judge_cases(cases).await;
    // The unserved call is named, with the events operation the sandbox serves.
    let (_, unread) = outcomes
        .iter()
        .find(|(c, _)| c.events_path.is_some() && !c.suite_reads_other_path)
        .expect("the case with the events path not stated");
    let named = unread
        .report
        .checks
        .iter()
        .find(|c| c.id == "PP-UNKNOWN-OPERATION" && c.outcome == Outcome::Failed)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    let pattern = regex::Regex::new(
        r"POST /events/v1/transactions/[0-9a-f-]{36} is not an operation of this sandbox \(\d+ calls, first #\d+\); the PPaaS events operation here is POST /qrcode-payment/v1/transactions/\{client_transaction_id\}/events",
    )
    .expect("a regex");
    if !pattern.is_match(&named) {
        problems.push(format!(
            "PP-UNKNOWN-OPERATION does not name the unserved call and the served path: {named:?}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_service_provider_with_a_plain_string_qr_code_and_concurrent_retries_passes() {
    // Seed 001 says only that the service provider answers "e.g. an image": a QR code given as
    // a plain string is an answer the terminal can show. Two events of one transaction retried
    // side by side, each after its own failure, are retries, not duplicates.
    let (problems, _) = judge_cases(vec![Case {
        label: "style a compliant (QR code as a string, events retried side by side)",
        style: "a",
        flaws: "",
        events_path: None,
        suite_reads_other_path: false,
        expected: &[],
    }])
    .await;
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
