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
use crate::journal::{Actor, Entry, Exchange};

pub const KIND: Kind = Kind {
    name: "redelivery",
    summary: "a request the provider did not acknowledge is sent again until acknowledged or retried at least N times",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
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
    fn observe(&mut self, entry: &Entry) {
        let Entry::Exchange(ex) = entry else { return };
        if ex.actor != Actor::Integration || ex.scenario.is_empty() {
            return;
        }
        let Some(op) = ex.operation() else { return };
        if self
            .params
            .operations
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|o| o == op))
        {
            return;
        }
        let id = match &self.field {
            Some(f) => match f.get(ex) {
                Some(v) => v,
                None => return,
            },
            None => format!(
                "{} {} {}",
                ex.request.method,
                ex.path(),
                ex.request.body.text
            ),
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
        let mut findings = Vec::new();
        for (scenario, s) in self.scenarios.into_iter() {
            if s.unacknowledged == 0 {
                continue;
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
            let f = if problems.is_empty() {
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
                Finding::pass(
                    format!(
                        "{} unacknowledged request(s), each sent again: {delivered} acknowledged in the end, the rest retried at least {min} time(s)",
                        s.unacknowledged
                    ),
                    evidence,
                )
            } else {
                let messages: Vec<String> = problems.iter().map(|(m, _)| m.clone()).collect();
                // The first failure of each chain leads, then its retries.
                let mut evidence: Vec<u64> = problems.iter().map(|(_, e)| e[0]).collect();
                evidence.extend(problems.iter().flat_map(|(_, e)| e[1..].to_vec()));
                evidence.sort_unstable();
                evidence.dedup();
                evidence.truncate(12);
                Finding::fail(super::list_some(&messages, 3), evidence)
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

    fn event(id: &str, status: u16) -> ExchangeBuilder {
        api(
            "transaction_event",
            "POST",
            "/t/x/events",
            &format!(r#"{{"eventId":"{id}"}}"#),
        )
        .status(status)
    }

    fn params(min: usize) -> serde_json::Value {
        json!({"operations": ["transaction_event"], "identity": "body:/eventId", "min_retries": min})
    }

    #[test]
    fn retried_until_acknowledged_or_long_enough_passes() {
        let j = journal(vec![
            event("e1", 500),
            event("e1", 503),
            event("e1", 200),
            event("e2", 200),
        ]);
        assert_eq!(
            outcomes(&judge("redelivery", params(3), &j)),
            vec![Outcome::Passed]
        );
        let j = journal(vec![
            event("e1", 500),
            event("e1", 500),
            event("e1", 500),
            event("e1", 500),
        ]);
        assert_eq!(
            outcomes(&judge("redelivery", params(3), &j)),
            vec![Outcome::Passed]
        );
        // A timeout is no acknowledgement either; a 4xx needs no retry.
        let j = journal(vec![
            event("e1", 200).no_answer("timed out"),
            event("e1", 200),
            event("e2", 400),
        ]);
        assert_eq!(
            outcomes(&judge("redelivery", params(1), &j)),
            vec![Outcome::Passed]
        );
    }

    #[test]
    fn a_request_left_unacknowledged_fails() {
        let j = journal(vec![event("e1", 500), event("e2", 500)]);
        let f = judge("redelivery", params(1), &j);
        assert_eq!(outcomes(&f), vec![Outcome::Failed]);
        assert!(
            f[0].message.contains("sent again only 0 time(s)"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].evidence, vec![1, 2]);
        let j = journal(vec![event("e1", 500), event("e1", 500), event("e1", 500)]);
        assert_eq!(
            outcomes(&judge("redelivery", params(3), &j)),
            vec![Outcome::Failed]
        );
    }

    #[test]
    fn a_new_id_is_not_a_retry_and_scenarios_are_apart() {
        let j = journal(vec![event("e1", 500), event("e1-again", 200)]);
        assert_eq!(
            outcomes(&judge("redelivery", params(1), &j)),
            vec![Outcome::Failed]
        );
        let j = journal(vec![event("e1", 500), event("e1", 200).scenario("s2")]);
        let f = judge("redelivery", params(1), &j);
        assert_eq!(outcomes(&f), vec![Outcome::Failed]);
        // No failure, nothing to judge.
        assert!(judge("redelivery", params(1), &journal(vec![event("e1", 200)])).is_empty());
    }
}
