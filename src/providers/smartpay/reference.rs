//! The SmartPay reference shop: a small web shop that takes payments with SmartPay's widget.
//!
//! Two compliant styles, both allowed by the seed:
//! - `a`: OAuth 2.0 Bearer tokens renewed a minute before expiry; a JSON answer for a
//!   single-page front end (`checkoutToken` in it); the payment verified synchronously when
//!   the page reports the widget's callback (and only if the page names the order's own
//!   transaction); PENDING re-checked every 60 s, three times.
//! - `b`: Basic authentication; an HTML page with `data-checkout-token`; the page's report
//!   answered at once and the payment verified in the background with the transactionId the
//!   shop stored (the page's is ignored); PENDING re-checked every 45 s, three times; a widget
//!   error marks the order failed without a status call.
//!
//! The shop paces itself in provider time: the harness hands it the run's time scale in the
//! `X-Golive-Time-Scale` header of `start_payment` (a test hook of this reference shop only).
//! Flaws are the mistakes the Go-Live Assessment looks for, one switch each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::reference::{serve_app, Flaw, Reference, ServeFuture, ShopConfig};

pub const REFERENCE: Reference = Reference {
    provider: "smartpay",
    styles: &["a", "b"],
    style_notes: &["Bearer tokens renewed a minute early; JSON for a single-page front end; payment verified synchronously; PENDING re-checked every 60 s", "Basic authentication; an HTML page; payment verified in the background with the stored transactionId; PENDING re-checked every 45 s"],
    flaws: FLAWS,
    target_yaml: include_str!("../../../targets/smartpay-reference.yaml"),
    serve,
    env_prefix: "SMARTPAY",
    test_time_scale: Some(0.02), // "3 minutes" PENDING is 3.6 s, its 20 s tolerance 0.4 s
    flaws_alternate_styles: false,
    skipped_when_compliant: &[("b", "SP-TOKEN-REUSE")], // Basic: no token to reuse
};

pub const FLAWS: &[Flaw] = &[
    Flaw {
        name: "token_per_call",
        description: "fetches a new OAuth token for every API call",
        caught_by: &["SP-TOKEN-REUSE"],
    },
    Flaw {
        name: "ignore_token_expiry",
        description: "keeps its Bearer token past expires_in (renews only when refused)",
        caught_by: &["SP-TOKEN-VALID"],
    },
    Flaw {
        name: "basic_and_bearer",
        description: "creates checkouts with a Bearer token but asks Get Payment Status with Basic credentials",
        caught_by: &["SP-AUTH-SCHEME"],
    },
    Flaw {
        name: "leak_merchant_key",
        description: "hands the merchantKey to its page (for the widget, it thinks)",
        caught_by: &["SP-SERVER-SIDE"],
    },
    Flaw {
        name: "long_description",
        description: "sends the whole cart as payment.description, past 127 characters",
        caught_by: &["SP-REQUEST-SCHEMA"],
    },
    Flaw {
        name: "missing_headers",
        description: "sends no Accept-Language header",
        caught_by: &["SP-HEADERS"],
    },
    Flaw {
        name: "unknown_field",
        description: "sends a field Create Checkout does not know (orderNumber)",
        caught_by: &["SP-UNRECOGNIZED-FIELDS"],
    },
    Flaw {
        name: "trust_widget",
        description: "marks the order paid on the page's word that the widget succeeded, without Get Payment Status",
        caught_by: &["SP-STATUS-VERIFIED", "SP-UNCONFIRMED-NOT-PAID"],
    },
    Flaw {
        name: "captured_only",
        description: "treats AUTHORIZATION_COMPLETED as unpaid, so orders with auto-capture off are never fulfilled",
        caught_by: &["SP-PAID-WHEN-CONFIRMED"],
    },
    Flaw {
        name: "pending_forever",
        description: "re-checks a PENDING payment six times instead of three",
        caught_by: &["SP-PENDING-RECHECKS"],
    },
    Flaw {
        name: "paid_while_pending",
        description: "marks the order paid when Get Payment Status says AUTHORIZATION_PENDING",
        caught_by: &["SP-PENDING-RECHECKS", "SP-UNCONFIRMED-NOT-PAID"],
    },
    Flaw {
        name: "verifies_page_transaction",
        description: "verifies the transactionId the page sends, not the one it created for the order, so another order's captured payment makes this order paid",
        caught_by: &["SP-UNCONFIRMED-NOT-PAID"],
    },
    Flaw {
        name: "reused_modification_id",
        description: "uses one modificationId per order (MOD-<order>) for every capture and refund",
        caught_by: &["SP-MODIFICATION-ID"],
    },
    Flaw {
        name: "new_modification_id_on_retry",
        description: "retries a failed capture with a new modificationId",
        caught_by: &["SP-RETRY-SAME-MODIFICATION-ID"],
    },
    Flaw {
        name: "calls_retired_endpoint",
        description:
            "after each new token, also calls a health check the API does not have (GET /v0/health, from an old SDK) and ignores the answer",
        caught_by: &["SP-UNKNOWN-OPERATION"],
    },
];

