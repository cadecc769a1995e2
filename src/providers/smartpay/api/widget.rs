//! The hosted widget's own calls (inferred: the widget is a script in the shop's page; golive
//! plays it as two calls, made by the shopper's browser).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{error, SmartPaySandbox};
use crate::journal::Facts;
use crate::providers::smartpay::{OP_WIDGET_PAY, OP_WIDGET_SESSION};
use crate::sandbox::request_schema::query_object;
use crate::sandbox::{lock, FactsExt};

/// The widget starts in the shopper's browser with the checkout token the page gave it.
pub(super) async fn widget_session(
    State(sb): State<Arc<SmartPaySandbox>>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut facts = Facts::of(OP_WIDGET_SESSION);
    let q = query_object(query.as_deref());
    let token = q.get("checkoutToken").and_then(Value::as_str).unwrap_or("");
    let st = lock(&sb.state);
    let Some(t) = st
        .transactions
        .values()
        .find(|t| !token.is_empty() && t.checkout_token == token)
    else {
        drop(st);
        return error(
            StatusCode::NOT_FOUND,
            "INVALID_CHECKOUT_TOKEN",
            "The widget was given no checkout token SmartPay issued.",
            &[],
        )
        .facts(facts);
    };
    facts.payment = Some(t.id.clone());
    let answer = json!({
        "transactionId": t.id,
        "amount": t.amount,
        "currencyCode": t.currency,
        "description": t.description,
        "paymentMethods": ["CARDS"],
    });
    drop(st);
    Json(answer).facts(facts)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WidgetPay {
    checkout_token: String,
    result: String,
}

/// The shopper submits the widget; SmartPay processes the payment and the widget's
/// successHandler or errorHandler fires with the transactionId.
pub(super) async fn widget_pay(
    State(sb): State<Arc<SmartPaySandbox>>,
    body: axum::body::Bytes,
) -> Response {
    let mut facts = Facts::of(OP_WIDGET_PAY);
    let Ok(pay) = serde_json::from_slice::<WidgetPay>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "Expected {checkoutToken, result}.",
            &[],
        )
        .facts(facts);
    };
    let mut st = lock(&sb.state);
    let sequence = st.sequence.clone();
    let Some(t) = st
        .transactions
        .values_mut()
        .find(|t| t.checkout_token == pay.checkout_token)
    else {
        drop(st);
        return error(
            StatusCode::NOT_FOUND,
            "INVALID_CHECKOUT_TOKEN",
            "Unknown checkout token.",
            &[],
        )
        .facts(facts);
    };
    if t.widget_success.is_some() {
        drop(st);
        return error(
            StatusCode::CONFLICT,
            "CHECKOUT_COMPLETED",
            "This checkout was already paid or failed.",
            &[],
        )
        .facts(facts);
    }
    let success = pay.result == "success";
    t.widget_success = Some(success);
    t.sequence = sequence;
    let id = t.id.clone();
    if success {
        st.paid.push(id.clone());
    }
    drop(st);
    facts.payment = Some(id.clone());
    facts.payment_state = Some(pay.result.clone());
    Json(json!({"transactionId": id, "result": if success { "success" } else { "error" }}))
        .facts(facts)
}
