//! Finishing a run: its verdict, its reports, its exit code.

use super::*;

/// Completes the report from the journal, writes it into `dir`, and says how the run ends.
/// `index` is where the journal's exchanges are, when judging read it.
pub(crate) fn finish(
    report: RunReport,
    journal: Option<&Path>,
    index: Option<&journal::Index>,
    dir: &Path,
    secrets: Secrets,
    started: Instant,
) -> RunOutcome {
    finish_to(
        report,
        journal,
        index,
        dir,
        &ReportPaths::default(),
        secrets,
        started,
    )
}

/// [`finish`], each report written where `paths` says (in `dir` unless given).
pub(crate) fn finish_to(
    mut report: RunReport,
    journal: Option<&Path>,
    index: Option<&journal::Index>,
    dir: &Path,
    paths: &ReportPaths,
    secrets: Secrets,
    started: Instant,
) -> RunOutcome {
    report.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    report.counts = count(&report.checks);
    // A failed check is a finding and outranks an incomplete assessment (see exit.rs); an
    // interruption or a run error outranks both: what was judged is partial.
    report.verdict = if report.run_error.is_some() {
        Verdict::Error
    } else if report.interrupted.is_some() {
        Verdict::Interrupted
    } else if report.checks.iter().any(|c| c.outcome == Outcome::Failed) {
        Verdict::Failed
    } else if !report.incomplete.is_empty() {
        Verdict::Incomplete
    } else {
        Verdict::Passed
    };
    let mut report_error = None;
    let mut secrets = secrets;
    if let Some(j) = journal {
        match report::build::complete_learning(&mut report, j, index, &secrets) {
            Ok(learned) => secrets = learned,
            Err(e) => report_error = Some(e.to_string()),
        }
    }
    if let Err(e) = mask_target_log(dir, &secrets) {
        report_error.get_or_insert(e);
    }
    let to = paths.resolve(dir);
    let written = match report::write_to(&report, &to) {
        Ok(()) => Some(to),
        Err(e) => {
            report_error.get_or_insert(e.to_string());
            None
        }
    };
    let exit_code = exit::code(&Ok(report.verdict));
    RunOutcome {
        report,
        written,
        report_error,
        exit_code,
        secrets,
    }
}

/// The target's own output (`target.log`) goes out with the reports, so it is masked like them
/// once the target has stopped. The raw output is not kept: the journal holds every exchange.
fn mask_target_log(dir: &Path, secrets: &Secrets) -> Result<(), String> {
    let log = dir.join("target.log");
    if !log.exists() {
        return Ok(());
    }
    report::redact::mask_file(&log, secrets)
        .map_err(|e| format!("cannot mask {}: {e}", log.display()))
}
