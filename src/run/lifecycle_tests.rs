use super::*;
use crate::report::build::tests::{check, empty_report};
use crate::report::Severity;

const SUITE: &str = r#"golive: 1
id: s
title: S
provider: kontocloud
scenarios:
  - id: pay
    title: Pay
    steps: [{ trigger: { name: start_payment } }]
  - id: pay_again
    title: Pay again
    steps: [{ trigger: { name: start_payment } }]
checks:
  - id: SCOPED
    title: t
    description: d
    severity: critical
    source: inferred
    kind: order_outcome
    scenarios: [pay, pay_again]
    params: { expect: paid }
  - id: WHOLE
    title: t
    description: d
    severity: major
    source: inferred
    kind: token_reuse
  - id: PER
    title: t
    description: d
    severity: minor
    source: inferred
    kind: status_verified
"#;

fn suite() -> Suite {
    crate::suite::parse_suite(SUITE, Path::new("s.yaml"))
        .expect("the test suite loads")
        .value
}

fn in_scenario(mut c: CheckResult, s: &str) -> CheckResult {
    c.scenario = Some(s.into());
    c
}

#[test]
fn a_scenario_not_driven_to_its_end_owes_an_error_per_check_that_judges_it() {
    let suite = suite();
    let mut report = empty_report(&["pay", "pay_again"], vec![]);
    report.scenarios[0].error = Some("step 1 (trigger start_payment): refused".into());
    let checks = vec![
        in_scenario(
            check("SCOPED", Outcome::Passed, Severity::Critical, &[]),
            "pay_again",
        ),
        check("WHOLE", Outcome::Passed, Severity::Major, &[]),
        in_scenario(
            check("PER", Outcome::Passed, Severity::Minor, &[]),
            "pay_again",
        ),
    ];
    let owed = not_judged(&suite, &report, &checks);
    let names: Vec<String> = owed.iter().map(|c| c.name()).collect();
    // The whole-run check gave its one verdict; the two that judge per scenario owe one
    // for `pay`.
    assert_eq!(names, ["SCOPED [pay]", "PER [pay]"]);
    assert!(owed.iter().all(|c| c.outcome == Outcome::Error));
    assert!(
        owed[0].message.contains("not driven to its end"),
        "{owed:?}"
    );
    // A verdict given for the broken scenario stands: nothing is owed for it.
    let mut judged = checks.clone();
    judged.push(in_scenario(
        check("SCOPED", Outcome::Failed, Severity::Critical, &[]),
        "pay",
    ));
    let names: Vec<String> = not_judged(&suite, &report, &judged)
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(names, ["PER [pay]"]);
}

#[test]
fn scenarios_not_run_owe_their_verdicts_too() {
    let suite = suite();
    let mut report = empty_report(&["pay"], vec![]);
    report.not_run = vec!["pay_again".into()];
    let checks = vec![in_scenario(
        check("SCOPED", Outcome::Passed, Severity::Critical, &[]),
        "pay",
    )];
    let owed = not_judged(&suite, &report, &checks);
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].name(), "SCOPED [pay_again]");
    assert!(owed[0].message.contains("was not run"));
}

#[test]
fn an_assessment_that_judged_nothing_is_incomplete() {
    let suite = suite();
    let report = empty_report(&["pay", "pay_again"], vec![]);
    let all_skipped = vec![
        check("SCOPED", Outcome::Skipped, Severity::Critical, &[]),
        check("WHOLE", Outcome::Skipped, Severity::Major, &[]),
    ];
    let why = incompleteness(&suite, &report, &all_skipped);
    assert!(
        why.iter().any(|w| w.contains("no check judged anything")),
        "{why:?}"
    );
    assert!(
        why.iter()
            .any(|w| w.contains("check SCOPED was skipped in every scenario")),
        "{why:?}"
    );
    // An unscoped check with nothing to judge (token reuse under Basic authentication)
    // does not make a run incomplete when the others judged.
    let fine = vec![
        check("SCOPED", Outcome::Passed, Severity::Critical, &[]),
        check("WHOLE", Outcome::Skipped, Severity::Major, &[]),
    ];
    assert_eq!(incompleteness(&suite, &report, &fine), Vec::<String>::new());
}

fn finished(report: RunReport) -> RunOutcome {
    let dir = tempfile::tempdir().unwrap();
    finish(
        report,
        None,
        None,
        dir.path(),
        Secrets::new(),
        Instant::now(),
    )
}

#[test]
fn exit_codes_tell_the_truth() {
    let passed = vec![check("SCOPED", Outcome::Passed, Severity::Critical, &[])];
    let outcome = finished(empty_report(&["pay"], passed.clone()));
    assert_eq!(
        (outcome.report.verdict, outcome.exit_code),
        (Verdict::Passed, exit::PASSED)
    );

    let mut incomplete = empty_report(&["pay"], passed.clone());
    incomplete.incomplete = vec!["scenario pay was not driven to its end".into()];
    let outcome = finished(incomplete.clone());
    assert_eq!(
        (outcome.report.verdict, outcome.exit_code),
        (Verdict::Incomplete, exit::RUN_FAILED)
    );

    // A failure is a finding and outranks incompleteness.
    incomplete
        .checks
        .push(check("PER", Outcome::Failed, Severity::Minor, &[]));
    let outcome = finished(incomplete.clone());
    assert_eq!(
        (outcome.report.verdict, outcome.exit_code),
        (Verdict::Failed, exit::CHECKS_FAILED)
    );

    incomplete.interrupted = Some("SIGTERM".into());
    let outcome = finished(incomplete.clone());
    assert_eq!(
        (outcome.report.verdict, outcome.exit_code),
        (Verdict::Interrupted, exit::INTERRUPTED)
    );

    incomplete.run_error = Some("your integration exited".into());
    let outcome = finished(incomplete);
    assert_eq!(
        (outcome.report.verdict, outcome.exit_code),
        (Verdict::Error, exit::RUN_FAILED)
    );
}
