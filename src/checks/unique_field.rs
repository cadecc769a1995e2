//! `unique_field`: a field (partnerReference, an idempotency key...) is present on every
//! request that should carry it, well-formed, and not repeated across requests. A retry of a
//! failed request may repeat it (the same request, sent again).
//!
//! A retry is the same value repeated after *its own* failed attempt, even when other requests
//! of the operation came in between: an integration retrying two events at once (A fails,
//! B fails, A again, B again) repeats each value after its own failure, which is right.

use std::collections::HashMap;

use regex::Regex;
use serde::Deserialize;

use super::field::{first_of, Fields};
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Entry};

pub const KIND: Kind = Kind {
    name: "unique_field",
    summary:
        "a field is present, well-formed and different on every request (retries may repeat it)",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Where the field is; the first locator with a value counts.
    field: Fields,
    /// Only requests of these operations (default: every API call of the integration).
    #[serde(default)]
    operations: Option<Vec<String>>,
    #[serde(default = "yes")]
    required: bool,
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    pattern: Option<String>,
    /// `run` (never repeated in the run) or `scenario` (never repeated within a scenario).
    #[serde(default = "run_scope")]
    unique_within: String,
    /// Whether a request repeated after a failed answer may keep the value.
    #[serde(default = "yes")]
    allow_on_retry: bool,
    /// Whose requests carry the field (default: the integration's server). KontoCloud's
    /// partnerReference also travels in the e-wallet form the shop hands the shopper's
    /// browser.
    #[serde(default = "integration")]
    actors: Vec<Actor>,
}

fn integration() -> Vec<Actor> {
    vec![Actor::Integration]
}

/// What the rule keeps about a value it saw.
struct Seen {
    /// The request that first sent it.
    first: u64,
    /// The operation of its last request (a hash) and whether that request failed: a retry
    /// repeats the value after its own failed attempt.
    last_operation: u64,
    last_failed: bool,
}

