//! Running one scenario: its journal marks, its steps, what happens when one fails; and the
//! scenarios that do not apply to a shop.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::journal::{Journal, ScenarioEnd, ScenarioStart};
use crate::report::{EventSink, RunEvent};
use crate::sandbox::Sandbox;
use crate::suite::{Scenario, Step, Suite, Target};

use super::*;

/// Why a scenario stopped early.
pub type StepResult = Result<(), String>;

/// Drives one scenario to its end (or to its first failed step) and tags the journal.
#[allow(clippy::too_many_arguments)]
pub async fn run_scenario(
    index: usize,
    scenario: &Scenario,
    suite: &Suite,
    target: Arc<Target>,
    target_url: &str,
    sandbox: &Sandbox,
    actors: &dyn Actors,
    recorder: &Recorder,
    events: &dyn EventSink,
    waited: &Waited,
) -> Option<String> {
    let journal = recorder.journal();
    let core = &sandbox.core;
    core.faults.clear();
    core.forget_learned();
    core.set_settings(crate::sandbox::ScenarioSettings {
        token_lifetime_s: suite.settings.token_lifetime_s,
        time_scale: suite.settings.time_scale,
    });
    let mut error = sandbox
        .profile
        .begin_scenario(&suite.settings.sandbox)
        .err()
        .map(|e| format!("the sandbox refused the suite's settings: {e}"));
    let started = journal.now_ms();
    let token_lifetime = first_token_lifetime(scenario).unwrap_or(suite.settings.token_lifetime_s);
    journal.start_scenario(ScenarioStart {
        lane: 0,
        scenario: scenario.id.clone(),
        title: scenario.title.clone(),
        at_ms: started,
        token_lifetime_s: Some(token_lifetime),
    });
    events.event(&RunEvent::ScenarioStarted {
        index,
        id: scenario.id.clone(),
        title: scenario.title.clone(),
    });

    let journeys = Journeys {
        scenario,
        suite,
        target,
        target_url,
        sandbox,
        actors,
        recorder,
        events,
        waited,
    };
    if error.is_none() {
        error = match scenario.repeat {
            None => {
                let mut ctx = journeys.context(None);
                journeys.drive(&mut ctx, "", true).await
            }
            Some(_) => journeys.repeated().await,
        };
    }
    settle(journal).await;
    let ended = journal.now_ms();
    journal.end_scenario(ScenarioEnd {
        scenario: scenario.id.clone(),
        at_ms: ended,
        error: error.clone(),
    });
    events.event(&RunEvent::ScenarioFinished {
        id: scenario.id.clone(),
        error: error.clone(),
        duration_ms: ended - started,
    });
    error
}

/// What every journey of a scenario is driven with (one, or each repetition of a load
/// scenario).
struct Journeys<'a> {
    scenario: &'a Scenario,
    suite: &'a Suite,
    target: Arc<Target>,
    target_url: &'a str,
    sandbox: &'a Sandbox,
    actors: &'a dyn Actors,
    recorder: &'a Recorder,
    events: &'a dyn EventSink,
    /// The lane's sleeps, as they are waited.
    waited: &'a Waited,
}

