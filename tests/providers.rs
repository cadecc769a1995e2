//! Every built-in reference shop through its provider's bundled suite, one trial per case:
//! each compliant style passes every check, each planted flaw fails exactly the checks its
//! `caught_by` names (no fewer: a miss; no more: a false alarm). The cases, their time scales
//! and styles are `golive accuracy`'s own (`accuracy::reference_cases`, run by
//! `accuracy::run_case`), so the measurement and this test cannot disagree.
//!
//! A trial is named `<provider>::style::<style>` or `<provider>::flaw::<flaw>`:
//! `cargo test --test providers -- ppaas` runs one provider's, `-- ::flaw::` every flaw. Each
//! records every check's verdict as an insta snapshot (tests/snapshots/), so a change of any
//! verdict, not only of the failing set, shows in review.

use std::collections::BTreeSet;
use std::path::Path;

use golive::accuracy::{self, Case, CaseTarget};
use golive::exit;
use golive::reference::Reference;
use golive::report::{Outcome, RunReport, Verdict};
use golive::run::RunOutcome;
use libtest_mimic::{Arguments, Failed, Trial};

#[path = "shared/junit.rs"]
mod junit;

/// Trials at once unless `--test-threads` (or RUST_TEST_THREADS) says otherwise: a trial
/// mostly waits on loopback HTTP and scaled provider timers, so more than the cores, but few
/// enough that a busy 2-core machine still meets the scaled deadlines.
const DEFAULT_THREADS: usize = 6;

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        let from_env = std::env::var("RUST_TEST_THREADS").ok();
        args.test_threads = Some(
            from_env
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_THREADS),
        );
    }
    let cases = accuracy::reference_cases(None);
    // `--jobs 4` must give each provider's compliant shop, and its first flaw, the verdicts of
    // a run one after another: the same snapshot.
    let in_lanes: Vec<Trial> = cases
        .iter()
        .filter(|c| is_first_of_its_kind(c, &cases))
        .cloned()
        .map(|case| {
            Trial::test(format!("{}::jobs4", trial_name(&case)), move || {
                judge_in(case, 4)
            })
        })
        .collect();
    let trials = cases
        .into_iter()
        .map(|case| Trial::test(trial_name(&case), move || judge(case)))
        .chain(in_lanes)
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// `kontocloud::style::a`, `ppaas::flaw::no_token_refresh`.
fn trial_name(case: &Case) -> String {
    match &case.target {
        CaseTarget::Reference { style, flaws } if flaws.is_empty() => {
            format!("{}::style::{style}", case.provider)
        }
        CaseTarget::Reference { flaws, .. } => {
            format!("{}::flaw::{}", case.provider, flaws.join("+"))
        }
        CaseTarget::Example { .. } => format!("{}::example::{}", case.provider, case.label),
    }
}

/// The first compliant case and the first flawed case of each provider.
fn is_first_of_its_kind(case: &Case, all: &[Case]) -> bool {
    all.iter()
        .find(|c| c.provider == case.provider && c.is_compliant() == case.is_compliant())
        .is_some_and(|first| trial_name(first) == trial_name(case))
}

/// Runs one case and says everything wrong with it at once.
fn judge(case: Case) -> Result<(), Failed> {
    judge_in(case, 1)
}

/// [`judge`], with the scenarios in `jobs` lanes.
fn judge_in(case: Case, jobs: usize) -> Result<(), Failed> {
    let name = trial_name(&case);
    let r = golive::providers::reference(&case.provider).ok_or("no such reference")?;
    let dir = tempfile::tempdir()?;
    // The sandbox and the shop run on the workers; the run itself on this thread (its event
    // sink is borrowed across awaits, not Send).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (result, outcome) = runtime.block_on(accuracy::run_case_in_lanes(
        case.clone(),
        dir.path().to_owned(),
        None,
        jobs,
    ));
    let outcome = outcome.ok_or_else(|| format!("no run was made: {}", result.line()))?;
    let report = &outcome.report;

    let mut problems = Vec::new();
    // What `golive accuracy` counts: exactly the expected checks fail, exit 0 or 1.
    if !result.right() {
        problems.push(result.line());
    }
    if let Some(e) = &report.run_error {
        problems.push(format!("run error: {e}"));
    }
    // What CI sees must be what golive decided: the JUnit file fails the same checks.
    let junit_xml = std::fs::read_to_string(dir.path().join("junit.xml"))?;
    let in_junit = junit::junit_failures(&junit_xml, &report.suite.id);
    if in_junit != result.failing {
        problems.push(format!(
            "junit.xml fails {in_junit:?}, the run {:?}",
            result.failing
        ));
    }
    junit::assert_junit_valid(&dir.path().join("junit.xml"));
    let (exit_code, verdict) = if case.is_compliant() {
        (exit::PASSED, Verdict::Passed)
    } else {
        (exit::CHECKS_FAILED, Verdict::Failed)
    };
    if outcome.exit_code != exit_code || report.verdict != verdict {
        problems.push(format!(
            "exit {}, verdict {} (expected exit {exit_code}, {})",
            outcome.exit_code,
            report.verdict.as_str(),
            verdict.as_str()
        ));
    }
    if case.is_compliant() {
        compliant(r, &case, &outcome, &mut problems);
    } else {
        flawed(report, &mut problems);
    }
    no_secret_in_reports(dir.path(), &mut problems);
    if !problems.is_empty() {
        let failures: Vec<String> = report
            .failures()
            .map(|c| format!("  {}: {}", c.name(), c.message))
            .chain(
                report
                    .scenarios
                    .iter()
                    .filter_map(|s| Some(format!("  scenario {}: {}", s.id, s.error.as_ref()?))),
            )
            .collect();
        return Err(format!(
            "{name}:\n{}\nwhat failed:\n{}",
            problems.join("\n"),
            failures.join("\n")
        )
        .into());
    }
    insta::assert_snapshot!(name.replace("::", "-"), verdicts(report));
    Ok(())
}

