//! `no_unrecognized_fields`: the integration sends no field the API does not know. The
//! sandbox lists them the way the provider does (`additionalInformation.unrecognizedFields`).

use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "no_unrecognized_fields",
    summary: "no request carries a field the operation does not know",
    build,
};

#[derive(serde::Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Params {}

struct NoUnrecognized {
    requests: super::Requests,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let _: Params = ctx.params()?;
    Ok(Box::new(NoUnrecognized {
        requests: Default::default(),
    }))
}

impl Rule for NoUnrecognized {
    fn call(&mut self, ex: &Exchange, op: &str) {
        self.requests.checked += 1;
        if !ex.facts.unrecognized_fields.is_empty() {
            self.requests.broke(ex.seq, || {
                format!(
                    "{} sent {} to `{}`",
                    ex.brief(),
                    ex.facts
                        .unrecognized_fields
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    op
                )
            });
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        self.requests.verdict(
            "the integration made no API call",
            format!("{} API calls, no unrecognized field", self.requests.checked),
            "API calls carried fields the API does not know",
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_fail() {
        check("no_unrecognized_fields", json!({}))
            .on(vec![
                api("issue_token", "POST", "/i", "{}"),
                api("issue_token", "POST", "/i", "{}")
                    .facts(|f| f.unrecognized_fields = vec!["note".into()]),
            ])
            .failed()
            .says("`note`")
            .evidence(&[2]);
    }
}
