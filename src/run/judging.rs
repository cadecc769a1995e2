//! Judging: the checks over the journal, the verdicts owed but not given, why an assessment
//! is incomplete.

use super::*;

/// Which scenarios a check owes a verdict for: those it is scoped to, or every scenario.
fn owes(check: &crate::suite::CheckSpec, scenario: &str) -> bool {
    match &check.scenarios {
        Some(list) => list.iter().any(|s| s == scenario),
        None => true,
    }
}

/// The verdicts owed but not given: for each scenario not driven to its end (or not run,
/// after an interruption), each check that judges scenario by scenario and covers it, but
/// has no verdict for it, is an `error` ("not judged") — rather than vanishing from the
/// reports. A check judges per scenario when it is scoped to scenarios or gave a verdict for
/// some scenario in this run.
pub(crate) fn not_judged(
    suite: &Suite,
    report: &RunReport,
    checks: &[CheckResult],
) -> Vec<CheckResult> {
    let unfinished: Vec<(&str, String)> = report
        .scenarios
        .iter()
        .filter_map(|s| {
            s.error.as_ref().map(|e| {
                (
                    s.id.as_str(),
                    format!("scenario {} was not driven to its end ({e})", s.id),
                )
            })
        })
        .chain(report.not_run.iter().map(|id| {
            (
                id.as_str(),
                format!("scenario {id} was not run ({})", why_not_run(report)),
            )
        }))
        .collect();
    let mut owed = Vec::new();
    for spec in &suite.checks {
        let per_scenario = spec.scenarios.is_some()
            || checks
                .iter()
                .any(|c| c.id == spec.id && c.scenario.is_some());
        if !per_scenario {
            continue;
        }
        for (scenario, why) in &unfinished {
            let judged = checks
                .iter()
                .any(|c| c.id == spec.id && c.scenario.as_deref() == Some(*scenario));
            if owes(spec, scenario) && !judged {
                owed.push(crate::checks::verdict_of(
                    spec,
                    crate::checks::Finding {
                        scenario: Some(scenario.to_string()),
                        outcome: Outcome::Error,
                        message: format!("not judged: {why}"),
                        evidence: Vec::new(),
                    },
                ));
            }
        }
    }
    owed
}

/// Why the run's remaining scenarios were not run.
fn why_not_run(report: &RunReport) -> String {
    match (&report.bailed, &report.interrupted) {
        (Some(why), _) => format!("--bail stopped the run: {why}"),
        (None, Some(signal)) => format!("the run was interrupted by {signal}"),
        (None, None) => "the run stopped before it".into(),
    }
}

/// Why the assessment is not complete: scenarios not driven to their end, checks the suite
/// scoped to scenarios that were skipped in every one, and a run in which no check judged
/// anything at all (a suite whose journeys produced no traffic for its rules must not pass).
pub(crate) fn incompleteness(
    suite: &Suite,
    report: &RunReport,
    checks: &[CheckResult],
) -> Vec<String> {
    let mut why: Vec<String> = report
        .scenarios
        .iter()
        .filter_map(|s| {
            s.error
                .as_ref()
                .map(|e| format!("scenario {} was not driven to its end: {e}", s.id))
        })
        .collect();
    if !report.not_run.is_empty() {
        why.push(format!(
            "{} scenario(s) not run ({}): {}",
            report.not_run.len(),
            why_not_run(report),
            report.not_run.join(", ")
        ));
    }
    let not_applicable: BTreeSet<&str> = report
        .scenarios
        .iter()
        .filter(|s| s.not_applicable.is_some())
        .map(|s| s.id.as_str())
        .collect();
    let here: BTreeSet<&str> = report.scenarios.iter().map(|s| s.id.as_str()).collect();
    for spec in &suite.checks {
        // Only checks the suite pointed at given scenarios: an unscoped check may rightly have
        // nothing to judge (token reuse under Basic authentication, where no token is issued).
        let Some(scoped) = &spec.scenarios else {
            continue;
        };
        // A scenario the shop cannot take part in (a trigger it does not offer) is rightly not
        // judged: only the applicable ones count.
        // Nor do scenarios this run or journal does not hold (another partition's).
        let judgeable = |s: &str| !not_applicable.contains(s) && here.contains(s);
        if !scoped.iter().any(|s| judgeable(s)) {
            continue;
        }
        let mine: Vec<&CheckResult> = checks
            .iter()
            .filter(|c| c.id == spec.id)
            .filter(|c| c.scenario.as_deref().is_none_or(judgeable))
            .collect();
        if !mine.is_empty() && mine.iter().all(|c| c.outcome == Outcome::Skipped) {
            why.push(format!(
                "check {} was skipped in every scenario it was asked for ({}): {}",
                spec.id,
                scoped.join(", "),
                crate::report::first_line(&mine[0].message)
            ));
        }
    }
    if !checks.is_empty()
        && checks
            .iter()
            .all(|c| matches!(c.outcome, Outcome::Skipped | Outcome::Error))
    {
        why.push(format!(
            "no check judged anything: none of the {} verdicts is a pass or a failure (the run's traffic gave the checks nothing to judge)",
            checks.len()
        ));
    }
    why
}

/// Evaluates every check over the journal, read back in one pass.
pub fn judge(suite: &Suite, journal_path: &Path) -> Result<Vec<CheckResult>, String> {
    judge_indexed(suite, journal_path).map(|(checks, _)| checks)
}

/// [`judge`], and where each exchange is in the journal, so the report reads back only those it
/// shows. The journal is parsed on every core at once and judged in its order.
pub fn judge_indexed(
    suite: &Suite,
    journal_path: &Path,
) -> Result<(Vec<CheckResult>, journal::Index), String> {
    enum Stop {
        Journal(journal::JournalError),
        Build(checks::BuildErrors),
    }
    impl From<journal::JournalError> for Stop {
        fn from(e: journal::JournalError) -> Self {
            Stop::Journal(e)
        }
    }
    let build_errors = |errors: checks::BuildErrors| {
        errors
            .into_iter()
            .map(|(i, e)| format!("check {} (`{}`): {e}", i + 1, suite.checks[i].id))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut evaluation = checks::Evaluation::new(suite).map_err(build_errors)?;
    let mut index = journal::Index::default();
    journal::reader::for_each(journal_path, |located| {
        index.add(located);
        evaluation.observe(&located.entry).map_err(Stop::Build)
    })
    .map_err(|stop| match stop {
        Stop::Journal(e) => e.to_string(),
        Stop::Build(errors) => build_errors(errors),
    })?;
    Ok((evaluation.finish(), index))
}

/// The failing checks of a report, by id (each id once).
pub fn failing_ids(report: &RunReport) -> BTreeSet<String> {
    report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
        .map(|c| c.id.clone())
        .collect()
}
