//! Refunds of a captured payment: initiate (idempotent), poll, capture (the whole refund when
//! the body names no amount), cancel.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::guard::Input;
use super::{
    cents, conflict, error, in_state, lock, moved_to, random_id, Held, MobilePaySandbox, PosCall,
};
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

impl Held for Refund {
    const NOT_FOUND: &'static str = "Refund not found";

    fn advance(&mut self, now_ms: f64) {
        if self.status == "Initiated" && now_ms >= self.reserved_at_ms {
            self.status = "Reserved".into();
        }
    }

    fn note(&self, facts: &mut Facts) {
        facts.payment = Some(self.payment_id.clone());
        facts.notes.insert("refund".into(), json!(self.refund_id));
        facts.resource = Some(format!("refund:{}", self.refund_id));
    }
}

impl MobilePaySandbox {
    /// Reads a refund for a handler ([`MobilePaySandbox::held`]).
    fn refund_of(&self, refund_id: &str, facts: &mut Facts) -> Result<Refund, Response> {
        self.held(|st| &mut st.refunds, refund_id, facts)
    }
}

pub(super) async fn initiate(call: PosCall, body: Bytes) -> Response {
    let sb = &call.sb;
    call.answer(OP_REFUND_INITIATE, Input::Json(&body), |json, facts| {
        let key = sb.idempotency(OP_REFUND_INITIATE, &call.headers, &json, facts)?;
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

pub(super) async fn poll(call: PosCall, Path(refund_id): Path<String>) -> Response {
    call.answer(OP_REFUND_POLL, Input::Nothing, |_, facts| {
        let r = call.sb.refund_of(&refund_id, facts)?;
        let poll_delay = call.sb.polled(facts, &r.status, r.amount);
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

pub(super) async fn capture(call: PosCall, Path(refund_id): Path<String>, body: Bytes) -> Response {
    // The body is optional: without one (or without an amount) the whole refund is captured.
    call.answer(
        OP_REFUND_CAPTURE,
        Input::OptionalJson(&body),
        |json, facts| {
            let r = call.sb.refund_of(&refund_id, facts)?;
            facts.amount = Some(r.amount);
            let message = "The refund is not reserved (HTTP status inferred).";
            in_state(facts, &r.status, &["Reserved"], "1304", message)?;
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
            if let Some(x) = lock(&call.sb.state).refunds.get_mut(&refund_id) {
                x.status = "Captured".into();
            }
            moved_to(facts, "Captured")
        },
    )
    .await
}

pub(super) async fn cancel(call: PosCall, Path(refund_id): Path<String>) -> Response {
    call.answer(OP_REFUND_CANCEL, Input::Nothing, |_, facts| {
        let r = call.sb.refund_of(&refund_id, facts)?;
        let message = "The refund can no longer be cancelled (code inferred).";
        in_state(
            facts,
            &r.status,
            &["Initiated", "Reserved"],
            "1303",
            message,
        )?;
        let mut st = lock(&call.sb.state);
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
