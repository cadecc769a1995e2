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
    // A stage per check (and the index beside them): with every check in one stage, that
    // stage was the slowest part of judging, every chunk waiting for it in turn while the
    // other core sat idle. Apart, the checks of one chunk are judged while the next chunk is
    // parsed or judged by other checks.
    judge_in_groups(suite, journal_path, suite.checks.len())
}

/// [`judge_indexed`] with the checks dealt into `groups` stages.
fn judge_in_groups(
    suite: &Suite,
    journal_path: &Path,
    groups: usize,
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
    let mut evaluation = checks::Evaluation::in_groups(suite, groups).map_err(build_errors)?;
    let mut index = journal::Index::default();
    let mut index_stage = |located: &journal::reader::Located| {
        index.add(located);
        Ok(())
    };
    let mut group_stages: Vec<_> = evaluation
        .groups_mut()
        .iter_mut()
        .map(|group| {
            move |located: &journal::reader::Located| {
                group.observe(&located.entry).map_err(Stop::Build)
            }
        })
        .collect();
    let mut stages: Vec<journal::reader::Stage<'_, Stop>> = vec![&mut index_stage];
    stages.extend(
        group_stages
            .iter_mut()
            .map(|s| s as journal::reader::Stage<'_, Stop>),
    );
    journal::reader::for_each_staged(journal_path, stages).map_err(|stop| match stop {
        Stop::Journal(e) => e.to_string(),
        Stop::Build(errors) => build_errors(errors),
    })?;
    drop(group_stages);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{api, harness, journal};
    use crate::journal::{Direction, TokenState};

    /// A varied journal: token fetches (a partnerReference repeated now and then), status
    /// queries with good and bad local times, callbacks and probes, spread over the bundled
    /// suite's scenarios and over many chunks of the reader.
    fn varied_journal(exchanges: usize) -> Vec<journal::Entry> {
        let scenarios = [
            "token_renewal",
            "purchase_captured",
            "purchase_declined",
            "forged_callback",
            "status_flaky",
        ];
        let mut out = Vec::new();
        for i in 0..exchanges {
            let scenario = scenarios[(i / 500) % scenarios.len()];
            let at = i as f64 * 3.0;
            let reference = format!("order-{}", if i % 97 == 0 { 0 } else { i });
            let ex = match i % 4 {
                0 => api(
                    "issue_token",
                    "POST",
                    "/user/golive-merchant-01/issue",
                    &format!(
                        r#"{{"password":"p","partnerReference":"{reference}","localDate":"2026-01-01","localTime":"120000"}}"#
                    ),
                )
                .header("Accept-Language", "en-US"),
                1 | 2 => api(
                    "payment_status",
                    "GET",
                    &format!(
                        "/payment/P{i}/status?partnerReference={reference}&localDate=2026-12-0{}&localTime=1200{:02}",
                        1 + i % 3,
                        i % 60
                    ),
                    "",
                )
                .token(if i % 13 == 0 { TokenState::Expired } else { TokenState::Valid })
                .payment(&format!("P{}", i / 8))
                .state(if i % 3 == 0 { "CAPTURED" } else { "PENDING" })
                .status(if i % 11 == 0 { 500 } else { 200 }),
                _ => harness("callback", "POST", "/kontocloud/callback")
                    .facts(|f| f.forged = i % 8 == 3)
                    .payment(&format!("P{}", i / 8))
                    .state("CAPTURED"),
            };
            let ex = if i % 4 == 3 {
                ex.order_paid(i % 5 == 0)
            } else {
                ex
            };
            out.push(ex.scenario(scenario).at(at).wall("2026-12-01T12:00:00Z"));
        }
        let mut entries = journal(out);
        for e in &mut entries {
            if let journal::Entry::Exchange(ex) = e {
                if ex.role == "callback" {
                    ex.direction = Direction::ToTarget;
                }
            }
        }
        entries
    }

    #[test]
    fn the_checks_judged_apart_give_the_verdicts_they_give_together() {
        let text = include_str!("../../suites/kontocloud-go-live.yaml");
        let suite = crate::suite::parse_suite(text, Path::new("kontocloud-go-live.yaml"))
            .unwrap()
            .value;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let entries = varied_journal(12_000);
        let lines: String = entries
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        // Several of the reader's chunks.
        assert!(lines.len() > 4 << 20, "{} bytes", lines.len());
        std::fs::write(&path, lines).unwrap();

        let together = checks::evaluate(&suite, entries.into_iter()).unwrap();
        let outcomes: Vec<_> = together.iter().map(|c| c.outcome).collect();
        assert!(
            outcomes.contains(&Outcome::Failed) && outcomes.contains(&Outcome::Passed),
            "{outcomes:?}"
        );
        let view = |results: &[CheckResult]| {
            results
                .iter()
                .map(|c| serde_json::to_string(c).unwrap())
                .collect::<Vec<_>>()
        };
        for groups in [1, 2, 5, suite.checks.len()] {
            let (apart, index) = judge_in_groups(&suite, &path, groups).unwrap();
            assert_eq!(view(&apart), view(&together), "{groups} groups");
            assert_eq!(index.exchanges().len(), 12_000);
        }
    }
}
