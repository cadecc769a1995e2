//! `status_verified`: the integration never trusts the browser's callback alone. After every
//! successful callback it asks the provider, server to server, for the payment's status, and
//! it considers an order paid only after such a query answered.

use serde::Deserialize;

use super::scope::PerScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Direction, Entry};

pub const KIND: Kind = Kind {
    name: "status_verified",
    summary:
        "every successful callback is followed by a status query, and no order is paid before one",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// The provider operation that tells a payment's status.
    status_operation: String,
    /// Roles of the harness's exchanges that tell the shop a payment finished (prefixes).
    callback_roles: Vec<String>,
    /// Callback results that claim success.
    success_results: Vec<String>,
    /// How long after the callback the status query may come.
    within_s: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            status_operation: "payment_status".into(),
            callback_roles: vec!["callback".into()],
            success_results: vec!["OK".into()],
            within_s: 30.0,
        }
    }
}

#[derive(Default)]
struct Scenario {
    /// Every callback of the scenario, forged or failed too: context for the evidence.
    all_callbacks: Vec<u64>,
    callbacks: Vec<(u64, f64, Option<String>)>,
    queries: Vec<(u64, f64, Option<String>, bool)>,
    paid_probes: Vec<(u64, f64)>,
}

struct StatusVerified {
    params: Params,
    scenarios: PerScenario<Scenario>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    Ok(Box::new(StatusVerified {
        params: ctx.params()?,
        scenarios: PerScenario::default(),
    }))
}

impl Rule for StatusVerified {
    fn observe(&mut self, entry: &Entry) {
        let Entry::Exchange(ex) = entry else { return };
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
            s.queries
                .push((ex.seq, ex.at_ms, ex.facts.payment.clone(), ex.succeeded()));
        }
        if ex.role == "order_probe" && ex.facts.order_paid == Some(true) {
            s.paid_probes.push((ex.seq, ex.at_ms));
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let op = &self.params.status_operation;
        let window_ms = self.params.within_s * 1000.0;
        let mut findings = Vec::new();
        for (scenario, s) in self.scenarios.into_iter() {
            if s.callbacks.is_empty() && s.paid_probes.is_empty() {
                continue;
            }
            let mut problems = Vec::new();
            let mut evidence = Vec::new();
            let mut unverified: Vec<String> = Vec::new();
            for (seq, at, payment) in &s.callbacks {
                evidence.push(*seq);
                let found = s.queries.iter().find(|(_, qat, qp, _)| {
                    *qat >= *at
                        && *qat - *at <= window_ms
                        && (payment.is_none() || qp.is_none() || qp == payment)
                });
                match found {
                    Some((qseq, _, _, _)) => evidence.push(*qseq),
                    None => unverified.push(match payment {
                        Some(p) => format!("#{seq} (payment {p})"),
                        None => format!("#{seq}"),
                    }),
                }
            }
            if !unverified.is_empty() {
                problems.push(format!(
                    "callback {} not followed by `{op}` within {:.0} s{}",
                    unverified.join(", "),
                    self.params.within_s,
                    if s.queries.is_empty() {
                        ": the integration never asked for the status"
                    } else {
                        ""
                    }
                ));
            }
            let first_callback = s.callbacks.first().map(|c| c.1).unwrap_or(f64::MIN);
            if !s.paid_probes.is_empty() {
                evidence.extend(&s.all_callbacks);
            }
            let mut paid_unverified = Vec::new();
            for (seq, at) in &s.paid_probes {
                evidence.push(*seq);
                let verified = s
                    .queries
                    .iter()
                    .any(|(_, qat, _, ok)| *ok && *qat < *at && *qat >= first_callback);
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
            let f = if problems.is_empty() {
                Finding::pass(
                    format!(
                        "{} callback(s), each confirmed by `{op}`{}",
                        s.callbacks.len(),
                        if s.paid_probes.is_empty() {
                            ""
                        } else {
                            " before the order was paid"
                        }
                    ),
                    evidence,
                )
            } else {
                Finding::fail(problems.join("; "), evidence)
            };
            findings.push(f.in_scenario(&scenario));
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use crate::report::Outcome;
    use serde_json::json;

    fn callback(at: f64) -> ExchangeBuilder {
        harness("callback", "POST", "/cb?paymentResult=OK")
            .at(at)
            .facts(|f| {
                f.payment = Some("U1".into());
                f.payment_state = Some("OK".into());
            })
    }
    fn status(at: f64) -> ExchangeBuilder {
        api("payment_status", "GET", "/payment/U1/status", "")
            .at(at)
            .facts(|f| f.payment = Some("U1".into()))
    }
    fn probe(at: f64, paid: bool) -> ExchangeBuilder {
        harness("order_probe", "GET", "/orders/1")
            .at(at)
            .facts(move |f| f.order_paid = Some(paid))
    }

    #[test]
    fn verified_callbacks_pass() {
        let j = journal(vec![callback(0.0), status(5.0), probe(10.0, true)]);
        let f = judge("status_verified", json!({}), &j);
        assert_eq!(outcomes(&f), vec![Outcome::Passed]);
        assert_eq!(f[0].evidence, vec![1, 2, 3]);
        assert_eq!(f[0].scenario.as_deref(), Some("s1"));
    }

    #[test]
    fn trusting_the_callback_fails() {
        let j = journal(vec![callback(0.0), probe(10.0, true)]);
        let f = judge("status_verified", json!({}), &j);
        assert_eq!(outcomes(&f), vec![Outcome::Failed]);
        assert!(f[0].message.contains("never asked"), "{}", f[0].message);
        assert!(
            f[0].message.contains("without a successful"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn a_status_query_before_the_callback_does_not_count() {
        let j = journal(vec![status(0.0), callback(5.0), probe(10.0, true)]);
        assert_eq!(
            outcomes(&judge("status_verified", json!({}), &j)),
            vec![Outcome::Failed]
        );
    }

    #[test]
    fn scenarios_without_callbacks_are_not_judged() {
        let j = journal(vec![probe(10.0, false)]);
        assert!(judge("status_verified", json!({}), &j).is_empty());
    }
}
