//! The run report as JSON (`report.json`), for tools: the [`RunReport`] as it is, fields in the
//! model's order, described by the published schema `schemas/report.schema.json`.

use super::model::RunReport;

/// The JSON Schema (draft 2020-12) of `report.json`.
pub const SCHEMA: &str = include_str!("../../schemas/report.schema.json");

/// The report as pretty-printed JSON, ending with a newline.
pub fn to_string(report: &RunReport) -> serde_json::Result<String> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    Ok(text)
}

/// Where a JSON document breaks the report schema, one line per problem (empty when valid).
pub fn schema_errors(document: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(SCHEMA).expect("the bundled report schema is JSON");
    let validator =
        jsonschema::validator_for(&schema).expect("the bundled report schema is a valid schema");
    validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{IssuedToken, TokenState, TokenUse};
    use crate::report::build::tests::{check, empty_report, exchange};
    use crate::report::model::{Outcome, Severity};

    fn report() -> RunReport {
        let mut r = empty_report(
            &["purchase_captured"],
            vec![check(
                "KC-TOKEN-REUSE",
                Outcome::Failed,
                Severity::Critical,
                &[1],
            )],
        );
        let mut ex = exchange("POST", "/user/u1/issue", 200, "{}");
        ex.seq = 1;
        ex.scenario = "purchase_captured".into();
        ex.request.headers.push("Content-Type", "application/json");
        ex.facts.operation = Some("issue_token".into());
        ex.facts.token_issued = Some(IssuedToken {
            fingerprint: "fp:1a2b3c4d".into(),
            lifetime_s: 300.0,
            expires_at_ms: 301_000.0,
        });
        ex.facts.token_used = Some(TokenUse {
            fingerprint: None,
            state: TokenState::Missing,
            remaining_s: None,
        });
        ex.facts.forged = true;
        ex.facts.poll_delay_ms = Some(5000.0);
        ex.facts.resource = Some("payment:U1".into());
        ex.facts.token_claims = vec!["merchant_vat".into()];
        ex.facts.answer_errors = vec!["/qrCode: missing".into()];
        ex.facts.event_id = Some("e1".into());
        ex.facts.amount = Some(12.5);
        ex.facts.unserved = Some(vec!["the events operation here is POST /events".into()]);
        ex.facts.refused = Some("malformed".into());
        ex.facts.abandoned = true;
        ex.facts
            .notes
            .insert("idempotency_key".into(), "k-1".into());
        let mut failed = exchange("GET", "/payment/U1/status", 0, "");
        failed.seq = 2;
        failed.response = None;
        failed.error = Some("connection reset".into());
        r.exchanges = vec![ex, failed];
        r.scenarios[0].exchanges = vec![1, 2];
        r.run_error = Some("x".into());
        r.journal = Some("journal.jsonl".into());
        r
    }

    #[test]
    fn a_full_report_validates_against_the_schema() {
        let doc: serde_json::Value = serde_json::from_str(&to_string(&report()).unwrap()).unwrap();
        assert_eq!(schema_errors(&doc), Vec::<String>::new());
    }

    #[test]
    fn an_interrupted_incomplete_report_validates_and_old_readers_keep_their_fields() {
        let mut r = report();
        r.verdict = crate::report::Verdict::Interrupted;
        r.interrupted = Some("SIGINT".into());
        r.not_run = vec!["status_flaky".into()];
        r.incomplete = vec!["scenario purchase_captured was not driven to its end".into()];
        let mut owed = check("KC-PAID", Outcome::Error, Severity::Critical, &[]);
        owed.scenario = Some("status_flaky".into());
        r.checks.push(owed);
        r.counts = crate::report::count(&r.checks);
        let doc: serde_json::Value = serde_json::from_str(&to_string(&r).unwrap()).unwrap();
        assert_eq!(schema_errors(&doc), Vec::<String>::new());
        assert_eq!(doc["counts"]["errors"], 1);
        assert_eq!(doc["verdict"], "interrupted");
        // A complete run writes none of the new fields: its report.json is as before.
        let plain = serde_json::to_value(report()).unwrap();
        for key in ["incomplete", "interrupted", "not_run"] {
            assert!(plain.get(key).is_none(), "{key}");
        }
        assert!(plain["counts"].get("errors").is_none());
    }

    #[test]
    fn the_schema_catches_drift() {
        let mut doc = serde_json::to_value(report()).unwrap();
        doc["verdict"] = "maybe".into();
        doc["exchanges"][0]["request"]["headers"][0] = serde_json::json!(["only-a-name"]);
        doc["checks"][0]["surprise"] = true.into();
        let errors = schema_errors(&doc);
        assert_eq!(errors.len(), 3, "{errors:#?}");
    }

    #[test]
    fn fields_keep_the_model_order() {
        let text = to_string(&report()).unwrap();
        let pos = |k: &str| text.find(&format!("\n  \"{k}\"")).unwrap();
        assert!(pos("format_version") < pos("tool"));
        assert!(pos("tool") < pos("suite"));
        assert!(pos("verdict") < pos("counts"));
        assert!(pos("checks") < pos("exchanges"));
        assert!(text.ends_with("}\n"));
    }
}
