//! The KontoCloud reference shop: a small web shop that takes payments through the e-wallet.
//!
//! Two compliant styles, both allowed by the seeds:
//! - `a`: an auto-submitting form to the e-wallet, the status verified before the callback is
//!   answered, a token renewed when less than a minute is left, local time in UTC.
//! - `b`: a page with a "Pay" button, the callback answered at once and the status verified in
//!   the background, a token renewed after 80% of its life, local time in UTC+01:00, retries
//!   with a back-off.
//!
//! Flaws are the mistakes the Go-Live Assessment looks for, one switch each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::sandbox::date_and_time;
use crate::reference::{serve_app, Flaw, Reference, ServeFuture, ShopConfig};

pub const REFERENCE: Reference = Reference {
    provider: "kontocloud",
    styles: &["a", "b"],
    style_notes: &["an auto-submitting form to the e-wallet; status verified before the callback is answered; token renewed with a minute left; local time in UTC", "a \"Pay\" button page; callback answered at once, status verified in the background; token renewed after 80% of its life; UTC+01:00; retries with back-off"],
    flaws: FLAWS,
    target_yaml: include_str!("../../../targets/kontocloud-reference.yaml"),
    serve,
    env_prefix: "KONTOCLOUD",
    test_time_scale: None, // no provider clock worth shrinking: the suite's own time
    flaws_alternate_styles: false,
    skipped_when_compliant: &[],
};

pub const FLAWS: &[Flaw] = &[
    Flaw {
        name: "token_per_call",
        description: "issues a new token for every API call",
        caught_by: &["KC-TOKEN-REUSE"],
    },
    Flaw {
        name: "ignore_token_expiry",
        description: "keeps using its token after validUntil (and renews only when refused)",
        caught_by: &["KC-TOKEN-VALID"],
    },
    Flaw {
        name: "constant_partner_reference",
        description: "sends the same partnerReference on every request",
        caught_by: &["KC-PARTNER-REFERENCE"],
    },
    Flaw {
        name: "trust_callback",
        description: "marks the order paid on the browser's callback without asking Get Payment Status",
        caught_by: &["KC-STATUS-VERIFIED", "KC-UNCONFIRMED-NOT-PAID", "KC-BLOCKAMOUNT"],
    },
    Flaw {
        name: "paid_on_forged",
        description: "when Get Payment Status does not confirm the payment, trusts the callback anyway",
        caught_by: &["KC-STATUS-VERIFIED", "KC-UNCONFIRMED-NOT-PAID"],
    },
    Flaw {
        name: "unknown_field",
        description: "sends a field Issue Token does not know (merchantNote)",
        caught_by: &["KC-UNRECOGNIZED-FIELDS"],
    },
    Flaw {
        name: "lenient_block_amount",
        description: "accepts a BlockAmount whatever its status and amount",
        caught_by: &["KC-BLOCKAMOUNT"],
    },
    Flaw {
        name: "rejects_block_amount",
        description: "treats a BlockAmount as paid only when CAPTURED, so authorised blocks are never fulfilled",
        caught_by: &["KC-PAID-WHEN-CONFIRMED"],
    },
    Flaw {
        name: "retry_forever",
        description: "retries Get Payment Status after 0099 without a bound (gives up after 12)",
        caught_by: &["KC-RETRY-0099"],
    },
    Flaw {
        name: "missing_headers",
        description: "sends no Accept-Language header",
        caught_by: &["KC-HEADERS"],
    },
    Flaw {
        name: "status_without_local_time",
        description: "leaves localDate and localTime out of Get Payment Status, which KontoCloud refuses (0001), so no payment is ever confirmed",
        caught_by: &["KC-REQUEST-SCHEMA", "KC-LOCAL-TIME", "KC-PAID-WHEN-CONFIRMED"],
    },
    Flaw {
        name: "incomplete_ewallet_request",
        description: "leaves partnerReference out of the e-wallet form, which the e-wallet refuses, so no shopper can pay",
        caught_by: &[
            "KC-EWALLET-REDIRECT",
            "KC-PARTNER-REFERENCE",
            "KC-PAID-WHEN-CONFIRMED",
        ],
    },
    Flaw {
        name: "checkout_partner_reference",
        description: "puts the same partnerReference (CHECKOUT) in every order's e-wallet form; its server calls vary it",
        caught_by: &["KC-PARTNER-REFERENCE"],
    },
    Flaw {
        name: "skewed_clock",
        description: "sends localDate/localTime from a clock 37 minutes off",
        caught_by: &["KC-LOCAL-TIME"],
    },
    Flaw {
        name: "calls_retired_endpoint",
        description:
            "after each new token, also calls a health check the API does not have (GET /v0/health, from an old SDK) and ignores the answer",
        caught_by: &["KC-UNKNOWN-OPERATION"],
    },
];

