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
//!
//! This file: what the shop is (its styles and flaws) and its pages (checkout, the callback,
//! the order); `shop`: its state and its calls to KontoCloud's API.

mod shop;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

use crate::reference::shop::{serve_shop, OrderRequest, ReferenceShop};
use crate::reference::{Flaw, Reference, ServeFuture, ShopConfig};
use crate::sandbox::lock;
use shop::{Order, OrderStatus, Shop};

pub const REFERENCE: Reference = Reference::new(
    "kontocloud",
    &["a", "b"],
    &["an auto-submitting form to the e-wallet; status verified before the callback is answered; token renewed with a minute left; local time in UTC", "a \"Pay\" button page; callback answered at once, status verified in the background; token renewed after 80% of its life; UTC+01:00; retries with back-off"],
    FLAWS,
    include_str!("../../../../targets/kontocloud-reference.yaml"),
    serve,
);

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
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checkout {
    #[serde(flatten)]
    order: OrderRequest,
    #[serde(default = "purchase")]
    payment_type: String,
}

fn purchase() -> String {
    "Purchase".into()
}

async fn checkout(State(shop): State<Arc<Shop>>, Json(c): Json<Checkout>) -> Response {
    let Some(amount) = c.order.amount() else {
        return (StatusCode::BAD_REQUEST, "amount must be above 0").into_response();
    };
    let (order_id, currency) = (&c.order.order_id, c.order.currency_or("EUR"));
    lock(&shop.orders).insert(
        order_id.clone(),
        Order {
            amount_cents: (amount * 100.0).round() as i64,
            currency: currency.clone(),
            payment_type: c.payment_type.clone(),
            status: OrderStatus::Pending,
        },
    );
    let callback = if shop.style_b() {
        format!("{}/payment/return/{}", shop.config.public_url, order_id)
    } else {
        format!("{}/kontocloud/return", shop.config.public_url)
    };
    let mut fields = vec![
        ("merchantTransactionId", order_id.clone()),
        ("amount", format!("{amount:.2}")),
        ("currency", currency.clone()),
        ("paymentType", c.payment_type.clone()),
        ("callBackUrl", callback),
        ("partnerReference", shop.partner_reference("PAY", order_id)),
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
    let Some(order) = shop.order(&order_id) else {
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
    match shop.order(&order_id) {
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
    let routes = Router::new()
        .route("/checkout", post(checkout))
        .route("/kontocloud/return", post(return_a))
        .route("/payment/return/{order_id}", post(return_b))
        .route("/orders/{order_id}", get(order))
        .route("/orders/{order_id}/thanks", get(thanks));
    serve_shop(routes, Arc::new(Shop::new(config)), listener)
}
