//! The till's MobilePay client: its test account, the token it keeps, every header V10 asks
//! for, and the retries of a call that changes something.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Method;
use serde_json::Value;

use super::till::Order;
use crate::reference::shop::{http_client, reference_shop, text, ReferenceShop, Token, TokenCache};
use crate::reference::ShopConfig;

/// Client timeouts the V10 guide asks for: 2 s for POST/PUT/DELETE, 0.5 s for GET.
const POST_TIMEOUT: Duration = Duration::from_secs(2);
const GET_TIMEOUT: Duration = Duration::from_millis(500);

/// One answer from MobilePay, or why there was none.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
}

impl Answer {
    pub(super) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub(super) fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

pub(super) struct Shop {
    pub(super) config: ShopConfig,
    pub(super) http: reqwest::Client,
    pub(super) token: TokenCache,
    pub(super) pos: tokio::sync::Mutex<Option<String>>,
    pub(super) orders: Mutex<HashMap<String, Order>>,
    pub(super) counter: AtomicU64,
}

reference_shop!(Shop);

impl Shop {
    pub(super) fn new(config: ShopConfig) -> Shop {
        Shop {
            config,
            // Timeouts are per call (`POST_TIMEOUT`, `GET_TIMEOUT`).
            http: http_client(None),
            token: TokenCache::default(),
            pos: tokio::sync::Mutex::new(None),
            orders: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(1),
        }
    }

    pub(super) fn merchant_pos_id(&self) -> &'static str {
        if self.style_b() {
            "TILL-02"
        } else {
            "golive-till-1"
        }
    }

    /// A new idempotency key: a GUID (style a) or the till's own time-and-counter format.
    pub(super) fn new_key(&self) -> String {
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
    pub(super) fn attempts(&self) -> usize {
        if self.flawed("unbounded_retries") {
            10
        } else if self.style_b() {
            4
        } else {
            3
        }
    }

    pub(super) fn backoff(&self, attempt: usize) -> Duration {
        if self.style_b() {
            Duration::from_millis(60 * attempt as u64)
        } else {
            Duration::from_millis(40)
        }
    }

    /// A token good for the next call: the cached one while it has enough life left (style b
    /// renews after 80% of its life).
    pub(super) async fn token(&self) -> Result<String, String> {
        self.token
            .get(self, self.style_b(), || self.fetch_token())
            .await
    }

    async fn fetch_token(&self) -> Result<Token, String> {
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
        let value = text(&json, "access_token").ok_or("no access_token")?;
        let lifetime = Duration::from_secs(json["expires_in"].as_u64().unwrap_or(60));
        Ok(Token {
            value,
            obtained: Instant::now(),
            lifetime,
        })
    }

    /// A GET of the PoS API.
    pub(super) async fn get(&self, path: &str) -> Result<Answer, String> {
        self.call(Method::GET, path, None, None, false).await
    }

    /// A POST of the PoS API sent once, without an idempotency key.
    pub(super) async fn post(&self, path: &str, body: Option<&Value>) -> Result<Answer, String> {
        self.call(Method::POST, path, body, None, false).await
    }

    /// One call to the PoS API with every header V10 asks for (sent again with a new token
    /// when MobilePay refuses one the till kept past its expiry).
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        refund_client: bool,
    ) -> Result<Answer, String> {
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let timeout = if method == Method::GET {
                GET_TIMEOUT
            } else {
                POST_TIMEOUT
            };
            let version = if self.style_b() { "10.0.3" } else { "2.4.1" };
            let mut r = self
                .http
                .request(method.clone(), self.url(path))
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
            if status == 401 && self.flawed("ignore_token_expiry") && !renewed {
                // The till notices only when MobilePay refuses the token: it gets a new one
                // and sends the call again.
                renewed = true;
                self.token.forget().await;
                continue;
            }
            return Ok(Answer {
                status,
                body: serde_json::from_str(&text).unwrap_or(Value::Null),
            });
        }
    }

    /// A POST that changes something, retried after a timeout or a 5xx with the same key (a
    /// new key per attempt is the `new_key_on_retry` flaw), never after a 4xx.
    pub(super) async fn post_with_retries(
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
                    Method::POST,
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
}