fn hash_of(value: impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

fn yes() -> bool {
    true
}
fn run_scope() -> String {
    "run".into()
}

struct UniqueField {
    params: Params,
    pattern: Option<Regex>,
    /// A 64-bit hash of (scope, value) → what was seen of it. The values are not kept: a run
    /// of a million requests would otherwise hold a million strings. (Two values sharing a
    /// hash is a 1-in-10^9 event at a million requests.)
    seen: HashMap<u64, Seen>,
    checked: usize,
    problems: Vec<(String, Vec<u64>)>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    let pattern = match &params.pattern {
        Some(p) => Some(Regex::new(p).map_err(|e| format!("`pattern` is not a regex: {e}"))?),
        None => None,
    };
    if params.unique_within != "run" && params.unique_within != "scenario" {
        return Err("`unique_within` must be `run` or `scenario`".into());
    }
    Ok(Box::new(UniqueField {
        params,
        pattern,
        seen: HashMap::new(),
        checked: 0,
        problems: Vec::new(),
    }))
}

impl Rule for UniqueField {
    fn observe(&mut self, entry: &Entry) {
        let Entry::Exchange(ex) = entry else { return };
        if !self.params.actors.contains(&ex.actor) {
            return;
        }
        let Some(op) = ex.operation() else { return };
        if op == "unknown" {
            return;
        }
        if let Some(ops) = &self.params.operations {
            if !ops.iter().any(|o| o == op) {
                return;
            }
        }
        self.checked += 1;
        let fields = self.params.field.list();
        let failed = !ex.succeeded();
        let Some((value, field)) = first_of(&fields, ex) else {
            if self.params.required {
                self.problems.push((
                    format!(
                        "{} has no {}",
                        ex.brief(),
                        fields
                            .iter()
                            .map(|f| f.to_string())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                    vec![ex.seq],
                ));
            }
            return;
        };
        if let Some(max) = self.params.max_length {
            if value.chars().count() > max {
                self.problems.push((
                    format!(
                        "{} has {field} of {} characters (at most {max})",
                        ex.brief(),
                        value.chars().count()
                    ),
                    vec![ex.seq],
                ));
            }
        }
        if let Some(re) = &self.pattern {
            if !re.is_match(&value) {
                self.problems.push((
                    format!(
                        "{} has {field} `{value}`, which does not match `{}`",
                        ex.brief(),
                        re.as_str()
                    ),
                    vec![ex.seq],
                ));
            }
        }
        let scope = if self.params.unique_within == "scenario" {
            ex.scenario.as_str()
        } else {
            ""
        };
        let key = hash_of((scope, value.as_str()));
        let operation = hash_of(op);
        match self.seen.get_mut(&key) {
            Some(seen) => {
                let is_retry = self.params.allow_on_retry
                    && seen.last_failed
                    && seen.last_operation == operation;
                if !is_retry {
                    self.problems.push((
                        format!(
                            "{} repeats {field} `{value}` first sent in #{}",
                            ex.brief(),
                            seen.first
                        ),
                        vec![seen.first, ex.seq],
                    ));
                }
                seen.last_operation = operation;
                seen.last_failed = failed;
            }
            None => {
                self.seen.insert(
                    key,
                    Seen {
                        first: ex.seq,
                        last_operation: operation,
                        last_failed: failed,
                    },
                );
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        if self.checked == 0 {
            return vec![Finding::skip(
                "no request of the operations in scope was made",
            )];
        }
        if self.problems.is_empty() {
            return vec![Finding::pass(
                format!(
                    "{} requests, each with its own well-formed value",
                    self.checked
                ),
                vec![],
            )];
        }
        let messages: Vec<String> = self.problems.iter().map(|(m, _)| m.clone()).collect();
        let mut evidence: Vec<u64> = self
            .problems
            .iter()
            .take(6)
            .flat_map(|(_, e)| e.clone())
            .collect();
        evidence.sort_unstable();
        evidence.dedup();
        vec![Finding::fail(
            format!(
                "{} problem(s) in {} requests: {}",
                self.problems.len(),
                self.checked,
                super::list_some(&messages, 3)
            ),
            evidence,
        )]
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use crate::report::Outcome;
    use serde_json::json;

    fn req(pr: &str) -> ExchangeBuilder {
        api(
            "issue_token",
            "POST",
            "/i",
            &format!(r#"{{"partnerReference":"{pr}"}}"#),
        )
    }

    #[test]
    fn repeats_fail_unless_a_retry() {
        let params = json!({"field": "body:/partnerReference", "max_length": 64});
        let j = journal(vec![req("a"), req("b")]);
        assert_eq!(
            outcomes(&judge("unique_field", params.clone(), &j)),
            vec![Outcome::Passed]
        );
        let j = journal(vec![req("a"), req("a")]);
        let f = judge("unique_field", params.clone(), &j);
        assert_eq!(outcomes(&f), vec![Outcome::Failed]);
        assert_eq!(f[0].evidence, vec![1, 2]);
        let j = journal(vec![req("a").status(500), req("a")]);
        assert_eq!(
            outcomes(&judge("unique_field", params, &j)),
            vec![Outcome::Passed]
        );
    }

    #[test]
    fn two_requests_retried_at_once_each_repeat_after_their_own_failure() {
        let params = json!({"field": "body:/partnerReference"});
        let j = journal(vec![
            req("a").status(500),
            req("b").status(500),
            req("a"),
            req("b"),
        ]);
        let f = judge("unique_field", params.clone(), &j);
        assert_eq!(outcomes(&f), vec![Outcome::Passed], "{}", f[0].message);
        // A value repeated after its own *successful* attempt is a duplicate, whatever came
        // in between.
        let j = journal(vec![req("a"), req("b").status(500), req("a")]);
        let f = judge("unique_field", params.clone(), &j);
        assert_eq!(outcomes(&f), vec![Outcome::Failed]);
        assert_eq!(f[0].evidence, vec![1, 3]);
        // A third sending after the retry succeeded is one too many.
        let j = journal(vec![req("a").status(500), req("a"), req("a")]);
        let f = judge("unique_field", params, &j);
        assert_eq!(outcomes(&f), vec![Outcome::Failed]);
        assert_eq!(f[0].evidence, vec![1, 3]);
    }

    #[test]
    fn the_browsers_requests_count_when_the_suite_says_so() {
        let ewallet = || {
            api(
                "ewallet",
                "POST",
                "/ewallet",
                "partnerReference=a&merchantTransactionId=o1",
            )
            .actor(crate::journal::Actor::Browser)
        };
        let j = journal(vec![req("a"), ewallet()]);
        // By default only the integration's server is judged.
        assert_eq!(
            outcomes(&judge(
                "unique_field",
                json!({"field": "body:/partnerReference"}),
                &j
            )),
            vec![Outcome::Passed]
        );
        let params =
            json!({"field": "body:/partnerReference", "actors": ["integration", "browser"]});
        let f = judge("unique_field", params, &j);
        assert_eq!(outcomes(&f), vec![Outcome::Failed]);
        assert_eq!(f[0].evidence, vec![1, 2]);
    }

    #[test]
    fn missing_and_too_long_fail() {
        let params =
            json!({"field": ["body:/partnerReference", "query:partnerReference"], "max_length": 4});
        let j = journal(vec![api("x", "GET", "/s?partnerReference=abcdef", "")]);
        let f = judge("unique_field", params.clone(), &j);
        assert!(f[0].message.contains("6 characters"), "{}", f[0].message);
        let j = journal(vec![api("x", "GET", "/s", "")]);
        assert!(judge("unique_field", params, &j)[0]
            .message
            .contains("has no"));
    }
}
