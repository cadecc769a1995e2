//! The payment operations: the OAuth token, Create Checkout and Get Payment Status.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use super::state::Transaction;
use super::{
    error, invalid_request, no_transaction, with_unrecognized, Admitted, Answer, Payload,
    SmartPaySandbox,
};
use crate::journal::fingerprint;
use crate::providers::smartpay::{OP_CREATE_CHECKOUT, OP_OAUTH_TOKEN, OP_PAYMENT_STATUS};
use crate::sandbox::{lock, FactsExt};

pub(super) async fn oauth_token(
    State(sb): State<Arc<SmartPaySandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let call = sb.admit(OP_OAUTH_TOKEN, None, &headers, Payload::Form(&body), None);
    let Admitted {
        mut facts,
        body: fields,
        ..
    } = call.await?;
    // OAuth 2.0 errors (RFC 6749 §5.2), as the token endpoint answers them.
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    if fields.get("grant_type").and_then(Value::as_str) != Some("client_credentials") {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        )
        .facts(facts));
    }
    let id = fields.get("client_id").and_then(Value::as_str);
    let secret = fields.get("client_secret").and_then(Value::as_str);
    if id != Some(sb.client_id.as_str()) || secret != Some(sb.client_secret.as_str()) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Client authentication failed",
        )
        .facts(facts));
    }
    let lifetime = sb.core.token_lifetime_s();
    let token = jwt(&sb.client_id, lifetime);
    let issued = sb.core.issue_token(&mut lock(&sb.state).tokens, &token, ());
    facts.token_issued = Some(issued);
    Ok(Json(json!({"access_token": token, "expires_in": lifetime.round() as u64, "token_type": "Bearer"})).facts(facts))
}

pub(super) async fn create_checkout(
    State(sb): State<Arc<SmartPaySandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let noted = Some(("partnerReference", "partner_reference"));
    let payload = Payload::Json(&body);
    let call = sb.admit(OP_CREATE_CHECKOUT, None, &headers, payload, noted);
    let Admitted {
        mut facts,
        body: json,
        findings,
    } = call.await?;
    if !findings.errors.is_empty() {
        return Err(invalid_request(&findings.errors).facts(facts));
    }
    if json.get("merchantKey").and_then(Value::as_str) != Some(sb.merchant_key.as_str()) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "INVALID_MERCHANT",
            "The merchantKey is not this merchant's.",
            &[],
        )
        .facts(facts));
    }
    let payment = &json["payment"];
    let tx = Transaction {
        id: crate::sandbox::random_uuid().to_string(),
        // "512 bits checkout token": 86 base62 characters carry a little more.
        checkout_token: crate::sandbox::random_text(86),
        amount: payment["amount"].as_f64().unwrap_or(0.0),
        currency: payment["currencyCode"].as_str().unwrap_or("").to_owned(),
        description: payment["description"].as_str().unwrap_or("").to_owned(),
        reconciliation: crate::sandbox::random_text(21),
        created: crate::sandbox::now_rfc3339(),
        widget_success: None,
        sequence: Vec::new(),
        queries: 0,
        overridden: None,
        modifications: Vec::new(),
    };
    facts.payment = Some(tx.id.clone());
    facts.payment_state = Some("CREATED".into());
    facts.notes.insert(
        "checkout_token".into(),
        json!(fingerprint(&tx.checkout_token)),
    );
    let answer = json!({
        "transactionId": tx.id,
        "checkoutToken": tx.checkout_token,
        "paymentStatus": "CREATED",
        "requestTime": crate::sandbox::now_rfc3339(),
    });
    {
        let mut st = lock(&sb.state);
        st.scenario_checkouts.push(tx.id.clone());
        st.transactions.insert(tx.id.clone(), tx);
    }
    Ok(Json(with_unrecognized(answer, &findings.unrecognized)).facts(facts))
}

pub(super) async fn payment_status(
    State(sb): State<Arc<SmartPaySandbox>>,
    Path(transaction_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let payment = Some(transaction_id.as_str());
    let call = sb.admit(OP_PAYMENT_STATUS, payment, &headers, Payload::Nothing, None);
    let mut facts = call.await?.facts;
    let found = {
        let mut st = lock(&sb.state);
        st.transactions.get_mut(&transaction_id).map(|t| {
            let status = t.next_status();
            if t.widget_success == Some(true) {
                t.queries += 1;
            }
            (t.clone(), status)
        })
    };
    let Some((t, status)) = found else {
        return Err(no_transaction().facts(facts));
    };
    facts.payment_state = Some(status.clone());
    let modifications: Vec<Value> = t
        .modifications
        .iter()
        .map(|(id, m)| json!({"modificationId": id, "type": m.kind, "amount": m.body["amount"], "status": m.body["status"]}))
        .collect();
    let answer = Json(json!({
        "transactionId": t.id,
        "reconciliationReferenceId": t.reconciliation,
        "description": t.description,
        "paymentStatus": status,
        "creationDate": t.created,
        "transactionOverview": {
            "amount": t.amount,
            "currencyCode": t.currency,
            "mit": false,
            "transactionId": t.id,
            "paymentMethod": "CARDS",
        },
        "modifications": modifications,
    }));
    Ok(answer.facts(facts))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT-shaped access token, as SmartPay's OAuth provider (Amazon Cognito) issues.
fn jwt(client_id: &str, lifetime_s: f64) -> String {
    let header = b64url(br#"{"kid":"golive-sandbox","alg":"RS256"}"#);
    let payload = b64url(
        json!({"client_id": client_id, "token_use": "access", "scope": "smartpay/api", "exp_in": lifetime_s, "jti": crate::sandbox::random_uuid().to_string()})
            .to_string()
            .as_bytes(),
    );
    format!("{header}.{payload}.{}", crate::sandbox::random_text(86))
}
