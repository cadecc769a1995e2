//! CI sharding: `golive run --partition K/N` runs a stable slice of a suite's scenarios, and
//! `golive junit-merge` puts the slices' verdicts back together.
//!
//! Scenario number i (from 0, in suite order) belongs to partition `i mod N + 1`: every
//! scenario runs in exactly one partition, the same one on every runner, and the slices stay
//! even however the scenarios are named. A check limited to scenarios that are all in other
//! partitions is reported as skipped *not in this partition*, never as passed; the merge lets a
//! real verdict from another partition replace that skip.

use std::fmt;
use std::str::FromStr;

use crate::report::{CheckResult, Outcome};
use crate::suite::Suite;

/// The start of the skip message of a check whose scenarios all run in other partitions; the
/// JUnit merge recognises such skips by it.
pub const NOT_IN_PARTITION: &str = "not in this partition";

/// One slice of N, K from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--partition must be K/N with 1 ≤ K ≤ N (e.g. 2/4), not `{s}`");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Partition {
    /// Whether the scenario at `position` (from 0, in suite order) runs in this partition.
    pub fn keeps(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// The suite with only this partition's scenarios.
    pub fn apply(&self, suite: &mut Suite) {
        let mut position = 0;
        suite.scenarios.retain(|_| {
            let keep = self.keeps(position);
            position += 1;
            keep
        });
    }
}

/// Marks every check whose `scenarios:` are all absent from the suite that ran as not in this
/// partition. A suite that was not partitioned names only its own scenarios (validation sees
/// to that), so there this changes nothing.
pub fn mark_elsewhere(suite: &Suite, checks: Vec<CheckResult>) -> Vec<CheckResult> {
    let ran: std::collections::BTreeSet<String> =
        suite.scenarios.iter().map(|s| s.id.clone()).collect();
    crate::standalone::mark_absent_scenarios(suite, checks, &ran, |scenarios| {
        format!("{NOT_IN_PARTITION}: its scenarios ({scenarios}) run in another partition")
    })
}

/// Whether a verdict is a not-in-this-partition skip.
pub fn is_elsewhere(check: &CheckResult) -> bool {
    check.outcome == Outcome::Skipped && check.message.starts_with(NOT_IN_PARTITION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_parse_and_refuse_nonsense() {
        assert_eq!(
            "2/4".parse::<Partition>(),
            Ok(Partition { index: 2, count: 4 })
        );
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "1/-2"] {
            let err = bad.parse::<Partition>().unwrap_err();
            assert!(err.contains("K/N") && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn every_scenario_is_in_exactly_one_partition() {
        for count in 1..6 {
            for position in 0..17 {
                let holders = (1..=count)
                    .filter(|&index| Partition { index, count }.keeps(position))
                    .count();
                assert_eq!(holders, 1, "scenario {position} of {count} partitions");
            }
        }
    }
}
