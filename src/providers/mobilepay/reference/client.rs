//! The till's MobilePay client: its test account, the token it keeps, every header V10 asks
//! for, and the retries of a call that changes something.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use super::till::Order;
use crate::reference::ShopConfig;

/// Client timeouts the V10 guide asks for: 2 s for POST/PUT/DELETE, 0.5 s for GET.
const POST_TIMEOUT: Duration = Duration::from_secs(2);
const GET_TIMEOUT: Duration = Duration::from_millis(500);

pub(super) struct Token {
    pub(super) value: String,
    pub(super) issued: Instant,
    pub(super) lifetime: Duration,
}

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
    pub(super) token: tokio::sync::Mutex<Option<Token>>,
    pub(super) pos: tokio::sync::Mutex<Option<String>>,
    pub(super) orders: Mutex<HashMap<String, Order>>,
    pub(super) counter: AtomicU64,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shop {
    pub(super) fn flawed(&self, flaw: &str) -> bool {
        self.config.flaws.contains(flaw)
    }

    pub(super) fn style_b(&self) -> bool {
        self.config.style == "b"
    }

    pub(super) fn cred(&self, name: &str) -> String {
        self.config
            .credentials
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.sandbox_url.trim_end_matches('/'))
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

    pub(super) async fn token(&self) -> Result<String, String> {
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
    pub(super) async fn call(
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
}
