//! `idempotency_keys`: every request that needs an idempotency key carries one, well-formed;
//! a retry (the same request sent again after a timeout or a 5xx) reuses the key it was first
//! sent with; and a key is never reused for another request (another operation or body).
//!
//! Bodies compare as JSON values (key order and whitespace do not matter). A new call after a
//! 4xx (e.g. re-initiating once an active payment was cancelled) is not a retry: it may use a
//! new key even with the same body. Retries are judged within a scenario, in the order the
//! requests were sent (a timed-out request is journaled when its late answer is written, so
//! the rule sorts each scenario's requests by when they started). A key reused for another
//! body is judged over the whole run, as the provider keeps its keys.

use std::collections::HashMap;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::scope::PerScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "idempotency_keys",
    summary: "an idempotency key on every call that needs one, the same key on a retry, never one key for two requests",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The operations that need a key.
    operations: Vec<String>,
    /// The header that carries it (MobilePay: `x-mobilepay-idempotency-key`).
    header: String,
    /// The longest key allowed, in characters.
    #[serde(default)]
    max_length: Option<usize>,
    /// A regex every key must match.
    #[serde(default)]
    pattern: Option<String>,
}

struct Sent {
    seq: u64,
    at_ms: f64,
    operation: String,
    body: Value,
    key: Option<String>,
    /// Timed out, 5xx, or a delayed answer the client may never have seen.
    failed: bool,
}

#[derive(Default)]
struct Scenario {
    sent: Vec<Sent>,
    problems: Vec<(String, Vec<u64>)>,
}

struct IdempotencyKeys {
    params: Params,
    pattern: Option<Regex>,
    /// key → (first seq, operation, body), over the whole run.
    keys: HashMap<String, (u64, String, Value)>,
    scenarios: PerScenario<Scenario>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    let pattern = super::pattern(&params.pattern)?;
    Ok(Box::new(IdempotencyKeys {
        params,
        pattern,
        keys: HashMap::new(),
        scenarios: PerScenario::default(),
    }))
}

fn body_of(ex: &Exchange) -> Value {
    ex.request_json()
        .cloned()
        .unwrap_or_else(|| Value::String(ex.request.body.text().to_owned()))
}

fn failed(ex: &Exchange) -> bool {
    match ex.status() {
        None => true,
        Some(s) if s >= 500 => true,
        Some(s) => ex.facts.injected.is_some() && !(400..500).contains(&s),
    }
}

