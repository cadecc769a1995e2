//! `auth_scheme`: every API call authenticates with one of the allowed schemes, and the
//! integration sticks to one. A merchant account is set up for Basic or for Bearer (SmartPay:
//! "When Basic authentication scheme is configured..."); an integration that mixes them works
//! against a lenient sandbox and breaks against the account it goes live with. Judged over
//! the whole run.

use serde::Deserialize;

use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Entry};

pub const KIND: Kind = Kind {
    name: "auth_scheme",
    summary:
        "every API call carries an Authorization of an allowed scheme, the same scheme throughout",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
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
    fn observe(&mut self, entry: &Entry) {
        let Entry::Exchange(ex) = entry else { return };
        if ex.actor != Actor::Integration {
            return;
        }
        let Some(op) = ex.operation() else { return };
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
        if self.checked == 0 {
            return vec![Finding::skip(
                "the integration made no authenticated API call",
            )];
        }
        if self.problems.is_empty() {
            let scheme = self.first.map(|(s, _)| s).unwrap_or_default();
            return vec![Finding::pass(
                format!("all {} API calls authenticated with {scheme}", self.checked),
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
                "{} of {} API calls broke the rule: {}",
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
        let j = journal(vec![token, call("Bearer a.b.c"), call("bearer a.b.c")]);
        assert_eq!(
            outcomes(&judge(
                "auth_scheme",
                json!({"except": ["oauth_token"]}),
                &j
            )),
            vec![Outcome::Passed]
        );
        let j = journal(vec![call("Basic eDp5"), call("Basic eDp5")]);
        assert_eq!(
            outcomes(&judge("auth_scheme", json!({}), &j)),
            vec![Outcome::Passed]
        );
    }

    #[test]
    fn mixing_schemes_or_none_fails() {
        let j = journal(vec![call("Bearer a.b.c"), call("Basic eDp5")]);
        let f = judge("auth_scheme", json!({}), &j);
        assert_eq!(outcomes(&f), vec![Outcome::Failed]);
        assert_eq!(f[0].evidence, vec![1, 2]);
        let j = journal(vec![
            api("payment_status", "GET", "/p", ""),
            call("Digest x"),
        ]);
        let f = judge("auth_scheme", json!({}), &j);
        assert!(
            f[0].message.contains("no Authorization") && f[0].message.contains("Digest"),
            "{}",
            f[0].message
        );
        // Without `consistent`, mixing is allowed.
        let j = journal(vec![call("Bearer a.b.c"), call("Basic eDp5")]);
        assert_eq!(
            outcomes(&judge("auth_scheme", json!({"consistent": false}), &j)),
            vec![Outcome::Passed]
        );
    }
}
