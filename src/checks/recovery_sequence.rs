//! `recovery_sequence`: after the provider answers a call with a given error (MobilePay's
//! 409 1301 "payment already active"), the integration recovers with the calls the provider
//! prescribes, in order, each succeeding (look the active payment up, cancel it, initiate
//! anew). Other calls may come in between. Judged per scenario; a scenario without the error
//! is not judged.

use serde::Deserialize;
use serde_json::Value;

use super::field::as_text;
use super::scope::ByScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "recovery_sequence",
    summary: "after a given error answer, the prescribed calls follow in order and succeed",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The error: which operations, which HTTP status, and optionally a code in the answer.
    after: After,
    /// The recovery, step by step; each step is one operation or a list of alternatives.
    then: Vec<OneOrMany>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct After {
    /// The operations whose error starts the recovery.
    operations: Vec<String>,
    /// The HTTP status of the error (MobilePay: 409).
    status: u16,
    /// A code the error's answer must also carry.
    #[serde(default)]
    code: Option<CodeAt>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CodeAt {
    /// A JSON pointer into the error's answer (`/code`).
    pointer: String,
    /// The value there (MobilePay: `"1301"`).
    equals: Value,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn contains(&self, op: &str) -> bool {
        match self {
            OneOrMany::One(o) => o == op,
            OneOrMany::Many(v) => v.iter().any(|o| o == op),
        }
    }
    fn describe(&self) -> String {
        match self {
            OneOrMany::One(o) => o.clone(),
            OneOrMany::Many(v) => v.join(" or "),
        }
    }
}

struct Open {
    trigger: u64,
    step: usize,
    seqs: Vec<u64>,
}

#[derive(Default)]
struct Scenario {
    open: Vec<Open>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    if params.then.is_empty() {
        return Err("`then` must name at least one step".into());
    }
    Ok(Box::new(ByScenario::<_, Scenario>::new(params)))
}

impl After {
    /// Whether the exchange is the error answer that calls for the recovery.
    fn is_trigger(&self, ex: &Exchange) -> bool {
        ex.operation()
            .is_some_and(|op| self.operations.iter().any(|o| o == op))
            && ex.status() == Some(self.status)
            && self.code.as_ref().is_none_or(|c| {
                ex.response_json()
                    .and_then(|j| j.pointer(&c.pointer).cloned())
                    .is_some_and(|v| v == c.equals || as_text(&v) == as_text(&c.equals))
            })
    }
}

impl Rule for ByScenario<Params, Scenario> {
    fn call(&mut self, ex: &Exchange, op: &str) {
        let trigger = self.params.after.is_trigger(ex);
        let steps = &self.params.then;
        let s = self.scenarios.get(&ex.scenario);
        for open in s.open.iter_mut() {
            if open.step < steps.len() && steps[open.step].contains(op) && ex.succeeded() {
                open.step += 1;
                open.seqs.push(ex.seq);
            }
        }
        if trigger {
            s.open.push(Open {
                trigger: ex.seq,
                step: 0,
                seqs: vec![ex.seq],
            });
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let n = self.params.then.len();
        let expected = self
            .params
            .then
            .iter()
            .map(|s| s.describe())
            .collect::<Vec<_>>()
            .join(", then ");
        let then = &self.params.then;
        self.scenarios.verdicts(|_, s| {
            if s.open.is_empty() {
                return None;
            }
            let stuck: Vec<&Open> = s.open.iter().filter(|o| o.step < n).collect();
            Some(if stuck.is_empty() {
                let mut evidence: Vec<u64> = s.open.iter().flat_map(|o| o.seqs.clone()).collect();
                evidence.sort_unstable();
                evidence.dedup();
                Finding::pass(
                    format!(
                        "{} error answer(s), each followed by {expected}",
                        s.open.len()
                    ),
                    evidence,
                )
            } else {
                let messages: Vec<String> = stuck
                    .iter()
                    .map(|o| {
                        format!(
                            "after #{} the integration made {} of the {n} recovery step(s) ({expected}); missing: {}",
                            o.trigger,
                            o.step,
                            then[o.step].describe()
                        )
                    })
                    .collect();
                let evidence: Vec<u64> =
                    stuck.iter().flat_map(|o| o.seqs.clone()).take(20).collect();
                Finding::fail(super::list_some(&messages, 3), evidence)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn recovery() -> Check {
        check(
            "recovery_sequence",
            json!({
                "after": {"operations": ["payment_initiate", "payment_prepare"], "status": 409, "code": {"pointer": "/code", "equals": "1301"}},
                "then": ["payment_lookup", "payment_cancel", ["payment_initiate", "payment_prepare"]]
            }),
        )
    }
    fn active() -> ExchangeBuilder {
        api("payment_initiate", "POST", "/p", "{}")
            .status(409)
            .response_body(r#"{"code":"1301"}"#)
    }

    #[test]
    fn look_up_cancel_and_initiate_passes_with_calls_in_between() {
        recovery()
            .on(vec![
                active(),
                api("token", "POST", "/t", ""),
                api("payment_lookup", "GET", "/p?posId=x", ""),
                api("payment_cancel", "POST", "/p/1/cancel", ""),
                api("payment_prepare", "POST", "/p/prepare", "{}"),
            ])
            .passed();
    }

    #[test]
    fn giving_up_or_skipping_the_cancel_fails() {
        recovery()
            .on(vec![active()])
            .failed()
            .says("missing: payment_lookup");
        recovery()
            .on(vec![
                active(),
                api("payment_lookup", "GET", "/p", ""),
                api("payment_initiate", "POST", "/p", "{}"),
            ])
            .failed();
        // A failed cancel does not count.
        recovery()
            .on(vec![
                active(),
                api("payment_lookup", "GET", "/p", ""),
                api("payment_cancel", "POST", "/c", "").status(500),
                api("payment_initiate", "POST", "/p", "{}"),
            ])
            .failed();
    }

    #[test]
    fn other_errors_and_scenarios_without_the_error_are_not_judged() {
        recovery()
            .on(vec![api("payment_initiate", "POST", "/p", "{}")
                .status(409)
                .response_body(r#"{"code":"1306"}"#)])
            .none();
    }
}
