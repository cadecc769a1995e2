//! `unknown_operation`: every call the integration makes is to an operation the sandbox
//! serves. A call to a path (or with a method) the sandbox does not serve gets a 404 there,
//! and without this rule it would only make the rules about that operation skip ("no event
//! was sent"), silently. The sandbox marks such calls in the journal (`facts.unserved`,
//! listing what it serves instead), so the rule names each one and what to call instead,
//! whatever the provider.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Exchange};

pub const KIND: Kind = Kind {
    name: "unknown_operation",
    summary: "no call goes to a path or method the sandbox does not serve",
    build,
};

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {}

/// The calls to one unserved method and path.
struct Unserved {
    /// What the sandbox serves instead, as it said.
    served: Vec<String>,
    seqs: Vec<u64>,
}

struct UnknownOperation {
    checked: usize,
    /// By `METHOD /path`, in the order first seen.
    unserved: BTreeMap<(u64, String), Unserved>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let _: Params = ctx.params()?;
    Ok(Box::new(UnknownOperation {
        checked: 0,
        unserved: BTreeMap::new(),
    }))
}

impl Rule for UnknownOperation {
    fn exchange(&mut self, ex: &Exchange) {
        if ex.actor != Actor::Integration {
            return;
        }
        self.checked += 1;
        let Some(served) = &ex.facts.unserved else {
            return;
        };
        let call = format!("{} {}", ex.request.method, ex.path());
        let first = self
            .unserved
            .iter()
            .find(|((_, c), _)| *c == call)
            .map(|(k, _)| k.clone())
            .unwrap_or((ex.seq, call));
        let entry = self.unserved.entry(first).or_insert_with(|| Unserved {
            served: served.clone(),
            seqs: Vec::new(),
        });
        entry.seqs.push(ex.seq);
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let failed = (!self.unserved.is_empty()).then(|| self.failure());
        super::verdict(
            self.checked,
            "the integration made no call to the sandbox",
            failed,
            || {
                Finding::pass(
                    format!(
                        "all {} calls of the integration were to operations the sandbox serves",
                        self.checked
                    ),
                    vec![],
                )
            },
        )
    }
}

impl UnknownOperation {
    /// The failure naming each unserved call and what the sandbox serves instead.
    fn failure(&self) -> Finding {
        let calls: usize = self.unserved.values().map(|u| u.seqs.len()).sum();
        let named: Vec<String> = self
            .unserved
            .iter()
            .map(|((_, call), u)| {
                let times = match u.seqs.len() {
                    1 => format!("#{}", u.seqs[0]),
                    n => format!("{n} calls, first #{}", u.seqs[0]),
                };
                let instead = if u.served.is_empty() {
                    String::new()
                } else {
                    format!("; {}", u.served.join("; "))
                };
                format!("{call} is not an operation of this sandbox ({times}){instead}")
            })
            .collect();
        Finding::fail(
            format!(
                "{calls} of {} calls went to no operation the sandbox serves: {}",
                self.checked,
                named.join(". ")
            ),
            self.unserved
                .values()
                .flat_map(|u| u.seqs.iter().copied())
                .take(10)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn unserved(method: &str, url: &str) -> ExchangeBuilder {
        api("unknown", method, url, "{}").status(404).facts(|f| {
            f.unserved = Some(vec!["the PPaaS events operation here is POST /qrcode-payment/v1/transactions/{client_transaction_id}/events".into()]);
        })
    }

    #[test]
    fn each_unserved_call_is_named_with_what_the_sandbox_serves_instead() {
        let f = check("unknown_operation", json!({})).on(vec![
            api(
                "token",
                "POST",
                "/auth/realms/r/protocol/openid-connect/token",
                "",
            ),
            unserved("POST", "/events/v1/t1"),
            unserved("POST", "/events/v1/t1"),
            unserved("PUT", "/resources/v1/countries?x=1"),
        ]);
        f.failed().evidence(&[2, 3, 4]);
        let m = &f[0].message;
        assert!(m.starts_with("3 of 4 calls went to no operation"), "{m}");
        f.says("POST /events/v1/t1 is not an operation of this sandbox (2 calls, first #2); the PPaaS events operation here is POST /qrcode-payment/v1/transactions/{client_transaction_id}/events")
            .says("PUT /resources/v1/countries is not an operation of this sandbox (#4)");
    }

    #[test]
    fn served_calls_pass_and_no_calls_skip() {
        let k = check("unknown_operation", json!({}));
        k.on(vec![
            api(
                "transaction_event",
                "POST",
                "/qrcode-payment/v1/transactions/t/events",
                "{}",
            )
            .status(500),
            // A 404 for an unknown transaction is an answer of a served operation.
            api(
                "transaction_event",
                "POST",
                "/qrcode-payment/v1/transactions/u/events",
                "{}",
            )
            .status(404),
        ])
        .passed();
        k.on(vec![harness("webhook", "POST", "/hook")]).skipped();
        assert!(crate::checks::kind("unknown_operation").is_some());
    }
}
