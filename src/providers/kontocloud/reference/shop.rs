//! The reference shop's state and what it does with KontoCloud's API: its orders, its cached
//! token, its partnerReferences and local time, and how it verifies a payment with Get Payment
//! Status and decides what the order is. Each planted flaw changes one decision here or in the
//! shop's pages (`mod.rs`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::super::date_and_time;
pub(super) use crate::reference::shop::OrderStatus;
use crate::reference::shop::{http_client, reference_shop, text, ReferenceShop, Token, TokenCache};
use crate::reference::ShopConfig;
use crate::sandbox::lock;

#[derive(Debug, Clone)]
pub(super) struct Order {
    pub amount_cents: i64,
    pub currency: String,
    pub payment_type: String,
    pub status: OrderStatus,
}

pub(super) struct Shop {
    pub config: ShopConfig,
    http: reqwest::Client,
    pub orders: Mutex<HashMap<String, Order>>,
    token: TokenCache,
    counter: std::sync::atomic::AtomicU64,
}

reference_shop!(Shop);

impl Shop {
    pub(super) fn new(config: ShopConfig) -> Shop {
        Shop {
            config,
            // The seeds ask for a client timeout of at least 90 s.
            http: http_client(Some(Duration::from_secs(90))),
            orders: Mutex::new(HashMap::new()),
            token: TokenCache::default(),
            counter: std::sync::atomic::AtomicU64::new(1),
        }
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

    fn with_headers(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let r = r.header("Content-Type", "application/json");
        if self.flawed("missing_headers") {
            r
        } else {
            r.header("Accept-Language", "en-US")
        }
    }

    /// A token good for the next call: the cached one while it has enough life left (style b
    /// renews after 80% of its life).
    async fn token(&self, order_id: &str) -> Result<String, String> {
        self.token
            .get(self, self.style_b(), || self.issue_token(order_id))
            .await
    }

    /// 1.45 Issue Token.
    async fn issue_token(&self, order_id: &str) -> Result<Token, String> {
        let obtained = Instant::now();
        let now = time::OffsetDateTime::now_utc();
        let (local_date, local_time) = self.local();
        let mut body = json!({
            "password": self.cred("password"),
            "partnerReference": self.partner_reference("TOKEN", order_id),
            "localDate": local_date,
            "localTime": local_time,
        });
        if self.flawed("unknown_field") {
            body["merchantNote"] = json!("go-live rehearsal");
        }
        let user = self.cred("user_id");
        let answer = self
            .with_headers(self.http.post(self.url(&format!("/user/{user}/issue"))))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = answer.status();
        let json: Value = answer.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() || json["responseCode"] != "0000" {
            return Err(format!("Issue Token failed: {status} {json}"));
        }
        let value = text(&json, "token").ok_or("no token in the answer")?;
        let valid_until = json["validUntil"]
            .as_str()
            .and_then(|v| {
                time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()
            })
            .ok_or("no validUntil in the answer")?;
        Ok(Token {
            value,
            obtained,
            lifetime: (valid_until - now).try_into().unwrap_or(Duration::ZERO),
        })
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
            let url = self.url(&format!("/payment/{unique_reference}/status"));
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
                self.token.forget().await;
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
        let Some(order) = self.order(order_id) else {
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

    pub(super) fn order(&self, order_id: &str) -> Option<Order> {
        lock(&self.orders).get(order_id).cloned()
    }

    pub(super) fn set_status(&self, order_id: &str, status: OrderStatus) {
        if let Some(o) = lock(&self.orders).get_mut(order_id) {
            o.status = status;
        }
    }
}
