//! `preceded_by`: every call of an operation comes after a successful call of another that
//! prepares it, for the same value of a field (MobilePay: a point of sale is created only
//! after looking it up by merchantPosId found nothing). Judged over the whole run: a till
//! looks its point of sale up once, at start-up.

use std::collections::HashSet;

use serde::Deserialize;

use super::field::Field;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "preceded_by",
    summary:
        "every call of an operation follows a successful call of another for the same field value",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The operation judged: each of its calls must come after a successful call of `by`.
    operation: String,
    /// The operation(s) that must come first.
    by: Vec<String>,
    /// The field the two must share: where it is in `operation`...
    #[serde(default)]
    field: Option<Field>,
    /// ...and where it is in `by`.
    #[serde(default)]
    by_field: Option<Field>,
}

struct PrecededBy {
    params: Params,
    seen: HashSet<String>,
    first_seen: Option<u64>,
    judged: usize,
    problems: Vec<(String, u64)>,
    evidence: Vec<u64>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    if params.field.is_some() != params.by_field.is_some() {
        return Err("give both `field` and `by_field`, or neither".into());
    }
    Ok(Box::new(PrecededBy {
        params,
        seen: HashSet::new(),
        first_seen: None,
        judged: 0,
        problems: Vec::new(),
        evidence: Vec::new(),
    }))
}

impl Rule for PrecededBy {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if self.params.by.iter().any(|b| b == op) && ex.succeeded() {
            let value = match &self.params.by_field {
                Some(f) => f.get(ex),
                None => Some(String::new()),
            };
            if let Some(v) = value {
                self.seen.insert(v);
                self.first_seen.get_or_insert(ex.seq);
            }
            return;
        }
        if op != self.params.operation {
            return;
        }
        self.judged += 1;
        let value = match &self.params.field {
            Some(f) => f.get(ex).unwrap_or_default(),
            None => String::new(),
        };
        if self.seen.contains(&value) {
            if self.evidence.len() < 10 {
                self.evidence.extend(self.first_seen);
                self.evidence.push(ex.seq);
            }
        } else {
            let what = if value.is_empty() {
                String::new()
            } else {
                format!(" for `{value}`")
            };
            self.problems.push((
                format!(
                    "{} without a successful {} first{what}",
                    ex.brief(),
                    self.params.by.join(" or ")
                ),
                ex.seq,
            ));
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let failed = (!self.problems.is_empty()).then(|| super::fail_listing(&self.problems));
        let none = format!("no `{}` call was made", self.params.operation);
        super::verdict(self.judged, &none, failed, || {
            let mut evidence = self.evidence;
            evidence.sort_unstable();
            evidence.dedup();
            Finding::pass(
                format!(
                    "{} `{}` call(s), each after {}",
                    self.judged,
                    self.params.operation,
                    self.params.by.join(" or ")
                ),
                evidence,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn preceded() -> Check {
        check(
            "preceded_by",
            json!({"operation": "pos_create", "by": ["pos_lookup"], "field": "body:/merchantPosId", "by_field": "query:merchantPosId"}),
        )
    }
    fn lookup(id: &str) -> ExchangeBuilder {
        api(
            "pos_lookup",
            "GET",
            &format!("/pos/v10/pointofsales?merchantPosId={id}"),
            "",
        )
    }
    fn create(id: &str) -> ExchangeBuilder {
        api("pos_create", "POST", "/pos/v10/pointofsales", "").json(json!({"merchantPosId": id}))
    }

    #[test]
    fn lookup_then_create_passes_even_across_scenarios() {
        preceded()
            .on(vec![
                lookup("till-1"),
                create("till-1").scenario("s2"),
                create("till-1").scenario("s2"),
            ])
            .passed();
    }

    #[test]
    fn create_without_lookup_or_after_a_failed_or_other_lookup_fails() {
        preceded().on(vec![create("till-1")]).failed();
        preceded()
            .on(vec![lookup("till-1").status(500), create("till-1")])
            .failed();
        preceded()
            .on(vec![lookup("till-9"), create("till-1")])
            .failed();
    }

    #[test]
    fn no_create_is_skipped() {
        preceded().on(vec![lookup("x")]).skipped();
    }
}
