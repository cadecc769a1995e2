//! Exit codes, named (as nextest does): CI reads them.

/// Every check passed (some may have been skipped), every scenario was driven to its end and
/// every check the suite scoped to scenarios was judged.
pub const PASSED: i32 = 0;
/// At least one check failed. A failure is a finding against the integration and stands even
/// when the assessment is also incomplete: CI gets the more specific answer.
pub const CHECKS_FAILED: i32 = 1;
/// The run could not be made, or was not a full assessment: a bad suite or target, a target
/// that did not start, a port already taken, an integration that exited during the run, or
/// (verdict `incomplete`, with no check failed) a scenario not driven to its end or a check
/// the suite asked for that nothing could judge. In each case no assessment was made, which is
/// what this code means; 1 would claim a rule was broken.
pub const RUN_FAILED: i32 = 2;
/// The run was interrupted by SIGINT or SIGTERM (Ctrl-C, a CI job cancelled): the target was
/// stopped and partial reports marked `interrupted` were written. 130 is the shell's code for
/// a command ended by SIGINT (128 + 2), which CI runners show as cancelled, not as failed.
pub const INTERRUPTED: i32 = 130;

use crate::report::Verdict;
use crate::Error;

/// The exit code of a command that ended with `ended`: a verdict (a run's, a judged journal's,
/// an accuracy tally's) or the error that stopped it. The one place codes are chosen.
pub fn code(ended: &Result<Verdict, Error>) -> i32 {
    match ended {
        Ok(Verdict::Passed) => PASSED,
        Ok(Verdict::Failed) => CHECKS_FAILED,
        Ok(Verdict::Error | Verdict::Incomplete) => RUN_FAILED,
        Ok(Verdict::Interrupted) | Err(Error::Interrupted(_)) => INTERRUPTED,
        Err(Error::Input(_) | Error::Usage(_) | Error::Run(_) | Error::Bug(_)) => RUN_FAILED,
    }
}