impl Journeys<'_> {
    /// A fresh context: the scenario's variables and a new `order_id` (in a load scenario,
    /// numbered by its repetition and made that repetition's first id).
    fn context(&self, repetition: Option<(usize, &Arc<Repetitions>)>) -> StepContext {
        let (scenario, suite) = (self.scenario, self.suite);
        let mut vars = scenario.vars.clone();
        let order_id = match repetition {
            Some((n, _)) => format!("{}-r{}-{}", scenario.id, n + 1, short_id()),
            None => format!("{}-{}", scenario.id, short_id()),
        };
        // A load scenario's repetitions sleep side by side, a round of them at a time: each
        // counts its share of the rounds.
        let wait_share = match repetition {
            Some(_) => scenario.rounds() as f64 / scenario.repetitions() as f64,
            None => 1.0,
        };
        let repetition = repetition.map(|(n, all)| all.begin(n, &order_id));
        vars.insert("order_id".into(), Value::String(order_id));
        vars.insert("scenario".into(), Value::String(scenario.id.clone()));
        StepContext {
            scenario: scenario.id.clone(),
            vars,
            http: self.recorder.clone(),
            sandbox_url: self.sandbox.base_url(),
            target_url: self.target_url.to_owned(),
            last_trigger: None,
            request_timeout: crate::suite::bounds::duration_s(suite.settings.request_timeout_s),
            wait_timeout: crate::suite::bounds::duration_s(suite.settings.wait_timeout_s),
            time_scale: suite.settings.time_scale,
            target: self.target.clone(),
            core: self.sandbox.core.clone(),
            pending: Vec::new(),
            repetition,
            waited: self.waited.clone(),
            wait_share,
        }
    }

    /// Drives the steps to the end (or to the first that fails); why it broke off. `steps`:
    /// whether every finished step is an event (a load scenario reports its first
    /// repetition's, and the steps that fail).
    async fn drive(&self, ctx: &mut StepContext, prefix: &str, steps: bool) -> Option<String> {
        let scenario = self.scenario;
        let mut error = None;
        for (i, step) in scenario.steps.iter().enumerate() {
            let label = step_label(step);
            let result = run_step(step, ctx, self.sandbox, self.actors).await;
            if steps || result.is_err() {
                self.events.event(&RunEvent::StepFinished {
                    scenario: scenario.id.clone(),
                    step: format!("{prefix}{label}"),
                    ok: result.is_ok(),
                });
            }
            if let Err(e) = result {
                error = Some(format!("{prefix}step {} ({label}): {e}", i + 1));
                // The journey broke off, but what the shop made of it still counts: ask it
                // about the order if the scenario meant to.
                if let Some(Step::ProbeOrder(p)) = scenario.steps[i + 1..]
                    .iter()
                    .rev()
                    .find(|s| matches!(s, Step::ProbeOrder(_)))
                {
                    let _ = probe_order(ctx, p).await;
                }
                break;
            }
        }
        // A trigger still working answers now (or its request times out): its exchange
        // belongs to this scenario.
        if let Err(e) = ctx.settle_triggers(true).await {
            error.get_or_insert(e);
        }
        error
    }

    /// A load scenario: every repetition, `concurrency` at a time, each with its own context,
    /// while the scenario's traffic is routed to the repetition it is about. Why the scenario
    /// broke off: the first repetition (by number) that did, and how many others did.
    async fn repeated(&self) -> Option<String> {
        use futures_util::StreamExt;
        let count = self.scenario.repetitions();
        let all = Repetitions::new(self.sandbox.core.operations(), count);
        let journal = self.recorder.journal();
        let from = journal.last_seq();
        let journeys = futures_util::stream::iter(0..count)
            .map(|n| {
                let mut ctx = self.context(Some((n, &all)));
                async move {
                    let prefix = format!("repetition {} of {count}: ", n + 1);
                    let error = self.drive(&mut ctx, &prefix, n == 0).await;
                    if let Some(r) = &ctx.repetition {
                        r.done();
                    }
                    error
                }
            })
            .buffer_unordered(self.scenario.concurrent())
            .filter_map(|error| async move { error })
            .collect::<Vec<String>>();
        let mut broke_off = tokio::select! {
            errors = journeys => errors,
            never = all.follow(journal, from) => match never {},
        };
        broke_off.sort_by_key(|e| repetition_number(e));
        let first = broke_off.first()?.clone();
        Some(match broke_off.len() {
            1 => first,
            n => format!("{first}; {} other repetition(s) broke off too", n - 1),
        })
    }
}

