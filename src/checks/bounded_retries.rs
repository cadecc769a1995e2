//! `bounded_retries`: after a failed call (5xx, a timeout, the provider's "unexpected error")
//! the integration retries a bounded number of times, and (where the API says so) never
//! repeats a request the provider refused with a 4xx.
//!
//! A retry is the same request sent again: the same identity (the payment it is about, its
//! idempotency key, or the same method, path and body) right after a failed answer. A new
//! operation after a 4xx (a new idempotency key) is not a retry, even with the same body.
//! `identity` may list several, the first with a value counting: `[header:<key>, request]`
//! judges keyed calls by their key and every other call by its request. Judged by request
//! (no key to tell a retry from a new call), a repeat is a retry only with nothing else in
//! between: a capture refused before the reservation and sent again after the polls that
//! showed it reserved is a new call.
//! Scenarios are judged apart: a call in one never counts as a retry of one in another.

use std::collections::HashMap;

use serde::Deserialize;

use super::field::Field;
use super::scope::PerScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "bounded_retries",
    summary: "retries after 5xx/timeouts are bounded; none after a 4xx where the API forbids it",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// Only calls of these operations (default: every API call of the integration).
    #[serde(default)]
    operations: Option<Vec<String>>,
    /// Retries allowed after the first failed attempt.
    max_retries: usize,
    /// What makes two requests the same: `payment`, `request`, or a field locator
    /// (`header:x-mobilepay-idempotency-key`); or a list of them, the first with a value
    /// counting for each request.
    #[serde(default = "request")]
    identity: OneOrMore,
    /// Whether a request the provider refused with a 4xx must never be sent again.
    #[serde(default)]
    none_after_4xx: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum OneOrMore {
    One(String),
    More(Vec<String>),
}

fn request() -> OneOrMore {
    OneOrMore::One("request".into())
}

enum Identity {
    Payment,
    Request,
    Field(Field),
}

