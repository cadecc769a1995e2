//! `assertion`: a team's own rule without writing Rust. A selector picks recorded exchanges;
//! `count` bounds how many there are; every selected exchange must satisfy each of `expect`.
//!
//! ```yaml
//! kind: assertion
//! params:
//!   select: { operation: payment_status, actor: integration }
//!   per_scenario: true
//!   count: { min: 1 }
//!   expect:
//!     - status_in: [200]
//!     - request: { field: "query:partnerReference", pattern: "^[A-Za-z0-9_-]{1,64}$" }
//!     - response: { pointer: /responseCode, equals: "0000" }
//!     - max_duration_ms: 2000
//! ```

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::field::{as_text, Field};
use super::scope::PerScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Direction, Entry, Exchange};

pub const KIND: Kind = Kind {
    name: "assertion",
    summary:
        "a selector over recorded exchanges, a count and predicates every selected one must meet",
    build,
};

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// Which recorded exchanges the rule judges (every one by default).
    #[serde(default)]
    select: Select,
    /// Whether each scenario is judged apart (its own verdict and `count`) rather than the
    /// whole run at once.
    #[serde(default)]
    per_scenario: bool,
    /// How many exchanges the selector must find.
    #[serde(default)]
    count: Option<Count>,
    /// What every selected exchange must meet, each predicate one mapping with one key.
    #[serde(default)]
    expect: Vec<Predicate>,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Select {
    /// Only requests of this sender.
    actor: Option<Actor>,
    /// Only exchanges going this way.
    direction: Option<Direction>,
    /// Exact role, or a prefix ending in `*` (`trigger:*`).
    role: Option<String>,
    /// Only calls of this provider operation.
    operation: Option<String>,
    /// Only requests of this HTTP method (compared case-insensitively).
    method: Option<String>,
    /// A regex on the path.
    path: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Count {
    /// At least this many.
    min: Option<usize>,
    /// At most this many.
    max: Option<usize>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Predicate {
    /// The answer's HTTP status is one of these.
    StatusIn(Vec<u16>),
    /// A request header is present (or absent), and matches a pattern.
    Header(HeaderPredicate),
    /// A field of the request is present (or absent), and matches or equals a value.
    Request(FieldPredicate),
    /// A value in the JSON answer is present (or absent), and matches or equals a value.
    Response(PointerPredicate),
    /// The answer took at most this many milliseconds.
    MaxDurationMs(f64),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct HeaderPredicate {
    /// The header's name (compared case-insensitively).
    name: String,
    /// A regex its value must match.
    #[serde(default)]
    pattern: Option<String>,
    /// `false`: the header must be absent.
    #[serde(default = "yes")]
    present: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FieldPredicate {
    /// Where the value is in the request.
    field: Field,
    /// A regex its value must match.
    #[serde(default)]
    pattern: Option<String>,
    /// The value it must equal (text compares with the value as written).
    #[serde(default)]
    equals: Option<Value>,
    /// `false`: the field must be absent.
    #[serde(default = "yes")]
    present: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PointerPredicate {
    /// A JSON pointer into the answer's body (`/responseCode`).
    pointer: String,
    /// A regex its value must match.
    #[serde(default)]
    pattern: Option<String>,
    /// The value it must equal (text compares with the value as written).
    #[serde(default)]
    equals: Option<Value>,
    /// `false`: the answer must not have it.
    #[serde(default = "yes")]
    present: bool,
}

fn yes() -> bool {
    true
}

#[derive(Default)]
struct Scenario {
    selected: Vec<u64>,
    bad: Vec<(String, u64)>,
}

struct Assertion {
    params: Params,
    path_re: Option<Regex>,
    patterns: Vec<Option<Regex>>,
    scenarios: PerScenario<Scenario>,
}

fn regex(p: &Option<String>) -> Result<Option<Regex>, String> {
    p.as_deref()
        .map(|p| Regex::new(p).map_err(|e| format!("`{p}` is not a regex: {e}")))
        .transpose()
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    let path_re = regex(&params.select.path)?;
    let patterns = params
        .expect
        .iter()
        .map(|p| match p {
            Predicate::Header(h) => regex(&h.pattern),
            Predicate::Request(f) => regex(&f.pattern),
            Predicate::Response(r) => regex(&r.pattern),
            _ => Ok(None),
        })
        .collect::<Result<_, _>>()?;
    Ok(Box::new(Assertion {
        params,
        path_re,
        patterns,
        scenarios: PerScenario::default(),
    }))
}

fn value_matches(v: &Value, pattern: &Option<Regex>, equals: &Option<Value>) -> Option<String> {
    if let Some(want) = equals {
        let same = match (want, v) {
            (Value::String(a), b) => *a == as_text(b),
            (a, b) => a == b,
        };
        if !same {
            return Some(format!("is {v}, expected {want}"));
        }
    }
    if let Some(re) = pattern {
        if !re.is_match(&as_text(v)) {
            return Some(format!("is {v}, which does not match `{}`", re.as_str()));
        }
    }
    None
}

impl Assertion {
    fn selects(&self, ex: &Exchange) -> bool {
        let s = &self.params.select;
        s.actor.is_none_or(|a| a == ex.actor)
            && s.direction.is_none_or(|d| d == ex.direction)
            && s.role.as_deref().is_none_or(|r| match r.strip_suffix('*') {
                Some(prefix) => ex.role.starts_with(prefix),
                None => ex.role == r,
            })
            && s.operation
                .as_deref()
                .is_none_or(|o| ex.operation() == Some(o))
            && s.method
                .as_deref()
                .is_none_or(|m| ex.request.method.eq_ignore_ascii_case(m))
            && self
                .path_re
                .as_ref()
                .is_none_or(|re| re.is_match(ex.path()))
    }

    fn problems(&self, ex: &Exchange) -> Vec<String> {
        let mut out = Vec::new();
        for (p, re) in self.params.expect.iter().zip(&self.patterns) {
            match p {
                Predicate::StatusIn(codes) => match ex.status() {
                    Some(s) if codes.contains(&s) => {}
                    Some(s) => out.push(format!("status {s}, expected one of {codes:?}")),
                    None => out.push(format!(
                        "no answer ({})",
                        ex.error.as_deref().unwrap_or("none")
                    )),
                },
                Predicate::Header(h) => {
                    let v = ex.request_header(&h.name);
                    match (v, h.present) {
                        (None, true) => out.push(format!("no `{}` header", h.name)),
                        (Some(_), false) => out.push(format!("a `{}` header", h.name)),
                        (Some(v), true) => {
                            if let Some(p) = value_matches(&Value::String(v.into()), re, &None) {
                                out.push(format!("`{}` {p}", h.name));
                            }
                        }
                        (None, false) => {}
                    }
                }
                Predicate::Request(f) => match (f.field.get(ex), f.present) {
                    (None, true) => out.push(format!("no {}", f.field)),
                    (Some(_), false) => out.push(format!("{} is present", f.field)),
                    (Some(v), true) => {
                        if let Some(p) = value_matches(&Value::String(v), re, &f.equals) {
                            out.push(format!("{} {p}", f.field));
                        }
                    }
                    (None, false) => {}
                },
                Predicate::Response(r) => {
                    let v = ex
                        .response_json()
                        .and_then(|j| j.pointer(&r.pointer).cloned());
                    match (v, r.present) {
                        (None, true) => out.push(format!("the answer has no `{}`", r.pointer)),
                        (Some(_), false) => out.push(format!("the answer has `{}`", r.pointer)),
                        (Some(v), true) => {
                            if let Some(p) = value_matches(&v, re, &r.equals) {
                                out.push(format!("the answer's `{}` {p}", r.pointer));
                            }
                        }
                        (None, false) => {}
                    }
                }
                Predicate::MaxDurationMs(ms) => {
                    if ex.duration_ms > *ms {
                        out.push(format!("took {:.0} ms (at most {ms:.0})", ex.duration_ms));
                    }
                }
            }
        }
        out
    }
}

impl Rule for Assertion {
    /// Predicates hold exchange by exchange, and a count is over the whole run: the journal is
    /// judged at once, whatever lane an exchange went through.
    fn lanes_apart(&self) -> bool {
        false
    }
    fn observe(&mut self, entry: &Entry) {
        let scenario_key = |s: &str, per: bool| if per { s.to_owned() } else { String::new() };
        match entry {
            Entry::ScenarioStart(s) if self.params.per_scenario => {
                self.scenarios.get(&s.scenario);
            }
            Entry::Exchange(ex) if self.selects(ex) => {
                let problems = self.problems(ex);
                let key = scenario_key(&ex.scenario, self.params.per_scenario);
                let s = self.scenarios.get(&key);
                s.selected.push(ex.seq);
                if !problems.is_empty() {
                    s.bad
                        .push((format!("{}: {}", ex.brief(), problems.join(", ")), ex.seq));
                }
            }
            _ => {}
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let per = self.params.per_scenario;
        let count = self.params.count;
        let mut scenarios: Vec<(String, Scenario)> = self.scenarios.into_iter().collect();
        if !per && scenarios.is_empty() {
            scenarios.push((String::new(), Scenario::default()));
        }
        let mut findings = Vec::new();
        for (scenario, s) in scenarios {
            if per && scenario.is_empty() {
                continue;
            }
            let n = s.selected.len();
            let mut problems: Vec<String> = Vec::new();
            if let Some(c) = &count {
                if let Some(min) = c.min {
                    if n < min {
                        problems.push(format!("{n} matching exchange(s), expected at least {min}"));
                    }
                }
                if let Some(max) = c.max {
                    if n > max {
                        problems.push(format!("{n} matching exchange(s), expected at most {max}"));
                    }
                }
            }
            problems.extend(s.bad.iter().map(|(m, _)| m.clone()));
            let f = if problems.is_empty() {
                if n == 0 && count.is_none() {
                    Finding::skip("no exchange matched the selector")
                } else {
                    Finding::pass(
                        format!("{n} matching exchange(s), all as expected"),
                        s.selected.into_iter().take(10).collect(),
                    )
                }
            } else {
                let evidence = if s.bad.is_empty() {
                    s.selected
                } else {
                    s.bad.iter().map(|(_, q)| *q).collect()
                };
                Finding::fail(
                    super::list_some(&problems, 3),
                    evidence.into_iter().take(10).collect(),
                )
            };
            findings.push(if per { f.in_scenario(&scenario) } else { f });
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use crate::report::Outcome;
    use serde_json::json;

    #[test]
    fn selects_counts_and_predicates() {
        let k = check(
            "assertion",
            json!({
                "select": {"operation": "payment_status"},
                "count": {"min": 1},
                "expect": [{"status_in": [200]}, {"response": {"pointer": "/responseCode", "equals": "0000"}}]
            }),
        );
        let good =
            api("payment_status", "GET", "/p", "").response_body(r#"{"responseCode":"0000"}"#);
        k.on(vec![good]).passed();
        let bad = api("payment_status", "GET", "/p", "")
            .status(500)
            .response_body(r#"{"responseCode":"0099"}"#);
        k.on(vec![bad]).failed().says("status 500").says("\"0099\"");
        let none = api("issue_token", "POST", "/i", "");
        k.on(vec![none]).says("expected at least 1");
    }

    #[test]
    fn per_scenario_judges_each() {
        let params =
            json!({"select": {"role": "trigger:*"}, "per_scenario": true, "count": {"max": 1}});
        let t = |s: &str| harness("trigger:start_payment", "POST", "/c").scenario(s);
        let f = check("assertion", params).on(vec![t("a"), t("b"), t("b")]);
        f.expect(&[Outcome::Passed, Outcome::Failed]);
        assert_eq!(f[1].scenario.as_deref(), Some("b"));
    }
}