/// A compliant style: no check failed, every scenario driven to its end, every check judged (but the
/// ones the reference says this style leaves with nothing to judge).
fn compliant(r: &Reference, case: &Case, outcome: &RunOutcome, problems: &mut Vec<String>) {
    let report = &outcome.report;
    if report.failures().next().is_some() {
        problems.push("a check failed".to_string());
    }
    let stopped: Vec<String> = report
        .scenarios
        .iter()
        .filter_map(|s| Some(format!("{}: {}", s.id, s.error.as_ref()?)))
        .collect();
    if !stopped.is_empty() {
        problems.push(format!("scenarios stopped early: {stopped:?}"));
    }
    let CaseTarget::Reference { style, .. } = &case.target else {
        return;
    };
    let unjudged: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.outcome != Outcome::Passed && c.outcome != Outcome::Failed)
        .collect();
    let skipped: BTreeSet<&str> = unjudged.iter().map(|c| c.id.as_str()).collect();
    let allowed: BTreeSet<&str> = r
        .skipped_when_compliant
        .iter()
        .filter(|(s, _)| s == style)
        .map(|(_, id)| *id)
        .collect();
    if skipped != allowed {
        let why: Vec<String> = unjudged
            .iter()
            .map(|c| format!("  {} {}: {}", c.name(), c.outcome.as_str(), c.message))
            .collect();
        problems.push(format!(
            "not judged: {skipped:?} (allowed: {allowed:?})\n{}",
            why.join("\n")
        ));
    }
}

/// A flaw: every failure's evidence is in the report.
fn flawed(report: &RunReport, problems: &mut Vec<String>) {
    for c in report.failures() {
        for seq in &c.evidence {
            if report.exchange(*seq).is_none() {
                problems.push(format!("{}: evidence #{seq} missing", c.name()));
            }
        }
    }
}

/// The sandbox's secrets (passwords, client secrets, authentication keys: every provider's
/// is spelled `sbx-…`) never reach a report.
fn no_secret_in_reports(dir: &Path, problems: &mut Vec<String>) {
    let secret = regex::Regex::new(r"sbx-[A-Za-z0-9-]{16,}").expect("a regex");
    for name in ["report.json", "report.html", "junit.xml"] {
        match std::fs::read_to_string(dir.join(name)) {
            Err(e) => problems.push(format!("{name}: {e}")),
            Ok(text) => {
                if let Some(m) = secret.find(&text) {
                    problems.push(format!("{name} shows a sandbox secret: {}", m.as_str()));
                }
            }
        }
    }
}

/// Every check's verdict, one line each, by id: `ID [scenario]: passed`. A check skipped
/// because its scenario does not apply to the shop reads `not_applicable`.
fn verdicts(report: &RunReport) -> String {
    let mut lines: Vec<(String, &str)> = report
        .checks
        .iter()
        .map(|c| {
            let na = c.outcome == Outcome::Skipped
                && report
                    .scenarios
                    .iter()
                    .any(|s| c.scenario.as_ref() == Some(&s.id) && s.not_applicable.is_some());
            let outcome = if na {
                "not_applicable"
            } else {
                c.outcome.as_str()
            };
            (c.name(), outcome)
        })
        .collect();
    lines.sort();
    lines
        .iter()
        .map(|(name, outcome)| format!("{name}: {outcome}\n"))
        .collect()
}
