//! The MobilePay reference integration: a point-of-sale backend (a till's server) that takes
//! MobilePay payments through the PoS V10 API.
//!
//! Two compliant styles, both allowed by the V10 documentation:
//! - `a`: a token carrying the merchant_vat claim, GUID idempotency keys, payments initiated in
//!   one call, polls exactly `pollDelayInMs` apart, 3 attempts per call, token renewed a minute
//!   before expiry.
//! - `b`: a token without the claim and the `x-mobilepay-merchant-vat-number` header instead,
//!   idempotency keys of its own format (time and counter), the prepared payment flow
//!   (prepare, then ready with the amount), polls half as often again as asked, 1 + 3 attempts
//!   with a growing back-off, token renewed after 80% of its life.
//!
//! Flaws are the mistakes the self-certification and a reviewer look for, one switch each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::reference::{serve_app, Flaw, Reference, ServeFuture, ShopConfig};

pub const REFERENCE: Reference = Reference {
    provider: "mobilepay",
    styles: &["a", "b"],
    style_notes: &["token with the merchant_vat claim; GUID idempotency keys; payments initiated in one call; polls exactly pollDelayInMs apart; 3 attempts", "merchant VAT header instead of the claim; own idempotency key format; prepare-then-ready flow; slower polls; 1 + 3 attempts with back-off"],
    flaws: FLAWS,
    target_yaml: include_str!("../../../targets/mobilepay-reference.yaml"),
    serve,
    env_prefix: "MOBILEPAY",
    test_time_scale: Some(0.05), // pollDelayInMs 50 ms on the wire
    flaws_alternate_styles: false,
    skipped_when_compliant: &[],
};

pub const FLAWS: &[Flaw] = &[
    Flaw {
        name: "token_per_call",
        description: "fetches a new access token for every API call",
        caught_by: &["MP-TOKEN-REUSE"],
    },
    Flaw {
        name: "new_key_on_retry",
        description: "makes a new idempotency key for every attempt, so a retry after a timeout or 500 is a new request",
        caught_by: &["MP-IDEMPOTENCY"],
    },
    Flaw {
        name: "reused_key_other_body",
        description: "reuses the payment's idempotency key for its refund (MobilePay answers 409 1306)",
        caught_by: &["MP-IDEMPOTENCY", "MP-REFUND-COMPLETED", "MP-REFUND-CANCELLED"],
    },
    Flaw {
        name: "no_idempotency_key",
        description: "sends refunds without x-mobilepay-idempotency-key (MobilePay answers 400 1164)",
        caught_by: &["MP-IDEMPOTENCY", "MP-REFUND-COMPLETED", "MP-REFUND-CANCELLED"],
    },
    Flaw {
        name: "retry_after_4xx",
        description: "retries a call MobilePay refused with a 4xx (409 1301) with the same key before recovering",
        caught_by: &["MP-RETRIES"],
    },
    Flaw {
        name: "capture_retry_after_400",
        description: "sends a capture MobilePay refused with a 400 again, unchanged",
        caught_by: &["MP-RETRIES"],
    },
    Flaw {
        name: "unbounded_retries",
        description: "retries a failing call ten times instead of at most six attempts",
        caught_by: &["MP-RETRIES"],
    },
    Flaw {
        name: "poll_too_fast",
        description: "polls four times as often as pollDelayInMs allows",
        caught_by: &["MP-POLL-INTERVAL"],
    },
    Flaw {
        name: "capture_before_reserved",
        description: "captures right after initiating, before any poll returned Reserved (MobilePay answers 1304)",
        caught_by: &["MP-CAPTURE"],
    },
    Flaw {
        name: "capture_above_reserved",
        description: "first tries to capture the total plus a tip that was never reserved (MobilePay answers 1305)",
        caught_by: &["MP-CAPTURE"],
    },
    Flaw {
        name: "duplicate_version_header",
        description: "its refund client sends x-mobilepay-client-system-version twice (MobilePay answers 400 1157)",
        caught_by: &["MP-API-HEADERS", "MP-REFUND-COMPLETED", "MP-REFUND-CANCELLED"],
    },
    Flaw {
        name: "creates_pos_without_lookup",
        description: "creates its point of sale at start-up without looking it up first",
        caught_by: &["MP-POS-LOOKUP"],
    },
    Flaw {
        name: "ignores_active_payment",
        description: "gives up on 409 1301 instead of looking up, cancelling and re-initiating",
        caught_by: &["MP-ACTIVE-PAYMENT"],
    },
    Flaw {
        name: "paid_on_initiate",
        description: "closes the order as paid once the payment is initiated, whatever the customer does later",
        caught_by: &["MP-CANCELLED-NOT-PAID"],
    },
    Flaw {
        name: "order_left_open",
        description: "captures the payment but never closes the order as paid (it waits for a Captured poll it never makes)",
        caught_by: &["MP-PAYMENT-COMPLETED"],
    },
    Flaw {
        name: "vat_header_missing_on_lookup",
        description: "uses a token without merchant_vat and forgets x-mobilepay-merchant-vat-number when it looks up active payments (400 1151)",
        caught_by: &["MP-MERCHANT-VAT", "MP-ACTIVE-PAYMENT"],
    },
    Flaw {
        name: "refund_label_too_long",
        description: "sends a merchantRefundLabel longer than 36 characters (the refund is refused)",
        caught_by: &["MP-REQUEST-SCHEMA", "MP-REFUND-COMPLETED", "MP-REFUND-CANCELLED"],
    },
    Flaw {
        name: "ignore_token_expiry",
        description: "keeps using its access token after expires_in (and renews only when refused)",
        caught_by: &["MP-TOKEN-VALID"],
    },
    Flaw {
        name: "cancel_only_on_till",
        description: "cancels on the till without telling MobilePay, so the customer can still pay",
        caught_by: &["MP-CANCEL"],
    },
    Flaw {
        name: "unknown_field",
        description: "sends a field Initiate Payment does not know (tipAmount)",
        caught_by: &["MP-UNRECOGNIZED-FIELDS"],
    },
    Flaw {
        name: "calls_retired_endpoint",
        description:
            "after each new token, also calls a health check the API does not have (GET /v0/health, from an old SDK) and ignores the answer",
        caught_by: &["MP-UNKNOWN-OPERATION"],
    },
];

