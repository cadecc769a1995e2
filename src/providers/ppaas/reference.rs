//! The PPaaS reference service provider: a QR code payment service that PPaaS calls when a
//! terminal starts a payment, and that reports the payment's progress back to PPaaS.
//!
//! Two compliant styles, both within what the seed (and golive's inferences) allow:
//! - `a`: answers the webhook with a QR payload as a plain string (200), tells PPaaS the events inline when the
//!   consumer acts (the `consumer` hook answers once they are delivered), retries with a
//!   linear back-off, client credentials in the form, renews its token with a minute left,
//!   timestamps in UTC.
//! - `b`: answers with a QR URL, its own transaction id and an expiry (201), queues the events
//!   for a background task with an exponential back-off (the hook answers 202 at once), client
//!   credentials by HTTP Basic, renews its token after 80% of its life, timestamps with a
//!   +01:00 offset and milliseconds, events carry the amount.
//!
//! The consumer's side is the service provider's own test hook,
//! `POST /simulator/transactions/{clientTransactionId}/consumer {action}` (the target's
//! `consumer` trigger): in real life the consumer's wallet app does this.
//!
//! Flaws are the mistakes the suite must catch, one switch each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::reference::shop::{
    http_client, reference_shop, serve_shop, text, ReferenceShop, Token, TokenCache,
};
use crate::reference::{Flaw, Reference, ServeFuture, ShopConfig};
use crate::sandbox::lock;

pub const REFERENCE: Reference = Reference::new(
    "ppaas",
    &["a", "b"],
    &["QR payload as a string (200); events sent inline; linear back-off; credentials in the form; token renewed with a minute left; UTC", "QR URL, own id and expiry (201); events queued for a background task with exponential back-off; HTTP Basic; +01:00 timestamps"],
    FLAWS,
    include_str!("../../../targets/ppaas-reference.yaml"),
    serve,
)
    .test_time_scale(0.2) // the 5 s webhook deadline is 1 s
    .flaws_alternate_styles()
    .skipped_when_compliant(&[("a", "PP-EVENT-AMOUNT")]); // style a's events carry no amount

pub const FLAWS: &[Flaw] = &[
    Flaw {
        name: "slow_webhook",
        description:
            "answers the webhook only after 6 s (it calls a slow back end before answering)",
        caught_by: &["PP-WEBHOOK-ANSWER"],
    },
    Flaw {
        name: "malformed_webhook_answer",
        description:
            "answers the webhook with its own field names (qr_code_url) and no clientTransactionId",
        caught_by: &["PP-WEBHOOK-ANSWER"],
    },
    Flaw {
        name: "rejects_unknown_fields",
        description:
            "refuses (400) a webhook call carrying a field it does not know, instead of ignoring it",
        caught_by: &["PP-WEBHOOK-ANSWER"],
    },
    Flaw {
        name: "token_per_call",
        description: "fetches a new access token for every event",
        caught_by: &["PP-TOKEN-REUSE"],
    },
    Flaw {
        name: "ignore_token_expiry",
        description: "keeps its token past expires_in (and renews only when refused)",
        caught_by: &["PP-TOKEN-VALID"],
    },
    Flaw {
        name: "wrong_transaction_id",
        description:
            "sends its events under its own transaction id instead of PPaaS's clientTransactionId",
        caught_by: &["PP-EVENT-SEQUENCE", "PP-EVENT-OUTCOME"],
    },
    Flaw {
        name: "events_out_of_order",
        description: "sends the terminal event first and QR_CODE_SCANNED after it",
        caught_by: &["PP-EVENT-SEQUENCE"],
    },
    Flaw {
        name: "no_expiry_event",
        description: "never tells PPaaS when a QR code expires unpaid",
        caught_by: &["PP-EVENT-OUTCOME"],
    },
    Flaw {
        name: "no_retry_on_nack",
        description: "sends each event once, whether PPaaS acknowledged it or not",
        caught_by: &["PP-EVENT-REDELIVERY"],
    },
    Flaw {
        name: "retry_forever",
        description: "retries an unacknowledged event without a real bound (gives up after 12)",
        caught_by: &["PP-EVENT-RETRY-BOUND"],
    },
    Flaw {
        name: "duplicate_events_after_ack",
        description: "sends every event a second time after PPaaS acknowledged it",
        caught_by: &["PP-EVENT-NO-DUPLICATE"],
    },
    Flaw {
        name: "unknown_event_field",
        description: "adds a field PPaaS does not know (merchantNote) to its events",
        caught_by: &["PP-UNRECOGNIZED-FIELDS"],
    },
    Flaw {
        name: "timestamp_without_zone",
        description:
            "stamps events with a local time without a zone, so PPaaS refuses them as invalid",
        caught_by: &["PP-REQUEST-SCHEMA", "PP-EVENT-OUTCOME"],
    },
    Flaw {
        name: "major_unit_amounts",
        description:
            "reports its events' amounts in whole major units (20.0 for the webhook's 2000 minor units)",
        caught_by: &["PP-EVENT-AMOUNT"],
    },
];

