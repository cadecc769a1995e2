//! What the till does with MobilePay: makes sure its point of sale exists, starts a payment
//! (recovering from one left active), follows it at MobilePay's pace to the end, and refunds.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::client::Shop;
use crate::reference::shop::{text, ReferenceShop};
use crate::sandbox::lock;

/// However a poll goes, the till stops polling one payment after this many polls.
const MAX_POLLS: usize = 400;

pub(super) use crate::reference::shop::OrderStatus;

#[derive(Debug, Clone)]
pub(super) struct Order {
    pub(super) amount: f64,
    pub(super) currency: String,
    pub(super) status: OrderStatus,
    pub(super) payment_id: Option<String>,
    /// The idempotency key the payment was started with.
    pub(super) payment_key: Option<String>,
}

impl Shop {
    /// Start-up: look the point of sale up, create it only if it is missing.
    pub(super) async fn ensure_pos(&self) -> Result<String, String> {
        let mut pos = self.pos.lock().await;
        if let Some(p) = pos.as_ref() {
            return Ok(p.clone());
        }
        if !self.flawed("creates_pos_without_lookup") {
            if let Some(found) = self.lookup_pos().await? {
                *pos = Some(found.clone());
                return Ok(found);
            }
        }
        let body = json!({"merchantPosId": self.merchant_pos_id(), "storeId": "9f1c3e52-golive-store", "name": "golive till"});
        let answer = self
            .post_with_retries("/pos/v10/pointofsales", &body, Some(self.new_key()), false)
            .await?;
        let pos_id = if answer.ok() {
            answer.body["posId"].as_str().ok_or("no posId")?.to_owned()
        } else if answer.status == 409 {
            // It exists after all (created by an attempt whose answer was lost).
            self.lookup_pos()
                .await?
                .ok_or("the point of sale exists but cannot be found")?
        } else {
            return Err(format!(
                "creating the point of sale failed: {} {}",
                answer.status, answer.body
            ));
        };
        *pos = Some(pos_id.clone());
        Ok(pos_id)
    }

    pub(super) async fn lookup_pos(&self) -> Result<Option<String>, String> {
        let path = format!(
            "/pos/v10/pointofsales?merchantPosId={}",
            self.merchant_pos_id()
        );
        let mut last = String::new();
        for attempt in 1..=self.attempts() {
            if attempt > 1 {
                tokio::time::sleep(self.backoff(attempt - 1)).await;
            }
            match self.get(&path).await {
                Ok(a) if a.ok() => {
                    return Ok(a.body["pointOfSales"][0]["posId"]
                        .as_str()
                        .map(str::to_owned))
                }
                Ok(a) if a.status < 500 => {
                    return Err(format!(
                        "looking up the point of sale failed: {} {}",
                        a.status, a.body
                    ))
                }
                Ok(a) => last = format!("{} {}", a.status, a.body),
                Err(e) => last = e,
            }
        }
        Err(format!("looking up the point of sale failed: {last}"))
    }