const PENDING: &[&str] = &["AUTHORIZATION_PENDING", "CAPTURE_PENDING"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum OrderStatus {
    Pending,
    Paid,
    Authorized,
    Failed,
    Refunded,
}

impl OrderStatus {
    fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Authorized => "authorized",
            OrderStatus::Failed => "failed",
            OrderStatus::Refunded => "refunded",
        }
    }
}

#[derive(Debug, Clone)]
struct Order {
    amount: f64,
    currency: String,
    transaction_id: String,
    status: OrderStatus,
    time_scale: f64,
}

struct Token {
    value: String,
    expires: Instant,
}

struct Shop {
    config: ShopConfig,
    http: reqwest::Client,
    orders: Mutex<HashMap<String, Order>>,
    token: tokio::sync::Mutex<Option<Token>>,
    counter: AtomicU64,
}

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

    fn base(&self) -> &str {
        self.config.sandbox_url.trim_end_matches('/')
    }

    fn order(&self, id: &str) -> Option<Order> {
        self.orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn set_status(&self, id: &str, status: OrderStatus) {
        if let Some(o) = self
            .orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            o.status = status;
        }
    }

    /// A Bearer token good for the next call: the cached one while more than a minute is left.
    async fn bearer(&self) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            let keep = if self.flawed("token_per_call") {
                false
            } else if self.flawed("ignore_token_expiry") {
                true
            } else {
                Instant::now() + Duration::from_secs(60) < t.expires
            };
            if keep {
                return Ok(t.value.clone());
            }
        }
        let issued = Instant::now();
        let answer = self
            .http
            .post(format!("{}/oauth2/token", self.base()))
            .form(&[
                ("client_id", self.cred("client_id")),
                ("client_secret", self.cred("client_secret")),
                ("grant_type", "client_credentials".to_string()),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let json: Value = answer.json().await.map_err(|e| e.to_string())?;
        let value = json["access_token"]
            .as_str()
            .ok_or_else(|| format!("no access_token: {json}"))?
            .to_owned();
        let lifetime = json["expires_in"].as_f64().unwrap_or(0.0);
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
            expires: issued + Duration::from_secs_f64(lifetime.max(0.0)),
        });
        Ok(value)
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
                .request(method.clone(), format!("{}{path}", self.base()))
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
                *self.token.lock().await = None;
                continue;
            }
            return Ok((status, json));
        }
    }

    async fn create_checkout(
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
        let tx = json["transactionId"]
            .as_str()
            .ok_or("no transactionId")?
            .to_owned();
        let token = json["checkoutToken"]
            .as_str()
            .ok_or("no checkoutToken")?
            .to_owned();
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
            s if PENDING.contains(&s) => {
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
    async fn verify(self: Arc<Self>, order_id: String, transaction_id: String) -> OrderStatus {
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
    async fn modify(&self, order_id: &str, op: &str) -> Result<Value, (StatusCode, String)> {
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checkout {
    order_id: String,
    amount: Value,
    #[serde(default = "eur")]
    currency: String,
    #[serde(default)]
    item: Option<String>,
}

fn eur() -> String {
    "EUR".into()
}

async fn checkout(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
    Json(c): Json<Checkout>,
) -> Response {
    let amount: f64 = match &c.amount {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    };
    if amount <= 0.0 {
        return (StatusCode::BAD_REQUEST, "amount must be above 0").into_response();
    }
    let time_scale = headers
        .get("x-golive-time-scale")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0 && *s <= 10.0)
        .unwrap_or(1.0);
    let item = c
        .item
        .clone()
        .unwrap_or_else(|| "golive demo basket".into());
    let (tx, token) = match shop
        .create_checkout(&c.order_id, amount, &c.currency, &item)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                Html(format!(
                    "<p>Payment is not available right now: {}</p>",
                    crate::driver::browser::escape_html(&e)
                )),
            )
                .into_response()
        }
    };
    shop.orders
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            c.order_id.clone(),
            Order {
                amount,
                currency: c.currency.clone(),
                transaction_id: tx.clone(),
                status: OrderStatus::Pending,
                time_scale,
            },
        );
    let leak = shop
        .flawed("leak_merchant_key")
        .then(|| shop.cred("merchant_key"));
    if shop.style_b() {
        let key_attr = leak
            .map(|k| {
                format!(
                    r#" data-merchant-key="{}""#,
                    crate::driver::browser::escape_html(&k)
                )
            })
            .unwrap_or_default();
        let page = format!(
            r##"<!doctype html><html><head><title>Checkout</title><script src="https://widget.smartpay.example/sdk.js"></script></head><body>
<h1>Pay {amount:.2} {currency}</h1>
<div id="smartpay-widget" data-checkout-token="{token}"{key_attr}></div>
<script>
SmartPay.init({{ element: "#smartpay-widget",
  successHandler: function (r) {{ fetch("/smartpay/finished", {{method: "POST", headers: {{"Content-Type": "application/json"}}, body: JSON.stringify({{orderId: "{order}", transactionId: r.transactionId, result: "success"}})}}); }},
  errorHandler: function (r) {{ fetch("/smartpay/finished", {{method: "POST", headers: {{"Content-Type": "application/json"}}, body: JSON.stringify({{orderId: "{order}", transactionId: r.transactionId, result: "error"}})}}); }} }});
</script></body></html>"##,
            currency = crate::driver::browser::escape_html(&c.currency),
            token = crate::driver::browser::escape_html(&token),
            order = crate::driver::browser::escape_html(&c.order_id),
        );
        return Html(page).into_response();
    }
    let mut answer = json!({"orderId": c.order_id, "transactionId": tx, "checkoutToken": token});
    if let Some(k) = leak {
        answer["widgetConfig"] = json!({"merchantKey": k, "locale": "en-US"});
    }
    Json(answer).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Finished {
    order_id: String,
    #[serde(default)]
    transaction_id: Option<String>,
    result: String,
}