/// The webhook fields this service provider knows (the seed's, and the enrichment).
const KNOWN_FIELDS: &[&str] = &[
    "paymentType",
    "paymentScenario",
    "scannedPaymentId",
    "clientTransactionId",
    "paymentAmount",
    "order",
    "merchantId",
    "acquirerId",
    "terminalId",
];

#[derive(Debug, Clone)]
struct Transaction {
    amount: i64,
    currency: String,
    /// This service provider's own id for it.
    own_id: String,
    status: &'static str,
}

struct ServiceProvider {
    config: ShopConfig,
    http: reqwest::Client,
    transactions: Mutex<HashMap<String, Transaction>>,
    token: TokenCache,
}

reference_shop!(ServiceProvider);

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"errorCode": "INVALID_REQUEST", "message": message})),
    )
        .into_response()
}

impl ServiceProvider {
    /// A token good for the next call: the cached one while it has enough life left (style b
    /// renews after 80% of its life).
    async fn token(&self) -> Result<String, String> {
        self.token
            .get(self, self.style_b(), || self.fetch_token())
            .await
    }

    async fn fetch_token(&self) -> Result<Token, String> {
        let url = self.url(&format!(
            "/auth/realms/{}/protocol/openid-connect/token",
            self.cred("realm")
        ));
        let request = if self.style_b() {
            self.http
                .post(url)
                .basic_auth(self.cred("client_id"), Some(self.cred("client_secret")))
                .form(&[("grant_type", "client_credentials")])
        } else {
            self.http.post(url).form(&[
                ("grant_type", "client_credentials".to_string()),
                ("client_id", self.cred("client_id")),
                ("client_secret", self.cred("client_secret")),
            ])
        };
        let answer = request.send().await.map_err(|e| e.to_string())?;
        let status = answer.status();
        let json: Value = answer.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("token endpoint answered {status}: {json}"));
        }
        let value = text(&json, "access_token").ok_or("no access_token in the answer")?;
        let lifetime = Duration::from_secs_f64(json["expires_in"].as_f64().unwrap_or(0.0).max(0.0));
        Ok(Token {
            value,
            obtained: Instant::now(),
            lifetime,
        })
    }

    fn timestamp(&self) -> String {
        let now = time::OffsetDateTime::now_utc();
        if self.flawed("timestamp_without_zone") {
            let f =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            return now.format(&f).unwrap_or_default();
        }
        if self.style_b() {
            let f = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
            );
            return now
                .to_offset(time::macros::offset!(+1))
                .format(&f)
                .unwrap_or_default();
        }
        now.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    fn event(&self, client_transaction_id: &str, tx: &Transaction, kind: &str) -> (String, Value) {
        let about = if self.flawed("wrong_transaction_id") {
            tx.own_id.clone()
        } else {
            client_transaction_id.to_owned()
        };
        let mut event = json!({
            "eventId": uuid::Uuid::new_v4().to_string(),
            "eventType": kind,
            "clientTransactionId": about,
            "timestamp": self.timestamp(),
        });
        if self.style_b() {
            event["paymentAmount"] = json!({"amount": tx.amount, "currency": tx.currency});
            event["serviceTransactionId"] = json!(tx.own_id);
        }
        if self.flawed("major_unit_amounts") {
            // The mistake: the amount in whole euros, as the shop's books keep it.
            event["paymentAmount"] =
                json!({"amount": (tx.amount / 100) as f64, "currency": tx.currency});
        }
        if kind == "PAYMENT_FAILED" {
            event["reason"] = json!("Declined by the consumer");
        }
        if self.flawed("unknown_event_field") {
            event["merchantNote"] = json!("sent by the reference service provider");
        }
        (about, event)
    }

    fn backoff(&self, retry: u32) -> Duration {
        if self.style_b() {
            Duration::from_millis((50u64 << (retry.saturating_sub(1)).min(4)).min(800))
        } else {
            Duration::from_millis((100 * retry as u64).min(500))
        }
    }

    /// Delivers one event: again after a 5xx or no answer (bounded), once more with a fresh
    /// token after a 401, never after another 4xx.
    async fn deliver(&self, about: &str, event: &Value) {
        let max_retries = if self.flawed("no_retry_on_nack") {
            0
        } else if self.flawed("retry_forever") {
            12
        } else {
            5
        };
        let url = self.url(&format!("/qrcode-payment/v1/transactions/{about}/events"));
        let mut retries = 0;
        let mut renewed = false;
        let mut sent_twice = false;
        loop {
            let status = match self.token().await {
                Ok(token) => self
                    .http
                    .post(&url)
                    .bearer_auth(token)
                    .json(event)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16()),
                Err(_) => None,
            };
            match status {
                Some(200..=299) => {
                    if self.flawed("duplicate_events_after_ack") && !sent_twice {
                        sent_twice = true;
                        continue;
                    }
                    return;
                }
                Some(401) if !renewed => {
                    renewed = true;
                    self.token.forget().await;
                }
                Some(400..=499) => return,
                _ => {
                    if retries >= max_retries {
                        return;
                    }
                    retries += 1;
                    tokio::time::sleep(self.backoff(retries)).await;
                }
            }
        }
    }

    async fn deliver_all(&self, events: Vec<(String, Value)>) {
        for (about, event) in events {
            self.deliver(&about, &event).await;
        }
    }
}