    /// Starts a payment (initiate, or prepare + ready in style b); answers the payment id and
    /// the first poll delay. On 409 1301 it cleans up the active payment and starts anew.
    pub(super) async fn start_payment(
        &self,
        order_id: &str,
        amount: f64,
        currency: &str,
    ) -> Result<(String, u64), String> {
        let pos_id = self.ensure_pos().await?;
        let mut recovered = false;
        loop {
            let key = self.new_key();
            let answer = if self.style_b() {
                let body =
                    json!({"posId": pos_id, "orderId": order_id, "plannedCaptureDelay": "None"});
                self.post_with_retries("/pos/v10/payments/prepare", &body, Some(key.clone()), false)
                    .await?
            } else {
                let mut body = json!({"posId": pos_id, "orderId": order_id, "amount": amount, "currencyCode": currency,
                                      "merchantPaymentLabel": order_id.chars().take(36).collect::<String>(), "plannedCaptureDelay": "None"});
                if self.flawed("unknown_field") {
                    body["tipAmount"] = json!(0);
                }
                self.post_with_retries("/pos/v10/payments", &body, Some(key.clone()), false)
                    .await?
            };
            if answer.ok() {
                let payment_id = text(&answer.body, "paymentId").ok_or("no paymentId")?;
                let delay = answer.body["pollDelayInMs"].as_u64().unwrap_or(1000);
                if self.style_b() {
                    let ready = json!({"amount": amount, "currencyCode": currency, "plannedCaptureDelay": "None"});
                    let r = self
                        .post(
                            &format!("/pos/v10/payments/{payment_id}/ready"),
                            Some(&ready),
                        )
                        .await?;
                    if !r.ok() {
                        return Err(format!("ready failed: {} {}", r.status, r.body));
                    }
                }
                if let Some(o) = lock(&self.orders).get_mut(order_id) {
                    o.payment_id = Some(payment_id.clone());
                    o.payment_key = Some(key);
                }
                return Ok((payment_id, delay));
            }
            if answer.status == 409
                && answer.code() == "1301"
                && !recovered
                && !self.flawed("ignores_active_payment")
            {
                // Payment already active: find it by PoS and order, cancel it, start again.
                recovered = true;
                let found = self
                    .get(&format!(
                        "/pos/v10/payments?posId={pos_id}&orderId={order_id}"
                    ))
                    .await?;
                for id in found.body["paymentIds"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let id = id.as_str().unwrap_or_default();
                    self.post(&format!("/pos/v10/payments/{id}/cancel"), None)
                        .await?;
                }
                continue;
            }
            return Err(format!(
                "starting the payment failed: {} {}",
                answer.status, answer.body
            ));
        }
    }

    pub(super) fn set_status(&self, order_id: &str, status: OrderStatus) {
        if let Some(o) = lock(&self.orders).get_mut(order_id) {
            if self.flawed("paid_on_initiate") && o.status == OrderStatus::Paid {
                // The mistake: what the customer does after the receipt is printed is ignored.
                return;
            }
            if self.flawed("order_left_open") && status == OrderStatus::Paid {
                return;
            }
            o.status = status;
        }
    }

    /// One poll of `path`, waiting first as the till does after MobilePay asked for `delay_ms`.
    async fn poll_after(
        &self,
        path: &str,
        delay_ms: u64,
        refund_client: bool,
    ) -> Result<super::client::Answer, String> {
        tokio::time::sleep(self.poll_wait(delay_ms)).await;
        if self.flawed("poll_too_fast") {
            // The mistake, twice over: it asks once more at once to be sure of the answer. Every
            // poll answer carries a pollDelayInMs, so the flaw shows in every scenario the till
            // polls in, however early the cashier's cancel comes (on a busy machine the till
            // may or may not get a second poll in before it).
            let _ = self
                .call(Method::GET, path, None, None, refund_client)
                .await;
        }
        self.call(Method::GET, path, None, None, refund_client)
            .await
    }

    /// How long to wait before the next poll, given what MobilePay asked for.
    pub(super) fn poll_wait(&self, delay_ms: u64) -> Duration {
        let d = Duration::from_millis(delay_ms);
        if self.flawed("poll_too_fast") {
            d / 4
        } else if self.style_b() {
            d.mul_f64(1.5)
        } else {
            d
        }
    }

    pub(super) async fn capture(&self, payment_id: &str, amount: f64) -> bool {
        let path = format!("/pos/v10/payments/{payment_id}/capture");
        let body = json!({ "amount": amount });
        let mut answer = self.post(&path, Some(&body)).await;
        if self.flawed("capture_retry_after_400") && matches!(&answer, Ok(a) if a.status == 400) {
            // The mistake: "try once more, it may work now".
            answer = self.post(&path, Some(&body)).await;
        }
        matches!(answer, Ok(a) if a.ok())
    }

