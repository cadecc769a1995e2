//! Capture, refund and cancel (inferred: `POST /payment/{transactionId}/{capture|refund|
//! cancel}` with `{modificationId, amount}`): idempotent by modificationId, refused when the
//! payment's status or the amount does not allow them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::state::{Modification, Transaction};
use super::{
    error, invalid_request, no_transaction, with_unrecognized, Admitted, Answer, Payload,
    SmartPaySandbox,
};
use crate::providers::smartpay::{OP_CAPTURE, OP_REFUND};
use crate::sandbox::{lock, BoxFuture, FactsExt};

/// The handler of the modification `op` (`capture`, `refund` or `cancel`): the three differ
/// only in the operation they answer.
pub(super) fn answer(
    op: &'static str,
) -> impl Fn(State<Arc<SmartPaySandbox>>, Path<String>, HeaderMap, Bytes) -> BoxFuture<'static, Answer>
       + Clone
       + Send
       + Sync
       + 'static {
    move |State(sb): State<Arc<SmartPaySandbox>>,
          Path(transaction_id): Path<String>,
          headers: HeaderMap,
          body: Bytes|
          -> BoxFuture<'static, Answer> {
        Box::pin(async move { modify(&sb, op, transaction_id, headers, body).await })
    }
}

async fn modify(
    sb: &SmartPaySandbox,
    op: &'static str,
    transaction_id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let payment = Some(transaction_id.as_str());
    let noted = Some(("modificationId", "modification_id"));
    let call = sb.admit(op, payment, &headers, Payload::Json(&body), noted);
    let Admitted {
        mut facts,
        body: json,
        findings,
    } = call.await?;
    let modification_id = json
        .get("modificationId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(modification_id) = modification_id.filter(|_| findings.errors.is_empty()) else {
        return Err(invalid_request(&findings.errors).facts(facts));
    };
    let kind: &'static str = match op {
        OP_CAPTURE => "CAPTURE",
        OP_REFUND => "REFUND",
        _ => "CANCEL",
    };
    let mut st = lock(&sb.state);
    let Some(t) = st.transactions.get_mut(&transaction_id) else {
        drop(st);
        return Err(no_transaction().facts(facts));
    };
    // Idempotent on repeat: the same modificationId gets the answer it got the first time.
    if let Some((_, m)) = t
        .modifications
        .iter()
        .find(|(id, _)| *id == modification_id)
    {
        let m = m.clone();
        drop(st);
        facts.notes.insert("repeated".into(), json!(true));
        if m.kind != kind {
            return Err(error(StatusCode::CONFLICT, "DUPLICATE_MODIFICATION_ID", &format!("modificationId {modification_id} was already used for a {} of this transaction.", m.kind), &[])
                .facts(facts));
        }
        facts.payment_state = m.body["paymentStatus"].as_str().map(str::to_owned);
        let status = StatusCode::from_u16(m.status).unwrap_or(StatusCode::OK);
        return Ok((status, Json(m.body)).facts(facts));
    }
    let amount = json.get("amount").and_then(Value::as_f64);
    let (status, body) = apply(t, kind, &modification_id, amount);
    t.modifications.push((
        modification_id,
        Modification {
            kind,
            status: status.as_u16(),
            body: body.clone(),
        },
    ));
    drop(st);
    facts.payment_state = body["paymentStatus"].as_str().map(str::to_owned);
    let body = with_unrecognized(body, &findings.unrecognized);
    Ok((status, Json(body)).facts(facts))
}

/// A new modification of `kind` (`CAPTURE`, `REFUND`, `CANCEL`) of `t`, for `amount` (all that
/// is left when absent): applied, or refused with 422 when the payment's status or the amount
/// does not allow it. The answer, as a repeat of its modificationId gets it again.
fn apply(
    t: &mut Transaction,
    kind: &'static str,
    modification_id: &str,
    amount: Option<f64>,
) -> (StatusCode, Value) {
    let current = t.current_status();
    let refundable = t.amount - t.refunded();
    let refusal = match kind {
        "CAPTURE" | "CANCEL" if current != "AUTHORIZATION_COMPLETED" => Some(format!(
            "the payment is {current}; a {kind} needs AUTHORIZATION_COMPLETED"
        )),
        "REFUND" if current != "CAPTURED" && current != "SETTLED" => Some(format!(
            "the payment is {current}; a REFUND needs CAPTURED or SETTLED"
        )),
        "REFUND" if amount.unwrap_or(refundable) > refundable + 1e-9 => Some(format!(
            "the refund of {} exceeds the {refundable} left to refund",
            amount.unwrap_or(refundable)
        )),
        "CAPTURE" if amount.unwrap_or(t.amount) > t.amount + 1e-9 => Some(format!(
            "the capture of {} exceeds the authorised {}",
            amount.unwrap_or(t.amount),
            t.amount
        )),
        _ => None,
    };
    if let Some(why) = refusal {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"status": 422, "errorCode": "MODIFICATION_NOT_ALLOWED", "message": why, "requestTime": crate::sandbox::now_rfc3339()}),
        );
    }
    let new_status = match kind {
        "CAPTURE" => "CAPTURED".to_string(),
        "CANCEL" => "CANCELLED".to_string(),
        _ => current.clone(),
    };
    if kind != "REFUND" {
        t.overridden = Some(new_status.clone());
    }
    let amount = amount.unwrap_or(if kind == "REFUND" {
        refundable
    } else {
        t.amount
    });
    (
        StatusCode::OK,
        json!({
            "transactionId": t.id,
            "modificationId": modification_id,
            "type": kind,
            "amount": amount,
            "currencyCode": t.currency,
            "status": "SUCCESS",
            "paymentStatus": new_status,
            "requestTime": crate::sandbox::now_rfc3339(),
        }),
    )
}
