//! `request_schema`: every request body the integration sends is valid against the
//! operation's request schema (required fields, types, lengths). Unknown fields are the
//! business of `no_unrecognized_fields`.

use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Entry;

pub const KIND: Kind = Kind {
    name: "request_schema",
    summary: "every request is valid against its operation's request schema",
    build,
};

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// Only these operations (default: all).
    operations: Option<Vec<String>>,
}

struct RequestSchema {
    params: Params,
    checked: usize,
    bad: Vec<(String, u64)>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    Ok(Box::new(RequestSchema {
        params: ctx.params()?,
        checked: 0,
        bad: Vec::new(),
    }))
}

impl Rule for RequestSchema {
    fn observe(&mut self, entry: &Entry) {
        let Some((ex, op)) = super::integration_call(entry) else {
            return;
        };
        if !super::in_scope(&self.params.operations, op) {
            return;
        }
        self.checked += 1;
        if !ex.facts.schema_errors.is_empty() {
            self.bad.push((
                format!("{}: {}", ex.brief(), ex.facts.schema_errors.join("; ")),
                ex.seq,
            ));
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        super::per_request_verdict(
            self.checked,
            &self.bad,
            "no request of the operations in scope was made",
            format!("{} requests, all valid against their schema", self.checked),
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