    /// The till follows its payment: polls at MobilePay's pace until the customer has
    /// answered, captures a reservation, and settles the order.
    pub(super) async fn follow(
        self: Arc<Self>,
        order_id: String,
        payment_id: String,
        first_delay: u64,
        amount: f64,
    ) {
        if self.flawed("capture_before_reserved") {
            // The mistake: capture at once, as if the customer had already paid.
            let _ = self.capture(&payment_id, amount).await;
        }
        let mut delay = first_delay;
        for _ in 0..MAX_POLLS {
            let path = format!("/pos/v10/payments/{payment_id}");
            let Ok(a) = self.poll_after(&path, delay, false).await else {
                continue;
            };
            if !a.ok() {
                if a.status < 500 {
                    self.set_status(&order_id, OrderStatus::Failed);
                    return;
                }
                continue;
            }
            delay = a.body["pollDelayInMs"].as_u64().unwrap_or(delay);
            match a.body["status"].as_str().unwrap_or("") {
                "Reserved" => {
                    let reserved = a.body["amount"].as_f64().unwrap_or(amount);
                    if self.flawed("capture_above_reserved") {
                        // The mistake: the tip typed on the till was never part of the payment.
                        let _ = self.capture(&payment_id, reserved + 5.0).await;
                    }
                    let status = if self.capture(&payment_id, reserved).await {
                        OrderStatus::Paid
                    } else {
                        OrderStatus::Failed
                    };
                    self.set_status(&order_id, status);
                    return;
                }
                "Captured" => {
                    self.set_status(&order_id, OrderStatus::Paid);
                    return;
                }
                "CancelledByUser"
                | "CancelledByClient"
                | "CancelledByMobilePay"
                | "ExpiredAndCancelled" => {
                    self.set_status(&order_id, OrderStatus::Cancelled);
                    return;
                }
                _ => {}
            }
        }
    }

    /// A refund of a captured order, followed to Reserved, then captured or cancelled.
    pub(super) async fn refund(
        &self,
        order_id: &str,
        amount: f64,
        cancel: bool,
    ) -> Result<Value, String> {
        let order = lock(&self.orders)
            .get(order_id)
            .cloned()
            .ok_or("unknown order")?;
        let payment_id = order.payment_id.clone().ok_or("the order has no payment")?;
        let key = if self.flawed("no_idempotency_key") {
            None
        } else if self.flawed("reused_key_other_body") {
            order.payment_key.clone()
        } else {
            Some(self.new_key())
        };
        let body = json!({"paymentId": payment_id, "refundOrderId": format!("R-{order_id}").chars().take(36).collect::<String>(),
                          "amount": amount, "currencyCode": order.currency});
        let mut body = body;
        if self.flawed("refund_label_too_long") {
            body["merchantRefundLabel"] =
                json!(format!("Refund of order {order_id} at the golive till"));
        }
        let answer = self
            .post_with_retries("/pos/v10/refunds", &body, key, true)
            .await?;
        if !answer.ok() {
            return Err(format!(
                "the refund was refused: {} {}",
                answer.status, answer.body
            ));
        }
        let refund_id = answer.body["refundId"]
            .as_str()
            .ok_or("no refundId")?
            .to_owned();
        let mut delay = answer.body["pollDelayInMs"].as_u64().unwrap_or(1000);
        for _ in 0..MAX_POLLS {
            let path = format!("/pos/v10/refunds/{refund_id}");
            let Ok(a) = self.poll_after(&path, delay, true).await else {
                continue;
            };
            if !a.ok() {
                return Err(format!(
                    "polling the refund failed: {} {}",
                    a.status, a.body
                ));
            }
            delay = a.body["pollDelayInMs"].as_u64().unwrap_or(delay);
            if a.body["status"] == "Reserved" {
                let (path, body) = if cancel {
                    (format!("/pos/v10/refunds/{refund_id}/cancel"), None)
                } else {
                    // Style b captures the whole refund with no body, as the V10 API allows.
                    (
                        format!("/pos/v10/refunds/{refund_id}/capture"),
                        (!self.style_b()).then(|| json!({"amount": amount})),
                    )
                };
                let done = self
                    .call(Method::POST, &path, body.as_ref(), None, true)
                    .await?;
                if !done.ok() {
                    return Err(format!(
                        "finishing the refund failed: {} {}",
                        done.status, done.body
                    ));
                }
                return Ok(
                    json!({"refundId": refund_id, "status": if cancel { "CancelledByClient" } else { "Captured" }}),
                );
            }
        }
        Err("the refund never became Reserved".into())
    }
}
