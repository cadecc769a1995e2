//! What every built-in reference shop is made of, written once: its HTTP client, its settings
//! as it asks for them (a flaw switched on, style b, a credential, the sandbox's URL), the token
//! it keeps between calls, an order's status, the amount a trigger hands over, and its app
//! served with `/health`.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpListener;

use super::{serve_app, ServeFuture, ShopConfig};

/// The client a reference shop calls its provider with (never through a proxy), with a
/// timeout for every call unless the shop sets one per call.
pub fn http_client(timeout: Option<Duration>) -> reqwest::Client {
    let builder = reqwest::Client::builder().no_proxy();
    match timeout {
        Some(t) => builder.timeout(t),
        None => builder,
    }
    .build()
    .expect("an HTTP client builds")
}

/// A reference shop: its settings and its client, and what it asks of them.
pub trait ReferenceShop {
    fn config(&self) -> &ShopConfig;
    fn http(&self) -> &reqwest::Client;

    /// Is this planted mistake switched on?
    fn flawed(&self, flaw: &str) -> bool {
        self.config().flaws.contains(flaw)
    }

    /// Is the shop in its second compliant style?
    fn style_b(&self) -> bool {
        self.config().style == "b"
    }

    /// A credential of the test account (empty when the run gave none).
    fn cred(&self, name: &str) -> String {
        self.config()
            .credentials
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    /// The sandbox's base URL, without a trailing `/`.
    fn base(&self) -> &str {
        self.config().sandbox_url.trim_end_matches('/')
    }

    /// The sandbox's URL of a path (`/...`).
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }
}

/// Implements [`ReferenceShop`] for a shop struct with the fields `config: ShopConfig` and
/// `http: reqwest::Client`.
macro_rules! reference_shop {
    ($shop:ty) => {
        impl $crate::reference::shop::ReferenceShop for $shop {
            fn config(&self) -> &$crate::reference::ShopConfig {
                &self.config
            }
            fn http(&self) -> &reqwest::Client {
                &self.http
            }
        }
    };
}
pub(crate) use reference_shop;

/// A text field of a JSON answer (`None` when it is missing or not text).
pub fn text(json: &Value, field: &str) -> Option<String> {
    json[field].as_str().map(str::to_owned)
}

/// A token as a shop keeps it: its value, when it counts from and how long it lives.
pub struct Token {
    pub value: String,
    pub obtained: Instant,
    pub lifetime: Duration,
}

/// The token a shop keeps between calls. Its flaws are every shop's: `token_per_call` (a new
/// token for every call), `ignore_token_expiry` (kept until refused) and
/// `calls_retired_endpoint` (after each new token, a call to `GET /v0/health`, which no API
/// has, its answer ignored).
#[derive(Default)]
pub struct TokenCache(tokio::sync::Mutex<Option<Token>>);

impl TokenCache {
    /// The kept token while it has life enough left (a minute, or with `renew_late` a fifth of
    /// its life), else a new one from `fetch`, kept in its place. Calls wait for each other.
    pub async fn get<F, Fut>(
        &self,
        shop: &impl ReferenceShop,
        renew_late: bool,
        fetch: F,
    ) -> Result<String, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, String>>,
    {
        let mut cached = self.0.lock().await;
        if let Some(t) = cached.as_ref() {
            let age = t.obtained.elapsed();
            let keep = if shop.flawed("token_per_call") {
                false
            } else if shop.flawed("ignore_token_expiry") {
                true
            } else if renew_late {
                age < t.lifetime.mul_f64(0.8)
            } else {
                age + Duration::from_secs(60) < t.lifetime
            };
            if keep {
                return Ok(t.value.clone());
            }
        }
        let token = fetch().await?;
        if shop.flawed("calls_retired_endpoint") {
            // The planted mistake: a call to no operation of the API (its answer is ignored).
            let _ = shop.http().get(shop.url("/v0/health")).send().await;
        }
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Drops the kept token (the provider refused it).
    pub async fn forget(&self) {
        *self.0.lock().await = None;
    }
}

/// Where an order stands, as a shop answers `GET /orders/{id}` (each shop uses the ones its
/// provider's journeys reach).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Pending,
    Paid,
    Authorized,
    Failed,
    Refunded,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Authorized => "authorized",
            OrderStatus::Failed => "failed",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// An amount a trigger hands over, as a number or as text (0 when it is neither).
pub fn amount_of(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// The order golive's `start_payment` trigger asks a reference shop to take: its id, its
/// amount (a number, or a number in a text) and its currency (the shop's own when left out).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRequest {
    pub order_id: String,
    amount: Value,
    currency: Option<String>,
}

impl OrderRequest {
    /// The amount asked for; `None` when it is not above 0 (the shop refuses the order).
    pub fn amount(&self) -> Option<f64> {
        let amount = amount_of(&self.amount);
        if amount <= 0.0 {
            return None;
        }
        Some(amount)
    }

    /// The currency asked for, or the shop's own.
    pub fn currency_or(&self, own: &str) -> String {
        self.currency.clone().unwrap_or_else(|| own.into())
    }
}

/// Serves a shop's routes, with `GET /health` (which golive's readiness probe asks), on its
/// state.
pub fn serve_shop<S>(routes: Router<S>, state: S, listener: TcpListener) -> ServeFuture
where
    S: Clone + Send + Sync + 'static,
{
    let app = routes
        .route("/health", get(|| async { "ok" }))
        .with_state(state);
    serve_app(app, listener)
}