/// Client timeouts the V10 guide asks for: 2 s for POST/PUT/DELETE, 0.5 s for GET.
const POST_TIMEOUT: Duration = Duration::from_secs(2);
const GET_TIMEOUT: Duration = Duration::from_millis(500);
/// However a poll goes, the till stops polling one payment after this many polls.
const MAX_POLLS: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq)]
enum OrderStatus {
    Pending,
    Paid,
    Cancelled,
    Failed,
}

impl OrderStatus {
    fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
struct Order {
    amount: f64,
    currency: String,
    status: OrderStatus,
    payment_id: Option<String>,
    /// The idempotency key the payment was started with.
    payment_key: Option<String>,
}

struct Token {
    value: String,
    issued: Instant,
    lifetime: Duration,
}

/// One answer from MobilePay, or why there was none.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

struct Shop {
    config: ShopConfig,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<Token>>,
    pos: tokio::sync::Mutex<Option<String>>,
    orders: Mutex<HashMap<String, Order>>,
    counter: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shop {
    fn flawed(&self, flaw: &str) -> bool {
        self.config.flaws.contains(flaw)
    }

    fn style_b(&self) -> bool {
        self.config.style == "b"
    }

    fn cred(&self, name: &str) -> String {
        self.config
            .credentials
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.sandbox_url.trim_end_matches('/'))
    }

    fn merchant_pos_id(&self) -> &'static str {
        if self.style_b() {
            "TILL-02"
        } else {
            "golive-till-1"
        }
    }

    /// A new idempotency key: a GUID (style a) or the till's own time-and-counter format.
    fn new_key(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        if self.style_b() {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            format!("till2-{ms:x}-{n}")
        } else {
            uuid::Uuid::new_v4().to_string()
        }
    }

    /// Attempts per call (the first one included): V10 suggests 3, allows 6.
    fn attempts(&self) -> usize {
        if self.flawed("unbounded_retries") {
            10
        } else if self.style_b() {
            4
        } else {
            3
        }
    }

    fn backoff(&self, attempt: usize) -> Duration {
        if self.style_b() {
            Duration::from_millis(60 * attempt as u64)
        } else {
            Duration::from_millis(40)
        }
    }

