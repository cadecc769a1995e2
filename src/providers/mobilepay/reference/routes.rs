//! The till's own endpoints, which golive's triggers call (start-up, a payment, a cancel, a
//! refund, an order's status), and `serve`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::client::Shop;
use super::till::{Order, OrderStatus};
use crate::reference::shop::{amount_of, serve_shop, OrderRequest, ReferenceShop};
use crate::reference::{ServeFuture, ShopConfig};
use crate::sandbox::lock;

fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn start_up(State(shop): State<Arc<Shop>>) -> Response {
    match shop.ensure_pos().await {
        Ok(pos_id) => Json(json!({"posId": pos_id})).into_response(),
        Err(e) => failure(StatusCode::BAD_GATEWAY, e),
    }
}

async fn start_payment(State(shop): State<Arc<Shop>>, Json(p): Json<OrderRequest>) -> Response {
    let Some(amount) = p.amount() else {
        return failure(StatusCode::BAD_REQUEST, "amount must be above 0");
    };
    let (order_id, currency) = (&p.order_id, p.currency_or("DKK"));
    lock(&shop.orders).insert(
        order_id.clone(),
        Order {
            amount,
            currency: currency.clone(),
            status: OrderStatus::Pending,
            payment_id: None,
            payment_key: None,
        },
    );
    match shop.start_payment(order_id, amount, &currency).await {
        Ok((payment_id, delay)) => {
            if shop.flawed("paid_on_initiate") {
                shop.set_status(order_id, OrderStatus::Paid);
            }
            let follower = shop.clone();
            let (followed, pid) = (order_id.clone(), payment_id.clone());
            tokio::spawn(async move { follower.follow(followed, pid, delay, amount).await });
            (
                StatusCode::CREATED,
                Json(json!({"orderId": order_id, "paymentId": payment_id})),
            )
                .into_response()
        }
        Err(e) => {
            shop.set_status(order_id, OrderStatus::Failed);
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
        .post(&format!("/pos/v10/payments/{payment_id}/cancel"), None)
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

pub(super) fn serve(config: ShopConfig, listener: TcpListener) -> ServeFuture {
    let routes = Router::new()
        .route("/pos/start-up", post(start_up))
        .route("/pos/payments", post(start_payment))
        .route("/pos/payments/{order_id}/cancel", post(cancel_payment))
        .route("/pos/refunds", post(refund))
        .route("/orders/{order_id}", get(order));
    serve_shop(routes, Arc::new(Shop::new(config)), listener)
}
