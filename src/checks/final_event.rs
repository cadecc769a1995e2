//! `final_event`: every transaction whose webhook answer the provider could use ends with the
//! terminal event that matches what the consumer did (paid → succeeded; declined → failed;
//! walked away → expired or cancelled). The expected types are given per scenario.
//!
//! The first terminal event the provider did not refuse as invalid counts, whether the
//! provider acknowledged it or not: delivery is `redelivery`'s business. A transaction whose
//! webhook answer was refused, late past the provider's patience or malformed never reached
//! the consumer, so it is not judged here (`webhook_response` is).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::event_sequence::{Journey, Locate};
use super::scope::ByScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Entry;

pub const KIND: Kind = Kind {
    name: "final_event",
    summary:
        "each transaction the provider could show ends with the terminal event the scenario expects",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    #[serde(flatten)]
    locate: Locate,
    /// Scenario id → the terminal event types that may end its transactions.
    expect: BTreeMap<String, Vec<String>>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    if params.expect.is_empty() {
        return Err("`expect` must map at least one scenario to its terminal event types".into());
    }
    Ok(Box::new(ByScenario::<_, Journey>::new(params)))
}

impl Rule for ByScenario<Params, Journey> {
    fn observe(&mut self, entry: &Entry) {
        let scenario = super::scope::entry_scenario(entry);
        if !self.params.expect.contains_key(scenario) {
            return;
        }
        let j = self.scenarios.get(scenario);
        if let Entry::Exchange(ex) = entry {
            j.observe(&self.params.locate, ex);
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let params = &self.params;
        self.scenarios.verdicts(|scenario, j| {
            let expected = &params.expect[scenario];
            let usable: Vec<(&String, u64)> = j
                .asked
                .iter()
                .filter(|(_, a)| a.usable)
                .map(|(t, a)| (t, a.seq))
                .collect();
            if usable.is_empty() {
                return Some(Finding::skip(
                    "no transaction in this scenario reached the consumer",
                ));
            }
            let mut problems: Vec<(String, Vec<u64>)> = Vec::new();
            let mut evidence = Vec::new();
            for (t, webhook_seq) in usable {
                let last = j.events.iter().find(|e| {
                    e.transaction.as_ref() == Some(t)
                        && !e.refused
                        && params.locate.terminal_events.contains(&e.kind)
                });
                match last {
                    None => problems.push((
                        format!(
                            "no terminal event for transaction `{t}` of webhook call #{webhook_seq} (expected {})",
                            expected.join(" or ")
                        ),
                        vec![webhook_seq],
                    )),
                    Some(e) if !expected.contains(&e.kind) => problems.push((
                        format!("{} ends transaction `{t}` with {}, expected {}", e.brief, e.kind, expected.join(" or ")),
                        vec![webhook_seq, e.seq],
                    )),
                    Some(e) => evidence.extend([webhook_seq, e.seq]),
                }
            }
            Some(if problems.is_empty() {
                Finding::pass(
                    format!("every transaction ended with {}", expected.join(" or ")),
                    evidence,
                )
            } else {
                Finding::fail(
                    super::listed(&problems),
                    problems.into_iter().flat_map(|(_, e)| e).take(10).collect(),
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::event_sequence::tests::{event, webhook};
    use crate::checks::testing::*;
    use crate::report::Outcome;
    use serde_json::json;

    fn final_event() -> Check {
        check(
            "final_event",
            json!({
                "webhook_role": "webhook",
                "event_operation": "transaction_event",
                "terminal_events": ["PAYMENT_SUCCEEDED", "PAYMENT_FAILED", "PAYMENT_EXPIRED", "PAYMENT_CANCELLED"],
                "expect": {"paid": ["PAYMENT_SUCCEEDED"], "abandoned": ["PAYMENT_EXPIRED", "PAYMENT_CANCELLED"]}
            }),
        )
    }

    #[test]
    fn the_expected_terminal_event_passes_acknowledged_or_not() {
        final_event()
            .on(vec![
                webhook("t1", 0.0, 10.0, 200).scenario("paid"),
                event("t1", "e1", "QR_CODE_SCANNED", 20.0, 200).scenario("paid"),
                event("t1", "e2", "PAYMENT_SUCCEEDED", 30.0, 500).scenario("paid"),
                webhook("t2", 40.0, 10.0, 201).scenario("abandoned"),
                event("t2", "e3", "PAYMENT_CANCELLED", 60.0, 200).scenario("abandoned"),
                // Not in `expect`: not judged.
                webhook("t3", 70.0, 10.0, 200).scenario("other"),
            ])
            .expect(&[Outcome::Passed, Outcome::Passed]);
    }

    #[test]
    fn a_missing_or_wrong_terminal_event_fails() {
        final_event()
            .on(vec![webhook("t2", 0.0, 10.0, 200).scenario("abandoned")])
            .failed()
            .says("no terminal event");
        final_event()
            .on(vec![
                webhook("t1", 0.0, 10.0, 200).scenario("paid"),
                event("t1", "e2", "PAYMENT_FAILED", 30.0, 200).scenario("paid"),
            ])
            .says("with PAYMENT_FAILED, expected PAYMENT_SUCCEEDED");
        // Events about another transaction do not count for the one asked about.
        final_event()
            .on(vec![
                webhook("t1", 0.0, 10.0, 200).scenario("paid"),
                event("mine", "e2", "PAYMENT_SUCCEEDED", 30.0, 404).scenario("paid"),
            ])
            .failed();
    }

    #[test]
    fn a_webhook_the_provider_could_not_use_is_not_judged() {
        final_event()
            .on(vec![webhook("t1", 0.0, 10.0, 400).scenario("paid")])
            .skipped();
    }
}
