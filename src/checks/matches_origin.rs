//! `matches_origin`: what the integration tells the provider about a payment agrees with what
//! the provider told it when the payment began. PPaaS's events repeat the webhook's
//! `paymentAmount`: an event in major units (20.0 for the webhook's 2000 minor units) passes
//! the event schema (20.0 is a whole number) but tells PPaaS a hundredth of the amount.
//!
//! The origin is the exchange of `origin_operation` about the payment (`facts.payment`, e.g.
//! the webhook call PPaaS made); each judged request about the same payment must carry, in
//! every listed field it has, the value the origin's request had there. Numbers compare by
//! value (2000 and 2000.0 agree), everything else as text. A request without the field is not
//! judged unless `required` says so (the amount is optional in PPaaS's events). Verdicts are
//! per scenario; origins are remembered over the run (payment ids are unique).

use std::collections::HashMap;

use serde::Deserialize;

use super::field::Field;
use super::scope::PerScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Exchange};

pub const KIND: Kind = Kind {
    name: "matches_origin",
    summary: "requests about a payment repeat the values the exchange that began it carried (an event's amount is the webhook's)",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The operation of the exchange that began the payment (any actor: a webhook call the
    /// provider made, or a create call of the integration).
    origin_operation: String,
    /// The integration's requests judged.
    operations: Vec<String>,
    /// The fields compared.
    fields: Vec<Pair>,
    /// Whether a judged request must carry every field.
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Pair {
    /// Where the judged request carries the value...
    field: Field,
    /// ...and where the origin's request did (default: the same place).
    #[serde(default)]
    origin: Option<Field>,
}

/// The origin of one payment: its exchange and the values of the fields there.
struct Origin {
    seq: u64,
    values: Vec<Option<String>>,
}

#[derive(Default)]
struct Scenario {
    compared: usize,
    problems: Vec<(String, Vec<u64>)>,
    evidence: Vec<u64>,
}

struct MatchesOrigin {
    params: Params,
    origins: HashMap<String, Origin>,
    scenarios: PerScenario<Scenario>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    if params.fields.is_empty() || params.operations.is_empty() {
        return Err("`fields` and `operations` must each name at least one".into());
    }
    Ok(Box::new(MatchesOrigin {
        params,
        origins: HashMap::new(),
        scenarios: PerScenario::default(),
    }))
}

/// Whether two values agree: numbers by value, anything else as text.
fn same(a: &str, b: &str) -> bool {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl Rule for MatchesOrigin {
    fn exchange(&mut self, ex: &Exchange) {
        let Some(op) = ex.operation() else { return };
        let Some(payment) = ex.facts.payment.clone() else {
            return;
        };
        if op == self.params.origin_operation {
            let values = self
                .params
                .fields
                .iter()
                .map(|p| p.origin.as_ref().unwrap_or(&p.field).get(ex))
                .collect();
            self.origins.entry(payment).or_insert(Origin {
                seq: ex.seq,
                values,
            });
            return;
        }
        if ex.actor != Actor::Integration || !self.params.operations.iter().any(|o| o == op) {
            return;
        }
        // A request about a payment that did not begin here is another rule's to judge.
        let Some(origin) = self.origins.get(&payment) else {
            return;
        };
        let s = self.scenarios.get(&ex.scenario);
        for (pair, expected) in self.params.fields.iter().zip(&origin.values) {
            let Some(expected) = expected else { continue };
            match pair.field.get(ex) {
                Some(got) => {
                    s.compared += 1;
                    if same(&got, expected) {
                        if s.evidence.len() < 10 {
                            s.evidence.extend([origin.seq, ex.seq]);
                        }
                    } else {
                        s.problems.push((
                            format!(
                                "{} has {} `{got}`, but #{} (where the payment began) had `{expected}`",
                                ex.brief(),
                                pair.field,
                                origin.seq
                            ),
                            vec![origin.seq, ex.seq],
                        ));
                    }
                }
                None if self.params.required => {
                    s.compared += 1;
                    s.problems.push((
                        format!("{} has no {}", ex.brief(), pair.field),
                        vec![origin.seq, ex.seq],
                    ));
                }
                None => {}
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        self.scenarios.verdicts(|_, s| {
            if s.compared == 0 {
                return None;
            }
            Some(if s.problems.is_empty() {
                let mut evidence = s.evidence;
                evidence.sort_unstable();
                evidence.dedup();
                Finding::pass(
                    format!(
                        "{} value(s) compared, each as the payment began",
                        s.compared
                    ),
                    evidence,
                )
            } else {
                super::fail_with_problems(
                    &s.problems,
                    s.compared,
                    "value(s) differ from where the payment began",
                    8,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn matches() -> Check {
        check(
            "matches_origin",
            json!({
                "origin_operation": "qrcode_payment",
                "operations": ["transaction_event"],
                "fields": [
                    {"field": "body:/paymentAmount/amount"},
                    {"field": "body:/paymentAmount/currency"}
                ]
            }),
        )
    }
    fn webhook(tx: &str, amount: i64) -> ExchangeBuilder {
        provider("webhook", "POST", "http://127.0.0.1:9/webhook")
            .operation("qrcode_payment")
            .body(
                &json!({"clientTransactionId": tx, "paymentAmount": {"amount": amount, "currency": "EUR"}})
                    .to_string(),
            )
            .payment(tx)
    }
    fn event(tx: &str, amount: Option<serde_json::Value>) -> ExchangeBuilder {
        let mut body =
            json!({"eventId": "e", "eventType": "PAYMENT_SUCCEEDED", "clientTransactionId": tx});
        if let Some(a) = amount {
            body["paymentAmount"] = json!({"amount": a, "currency": "EUR"});
        }
        api(
            "transaction_event",
            "POST",
            "/qrcode-payment/v1/transactions/t/events",
            &body.to_string(),
        )
        .payment(tx)
    }

    #[test]
    fn minor_units_as_in_the_webhook_pass() {
        matches()
            .on(vec![
                webhook("t1", 2000),
                event("t1", Some(json!(2000))),
                event("t1", Some(json!(2000.0))),
                // An event without the amount says nothing about it.
                event("t1", None),
            ])
            .passed()
            .evidence(&[1, 2, 3]);
    }

    #[test]
    fn major_units_fail_even_when_round() {
        matches()
            .on(vec![webhook("t1", 2000), event("t1", Some(json!(20.0)))])
            .failed()
            .says("`20.0`")
            .says("`2000`")
            .evidence(&[1, 2]);
    }

    #[test]
    fn payments_are_apart_and_unknown_ones_not_judged() {
        matches()
            .on(vec![
                webhook("t1", 2000),
                webhook("t2", 990),
                event("t2", Some(json!(990))),
                event("t1", Some(json!(2000))),
                event("elsewhere", Some(json!(5))),
            ])
            .passed();
        matches()
            .on(vec![webhook("t1", 2000), event("t1", None)])
            .none();
        matches()
            .param("required", json!(true))
            .on(vec![webhook("t1", 2000), event("t1", None)])
            .failed()
            .says("has no");
    }
}
