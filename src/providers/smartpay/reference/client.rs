//! How the reference shop calls SmartPay: its authentication (a cached Bearer token or Basic),
//! Create Checkout, Get Payment Status judged and re-checked while PENDING, and capture and
//! refund retried with the same modificationId.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{json, Value};

use super::shop::{OrderStatus, Shop};
use crate::providers::smartpay::PENDING_STATUSES;
use crate::reference::shop::{text, ReferenceShop, Token};

/// What a status answer means for the order.
enum Verdict {
    Settled(OrderStatus),
    Pending,
    /// CREATED, AUTORIZATION_INITIALIZED, an error: not paid, nothing to wait for.
    Unconfirmed,
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Keeps only the characters SmartPay allows in references.
fn reference_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl Shop {
    /// A Bearer token good for the next call: the cached one while more than a minute is left.
    async fn bearer(&self) -> Result<String, String> {
        self.token
            .get(self, false, || async {
                let obtained = Instant::now();
                let answer = self
                    .http
                    .post(self.url("/oauth2/token"))
                    .form(&[
                        ("client_id", self.cred("client_id")),
                        ("client_secret", self.cred("client_secret")),
                        ("grant_type", "client_credentials".to_string()),
                    ])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let json: Value = answer.json().await.map_err(|e| e.to_string())?;
                let value = text(&json, "access_token")
                    .ok_or_else(|| format!("no access_token: {json}"))?;
                let lifetime = json["expires_in"].as_f64().unwrap_or(0.0);
                Ok(Token {
                    value,
                    obtained,
                    lifetime: Duration::from_secs_f64(lifetime.max(0.0)),
                })
            })
            .await
    }

    fn basic(&self) -> String {
        let raw = format!(
            "{}:{}",
            self.cred("merchant_key"),
            self.cred("authentication_key")
        );
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// Calls the API with the shop's authentication; a refused Bearer token is renewed once.
    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), String> {
        let basic = self.style_b()
            || (self.flawed("basic_and_bearer") && path.starts_with("/payment/status/"));
        let mut renewed = false;
        loop {
            let auth = if basic {
                self.basic()
            } else {
                format!("Bearer {}", self.bearer().await?)
            };
            let mut request = self
                .http
                .request(method.clone(), self.url(path))
                .header("Authorization", auth);
            if !self.flawed("missing_headers") {
                request = request.header(
                    "Accept-Language",
                    if self.style_b() { "de-DE" } else { "en-US" },
                );
            }
            if let Some(b) = body {
                request = request.json(b);
            }
            let answer = request.send().await.map_err(|e| e.to_string())?;
            let status = answer.status();
            let json: Value = answer.json().await.unwrap_or(Value::Null);
            if status == StatusCode::UNAUTHORIZED && !basic && !renewed {
                renewed = true;
                self.token.forget().await;
                continue;
            }
            return Ok((status, json));
        }
    }

    pub(super) async fn create_checkout(
        &self,
        order_id: &str,
        amount: f64,
        currency: &str,
        item: &str,
    ) -> Result<(String, String), String> {
        let description = if self.style_b() {
            format!("{item} (order {order_id})")
        } else {
            format!("Order {order_id}: {item}")
        };
        let description = if self.flawed("long_description") {
            description
        } else {
            cut(&description, 127)
        };
        let partner_reference = if self.style_b() {
            format!("gl:{}", uuid::Uuid::new_v4().simple())
        } else {
            cut(&reference_safe(order_id), 64)
        };
        let mut body = json!({
            "merchantKey": self.cred("merchant_key"),
            "payment": {"amount": amount, "currencyCode": currency, "description": description},
            "consumer": {"firstName": "Jacob", "lastName": "Smith", "emailAddress": "jacob.smith@example.com"},
            "billingAddress": {"addressLine1": "Anystreet", "number": "321", "city": "Anycity", "postCode": "12345", "countryCode": "DE"},
            "partnerReference": partner_reference,
        });
        if self.flawed("unknown_field") {
            body["orderNumber"] = json!(order_id);
        }
        let (status, json) = self
            .api(reqwest::Method::POST, "/payment/creation", Some(&body))
            .await?;
        if !status.is_success() {
            return Err(format!("Create Checkout failed: {status} {json}"));
        }
        let tx = text(&json, "transactionId").ok_or("no transactionId")?;
        let token = text(&json, "checkoutToken").ok_or("no checkoutToken")?;
        Ok((tx, token))
    }

    /// One Get Payment Status, judged.
    async fn check_status(&self, order_id: &str, transaction_id: &str) -> Verdict {
        let Ok((status, json)) = self
            .api(
                reqwest::Method::GET,
                &format!("/payment/status/{transaction_id}"),
                None,
            )
            .await
        else {
            return Verdict::Unconfirmed;
        };
        if !status.is_success() || json["transactionId"].as_str() != Some(transaction_id) {
            return Verdict::Unconfirmed;
        }
        let Some(order) = self.order(order_id) else {
            return Verdict::Unconfirmed;
        };
        let amount_ok = json["transactionOverview"]["amount"]
            .as_f64()
            .is_some_and(|a| (a - order.amount).abs() < 0.005);
        match json["paymentStatus"].as_str().unwrap_or("") {
            "CAPTURED" | "SETTLED" if amount_ok => Verdict::Settled(OrderStatus::Paid),
            "AUTHORIZATION_COMPLETED" if amount_ok && !self.flawed("captured_only") => {
                Verdict::Settled(OrderStatus::Authorized)
            }
            s if PENDING_STATUSES.contains(&s) => {
                if self.flawed("paid_while_pending") {
                    Verdict::Settled(OrderStatus::Paid)
                } else {
                    Verdict::Pending
                }
            }
            "FAILED" | "CANCELLED" => Verdict::Settled(OrderStatus::Failed),
            _ => Verdict::Unconfirmed,
        }
    }

    /// Re-checks a pending payment at the shop's pace, at most three times, then logs it.
    async fn recheck(self: Arc<Self>, order_id: String, transaction_id: String) {
        let pace_s = if self.style_b() { 45.0 } else { 60.0 };
        let max = if self.flawed("pending_forever") { 6 } else { 3 };
        let scale = self.order(&order_id).map(|o| o.time_scale).unwrap_or(1.0);
        for _ in 0..max {
            tokio::time::sleep(Duration::from_secs_f64(pace_s * scale)).await;
            match self.check_status(&order_id, &transaction_id).await {
                Verdict::Settled(s) => return self.set_status(&order_id, s),
                Verdict::Unconfirmed => return,
                Verdict::Pending => {}
            }
        }
        tracing::warn!("SmartPay payment {transaction_id} of order {order_id} is still pending after {max} re-checks; left for support");
    }

    /// Verifies a payment and records the verdict; re-checks in the background when pending.
    pub(super) async fn verify(
        self: Arc<Self>,
        order_id: String,
        transaction_id: String,
    ) -> OrderStatus {
        match self.check_status(&order_id, &transaction_id).await {
            Verdict::Settled(s) => self.set_status(&order_id, s),
            Verdict::Unconfirmed => {}
            Verdict::Pending => {
                tokio::spawn(self.clone().recheck(order_id.clone(), transaction_id));
            }
        }
        self.order(&order_id)
            .map(|o| o.status)
            .unwrap_or(OrderStatus::Pending)
    }

    fn modification_id(&self, order_id: &str, op: &str) -> String {
        if self.flawed("reused_modification_id") {
            return cut(&reference_safe(&format!("MOD-{order_id}")), 64);
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        if self.style_b() {
            cut(&reference_safe(&format!("{op}-{order_id}-{n}")), 64)
        } else {
            uuid::Uuid::new_v4().to_string()
        }
    }

    /// Capture or refund, retried after a 5xx or a lost answer with the same modificationId.
    pub(super) async fn modify(
        &self,
        order_id: &str,
        op: &str,
    ) -> Result<Value, (StatusCode, String)> {
        let order = self
            .order(order_id)
            .ok_or((StatusCode::NOT_FOUND, "unknown order".to_string()))?;
        let mut id = self.modification_id(order_id, op);
        let path = format!("/payment/{}/{op}", order.transaction_id);
        let mut last = String::new();
        for attempt in 0..=3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(if self.style_b() { 80 } else { 30 }))
                    .await;
                if self.flawed("new_modification_id_on_retry") {
                    id = self.modification_id(order_id, op);
                }
            }
            let body = json!({"modificationId": id, "amount": order.amount});
            match self.api(reqwest::Method::POST, &path, Some(&body)).await {
                Ok((status, json)) if status.is_success() => return Ok(json),
                Ok((status, json)) if status.is_client_error() => {
                    return Err((
                        StatusCode::CONFLICT,
                        format!("SmartPay refused the {op}: {status} {json}"),
                    ))
                }
                Ok((status, json)) => last = format!("{status} {json}"),
                Err(e) => last = e,
            }
        }
        Err((
            StatusCode::BAD_GATEWAY,
            format!("the {op} failed after 3 retries: {last}"),
        ))
    }
}
