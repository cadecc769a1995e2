//! The toy reference shop: on `POST /pay` it takes a token (once, and keeps it), creates a
//! charge with its own order reference, and answers with the charge. Its one flaw sends a
//! token the toy never issued.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::reference::shop::{http_client, serve_shop};
use crate::reference::{Flaw, Reference, ServeFuture, ShopConfig};

pub const REFERENCE: Reference = Reference::new(
    super::ID,
    &["a"],
    &["one token kept for the run; its own order references (TOY- + the order id)"],
    &[Flaw {
        name: "stale_token",
        description: "sends a token the provider never issued",
        caught_by: &["TOY-TOKEN"],
    }],
    include_str!("target.yaml"),
    serve,
);

struct Shop {
    config: ShopConfig,
    http: reqwest::Client,
    token: Mutex<Option<String>>,
}

fn serve(config: ShopConfig, listener: TcpListener) -> ServeFuture {
    let shop = Arc::new(Shop {
        config,
        http: http_client(None),
        token: Mutex::new(None),
    });
    serve_shop(Router::new().route("/pay", post(pay)), shop, listener)
}

impl Shop {
    async fn token(&self) -> Result<String, String> {
        if self.config.flaws.contains("stale_token") {
            return Ok("toy.not-one-the-provider-issued".into());
        }
        if let Some(t) = self.token.lock().map_err(|e| e.to_string())?.clone() {
            return Ok(t);
        }
        let answer: Value = self
            .http
            .post(format!("{}/token", self.config.sandbox_url))
            .json(&json!({ "api_key": self.config.credentials.get("api_key") }))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let token = answer["token"].as_str().ok_or("no token")?.to_owned();
        *self.token.lock().map_err(|e| e.to_string())? = Some(token.clone());
        Ok(token)
    }
}

async fn pay(State(shop): State<Arc<Shop>>, Json(order): Json<Value>) -> Json<Value> {
    let charge = async {
        let token = shop.token().await?;
        // The trigger's template may hand the amount over as a number or as text.
        let amount: u64 = order["amount"]
            .as_u64()
            .or_else(|| order["amount"].as_str()?.parse().ok())
            .ok_or("amount is not a whole number")?;
        let reference = format!("TOY-{}", order["orderId"].as_str().unwrap_or_default());
        shop.http
            .post(format!("{}/charges", shop.config.sandbox_url))
            .bearer_auth(token)
            .json(&json!({ "reference": reference, "amount": amount }))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json::<Value>()
            .await
            .map_err(|e| e.to_string())
    };
    Json(match charge.await {
        Ok(charge) => json!({ "charge": charge }),
        Err(e) => json!({ "error": e }),
    })
}
