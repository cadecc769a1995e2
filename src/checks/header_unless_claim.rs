//! `header_unless_claim`: a header is required on every call whose access token does not
//! carry a given claim (MobilePay: `x-mobilepay-merchant-vat-number` when the token has no
//! `merchant_vat` claim), and then exactly once and well-formed. `required_headers` cannot
//! say "unless": the sandbox notes the claims of the token each call used in
//! `facts.token_claims`. Only calls with a valid token are judged (an expired or unknown
//! token is `token_valid`'s business, and its claims are unknown).

use regex::Regex;
use serde::Deserialize;

use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Exchange, TokenState};

pub const KIND: Kind = Kind {
    name: "header_unless_claim",
    summary: "a header is on every call whose token lacks a claim, once and well-formed",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The header required (compared case-insensitively).
    header: String,
    /// The access token's claim that makes the header unnecessary.
    unless_claim: String,
    /// A regex the header's value must match.
    #[serde(default)]
    pattern: Option<String>,
    /// Operations not judged (the token endpoint).
    #[serde(default)]
    except: Vec<String>,
}

struct HeaderUnlessClaim {
    params: Params,
    pattern: Option<Regex>,
    with_claim: usize,
    without_claim: usize,
    bad: Vec<(String, u64)>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    let pattern = super::pattern(&params.pattern)?;
    Ok(Box::new(HeaderUnlessClaim {
        params,
        pattern,
        with_claim: 0,
        without_claim: 0,
        bad: Vec::new(),
    }))
}

impl Rule for HeaderUnlessClaim {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if self.params.except.iter().any(|e| e == op) {
            return;
        }
        if ex.facts.token_used.as_ref().map(|t| t.state) != Some(TokenState::Valid) {
            return;
        }
        let has_claim = ex.facts.token_claims.contains(&self.params.unless_claim);
        if has_claim {
            self.with_claim += 1;
            return;
        }
        self.without_claim += 1;
        let values: Vec<&str> = ex.request_headers(&self.params.header).collect();
        let problem = match values.as_slice() {
            [] => Some(format!("no `{}`", self.params.header)),
            [v] => self
                .pattern
                .as_ref()
                .filter(|re| !re.is_match(v))
                .map(|re| {
                    format!(
                        "`{}: {v}` does not match `{}`",
                        self.params.header,
                        re.as_str()
                    )
                }),
            many => Some(format!("`{}` {} times", self.params.header, many.len())),
        };
        if let Some(p) = problem {
            self.bad.push((
                format!(
                    "{} (token without `{}`): {p}",
                    ex.brief(),
                    self.params.unless_claim
                ),
                ex.seq,
            ));
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let failed = (!self.bad.is_empty()).then(|| {
            super::fail_requests(
                &self.bad,
                self.without_claim,
                "call(s) without the claim broke the rule",
            )
        });
        super::verdict(
            self.with_claim + self.without_claim,
            "no call with a valid token was made",
            failed,
            || {
                Finding::pass(
                    format!(
                        "{} call(s) with a `{}` claim on the token; {} without it, each with `{}`",
                        self.with_claim,
                        self.params.unless_claim,
                        self.without_claim,
                        self.params.header
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
    use crate::journal::TokenState;
    use serde_json::json;

    fn vat() -> Check {
        check(
            "header_unless_claim",
            json!({"header": "x-mobilepay-merchant-vat-number", "unless_claim": "merchant_vat", "pattern": "^(DK|FI)[0-9]{8}$"}),
        )
    }
    fn call(claim: bool) -> ExchangeBuilder {
        api("payment_poll", "GET", "/p", "")
            .token(TokenState::Valid)
            .facts(move |f| {
                if claim {
                    f.token_claims = vec!["merchant_vat".into()];
                }
            })
    }

    #[test]
    fn either_the_claim_or_the_header_passes() {
        vat()
            .on(vec![
                call(true),
                call(false).header("X-MobilePay-Merchant-VAT-Number", "DK12345678"),
            ])
            .passed();
    }

    #[test]
    fn neither_or_a_bad_header_fails() {
        vat().on(vec![call(false)]).failed();
        vat()
            .on(vec![
                call(false).header("x-mobilepay-merchant-vat-number", "SE1")
            ])
            .failed();
    }
}