#[derive(Default)]
struct Chain {
    first_failure: u64,
    last_failed: Option<Failure>,
    retries: usize,
    seqs: Vec<u64>,
    reported: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Failure {
    Server,
    Client,
}

#[derive(Default)]
struct Scenario {
    chains: HashMap<String, Chain>,
    /// The key of the integration's last request in scope: a request judged by its request
    /// alone is a retry only when nothing else came in between.
    last_key: Option<String>,
    failures_seen: usize,
    problems: Vec<(String, Vec<u64>)>,
    retry_evidence: Vec<u64>,
}

struct BoundedRetries {
    params: Params,
    identities: Vec<Identity>,
    scenarios: PerScenario<Scenario>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    let names = match &params.identity {
        OneOrMore::One(one) => vec![one.clone()],
        OneOrMore::More(more) => more.clone(),
    };
    if names.is_empty() {
        return Err("`identity` lists nothing; name at least one (e.g. `request`)".into());
    }
    let identities = names
        .iter()
        .map(|name| {
            Ok(match name.as_str() {
                "payment" => Identity::Payment,
                "request" => Identity::Request,
                other => {
                    Identity::Field(Field::parse(other).map_err(|e| format!("`identity`: {e}"))?)
                }
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Box::new(BoundedRetries {
        params,
        identities,
        scenarios: PerScenario::default(),
    }))
}

fn failure(ex: &Exchange) -> Option<Failure> {
    match ex.status() {
        None => Some(Failure::Server),
        // A 401 asks for new credentials: the same request again with a new token is what
        // the provider wants, not a forbidden retry after a client error (still bounded).
        Some(401) => Some(Failure::Server),
        Some(s) if s >= 500 => Some(Failure::Server),
        Some(s) if s >= 400 => Some(Failure::Client),
        _ if ex.facts.injected.is_some() => Some(Failure::Server),
        _ => None,
    }
}

impl BoundedRetries {
    /// The request's identity, and whether it is the request itself (no key or payment).
    fn key(&self, ex: &Exchange) -> Option<(String, bool)> {
        let op = ex.operation()?;
        let (id, by_request) = self.identities.iter().find_map(|identity| match identity {
            Identity::Payment => Some((ex.facts.payment.clone().unwrap_or_default(), false)),
            Identity::Request => Some((super::request_identity(ex), true)),
            Identity::Field(f) => f.get(ex).map(|v| (v, false)),
        })?;
        Some((format!("{op}\u{1f}{id}"), by_request))
    }
}

impl Rule for BoundedRetries {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if !super::in_scope(&self.params.operations, op) {
            return;
        }
        let Some((key, by_request)) = self.key(ex) else {
            return;
        };
        let max = self.params.max_retries;
        let none_after_4xx = self.params.none_after_4xx;
        let s = self.scenarios.get(&ex.scenario);
        let failed = failure(ex);
        let right_after = s.last_key.as_deref() == Some(key.as_str());
        s.last_key = Some(key.clone());
        let chain = s.chains.entry(key).or_default();
        if by_request && !right_after {
            // Other requests came in between: the same request now is a new call.
            chain.last_failed = None;
        }
        if let Some(previous) = chain.last_failed {
            chain.retries += 1;
            chain.seqs.push(ex.seq);
            if s.retry_evidence.len() < 12 {
                s.retry_evidence.push(ex.seq);
            }
            if previous == Failure::Client && none_after_4xx {
                let before = chain.seqs[chain.seqs.len().saturating_sub(2)];
                s.problems.push((
                    format!(
                        "{} repeats #{before}, which the provider refused with a 4xx",
                        ex.brief()
                    ),
                    vec![before, ex.seq],
                ));
            }
            if chain.retries > max && !chain.reported {
                chain.reported = true;
                s.problems.push((
                    format!(
                        "`{op}` was retried more than {max} time(s) after the failure in #{} (retry #{} is {})",
                        chain.first_failure,
                        chain.retries,
                        ex.brief()
                    ),
                    chain.seqs.clone(),
                ));
            }
        }
        match failed {
            Some(f) => {
                if chain.last_failed.is_none() {
                    chain.first_failure = ex.seq;
                    chain.retries = 0;
                    chain.seqs = vec![ex.seq];
                    chain.reported = false;
                    s.failures_seen += 1;
                }
                chain.last_failed = Some(f);
            }
            None => chain.last_failed = None,
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let max = self.params.max_retries;
        self.scenarios.verdicts(|_, s| {
            if s.failures_seen == 0 {
                return None;
            }
            Some(if s.problems.is_empty() {
                let most = s.chains.values().map(|c| c.retries).max().unwrap_or(0);
                Finding::pass(
                    format!(
                        "{} failed call(s); at most {most} retr{} of one request (allowed: {max})",
                        s.failures_seen,
                        if most == 1 { "y" } else { "ies" },
                    ),
                    s.retry_evidence,
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
    use crate::report::Outcome;
    use serde_json::json;

    fn status(code: u16) -> ExchangeBuilder {
        api("payment_status", "GET", "/payment/U/status", "")
            .status(code)
            .payment("U")
    }
    fn by_payment(max_retries: usize) -> Check {
        check(
            "bounded_retries",
            json!({"max_retries": max_retries, "identity": "payment"}),
        )
    }

    #[test]
    fn three_retries_pass_four_fail() {
        let k = by_payment(3);
        k.on(vec![status(500), status(500), status(500), status(500)])
            .passed();
        k.on(vec![
            status(500),
            status(500),
            status(500),
            status(500),
            status(500),
        ])
        .failed()
        .evidence(&[1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_success_ends_the_chain_and_no_failure_is_not_judged() {
        let k = by_payment(1);
        k.on(vec![status(500), status(200), status(500), status(200)])
            .passed();
        k.on(vec![status(200), status(200)]).none();
    }

    #[test]
    fn repeating_a_4xx_fails_but_a_new_key_does_not() {
        let k = check(
            "bounded_retries",
            json!({"max_retries": 5, "identity": "header:idem", "none_after_4xx": true}),
        );
        let call = |key: &str, code: u16| {
            api("initiate", "POST", "/p", "{}")
                .header("idem", key)
                .status(code)
        };
        k.on(vec![call("k1", 409), call("k1", 409)]).failed();
        k.on(vec![call("k1", 409), call("k2", 200)]).passed();
    }

    #[test]
    fn every_call_is_judged_by_its_key_or_else_its_request() {
        let k = check(
            "bounded_retries",
            json!({
                "max_retries": 5,
                "identity": ["header:idem", "request"],
                "none_after_4xx": true
            }),
        );
        let capture = |code: u16| {
            api(
                "payment_capture",
                "POST",
                "/p/1/capture",
                r#"{"amount":10}"#,
            )
            .status(code)
        };
        let poll = || api("payment_poll", "GET", "/p/1", "");
        // A capture MobilePay refused with a 400, sent again at once: a retry after a 4xx.
        k.on(vec![capture(400), capture(400)])
            .failed()
            .says("refused with a 4xx")
            .evidence(&[1, 2]);
        // The same capture after polls showed the payment reserved is a new call.
        k.on(vec![capture(409), poll(), poll(), capture(204)])
            .passed();
        // Keyed calls still count as retries with other calls in between.
        let keyed = |code: u16| {
            api("refund_initiate", "POST", "/refunds", "{}")
                .header("idem", "k1")
                .status(code)
        };
        k.on(vec![keyed(400), poll(), keyed(400)]).failed();
        // Polls that fail with a 5xx are retried, bounded.
        let failing = || poll().status(503);
        k.on(vec![failing(), failing(), failing(), poll()]).passed();
    }

    #[test]
    fn an_empty_identity_list_is_refused() {
        let err = check("bounded_retries", json!({"max_retries": 1, "identity": []})).refused();
        assert!(err.contains("lists nothing"), "{err}");
    }

    #[test]
    fn a_timeout_counts_as_a_failure_to_retry() {
        let timeout = || status(200).no_answer("no answer within 2.0 s");
        by_payment(1)
            .on(vec![timeout(), timeout(), timeout()])
            .failed();
    }

    #[test]
    fn scenarios_are_apart() {
        by_payment(1)
            .on(vec![
                status(500),
                status(500).scenario("s2"),
                status(500).scenario("s2"),
            ])
            .expect(&[Outcome::Passed, Outcome::Passed]);
    }
}
