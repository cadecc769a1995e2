//! Payments: initiate (or prepare, then ready), look up, poll, capture, cancel; and the
//! customer's app (simulator only), which approves or rejects the payment issued to them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::guard::{json_body, Input};
use super::{
    answering, cents, conflict, error, in_state, lock, moved_to, random_id, Held, MobilePaySandbox,
    PosCall, Sb,
};
use crate::journal::Facts;
use crate::providers::mobilepay::{
    OP_APP_APPROVE, OP_APP_REJECT, OP_PAYMENT_CANCEL, OP_PAYMENT_CAPTURE, OP_PAYMENT_INITIATE,
    OP_PAYMENT_LOOKUP, OP_PAYMENT_POLL, OP_PAYMENT_PREPARE, OP_PAYMENT_READY,
};

/// Payment states in which a point of sale's payment is still active (one at a time).
pub(super) const ACTIVE: &[&str] = &[
    "Initiated",
    "Prepared",
    "Paired",
    "IssuedToUser",
    "Reserved",
];

/// Payment states in which the customer can still answer in the app.
const AWAITING_CUSTOMER: &[&str] = &["Initiated", "Paired", "IssuedToUser"];

#[derive(Debug, Clone)]
pub(super) struct Payment {
    payment_id: String,
    pos_id: String,
    order_id: String,
    amount: f64,
    currency: String,
    pub(super) status: String,
    /// A state the customer's answer leads to, and when (ms since the run started).
    next: Option<(f64, &'static str)>,
    expires_ms: f64,
    captured: f64,
    pub(super) refunded: f64,
}

impl Payment {
    /// A payment no one has answered yet, in the currency the request named.
    fn new(
        pos_id: &str,
        order_id: &str,
        json: &Value,
        amount: f64,
        status: &str,
        expires_ms: f64,
    ) -> Payment {
        Payment {
            payment_id: random_id(),
            pos_id: pos_id.to_owned(),
            order_id: order_id.to_owned(),
            amount,
            currency: json["currencyCode"].as_str().unwrap_or("DKK").to_owned(),
            status: status.into(),
            next: None,
            expires_ms,
            captured: 0.0,
            refunded: 0.0,
        }
    }

    /// Whether a refund of `amount` fits in what was captured and not refunded yet.
    pub(super) fn refundable(&self, amount: f64) -> bool {
        self.status == "Captured" && cents(amount) <= cents(self.captured - self.refunded)
    }

    fn view(&self, poll_delay: u64) -> Value {
        json!({
            "paymentId": self.payment_id,
            "posId": self.pos_id,
            "orderId": self.order_id,
            "amount": self.amount,
            "currencyCode": self.currency,
            "merchantPaymentLabel": null,
            "plannedCaptureDelay": "None",
            "status": self.status,
            "customerToken": null,
            "customerReceiptToken": null,
            "loyaltyIds": [],
            "pollDelayInMs": poll_delay,
        })
    }
}

impl Held for Payment {
    const NOT_FOUND: &'static str = "Payment not found";

    /// Moves the payment on to what the customer (or the clock) decided by now.
    fn advance(&mut self, now_ms: f64) {
        if let Some((at, status)) = self.next {
            if now_ms >= at {
                self.status = status.to_owned();
                self.next = None;
            }
        }
        if matches!(
            self.status.as_str(),
            "Initiated" | "Prepared" | "Paired" | "IssuedToUser"
        ) && self.next.is_none()
            && now_ms >= self.expires_ms
        {
            self.status = "ExpiredAndCancelled".into();
        }
    }

    fn note(&self, facts: &mut Facts) {
        facts.payment = Some(self.payment_id.clone());
        facts.order = Some(self.order_id.clone());
        facts.resource = Some(format!("payment:{}", self.payment_id));
    }
}

impl MobilePaySandbox {
    /// Reads a payment for a handler ([`MobilePaySandbox::held`]).
    pub(super) fn payment_of(
        &self,
        payment_id: &str,
        facts: &mut Facts,
    ) -> Result<Payment, Response> {
        self.held(|st| &mut st.payments, payment_id, facts)
    }

    fn set_payment(&self, payment_id: &str, f: impl FnOnce(&mut Payment)) {
        if let Some(p) = lock(&self.state).payments.get_mut(payment_id) {
            f(p);
        }
    }

    /// Moves the payment to `status` (`also` changing more of it): a handler's 204.
    fn move_payment(
        &self,
        payment_id: &str,
        status: &str,
        facts: &mut Facts,
        also: impl FnOnce(&mut Payment),
    ) -> Result<Response, Response> {
        self.set_payment(payment_id, |p| {
            p.status = status.into();
            also(p);
        });
        moved_to(facts, status)
    }

