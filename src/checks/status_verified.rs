//! `status_verified`: the integration never trusts the browser's callback alone. After every
//! successful callback it asks the provider, server to server, for the payment's status, and
//! it considers an order paid only after such a query answered.
//!
//! "Before" is judged by answers, not by when requests started: a shop that verifies while it
//! answers the order probe (its status query starts a moment after the probe and answers before
//! the shop's "paid") is right.

use serde::Deserialize;

use super::scope::ByScenario;
use super::{hash_of, BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Direction, Exchange};

pub const KIND: Kind = Kind {
    name: "status_verified",
    summary:
        "every successful callback is followed by a status query, and no order is paid before one",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The provider operation that tells a payment's status (KontoCloud: `payment_status`).
    status_operation: String,
    /// Roles of the harness's exchanges that tell the shop a payment finished (prefixes;
    /// KontoCloud: `callback`, SmartPay: `trigger:payment_finished`).
    callback_roles: Vec<String>,
    /// Callback results that claim success (KontoCloud: `OK`, SmartPay: `success`).
    success_results: Vec<String>,
    /// How long after the callback the status query may come.
    #[serde(default = "within")]
    within_s: f64,
}

fn within() -> f64 {
    30.0
}

/// One status query of the integration.
struct Query {
    seq: u64,
    /// When it was sent and when it was answered (ms since the run started).
    at_ms: f64,
    answered_ms: f64,
    /// The payment it asked about, hashed ([`hash_of`]): compared, never shown.
    payment: Option<u64>,
    ok: bool,
    /// The answer's status (none: no answer). Put into words only where a verdict cites it:
    /// a journal of a million status queries keeps a million of these.
    status: Option<u16>,
}

#[derive(Default)]
struct Scenario {
    /// Every callback of the scenario, forged or failed too: context for the evidence.
    all_callbacks: Vec<u64>,
    callbacks: Vec<(u64, f64, Option<String>)>,
    queries: Vec<Query>,
    /// Probes where the shop said "paid": (seq, when the shop answered).
    paid_probes: Vec<(u64, f64)>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    Ok(Box::new(ByScenario::<_, Scenario>::new(ctx.params()?)))
}

