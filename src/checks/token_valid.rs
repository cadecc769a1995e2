//! `token_valid`: every authenticated call carries a token the provider issued and that has
//! not expired. Short token lifetimes in a scenario exist to test exactly this rule.

use serde::Deserialize;

use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Exchange, TokenState};

pub const KIND: Kind = Kind {
    name: "token_valid",
    summary: "no call carries an expired, unknown or missing token",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Params {
    /// Which token states fail the rule.
    fail_on: Vec<TokenState>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            fail_on: vec![
                TokenState::Expired,
                TokenState::Unknown,
                TokenState::Missing,
            ],
        }
    }
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    Ok(Box::new(super::ByRequest::<Params>::new(ctx.params()?)))
}

fn state_words(s: TokenState) -> &'static str {
    match s {
        TokenState::Valid => "a valid token",
        TokenState::Expired => "an expired token",
        TokenState::Unknown => "a token the provider never issued",
        TokenState::Missing => "no token",
    }
}

impl Rule for super::ByRequest<Params> {
    fn exchange(&mut self, ex: &Exchange) {
        if ex.actor != Actor::Integration {
            return;
        }
        let Some(used) = &ex.facts.token_used else {
            return;
        };
        self.requests.checked += 1;
        if self.params.fail_on.contains(&used.state) {
            let late = match (used.state, used.remaining_s) {
                (TokenState::Expired, Some(r)) => format!(" ({:.1} s after it expired)", -r),
                _ => String::new(),
            };
            self.requests.broke(ex.seq, || {
                format!("{} sent {}{late}", ex.brief(), state_words(used.state))
            });
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        self.requests.verdict(
            "no authenticated call was made",
            format!(
                "all {} authenticated calls carried a valid token",
                self.requests.checked
            ),
            "authenticated calls carried a bad token",
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use crate::journal::{TokenState, TokenUse};
    use serde_json::json;

    fn call(state: TokenState) -> ExchangeBuilder {
        api("payment_status", "GET", "/p", "").facts(move |f| {
            f.token_used = Some(TokenUse {
                fingerprint: None,
                state,
                remaining_s: Some(-3.0),
            })
        })
    }

    #[test]
    fn expired_tokens_fail_and_valid_ones_pass() {
        let k = check("token_valid", json!({}));
        k.on(vec![call(TokenState::Valid), call(TokenState::Expired)])
            .failed()
            .evidence(&[2])
            .says("3.0 s after it expired");
        k.on(vec![call(TokenState::Valid)]).passed();
    }

    #[test]
    fn only_the_integration_is_judged() {
        // The harness's own browser carries no token; that is not the integration's doing.
        check("token_valid", json!({}))
            .on(vec![
                call(TokenState::Missing).actor(crate::journal::Actor::Browser)
            ])
            .skipped();
    }
}
