//! `--jobs N`: scenarios in parallel, in N lanes.
//!
//! A lane is one sandbox and one copy of the integration (its own port, its own sandbox URL and
//! credentials, its own `target-K.log`), running its scenarios one after another exactly as a
//! sequential run does. Lanes share the journal (one file, one numbering), so the checks judge
//! one journal, tag by tag, as they would a sequential run's. Scenarios go to lanes in
//! contiguous slices of the suite's order; a scenario that uses what an earlier one left in
//! the sandbox (SmartPay's success forged with another order's captured payment) runs in the
//! first lane, after the suite's first scenarios, as it would in order.

use super::*;
use crate::providers::{Provider, StepKind};
use crate::suite::Step;

/// The positions (in suite order) each lane runs, in order; never an empty lane.
pub(crate) fn plan(suite: &Suite, jobs: usize, provider: &dyn Provider) -> Vec<Vec<usize>> {
    let uses_earlier = |position: usize| {
        suite.scenarios[position].steps.iter().any(|step| {
            let (kind, step) = match step {
                Step::Shopper(s) => (StepKind::Shopper, s),
                Step::Provider(s) => (StepKind::Provider, s),
                _ => return false,
            };
            provider.step_uses_earlier_scenarios(kind, &step.params)
        })
    };
    let (dependent, free): (Vec<usize>, Vec<usize>) =
        (0..suite.scenarios.len()).partition(|p| uses_earlier(*p));
    let lanes = jobs.clamp(1, free.len().max(1));
    let mut plan: Vec<Vec<usize>> = (0..lanes)
        .map(|k| free[k * free.len() / lanes..(k + 1) * free.len() / lanes].to_vec())
        .collect();
    plan[0].extend(dependent);
    plan[0].sort_unstable();
    plan.retain(|lane| !lane.is_empty());
    plan
}

/// Why `--jobs N` cannot run this target: a target golive attaches to (no `start`) is one
/// process with one sandbox URL, which N sandboxes cannot share.
pub(crate) fn refuse(target: &TargetSpec, jobs: usize) -> Option<String> {
    match target {
        TargetSpec::File(t) if jobs > 1 && t.value.start.is_none() => Some(format!(
            "--jobs {jobs} starts one copy of your integration per lane, each with its own sandbox; {} has no `start` command (golive attaches to a shop already running), so run it with --jobs 1",
            t.file.display()
        )),
        _ => None,
    }
}

/// The suite a lane runs: its scenarios only (every check stays, judged over the shared
/// journal).
pub(crate) fn lane_suite(suite: &Suite, positions: &[usize]) -> Suite {
    let mut lane = suite.clone();
    lane.scenarios = positions
        .iter()
        .map(|p| suite.scenarios[*p].clone())
        .collect();
    lane
}

/// The report of every lane, one report: scenarios in the suite's order, the first lane's
/// target URL, the first error, interruption and `--bail` reason.
pub(crate) fn merge(
    report: &mut RunReport,
    suite: &Suite,
    lanes: Vec<(RunReport, Result<(), String>)>,
) -> Result<(), String> {
    let mut result = Ok(());
    let mut scenarios = Vec::new();
    for (k, (lane, lane_result)) in lanes.into_iter().enumerate() {
        if k == 0 {
            report.target.base_url = lane.target.base_url.clone();
        }
        if report.interrupted.is_none() {
            report.interrupted = lane.interrupted;
        }
        if report.bailed.is_none() {
            report.bailed = lane.bailed;
        }
        if let (Ok(()), Err(e)) = (&result, lane_result) {
            result = Err(if k == 0 {
                e
            } else {
                format!("lane {}: {e}", k + 1)
            });
        }
        scenarios.extend(lane.scenarios);
    }
    let position = |id: &str| suite.scenarios.iter().position(|s| s.id == id);
    scenarios.sort_by_key(|s| position(&s.id));
    report.scenarios = scenarios;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_contiguous_slices_and_a_dependent_scenario_follows_the_first() {
        let provider = crate::providers::provider("smartpay").unwrap();
        let suite = load_bundled_suite("smartpay").unwrap().value;
        let ids = |lane: &[usize]| -> Vec<&str> {
            lane.iter()
                .map(|p| suite.scenarios[*p].id.as_str())
                .collect()
        };
        let plan = plan(&suite, 4, provider);
        assert_eq!(plan.len(), 4);
        // The success forged with another order's captured payment runs after `captured`,
        // in the same sandbox.
        let first = ids(&plan[0]);
        assert_eq!(first.first(), Some(&"token_renewal"));
        assert!(first.contains(&"captured"), "{first:?}");
        assert_eq!(first.last(), Some(&"forged_other"));
        // Every scenario once; each lane in the suite's order.
        let mut every: Vec<usize> = plan.concat();
        every.sort_unstable();
        assert_eq!(every, (0..suite.scenarios.len()).collect::<Vec<_>>());
        assert!(plan.iter().all(|l| l.windows(2).all(|w| w[0] < w[1])));
        // More lanes than scenarios leave none empty; one lane is the sequential order.
        assert_eq!(
            super::plan(&suite, 64, provider).len(),
            suite.scenarios.len() - 1
        );
        let one = super::plan(&suite, 1, provider);
        assert_eq!(one, vec![(0..suite.scenarios.len()).collect::<Vec<_>>()]);
    }
}
