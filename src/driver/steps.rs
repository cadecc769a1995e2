//! One step of a scenario: triggers, provider and shopper steps, sandbox settings, waits,
//! order probes.

use std::time::Duration;

use serde_json::Value;

use crate::journal::{Actor, Direction, Facts};
use crate::sandbox::Sandbox;
use crate::suite::{HttpCall, OrderProbe, Step};

use super::*;

/// A provider step's typed reading: every run parses them before it starts (a step found
/// unparsed here is a bug in golive, not a mistake of the suite).
pub(super) fn parsed(
    step: &crate::suite::ProviderStep,
) -> Result<&crate::suite::ParsedStep, String> {
    step.parsed()
        .ok_or_else(|| "golive bug: a provider step was not parsed before the run".to_string())
}

pub(super) async fn run_step(
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
                // In a load scenario, only this repetition's calls count: another checkout's
                // status check says nothing about this one.
                let found = match &ctx.repetition {
                    Some(r) => r.wait_for_call(&w.operation, after, deadline).await,
                    None => journal
                        .wait_for(after, deadline, |e| {
                            e.direction == Direction::ToSandbox
                                && e.actor == Actor::Integration
                                && e.operation() == Some(w.operation.as_str())
                        })
                        .await
                        .map(|e| e.seq),
                };
                match found {
                    Some(seq) => after = seq,
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
            let _counted = ctx.waiting();
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
pub(super) async fn probe_order(ctx: &mut StepContext, p: &crate::suite::ProbeOrder) -> StepResult {
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
