//! `required_headers`: the headers an API requires are on every call, well-formed, and (where
//! the API says so) exactly once. Names compare case-insensitively, as HTTP says.

use regex::Regex;
use serde::Deserialize;

use super::pattern::Pattern;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "required_headers",
    summary: "required headers are present, well-formed and not repeated",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The headers every call in scope must carry.
    headers: Vec<HeaderRule>,
    /// Only these operations (default: every API call except those in `except`).
    #[serde(default)]
    operations: Option<Vec<String>>,
    /// Operations that need not carry them (the token endpoint).
    #[serde(default)]
    except: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct HeaderRule {
    /// The header's name (compared case-insensitively).
    name: String,
    /// The value must match this regex (e.g. `^application/json` for Content-Type).
    #[serde(default)]
    pattern: Option<String>,
    /// The header must appear exactly once.
    #[serde(default)]
    exactly_once: bool,
    /// Required only on requests with a body (Content-Type on a GET is not).
    #[serde(default)]
    only_with_body: bool,
}

struct RequiredHeaders {
    params: Params,
    patterns: Vec<Option<Pattern>>,
    requests: super::Requests,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    let patterns = params
        .headers
        .iter()
        .map(|h| match &h.pattern {
            Some(p) => Regex::new(p)
                .map(|re| Some(Pattern::new(re)))
                .map_err(|e| format!("pattern of `{}` is not a regex: {e}", h.name)),
            None => Ok(None),
        })
        .collect::<Result<_, _>>()?;
    Ok(Box::new(RequiredHeaders {
        params,
        patterns,
        requests: Default::default(),
    }))
}

impl Rule for RequiredHeaders {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if op == "unknown" || self.params.except.iter().any(|e| e == op) {
            return;
        }
        if !super::in_scope(&self.params.operations, op) {
            return;
        }
        self.requests.checked += 1;
        let mut problems = Vec::new();
        for (rule, pattern) in self.params.headers.iter().zip(&mut self.patterns) {
            if rule.only_with_body && ex.request.body.size == 0 {
                continue;
            }
            // Counted, then read again, not collected: this runs for every request.
            let count = ex.request_headers(&rule.name).count();
            if count == 0 {
                problems.push(format!("no `{}`", rule.name));
                continue;
            }
            if rule.exactly_once && count > 1 {
                problems.push(format!("`{}` {count} times", rule.name));
            }
            if let Some(re) = pattern {
                for v in ex.request_headers(&rule.name) {
                    if !re.is_match(v) {
                        problems.push(format!(
                            "`{}: {v}` does not match `{}`",
                            rule.name,
                            re.as_str()
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            self.requests.broke(ex.seq, || {
                format!("{}: {}", ex.brief(), problems.join(", "))
            });
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let names: Vec<&str> = self
            .params
            .headers
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        self.requests.verdict(
            "no request of the operations in scope was made",
            format!(
                "{} requests carried {}",
                self.requests.checked,
                names.join(", ")
            ),
            "requests broke the header rules",
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    #[test]
    fn headers_compare_case_insensitively_and_count() {
        let k = check(
            "required_headers",
            json!({"headers": [
                {"name": "X-Auth-Token"},
                {"name": "Accept-Language", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"},
                {"name": "x-version", "exactly_once": true}
            ]}),
        );
        let good = api("s", "GET", "/p", "")
            .header("x-auth-token", "t")
            .header("accept-language", "en-US")
            .header("X-Version", "1.0.0");
        k.on(vec![good]).passed();
        let bad = api("s", "GET", "/p", "")
            .header("Accept-Language", "english")
            .header("x-version", "1")
            .header("x-version", "2");
        k.on(vec![bad])
            .failed()
            .says("no `X-Auth-Token`")
            .says("2 times")
            .says("english");
    }
}
