//! `order_outcome`: what the shop did with the order, by its own order probe. A forged or
//! failed callback, an unconfirmed payment, a BlockAmount authorised for less than the order:
//! none of these may leave the order paid; a confirmed payment must.

use serde::Deserialize;

use super::scope::ByScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Entry;

pub const KIND: Kind = Kind {
    name: "order_outcome",
    summary: "the shop's order ends paid or unpaid as the scenario's payment deserves (by its order probe)",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// `paid` or `unpaid`.
    expect: Expect,
}

#[derive(Deserialize, Clone, Copy, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Expect {
    Paid,
    Unpaid,
}

#[derive(Default)]
struct Scenario {
    last_probe: Option<(u64, Option<bool>, Option<String>)>,
    error: Option<String>,
    evidence: Vec<u64>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let p: Params = ctx.params()?;
    Ok(Box::new(ByScenario::<_, Scenario>::new(p)))
}

impl Rule for ByScenario<Params, Scenario> {
    fn observe(&mut self, entry: &Entry) {
        match entry {
            Entry::ScenarioStart(s) => {
                self.scenarios.get(&s.scenario);
            }
            Entry::ScenarioEnd(e) => {
                if let Some(err) = &e.error {
                    self.scenarios.get(&e.scenario).error = Some(err.clone());
                }
            }
            Entry::Exchange(ex) => {
                if ex.scenario.is_empty() {
                    return;
                }
                let s = self.scenarios.get(&ex.scenario);
                // The journey's key moments, for the reviewer: what the browser and the
                // provider said before the shop decided.
                let key_moment = ex.role.starts_with("callback")
                    || ex.role.starts_with("forged")
                    || ex.role.starts_with("trigger")
                    || (ex.operation().is_some() && ex.role == "api" && ex.facts.payment.is_some());
                if key_moment && s.evidence.len() < 12 {
                    s.evidence.push(ex.seq);
                }
                if ex.role == "order_probe" {
                    s.last_probe = Some((ex.seq, ex.facts.order_paid, ex.error.clone()));
                }
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let want = match self.params.expect {
            Expect::Paid => "paid",
            Expect::Unpaid => "unpaid",
        };
        let expect = self.params.expect;
        self.scenarios.verdicts(|scenario, s| {
            if scenario.is_empty() {
                return None;
            }
            let mut evidence = s.evidence;
            Some(match s.last_probe {
                None => Finding::fail(
                    format!(
                        "the order was never probed, so the shop's decision is unknown{}",
                        s.error
                            .map(|e| format!(" (the scenario stopped: {e})"))
                            .unwrap_or_default()
                    ),
                    evidence,
                ),
                Some((seq, paid, error)) => {
                    evidence.push(seq);
                    match paid {
                        None => Finding::fail(
                            format!(
                                "the order probe #{seq} gave no usable answer{}; expected the order {want}",
                                error.map(|e| format!(" ({e})")).unwrap_or_default()
                            ),
                            evidence,
                        ),
                        Some(paid) => {
                            let is = if paid { "paid" } else { "unpaid" };
                            if (expect == Expect::Paid) == paid {
                                Finding::pass(format!("the shop considers the order {is} (#{seq})"), evidence)
                            } else {
                                Finding::fail(
                                    format!("the shop considers the order {is} (#{seq}); expected {want}"),
                                    evidence,
                                )
                            }
                        }
                    }
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn probe(paid: bool) -> ExchangeBuilder {
        harness("order_probe", "GET", "/orders/1").order_paid(paid)
    }
    fn expect(outcome: &str) -> Check {
        check("order_outcome", json!({ "expect": outcome }))
    }

    #[test]
    fn paid_when_unpaid_expected_fails() {
        let forged = || vec![harness("forged_callback", "POST", "/cb"), probe(true)];
        expect("unpaid").on(forged()).failed().evidence(&[1, 2]);
        expect("paid").on(forged()).passed();
    }

    #[test]
    fn the_last_probe_decides_and_a_missing_probe_fails() {
        expect("paid").on(vec![probe(false), probe(true)]).passed();
        expect("paid")
            .on(vec![harness("callback", "POST", "/cb")])
            .failed();
    }
}
