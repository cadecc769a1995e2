//! What a step can reach: the scenario's variables, the target, the sandbox, the journal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::journal::{Actor, Facts, Journal};
use crate::sandbox::SandboxCore;
use crate::suite::Target;

use super::*;

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
    pub(super) target: Arc<Target>,
    /// The sandbox's shared state: the ids it learned from the integration's traffic.
    pub(super) core: Arc<SandboxCore>,
    /// Triggers still working after the wait timeout; their answers are collected later.
    pub(super) pending: Vec<PendingTrigger>,
    /// In a load scenario, the repetition this context drives: its ids are its own, not the
    /// whole sandbox's (see [`super::repetitions`]).
    pub(super) repetition: Option<Repetition>,
    /// Where this context's `sleep` steps count the time they waited, and the share of it
    /// that is the lane's (a load scenario's repetitions sleep side by side).
    pub(super) waited: Waited,
    pub(super) wait_share: f64,
}

/// The time a lane's `sleep` steps waited: what a run reports as its scripted waits. Counted
/// as they go, so a scenario broken off before its sleeps (or cut short in one) counts only
/// what it waited; from the scenarios' scripts alone, a run that stopped at its first step
/// claimed every sleep of the suite, more than the run took.
#[derive(Clone, Debug, Default)]
pub struct Waited(Arc<AtomicU64>);

impl Waited {
    /// What was waited so far, in milliseconds.
    pub fn ms(&self) -> f64 {
        self.0.load(Ordering::Relaxed) as f64 / 1000.0
    }

    fn add(&self, waited: Duration, share: f64) {
        let micros = (waited.as_secs_f64() * 1e6 * share) as u64;
        self.0.fetch_add(micros, Ordering::Relaxed);
    }
}

/// Counts the time from its making to its drop as waited.
pub(super) struct Waiting {
    waited: Waited,
    share: f64,
    began: std::time::Instant,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waited.add(self.began.elapsed(), self.share);
    }
}

impl StepContext {
    /// A `sleep` step begins: the time until the returned guard is dropped counts as waited.
    pub(super) fn waiting(&self) -> Waiting {
        Waiting {
            waited: self.waited.clone(),
            share: self.wait_share,
            began: std::time::Instant::now(),
        }
    }

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
        // The environment golive was started with: `{{ env.SHOP_API_KEY }}`.
        v.entry("env")
            .or_insert_with(|| super::template::environment().clone());
        // The integration's own ids, learned from its traffic or captured from its answers:
        // `{{ order.reference }}` (golive's order_id until the shop names its own) and
        // `{{ payment.id }}` (only once known: a template using it earlier is an error).
        let (order, payment) = self.learned().template_vars(self.order_id().as_deref());
        v.entry("order").or_insert(order);
        v.entry("payment").or_insert(payment);
        Value::Object(v)
    }

    pub(super) fn order_id(&self) -> Option<String> {
        self.var_str("order_id")
    }

    /// The merchant's reference for the scenario's order: the one the integration used with
    /// the provider or that a trigger's answer named, else golive's `order_id`.
    pub fn order_reference(&self) -> Option<String> {
        self.learned().order_reference.or_else(|| self.order_id())
    }

    /// The provider's payment id the integration's traffic named last, if any.
    pub fn payment_id(&self) -> Option<String> {
        self.learned().payment_id
    }

    /// The integration's ids this journey learned: the sandbox's for the running scenario, or
    /// in a load scenario only this repetition's.
    pub(super) fn learned(&self) -> crate::sandbox::Learned {
        match &self.repetition {
            Some(r) => r.learned(),
            None => self.core.learned(),
        }
    }

    /// Ids the harness found itself (a trigger's capture), for this journey.
    pub(super) fn note(&self, f: impl FnOnce(&mut crate::sandbox::Learned)) {
        match &self.repetition {
            Some(r) => r.note(f),
            None => self.core.note(f),
        }
    }

    pub fn var_str(&self, name: &str) -> Option<String> {
        match self.vars.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
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