/// PPaaS forwards a terminal's QR code payment.
async fn webhook(State(sp): State<Arc<ServiceProvider>>, body: axum::body::Bytes) -> Response {
    let call = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(call)) => call,
        _ => return error(StatusCode::BAD_REQUEST, "the body is not a JSON object"),
    };
    let whole = Value::Object(call.clone());
    if sp.flawed("rejects_unknown_fields") {
        if let Some(k) = call.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
            return error(StatusCode::BAD_REQUEST, &format!("unknown field `{k}`"));
        }
    }
    let id = call
        .get("clientTransactionId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let amount = whole
        .pointer("/paymentAmount/amount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let currency = whole
        .pointer("/paymentAmount/currency")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if id.is_empty()
        || amount <= 0
        || currency.len() != 3
        || !currency.bytes().all(|b| b.is_ascii_uppercase())
    {
        return error(StatusCode::BAD_REQUEST, "clientTransactionId, paymentAmount.amount (> 0) and paymentAmount.currency are required");
    }
    let own_id = uuid::Uuid::new_v4().to_string();
    lock(&sp.transactions).insert(
        id.clone(),
        Transaction {
            amount,
            currency,
            own_id: own_id.clone(),
            status: "QR_CODE_CREATED",
        },
    );
    if sp.flawed("slow_webhook") {
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    if sp.flawed("malformed_webhook_answer") {
        return Json(json!({"qr_code_url": format!("https://pay.reference-sp.test/qr/{own_id}"), "ok": true})).into_response();
    }
    if sp.style_b() {
        let expires = (time::OffsetDateTime::now_utc() + time::Duration::minutes(5))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        return (
            StatusCode::CREATED,
            Json(json!({
                "serviceTransactionId": own_id,
                "qrCode": {"type": "URL", "value": format!("https://pay.reference-sp.test/qr/{own_id}")},
                "expiresAt": expires,
                "clientTransactionId": id,
            })),
        )
            .into_response();
    }
    Json(json!({
        "clientTransactionId": id,
        // The QR payload as a plain string: the seed names no shape for the answer.
        "qrCode": format!("REFSP:1:{id}:{amount}"),
        "status": "QR_CODE_CREATED",
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ConsumerAct {
    action: String,
}

/// The service provider's test hook: the consumer paid, declined, or walked away.
async fn consumer(
    State(sp): State<Arc<ServiceProvider>>,
    Path(id): Path<String>,
    Json(act): Json<ConsumerAct>,
) -> Response {
    let Some(tx) = lock(&sp.transactions).get(&id).cloned() else {
        return error(StatusCode::NOT_FOUND, "unknown transaction");
    };
    let (status, mut kinds): (&'static str, Vec<&str>) = match act.action.as_str() {
        "pays" => ("PAID", vec!["QR_CODE_SCANNED", "PAYMENT_SUCCEEDED"]),
        "declines" => ("DECLINED", vec!["QR_CODE_SCANNED", "PAYMENT_FAILED"]),
        "abandons" if sp.flawed("no_expiry_event") => ("EXPIRED", vec![]),
        "abandons" => ("EXPIRED", vec!["PAYMENT_EXPIRED"]),
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("unknown action `{other}`"),
            )
        }
    };
    if let Some(t) = lock(&sp.transactions).get_mut(&id) {
        t.status = status;
    }
    if sp.flawed("events_out_of_order") {
        kinds.reverse();
    }
    let events: Vec<(String, Value)> = kinds.iter().map(|k| sp.event(&id, &tx, k)).collect();
    let n = events.len();
    if sp.style_b() {
        let bg = sp.clone();
        tokio::spawn(async move { bg.deliver_all(events).await });
        return (
            StatusCode::ACCEPTED,
            Json(json!({"status": status, "events": n})),
        )
            .into_response();
    }
    sp.deliver_all(events).await;
    Json(json!({"status": status, "events": n})).into_response()
}

async fn transaction(State(sp): State<Arc<ServiceProvider>>, Path(id): Path<String>) -> Response {
    match lock(&sp.transactions).get(&id) {
        Some(t) => Json(json!({"clientTransactionId": id, "status": t.status})).into_response(),
        None => error(StatusCode::NOT_FOUND, "unknown transaction"),
    }
}

fn serve(config: ShopConfig, listener: TcpListener) -> ServeFuture {
    let sp = Arc::new(ServiceProvider {
        config,
        http: http_client(Some(Duration::from_secs(30))),
        transactions: Mutex::new(HashMap::new()),
        token: TokenCache::default(),
    });
    let routes = Router::new()
        .route("/ppaas/qrcode-payment/v1/transactions", post(webhook))
        .route("/simulator/transactions/{id}/consumer", post(consumer))
        .route("/transactions/{id}", get(transaction));
    serve_shop(routes, sp, listener)
}