/// The page reports the widget's callback.
async fn finished(State(shop): State<Arc<Shop>>, Json(f): Json<Finished>) -> Response {
    let Some(order) = shop.order(&f.order_id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown order"})),
        )
            .into_response();
    };
    if shop.flawed("trust_widget") {
        let status = if f.result == "success" {
            OrderStatus::Paid
        } else {
            OrderStatus::Failed
        };
        shop.set_status(&f.order_id, status);
        return Json(json!({"orderId": f.order_id, "status": status.as_str()})).into_response();
    }
    if shop.style_b() {
        if f.result != "success" {
            shop.set_status(&f.order_id, OrderStatus::Failed);
            return Json(json!({"orderId": f.order_id, "status": "failed"})).into_response();
        }
        // Whatever the page says, the shop verifies the transaction it created itself.
        let bg = shop.clone();
        tokio::spawn(bg.verify(f.order_id.clone(), order.transaction_id.clone()));
        return (
            StatusCode::ACCEPTED,
            Json(json!({"orderId": f.order_id, "status": "verifying"})),
        )
            .into_response();
    }
    if shop.flawed("verifies_page_transaction") {
        // The mistake: it verifies the transaction the page names, whoever's it is.
        let named = f.transaction_id.clone().unwrap_or_default();
        let status = shop.clone().verify(f.order_id.clone(), named).await;
        return Json(json!({"orderId": f.order_id, "status": status.as_str()})).into_response();
    }
    if f.transaction_id.as_deref() != Some(order.transaction_id.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "this transaction does not belong to the order"})),
        )
            .into_response();
    }
    let status = shop
        .clone()
        .verify(f.order_id.clone(), order.transaction_id.clone())
        .await;
    Json(json!({"orderId": f.order_id, "status": status.as_str()})).into_response()
}

async fn capture(State(shop): State<Arc<Shop>>, Path(order_id): Path<String>) -> Response {
    match shop.modify(&order_id, "capture").await {
        Ok(answer) => {
            shop.set_status(&order_id, OrderStatus::Paid);
            Json(json!({"orderId": order_id, "status": "paid", "smartpay": answer})).into_response()
        }
        Err((status, e)) => (status, Json(json!({"error": e}))).into_response(),
    }
}

async fn refund(State(shop): State<Arc<Shop>>, Path(order_id): Path<String>) -> Response {
    match shop.modify(&order_id, "refund").await {
        Ok(answer) => {
            shop.set_status(&order_id, OrderStatus::Refunded);
            Json(json!({"orderId": order_id, "status": "refunded", "smartpay": answer}))
                .into_response()
        }
        Err((status, e)) => (status, Json(json!({"error": e}))).into_response(),
    }
}

async fn order(State(shop): State<Arc<Shop>>, Path(order_id): Path<String>) -> Response {
    match shop.order(&order_id) {
        Some(o) => Json(json!({"orderId": order_id, "status": o.status.as_str(), "transactionId": o.transaction_id, "currency": o.currency})).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "unknown order"}))).into_response(),
    }
}

fn serve(config: ShopConfig, listener: TcpListener) -> ServeFuture {
    let http = reqwest::Client::builder()
        .no_proxy()
        // The seed asks for a client timeout of at least 90 s.
        .timeout(Duration::from_secs(90))
        .build()
        .expect("an HTTP client builds");
    let shop = Arc::new(Shop {
        config,
        http,
        orders: Mutex::new(HashMap::new()),
        token: tokio::sync::Mutex::new(None),
        counter: AtomicU64::new(1),
    });
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/checkout", post(checkout))
        .route("/smartpay/finished", post(finished))
        .route("/orders/{order_id}", get(order))
        .route("/orders/{order_id}/capture", post(capture))
        .route("/orders/{order_id}/refund", post(refund))
        .with_state(shop);
    serve_app(app, listener)
}