impl Rule for IdempotencyKeys {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if !self.params.operations.iter().any(|o| o == op) {
            return;
        }
        let keys: Vec<&str> = ex.request_headers(&self.params.header).collect();
        let body = body_of(ex);
        let s = self.scenarios.get(&ex.scenario);
        let key = match keys.as_slice() {
            [] => {
                s.problems.push((
                    format!("{} has no `{}`", ex.brief(), self.params.header),
                    vec![ex.seq],
                ));
                None
            }
            [k] => Some((*k).to_owned()),
            many => {
                s.problems.push((
                    format!(
                        "{} has `{}` {} times",
                        ex.brief(),
                        self.params.header,
                        many.len()
                    ),
                    vec![ex.seq],
                ));
                Some(many[0].to_owned())
            }
        };
        if let Some(k) = &key {
            let form = (self.params.max_length, self.pattern.as_ref());
            for p in super::malformed(k, form, &"a key", &"key") {
                s.problems
                    .push((format!("{} has {p}", ex.brief()), vec![ex.seq]));
            }
            match self.keys.get(k) {
                Some((first, first_op, first_body)) if first_op != op || *first_body != body => {
                    s.problems.push((
                        format!(
                            "{} reuses key `{k}` of #{first} ({first_op}) for another request",
                            ex.brief()
                        ),
                        vec![*first, ex.seq],
                    ));
                }
                Some(_) => {}
                None => {
                    self.keys
                        .insert(k.clone(), (ex.seq, op.to_owned(), body.clone()));
                }
            }
        }
        s.sent.push(Sent {
            seq: ex.seq,
            at_ms: ex.at_ms,
            operation: op.to_owned(),
            body,
            key,
            failed: failed(ex),
        });
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        self.scenarios.verdicts(|_, mut s| {
            if s.sent.is_empty() {
                return None;
            }
            s.sent
                .sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms).then(a.seq.cmp(&b.seq)));
            let mut retries = 0;
            for (i, r) in s.sent.iter().enumerate() {
                // The request this one repeats: the last one of the same operation before it.
                let Some(p) = s.sent[..i]
                    .iter()
                    .rev()
                    .find(|p| p.operation == r.operation)
                else {
                    continue;
                };
                if !p.failed || p.body != r.body {
                    continue;
                }
                retries += 1;
                if p.key != r.key {
                    s.problems.push((
                        format!(
                            "#{} retries #{} (which failed) with key {} instead of {}",
                            r.seq,
                            p.seq,
                            r.key
                                .as_deref()
                                .map(|k| format!("`{k}`"))
                                .unwrap_or("none".into()),
                            p.key
                                .as_deref()
                                .map(|k| format!("`{k}`"))
                                .unwrap_or("none".into()),
                        ),
                        vec![p.seq, r.seq],
                    ));
                }
            }
            Some(if s.problems.is_empty() {
                Finding::pass(
                    format!(
                        "{} keyed request(s), each with its own key; {retries} retr{} kept the key",
                        s.sent.len(),
                        if retries == 1 { "y" } else { "ies" }
                    ),
                    s.sent.iter().take(10).map(|x| x.seq).collect(),
                )
            } else {
                super::fail_problems(&s.problems, 20)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn keys() -> Check {
        check(
            "idempotency_keys",
            json!({"operations": ["pos_create", "payment_initiate"], "header": "x-mobilepay-idempotency-key", "max_length": 36}),
        )
    }

    #[test]
    fn the_header_is_named_by_the_suite() {
        let err = check("idempotency_keys", json!({"operations": ["pos_create"]})).refused();
        assert!(err.contains("`header`"), "{err}");
    }
    fn create(key: &str, body: &str) -> ExchangeBuilder {
        api("pos_create", "POST", "/pos/v10/pointofsales", body)
            .header("x-mobilepay-idempotency-key", key)
    }

    #[test]
    fn a_retry_keeps_its_key_and_passes_even_journaled_late() {
        // The timed-out first attempt is journaled last but started first.
        keys()
            .on(vec![
                create("k1", r#"{"a":1,"b":2}"#).status(500).at(2100.0),
                create("k1", r#"{"b":2, "a":1}"#).at(2200.0),
                create("k1", r#"{"a":1,"b":2}"#)
                    .at(0.0)
                    .facts(|f| f.injected = Some("delay 2500ms".into())),
            ])
            .passed();
    }

    #[test]
    fn a_new_key_on_a_retry_fails() {
        keys()
            .on(vec![
                create("k1", r#"{"a":1}"#).status(500),
                create("k2", r#"{"a":1}"#),
            ])
            .failed()
            .evidence(&[1, 2]);
    }

    #[test]
    fn a_retry_after_no_answer_needs_the_same_key() {
        keys()
            .on(vec![
                create("k1", "{}").no_answer("timed out"),
                create("k2", "{}"),
            ])
            .failed();
        keys()
            .on(vec![
                create("k1", "{}").no_answer("timed out"),
                create("k1", "{}"),
            ])
            .passed();
    }

    #[test]
    fn a_key_reused_for_another_body_or_missing_fails() {
        keys()
            .on(vec![create("k1", r#"{"a":1}"#), create("k1", r#"{"a":2}"#)])
            .failed();
        keys()
            .on(vec![api("payment_initiate", "POST", "/p", "{}")])
            .says("has no");
        let long = "x".repeat(37);
        keys().on(vec![create(&long, "{}")]).failed();
    }

    #[test]
    fn a_new_call_after_a_4xx_may_use_a_new_key_with_the_same_body() {
        let init = |k: &str, s: u16| {
            api("payment_initiate", "POST", "/p", r#"{"orderId":"o"}"#)
                .header("x-mobilepay-idempotency-key", k)
                .status(s)
        };
        keys().on(vec![init("k1", 409), init("k2", 200)]).passed();
        // The same key and body again (a replay) is not a reuse for another request.
        keys().on(vec![init("k1", 200), init("k1", 200)]).passed();
    }
}
