//! Refunds of a captured payment: initiate (idempotent), poll, capture (the whole refund when
//! the body names no amount), cancel.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::guard::Input;
use super::{cents, conflict, error, lock, moved_to, random_id, MobilePaySandbox, Sb};
use crate::journal::Facts;
use crate::providers::mobilepay::{
    OP_REFUND_CANCEL, OP_REFUND_CAPTURE, OP_REFUND_INITIATE, OP_REFUND_POLL,
};

#[derive(Debug, Clone)]
pub(super) struct Refund {
    refund_id: String,
    payment_id: String,
    refund_order_id: String,
    amount: f64,
    currency: String,
    status: String,
    reserved_at_ms: f64,
}

impl Refund {
    fn advance(&mut self, now_ms: f64) {
        if self.status == "Initiated" && now_ms >= self.reserved_at_ms {
            self.status = "Reserved".into();
        }
    }
}

impl MobilePaySandbox {
    /// Reads a refund for a handler, moved on to now; the 404 when it does not exist.
    fn refund_of(&self, refund_id: &str, facts: &mut Facts) -> Result<Refund, Response> {
        let now = self.core.now_ms();
        let mut st = lock(&self.state);
        let Some(r) = st.refunds.get_mut(refund_id) else {
            return Err(error(StatusCode::NOT_FOUND, "404", "Refund not found"));
        };
        r.advance(now);
        facts.payment = Some(r.payment_id.clone());
        facts.notes.insert("refund".into(), json!(r.refund_id));
        facts.resource = Some(format!("refund:{}", r.refund_id));
        Ok(r.clone())
    }
}

pub(super) async fn initiate(
    State(sb): Sb,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    sb.call(OP_REFUND_INITIATE, &headers, Input::Json(&body), |json, facts| {
        let key = sb.idempotency(OP_REFUND_INITIATE, &headers, &json, facts)?;
        let payment_id = json["paymentId"].as_str().unwrap_or_default().to_owned();
        let p = sb.payment_of(&payment_id, facts)?;
        let amount = json["amount"].as_f64().unwrap_or(0.0);
        if !p.refundable(amount) {
            let message = "The payment is not captured, or the refund is larger than what is left to refund (code inferred).";
            return Err(conflict(facts, &p.status, "1307", message));
        }
        let poll_delay = sb.poll_delay();
        let refund = Refund {
            refund_id: random_id(),
            payment_id: payment_id.clone(),
            refund_order_id: json["refundOrderId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            amount,
            currency: json["currencyCode"].as_str().unwrap_or("DKK").to_owned(),
            status: "Initiated".into(),
            // MobilePay reserves the refund on its own, a poll delay later (inferred pacing).
            reserved_at_ms: sb.core.now_ms() + poll_delay as f64,
        };
        facts.payment_state = Some("Initiated".into());
        facts.notes.insert("refund".into(), json!(refund.refund_id));
        facts.resource = Some(format!("refund:{}", refund.refund_id));
        facts.poll_delay_ms = Some(poll_delay as f64);
        let answer = json!({ "refundId": refund.refund_id, "pollDelayInMs": poll_delay });
        {
            let mut st = lock(&sb.state);
            if let Some(p) = st.payments.get_mut(&payment_id) {
                p.refunded += amount;
            }
            st.refunds.insert(refund.refund_id.clone(), refund);
        }
        sb.remember(key, OP_REFUND_INITIATE, &json, StatusCode::OK, &answer);
        Ok(Json(answer).into_response())
    })
    .await
}

pub(super) async fn poll(
    State(sb): Sb,
    Path(refund_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    sb.call(OP_REFUND_POLL, &headers, Input::Nothing, |_, facts| {
        let r = sb.refund_of(&refund_id, facts)?;
        let poll_delay = sb.polled(facts, &r.status, r.amount);
        let view = json!({
            "refundId": r.refund_id,
            "paymentId": r.payment_id,
            "refundOrderId": r.refund_order_id,
            "amount": r.amount,
            "currencyCode": r.currency,
            "merchantRefundLabel": null,
            "status": r.status,
            "pollDelayInMs": poll_delay,
        });
        Ok(Json(view).into_response())
    })
    .await
}

pub(super) async fn capture(
    State(sb): Sb,
    Path(refund_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // The body is optional: without one (or without an amount) the whole refund is captured.
    let input = Input::OptionalJson(&body);
    sb.call(OP_REFUND_CAPTURE, &headers, input, |json, facts| {
        let r = sb.refund_of(&refund_id, facts)?;
        facts.amount = Some(r.amount);
        if r.status != "Reserved" {
            let message = "The refund is not reserved (HTTP status inferred).";
            return Err(conflict(facts, &r.status, "1304", message));
        }
        facts.payment_state = Some(r.status.clone());
        if json["amount"]
            .as_f64()
            .is_some_and(|amount| cents(amount) > cents(r.amount))
        {
            return Err(error(
                StatusCode::CONFLICT,
                "1305",
                "The capture amount is higher than the refund (HTTP status inferred).",
            ));
        }
        if let Some(x) = lock(&sb.state).refunds.get_mut(&refund_id) {
            x.status = "Captured".into();
        }
        moved_to(facts, "Captured")
    })
    .await
}

pub(super) async fn cancel(
    State(sb): Sb,
    Path(refund_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    sb.call(OP_REFUND_CANCEL, &headers, Input::Nothing, |_, facts| {
        let r = sb.refund_of(&refund_id, facts)?;
        if !matches!(r.status.as_str(), "Initiated" | "Reserved") {
            let message = "The refund can no longer be cancelled (code inferred).";
            return Err(conflict(facts, &r.status, "1303", message));
        }
        let mut st = lock(&sb.state);
        if let Some(x) = st.refunds.get_mut(&refund_id) {
            x.status = "CancelledByClient".into();
        }
        if let Some(p) = st.payments.get_mut(&r.payment_id) {
            p.refunded -= r.amount;
        }
        drop(st);
        moved_to(facts, "CancelledByClient")
    })
    .await
}
