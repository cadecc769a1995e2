//! `token_reuse`: an access token is reused until shortly before it expires, not fetched per
//! call. Judged over the whole run (a token outlives scenarios), and only where the token's
//! lifetime is realistic: well-known OAuth clients renew up to a minute early, so with a
//! lifetime of seconds a good client fetches per call (see "Judging fairly").

use serde::Deserialize;

use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "token_reuse",
    summary: "a new token is fetched only when the last one had used up most of its validity",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Params {
    /// Tokens with a shorter lifetime are not judged.
    min_lifetime_s: f64,
    /// A renewal while the previous token still had more than this share of its lifetime
    /// left is a token fetched too early.
    max_remaining_share: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_lifetime_s: 60.0,
            max_remaining_share: 0.5,
        }
    }
}

struct Issued {
    seq: u64,
    lifetime_s: f64,
    expires_at_ms: f64,
    uses: usize,
    first_use_seq: Option<u64>,
}

struct TokenReuse {
    params: Params,
    last: Option<Issued>,
    issued: usize,
    judged: usize,
    violations: Vec<(String, Vec<u64>)>,
    evidence_ok: Vec<u64>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    if !(0.0..=1.0).contains(&params.max_remaining_share) {
        return Err("`max_remaining_share` must be between 0 and 1".into());
    }
    Ok(Box::new(TokenReuse {
        params,
        last: None,
        issued: 0,
        judged: 0,
        violations: Vec::new(),
        evidence_ok: Vec::new(),
    }))
}

impl Rule for TokenReuse {
    fn exchange(&mut self, ex: &Exchange) {
        if let Some(used) = &ex.facts.token_used {
            if let (Some(last), Some(_)) = (&mut self.last, &used.fingerprint) {
                last.uses += 1;
                last.first_use_seq.get_or_insert(ex.seq);
            }
        }
        let Some(new) = &ex.facts.token_issued else {
            return;
        };
        // A token request that failed issues nothing.
        if !ex.succeeded() {
            return;
        }
        self.issued += 1;
        if let Some(prev) = &self.last {
            if prev.lifetime_s >= self.params.min_lifetime_s {
                self.judged += 1;
                let remaining_s = (prev.expires_at_ms - ex.at_ms) / 1000.0;
                let share = remaining_s / prev.lifetime_s;
                if share > self.params.max_remaining_share {
                    let mut evidence = vec![prev.seq];
                    evidence.extend(prev.first_use_seq);
                    evidence.push(ex.seq);
                    self.violations.push((
                        format!(
                            "#{} fetched a new token while the one from #{} still had {:.0} s of {:.0} s left ({} call(s) made with it)",
                            ex.seq,
                            prev.seq,
                            remaining_s.max(0.0),
                            prev.lifetime_s,
                            prev.uses
                        ),
                        evidence,
                    ));
                } else if self.evidence_ok.len() < 6 {
                    self.evidence_ok.extend([prev.seq, ex.seq]);
                }
            }
        } else {
            self.evidence_ok.push(ex.seq);
        }
        self.last = Some(Issued {
            seq: ex.seq,
            lifetime_s: new.lifetime_s,
            expires_at_ms: new.expires_at_ms,
            uses: 0,
            first_use_seq: None,
        });
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        if self.issued == 0 {
            // Nothing to judge: an integration that never asks for a token fails the rules
            // about the calls it did not make, not this one.
            return vec![Finding::skip("the integration never obtained a token")];
        }
        if !self.violations.is_empty() {
            return vec![super::fail_with_problems(
                &self.violations,
                self.judged,
                "token renewals came too early (token per call)",
                5,
            )];
        }
        let mut evidence = self.evidence_ok;
        evidence.sort_unstable();
        evidence.dedup();
        vec![Finding::pass(
            format!(
                "{} token(s) fetched; every renewal of a token with a realistic lifetime came when it had at most {:.0}% of its validity left ({} renewal(s) judged)",
                self.issued,
                self.params.max_remaining_share * 100.0,
                self.judged
            ),
            evidence,
        )]
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use crate::journal::{IssuedToken, TokenState};
    use serde_json::json;

    fn issue(at: f64, lifetime: f64) -> ExchangeBuilder {
        api("issue_token", "POST", "/user/u/issue", "{}")
            .at(at)
            .facts(move |f| {
                f.token_issued = Some(IssuedToken {
                    fingerprint: format!("fp:{at}"),
                    lifetime_s: lifetime,
                    expires_at_ms: at + lifetime * 1000.0,
                })
            })
    }
    fn call(at: f64) -> ExchangeBuilder {
        api("payment_status", "GET", "/payment/x/status", "")
            .at(at)
            .token(TokenState::Valid)
    }
    fn reuse() -> Check {
        check("token_reuse", json!({}))
    }

    #[test]
    fn a_token_per_call_fails() {
        reuse()
            .on(vec![
                issue(0.0, 600.0),
                call(10.0),
                issue(20.0, 600.0),
                call(30.0),
            ])
            .failed()
            .evidence(&[1, 2, 3])
            .says("600 s");
    }

    #[test]
    fn renewing_early_but_past_half_is_fine() {
        // Renewed with 60 s of 600 s left, like an OAuth client's early refresh.
        reuse()
            .on(vec![
                issue(0.0, 600.0),
                call(10.0),
                issue(540_000.0, 600.0),
                call(540_010.0),
            ])
            .passed();
    }

    #[test]
    fn short_lifetimes_are_not_judged() {
        reuse()
            .on(vec![issue(0.0, 2.0), call(10.0), issue(20.0, 2.0)])
            .passed();
    }

    #[test]
    fn no_token_at_all_is_not_judged() {
        reuse().on(vec![call(10.0)]).skipped();
    }
}
