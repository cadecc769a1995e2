//! `redelivery`: a request the provider did not acknowledge (a 5xx, no answer) is sent again —
//! the same request, recognised by its identity (an event id, an idempotency key) — until the
//! provider acknowledges it or the integration has tried at least `min_retries` more times.
//! The counterpart of `bounded_retries`, which caps the retries: together they say "retry,
//! but not forever".
//!
//! A request the provider refused as invalid (a 4xx) need not be sent again. Judged per
//! scenario; traffic outside scenarios is not judged.

use std::collections::HashMap;

use serde::Deserialize;

use super::field::Field;
use super::scope::PerScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "redelivery",
    summary: "a request the provider did not acknowledge is sent again until acknowledged or retried at least N times",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// Only requests of these operations (default: every API call of the integration).
    #[serde(default)]
    operations: Option<Vec<String>>,
    /// What makes two requests the same: `request` (method, path and body) or a field
    /// locator (`body:/eventId`).
    #[serde(default = "request")]
    identity: String,
    /// Retries expected after a request that was never acknowledged.
    #[serde(default = "one")]
    min_retries: usize,
}

fn request() -> String {
    "request".into()
}
fn one() -> usize {
    1
}

#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Acknowledged,
    NotAcknowledged,
    Refused,
}

fn answer(ex: &Exchange) -> Answer {
    match ex.status() {
        None => Answer::NotAcknowledged,
        Some(s) if s >= 500 => Answer::NotAcknowledged,
        Some(s) if s >= 400 => Answer::Refused,
        Some(_) => Answer::Acknowledged,
    }
}

struct Chain {
    retries: usize,
    last: Answer,
    seqs: Vec<u64>,
    brief: String,
}

#[derive(Default)]
struct Scenario {
    chains: HashMap<String, Chain>,
    unacknowledged: usize,
}

struct Redelivery {
    params: Params,
    field: Option<Field>,
    scenarios: PerScenario<Scenario>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    let field = match params.identity.as_str() {
        "request" => None,
        other => Some(Field::parse(other).map_err(|e| format!("`identity`: {e}"))?),
    };
    Ok(Box::new(Redelivery {
        params,
        field,
        scenarios: PerScenario::default(),
    }))
}

impl Rule for Redelivery {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if ex.scenario.is_empty() || !super::in_scope(&self.params.operations, op) {
            return;
        }
        let id = match &self.field {
            Some(f) => match f.get(ex) {
                Some(v) => v,
                None => return,
            },
            None => super::request_identity(ex),
        };
        let key = format!("{op}\u{1f}{id}");
        let got = answer(ex);
        let s = self.scenarios.get(&ex.scenario);
        match s.chains.get_mut(&key) {
            Some(c) if c.last == Answer::NotAcknowledged => {
                c.retries += 1;
                c.seqs.push(ex.seq);
                c.last = got;
            }
            existing => {
                if got == Answer::NotAcknowledged {
                    s.unacknowledged += 1;
                    s.chains.insert(
                        key,
                        Chain {
                            retries: 0,
                            last: got,
                            seqs: vec![ex.seq],
                            brief: ex.brief(),
                        },
                    );
                } else if let Some(c) = existing {
                    c.last = got;
                }
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let min = self.params.min_retries;
        self.scenarios.verdicts(|_, s| {
            if s.unacknowledged == 0 {
                return None;
            }
            let mut problems: Vec<(String, Vec<u64>)> = s
                .chains
                .values()
                .filter(|c| c.last == Answer::NotAcknowledged && c.retries < min)
                .map(|c| {
                    (
                        format!(
                            "{} was never acknowledged and was sent again only {} time(s) (at least {min} expected)",
                            c.brief, c.retries
                        ),
                        c.seqs.clone(),
                    )
                })
                .collect();
            problems.sort_by_key(|(_, seqs)| seqs[0]);
            if !problems.is_empty() {
                return Some(super::fail_problems(&problems, 12));
            }
            let evidence: Vec<u64> = s
                .chains
                .values()
                .flat_map(|c| c.seqs.clone())
                .take(12)
                .collect();
            let delivered = s
                .chains
                .values()
                .filter(|c| c.last == Answer::Acknowledged)
                .count();
            Some(Finding::pass(
                format!(
                    "{} unacknowledged request(s), each sent again: {delivered} acknowledged in the end, the rest retried at least {min} time(s)",
                    s.unacknowledged
                ),
                evidence,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn event(id: &str, status: u16) -> ExchangeBuilder {
        api("transaction_event", "POST", "/t/x/events", "")
            .json(json!({"eventId": id}))
            .status(status)
    }

    fn redelivery(min: usize) -> Check {
        check(
            "redelivery",
            json!({"operations": ["transaction_event"], "identity": "body:/eventId", "min_retries": min}),
        )
    }

    #[test]
    fn retried_until_acknowledged_or_long_enough_passes() {
        redelivery(3)
            .on(vec![
                event("e1", 500),
                event("e1", 503),
                event("e1", 200),
                event("e2", 200),
            ])
            .passed();
        redelivery(3)
            .on(vec![
                event("e1", 500),
                event("e1", 500),
                event("e1", 500),
                event("e1", 500),
            ])
            .passed();
        // A timeout is no acknowledgement either; a 4xx needs no retry.
        redelivery(1)
            .on(vec![
                event("e1", 200).no_answer("timed out"),
                event("e1", 200),
                event("e2", 400),
            ])
            .passed();
    }

    #[test]
    fn a_request_left_unacknowledged_fails() {
        redelivery(1)
            .on(vec![event("e1", 500), event("e2", 500)])
            .failed()
            .says("sent again only 0 time(s)")
            .evidence(&[1, 2]);
        redelivery(3)
            .on(vec![event("e1", 500), event("e1", 500), event("e1", 500)])
            .failed();
    }

    #[test]
    fn a_new_id_is_not_a_retry_and_scenarios_are_apart() {
        redelivery(1)
            .on(vec![event("e1", 500), event("e1-again", 200)])
            .failed();
        redelivery(1)
            .on(vec![event("e1", 500), event("e1", 200).scenario("s2")])
            .failed();
        // No failure, nothing to judge.
        redelivery(1).on(vec![event("e1", 200)]).none();
    }
}