impl Rule for ByScenario<Params, Scenario> {
    fn exchange(&mut self, ex: &Exchange) {
        let p = &self.params;
        let s = self.scenarios.get(&ex.scenario);
        let is_callback = ex.direction == Direction::ToTarget
            && (ex.facts.forged
                || p.callback_roles
                    .iter()
                    .any(|r| ex.role.starts_with(r.as_str())));
        if is_callback {
            s.all_callbacks.push(ex.seq);
        }
        if is_callback && !ex.facts.forged {
            let result = ex.facts.payment_state.as_deref().unwrap_or("");
            if p.success_results
                .iter()
                .any(|r| r.eq_ignore_ascii_case(result))
            {
                s.callbacks
                    .push((ex.seq, ex.at_ms, ex.facts.payment.clone()));
            }
        }
        if ex.actor == Actor::Integration && ex.operation() == Some(p.status_operation.as_str()) {
            s.queries.push(Query {
                seq: ex.seq,
                at_ms: ex.at_ms,
                answered_ms: ex.at_ms + ex.duration_ms,
                payment: ex.facts.payment.as_deref().map(hash_of),
                ok: ex.succeeded(),
                status: ex.status(),
            });
        }
        if ex.role == "order_probe" && ex.facts.order_paid == Some(true) {
            s.paid_probes.push((ex.seq, ex.at_ms + ex.duration_ms));
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let op = &self.params.status_operation;
        let window_ms = self.params.within_s * 1000.0;
        let within_s = self.params.within_s;
        self.scenarios.verdicts(|_, s| {
            if s.callbacks.is_empty() && s.paid_probes.is_empty() {
                return None;
            }
            let mut problems = Vec::new();
            let mut evidence = Vec::new();
            let mut unverified: Vec<String> = Vec::new();
            // Queries in a callback's window about another payment: what the integration
            // asked instead (a wrong id is not "never asked").
            let mut other_payment: Vec<String> = Vec::new();
            for (seq, at, payment) in &s.callbacks {
                evidence.push(*seq);
                let in_window = |q: &&Query| q.at_ms >= *at && q.at_ms - *at <= window_ms;
                let hashed = payment.as_deref().map(hash_of);
                let found = s
                    .queries
                    .iter()
                    .filter(in_window)
                    .find(|q| hashed.is_none() || q.payment.is_none() || q.payment == hashed);
                match found {
                    Some(q) => evidence.push(q.seq),
                    None => {
                        unverified.push(match payment {
                            Some(p) => format!("#{seq} (payment {p})"),
                            None => format!("#{seq}"),
                        });
                        for q in s.queries.iter().filter(in_window) {
                            evidence.push(q.seq);
                            let about = match q.status {
                                Some(status) => format!("#{}, {status}", q.seq),
                                None => format!("#{}, no answer", q.seq),
                            };
                            if !other_payment.contains(&about) {
                                other_payment.push(about);
                            }
                        }
                    }
                }
            }
            if !unverified.is_empty() {
                let why = if s.queries.is_empty() {
                    ": the integration never asked for the status".to_string()
                } else if !other_payment.is_empty() {
                    format!(
                        ": only a status query for another transaction ({})",
                        other_payment.join("; ")
                    )
                } else {
                    String::new()
                };
                problems.push(format!(
                    "callback {} not followed by `{op}` within {:.0} s{why}",
                    unverified.join(", "),
                    within_s,
                ));
            }
            let first_callback = s.callbacks.first().map(|c| c.1).unwrap_or(f64::MIN);
            if !s.paid_probes.is_empty() {
                evidence.extend(&s.all_callbacks);
            }
            let mut paid_unverified = Vec::new();
            for (seq, answered) in &s.paid_probes {
                evidence.push(*seq);
                // The status answer came no later than the shop's "paid" answer.
                let verified = s
                    .queries
                    .iter()
                    .any(|q| q.ok && q.answered_ms <= *answered && q.at_ms >= first_callback);
                if !verified {
                    paid_unverified.push(format!("#{seq}"));
                }
            }
            if !paid_unverified.is_empty() {
                problems.push(format!(
                    "the shop said the order was paid ({}) without a successful `{op}` before it",
                    paid_unverified.join(", ")
                ));
            }
            evidence.sort_unstable();
            evidence.dedup();
            Some(super::pass_unless(&problems, evidence, || {
                format!(
                    "{} callback(s), each confirmed by `{op}`{}",
                    s.callbacks.len(),
                    if s.paid_probes.is_empty() {
                        ""
                    } else {
                        " before the order was paid"
                    }
                )
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn callback(at: f64) -> ExchangeBuilder {
        harness("callback", "POST", "/cb?paymentResult=OK")
            .at(at)
            .payment("U1")
            .state("OK")
    }
    fn status(at: f64) -> ExchangeBuilder {
        api("payment_status", "GET", "/payment/U1/status", "")
            .at(at)
            .payment("U1")
    }
    fn probe(at: f64, paid: bool) -> ExchangeBuilder {
        harness("order_probe", "GET", "/orders/1")
            .at(at)
            .order_paid(paid)
    }
    fn verified() -> Check {
        check(
            "status_verified",
            json!({"status_operation": "payment_status", "callback_roles": ["callback"], "success_results": ["OK"]}),
        )
    }

    #[test]
    fn verified_callbacks_pass() {
        let f = verified().on(vec![callback(0.0), status(5.0), probe(10.0, true)]);
        f.passed().evidence(&[1, 2, 3]);
        assert_eq!(f[0].scenario.as_deref(), Some("s1"));
    }

    #[test]
    fn trusting_the_callback_fails() {
        verified()
            .on(vec![callback(0.0), probe(10.0, true)])
            .failed()
            .says("never asked")
            .says("without a successful");
    }

    #[test]
    fn a_status_query_before_the_callback_does_not_count() {
        verified()
            .on(vec![status(0.0), callback(5.0), probe(10.0, true)])
            .failed();
    }

    #[test]
    fn a_shop_that_verifies_while_answering_the_probe_passes() {
        // The shop's status query starts 0.1 ms after golive's probe and is answered before
        // the shop answers the probe: the "paid" rests on a confirmed status.
        verified()
            .on(vec![
                callback(0.0),
                probe(10.0, true).taking(30.0),
                status(10.1).taking(5.0),
            ])
            .passed();
    }

    #[test]
    fn a_status_answer_after_the_shops_paid_answer_fails() {
        // The query starts before the probe, but its answer comes after the shop already said
        // "paid": the shop did not wait for it.
        verified()
            .on(vec![
                callback(0.0),
                status(9.0).taking(50.0),
                probe(10.0, true).taking(2.0),
            ])
            .failed()
            .says("without a successful");
    }

    #[test]
    fn a_query_about_another_transaction_is_named() {
        let wrong = api("payment_status", "GET", "/payment/OTHER/status", "")
            .at(5.0)
            .status(404)
            .payment("OTHER");
        verified()
            .on(vec![callback(0.0), wrong, probe(10.0, false)])
            .failed()
            .says("a status query for another transaction (#2, 404)")
            .never_says("never asked")
            .evidence(&[1, 2]);
    }

    #[test]
    fn scenarios_without_callbacks_are_not_judged() {
        verified().on(vec![probe(10.0, false)]).none();
    }
}
