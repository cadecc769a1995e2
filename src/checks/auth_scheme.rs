//! `auth_scheme`: every API call authenticates with one of the allowed schemes, and the
//! integration sticks to one. A merchant account is set up for Basic or for Bearer (SmartPay:
//! "When Basic authentication scheme is configured..."); an integration that mixes them works
//! against a lenient sandbox and breaks against the account it goes live with. Judged over
//! the whole run.

use serde::Deserialize;

use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "auth_scheme",
    summary:
        "every API call carries an Authorization of an allowed scheme, the same scheme throughout",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Params {
    /// Allowed schemes (compared case-insensitively).
    schemes: Vec<String>,
    /// Operations that authenticate otherwise (the token endpoint).
    except: Vec<String>,
    /// Whether one scheme must be used throughout.
    consistent: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            schemes: vec!["Basic".into(), "Bearer".into()],
            except: Vec::new(),
            consistent: true,
        }
    }
}

struct AuthScheme {
    params: Params,
    first: Option<(String, u64)>,
    checked: usize,
    problems: Vec<(String, Vec<u64>)>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    Ok(Box::new(AuthScheme {
        params: ctx.params()?,
        first: None,
        checked: 0,
        problems: Vec::new(),
    }))
}

impl Rule for AuthScheme {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if op == "unknown" || self.params.except.iter().any(|e| e == op) {
            return;
        }
        self.checked += 1;
        let scheme = ex
            .request_header("authorization")
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_owned);
        let Some(scheme) = scheme else {
            self.problems.push((
                format!("{} carries no Authorization", ex.brief()),
                vec![ex.seq],
            ));
            return;
        };
        let Some(allowed) = self
            .params
            .schemes
            .iter()
            .find(|s| s.eq_ignore_ascii_case(&scheme))
        else {
            self.problems.push((
                format!(
                    "{} authenticates with `{scheme}`; expected {}",
                    ex.brief(),
                    self.params.schemes.join(" or ")
                ),
                vec![ex.seq],
            ));
            return;
        };
        match &self.first {
            None => self.first = Some((allowed.clone(), ex.seq)),
            Some((first, seq)) if self.params.consistent && first != allowed => self.problems.push((
                format!("{} authenticates with {allowed}, but #{seq} used {first}: the account is set up for one scheme", ex.brief()),
                vec![*seq, ex.seq],
            )),
            Some(_) => {}
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let failed = (!self.problems.is_empty()).then(|| {
            super::fail_with_problems(&self.problems, self.checked, "API calls broke the rule", 6)
        });
        super::verdict(
            self.checked,
            "the integration made no authenticated API call",
            failed,
            || {
                let scheme = self.first.map(|(s, _)| s).unwrap_or_default();
                Finding::pass(
                    format!("all {} API calls authenticated with {scheme}", self.checked),
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

    fn call(auth: &str) -> ExchangeBuilder {
        api("payment_status", "GET", "/payment/status/T", "").header("Authorization", auth)
    }

    #[test]
    fn one_scheme_throughout_passes_whichever_it_is() {
        let token = api(
            "oauth_token",
            "POST",
            "/oauth2/token",
            "grant_type=client_credentials",
        );
        check("auth_scheme", json!({"except": ["oauth_token"]}))
            .on(vec![token, call("Bearer a.b.c"), call("bearer a.b.c")])
            .passed();
        check("auth_scheme", json!({}))
            .on(vec![call("Basic eDp5"), call("Basic eDp5")])
            .passed();
    }

    #[test]
    fn mixing_schemes_or_none_fails() {
        let strict = check("auth_scheme", json!({}));
        strict
            .on(vec![call("Bearer a.b.c"), call("Basic eDp5")])
            .failed()
            .evidence(&[1, 2]);
        strict
            .on(vec![
                api("payment_status", "GET", "/p", ""),
                call("Digest x"),
            ])
            .says("no Authorization")
            .says("Digest");
        // Without `consistent`, mixing is allowed.
        check("auth_scheme", json!({"consistent": false}))
            .on(vec![call("Bearer a.b.c"), call("Basic eDp5")])
            .passed();
    }
}
