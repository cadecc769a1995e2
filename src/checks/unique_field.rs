//! `unique_field`: a field (partnerReference, an idempotency key...) is present on every
//! request that should carry it, well-formed, and not repeated across requests. A retry of a
//! failed request may repeat it (the same request, sent again).
//!
//! A retry is the same value repeated after *its own* failed attempt, even when other requests
//! of the operation came in between: an integration retrying two events at once (A fails,
//! B fails, A again, B again) repeats each value after its own failure, which is right.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use regex::Regex;
use serde::Deserialize;

use super::field::{first_of, Fields};
use super::{hash_of, BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Exchange};

pub const KIND: Kind = Kind {
    name: "unique_field",
    summary:
        "a field is present, well-formed and different on every request (retries may repeat it)",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// Where the field is; the first locator with a value counts.
    field: Fields,
    /// Only requests of these operations (default: every API call of the integration).
    #[serde(default)]
    operations: Option<Vec<String>>,
    /// Whether every request in scope must carry the field (else only those that do are judged).
    #[serde(default = "yes")]
    required: bool,
    /// The longest value allowed, in characters.
    #[serde(default)]
    max_length: Option<usize>,
    /// A regex every value must match.
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

/// The `seen` map's keys are hashes already: hashing them again (SipHash) was a good part of
/// what this rule cost a request.
#[derive(Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
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
    /// of a million requests would otherwise hold a million strings. (Two of a million values
    /// sharing a hash is about a 1-in-37-million event.)
    seen: HashMap<u64, Seen, BuildHasherDefault<Prehashed>>,
    checked: usize,
    problems: Vec<(String, Vec<u64>)>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    let pattern = super::pattern(&params.pattern)?;
    if params.unique_within != "run" && params.unique_within != "scenario" {
        return Err("`unique_within` must be `run` or `scenario`".into());
    }
    Ok(Box::new(UniqueField {
        params,
        pattern,
        seen: HashMap::default(),
        checked: 0,
        problems: Vec::new(),
    }))
}

impl Rule for UniqueField {
    fn exchange(&mut self, ex: &Exchange) {
        if !self.params.actors.contains(&ex.actor) {
            return;
        }
        let Some(op) = ex.operation() else { return };
        if op == "unknown" {
            return;
        }
        if !super::in_scope(&self.params.operations, op) {
            return;
        }
        self.checked += 1;
        let fields = self.params.field.list();
        let failed = !ex.succeeded();
        let Some((value, field)) = first_of(fields, ex) else {
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
        let form = (self.params.max_length, self.pattern.as_ref());
        for p in super::malformed(&value, form, field, field) {
            self.problems
                .push((format!("{} has {p}", ex.brief()), vec![ex.seq]));
        }
        let scope = if self.params.unique_within == "scenario" {
            ex.scenario.as_str()
        } else {
            ""
        };
        let key = hash_of((scope, &*value));
        let operation = hash_of(op);
        // One look-up for both cases: a look-up, then an insert, probed the table twice.
        match self.seen.entry(key) {
            Entry::Occupied(mut seen) => {
                let seen = seen.get_mut();
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
            Entry::Vacant(place) => {
                place.insert(Seen {
                    first: ex.seq,
                    last_operation: operation,
                    last_failed: failed,
                });
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let failed = (!self.problems.is_empty()).then(|| {
            Finding::fail(
                format!(
                    "{} problem(s) in {} requests: {}",
                    self.problems.len(),
                    self.checked,
                    super::listed(&self.problems)
                ),
                super::evidence_of(&self.problems, 6, usize::MAX),
            )
        });
        super::verdict(
            self.checked,
            "no request of the operations in scope was made",
            failed,
            || {
                Finding::pass(
                    format!(
                        "{} requests, each with its own well-formed value",
                        self.checked
                    ),
                    vec![],
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn req(pr: &str) -> ExchangeBuilder {
        api("issue_token", "POST", "/i", "").json(json!({"partnerReference": pr}))
    }

    #[test]
    fn repeats_fail_unless_a_retry() {
        let k = check(
            "unique_field",
            json!({"field": "body:/partnerReference", "max_length": 64}),
        );
        k.on(vec![req("a"), req("b")]).passed();
        k.on(vec![req("a"), req("a")]).failed().evidence(&[1, 2]);
        k.on(vec![req("a").status(500), req("a")]).passed();
    }

    #[test]
    fn two_requests_retried_at_once_each_repeat_after_their_own_failure() {
        let k = check("unique_field", json!({"field": "body:/partnerReference"}));
        k.on(vec![
            req("a").status(500),
            req("b").status(500),
            req("a"),
            req("b"),
        ])
        .passed();
        // A value repeated after its own *successful* attempt is a duplicate, whatever came
        // in between.
        k.on(vec![req("a"), req("b").status(500), req("a")])
            .failed()
            .evidence(&[1, 3]);
        // A third sending after the retry succeeded is one too many.
        k.on(vec![req("a").status(500), req("a"), req("a")])
            .failed()
            .evidence(&[1, 3]);
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
        // By default only the integration's server is judged.
        check("unique_field", json!({"field": "body:/partnerReference"}))
            .on(vec![req("a"), ewallet()])
            .passed();
        let params =
            json!({"field": "body:/partnerReference", "actors": ["integration", "browser"]});
        check("unique_field", params)
            .on(vec![req("a"), ewallet()])
            .failed()
            .evidence(&[1, 2]);
    }

    #[test]
    fn missing_and_too_long_fail() {
        let k = check(
            "unique_field",
            json!({"field": ["body:/partnerReference", "query:partnerReference"], "max_length": 4}),
        );
        k.on(vec![api("x", "GET", "/s?partnerReference=abcdef", "")])
            .says("6 characters");
        k.on(vec![api("x", "GET", "/s", "")]).says("has no");
    }
}
