//! Firing the target's triggers, and collecting the answers of those still working.

use serde_json::{Map, Value};

use crate::journal::{Actor, Facts};
use crate::suite::HttpCall;

use super::*;

/// A trigger whose answer had not come within the wait timeout: the shop may answer only once
/// the payment is done, which needs the steps that follow (the customer approving in the app).
pub(super) struct PendingTrigger {
    pub(super) name: String,
    pub(super) call: HttpCall,
    pub(super) expect_success: bool,
    pub(super) answer: tokio::task::JoinHandle<Result<HttpOutcome, String>>,
}

impl StepContext {
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
    pub(super) async fn prepare_trigger(
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
    pub(super) fn finish_trigger(
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
                "order_reference" => self.note(|l| l.note_order_reference(text)),
                "payment_id" => self.note(|l| l.note_payment_id(text)),
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

    pub(super) async fn outgoing(
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
}

/// Whether a request's templates use `payment.id`.
pub(super) fn mentions_payment_id(call: &HttpCall) -> bool {
    let uses = |s: &str| s.contains("payment.id") || s.contains("payment[");
    uses(&call.path)
        || call.headers.values().any(|v| uses(v))
        || call.json.as_ref().is_some_and(|j| uses(&j.to_string()))
        || call
            .form
            .as_ref()
            .is_some_and(|f| f.values().any(|v| uses(v)))
}