#[derive(Debug, Clone, PartialEq)]
enum OrderStatus {
    Pending,
    Paid,
    Authorized,
    Failed,
}

impl OrderStatus {
    fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Authorized => "authorized",
            OrderStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
struct Order {
    amount_cents: i64,
    currency: String,
    payment_type: String,
    status: OrderStatus,
}

struct Token {
    value: String,
    issued_at: time::OffsetDateTime,
    valid_until: time::OffsetDateTime,
}

struct Shop {
    config: ShopConfig,
    http: reqwest::Client,
    orders: Mutex<HashMap<String, Order>>,
    token: tokio::sync::Mutex<Option<Token>>,
    counter: std::sync::atomic::AtomicU64,
}

impl Shop {
    fn flawed(&self, flaw: &str) -> bool {
        self.config.flaws.contains(flaw)
    }

    fn style_b(&self) -> bool {
        self.config.style == "b"
    }

    fn partner_reference(&self, purpose: &str, order_id: &str) -> String {
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

    fn base(&self) -> &str {
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
    async fn verify(&self, order_id: &str, unique_reference: &str) -> OrderStatus {
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

    fn set_status(&self, order_id: &str, status: OrderStatus) {
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checkout {
    order_id: String,
    amount: Value,
    #[serde(default = "eur")]
    currency: String,
    #[serde(default = "purchase")]
    payment_type: String,
}

fn eur() -> String {
    "EUR".into()
}
fn purchase() -> String {
    "Purchase".into()
}

async fn checkout(State(shop): State<Arc<Shop>>, Json(c): Json<Checkout>) -> Response {
    let amount: f64 = match &c.amount {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    };
    if amount <= 0.0 {
        return (StatusCode::BAD_REQUEST, "amount must be above 0").into_response();
    }
    shop.orders
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            c.order_id.clone(),
            Order {
                amount_cents: (amount * 100.0).round() as i64,
                currency: c.currency.clone(),
                payment_type: c.payment_type.clone(),
                status: OrderStatus::Pending,
            },
        );
    let callback = if shop.style_b() {
        format!("{}/payment/return/{}", shop.config.public_url, c.order_id)
    } else {
        format!("{}/kontocloud/return", shop.config.public_url)
    };
    let mut fields = vec![
        ("merchantTransactionId", c.order_id.clone()),
        ("amount", format!("{amount:.2}")),
        ("currency", c.currency.clone()),
        ("paymentType", c.payment_type.clone()),
        ("callBackUrl", callback),
        (
            "partnerReference",
            shop.partner_reference("PAY", &c.order_id),
        ),
        ("language", "en".into()),
    ];
    if shop.flawed("incomplete_ewallet_request") {
        fields.retain(|(k, _)| *k != "partnerReference");
    }
    if shop.flawed("checkout_partner_reference") {
        // The mistake: the form's partnerReference is a constant, as if it named the page.
        for (k, v) in fields.iter_mut() {
            if *k == "partnerReference" {
                *v = "CHECKOUT".into();
            }
        }
    }
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{k}" value="{}">"#,
                crate::driver::browser::escape_html(v)
            )
        })
        .collect();
    let action = format!("{}/ewallet", shop.base());
    let page = if shop.style_b() {
        format!(
            r#"<!doctype html><html><body><h1>Review your order</h1><form action="{action}" method="POST">{inputs}<button type="submit">Pay with KontoCloud</button></form></body></html>"#
        )
    } else {
        format!(
            r#"<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="{action}">{inputs}</form><p>Redirecting to KontoCloud…</p></body></html>"#
        )
    };
    Html(page).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Return {
    payment_result: Option<String>,
    merchant_transaction_id: Option<String>,
    unique_reference: Option<String>,
}

async fn handle_return(shop: Arc<Shop>, order_id: String, r: Return) -> Response {
    let known = shop
        .orders
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&order_id)
        .cloned();
    let Some(order) = known else {
        return (StatusCode::NOT_FOUND, Html("<p>Unknown order.</p>")).into_response();
    };
    if r.payment_result.as_deref() != Some("OK") {
        shop.set_status(&order_id, OrderStatus::Failed);
        return Html("<p>Your payment did not go through.</p>").into_response();
    }
    let Some(unique_reference) = r.unique_reference else {
        shop.set_status(&order_id, OrderStatus::Failed);
        return Html("<p>Your payment did not go through.</p>").into_response();
    };
    if shop.flawed("trust_callback") {
        let status = if order.payment_type == "BlockAmount" {
            OrderStatus::Authorized
        } else {
            OrderStatus::Paid
        };
        shop.set_status(&order_id, status);
        return Html("<p>Thank you for your order.</p>").into_response();
    }
    if shop.style_b() {
        let bg = shop.clone();
        tokio::spawn(async move {
            let status = bg.verify(&order_id, &unique_reference).await;
            bg.set_status(&order_id, status);
        });
        return Html("<p>We are confirming your payment…</p>").into_response();
    }
    let status = shop.verify(&order_id, &unique_reference).await;
    shop.set_status(&order_id, status);
    (
        StatusCode::SEE_OTHER,
        [("location", format!("/orders/{order_id}/thanks"))],
    )
        .into_response()
}

async fn return_a(State(shop): State<Arc<Shop>>, Query(r): Query<Return>) -> Response {
    let order_id = r.merchant_transaction_id.clone().unwrap_or_default();
    handle_return(shop, order_id, r).await
}

async fn return_b(
    State(shop): State<Arc<Shop>>,
    Path(order_id): Path<String>,
    Query(r): Query<Return>,
) -> Response {
    handle_return(shop, order_id, r).await
}

async fn order(State(shop): State<Arc<Shop>>, Path(order_id): Path<String>) -> Response {
    match shop
        .orders
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&order_id)
    {
        Some(o) => {
            Json(json!({"orderId": order_id, "status": o.status.as_str(), "currency": o.currency}))
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown order"})),
        )
            .into_response(),
    }
}

async fn thanks(Path(order_id): Path<String>) -> Html<String> {
    Html(format!(
        "<p>Order {} received.</p>",
        crate::driver::browser::escape_html(&order_id)
    ))
}

fn serve(config: ShopConfig, listener: TcpListener) -> ServeFuture {
    let http = reqwest::Client::builder()
        .no_proxy()
        // The seeds ask for a client timeout of at least 90 s.
        .timeout(Duration::from_secs(90))
        .build()
        .expect("an HTTP client builds");
    let shop = Arc::new(Shop {
        config,
        http,
        orders: Mutex::new(HashMap::new()),
        token: tokio::sync::Mutex::new(None),
        counter: std::sync::atomic::AtomicU64::new(1),
    });
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/checkout", post(checkout))
        .route("/kontocloud/return", post(return_a))
        .route("/payment/return/{order_id}", post(return_b))
        .route("/orders/{order_id}", get(order))
        .route("/orders/{order_id}/thanks", get(thanks))
        .with_state(shop);
    serve_app(app, listener)
}