    /// The newest payment of this scenario the customer can still answer, moved on to now
    /// (what the app shows when the customer opens it).
    pub(in crate::providers::mobilepay) fn issued_payment(&self) -> Option<String> {
        let now = self.core.now_ms();
        let mut st = lock(&self.state);
        let ids = st.scenario_payments.clone();
        ids.iter().rev().find_map(|id| {
            let p = st.payments.get_mut(id)?;
            p.advance(now);
            AWAITING_CUSTOMER
                .contains(&p.status.as_str())
                .then(|| id.clone())
        })
    }
}

/// Creates a payment for initiate and prepare (the two ways to start one).
async fn start_payment(
    sb: Arc<MobilePaySandbox>,
    headers: HeaderMap,
    body: axum::body::Bytes,
    operation: &'static str,
) -> Response {
    answering(|facts| {
        Box::pin(async move {
            facts.operation = Some(operation.into());
            let json = json_body(&body, facts)?;
            facts.order = json["orderId"].as_str().map(str::to_owned);
            sb.admit(operation, &headers, Some(&json), facts).await?;
            let key = sb.idempotency(operation, &headers, &json, facts)?;
            let pos_id = json["posId"].as_str().unwrap_or_default().to_owned();
            let order_id = json["orderId"].as_str().unwrap_or_default().to_owned();
            let now = sb.core.now_ms();
            let poll_delay = sb.poll_delay();
            let expiry = sb.scaled_ms(lock(&sb.state).script.payment_expiry_s);
            let mut st = lock(&sb.state);
            if !st.points_of_sale.iter().any(|p| p.pos_id == pos_id) {
                drop(st);
                return Err(error(
                    StatusCode::CONFLICT,
                    "1000",
                    "Point of Sale not found",
                ));
            }
            if st.script.already_active {
                // A payment left active by a PoS that crashed mid-payment, for the same order.
                st.script.already_active = false;
                let amount = json["amount"].as_f64().unwrap_or(1.0);
                let stale =
                    Payment::new(&pos_id, &order_id, &json, amount, "Initiated", now + expiry);
                facts
                    .notes
                    .insert("planted_active_payment".into(), json!(stale.payment_id));
                st.planted.push(stale.payment_id.clone());
                st.payments.insert(stale.payment_id.clone(), stale);
            }
            for p in st.payments.values_mut() {
                p.advance(now);
            }
            if let Some(active) = st
                .payments
                .values()
                .find(|p| p.pos_id == pos_id && ACTIVE.contains(&p.status.as_str()))
            {
                facts.payment = Some(active.payment_id.clone());
                let refusal = conflict(
                    facts,
                    &active.status,
                    "1301",
                    "Payment already active on the point of sale.",
                );
                drop(st);
                return Err(refusal);
            }
            let (status, amount) = if operation == OP_PAYMENT_PREPARE {
                ("Prepared", 0.0)
            } else {
                ("Initiated", json["amount"].as_f64().unwrap_or(0.0))
            };
            let payment = Payment::new(&pos_id, &order_id, &json, amount, status, now + expiry);
            facts.payment = Some(payment.payment_id.clone());
            facts.payment_state = Some(status.into());
            facts.resource = Some(format!("payment:{}", payment.payment_id));
            facts.poll_delay_ms = Some(poll_delay as f64);
            let answer = json!({ "paymentId": payment.payment_id, "pollDelayInMs": poll_delay });
            st.scenario_payments.push(payment.payment_id.clone());
            st.payments.insert(payment.payment_id.clone(), payment);
            drop(st);
            sb.remember(key, operation, &json, StatusCode::OK, &answer);
            Ok(Json(answer).into_response())
        })
    })
    .await
}

pub(super) async fn initiate(
    State(sb): Sb,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    start_payment(sb, headers, body, OP_PAYMENT_INITIATE).await
}

pub(super) async fn prepare(
    State(sb): Sb,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    start_payment(sb, headers, body, OP_PAYMENT_PREPARE).await
}

/// A prepared payment gets its amount and is issued to the customer.
pub(super) async fn ready(call: PosCall, Path(payment_id): Path<String>, body: Bytes) -> Response {
    call.answer(OP_PAYMENT_READY, Input::Json(&body), |json, facts| {
        let p = call.sb.payment_of(&payment_id, facts)?;
        let message = "The payment is not prepared (code inferred).";
        in_state(facts, &p.status, &["Prepared", "Paired"], "1302", message)?;
        let amount = json["amount"].as_f64().unwrap_or(0.0);
        let currency = json["currencyCode"].as_str().unwrap_or("DKK").to_owned();
        call.sb.move_payment(&payment_id, "Initiated", facts, |p| {
            p.amount = amount;
            p.currency = currency;
        })
    })
    .await
}

pub(super) async fn lookup(call: PosCall, RawQuery(query): RawQuery) -> Response {
    call.answer(
        OP_PAYMENT_LOOKUP,
        Input::Query(query.as_deref()),
        |q, facts| {
            let pos_id = q.get("posId").and_then(Value::as_str).map(str::to_owned);
            let order_id = q.get("orderId").and_then(Value::as_str).map(str::to_owned);
            facts.order = order_id.clone();
            let done = q.get("state").and_then(Value::as_str) == Some("Done");
            let now = call.sb.core.now_ms();
            let mut st = lock(&call.sb.state);
            let mut ids: Vec<String> = st
                .payments
                .values_mut()
                .filter(|p| pos_id.as_ref().is_none_or(|x| *x == p.pos_id))
                .filter(|p| order_id.as_ref().is_none_or(|x| *x == p.order_id))
                .filter_map(|p| {
                    p.advance(now);
                    (ACTIVE.contains(&p.status.as_str()) != done).then(|| p.payment_id.clone())
                })
                .collect();
            ids.sort();
            drop(st);
            if let [only] = ids.as_slice() {
                facts.payment = Some(only.clone());
            }
            Ok(Json(json!({ "paymentIds": ids })).into_response())
        },
    )
    .await
}

pub(super) async fn poll(call: PosCall, Path(payment_id): Path<String>) -> Response {
    call.answer(OP_PAYMENT_POLL, Input::Nothing, |_, facts| {
        let p = call.sb.payment_of(&payment_id, facts)?;
        let poll_delay = call.sb.polled(facts, &p.status, p.amount);
        Ok(Json(p.view(poll_delay)).into_response())
    })
    .await
}

pub(super) async fn capture(
    call: PosCall,
    Path(payment_id): Path<String>,
    body: Bytes,
) -> Response {
    call.answer(OP_PAYMENT_CAPTURE, Input::Json(&body), |json, facts| {
        let p = call.sb.payment_of(&payment_id, facts)?;
        let message = "The payment is not reserved (HTTP status inferred).";
        in_state(facts, &p.status, &["Reserved"], "1304", message)?;
        facts.payment_state = Some(p.status.clone());
        let amount = json["amount"].as_f64().unwrap_or(0.0);
        facts.amount = Some(p.amount);
        if cents(amount) > cents(p.amount) {
            return Err(error(
                StatusCode::CONFLICT,
                "1305",
                "The capture amount is higher than the reserved amount (HTTP status inferred).",
            ));
        }
        call.sb
            .move_payment(&payment_id, "Captured", facts, |p| p.captured = amount)
    })
    .await
}

pub(super) async fn cancel(call: PosCall, Path(payment_id): Path<String>) -> Response {
    call.answer(OP_PAYMENT_CANCEL, Input::Nothing, |_, facts| {
        let p = call.sb.payment_of(&payment_id, facts)?;
        let message = "The payment is no longer active and cannot be cancelled (code inferred).";
        in_state(facts, &p.status, ACTIVE, "1303", message)?;
        call.sb
            .move_payment(&payment_id, "CancelledByClient", facts, |p| p.next = None)
    })
    .await
}

/// The customer's app (simulator only): the customer approves the payment in the MobilePay app.
pub(super) async fn app_approve(sb: Sb, Path(payment_id): Path<String>) -> Response {
    app_act(sb, payment_id, OP_APP_APPROVE, "Reserved").await
}

/// The customer rejects the payment in the MobilePay app.
pub(super) async fn app_reject(sb: Sb, Path(payment_id): Path<String>) -> Response {
    app_act(sb, payment_id, OP_APP_REJECT, "CancelledByUser").await
}

/// The customer answers in the app: the payment shows IssuedToUser, then `outcome`.
async fn app_act(
    State(sb): Sb,
    payment_id: String,
    op: &'static str,
    outcome: &'static str,
) -> Response {
    answering(|facts| {
        Box::pin(async move {
            facts.operation = Some(op.into());
            let p = sb.payment_of(&payment_id, facts)?;
            if !AWAITING_CUSTOMER.contains(&p.status.as_str()) {
                facts.payment_state = Some(p.status.clone());
                let error = format!("the payment is {}, nothing to answer in the app", p.status);
                return Err((StatusCode::CONFLICT, Json(json!({ "error": error }))).into_response());
            }
            // The customer sees the payment at once; the answer reaches MobilePay a little
            // later, so a PoS polling at its pace sees IssuedToUser before the outcome.
            let at = sb.core.now_ms() + 1.5 * sb.poll_delay() as f64;
            sb.set_payment(&payment_id, |p| {
                p.status = "IssuedToUser".into();
                p.next = Some((at, outcome));
            });
            facts.payment_state = Some("IssuedToUser".into());
            let answer =
                json!({"paymentId": payment_id, "status": "IssuedToUser", "outcome": outcome});
            Ok(Json(answer).into_response())
        })
    })
    .await
}
