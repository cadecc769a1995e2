//! The reference shop's state and what it does with KontoCloud's API: its orders, its cached
//! token, its partnerReferences and local time, and how it verifies a payment with Get Payment
//! Status and decides what the order is. Each planted flaw changes one decision here or in the
//! shop's pages (`mod.rs`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::super::date_and_time;
use crate::reference::ShopConfig;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum OrderStatus {
    Pending,
    Paid,
    Authorized,
    Failed,
}

impl OrderStatus {
    pub(super) fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Authorized => "authorized",
            OrderStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Order {
    pub amount_cents: i64,
    pub currency: String,
    pub payment_type: String,
    pub status: OrderStatus,
}

struct Token {
    value: String,
    issued_at: time::OffsetDateTime,
    valid_until: time::OffsetDateTime,
}

pub(super) struct Shop {
    pub config: ShopConfig,
    http: reqwest::Client,
    pub orders: Mutex<HashMap<String, Order>>,
    token: tokio::sync::Mutex<Option<Token>>,
    counter: std::sync::atomic::AtomicU64,
}

impl Shop {
    pub(super) fn new(config: ShopConfig) -> Shop {
        let http = reqwest::Client::builder()
            .no_proxy()
            // The seeds ask for a client timeout of at least 90 s.
            .timeout(Duration::from_secs(90))
            .build()
            .expect("an HTTP client builds");
        Shop {
            config,
            http,
            orders: Mutex::new(HashMap::new()),
            token: tokio::sync::Mutex::new(None),
            counter: std::sync::atomic::AtomicU64::new(1),
        }
    }

    pub(super) fn flawed(&self, flaw: &str) -> bool {
        self.config.flaws.contains(flaw)
    }

    pub(super) fn style_b(&self) -> bool {
        self.config.style == "b"
    }

    pub(super) fn partner_reference(&self, purpose: &str, order_id: &str) -> String {
        if self.flawed("constant_partner_reference") {
            return "SHOP-REFERENCE".into();
        }
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.style_b() {
            uuid::Uuid::new_v4().simple().to_string()
        } else {
            let mut r = format!("GL-{purpose}-{order_id}-{n}");
            r.truncate(64);
            r
        }
    }

    fn local(&self) -> (String, String) {
        let offset = if self.style_b() { 60 } else { 0 };
        let skew = if self.flawed("skewed_clock") { 37 } else { 0 };
        date_and_time(offset + skew)
    }

    pub(super) fn base(&self) -> &str {
        self.config.sandbox_url.trim_end_matches('/')
    }

    fn with_headers(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let r = r.header("Content-Type", "application/json");
        if self.flawed("missing_headers") {
            r
        } else {
            r.header("Accept-Language", "en-US")
        }
    }

