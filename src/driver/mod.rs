//! The driver: runs each scenario's steps against the target and the sandbox.

mod actors;
pub mod browser;
pub mod capture;
pub mod http;
pub mod process;
pub mod template;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

pub use actors::{step_as, Act, Actors};
pub use http::{HttpOutcome, Outgoing, Recorder};

use crate::journal::{Actor, Direction, Facts, Journal, ScenarioEnd, ScenarioStart};
use crate::report::{EventSink, RunEvent};
use crate::sandbox::{Sandbox, SandboxCore};
use crate::suite::{HttpCall, OrderProbe, Scenario, Step, Suite, Target};

/// What a step can reach: the scenario's variables, the target, the sandbox, the journal.
/// Provider profiles get it in their `shopper:` and `provider:` steps.
pub struct StepContext {
    pub scenario: String,
    /// The scenario's variables: `order_id`, the suite's `vars`, what triggers captured.
    pub vars: Map<String, Value>,
    pub http: Recorder,
    pub sandbox_url: String,
    pub target_url: String,
    /// The target's last answer to a trigger, for the browser to follow.
    pub last_trigger: Option<HttpOutcome>,
    /// How long one request to the target may take.
    pub request_timeout: Duration,
    /// How long a wait for the integration may take.
    pub wait_timeout: Duration,
    pub time_scale: f64,
    target: Arc<Target>,
    /// The sandbox's shared state: the ids it learned from the integration's traffic.
    core: Arc<SandboxCore>,
    /// Triggers still working after the wait timeout; their answers are collected later.
    pending: Vec<PendingTrigger>,
}

/// A trigger whose answer had not come within the wait timeout: the shop may answer only once
/// the payment is done, which needs the steps that follow (the customer approving in the app).
struct PendingTrigger {
    name: String,
    call: HttpCall,
    expect_success: bool,
    answer: tokio::task::JoinHandle<Result<HttpOutcome, String>>,
}

impl StepContext {
    pub fn journal(&self) -> &Journal {
        self.http.journal()
    }

    /// The variables as a template context, with the order id and run facts.
    pub fn template_vars(&self) -> Value {
        let mut v = self.vars.clone();
        v.insert("sandbox".into(), json!({ "url": self.sandbox_url }));
        // Lets a target hand the run's time scale to a shop that paces itself in provider
        // time (the reference shops' re-check pacing), as `{{ time_scale }}`.
        v.entry("time_scale").or_insert(json!(self.time_scale));
        // The integration's own ids, learned from its traffic or captured from its answers:
        // `{{ order.reference }}` (golive's order_id until the shop names its own) and
        // `{{ payment.id }}` (only once known: a template using it earlier is an error).
        let (order, payment) = self
            .core
            .learned()
            .template_vars(self.order_id().as_deref());
        v.entry("order").or_insert(order);
        v.entry("payment").or_insert(payment);
        Value::Object(v)
    }

    fn order_id(&self) -> Option<String> {
        self.var_str("order_id")
    }

    /// The merchant's reference for the scenario's order: the one the integration used with
    /// the provider or that a trigger's answer named, else golive's `order_id`.
    pub fn order_reference(&self) -> Option<String> {
        self.core
            .learned()
            .order_reference
            .or_else(|| self.order_id())
    }

    /// The provider's payment id the integration's traffic named last, if any.
    pub fn payment_id(&self) -> Option<String> {
        self.core.learned().payment_id
    }