    async fn token(&self) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            let age = t.issued.elapsed();
            let keep = if self.flawed("token_per_call") {
                false
            } else if self.flawed("ignore_token_expiry") {
                true
            } else if self.style_b() {
                age < t.lifetime.mul_f64(0.8)
            } else {
                age + Duration::from_secs(60) < t.lifetime
            };
            if keep {
                return Ok(t.value.clone());
            }
        }
        let client_id = self.cred("client_id");
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{}", self.cred("client_secret")));
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if !self.style_b() && !self.flawed("vat_header_missing_on_lookup") {
            form.push(("merchant_vat", self.cred("merchant_vat")));
        }
        let answer = self
            .http
            .post(self.url("/integrator-authentication/connect/token"))
            .timeout(POST_TIMEOUT)
            .header("x-ibm-client-id", &client_id)
            .header("Authorization", format!("Basic {basic}"))
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("token: {e}"))?;
        let status = answer.status();
        let json: Value = answer.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("token refused: {status} {json}"));
        }
        let value = json["access_token"]
            .as_str()
            .ok_or("no access_token")?
            .to_owned();
        let lifetime = Duration::from_secs(json["expires_in"].as_u64().unwrap_or(60));
        if self.flawed("calls_retired_endpoint") {
            // The planted mistake: a call to no operation of the API (its answer is ignored).
            let _ = self.http.get(self.url("/v0/health")).send().await;
        }
        *cached = Some(Token {
            value: value.clone(),
            issued: Instant::now(),
            lifetime,
        });
        Ok(value)
    }

    /// One call to the PoS API with every header V10 asks for.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        refund_client: bool,
    ) -> Result<Answer, String> {
        let answer = self
            .call_once(method.clone(), path, body, key, refund_client)
            .await?;
        if answer.status == 401 && self.flawed("ignore_token_expiry") {
            // The till notices only when MobilePay refuses the token: it gets a new one and
            // sends the call again.
            *self.token.lock().await = None;
            return self.call_once(method, path, body, key, refund_client).await;
        }
        Ok(answer)
    }

    async fn call_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        refund_client: bool,
    ) -> Result<Answer, String> {
        let token = self.token().await?;
        let timeout = if method == reqwest::Method::GET {
            GET_TIMEOUT
        } else {
            POST_TIMEOUT
        };
        let version = if self.style_b() { "10.0.3" } else { "2.4.1" };
        let mut r = self
            .http
            .request(method, self.url(path))
            .timeout(timeout)
            .header("x-ibm-client-id", self.cred("client_id"))
            .header("Authorization", format!("Bearer {token}"))
            .header("x-mobilepay-client-system-version", version);
        if refund_client && self.flawed("duplicate_version_header") {
            // The refund module's client has the header as a default and adds it again.
            r = r.header("x-mobilepay-client-system-version", version);
        }
        if self.flawed("vat_header_missing_on_lookup") {
            // The mistake: the payment look-up builds its request without the merchant's VAT.
            if !path.starts_with("/pos/v10/payments?") {
                r = r.header("x-mobilepay-merchant-vat-number", self.cred("merchant_vat"));
            }
        } else if self.style_b() {
            r = r.header("x-mobilepay-merchant-vat-number", self.cred("merchant_vat"));
        }
        if let Some(k) = key {
            r = r.header("x-mobilepay-idempotency-key", k);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let answer = r.send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_string()
            } else {
                e.to_string()
            }
        })?;
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }

    /// A POST that changes something, retried after a timeout or a 5xx with the same key (a
    /// new key per attempt is the `new_key_on_retry` flaw), never after a 4xx.
    async fn post_with_retries(
        &self,
        path: &str,
        body: &Value,
        key: Option<String>,
        refund_client: bool,
    ) -> Result<Answer, String> {
        let mut key = key;
        let mut last = Err("not attempted".to_string());
        let mut repeated_4xx = false;
        for attempt in 1..=self.attempts() {
            if attempt > 1 {
                tokio::time::sleep(self.backoff(attempt - 1)).await;
                if self.flawed("new_key_on_retry") && key.is_some() {
                    key = Some(self.new_key());
                }
            }
            let result = self
                .call(
                    reqwest::Method::POST,
                    path,
                    Some(body),
                    key.as_deref(),
                    refund_client,
                )
                .await;
            match &result {
                Ok(a) if a.status >= 500 => {}
                Ok(a)
                    if (400..500).contains(&a.status)
                        && self.flawed("retry_after_4xx")
                        && !repeated_4xx =>
                {
                    // The mistake: "try once more, it may work now".
                    repeated_4xx = true;
                }
                Ok(_) => return result,
                Err(_) => {}
            }
            last = result;
        }
        last
    }

    /// Start-up: look the point of sale up, create it only if it is missing.
    async fn ensure_pos(&self) -> Result<String, String> {
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

    async fn lookup_pos(&self) -> Result<Option<String>, String> {
        let path = format!(
            "/pos/v10/pointofsales?merchantPosId={}",
            self.merchant_pos_id()
        );
        let mut last = String::new();
        for attempt in 1..=self.attempts() {
            if attempt > 1 {
                tokio::time::sleep(self.backoff(attempt - 1)).await;
            }
            match self
                .call(reqwest::Method::GET, &path, None, None, false)
                .await
            {
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
    async fn start_payment(
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
                let payment_id = answer.body["paymentId"]
                    .as_str()
                    .ok_or("no paymentId")?
                    .to_owned();
                let delay = answer.body["pollDelayInMs"].as_u64().unwrap_or(1000);
                if self.style_b() {
                    let ready = json!({"amount": amount, "currencyCode": currency, "plannedCaptureDelay": "None"});
                    let r = self
                        .call(
                            reqwest::Method::POST,
                            &format!("/pos/v10/payments/{payment_id}/ready"),
                            Some(&ready),
                            None,
                            false,
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
                    .call(
                        reqwest::Method::GET,
                        &format!("/pos/v10/payments?posId={pos_id}&orderId={order_id}"),
                        None,
                        None,
                        false,
                    )
                    .await?;
                for id in found.body["paymentIds"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let id = id.as_str().unwrap_or_default();
                    self.call(
                        reqwest::Method::POST,
                        &format!("/pos/v10/payments/{id}/cancel"),
                        None,
                        None,
                        false,
                    )
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

    fn set_status(&self, order_id: &str, status: OrderStatus) {
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

    /// How long to wait before the next poll, given what MobilePay asked for.
    fn poll_wait(&self, delay_ms: u64) -> Duration {
        let d = Duration::from_millis(delay_ms);
        if self.flawed("poll_too_fast") {
            d / 4
        } else if self.style_b() {
            d.mul_f64(1.5)
        } else {
            d
        }
    }

    async fn capture(&self, payment_id: &str, amount: f64) -> bool {
        let path = format!("/pos/v10/payments/{payment_id}/capture");
        let body = json!({ "amount": amount });
        let mut answer = self
            .call(reqwest::Method::POST, &path, Some(&body), None, false)
            .await;
        if self.flawed("capture_retry_after_400") && matches!(&answer, Ok(a) if a.status == 400) {
            // The mistake: "try once more, it may work now".
            answer = self
                .call(reqwest::Method::POST, &path, Some(&body), None, false)
                .await;
        }
        matches!(answer, Ok(a) if a.ok())
    }

    /// The till follows its payment: polls at MobilePay's pace until the customer has
    /// answered, captures a reservation, and settles the order.
    async fn follow(
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
            tokio::time::sleep(self.poll_wait(delay)).await;
            let Ok(a) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/pos/v10/payments/{payment_id}"),
                    None,
                    None,
                    false,
                )
                .await
            else {
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
    async fn refund(&self, order_id: &str, amount: f64, cancel: bool) -> Result<Value, String> {
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
            tokio::time::sleep(self.poll_wait(delay)).await;
            let Ok(a) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/pos/v10/refunds/{refund_id}"),
                    None,
                    None,
                    true,
                )
                .await
            else {
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
                    .call(reqwest::Method::POST, &path, body.as_ref(), None, true)
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

fn amount_of(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn start_up(State(shop): State<Arc<Shop>>) -> Response {
    match shop.ensure_pos().await {
        Ok(pos_id) => Json(json!({"posId": pos_id})).into_response(),
        Err(e) => failure(StatusCode::BAD_GATEWAY, e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartPayment {
    order_id: String,
    amount: Value,
    #[serde(default = "dkk")]
    currency: String,
}

fn dkk() -> String {
    "DKK".into()
}

async fn start_payment(State(shop): State<Arc<Shop>>, Json(p): Json<StartPayment>) -> Response {
    let amount = amount_of(&p.amount);
    if amount <= 0.0 {
        return failure(StatusCode::BAD_REQUEST, "amount must be above 0");
    }
    lock(&shop.orders).insert(
        p.order_id.clone(),
        Order {
            amount,
            currency: p.currency.clone(),
            status: OrderStatus::Pending,
            payment_id: None,
            payment_key: None,
        },
    );
    match shop.start_payment(&p.order_id, amount, &p.currency).await {
        Ok((payment_id, delay)) => {
            if shop.flawed("paid_on_initiate") {
                shop.set_status(&p.order_id, OrderStatus::Paid);
            }
            let follower = shop.clone();
            let order_id = p.order_id.clone();
            let pid = payment_id.clone();
            tokio::spawn(async move { follower.follow(order_id, pid, delay, amount).await });
            (
                StatusCode::CREATED,
                Json(json!({"orderId": p.order_id, "paymentId": payment_id})),
            )
                .into_response()
        }
        Err(e) => {
            shop.set_status(&p.order_id, OrderStatus::Failed);
            failure(StatusCode::BAD_GATEWAY, e)
        }
    }
}

async fn cancel_payment(State(shop): State<Arc<Shop>>, Path(order_id): Path<String>) -> Response {
    let payment_id = lock(&shop.orders)
        .get(&order_id)
        .and_then(|o| o.payment_id.clone());
    let Some(payment_id) = payment_id else {
        return failure(StatusCode::NOT_FOUND, "no payment for this order");
    };
    if shop.flawed("cancel_only_on_till") {
        // The mistake: the till forgets the payment, MobilePay does not.
        shop.set_status(&order_id, OrderStatus::Cancelled);
        return Json(json!({"orderId": order_id, "status": "cancelled"})).into_response();
    }
    match shop
        .call(
            reqwest::Method::POST,
            &format!("/pos/v10/payments/{payment_id}/cancel"),
            None,
            None,
            false,
        )
        .await
    {
        Ok(a) if a.ok() => {
            shop.set_status(&order_id, OrderStatus::Cancelled);
            Json(json!({"orderId": order_id, "status": "cancelled"})).into_response()
        }
        Ok(a) => failure(
            StatusCode::BAD_GATEWAY,
            format!("cancel refused: {} {}", a.status, a.body),
        ),
        Err(e) => failure(StatusCode::BAD_GATEWAY, e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundRequest {
    order_id: String,
    amount: Value,
    /// `capture` (complete the refund) or `cancel`.
    #[serde(default = "capture")]
    action: String,
}

fn capture() -> String {
    "capture".into()
}

async fn refund(State(shop): State<Arc<Shop>>, Json(r): Json<RefundRequest>) -> Response {
    let amount = amount_of(&r.amount);
    match shop.refund(&r.order_id, amount, r.action == "cancel").await {
        Ok(v) => Json(v).into_response(),
        Err(e) => failure(StatusCode::BAD_GATEWAY, e),
    }
}

async fn order(State(shop): State<Arc<Shop>>, Path(order_id): Path<String>) -> Response {
    match lock(&shop.orders).get(&order_id) {
        Some(o) => {
            Json(json!({"orderId": order_id, "status": o.status.as_str(), "amount": o.amount}))
                .into_response()
        }
        None => failure(StatusCode::NOT_FOUND, "unknown order"),
    }
}

fn serve(config: ShopConfig, listener: TcpListener) -> ServeFuture {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client builds");
    let shop = Arc::new(Shop {
        config,
        http,
        token: tokio::sync::Mutex::new(None),
        pos: tokio::sync::Mutex::new(None),
        orders: Mutex::new(HashMap::new()),
        counter: AtomicU64::new(1),
    });
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/pos/start-up", post(start_up))
        .route("/pos/payments", post(start_payment))
        .route("/pos/payments/{order_id}/cancel", post(cancel_payment))
        .route("/pos/refunds", post(refund))
        .route("/orders/{order_id}", get(order))
        .with_state(shop);
    serve_app(app, listener)
}
