//! Exit codes, named (as nextest does): CI reads them.

/// Every check passed (some may have been skipped).
pub const PASSED: i32 = 0;
/// At least one check failed.
pub const CHECKS_FAILED: i32 = 1;
/// The run could not be made: a bad suite or target, a target that did not start.
pub const RUN_FAILED: i32 = 2;