    pub fn var_str(&self, name: &str) -> Option<String> {
        match self.vars.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Fires one of the target's named triggers.
    pub async fn fire_trigger(
        &mut self,
        name: &str,
        with: &Map<String, Value>,
    ) -> Result<HttpOutcome, String> {
        self.fire_trigger_with(name, with, Facts::default()).await
    }

    /// Fires a trigger on behalf of a profile that knows what it means in payment terms (the
    /// page telling the shop that the widget reported payment X as successful): the facts go
    /// into the journal with the exchange, so checks such as `status_verified` can read them.
    pub async fn fire_trigger_with(
        &mut self,
        name: &str,
        with: &Map<String, Value>,
        facts: Facts,
    ) -> Result<HttpOutcome, String> {
        let (call, out) = self.prepare_trigger(name, with, facts).await?;
        let outcome = self.http.send(out).await?;
        self.finish_trigger(name, &call, outcome)
    }

    /// The trigger's request, filled in from the scenario's variables and `with`.
    async fn prepare_trigger(
        &mut self,
        name: &str,
        with: &Map<String, Value>,
        facts: Facts,
    ) -> Result<(HttpCall, Outgoing), String> {
        let call = self
            .target
            .triggers
            .get(name)
            .cloned()
            .ok_or_else(|| format!("the target has no trigger `{name}`"))?;
        if let Some(reason) = &call.not_offered {
            return Err(format!(
                "the shop does not offer trigger `{name}` ({reason})"
            ));
        }
        for (k, v) in with {
            self.vars.insert(k.clone(), v.clone());
        }
        let out = self
            .outgoing(&call, &format!("trigger:{name}"), facts)
            .await?;
        Ok((call, out))
    }

    /// What the trigger's answer teaches: the page the browser follows, the captures.
    fn finish_trigger(
        &mut self,
        name: &str,
        call: &HttpCall,
        outcome: HttpOutcome,
    ) -> Result<HttpOutcome, String> {
        self.last_trigger = Some(outcome.clone());
        let (found, missed) = capture::apply(call, &outcome);
        for (var, v) in found {
            // The two names of the integration's own ids feed `{{ order.reference }}` and
            // `{{ payment.id }}` (and the forged callbacks that use them).
            let text = crate::checks::field::as_text(&v);
            match var.as_str() {
                "order_reference" => self.core.note(|l| l.note_order_reference(text)),
                "payment_id" => self.core.note(|l| l.note_payment_id(text)),
                _ => {}
            }
            self.vars.insert(var, v);
        }
        // An answer that failed is judged by the checks; a successful one without the value
        // the target said it holds breaks every later step that needs it, so say why here.
        if outcome.is_success() {
            if let Some((var, why)) = missed.first() {
                return Err(format!(
                    "capture `{var}` of trigger `{name}` found nothing in the answer ({}): {why}",
                    outcome.status
                ));
            }
        }
        Ok(outcome)
    }

    /// The answer to the scenario's last trigger, for a step that follows it (the browser
    /// following the shop's page): waits for triggers still working (bounded by the request
    /// timeout).
    pub async fn trigger_answer(&mut self) -> Result<Option<HttpOutcome>, String> {
        self.settle_triggers(true).await?;
        Ok(self.last_trigger.clone())
    }

    /// Collects the answers of triggers that did not answer within the wait timeout (a till
    /// that answers only once the payment is done): those that came (all of them when
    /// `wait`), with their captures and their `expect_success`.
    pub async fn settle_triggers(&mut self, wait: bool) -> Result<(), String> {
        let mut first_error = None;
        let pending = std::mem::take(&mut self.pending);
        for p in pending {
            if !wait && !p.answer.is_finished() {
                self.pending.push(p);
                continue;
            }
            let result = match p.answer.await {
                Ok(r) => r,
                Err(e) => Err(format!("the request stopped: {e}")),
            };
            let result = result
                .and_then(|outcome| self.finish_trigger(&p.name, &p.call, outcome))
                .and_then(|outcome| {
                    if p.expect_success && !outcome.is_success() {
                        Err(format!("the target answered {}", outcome.status))
                    } else {
                        Ok(())
                    }
                });
            if let Err(e) = result {
                first_error.get_or_insert(format!(
                    "trigger `{}`, answered after the steps that followed it: {e}",
                    p.name
                ));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn outgoing(
        &self,
        call: &HttpCall,
        role: &str,
        mut facts: Facts,
    ) -> Result<Outgoing, String> {
        if mentions_payment_id(call) {
            self.await_payment_id().await;
        }
        let vars = self.template_vars();
        let path = template::render(&call.path, &vars)?;
        let mut out = Outgoing::new(
            Actor::Harness,
            role,
            &call.method,
            self.target_url(&path),
            self.request_timeout,
        );
        for (k, v) in &call.headers {
            out = out.header(k, &template::render(v, &vars)?);
        }
        if let Some(body) = &call.json {
            out = out.json(&template::render_value(body, &vars)?);
        } else if let Some(form) = &call.form {
            let fields = form
                .iter()
                .map(|(k, v)| Ok((k.clone(), template::render(v, &vars)?)))
                .collect::<Result<Vec<_>, String>>()?;
            out = out.form(&fields);
        }
        if facts.order.is_none() {
            facts.order = self.order_reference();
        }
        out.facts = facts;
        Ok(out)
    }

    /// Waits (at most the wait timeout) until the integration's traffic has named the
    /// provider's payment id: a trigger that answered at once (202) may create the payment in
    /// the background, and a later call that names `{{ payment.id }}` must wait for the shop's
    /// call to the provider, not assume the trigger's answer did the work. If it never comes,
    /// the template says `payment.id` is not known.
    pub async fn await_payment_id(&self) {
        let deadline = tokio::time::Instant::now() + self.wait_timeout;
        while self.payment_id().is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A URL on the target.
    pub fn target_url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.target_url.trim_end_matches('/'), path)
        }
    }

    /// The path of one of the target's webhooks (`webhooks:` in the target file).
    pub fn webhook(&self, name: &str) -> Option<String> {
        self.target.webhooks.get(name).cloned()
    }

    /// Sends a request as the given actor. Requests to the sandbox are marked with the actor
    /// and journaled by the sandbox; requests elsewhere are journaled here.
    pub async fn send(&self, mut out: Outgoing) -> Result<HttpOutcome, String> {
        if out.url.starts_with(&self.sandbox_url) {
            out.record = false;
            let actor = match out.actor {
                Actor::Browser => "browser",
                Actor::Provider => "provider",
                _ => "harness",
            };
            out = out.header(crate::sandbox::ACTOR_HEADER, actor);
        }
        if out.facts.order.is_none() {
            out.facts.order = self.order_reference();
        }
        self.http.send(out).await
    }

    /// The browser follows one navigation (a redirect, a form).
    pub async fn navigate(
        &self,
        nav: &browser::Navigation,
        role: &str,
        facts: Facts,
    ) -> Result<HttpOutcome, String> {
        let mut out = Outgoing::new(
            Actor::Browser,
            role,
            &nav.method,
            nav.url.clone(),
            self.request_timeout,
        );
        if nav.method == "GET" && !nav.fields.is_empty() {
            let mut url =
                url::Url::parse(&nav.url).map_err(|e| format!("bad URL {}: {e}", nav.url))?;
            url.query_pairs_mut().extend_pairs(nav.fields.iter());
            out.url = url.to_string();
        } else if !nav.fields.is_empty() || nav.method == "POST" {
            out = out.form(&nav.fields);
        }
        out.facts = facts;
        self.send(out).await
    }

    /// Waits (scaled) for `seconds` of provider time.
    pub async fn sleep_scaled(&self, seconds: f64) {
        tokio::time::sleep(crate::suite::bounds::duration_s(seconds * self.time_scale)).await;
    }
}

/// Whether a request's templates use `payment.id`.
fn mentions_payment_id(call: &HttpCall) -> bool {
    let uses = |s: &str| s.contains("payment.id") || s.contains("payment[");
    uses(&call.path)
        || call.headers.values().any(|v| uses(v))
        || call.json.as_ref().is_some_and(|j| uses(&j.to_string()))
        || call
            .form
            .as_ref()
            .is_some_and(|f| f.values().any(|v| uses(v)))
}

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

    let mut vars = scenario.vars.clone();
    vars.insert(
        "order_id".into(),
        Value::String(format!("{}-{}", scenario.id, short_id())),
    );
    vars.insert("scenario".into(), Value::String(scenario.id.clone()));
    let mut ctx = StepContext {
        scenario: scenario.id.clone(),
        vars,
        http: recorder.clone(),
        sandbox_url: sandbox.base_url(),
        target_url: target_url.to_owned(),
        last_trigger: None,
        request_timeout: crate::suite::bounds::duration_s(suite.settings.request_timeout_s),
        wait_timeout: crate::suite::bounds::duration_s(suite.settings.wait_timeout_s),
        time_scale: suite.settings.time_scale,
        target,
        core: sandbox.core.clone(),
        pending: Vec::new(),
    };

    if error.is_none() {
        for (i, step) in scenario.steps.iter().enumerate() {
            let label = step_label(step);
            let result = run_step(step, &mut ctx, sandbox, actors).await;
            events.event(&RunEvent::StepFinished {
                scenario: scenario.id.clone(),
                step: label.clone(),
                ok: result.is_ok(),
            });
            if let Err(e) = result {
                error = Some(format!("step {} ({label}): {e}", i + 1));
                // The journey broke off, but what the shop made of it still counts: ask it
                // about the order if the scenario meant to.
                if let Some(Step::ProbeOrder(p)) = scenario.steps[i + 1..]
                    .iter()
                    .rev()
                    .find(|s| matches!(s, Step::ProbeOrder(_)))
                {
                    let _ = probe_order(&mut ctx, p).await;
                }
                break;
            }
        }
    }
    // A trigger still working answers now (or its request times out): its exchange belongs
    // to this scenario.
    if let Err(e) = ctx.settle_triggers(true).await {
        error.get_or_insert(e);
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

fn first_token_lifetime(scenario: &Scenario) -> Option<f64> {
    scenario.steps.iter().find_map(|s| match s {
        Step::Sandbox(m) => m.get("token_lifetime_s").and_then(Value::as_f64),
        _ => None,
    })
}

/// Lets calls the integration makes in the background (a status check after it answered the
/// callback) land in the scenario that caused them: waits until the sandbox has been quiet for
/// a moment, at most one second.
async fn settle(journal: &Journal) {
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

fn short_id() -> String {
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

/// A provider step's typed reading: every run parses them before it starts (a step found
/// unparsed here is a bug in golive, not a mistake of the suite).
fn parsed(step: &crate::suite::ProviderStep) -> Result<&crate::suite::ParsedStep, String> {
    step.parsed()
        .ok_or_else(|| "golive bug: a provider step was not parsed before the run".to_string())
}

async fn run_step(
    step: &Step,
    ctx: &mut StepContext,
    sandbox: &Sandbox,
    actors: &dyn Actors,
) -> StepResult {
    match step {
        Step::Trigger(t) => {
            ctx.settle_triggers(false).await?;
            let (call, out) = ctx
                .prepare_trigger(&t.name, &t.with, Facts::default())
                .await?;
            let http = ctx.http.clone();
            let mut answer = tokio::spawn(async move { http.send(out).await });
            // Most shops answer a trigger at once (perhaps 202, working in the background);
            // one that answers only when the payment is done must not hang the steps that
            // make it done: after the wait timeout the journey goes on, and the answer is
            // collected when it comes.
            let outcome = match tokio::time::timeout(ctx.wait_timeout, &mut answer).await {
                Ok(joined) => joined.map_err(|e| format!("the request stopped: {e}"))??,
                Err(_) => {
                    ctx.pending.push(PendingTrigger {
                        name: t.name.clone(),
                        call,
                        expect_success: t.expect_success,
                        answer,
                    });
                    return Ok(());
                }
            };
            let outcome = ctx.finish_trigger(&t.name, &call, outcome)?;
            if t.expect_success && !outcome.is_success() {
                return Err(format!(
                    "the target answered {} to trigger `{}`",
                    outcome.status, t.name
                ));
            }
            Ok(())
        }
        Step::Shopper(step) => actors.act(Act::Shopper, parsed(step)?, ctx).await,
        Step::Provider(step) => actors.act(Act::Provider, parsed(step)?, ctx).await,
        Step::Sandbox(settings) => {
            let rest = sandbox.core.configure_generic(settings)?;
            sandbox.profile.configure(&rest)
        }
        Step::WaitFor(w) => {
            let timeout = w
                .timeout_s
                .map(crate::suite::bounds::duration_s)
                .unwrap_or(ctx.wait_timeout);
            let deadline = tokio::time::Instant::now() + timeout;
            let journal = ctx.journal().clone();
            let mut after = 0;
            for n in 0..w.count {
                let found = journal
                    .wait_for(after, deadline, |e| {
                        e.direction == Direction::ToSandbox
                            && e.actor == Actor::Integration
                            && e.operation() == Some(w.operation.as_str())
                    })
                    .await;
                match found {
                    Some(e) => after = e.seq,
                    None if w.optional => return Ok(()),
                    None => {
                        return Err(format!(
                            "the integration made {n} of {} expected `{}` call(s) within {:.1} s",
                            w.count,
                            w.operation,
                            timeout.as_secs_f64()
                        ))
                    }
                }
            }
            Ok(())
        }
        Step::ProbeOrder(p) => probe_order(ctx, p).await,
        Step::Sleep(s) => {
            if s.scaled {
                ctx.sleep_scaled(s.seconds).await;
            } else {
                tokio::time::sleep(crate::suite::bounds::duration_s(s.seconds)).await;
            }
            Ok(())
        }
    }
}

/// Asks the shop whether the order is paid, recording the answer as a fact.
async fn probe_order(ctx: &mut StepContext, p: &crate::suite::ProbeOrder) -> StepResult {
    let probe: OrderProbe = ctx
        .target
        .order_probe
        .clone()
        .ok_or("the target has no order_probe")?;
    let call = HttpCall {
        method: probe.method.clone(),
        path: probe.path.clone(),
        headers: probe.headers.clone(),
        json: None,
        form: None,
        capture: Default::default(),
        not_offered: None,
    };
    let deadline = tokio::time::Instant::now() + crate::suite::bounds::duration_s(p.settle_s);
    loop {
        // The verdict goes into the journal with the probe itself, as its facts.
        if mentions_payment_id(&call) {
            ctx.await_payment_id().await;
        }
        let vars = ctx.template_vars();
        let path = template::render(&call.path, &vars)?;
        let mut out = Outgoing::new(
            Actor::Harness,
            "order_probe",
            &call.method,
            ctx.target_url(&path),
            ctx.request_timeout,
        );
        for (k, v) in &call.headers {
            out = out.header(k, &template::render(v, &vars)?);
        }
        out.facts.order = ctx.order_reference();
        let mut paid = None;
        let _ = ctx
            .http
            .send_judged(out, |result, facts| {
                paid = result
                    .as_ref()
                    .ok()
                    .filter(|o| (200..300).contains(&o.status))
                    .and_then(|o| o.json())
                    .map(|j| is_paid(&j, &probe));
                facts.order_paid = paid;
            })
            .await;
        if paid == Some(true) || tokio::time::Instant::now() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the probe's answer means paid (strings compare case-insensitively).
pub fn is_paid(answer: &Value, probe: &OrderProbe) -> bool {
    let Some(v) = answer.pointer(&probe.paid_when.pointer) else {
        return false;
    };
    probe.paid_when.any_of.iter().any(|want| match (want, v) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CheckResult, Outcome, ScenarioResult, Severity};

    fn verdict(id: &str, scenario: Option<&str>, outcome: Outcome) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: id.into(),
            description: String::new(),
            severity: Severity::Major,
            source: "test".into(),
            kind: "order_outcome".into(),
            scenario: scenario.map(str::to_owned),
            outcome,
            message: "no order probe in this scenario".into(),
            evidence: vec![3],
        }
    }

    fn scenario(id: &str, not_applicable: Option<&str>) -> ScenarioResult {
        ScenarioResult {
            id: id.into(),
            title: id.into(),
            started_ms: 0.0,
            ended_ms: 0.0,
            error: None,
            not_applicable: not_applicable.map(str::to_owned),
            exchanges: vec![],
            exchanges_omitted: 0,
        }
    }

    const SUITE: &str = r#"
golive: 1
id: s
title: S
provider: smartpay
scenarios:
  - id: captured
    title: C
    steps:
      - trigger: { name: start_payment }
      - trigger: { name: capture_order }
  - id: declined
    title: D
    steps:
      - trigger: { name: start_payment }
checks:
  - { id: ONLY-CAPTURE, title: t, description: d, severity: major, source: s, kind: order_outcome, scenarios: [captured] }
  - { id: BOTH, title: t, description: d, severity: major, source: s, kind: order_outcome, scenarios: [captured, declined] }
  - { id: WHOLE, title: t, description: d, severity: major, source: s, kind: token_valid }
"#;

    #[test]
    fn a_scenario_needing_a_trigger_not_offered_skips_only_its_verdicts() {
        let suite = crate::suite::parse_suite(SUITE, std::path::Path::new("s.yaml"))
            .unwrap()
            .value;
        let target = crate::suite::parse_target(
            "golive: 1\nname: t\nbase_url: http://127.0.0.1:1\ntriggers:\n  start_payment: { path: /pay }\n  capture_order: { not_offered: automatic capture }\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap()
        .value;
        let reason = not_applicable(&suite.scenarios[0], &target).unwrap();
        assert_eq!(
            reason,
            "not applicable: the shop does not offer `capture_order` (automatic capture)"
        );
        assert_eq!(not_applicable(&suite.scenarios[1], &target), None);

        let scenarios = [
            scenario("captured", Some(&reason)),
            scenario("declined", None),
        ];
        let mut checks = vec![
            verdict("ONLY-CAPTURE", Some("captured"), Outcome::Failed),
            verdict("ONLY-CAPTURE", None, Outcome::Failed),
            verdict("BOTH", Some("declined"), Outcome::Failed),
            verdict("BOTH", None, Outcome::Failed),
            verdict("WHOLE", None, Outcome::Passed),
        ];
        skip_not_applicable(&mut checks, &suite, &scenarios);
        let outcomes: Vec<Outcome> = checks.iter().map(|c| c.outcome).collect();
        assert_eq!(
            outcomes,
            vec![
                Outcome::Skipped,
                Outcome::Skipped,
                // Judged where the shop could be judged: a real failure stays one.
                Outcome::Failed,
                Outcome::Failed,
                Outcome::Passed,
            ]
        );
        assert_eq!(checks[0].message, reason);
        assert!(checks[0].evidence.is_empty());
        assert_eq!(checks[1].message, format!("captured: {reason}"));
    }

    /// Trigger steps need no provider actors.
    struct NoActors;

    #[async_trait::async_trait]
    impl Actors for NoActors {
        async fn act(
            &self,
            _: Act,
            _: &crate::suite::ParsedStep,
            _: &mut StepContext,
        ) -> Result<(), String> {
            Err("no actors in this test".to_string())
        }
    }

    async fn context(wait_ms: u64) -> (StepContext, Sandbox) {
        context_for(
            wait_ms,
            "http://127.0.0.1:1",
            "  refund: { path: \"/payments/{{ payment.id }}/refund\" }\n",
        )
        .await
    }

    async fn context_for(wait_ms: u64, target_url: &str, triggers: &str) -> (StepContext, Sandbox) {
        let journal = Journal::in_memory();
        let sandbox = crate::sandbox::testing::bare(journal.clone()).await;
        let target = crate::suite::parse_target(
            &format!("golive: 1\nname: t\nbase_url: http://127.0.0.1:1\ntriggers:\n{triggers}"),
            std::path::Path::new("t.yaml"),
        )
        .unwrap()
        .value;
        let mut vars = Map::new();
        vars.insert("order_id".into(), json!("s-1"));
        let ctx = StepContext {
            scenario: "s".into(),
            vars,
            http: Recorder::new(journal),
            sandbox_url: sandbox.base_url(),
            target_url: target_url.into(),
            last_trigger: None,
            request_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_millis(wait_ms),
            time_scale: 1.0,
            target: Arc::new(target),
            core: sandbox.core.clone(),
            pending: Vec::new(),
        };
        (ctx, sandbox)
    }

    #[tokio::test]
    async fn a_call_naming_the_payment_waits_for_the_integration_to_name_it() {
        let (ctx, sandbox) = context(2000).await;
        assert!(mentions_payment_id(&ctx.target.triggers["refund"]));
        let vars = ctx.template_vars();
        assert_eq!(vars["order"]["reference"], "s-1");
        assert!(template::render("{{ payment.id }}", &vars).is_err());
        // The shop's call to the provider comes a moment after its trigger answered.
        let core = sandbox.core.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            core.note(|l| l.note_payment_id("P-1".into()));
            core.note(|l| l.note_order_reference("ORD1".into()));
        });
        let started = tokio::time::Instant::now();
        ctx.await_payment_id().await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(140), "{waited:?}");
        assert!(waited < Duration::from_millis(1500), "{waited:?}");
        let vars = ctx.template_vars();
        assert_eq!(
            template::render("/payments/{{ payment.id }}/{{ order.reference }}", &vars).unwrap(),
            "/payments/P-1/ORD1"
        );
        assert_eq!(ctx.order_reference().as_deref(), Some("ORD1"));
    }

    #[tokio::test]
    async fn the_wait_for_a_payment_id_is_bounded() {
        let (ctx, _sandbox) = context(100).await;
        let started = tokio::time::Instant::now();
        ctx.await_payment_id().await;
        assert!(started.elapsed() < Duration::from_millis(600));
        assert_eq!(ctx.payment_id(), None);
    }

    /// A shop whose trigger answers only after a while (a till that answers once the payment
    /// is done), and one that then refuses.
    async fn slow_shop() -> String {
        use axum::routing::post;
        let app = axum::Router::new()
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    "order ORD42 done"
                }),
            )
            .route(
                "/slow-refusal",
                post(|| async {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    (axum::http::StatusCode::CONFLICT, "no")
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn a_trigger_that_answers_when_done_does_not_hang_the_journey() {
        let url = slow_shop().await;
        let (mut ctx, sandbox) = context_for(
            150,
            &url,
            "  slow: { path: /slow, capture: { order_reference: { regex: \"ORD[0-9]+\" } } }\n  refused: { path: /slow-refusal }\n",
        )
        .await;
        let step = |name: &str| {
            Step::Trigger(crate::suite::TriggerStep {
                name: name.into(),
                with: Map::new(),
                expect_success: true,
            })
        };
        let started = tokio::time::Instant::now();
        run_step(&step("slow"), &mut ctx, &sandbox, &NoActors)
            .await
            .unwrap();
        // The journey went on after the wait timeout, not after the answer.
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(ctx.last_trigger.is_none());
        ctx.settle_triggers(false).await.unwrap();
        assert_eq!(ctx.pending.len(), 1, "still working");
        // A step that needs the answer waits for it; the capture is applied then.
        let answer = ctx.trigger_answer().await.unwrap().unwrap();
        assert_eq!(answer.text(), "order ORD42 done");
        assert_eq!(ctx.order_reference().as_deref(), Some("ORD42"));
        assert!(ctx.pending.is_empty());
        // A late refusal is still the step's failure, named when it comes.
        run_step(&step("refused"), &mut ctx, &sandbox, &NoActors)
            .await
            .unwrap();
        let e = ctx.settle_triggers(true).await.unwrap_err();
        assert!(
            e.contains("trigger `refused`, answered after the steps that followed it: the target answered 409"),
            "{e}"
        );
    }
}
