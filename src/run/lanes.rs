//! `--jobs N`: scenarios in parallel, in N lanes.
//!
//! A lane is one sandbox and one copy of the integration (its own port, its own sandbox URL and
//! credentials, its own `target-K.log`), running its scenarios one after another exactly as a
//! sequential run does. Lanes share the journal (one file, one numbering), so the checks judge
//! one journal, tag by tag, as they would a sequential run's. Scenarios go to lanes balanced by
//! how long each is expected to take ([`expected_s`]: its scripted waits at the run's time
//! scale, and a moment per step), the longest first to the lane with the least so far, each
//! lane then running its own in the suite's order. The suite's first scenario runs in the
//! first lane, and so does every scenario that uses what an earlier one left in the sandbox
//! (SmartPay's success forged with another order's captured payment), after it, as it would in
//! order.

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
    let scale = suite.settings.time_scale;
    let expected = |p: usize| expected_s(&suite.scenarios[p], scale);
    let mut plan: Vec<Vec<usize>> = vec![Vec::new(); lanes];
    let mut load = vec![0.0; lanes];
    // The first lane: the suite's first scenario, and after it those that use its state.
    for p in free.iter().take(1).chain(dependent.iter()) {
        plan[0].push(*p);
        load[0] += expected(*p);
    }
    let mut rest: Vec<usize> = free.iter().skip(1).copied().collect();
    // The longest first (ties in the suite's order), each to the lane with the least so far.
    rest.sort_by(|a, b| expected(*b).total_cmp(&expected(*a)).then(a.cmp(b)));
    for p in rest {
        let k = (0..lanes)
            .min_by(|x, y| load[*x].total_cmp(&load[*y]).then(x.cmp(y)))
            .unwrap_or(0);
        plan[k].push(p);
        load[k] += expected(p);
    }
    for lane in plan.iter_mut() {
        lane.sort_unstable();
    }
    plan.retain(|lane| !lane.is_empty());
    plan
}

/// How long a scenario is expected to take, in seconds, from the suite alone: its scripted
/// waits (`sleep`, in provider time when `scaled`) and a tenth of a second per step for the
/// exchanges, times the rounds a load scenario's repetitions take. A rough figure; it only
/// has to tell a scenario that sleeps through a provider's re-check window from one that
/// does not.
pub(crate) fn expected_s(scenario: &crate::suite::Scenario, time_scale: f64) -> f64 {
    const PER_STEP_S: f64 = 0.1;
    let one = scripted_wait_s(scenario, time_scale) + PER_STEP_S * scenario.steps.len() as f64;
    one * scenario.rounds() as f64
}

/// The time a scenario's `sleep` steps wait, in seconds at the run's time scale (once: a load
/// scenario's repetitions wait at the same time, `concurrency` at a time).
pub(crate) fn scripted_wait_s(scenario: &crate::suite::Scenario, time_scale: f64) -> f64 {
    scenario
        .steps
        .iter()
        .map(|step| match step {
            Step::Sleep(s) if s.scaled => s.seconds * time_scale,
            Step::Sleep(s) => s.seconds,
            _ => 0.0,
        })
        .sum()
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
    // Lanes wait side by side: the run waited as long as its longest-waiting lane.
    report.scripted_wait_ms = lanes
        .iter()
        .filter_map(|(lane, _)| lane.scripted_wait_ms)
        .reduce(f64::max);
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
    fn the_run_waited_as_long_as_its_longest_waiting_lane() {
        let suite = load_bundled_suite("smartpay").unwrap().value;
        let empty = || {
            RunReport::begin(
                crate::report::SuiteInfo {
                    id: "s".into(),
                    title: "s".into(),
                    provider: "smartpay".into(),
                    source: "s.yaml".into(),
                },
                crate::report::TargetInfo {
                    name: "t".into(),
                    source: "t.yaml".into(),
                    base_url: String::new(),
                },
            )
        };
        let lane = |waited: Option<f64>| {
            let mut report = empty();
            report.scripted_wait_ms = waited;
            (report, Ok(()))
        };
        let mut report = empty();
        merge(
            &mut report,
            &suite,
            vec![lane(Some(1200.0)), lane(Some(3400.0)), lane(None)],
        )
        .unwrap();
        assert_eq!(report.scripted_wait_ms, Some(3400.0));
        // No lane drove a scenario: no figure, not zero.
        let mut report = empty();
        merge(&mut report, &suite, vec![lane(None)]).unwrap();
        assert_eq!(report.scripted_wait_ms, None);
    }

    #[test]
    fn lanes_are_balanced_and_a_dependent_scenario_follows_the_first() {
        let provider = crate::providers::provider("smartpay").unwrap();
        let mut suite = load_bundled_suite("smartpay").unwrap().value;
        suite.settings.time_scale = 0.1;
        let ids = |lane: &[usize]| -> Vec<&str> {
            lane.iter()
                .map(|p| suite.scenarios[*p].id.as_str())
                .collect()
        };
        let plan = plan(&suite, 4, provider);
        assert_eq!(plan.len(), 4);
        // The success forged with another order's captured payment runs after the suite's
        // first scenario (which captures two), in the same sandbox.
        let first = ids(&plan[0]);
        assert_eq!(first.first(), Some(&"token_renewal"));
        assert_eq!(first.last(), Some(&"forged_other"));
        // The two long re-check scenarios run in lanes of their own.
        let lane_of = |id: &str| plan.iter().position(|l| ids(l).contains(&id)).unwrap();
        assert_ne!(lane_of("pending_resolves"), lane_of("pending_never"));
        // No lane is expected to take much longer than the longest scenario needs.
        let expected = |lane: &[usize]| -> f64 {
            lane.iter()
                .map(|p| expected_s(&suite.scenarios[*p], 0.1))
                .sum()
        };
        let longest = suite
            .scenarios
            .iter()
            .map(|s| expected_s(s, 0.1))
            .fold(0.0, f64::max);
        assert!(longest > 20.0, "{longest}");
        for lane in &plan {
            assert!(expected(lane) <= longest + 1.0, "{:?}", ids(lane));
        }
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

    #[test]
    fn a_load_scenario_is_expected_to_take_its_rounds() {
        let mut suite = load_bundled_suite("kontocloud").unwrap().value;
        let s = &mut suite.scenarios[1];
        let once = expected_s(s, 1.0);
        s.repeat = Some(100);
        s.concurrency = Some(25);
        assert!((expected_s(s, 1.0) - 4.0 * once).abs() < 1e-9);
    }
}
