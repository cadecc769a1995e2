//! `pending_rechecks`: when the provider answers a status query with a PENDING state, the
//! integration re-checks a bounded number of times within a window (SmartPay: "retry the get
//! payment status call up to three times within 3 minutes"), then stops, and it never
//! considers the order paid while the last status it got was still pending.
//!
//! Per scenario and per payment: the first pending answer starts the count; every later
//! status query for that payment, until a final (non-pending) answer, is a re-check. The
//! window is in provider time, so it is multiplied by the run's time scale, and it has a
//! small tolerance: at a 60 s pace the third re-check lands just after 180 s.

use serde::Deserialize;

use super::scope::PerScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Exchange};

pub const KIND: Kind = Kind {
    name: "pending_rechecks",
    summary: "a PENDING status is re-checked at most N times within a window, then left; never paid while pending",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The provider operation that tells a payment's status (SmartPay: `payment_status`).
    status_operation: String,
    /// The states of a status answer that are still pending (SmartPay:
    /// `AUTHORIZATION_PENDING`, `CAPTURE_PENDING`).
    pending_states: Vec<String>,
    /// Re-checks allowed after the first pending answer (SmartPay: 3).
    max_rechecks: usize,
    /// The window after the first pending answer, in provider seconds (SmartPay: 180).
    window_s: f64,
    /// Slack on the window, in provider seconds.
    #[serde(default = "tolerance")]
    tolerance_s: f64,
    /// When set, only payments this operation created in the same scenario are judged, so a
    /// shop still re-checking an earlier scenario's payment cannot blur this one's verdict.
    #[serde(default)]
    origin_operation: Option<String>,
}

fn tolerance() -> f64 {
    20.0
}

struct Chain {
    payment: String,
    first_seq: u64,
    first_at: f64,
    rechecks: Vec<(u64, f64)>,
    resolved: bool,
}

#[derive(Default)]
struct Scenario {
    chains: Vec<Chain>,
    /// The last status answer of the scenario: (seq, pending?).
    last_answer: Option<(u64, bool)>,
    paid_while_pending: Vec<(u64, u64)>,
    /// Payments the origin operation created in this scenario.
    own: Vec<String>,
}

struct PendingRechecks {
    params: Params,
    scale: f64,
    scenarios: PerScenario<Scenario>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    if params.window_s <= 0.0 || params.tolerance_s < 0.0 {
        return Err("`window_s` must be above 0 and `tolerance_s` at least 0".into());
    }
    Ok(Box::new(PendingRechecks {
        params,
        scale: ctx.time_scale(),
        scenarios: PerScenario::default(),
    }))
}