/// The repetition an error of a load scenario names (`repetition 7 of 50: ...`).
fn repetition_number(error: &str) -> usize {
    error
        .strip_prefix("repetition ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Why a scenario does not apply to this shop: it fires a trigger the target marks
/// `not_offered` (a shop with automatic capture has no capture endpoint). Such a scenario is not
/// run, and its checks are skipped with the reason instead of failing for want of traffic.
pub fn not_applicable(scenario: &Scenario, target: &Target) -> Option<String> {
    scenario.steps.iter().find_map(|s| match s {
        Step::Trigger(t) => target
            .triggers
            .get(&t.name)
            .and_then(|call| call.not_offered.as_ref())
            .map(|reason| {
                format!(
                    "not applicable: the shop does not offer `{}` ({reason})",
                    t.name
                )
            }),
        _ => None,
    })
}

/// Marks as skipped (with the reason) every verdict about a scenario that was not applicable,
/// and every whole-run verdict of a check scoped only to such scenarios.
pub fn skip_not_applicable(
    checks: &mut [crate::report::CheckResult],
    suite: &Suite,
    scenarios: &[crate::report::ScenarioResult],
) {
    let reasons: std::collections::BTreeMap<&str, &str> = scenarios
        .iter()
        .filter_map(|s| Some((s.id.as_str(), s.not_applicable.as_deref()?)))
        .collect();
    if reasons.is_empty() {
        return;
    }
    for c in checks.iter_mut() {
        let reason = match &c.scenario {
            Some(s) => reasons.get(s.as_str()).map(|r| r.to_string()),
            None => suite
                .checks
                .iter()
                .find(|spec| spec.id == c.id)
                .and_then(|spec| spec.scenarios.as_ref())
                .filter(|only| {
                    !only.is_empty() && only.iter().all(|s| reasons.contains_key(s.as_str()))
                })
                .map(|only| {
                    only.iter()
                        .map(|s| format!("{s}: {}", reasons[s.as_str()]))
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
        };
        if let Some(reason) = reason {
            c.outcome = crate::report::Outcome::Skipped;
            c.message = reason;
            c.evidence.clear();
        }
    }
}

/// Journals a scenario that is not run (so the journal and timelines show it) and returns its
/// place in the report.
pub fn record_not_applicable(
    scenario: &Scenario,
    reason: &str,
    journal: &Journal,
) -> crate::report::ScenarioResult {
    let at_ms = journal.now_ms();
    journal.start_scenario(ScenarioStart {
        lane: 0,
        scenario: scenario.id.clone(),
        title: scenario.title.clone(),
        at_ms,
        token_lifetime_s: None,
    });
    journal.end_scenario(ScenarioEnd {
        scenario: scenario.id.clone(),
        at_ms,
        error: None,
    });
    crate::report::ScenarioResult {
        id: scenario.id.clone(),
        title: scenario.title.clone(),
        started_ms: at_ms,
        ended_ms: at_ms,
        error: None,
        not_applicable: Some(reason.to_owned()),
        exchanges: Vec::new(),
        exchanges_omitted: 0,
    }
}

pub(super) fn first_token_lifetime(scenario: &Scenario) -> Option<f64> {
    scenario.steps.iter().find_map(|s| match s {
        Step::Sandbox(m) => m.get("token_lifetime_s").and_then(Value::as_f64),
        _ => None,
    })
}

/// Lets calls the integration makes in the background (a status check after it answered the
/// callback) land in the scenario that caused them: waits until the sandbox has been quiet for
/// a moment, at most one second.
pub(super) async fn settle(journal: &Journal) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let last = journal.last_seq();
        let quiet = tokio::time::Instant::now() + Duration::from_millis(150);
        let next = journal.wait_for(last, quiet.min(deadline), |_| true).await;
        if next.is_none() || tokio::time::Instant::now() >= deadline {
            return;
        }
    }
}

/// After the last scenario, before the target is stopped: an integration still finishing an
/// earlier scenario's work (a retried event, a status check in a background thread) gets the
/// moment it would have had if another scenario followed. Its traffic is tagged with the
/// scenario whose payment it is about (see `journal::attribution`). Waits until the sandbox has
/// been quiet for [`LATE_QUIET`], at most [`LATE_AT_MOST`].
pub async fn settle_late_traffic(journal: &Journal) {
    let deadline = tokio::time::Instant::now() + LATE_AT_MOST;
    loop {
        // This lane's traffic only: other lanes of a `--jobs N` run are busy with their own.
        let last = journal.lane_last_seq();
        tokio::time::sleep(LATE_QUIET).await;
        if journal.lane_last_seq() == last || tokio::time::Instant::now() >= deadline {
            return;
        }
    }
}

/// How long the sandbox must be quiet after the last scenario before the run ends.
pub const LATE_QUIET: Duration = Duration::from_millis(400);
/// The longest the run waits for late traffic after its last scenario.
pub const LATE_AT_MOST: Duration = Duration::from_secs(3);

pub(super) fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

pub fn step_label(step: &Step) -> String {
    match step {
        Step::Trigger(t) => format!("trigger {}", t.name),
        Step::Shopper(_) => "shopper".into(),
        Step::Provider(_) => "provider".into(),
        Step::Sandbox(_) => "sandbox".into(),
        Step::WaitFor(w) => format!("wait for {}", w.operation),
        Step::ProbeOrder(_) => "probe order".into(),
        Step::Sleep(s) => format!("sleep {} s", s.seconds),
    }
}
