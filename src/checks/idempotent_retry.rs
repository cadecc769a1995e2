//! `idempotent_retry`: a request retried after a 5xx or a timeout carries the same
//! idempotency key (SmartPay's `modificationId`), so the provider can tell the retry from a
//! second capture. A new key is fine after a success or a 4xx: that is a new operation.
//!
//! Per scenario: a failed request opens a retry window for the same operation on the same
//! payment; the next such request is its retry and must carry the same key.

use serde::Deserialize;

use super::field::Field;
use super::scope::ByScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "idempotent_retry",
    summary:
        "a retry after a 5xx or timeout carries the same idempotency key as the failed request",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// Where the key is (`body:/modificationId`, `header:Idempotency-Key`).
    key: Field,
    /// Only requests of these operations (default: every API call of the integration).
    #[serde(default)]
    operations: Option<Vec<String>>,
}

#[derive(Default)]
struct Scenario {
    /// Failed requests awaiting their retry: (operation, payment, key, seq).
    open: Vec<(String, String, Option<String>, u64)>,
    retries: Vec<u64>,
    problems: Vec<(String, Vec<u64>)>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    Ok(Box::new(ByScenario::<_, Scenario>::new(ctx.params()?)))
}

fn retryable_failure(ex: &Exchange) -> bool {
    match ex.status() {
        None => true,
        Some(s) => s >= 500,
    }
}

impl Rule for ByScenario<Params, Scenario> {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if !super::in_scope(&self.params.operations, op) {
            return;
        }
        let payment = ex.facts.payment.clone().unwrap_or_default();
        let key = self.params.key.get(ex);
        let field = self.params.key.to_string();
        let s = self.scenarios.get(&ex.scenario);
        if let Some(i) = s
            .open
            .iter()
            .position(|(o, p, _, _)| o == op && *p == payment)
        {
            let (_, _, failed_key, failed_seq) = s.open.remove(i);
            s.retries.push(ex.seq);
            if key != failed_key || key.is_none() {
                s.problems.push((
                    format!(
                        "{} retries #{failed_seq} (which failed) with {field} {} instead of {}: the provider sees a new {op}, not a retry",
                        ex.brief(),
                        key.as_deref().map(|k| format!("`{k}`")).unwrap_or_else(|| "missing".into()),
                        failed_key.as_deref().map(|k| format!("`{k}`")).unwrap_or_else(|| "none".into())
                    ),
                    vec![failed_seq, ex.seq],
                ));
            }
        }
        if retryable_failure(ex) {
            s.open.push((op.to_owned(), payment, key, ex.seq));
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let key = &self.params.key;
        self.scenarios.verdicts(|_, s| {
            if s.retries.is_empty() {
                return None;
            }
            Some(if s.problems.is_empty() {
                Finding::pass(
                    format!(
                        "{} retr{} kept the failed request's {key}",
                        s.retries.len(),
                        if s.retries.len() == 1 { "y" } else { "ies" },
                    ),
                    s.retries,
                )
            } else {
                super::fail_problems(&s.problems, usize::MAX)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn capture(id: &str, status: u16) -> ExchangeBuilder {
        api("capture", "POST", "/payment/T/capture", "")
            .json(json!({"modificationId": id}))
            .status(status)
            .payment("T")
    }
    fn retries() -> Check {
        check(
            "idempotent_retry",
            json!({"key": "body:/modificationId", "operations": ["capture", "refund"]}),
        )
    }

    #[test]
    fn a_retry_with_the_same_key_passes_and_a_new_key_fails() {
        retries()
            .on(vec![capture("m1", 500), capture("m1", 200)])
            .passed();
        retries()
            .on(vec![capture("m1", 500), capture("m2", 200)])
            .failed()
            .evidence(&[1, 2])
            .says("`m2` instead of `m1`");
    }

    #[test]
    fn timeouts_count_as_failures_but_4xx_and_successes_do_not() {
        retries()
            .on(vec![
                capture("m1", 200).no_answer("timed out"),
                capture("m2", 200),
            ])
            .failed();
        // A new modification after a refusal is a new operation; so is one after a success.
        retries()
            .on(vec![
                capture("m1", 422),
                capture("m2", 200),
                capture("m3", 200),
            ])
            .none();
    }

    #[test]
    fn other_payments_and_scenarios_are_apart() {
        let other = api(
            "capture",
            "POST",
            "/payment/U/capture",
            r#"{"modificationId":"x"}"#,
        )
        .payment("U");
        retries()
            .on(vec![capture("m1", 500), other, capture("m1", 200)])
            .passed();
        retries()
            .on(vec![capture("m1", 500), capture("m2", 200).scenario("s2")])
            .none();
    }
}