    /// A token good for the next call: the cached one while it has enough life left.
    async fn token(&self, order_id: &str) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        let now = time::OffsetDateTime::now_utc();
        if let Some(t) = cached.as_ref() {
            let keep = if self.flawed("token_per_call") {
                false
            } else if self.flawed("ignore_token_expiry") {
                true
            } else if self.style_b() {
                // Renew after 80% of the token's life.
                let life = t.valid_until - t.issued_at;
                now < t.issued_at + life * 0.8
            } else {
                now + time::Duration::seconds(60) < t.valid_until
            };
            if keep {
                return Ok(t.value.clone());
            }
        }
        let (local_date, local_time) = self.local();
        let mut body = json!({
            "password": self.config.credentials.get("password").cloned().unwrap_or_default(),
            "partnerReference": self.partner_reference("TOKEN", order_id),
            "localDate": local_date,
            "localTime": local_time,
        });
        if self.flawed("unknown_field") {
            body["merchantNote"] = json!("go-live rehearsal");
        }
        let user = self
            .config
            .credentials
            .get("user_id")
            .cloned()
            .unwrap_or_default();
        let answer = self
            .with_headers(self.http.post(format!("{}/user/{user}/issue", self.base())))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = answer.status();
        let json: Value = answer.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() || json["responseCode"] != "0000" {
            return Err(format!("Issue Token failed: {status} {json}"));
        }
        let value = json["token"]
            .as_str()
            .ok_or("no token in the answer")?
            .to_owned();
        let valid_until = json["validUntil"]
            .as_str()
            .and_then(|v| {
                time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()
            })
            .ok_or("no validUntil in the answer")?;
        if self.flawed("calls_retired_endpoint") {
            // The planted mistake: a call to no operation of the API (its answer is ignored).
            let _ = self
                .http
                .get(format!("{}/v0/health", self.base()))
                .send()
                .await;
        }
        *cached = Some(Token {
            value: value.clone(),
            issued_at: now,
            valid_until,
        });
        Ok(value)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// Asks Get Payment Status and decides what the order is.
    pub(super) async fn verify(&self, order_id: &str, unique_reference: &str) -> OrderStatus {
        let max_retries = if self.flawed("retry_forever") { 12 } else { 3 };
        let backoff = if self.style_b() { 150 } else { 40 };
        let mut retries = 0;
        let mut refused_once = false;
        loop {
            let token = match self.token(order_id).await {
                Ok(t) => t,
                Err(_) => return self.unconfirmed(),
            };
            let (local_date, local_time) = self.local();
            let url = format!("{}/payment/{unique_reference}/status", self.base());
            let answer = self
                .with_headers(self.http.get(&url))
                .header("X-Auth-Token", token)
                .query(&self.status_query(order_id, local_date, local_time))
                .send()
                .await;
            let Ok(answer) = answer else {
                return self.unconfirmed();
            };
            let status = answer.status();
            let json: Value = answer.json().await.unwrap_or(Value::Null);
            if status == StatusCode::UNAUTHORIZED && !refused_once {
                // The token was refused: get a new one and ask again, once.
                refused_once = true;
                self.forget_token().await;
                continue;
            }
            if status.is_server_error() || json["responseCode"] == "0099" {
                if retries >= max_retries {
                    return self.unconfirmed();
                }
                retries += 1;
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                continue;
            }
            if !status.is_success() || json["responseCode"] != "0000" {
                return self.unconfirmed();
            }
            return self.judge(order_id, &json);
        }
    }

    fn status_query(
        &self,
        order_id: &str,
        local_date: String,
        local_time: String,
    ) -> Vec<(&'static str, String)> {
        let mut q = vec![(
            "partnerReference",
            self.partner_reference("STATUS", order_id),
        )];
        if !self.flawed("status_without_local_time") {
            q.push(("localDate", local_date));
            q.push(("localTime", local_time));
        }
        q
    }

    /// What the shop does when the provider did not confirm the payment.
    fn unconfirmed(&self) -> OrderStatus {
        if self.flawed("paid_on_forged") {
            // The mistake: "if the status call fails, the callback said OK, so it is paid".
            OrderStatus::Paid
        } else {
            OrderStatus::Pending
        }
    }

    fn judge(&self, order_id: &str, status: &Value) -> OrderStatus {
        let Some(order) = self
            .orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(order_id)
            .cloned()
        else {
            return OrderStatus::Failed;
        };
        let code = status["statusCode"].as_str().unwrap_or("");
        let amount_cents = status["presentationAmount"]
            .as_f64()
            .map(|a| (a * 100.0).round() as i64);
        if order.payment_type == "BlockAmount" {
            if self.flawed("lenient_block_amount") {
                return if matches!(code, "DECLINED" | "FAILED" | "CANCELLED") {
                    OrderStatus::Failed
                } else {
                    OrderStatus::Authorized
                };
            }
            if self.flawed("rejects_block_amount") {
                // The mistake: Purchase logic applied to BlockAmount.
                return if code == "CAPTURED" {
                    OrderStatus::Authorized
                } else {
                    OrderStatus::Pending
                };
            }
            if code == "AUTHORIZED" && amount_cents == Some(order.amount_cents) {
                return OrderStatus::Authorized;
            }
            return OrderStatus::Pending;
        }
        if code == "CAPTURED" && amount_cents == Some(order.amount_cents) {
            OrderStatus::Paid
        } else {
            OrderStatus::Pending
        }
    }

    pub(super) fn set_status(&self, order_id: &str, status: OrderStatus) {
        if let Some(o) = self
            .orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(order_id)
        {
            o.status = status;
        }
    }
}
