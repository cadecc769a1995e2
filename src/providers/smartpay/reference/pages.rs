//! What the reference shop answers: its checkout page (JSON for style a, HTML for style b),
//! the page's report of the widget's callback, and capture, refund and the order's status.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::shop::{Order, OrderStatus, Shop};
use crate::reference::shop::{OrderRequest, ReferenceShop};
use crate::sandbox::lock;

/// The shop's routes.
pub(super) fn routes() -> Router<Arc<Shop>> {
    Router::new()
        .route("/checkout", post(checkout))
        .route("/smartpay/finished", post(finished))
        .route("/orders/{order_id}", get(order))
        .route("/orders/{order_id}/capture", post(capture))
        .route("/orders/{order_id}/refund", post(refund))
}

#[derive(Deserialize)]
struct Checkout {
    #[serde(flatten)]
    order: OrderRequest,
    #[serde(default)]
    item: Option<String>,
}

async fn checkout(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
    Json(c): Json<Checkout>,
) -> Response {
    let Some(amount) = c.order.amount() else {
        return (StatusCode::BAD_REQUEST, "amount must be above 0").into_response();
    };
    let (order_id, currency) = (&c.order.order_id, c.order.currency_or("EUR"));
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
        .create_checkout(order_id, amount, &currency, &item)
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
    lock(&shop.orders).insert(
        order_id.clone(),
        Order {
            amount,
            currency: currency.clone(),
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
            currency = crate::driver::browser::escape_html(&currency),
            token = crate::driver::browser::escape_html(&token),
            order = crate::driver::browser::escape_html(order_id),
        );
        return Html(page).into_response();
    }
    let mut answer = json!({"orderId": order_id, "transactionId": tx, "checkoutToken": token});
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
