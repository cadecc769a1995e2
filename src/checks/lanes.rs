//! Judging a journal of several lanes (`--jobs N`): each lane was its own sandbox and its own
//! copy of the integration, so each is judged as a run of its own and the verdicts are put
//! together. A rule about the whole run (token reuse, retries of identical requests) must not
//! read one lane's token fetch as a renewal of another lane's token.

use std::collections::HashMap;

use super::{Finding, Rule};
use crate::journal::Entry;
use crate::report::Outcome;

/// Every lane's rules, built when the lane first appears.
pub(super) struct Lanes<F> {
    build: F,
    lanes: Vec<(u32, Vec<Box<dyn Rule>>)>,
    scenario_lane: HashMap<String, u32>,
}

impl<F, E> Lanes<F>
where
    F: FnMut() -> Result<Vec<Box<dyn Rule>>, E>,
{
    pub(super) fn new(mut build: F) -> Result<Self, E> {
        let first = build()?;
        Ok(Lanes {
            build,
            lanes: vec![(0, first)],
            scenario_lane: HashMap::new(),
        })
    }

    pub(super) fn observe(&mut self, entry: &Entry) -> Result<(), E> {
        let lane = match entry {
            Entry::ScenarioStart(s) => {
                self.scenario_lane.insert(s.scenario.clone(), s.lane);
                s.lane
            }
            Entry::ScenarioEnd(e) => self.scenario_lane.get(&e.scenario).copied().unwrap_or(0),
            Entry::Exchange(ex) => ex.facts.lane,
        };
        let i = match self.lanes.iter().position(|(l, _)| *l == lane) {
            Some(i) => i,
            None => {
                self.lanes.push((lane, (self.build)()?));
                self.lanes.len() - 1
            }
        };
        for r in 0..self.lanes[i].1.len() {
            // A rule judged over the whole journal sees every entry in the first lane's set.
            let lane = if self.lanes[0].1[r].lanes_apart() {
                i
            } else {
                0
            };
            self.lanes[lane].1[r].observe(entry);
        }
        Ok(())
    }

    /// Each check's findings, lanes put together (check by check, in the suite's order).
    pub(super) fn finish(self, checks: usize) -> Vec<Vec<Finding>> {
        let apart: Vec<bool> = self.lanes[0].1.iter().map(|r| r.lanes_apart()).collect();
        let mut by_lane: Vec<Vec<Vec<Finding>>> = self
            .lanes
            .into_iter()
            .enumerate()
            .map(|(k, (_, rules))| {
                rules
                    .into_iter()
                    .enumerate()
                    // Only the first lane's set of a rule judged over the whole journal saw
                    // anything.
                    .map(|(r, rule)| {
                        if k == 0 || apart[r] {
                            rule.finish()
                        } else {
                            Vec::new()
                        }
                    })
                    .collect()
            })
            .collect();
        (0..checks)
            .map(|i| {
                let findings: Vec<Vec<Finding>> = by_lane
                    .iter_mut()
                    .map(|l| std::mem::take(&mut l[i]))
                    .collect();
                if apart[i] {
                    combine(findings)
                } else {
                    findings.into_iter().next().unwrap_or_default()
                }
            })
            .collect()
    }
}

/// One check's findings from every lane: per-scenario findings as they are (each scenario ran
/// in one lane), and one verdict about the whole run from the lanes' verdicts, the worst
/// winning and each lane that gave it named.
fn combine(by_lane: Vec<Vec<Finding>>) -> Vec<Finding> {
    if by_lane.len() == 1 {
        return by_lane.into_iter().next().unwrap_or_default();
    }
    let mut scenarios = Vec::new();
    let mut whole: Vec<(usize, Finding)> = Vec::new();
    for (k, findings) in by_lane.into_iter().enumerate() {
        for f in findings {
            if f.scenario.is_some() {
                scenarios.push(f);
            } else {
                whole.push((k, f));
            }
        }
    }
    let rank = |o: Outcome| match o {
        Outcome::Failed => 3,
        Outcome::Error => 2,
        Outcome::Passed => 1,
        Outcome::Skipped => 0,
    };
    let Some(worst) = whole.iter().map(|(_, f)| rank(f.outcome)).max() else {
        return scenarios;
    };
    let chosen: Vec<&(usize, Finding)> = whole
        .iter()
        .filter(|(_, f)| rank(f.outcome) == worst)
        .collect();
    let message = match chosen.as_slice() {
        [(_, only)] => only.message.clone(),
        many => many
            .iter()
            .map(|(k, f)| format!("lane {}: {}", k + 1, f.message))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut evidence: Vec<u64> = chosen
        .iter()
        .flat_map(|(_, f)| f.evidence.clone())
        .collect();
    evidence.sort_unstable();
    evidence.dedup();
    let mut out = vec![Finding {
        scenario: None,
        outcome: chosen[0].1.outcome,
        message,
        evidence,
    }];
    out.extend(scenarios);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(outcome: Outcome, message: &str, evidence: Vec<u64>) -> Finding {
        Finding {
            scenario: None,
            outcome,
            message: message.into(),
            evidence,
        }
    }

    #[test]
    fn the_worst_lane_gives_the_whole_runs_verdict_and_scenarios_stay_theirs() {
        let mut in_b = whole(Outcome::Passed, "b ok", vec![4]);
        in_b.scenario = Some("b".into());
        let combined = combine(vec![
            vec![whole(Outcome::Passed, "fine", vec![1])],
            vec![
                whole(Outcome::Failed, "renewed too early", vec![7, 3]),
                in_b,
            ],
            vec![whole(Outcome::Skipped, "nothing", vec![])],
        ]);
        assert_eq!(combined.len(), 2);
        assert_eq!(combined[0].outcome, Outcome::Failed);
        assert_eq!(combined[0].message, "renewed too early");
        assert_eq!(combined[0].evidence, vec![3, 7]);
        assert_eq!(combined[1].scenario.as_deref(), Some("b"));
        // Two lanes passing are both named; one lane is as it was.
        let two = combine(vec![
            vec![whole(Outcome::Passed, "x", vec![1])],
            vec![whole(Outcome::Passed, "y", vec![2])],
        ]);
        assert_eq!(two[0].message, "lane 1: x\nlane 2: y");
        let one = combine(vec![vec![whole(Outcome::Skipped, "z", vec![])]]);
        assert_eq!(one[0].message, "z");
    }
}
