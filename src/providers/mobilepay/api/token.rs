//! The integrator token: client credentials in, a Bearer token out (with the `merchant_vat`
//! claim when asked for).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use super::guard::with_findings;
use super::{lock, MobilePaySandbox, Sb, TokenInfo};
use crate::journal::Facts;
use crate::providers::mobilepay::{CLIENT_ID_HEADER, OP_TOKEN};
use crate::sandbox::request_schema::{form_fields, RequestFindings};
use crate::sandbox::FactsExt;

/// `POST /integrator-authentication/connect/token`: client credentials in a Basic header.
pub(super) async fn issue(State(sb): Sb, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut facts = Facts::of(OP_TOKEN);
    let text = String::from_utf8_lossy(&body);
    let (fields, as_json) = form_fields(&text);
    let findings = sb.schemas.check(OP_TOKEN, &as_json);
    with_findings(&mut facts, &findings);
    if let Some(r) = sb.injected(OP_TOKEN, &mut facts).await {
        return r.facts(facts);
    }
    if let Some((status, refusal)) = refusal(&sb, &headers, &fields, &findings) {
        return (status, Json(refusal)).facts(facts);
    }
    let value = format!(
        "mp.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let merchant_vat = fields.get("merchant_vat").cloned();
    if merchant_vat.is_some() {
        facts.token_claims = vec!["merchant_vat".into()];
    }
    let info = TokenInfo { merchant_vat };
    let issued = sb
        .core
        .issue_token(&mut lock(&sb.state).tokens, &value, info);
    let lifetime = issued.lifetime_s;
    facts.token_issued = Some(issued);
    Json(json!({
        "access_token": value,
        "expires_in": lifetime.round() as u64,
        "token_type": "Bearer",
        "scope": "integrator_scope",
    }))
    .facts(facts)
}

/// The OAuth answer to a token request that gets no token: a client that is not the test
/// account, another grant type, a form the schema refuses.
fn refusal(
    sb: &MobilePaySandbox,
    headers: &HeaderMap,
    fields: &BTreeMap<String, String>,
    findings: &RequestFindings,
) -> Option<(StatusCode, Value)> {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let expected = format!("{}:{}", sb.client_id, sb.client_secret);
    let client_ok =
        headers.get(CLIENT_ID_HEADER).and_then(|v| v.to_str().ok()) == Some(sb.client_id.as_str());
    if !client_ok || basic.as_deref() != Some(expected.as_str()) {
        return Some((StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"})));
    }
    if fields.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Some((
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}),
        ));
    }
    (!findings.errors.is_empty()).then(|| {
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": findings.errors.join("; ")}),
        )
    })
}