impl Rule for PendingRechecks {
    fn exchange(&mut self, ex: &Exchange) {
        let p = &self.params;
        let s = self.scenarios.get(&ex.scenario);
        if ex.role == "order_probe" && ex.facts.order_paid == Some(true) {
            if let Some((seq, true)) = s.last_answer {
                s.paid_while_pending.push((seq, ex.seq));
            }
            return;
        }
        if ex.actor != Actor::Integration {
            return;
        }
        if let (Some(origin), Some(payment)) = (&p.origin_operation, &ex.facts.payment) {
            if ex.operation() == Some(origin.as_str()) && ex.succeeded() {
                s.own.push(payment.clone());
            }
        }
        if ex.operation() != Some(p.status_operation.as_str()) {
            return;
        }
        let payment = ex.facts.payment.clone().unwrap_or_default();
        if p.origin_operation.is_some() && !s.own.contains(&payment) {
            return;
        }
        let state = ex.facts.payment_state.as_deref().filter(|_| ex.succeeded());
        let pending = state.is_some_and(|st| {
            p.pending_states
                .iter()
                .any(|ps| ps.eq_ignore_ascii_case(st))
        });
        if let Some(chain) = s
            .chains
            .iter_mut()
            .find(|c| c.payment == payment && !c.resolved)
        {
            chain.rechecks.push((ex.seq, ex.at_ms));
            if state.is_some() && !pending {
                chain.resolved = true;
            }
        } else if pending {
            s.chains.push(Chain {
                payment,
                first_seq: ex.seq,
                first_at: ex.at_ms,
                rechecks: Vec::new(),
                resolved: false,
            });
        }
        if let Some(_st) = state {
            s.last_answer = Some((ex.seq, pending));
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let p = &self.params;
        let limit_ms = (p.window_s + p.tolerance_s) * 1000.0 * self.scale;
        let scale = self.scale;
        self.scenarios.verdicts(|_, s| {
            if s.chains.is_empty() && s.paid_while_pending.is_empty() {
                return None;
            }
            let mut problems = Vec::new();
            let mut evidence = Vec::new();
            let mut summary = Vec::new();
            for c in &s.chains {
                evidence.push(c.first_seq);
                evidence.extend(c.rechecks.iter().map(|(seq, _)| *seq));
                if c.rechecks.len() > p.max_rechecks {
                    problems.push(format!(
                        "payment {} was re-checked {} times after the first pending answer #{} (at most {})",
                        c.payment,
                        c.rechecks.len(),
                        c.first_seq,
                        p.max_rechecks
                    ));
                }
                let late: Vec<String> = c
                    .rechecks
                    .iter()
                    .filter(|(_, at)| at - c.first_at > limit_ms)
                    .map(|(seq, at)| {
                        format!("#{seq} at {:.0} s", (at - c.first_at) / 1000.0 / scale)
                    })
                    .collect();
                if !late.is_empty() {
                    problems.push(format!(
                        "payment {}: re-check(s) {} came after the {:.0} s window that began with #{}",
                        c.payment,
                        late.join(", "),
                        p.window_s,
                        c.first_seq
                    ));
                }
                summary.push(format!(
                    "payment {}: {} re-check(s){}",
                    c.payment,
                    c.rechecks.len(),
                    if c.resolved {
                        ", resolved"
                    } else {
                        ", then stopped"
                    }
                ));
            }
            for (status_seq, probe_seq) in &s.paid_while_pending {
                evidence.extend([*status_seq, *probe_seq]);
                problems.push(format!(
                    "the shop said the order was paid (#{probe_seq}) while the last status it got (#{status_seq}) was still pending"
                ));
            }
            evidence.sort_unstable();
            evidence.dedup();
            evidence.truncate(20);
            Some(super::pass_unless(&problems, evidence, || {
                format!(
                    "{} (at most {} within {:.0} s)",
                    summary.join("; "),
                    p.max_rechecks,
                    p.window_s
                )
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use crate::report::Outcome;
    use serde_json::json;

    fn status(at_s: f64, state: &str) -> ExchangeBuilder {
        api("payment_status", "GET", "/payment/status/T1", "")
            .at(at_s * 1000.0)
            .payment("T1")
            .state(state)
    }
    fn probe(at_s: f64, paid: bool) -> ExchangeBuilder {
        harness("order_probe", "GET", "/orders/1")
            .at(at_s * 1000.0)
            .order_paid(paid)
    }
    fn smartpay() -> serde_json::Value {
        json!({
            "status_operation": "payment_status",
            "pending_states": ["AUTHORIZATION_PENDING", "CAPTURE_PENDING"],
            "max_rechecks": 3,
            "window_s": 180,
        })
    }
    fn rechecks() -> Check {
        check("pending_rechecks", smartpay())
    }
    const P: &str = "AUTHORIZATION_PENDING";

    #[test]
    fn three_rechecks_at_a_60_s_pace_pass_even_just_after_180_s() {
        rechecks()
            .on(vec![
                status(0.0, P),
                status(60.1, P),
                status(120.2, P),
                status(180.4, P),
                probe(200.0, false),
            ])
            .passed()
            .evidence(&[1, 2, 3, 4]);
    }

    #[test]
    fn a_fourth_recheck_fails() {
        rechecks()
            .on(vec![
                status(0.0, P),
                status(10.0, P),
                status(20.0, P),
                status(30.0, P),
                status(40.0, P),
            ])
            .failed()
            .says("4 times");
    }

    #[test]
    fn a_recheck_long_after_the_window_fails() {
        rechecks()
            .on(vec![status(0.0, P), status(100.0, P), status(260.0, P)])
            .failed()
            .says("#3 at 260 s");
    }

    #[test]
    fn resolution_ends_the_count_and_later_queries_are_not_rechecks() {
        rechecks()
            .on(vec![
                status(0.0, P),
                status(50.0, P),
                status(100.0, "CAPTURED"),
                status(400.0, "CAPTURED"),
                status(500.0, "CAPTURED"),
                probe(510.0, true),
            ])
            .passed();
    }

    #[test]
    fn paid_while_pending_fails() {
        rechecks()
            .on(vec![status(0.0, P), probe(1.0, true)])
            .failed()
            .says("still pending")
            .evidence(&[1, 2]);
    }

    #[test]
    fn with_an_origin_only_this_scenarios_payments_count() {
        let created = || api("create_checkout", "POST", "/payment/creation", "{}").payment("T2");
        // A re-check of an earlier payment T1 (still pending) lands here, then T2 is paid.
        let t2 = || status(2.0, "CAPTURED").payment("T2");
        rechecks()
            .param("origin_operation", json!("create_checkout"))
            .on(vec![created(), status(1.0, P), t2(), probe(3.0, true)])
            .none();
        rechecks()
            .on(vec![created(), status(1.0, P), t2(), probe(3.0, true)])
            .passed();
    }

    #[test]
    fn no_pending_answer_is_not_judged_and_scenarios_are_apart() {
        rechecks()
            .on(vec![status(0.0, "CAPTURED"), probe(1.0, true)])
            .none();
        rechecks()
            .param("max_rechecks", json!(1))
            .on(vec![
                status(0.0, P),
                status(1.0, P),
                status(2.0, P).scenario("s2"),
                status(3.0, P).scenario("s2"),
            ])
            .expect(&[Outcome::Passed, Outcome::Passed]);
    }
}
