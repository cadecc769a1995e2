//! `secret_stays_server_side`: a secret the integration's server sends the provider (a
//! merchant key, an API key) never reaches the shopper's browser, and the operations that need
//! it are called from the server only. SmartPay: "Must be called by the merchant's server,
//! never the browser (the merchant key is secret)".
//!
//! The secrets are learnt from the traffic (the values at the given locators of the
//! integration's API calls); the pages are what the shop answered the harness playing the
//! browser (triggers, callbacks). Pages are kept (cut, as in the journal) until the end,
//! because a browser-side integration serves its page before any server call shows the key.

use serde::Deserialize;

use super::field::Fields;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Direction, Exchange};

pub const KIND: Kind = Kind {
    name: "secret_stays_server_side",
    summary: "secrets the server sends the API never appear in the shop's pages; server-only operations never come from the browser",
    build,
};

/// How many pages are kept for the end of the pass (each at most the journal's body cut).
const MAX_PAGES: usize = 256;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// Where the secrets are in the integration's API calls.
    secrets: Fields,
    /// Operations only the merchant's server may call.
    #[serde(default)]
    server_only_operations: Vec<String>,
    /// Roles (prefixes) of the harness's exchanges whose answers are pages: `trigger:` (the
    /// target's triggers) and the provider's own, such as KontoCloud's `callback`.
    page_roles: Vec<String>,
    /// Shorter values are not treated as secrets (they would match by chance).
    #[serde(default = "min_len")]
    min_length: usize,
}

fn min_len() -> usize {
    8
}

struct SecretServerSide {
    params: Params,
    secrets: Vec<(String, String, u64)>,
    pages: Vec<(u64, String)>,
    browser_calls: Vec<(String, u64)>,
    checked_pages: usize,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    Ok(Box::new(SecretServerSide {
        params,
        secrets: Vec::new(),
        pages: Vec::new(),
        browser_calls: Vec::new(),
        checked_pages: 0,
    }))
}

impl Rule for SecretServerSide {
    fn exchange(&mut self, ex: &Exchange) {
        if ex.direction == Direction::ToSandbox {
            if let Some(op) = ex.operation() {
                if ex.actor == Actor::Browser
                    && self.params.server_only_operations.iter().any(|o| o == op)
                {
                    self.browser_calls.push((
                        format!("{} was called from the shopper's browser", ex.brief()),
                        ex.seq,
                    ));
                }
            }
            if ex.actor == Actor::Integration {
                for f in self.params.secrets.list() {
                    if let Some(v) = f.get(ex) {
                        if v.chars().count() >= self.params.min_length
                            && !self.secrets.iter().any(|(s, _, _)| *s == v)
                        {
                            self.secrets.push((v, f.to_string(), ex.seq));
                        }
                    }
                }
            }
            return;
        }
        if ex.direction == Direction::ToTarget
            && self
                .params
                .page_roles
                .iter()
                .any(|r| ex.role.starts_with(r.as_str()))
        {
            if let Some(r) = &ex.response {
                self.checked_pages += 1;
                if self.pages.len() < MAX_PAGES {
                    self.pages.push((ex.seq, r.body.text().to_owned()));
                }
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let mut problems: Vec<(String, Vec<u64>)> = self
            .browser_calls
            .iter()
            .map(|(m, s)| (m.clone(), vec![*s]))
            .collect();
        for (seq, text) in &self.pages {
            if let Some((_, field, from)) = self
                .secrets
                .iter()
                .find(|(s, _, _)| text.contains(s.as_str()))
            {
                problems.push((
                    format!(
                        "the shop's page #{seq} contains the secret sent as {field} in #{from}"
                    ),
                    vec![*from, *seq],
                ));
            }
        }
        let failed = (!problems.is_empty()).then(|| {
            Finding::fail(
                format!("{} leak(s): {}", problems.len(), super::listed(&problems)),
                super::evidence_of(&problems, 6, usize::MAX),
            )
        });
        super::verdict(
            self.checked_pages + self.browser_calls.len(),
            "no page of the shop was recorded",
            failed,
            || {
                Finding::pass(
                format!("{} page(s) of the shop, none with any of the {} secret value(s) its server sent; no server-only call from the browser", self.checked_pages, self.secrets.len()),
                vec![],
            )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use crate::journal::Actor;
    use serde_json::json;

    const KEY: &str = "48c4e923-e88c-464b-a4e7-ccb2c6d3775e";

    fn checkout() -> ExchangeBuilder {
        api("create_checkout", "POST", "/payment/creation", "").json(json!({"merchantKey": KEY}))
    }
    fn page(body: &str) -> ExchangeBuilder {
        harness("trigger:start_payment", "POST", "/checkout").response_body(body)
    }
    fn secret() -> Check {
        check(
            "secret_stays_server_side",
            json!({"secrets": ["body:/merchantKey"], "server_only_operations": ["create_checkout"], "page_roles": ["trigger:"]}),
        )
    }

    #[test]
    fn a_page_with_the_key_fails_wherever_it_comes_in_the_run() {
        secret()
            .on(vec![
                checkout(),
                page(&format!(r#"{{"checkoutToken":"t","merchantKey":"{KEY}"}}"#)),
            ])
            .failed()
            .evidence(&[1, 2]);
        secret()
            .on(vec![page(&format!("<div data-key='{KEY}'>")), checkout()])
            .failed();
    }

    #[test]
    fn pages_without_the_key_pass_and_browser_checkouts_fail() {
        secret()
            .on(vec![
                checkout(),
                page(r#"{"checkoutToken":"KwlJmj1QoJL4oFPaCYnNCTW8"}"#),
            ])
            .passed();
        secret()
            .on(vec![page("<p>pay</p>"), checkout().actor(Actor::Browser)])
            .failed()
            .says("browser");
    }
}
