//! `request_schema`: every request body the integration sends is valid against the
//! operation's request schema (required fields, types, lengths). Unknown fields are the
//! business of `no_unrecognized_fields`.

use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "request_schema",
    summary: "every request is valid against its operation's request schema",
    build,
};

#[derive(serde::Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Params {
    /// Only these operations (default: all).
    operations: Option<Vec<String>>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    Ok(Box::new(super::ByRequest::<Params>::new(ctx.params()?)))
}

impl Rule for super::ByRequest<Params> {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if !super::in_scope(&self.params.operations, op) {
            return;
        }
        self.requests.checked += 1;
        if !ex.facts.schema_errors.is_empty() {
            self.requests.broke(ex.seq, || {
                format!("{}: {}", ex.brief(), ex.facts.schema_errors.join("; "))
            });
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        self.requests.verdict(
            "no request of the operations in scope was made",
            format!(
                "{} requests, all valid against their schema",
                self.requests.checked
            ),
            "requests broke their schema",
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    #[test]
    fn schema_errors_fail() {
        let k = check("request_schema", json!({}));
        k.on(vec![api("x", "POST", "/i", "{}").facts(|f| {
            f.schema_errors = vec!["password: required".into()]
        })])
        .failed();
        k.on(vec![api("x", "POST", "/i", "{}")]).passed();
    }
}
