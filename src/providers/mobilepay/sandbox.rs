//! MobilePay's simulated API (the operations the sandbox answers) and its actors (the steps
//! golive plays as the shopper or as MobilePay). What the provider is: the folder's `mod.rs`.

// Handlers return the API's error answer as the `Err` of their steps: an axum `Response` is
// large, but boxing every refusal would only add noise to the handlers.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::driver::{step_as, Act, Actors};
use crate::driver::{Outgoing, StepContext};
use crate::journal::{fingerprint, Actor, Facts, IssuedToken, TokenState, TokenUse};
use crate::providers::{Opened, Provider, StepKind};
use crate::sandbox::request_schema::{query_object, OperationSchemas, RequestFindings};
use crate::sandbox::tokens::TokenBook;
use crate::sandbox::{
    lock, Auth, BoxFuture, Caller, FactsExt, Operation, ProviderSandbox, SandboxCore,
};
use crate::suite::ParsedStep;

pub const ID: &str = "mobilepay";

pub const OP_TOKEN: &str = "token";
pub const OP_POS_LOOKUP: &str = "pos_lookup";
pub const OP_POS_CREATE: &str = "pos_create";
pub const OP_PAYMENT_INITIATE: &str = "payment_initiate";
pub const OP_PAYMENT_PREPARE: &str = "payment_prepare";
pub const OP_PAYMENT_READY: &str = "payment_ready";
pub const OP_PAYMENT_LOOKUP: &str = "payment_lookup";
pub const OP_PAYMENT_POLL: &str = "payment_poll";
pub const OP_PAYMENT_CAPTURE: &str = "payment_capture";
pub const OP_PAYMENT_CANCEL: &str = "payment_cancel";
pub const OP_REFUND_INITIATE: &str = "refund_initiate";
pub const OP_REFUND_POLL: &str = "refund_poll";
pub const OP_REFUND_CAPTURE: &str = "refund_capture";
pub const OP_REFUND_CANCEL: &str = "refund_cancel";
pub const OP_APP_APPROVE: &str = "app_approve";
pub const OP_APP_REJECT: &str = "app_reject";

pub const CLIENT_ID_HEADER: &str = "x-ibm-client-id";
pub const VERSION_HEADER: &str = "x-mobilepay-client-system-version";
pub const VAT_HEADER: &str = "x-mobilepay-merchant-vat-number";
pub const IDEMPOTENCY_HEADER: &str = "x-mobilepay-idempotency-key";

/// Payment states in which a point of sale's payment is still active (one at a time).
const ACTIVE: &[&str] = &[
    "Initiated",
    "Prepared",
    "Paired",
    "IssuedToUser",
    "Reserved",
];

pub struct MobilePay;

/// MobilePay PoS's API as data. Where the shop's ids travel: its order id is the payment's
/// orderId; the payment id is the paymentId initiate and prepare answer with.
pub const OPERATIONS: &[Operation] = &[
    Operation::new(
        OP_TOKEN,
        Caller::Integration,
        "POST",
        "/integrator-authentication/connect/token",
        "the integrator token (client credentials)",
    )
    .with_auth(Auth::Credentials(
        "client_id and client_secret, in the form or a Basic header",
    ))
    .with_schema(include_str!("../../../schemas/mobilepay/token.form.json")),
    Operation::new(
        OP_POS_LOOKUP,
        Caller::Integration,
        "GET",
        "/pos/v10/pointofsales",
        "look up points of sale",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/pos_lookup.query.json"
    )),
    Operation::new(
        OP_POS_CREATE,
        Caller::Integration,
        "POST",
        "/pos/v10/pointofsales",
        "create a point of sale",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/pos_create.request.json"
    )),
    Operation::new(
        OP_PAYMENT_INITIATE,
        Caller::Integration,
        "POST",
        "/pos/v10/payments",
        "initiate a payment",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_initiate.request.json"
    ))
    .with_order_reference(&["body:/orderId"])
    .with_payment_id(&["answer:/paymentId"]),
    Operation::new(
        OP_PAYMENT_PREPARE,
        Caller::Integration,
        "POST",
        "/pos/v10/payments/prepare",
        "prepare a payment (amount later)",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_prepare.request.json"
    ))
    .with_order_reference(&["body:/orderId"])
    .with_payment_id(&["answer:/paymentId"]),
    Operation::new(
        OP_PAYMENT_READY,
        Caller::Integration,
        "POST",
        "/pos/v10/payments/{payment_id}/ready",
        "a prepared payment is ready for the customer (its amount)",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_ready.request.json"
    )),
    Operation::new(
        OP_PAYMENT_LOOKUP,
        Caller::Integration,
        "GET",
        "/pos/v10/payments",
        "look up payments (by orderId, posId...)",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_lookup.query.json"
    )),
    Operation::new(
        OP_PAYMENT_POLL,
        Caller::Integration,
        "GET",
        "/pos/v10/payments/{payment_id}",
        "poll a payment",
    )
    .with_auth(BEARER),
    Operation::new(
        OP_PAYMENT_CAPTURE,
        Caller::Integration,
        "POST",
        "/pos/v10/payments/{payment_id}/capture",
        "capture a reserved payment",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_capture.request.json"
    )),
    Operation::new(
        OP_PAYMENT_CANCEL,
        Caller::Integration,
        "POST",
        "/pos/v10/payments/{payment_id}/cancel",
        "cancel a payment",
    )
    .with_auth(BEARER),
    Operation::new(
        OP_REFUND_INITIATE,
        Caller::Integration,
        "POST",
        "/pos/v10/refunds",
        "initiate a refund",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/refund_initiate.request.json"
    )),
    Operation::new(
        OP_REFUND_POLL,
        Caller::Integration,
        "GET",
        "/pos/v10/refunds/{refund_id}",
        "poll a refund",
    )
    .with_auth(BEARER),
    Operation::new(
        OP_REFUND_CAPTURE,
        Caller::Integration,
        "POST",
        "/pos/v10/refunds/{refund_id}/capture",
        "capture a refund",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/refund_capture.request.json"
    )),
    Operation::new(
        OP_REFUND_CANCEL,
        Caller::Integration,
        "POST",
        "/pos/v10/refunds/{refund_id}/cancel",
        "cancel a refund",
    )
    .with_auth(BEARER),
    Operation::new(
        OP_APP_APPROVE,
        Caller::Shopper,
        "POST",
        "/golive/app/{payment_id}/approve",
        "the customer approves in the MobilePay app",
    )
    .with_note(APP_IS_GOLIVE),
    Operation::new(
        OP_APP_REJECT,
        Caller::Shopper,
        "POST",
        "/golive/app/{payment_id}/reject",
        "the customer rejects in the MobilePay app",
    )
    .with_note(APP_IS_GOLIVE),
];

const BEARER: Auth = Auth::Token("Authorization: Bearer");
const APP_IS_GOLIVE: &str = "golive's own: the app is the customer's phone, played by golive";

impl Provider for MobilePay {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "MobilePay PoS V10"
    }

    fn open(&self, core: Arc<SandboxCore>) -> Opened {
        Opened::of(Arc::new(MobilePaySandbox::new(core)))
    }

    fn reference(&self) -> &'static crate::reference::Reference {
        &super::reference::REFERENCE
    }

    fn suite(&self) -> crate::providers::BundledSuite {
        crate::providers::BundledSuite {
            file: "suites/mobilepay-go-live.yaml",
            text: include_str!("../../../suites/mobilepay-go-live.yaml"),
        }
    }

    fn parse_step(&self, kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
        match kind {
            StepKind::Shopper => serde_json::from_value::<ShopperStep>(params.clone())
                .map(|s| Arc::new(s) as ParsedStep)
                .map_err(|e| format!("{e}; expected `app: approve` or `app: reject`")),
            StepKind::Sandbox => {
                let s = serde_json::from_value::<SandboxSettings>(params.clone())
                    .map_err(|e| e.to_string())?;
                use crate::suite::bounds::check_duration_s;
                if let Some(ms) = s.poll_delay_ms {
                    check_duration_s(ms / 1000.0, true)
                        .map_err(|_| format!("`poll_delay_ms`: {ms} is not a number of milliseconds from 0 to 86400000 (one day)"))?;
                }
                if let Some(secs) = s.payment_expiry_s {
                    check_duration_s(secs, false).map_err(|e| format!("`payment_expiry_s`: {e}"))?;
                }
                Ok(Arc::new(s))
            }
            StepKind::Provider => Err(
                "the MobilePay profile has no provider-initiated steps yet (the notification service is not simulated)"
                    .into(),
            ),
        }
    }

    fn operations(&self) -> &'static [Operation] {
        OPERATIONS
    }

    fn credential_names(&self) -> &'static [&'static str] {
        &["client_id", "client_secret", "merchant_vat"]
    }
}

/// `shopper:` steps: the customer in the MobilePay app.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopperStep {
    app: AppAction,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum AppAction {
    /// The customer swipes to pay: IssuedToUser, then Reserved.
    Approve,
    /// The customer declines: IssuedToUser, then CancelledByUser.
    Reject,
}

/// Profile keys of `sandbox:` steps (besides the generic `token_lifetime_s` and `inject`).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct SandboxSettings {
    /// `pollDelayInMs` in provider time (multiplied by the run's time scale on the wire).
    #[serde(default)]
    poll_delay_ms: Option<f64>,
    /// The next payment initiated (or prepared) finds an active payment for the same point of
    /// sale and order, left by a PoS that crashed mid-payment: 409 1301.
    #[serde(default)]
    already_active: Option<bool>,
    /// How long an unanswered payment waits for the customer, in provider time.
    #[serde(default)]
    payment_expiry_s: Option<f64>,
}

#[derive(Debug, Clone)]
struct TokenInfo {
    /// The `merchant_vat` claim asked for when the token was issued.
    merchant_vat: Option<String>,
}

#[derive(Debug, Clone)]
struct PointOfSale {
    pos_id: String,
    merchant_pos_id: String,
    store_id: String,
    name: String,
}

#[derive(Debug, Clone)]
struct Payment {
    payment_id: String,
    pos_id: String,
    order_id: String,
    amount: f64,
    currency: String,
    status: String,
    /// A state the customer's answer leads to, and when (ms since the run started).
    next: Option<(f64, &'static str)>,
    expires_ms: f64,
    captured: f64,
    refunded: f64,
}

#[derive(Debug, Clone)]
struct Refund {
    refund_id: String,
    payment_id: String,
    refund_order_id: String,
    amount: f64,
    currency: String,
    status: String,
    reserved_at_ms: f64,
}

/// A request processed under an idempotency key, and the answer to replay on a repeat.
#[derive(Debug, Clone)]
struct Stored {
    operation: String,
    body: Value,
    status: u16,
    answer: Value,
}

struct Script {
    poll_delay_ms: f64,
    already_active: bool,
    payment_expiry_s: f64,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            poll_delay_ms: 1000.0,
            already_active: false,
            payment_expiry_s: 300.0,
        }
    }
}

#[derive(Default)]
struct ApiState {
    tokens: TokenBook<TokenInfo>,
    points_of_sale: Vec<PointOfSale>,
    payments: HashMap<String, Payment>,
    refunds: HashMap<String, Refund>,
    keys: HashMap<String, Stored>,
    script: Script,
    /// Payments initiated in this scenario, newest last (the app acts on the newest).
    scenario_payments: Vec<String>,
    /// Stale payments `already_active` planted; they do not outlive their scenario.
    planted: Vec<String>,
}

pub struct MobilePaySandbox {
    core: Arc<SandboxCore>,
    client_id: String,
    client_secret: String,
    merchant_vat: String,
    schemas: OperationSchemas,
    state: Mutex<ApiState>,
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn cents(amount: f64) -> i64 {
    (amount * 100.0).round() as i64
}

/// The V10 error envelope.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "code": code, "message": message, "correlationId": random_id() })),
    )
        .into_response()
}

impl Payment {
    /// Moves the payment on to what the customer (or the clock) decided by now.
    fn advance(&mut self, now_ms: f64) {
        if let Some((at, status)) = self.next {
            if now_ms >= at {
                self.status = status.to_owned();
                self.next = None;
            }
        }
        if matches!(
            self.status.as_str(),
            "Initiated" | "Prepared" | "Paired" | "IssuedToUser"
        ) && self.next.is_none()
            && now_ms >= self.expires_ms
        {
            self.status = "ExpiredAndCancelled".into();
        }
    }

    fn view(&self, poll_delay: u64) -> Value {
        json!({
            "paymentId": self.payment_id,
            "posId": self.pos_id,
            "orderId": self.order_id,
            "amount": self.amount,
            "currencyCode": self.currency,
            "merchantPaymentLabel": null,
            "plannedCaptureDelay": "None",
            "status": self.status,
            "customerToken": null,
            "customerReceiptToken": null,
            "loyaltyIds": [],
            "pollDelayInMs": poll_delay,
        })
    }
}

impl Refund {
    fn advance(&mut self, now_ms: f64) {
        if self.status == "Initiated" && now_ms >= self.reserved_at_ms {
            self.status = "Reserved".into();
        }
    }
}

impl MobilePaySandbox {
    fn new(core: Arc<SandboxCore>) -> Self {
        let short = uuid::Uuid::new_v4().simple().to_string();
        MobilePaySandbox {
            core,
            client_id: format!("golive-integrator-{}", &short[..8]),
            client_secret: format!("sbx-secret-{}", &short[8..]),
            merchant_vat: "DK12345678".into(),
            schemas: OperationSchemas::of(OPERATIONS),
            state: Mutex::new(ApiState::default()),
        }
    }

    /// `pollDelayInMs` on the wire: the scripted delay in provider time, scaled.
    fn poll_delay(&self) -> u64 {
        let scripted = lock(&self.state).script.poll_delay_ms;
        (scripted * self.core.settings().time_scale)
            .round()
            .max(1.0) as u64
    }

    fn scaled_ms(&self, provider_s: f64) -> f64 {
        provider_s * 1000.0 * self.core.settings().time_scale
    }

    /// Everything every `/pos/v10` call must carry: the client id, a valid Bearer token, the
    /// client system version exactly once, and the merchant's VAT number (as a claim on the
    /// token or as a header).
    fn authorize(&self, headers: &HeaderMap, facts: &mut Facts) -> Result<(), Response> {
        if headers.get(CLIENT_ID_HEADER).and_then(|v| v.to_str().ok())
            != Some(self.client_id.as_str())
        {
            // The API gateway's own refusal, before MobilePay's code runs.
            return Err((
                StatusCode::UNAUTHORIZED,
                Json(json!({"httpCode": "401", "httpMessage": "Unauthorized", "moreInformation": "Client id not registered."})),
            )
                .into_response());
        }
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let now = self.core.now_ms();
        let token = bearer.and_then(|t| lock(&self.state).tokens.get(t));
        let (state, remaining) = match (bearer, &token) {
            (None, _) => (TokenState::Missing, None),
            (Some(_), None) => (TokenState::Unknown, None),
            (Some(_), Some(known)) => {
                let remaining = (known.expires_ms - now) / 1000.0;
                let state = if remaining > 0.0 {
                    TokenState::Valid
                } else {
                    TokenState::Expired
                };
                (state, Some(remaining))
            }
        };
        facts.token_used = Some(TokenUse {
            fingerprint: bearer.map(fingerprint),
            state,
            remaining_s: remaining,
        });
        if state != TokenState::Valid {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Unauthorized: the access token is missing, unknown or expired.",
            ));
        }
        // A valid token has not expired, so it is still live in the book, with its claims.
        let token = token
            .and_then(|known| known.info)
            .expect("a valid token is live");
        if token.merchant_vat.is_some() {
            facts.token_claims = vec!["merchant_vat".into()];
        }
        let versions: Vec<&str> = headers
            .get_all(VERSION_HEADER)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        let version_ok = is_version(versions.first().copied().unwrap_or(""));
        match versions.len() {
            0 => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "1153",
                    "Missing x-mobilepay-client-system-version header",
                ))
            }
            1 if !version_ok => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "1161",
                    "Invalid x-mobilepay-client-system-version header",
                ))
            }
            1 => {}
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "1157",
                    "Duplicated x-mobilepay-client-system-version header",
                ))
            }
        }
        if token.merchant_vat.is_none() {
            let vats: Vec<&str> = headers
                .get_all(VAT_HEADER)
                .iter()
                .map(|v| v.to_str().unwrap_or(""))
                .collect();
            match vats.as_slice() {
                [] => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "1151",
                        "Missing x-mobilepay-merchant-vat-number header",
                    ))
                }
                [one] if is_vat(one) => {}
                [_] => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "1159",
                        "Invalid x-mobilepay-merchant-vat-number header",
                    ))
                }
                _ => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "1155",
                        "Duplicated x-mobilepay-merchant-vat-number header",
                    ))
                }
            }
        }
        Ok(())
    }

    /// A fault the scenario injected for this operation, as MobilePay would answer it. A
    /// `then_succeed` fault only delays the real answer (the client may have given up on it).
    async fn injected(&self, operation: &str, facts: &mut Facts) -> Option<Response> {
        let fault = self.core.faults.take(operation)?;
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        facts.injected = Some(fault.label("2000"));
        if fault.then_succeed {
            return None;
        }
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = fault.code.clone().unwrap_or_else(|| {
            if status.is_server_error() {
                "2000".into()
            } else {
                status.as_u16().to_string()
            }
        });
        let message = match code.as_str() {
            "1301" => "Payment already active on the point of sale.",
            c if c.starts_with('2') => {
                "Internal server error - please attach the error code when contacting MobilePay."
            }
            _ => "Injected error.",
        };
        Some(error(status, &code, message))
    }

    /// The idempotency key of a POST that needs one: a repeat of a processed request gets the
    /// original answer; the same key with another body is refused with 409 1306.
    fn idempotency(
        &self,
        operation: &str,
        headers: &HeaderMap,
        body: &Value,
        facts: &mut Facts,
    ) -> Result<Option<String>, Response> {
        let keys: Vec<&str> = headers
            .get_all(IDEMPOTENCY_HEADER)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        let key = match keys.as_slice() {
            [] => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "1164",
                    "Missing x-mobilepay-idempotency-key header",
                ))
            }
            [k] if !k.is_empty() && k.chars().count() <= 36 => (*k).to_owned(),
            [_] => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "1162",
                    "Invalid x-mobilepay-idempotency-key header (1 to 36 characters)",
                ))
            }
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "1163",
                    "Duplicated x-mobilepay-idempotency-key header",
                ))
            }
        };
        facts.notes.insert("idempotency_key".into(), json!(key));
        let stored = lock(&self.state).keys.get(&key).cloned();
        match stored {
            Some(s) if s.operation == operation && s.body == *body => {
                facts.notes.insert("idempotent_replay".into(), json!(true));
                let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK);
                Err((status, Json(s.answer)).into_response())
            }
            Some(_) => Err(error(
                StatusCode::CONFLICT,
                "1306",
                "The idempotency key was already used for another request.",
            )),
            None => Ok(Some(key)),
        }
    }

    fn remember(
        &self,
        key: Option<String>,
        operation: &str,
        body: &Value,
        status: StatusCode,
        answer: &Value,
    ) {
        if let Some(key) = key {
            lock(&self.state).keys.insert(
                key,
                Stored {
                    operation: operation.to_owned(),
                    body: body.clone(),
                    status: status.as_u16(),
                    answer: answer.clone(),
                },
            );
        }
    }
}

fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_vat(v: &str) -> bool {
    (v.starts_with("DK") || v.starts_with("FI"))
        && v.len() == 10
        && v[2..].bytes().all(|b| b.is_ascii_digit())
}

fn with_findings(facts: &mut Facts, findings: &RequestFindings) {
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
}

/// The request's JSON body, or the V10 answer to one that is not JSON.
fn json_body(body: &[u8], facts: &mut Facts) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(_) => {
            facts.schema_errors = vec!["body: not JSON".into()];
            Err(error(
                StatusCode::BAD_REQUEST,
                "1099",
                "Unknown BadRequest error: the body is not JSON.",
            ))
        }
    }
}

fn bad_request(findings: &RequestFindings) -> Option<Response> {
    (!findings.errors.is_empty()).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "1099",
            &format!("Unknown BadRequest error: {}", findings.errors.join("; ")),
        )
    })
}

type Sb = State<Arc<MobilePaySandbox>>;

async fn token(State(sb): Sb, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut facts = Facts {
        operation: Some(OP_TOKEN.into()),
        ..Facts::default()
    };
    let text = String::from_utf8_lossy(&body);
    let fields: BTreeMap<String, String> = form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect();
    let as_json = Value::Object(fields.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
    let findings = sb.schemas.check(OP_TOKEN, &as_json);
    with_findings(&mut facts, &findings);
    if let Some(r) = sb.injected(OP_TOKEN, &mut facts).await {
        return r.facts(facts);
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let expected = format!("{}:{}", sb.client_id, sb.client_secret);
    let client_ok =
        headers.get(CLIENT_ID_HEADER).and_then(|v| v.to_str().ok()) == Some(sb.client_id.as_str());
    if !client_ok || basic.as_deref() != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .facts(facts);
    }
    if fields.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .facts(facts);
    }
    if !findings.errors.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": findings.errors.join("; ")})),
        )
            .facts(facts);
    }
    let value = format!(
        "mp.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let lifetime = sb.core.token_lifetime_s();
    let now = sb.core.now_ms();
    let expires = now + lifetime * 1000.0;
    let merchant_vat = fields.get("merchant_vat").cloned();
    if merchant_vat.is_some() {
        facts.token_claims = vec!["merchant_vat".into()];
    }
    lock(&sb.state)
        .tokens
        .issue(value.clone(), expires, TokenInfo { merchant_vat }, now);
    facts.token_issued = Some(IssuedToken {
        fingerprint: fingerprint(&value),
        lifetime_s: lifetime,
        expires_at_ms: expires,
    });
    Json(json!({
        "access_token": value,
        "expires_in": lifetime.round() as u64,
        "token_type": "Bearer",
        "scope": "integrator_scope",
    }))
    .facts(facts)
}

/// The start of every `/pos/v10` handler: facts, schema, authorisation, injected faults.
async fn enter(
    sb: &MobilePaySandbox,
    operation: &str,
    headers: &HeaderMap,
    instance: Option<&Value>,
    facts: &mut Facts,
) -> Result<(), Response> {
    facts.operation = Some(operation.into());
    let findings = instance
        .map(|i| sb.schemas.check(operation, i))
        .unwrap_or_default();
    with_findings(facts, &findings);
    sb.authorize(headers, facts)?;
    if let Some(r) = sb.injected(operation, facts).await {
        return Err(r);
    }
    if let Some(r) = bad_request(&findings) {
        return Err(r);
    }
    Ok(())
}

async fn pos_lookup(State(sb): Sb, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let mut facts = Facts::default();
    let q = query_object(query.as_deref());
    if let Err(r) = enter(&sb, OP_POS_LOOKUP, &headers, Some(&q), &mut facts).await {
        return r.facts(facts);
    }
    let field = |k: &str| q.get(k).and_then(Value::as_str).map(str::to_owned);
    let (merchant_pos_id, pos_id, store_id) =
        (field("merchantPosId"), field("posId"), field("storeId"));
    let found: Vec<Value> = lock(&sb.state)
        .points_of_sale
        .iter()
        .filter(|p| merchant_pos_id.as_ref().is_none_or(|m| *m == p.merchant_pos_id))
        .filter(|p| pos_id.as_ref().is_none_or(|m| *m == p.pos_id))
        .filter(|p| store_id.as_ref().is_none_or(|m| *m == p.store_id))
        .map(|p| {
            json!({"posId": p.pos_id, "merchantPosId": p.merchant_pos_id, "storeId": p.store_id, "name": p.name,
                   "beaconId": null, "supportedBeaconTypes": [], "callbackAlias": null})
        })
        .collect();
    facts.notes.insert("found".into(), json!(found.len()));
    Json(json!({ "pointOfSales": found })).facts(facts)
}

async fn pos_create(State(sb): Sb, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut facts = Facts {
        operation: Some(OP_POS_CREATE.into()),
        ..Facts::default()
    };
    let json = match json_body(&body, &mut facts) {
        Ok(j) => j,
        Err(r) => return r.facts(facts),
    };
    if let Err(r) = enter(&sb, OP_POS_CREATE, &headers, Some(&json), &mut facts).await {
        return r.facts(facts);
    }
    let key = match sb.idempotency(OP_POS_CREATE, &headers, &json, &mut facts) {
        Ok(k) => k,
        Err(r) => return r.facts(facts),
    };
    let merchant_pos_id = json["merchantPosId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut st = lock(&sb.state);
    if st
        .points_of_sale
        .iter()
        .any(|p| p.merchant_pos_id == merchant_pos_id)
    {
        drop(st);
        return error(
            StatusCode::CONFLICT,
            "1008",
            "A point of sale with this merchantPosId already exists (code inferred).",
        )
        .facts(facts);
    }
    let pos = PointOfSale {
        pos_id: random_id(),
        merchant_pos_id,
        store_id: json["storeId"].as_str().unwrap_or_default().to_owned(),
        name: json["name"].as_str().unwrap_or_default().to_owned(),
    };
    let answer = json!({ "posId": pos.pos_id });
    st.points_of_sale.push(pos);
    drop(st);
    sb.remember(key, OP_POS_CREATE, &json, StatusCode::OK, &answer);
    Json(answer).facts(facts)
}

/// Creates a payment for initiate and prepare (the two ways to start one).
async fn start_payment(
    sb: Arc<MobilePaySandbox>,
    headers: HeaderMap,
    body: axum::body::Bytes,
    operation: &'static str,
) -> Response {
    let mut facts = Facts {
        operation: Some(operation.into()),
        ..Facts::default()
    };
    let json = match json_body(&body, &mut facts) {
        Ok(j) => j,
        Err(r) => return r.facts(facts),
    };
    facts.order = json["orderId"].as_str().map(str::to_owned);
    if let Err(r) = enter(&sb, operation, &headers, Some(&json), &mut facts).await {
        return r.facts(facts);
    }
    let key = match sb.idempotency(operation, &headers, &json, &mut facts) {
        Ok(k) => k,
        Err(r) => return r.facts(facts),
    };
    let pos_id = json["posId"].as_str().unwrap_or_default().to_owned();
    let order_id = json["orderId"].as_str().unwrap_or_default().to_owned();
    let now = sb.core.now_ms();
    let poll_delay = sb.poll_delay();
    let expiry = sb.scaled_ms(lock(&sb.state).script.payment_expiry_s);
    let mut st = lock(&sb.state);
    if !st.points_of_sale.iter().any(|p| p.pos_id == pos_id) {
        drop(st);
        return error(StatusCode::CONFLICT, "1000", "Point of Sale not found").facts(facts);
    }
    if st.script.already_active {
        // A payment left active by a PoS that crashed mid-payment, for the same order.
        st.script.already_active = false;
        let stale = Payment {
            payment_id: random_id(),
            pos_id: pos_id.clone(),
            order_id: order_id.clone(),
            amount: json["amount"].as_f64().unwrap_or(1.0),
            currency: json["currencyCode"].as_str().unwrap_or("DKK").to_owned(),
            status: "Initiated".into(),
            next: None,
            expires_ms: now + expiry,
            captured: 0.0,
            refunded: 0.0,
        };
        facts
            .notes
            .insert("planted_active_payment".into(), json!(stale.payment_id));
        st.planted.push(stale.payment_id.clone());
        st.payments.insert(stale.payment_id.clone(), stale);
    }
    for p in st.payments.values_mut() {
        p.advance(now);
    }
    if let Some(active) = st
        .payments
        .values()
        .find(|p| p.pos_id == pos_id && ACTIVE.contains(&p.status.as_str()))
    {
        facts.payment = Some(active.payment_id.clone());
        facts.payment_state = Some(active.status.clone());
        drop(st);
        return error(
            StatusCode::CONFLICT,
            "1301",
            "Payment already active on the point of sale.",
        )
        .facts(facts);
    }
    let (status, amount) = if operation == OP_PAYMENT_PREPARE {
        ("Prepared", 0.0)
    } else {
        ("Initiated", json["amount"].as_f64().unwrap_or(0.0))
    };
    let payment = Payment {
        payment_id: random_id(),
        pos_id,
        order_id,
        amount,
        currency: json["currencyCode"].as_str().unwrap_or("DKK").to_owned(),
        status: status.into(),
        next: None,
        expires_ms: now + expiry,
        captured: 0.0,
        refunded: 0.0,
    };
    facts.payment = Some(payment.payment_id.clone());
    facts.payment_state = Some(status.into());
    facts.resource = Some(format!("payment:{}", payment.payment_id));
    facts.poll_delay_ms = Some(poll_delay as f64);
    let answer = json!({ "paymentId": payment.payment_id, "pollDelayInMs": poll_delay });
    st.scenario_payments.push(payment.payment_id.clone());
    st.payments.insert(payment.payment_id.clone(), payment);
    drop(st);
    sb.remember(key, operation, &json, StatusCode::OK, &answer);
    Json(answer).facts(facts)
}

async fn payment_initiate(State(sb): Sb, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    start_payment(sb, headers, body, OP_PAYMENT_INITIATE).await
}

async fn payment_prepare(State(sb): Sb, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    start_payment(sb, headers, body, OP_PAYMENT_PREPARE).await
}

/// Reads a payment for a handler, moved on to now; the 404 when it does not exist.
fn payment_of(
    sb: &MobilePaySandbox,
    payment_id: &str,
    facts: &mut Facts,
) -> Result<Payment, Response> {
    let now = sb.core.now_ms();
    let mut st = lock(&sb.state);
    let Some(p) = st.payments.get_mut(payment_id) else {
        return Err((StatusCode::NOT_FOUND, Json(json!({"code": "404", "message": "Payment not found", "correlationId": random_id()}))).into_response());
    };
    p.advance(now);
    facts.payment = Some(p.payment_id.clone());
    facts.order = Some(p.order_id.clone());
    facts.resource = Some(format!("payment:{}", p.payment_id));
    Ok(p.clone())
}

fn set_payment(sb: &MobilePaySandbox, payment_id: &str, f: impl FnOnce(&mut Payment)) {
    if let Some(p) = lock(&sb.state).payments.get_mut(payment_id) {
        f(p);
    }
}

async fn payment_ready(
    State(sb): Sb,
    Path(payment_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_PAYMENT_READY.into()),
        ..Facts::default()
    };
    let json = match json_body(&body, &mut facts) {
        Ok(j) => j,
        Err(r) => return r.facts(facts),
    };
    if let Err(r) = enter(&sb, OP_PAYMENT_READY, &headers, Some(&json), &mut facts).await {
        return r.facts(facts);
    }
    let p = match payment_of(&sb, &payment_id, &mut facts) {
        Ok(p) => p,
        Err(r) => return r.facts(facts),
    };
    if !matches!(p.status.as_str(), "Prepared" | "Paired") {
        facts.payment_state = Some(p.status.clone());
        return error(
            StatusCode::CONFLICT,
            "1302",
            "The payment is not prepared (code inferred).",
        )
        .facts(facts);
    }
    let amount = json["amount"].as_f64().unwrap_or(0.0);
    let currency = json["currencyCode"].as_str().unwrap_or("DKK").to_owned();
    set_payment(&sb, &payment_id, |p| {
        p.amount = amount;
        p.currency = currency;
        p.status = "Initiated".into();
    });
    facts.payment_state = Some("Initiated".into());
    StatusCode::NO_CONTENT.facts(facts)
}

async fn payment_lookup(State(sb): Sb, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let mut facts = Facts::default();
    let q = query_object(query.as_deref());
    if let Err(r) = enter(&sb, OP_PAYMENT_LOOKUP, &headers, Some(&q), &mut facts).await {
        return r.facts(facts);
    }
    let pos_id = q.get("posId").and_then(Value::as_str).map(str::to_owned);
    let order_id = q.get("orderId").and_then(Value::as_str).map(str::to_owned);
    facts.order = order_id.clone();
    let done = q.get("state").and_then(Value::as_str) == Some("Done");
    let now = sb.core.now_ms();
    let mut st = lock(&sb.state);
    let mut ids: Vec<String> = st
        .payments
        .values_mut()
        .filter(|p| pos_id.as_ref().is_none_or(|x| *x == p.pos_id))
        .filter(|p| order_id.as_ref().is_none_or(|x| *x == p.order_id))
        .filter_map(|p| {
            p.advance(now);
            (ACTIVE.contains(&p.status.as_str()) != done).then(|| p.payment_id.clone())
        })
        .collect();
    ids.sort();
    drop(st);
    if let [only] = ids.as_slice() {
        facts.payment = Some(only.clone());
    }
    Json(json!({ "paymentIds": ids })).facts(facts)
}

async fn payment_poll(
    State(sb): Sb,
    Path(payment_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut facts = Facts::default();
    if let Err(r) = enter(&sb, OP_PAYMENT_POLL, &headers, None, &mut facts).await {
        return r.facts(facts);
    }
    let p = match payment_of(&sb, &payment_id, &mut facts) {
        Ok(p) => p,
        Err(r) => return r.facts(facts),
    };
    let poll_delay = sb.poll_delay();
    facts.payment_state = Some(p.status.clone());
    facts.amount = Some(p.amount);
    facts.poll_delay_ms = Some(poll_delay as f64);
    Json(p.view(poll_delay)).facts(facts)
}

async fn payment_capture(
    State(sb): Sb,
    Path(payment_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_PAYMENT_CAPTURE.into()),
        ..Facts::default()
    };
    let json = match json_body(&body, &mut facts) {
        Ok(j) => j,
        Err(r) => return r.facts(facts),
    };
    if let Err(r) = enter(&sb, OP_PAYMENT_CAPTURE, &headers, Some(&json), &mut facts).await {
        return r.facts(facts);
    }
    let p = match payment_of(&sb, &payment_id, &mut facts) {
        Ok(p) => p,
        Err(r) => return r.facts(facts),
    };
    facts.payment_state = Some(p.status.clone());
    if p.status != "Reserved" {
        return error(
            StatusCode::CONFLICT,
            "1304",
            "The payment is not reserved (HTTP status inferred).",
        )
        .facts(facts);
    }
    let amount = json["amount"].as_f64().unwrap_or(0.0);
    facts.amount = Some(p.amount);
    if cents(amount) > cents(p.amount) {
        return error(
            StatusCode::CONFLICT,
            "1305",
            "The capture amount is higher than the reserved amount (HTTP status inferred).",
        )
        .facts(facts);
    }
    set_payment(&sb, &payment_id, |p| {
        p.status = "Captured".into();
        p.captured = amount;
    });
    facts.payment_state = Some("Captured".into());
    StatusCode::NO_CONTENT.facts(facts)
}

async fn payment_cancel(
    State(sb): Sb,
    Path(payment_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut facts = Facts::default();
    if let Err(r) = enter(&sb, OP_PAYMENT_CANCEL, &headers, None, &mut facts).await {
        return r.facts(facts);
    }
    let p = match payment_of(&sb, &payment_id, &mut facts) {
        Ok(p) => p,
        Err(r) => return r.facts(facts),
    };
    if !ACTIVE.contains(&p.status.as_str()) {
        facts.payment_state = Some(p.status.clone());
        return error(
            StatusCode::CONFLICT,
            "1303",
            "The payment is no longer active and cannot be cancelled (code inferred).",
        )
        .facts(facts);
    }
    set_payment(&sb, &payment_id, |p| {
        p.status = "CancelledByClient".into();
        p.next = None;
    });
    facts.payment_state = Some("CancelledByClient".into());
    StatusCode::NO_CONTENT.facts(facts)
}

async fn refund_initiate(State(sb): Sb, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut facts = Facts {
        operation: Some(OP_REFUND_INITIATE.into()),
        ..Facts::default()
    };
    let json = match json_body(&body, &mut facts) {
        Ok(j) => j,
        Err(r) => return r.facts(facts),
    };
    if let Err(r) = enter(&sb, OP_REFUND_INITIATE, &headers, Some(&json), &mut facts).await {
        return r.facts(facts);
    }
    let key = match sb.idempotency(OP_REFUND_INITIATE, &headers, &json, &mut facts) {
        Ok(k) => k,
        Err(r) => return r.facts(facts),
    };
    let payment_id = json["paymentId"].as_str().unwrap_or_default().to_owned();
    let p = match payment_of(&sb, &payment_id, &mut facts) {
        Ok(p) => p,
        Err(r) => return r.facts(facts),
    };
    let amount = json["amount"].as_f64().unwrap_or(0.0);
    if p.status != "Captured" || cents(amount) > cents(p.captured - p.refunded) {
        facts.payment_state = Some(p.status.clone());
        return error(
            StatusCode::CONFLICT,
            "1307",
            "The payment is not captured, or the refund is larger than what is left to refund (code inferred).",
        )
        .facts(facts);
    }
    let poll_delay = sb.poll_delay();
    let refund = Refund {
        refund_id: random_id(),
        payment_id: payment_id.clone(),
        refund_order_id: json["refundOrderId"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        amount,
        currency: json["currencyCode"].as_str().unwrap_or("DKK").to_owned(),
        status: "Initiated".into(),
        // MobilePay reserves the refund on its own, a poll delay later (inferred pacing).
        reserved_at_ms: sb.core.now_ms() + poll_delay as f64,
    };
    facts.payment_state = Some("Initiated".into());
    facts.notes.insert("refund".into(), json!(refund.refund_id));
    facts.resource = Some(format!("refund:{}", refund.refund_id));
    facts.poll_delay_ms = Some(poll_delay as f64);
    let answer = json!({ "refundId": refund.refund_id, "pollDelayInMs": poll_delay });
    {
        let mut st = lock(&sb.state);
        if let Some(p) = st.payments.get_mut(&payment_id) {
            p.refunded += amount;
        }
        st.refunds.insert(refund.refund_id.clone(), refund);
    }
    sb.remember(key, OP_REFUND_INITIATE, &json, StatusCode::OK, &answer);
    Json(answer).facts(facts)
}

fn refund_of(
    sb: &MobilePaySandbox,
    refund_id: &str,
    facts: &mut Facts,
) -> Result<Refund, Response> {
    let now = sb.core.now_ms();
    let mut st = lock(&sb.state);
    let Some(r) = st.refunds.get_mut(refund_id) else {
        return Err((
            StatusCode::NOT_FOUND,
            Json(
                json!({"code": "404", "message": "Refund not found", "correlationId": random_id()}),
            ),
        )
            .into_response());
    };
    r.advance(now);
    facts.payment = Some(r.payment_id.clone());
    facts.notes.insert("refund".into(), json!(r.refund_id));
    facts.resource = Some(format!("refund:{}", r.refund_id));
    Ok(r.clone())
}

async fn refund_poll(State(sb): Sb, Path(refund_id): Path<String>, headers: HeaderMap) -> Response {
    let mut facts = Facts::default();
    if let Err(r) = enter(&sb, OP_REFUND_POLL, &headers, None, &mut facts).await {
        return r.facts(facts);
    }
    let r = match refund_of(&sb, &refund_id, &mut facts) {
        Ok(r) => r,
        Err(resp) => return resp.facts(facts),
    };
    let poll_delay = sb.poll_delay();
    facts.payment_state = Some(r.status.clone());
    facts.amount = Some(r.amount);
    facts.poll_delay_ms = Some(poll_delay as f64);
    Json(json!({
        "refundId": r.refund_id,
        "paymentId": r.payment_id,
        "refundOrderId": r.refund_order_id,
        "amount": r.amount,
        "currencyCode": r.currency,
        "merchantRefundLabel": null,
        "status": r.status,
        "pollDelayInMs": poll_delay,
    }))
    .facts(facts)
}

async fn refund_capture(
    State(sb): Sb,
    Path(refund_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_REFUND_CAPTURE.into()),
        ..Facts::default()
    };
    // The body is optional: without one (or without an amount) the whole refund is captured.
    let json = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match json_body(&body, &mut facts) {
            Ok(j) => j,
            Err(r) => return r.facts(facts),
        }
    };
    if let Err(r) = enter(&sb, OP_REFUND_CAPTURE, &headers, Some(&json), &mut facts).await {
        return r.facts(facts);
    }
    let r = match refund_of(&sb, &refund_id, &mut facts) {
        Ok(r) => r,
        Err(resp) => return resp.facts(facts),
    };
    facts.payment_state = Some(r.status.clone());
    facts.amount = Some(r.amount);
    if r.status != "Reserved" {
        return error(
            StatusCode::CONFLICT,
            "1304",
            "The refund is not reserved (HTTP status inferred).",
        )
        .facts(facts);
    }
    if json["amount"]
        .as_f64()
        .is_some_and(|amount| cents(amount) > cents(r.amount))
    {
        return error(
            StatusCode::CONFLICT,
            "1305",
            "The capture amount is higher than the refund (HTTP status inferred).",
        )
        .facts(facts);
    }
    if let Some(x) = lock(&sb.state).refunds.get_mut(&refund_id) {
        x.status = "Captured".into();
    }
    facts.payment_state = Some("Captured".into());
    StatusCode::NO_CONTENT.facts(facts)
}

async fn refund_cancel(
    State(sb): Sb,
    Path(refund_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut facts = Facts::default();
    if let Err(r) = enter(&sb, OP_REFUND_CANCEL, &headers, None, &mut facts).await {
        return r.facts(facts);
    }
    let r = match refund_of(&sb, &refund_id, &mut facts) {
        Ok(r) => r,
        Err(resp) => return resp.facts(facts),
    };
    if !matches!(r.status.as_str(), "Initiated" | "Reserved") {
        facts.payment_state = Some(r.status.clone());
        return error(
            StatusCode::CONFLICT,
            "1303",
            "The refund can no longer be cancelled (code inferred).",
        )
        .facts(facts);
    }
    let mut st = lock(&sb.state);
    if let Some(x) = st.refunds.get_mut(&refund_id) {
        x.status = "CancelledByClient".into();
    }
    if let Some(p) = st.payments.get_mut(&r.payment_id) {
        p.refunded -= r.amount;
    }
    drop(st);
    facts.payment_state = Some("CancelledByClient".into());
    StatusCode::NO_CONTENT.facts(facts)
}

/// The customer's app (simulator only): approve or reject the payment issued to them.
async fn app_act(State(sb): Sb, Path((payment_id, action)): Path<(String, String)>) -> Response {
    let (op, outcome) = match action.as_str() {
        "approve" => (OP_APP_APPROVE, "Reserved"),
        "reject" => (OP_APP_REJECT, "CancelledByUser"),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "unknown app action"})),
            )
                .into_response()
        }
    };
    let mut facts = Facts {
        operation: Some(op.into()),
        ..Facts::default()
    };
    let p = match payment_of(&sb, &payment_id, &mut facts) {
        Ok(p) => p,
        Err(r) => return r.facts(facts),
    };
    if !matches!(p.status.as_str(), "Initiated" | "Paired" | "IssuedToUser") {
        facts.payment_state = Some(p.status.clone());
        return (StatusCode::CONFLICT, Json(json!({"error": format!("the payment is {}, nothing to answer in the app", p.status)})))
            .facts(facts);
    }
    // The customer sees the payment at once; the answer reaches MobilePay a little later,
    // so a PoS polling at its pace sees IssuedToUser before the outcome.
    let at = sb.core.now_ms() + 1.5 * sb.poll_delay() as f64;
    set_payment(&sb, &payment_id, |p| {
        p.status = "IssuedToUser".into();
        p.next = Some((at, outcome));
    });
    facts.payment_state = Some("IssuedToUser".into());
    Json(json!({"paymentId": payment_id, "status": "IssuedToUser", "outcome": outcome}))
        .facts(facts)
}

impl ProviderSandbox for MobilePaySandbox {
    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/integrator-authentication/connect/token", post(token))
            .route("/pos/v10/pointofsales", get(pos_lookup).post(pos_create))
            .route(
                "/pos/v10/payments",
                get(payment_lookup).post(payment_initiate),
            )
            .route("/pos/v10/payments/prepare", post(payment_prepare))
            .route("/pos/v10/payments/{payment_id}", get(payment_poll))
            .route("/pos/v10/payments/{payment_id}/ready", post(payment_ready))
            .route(
                "/pos/v10/payments/{payment_id}/capture",
                post(payment_capture),
            )
            .route(
                "/pos/v10/payments/{payment_id}/cancel",
                post(payment_cancel),
            )
            .route("/pos/v10/refunds", post(refund_initiate))
            .route("/pos/v10/refunds/{refund_id}", get(refund_poll))
            .route("/pos/v10/refunds/{refund_id}/capture", post(refund_capture))
            .route("/pos/v10/refunds/{refund_id}/cancel", post(refund_cancel))
            .route("/golive/app/{payment_id}/{action}", post(app_act))
            .with_state(self)
    }

    fn credentials(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("client_id".to_string(), self.client_id.clone()),
            ("client_secret".to_string(), self.client_secret.clone()),
            ("merchant_vat".to_string(), self.merchant_vat.clone()),
        ])
    }

    /// The client id is to be kept secret too (seed 004: "never reveal it publicly").
    fn secrets(&self) -> Vec<String> {
        vec![self.client_id.clone(), self.client_secret.clone()]
    }

    fn begin_scenario(&self, defaults: &serde_json::Map<String, Value>) -> Result<(), String> {
        {
            let mut st = lock(&self.state);
            st.script = Script::default();
            st.scenario_payments.clear();
            // Scenarios are judged apart: a payment the last scenario left active (a scripted
            // stale payment, or one a till forgot to cancel) expires before the next one
            // starts, as MobilePay's own expiry would, so a mistake fails the checks of the
            // scenario that made it and not every later one with 1301.
            st.planted.clear();
            for p in st.payments.values_mut() {
                if ACTIVE.contains(&p.status.as_str()) {
                    p.status = "ExpiredAndCancelled".into();
                }
            }
        }
        self.configure(defaults)
    }

    fn configure(&self, settings: &serde_json::Map<String, Value>) -> Result<(), String> {
        let s: SandboxSettings =
            serde_json::from_value(Value::Object(settings.clone())).map_err(|e| e.to_string())?;
        let mut st = lock(&self.state);
        if let Some(ms) = s.poll_delay_ms {
            if ms <= 0.0 {
                return Err("`poll_delay_ms` must be above 0".into());
            }
            st.script.poll_delay_ms = ms;
        }
        if let Some(a) = s.already_active {
            st.script.already_active = a;
        }
        if let Some(e) = s.payment_expiry_s {
            st.script.payment_expiry_s = e;
        }
        Ok(())
    }
}

impl Actors for MobilePaySandbox {
    fn act<'a>(
        &'a self,
        act: Act,
        step: &'a ParsedStep,
        ctx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if act == Act::Provider {
                return Err("the MobilePay profile has no provider-initiated steps".into());
            }
            self.app(ctx, step_as::<ShopperStep>(step)?.app).await
        })
    }
}

impl MobilePaySandbox {
    /// The customer opens the app: waits (bounded) for the PoS to issue a payment in this
    /// scenario, then answers it.
    async fn app(&self, ctx: &mut StepContext, action: AppAction) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + ctx.wait_timeout;
        let payment_id = loop {
            let now = self.core.now_ms();
            let found = {
                let mut st = lock(&self.state);
                let ids = st.scenario_payments.clone();
                ids.iter().rev().find_map(|id| {
                    let p = st.payments.get_mut(id)?;
                    p.advance(now);
                    matches!(p.status.as_str(), "Initiated" | "Paired" | "IssuedToUser")
                        .then(|| id.clone())
                })
            };
            if let Some(id) = found {
                break id;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the point of sale issued no payment to the customer within {:.1} s",
                    ctx.wait_timeout.as_secs_f64()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let verb = match action {
            AppAction::Approve => "approve",
            AppAction::Reject => "reject",
        };
        let url = format!(
            "{}/golive/app/{payment_id}/{verb}",
            ctx.sandbox_url.trim_end_matches('/')
        );
        let out = Outgoing::new(Actor::Browser, "app", "POST", url, ctx.request_timeout);
        let answer = ctx.send(out).await?;
        if !(200..300).contains(&answer.status) {
            return Err(format!(
                "the app could not {verb} the payment: {} {}",
                answer.status,
                answer.text()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;
    use crate::sandbox::Sandbox;

    struct Client {
        sb: Sandbox,
        http: reqwest::Client,
    }

    impl Client {
        async fn start() -> Client {
            let sb = crate::providers::start(&MobilePay, Journal::in_memory(), 0)
                .await
                .unwrap()
                .0;
            Client {
                sb,
                http: reqwest::Client::new(),
            }
        }
        fn creds(&self) -> BTreeMap<String, String> {
            self.sb.profile.credentials()
        }
        async fn token(&self, vat: Option<&str>) -> reqwest::Response {
            let c = self.creds();
            let mut form = vec![("grant_type", "client_credentials")];
            if let Some(v) = vat {
                form.push(("merchant_vat", v));
            }
            self.http
                .post(format!(
                    "{}/integrator-authentication/connect/token",
                    self.sb.base_url()
                ))
                .header(CLIENT_ID_HEADER, &c["client_id"])
                .basic_auth(&c["client_id"], Some(&c["client_secret"]))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
        async fn bearer(&self) -> String {
            let t: Value = self.token(Some("DK12345678")).await.json().await.unwrap();
            t["access_token"].as_str().unwrap().to_owned()
        }
        fn api(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
            self.http
                .request(method, format!("{}{path}", self.sb.base_url()))
                .header(CLIENT_ID_HEADER, &self.creds()["client_id"])
                .bearer_auth(token)
                .header(VERSION_HEADER, "1.2.3")
        }
    }

    async fn code(r: reqwest::Response) -> (u16, String) {
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (status, body["code"].as_str().unwrap_or("").to_owned())
    }

    #[tokio::test]
    async fn token_is_issued_only_to_the_registered_client() {
        let c = Client::start().await;
        let ok: Value = c.token(Some("DK12345678")).await.json().await.unwrap();
        assert_eq!(ok["token_type"], "Bearer");
        let issued = ok["access_token"].as_str().unwrap();
        assert!(crate::report::redact::is_shaped_token(issued), "{issued}");
        assert_eq!(ok["scope"], "integrator_scope");
        assert!(ok["expires_in"].as_u64().unwrap() > 0);
        let bad = c
            .http
            .post(format!(
                "{}/integrator-authentication/connect/token",
                c.sb.base_url()
            ))
            .header(CLIENT_ID_HEADER, "someone")
            .basic_auth("someone", Some("else"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401);
        let bad_vat = c.token(Some("SE123")).await;
        assert_eq!(bad_vat.status(), 400);
        let live = c.sb.core.journal.live();
        assert!(live[0].facts.token_issued.is_some());
        assert_eq!(live[0].facts.token_claims, vec!["merchant_vat"]);
        assert!(live[2]
            .facts
            .schema_errors
            .iter()
            .any(|e| e.contains("merchant_vat")));
    }

    #[tokio::test]
    async fn header_rules_give_the_v10_codes() {
        let c = Client::start().await;
        let t = c.bearer().await;
        let get = reqwest::Method::GET;
        let r = c
            .api(get.clone(), "/pos/v10/pointofsales?merchantPosId=x", &t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let base = format!("{}/pos/v10/pointofsales?merchantPosId=x", c.sb.base_url());
        let r = c
            .http
            .get(&base)
            .header(CLIENT_ID_HEADER, &c.creds()["client_id"])
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (400, "1153".into()));
        let r = c
            .api(get.clone(), "/pos/v10/pointofsales?merchantPosId=x", &t)
            .header(VERSION_HEADER, "1.2.3")
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (400, "1157".into()));
        let r = c
            .http
            .get(&base)
            .header(CLIENT_ID_HEADER, &c.creds()["client_id"])
            .bearer_auth(&t)
            .header(VERSION_HEADER, "v1")
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (400, "1161".into()));
        // A token without the merchant_vat claim needs the VAT header.
        let plain: Value = c.token(None).await.json().await.unwrap();
        let plain = plain["access_token"].as_str().unwrap();
        let r = c
            .api(get.clone(), "/pos/v10/pointofsales?merchantPosId=x", plain)
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (400, "1151".into()));
        let r = c
            .api(get.clone(), "/pos/v10/pointofsales?merchantPosId=x", plain)
            .header(VAT_HEADER, "FI87654321")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Wrong and made-up tokens get 401, not a crash.
        let r = c
            .api(get, "/pos/v10/pointofsales", "made-up")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let live = c.sb.core.journal.live();
        assert_eq!(
            live.last()
                .unwrap()
                .facts
                .token_used
                .as_ref()
                .unwrap()
                .state,
            TokenState::Unknown
        );
    }

    #[tokio::test]
    async fn a_payment_goes_through_the_states_and_keys_are_idempotent() {
        let c = Client::start().await;
        let t = c.bearer().await;
        let post = reqwest::Method::POST;
        let pos_body = json!({"merchantPosId": "till-1", "storeId": "store-1", "name": "Till 1"});
        let r = c
            .api(post.clone(), "/pos/v10/pointofsales", &t)
            .json(&pos_body)
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (400, "1164".into()));
        let r = c
            .api(post.clone(), "/pos/v10/pointofsales", &t)
            .header(IDEMPOTENCY_HEADER, "k1")
            .json(&pos_body)
            .send()
            .await
            .unwrap();
        let pos: Value = r.json().await.unwrap();
        let again: Value = c
            .api(post.clone(), "/pos/v10/pointofsales", &t)
            .header(IDEMPOTENCY_HEADER, "k1")
            .json(&pos_body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(pos, again, "a repeat with the same key replays the answer");
        let pos_id = pos["posId"].as_str().unwrap();
        let pay = json!({"posId": pos_id, "orderId": "o-1", "amount": 12.5, "currencyCode": "DKK", "plannedCaptureDelay": "None"});
        let r = c
            .api(post.clone(), "/pos/v10/payments", &t)
            .header(IDEMPOTENCY_HEADER, "k1")
            .json(&pay)
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (409, "1306".into()));
        let started: Value = c
            .api(post.clone(), "/pos/v10/payments", &t)
            .header(IDEMPOTENCY_HEADER, "k2")
            .json(&pay)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = started["paymentId"].as_str().unwrap();
        assert!(started["pollDelayInMs"].as_u64().unwrap() > 0);
        // A second payment on the same PoS: already active.
        let r = c
            .api(post.clone(), "/pos/v10/payments", &t)
            .header(IDEMPOTENCY_HEADER, "k3")
            .json(&pay)
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (409, "1301".into()));
        let found: Value = c
            .api(
                reqwest::Method::GET,
                &format!("/pos/v10/payments?posId={pos_id}&orderId=o-1"),
                &t,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(found["paymentIds"], json!([id]));
        let r = c
            .api(post.clone(), &format!("/pos/v10/payments/{id}/capture"), &t)
            .json(&json!({"amount": 12.5}))
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (409, "1304".into()));
        // The customer approves; the sandbox shows IssuedToUser, then Reserved.
        c.sb.profile
            .configure(json!({"poll_delay_ms": 1}).as_object().unwrap())
            .unwrap();
        let r = c
            .http
            .post(format!("{}/golive/app/{id}/approve", c.sb.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let polled: Value = c
            .api(reqwest::Method::GET, &format!("/pos/v10/payments/{id}"), &t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(polled["status"], "Reserved");
        let r = c
            .api(post.clone(), &format!("/pos/v10/payments/{id}/capture"), &t)
            .json(&json!({"amount": 13}))
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (409, "1305".into()));
        let r = c
            .api(post.clone(), &format!("/pos/v10/payments/{id}/capture"), &t)
            .json(&json!({"amount": 12.5}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = c
            .api(post, &format!("/pos/v10/payments/{id}/cancel"), &t)
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (409, "1303".into()));
    }

    /// A point of sale and a payment of 100 DKK the customer approved and the till captured.
    async fn captured_payment(c: &Client, t: &str) -> String {
        c.sb.profile
            .configure(json!({"poll_delay_ms": 1}).as_object().unwrap())
            .unwrap();
        let post = reqwest::Method::POST;
        let pos: Value = c
            .api(post.clone(), "/pos/v10/pointofsales", t)
            .header(IDEMPOTENCY_HEADER, "pos")
            .json(&json!({"merchantPosId": "till-r", "storeId": "store-1", "name": "Till"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pay = json!({"posId": pos["posId"], "orderId": "o-r", "amount": 100.0, "currencyCode": "DKK", "plannedCaptureDelay": "None"});
        let started: Value = c
            .api(post.clone(), "/pos/v10/payments", t)
            .header(IDEMPOTENCY_HEADER, "pay")
            .json(&pay)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = started["paymentId"].as_str().unwrap().to_owned();
        c.http
            .post(format!("{}/golive/app/{id}/approve", c.sb.base_url()))
            .send()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let polled: Value = c
            .api(reqwest::Method::GET, &format!("/pos/v10/payments/{id}"), t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(polled["status"], "Reserved");
        let r = c
            .api(post, &format!("/pos/v10/payments/{id}/capture"), t)
            .json(&json!({"amount": 100.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        id
    }

    /// A reserved refund of `amount` of a captured payment.
    async fn reserved_refund(c: &Client, t: &str, payment_id: &str, n: u32) -> String {
        let refund: Value = c
            .api(reqwest::Method::POST, "/pos/v10/refunds", t)
            .header(IDEMPOTENCY_HEADER, format!("refund-{n}"))
            .json(&json!({"paymentId": payment_id, "refundOrderId": format!("r-{n}"), "amount": 20.0, "currencyCode": "DKK"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = refund["refundId"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let polled: Value = c
            .api(reqwest::Method::GET, &format!("/pos/v10/refunds/{id}"), t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(polled["status"], "Reserved");
        id
    }

    #[tokio::test]
    async fn a_refund_capture_needs_no_body() {
        let c = Client::start().await;
        let t = c.bearer().await;
        let payment = captured_payment(&c, &t).await;
        let post = reqwest::Method::POST;
        // No body at all, and a body without an amount: the whole refund is captured.
        let empty = reserved_refund(&c, &t, &payment, 1).await;
        let r = c
            .api(
                post.clone(),
                &format!("/pos/v10/refunds/{empty}/capture"),
                &t,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let no_amount = reserved_refund(&c, &t, &payment, 2).await;
        let r = c
            .api(
                post.clone(),
                &format!("/pos/v10/refunds/{no_amount}/capture"),
                &t,
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        // An amount is still held to the refund, and garbage is still refused.
        let too_much = reserved_refund(&c, &t, &payment, 3).await;
        let r = c
            .api(
                post.clone(),
                &format!("/pos/v10/refunds/{too_much}/capture"),
                &t,
            )
            .json(&json!({"amount": 25.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (409, "1305".into()));
        let r = c
            .api(post, &format!("/pos/v10/refunds/{too_much}/capture"), &t)
            .body("{nope")
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (400, "1099".into()));
        let live = c.sb.core.journal.live();
        let captures: Vec<_> = live
            .iter()
            .filter(|e| e.operation() == Some(OP_REFUND_CAPTURE))
            .collect();
        assert_eq!(captures.len(), 4);
        assert!(captures[..2]
            .iter()
            .all(|e| e.facts.schema_errors.is_empty()));
    }

    #[tokio::test]
    async fn garbage_and_unknown_payments_get_the_api_error() {
        let c = Client::start().await;
        let t = c.bearer().await;
        let r = c
            .api(reqwest::Method::POST, "/pos/v10/payments", &t)
            .header(IDEMPOTENCY_HEADER, "k")
            .body("{nope")
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (400, "1099".into()));
        let r = c
            .api(reqwest::Method::GET, "/pos/v10/payments/nope", &t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let big = vec![b'a'; crate::sandbox::MAX_REQUEST_BODY + 10];
        let r = c
            .api(reqwest::Method::POST, "/pos/v10/payments", &t)
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
    }

    #[tokio::test]
    async fn injected_faults_answer_like_mobilepay() {
        let c = Client::start().await;
        let t = c.bearer().await;
        c.sb.core
            .faults
            .add(serde_json::from_value(json!({"operation": "pos_lookup", "times": 1})).unwrap());
        let r = c
            .api(
                reqwest::Method::GET,
                "/pos/v10/pointofsales?merchantPosId=x",
                &t,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (500, "2000".into()));
        assert_eq!(
            c.sb.core
                .journal
                .live()
                .last()
                .unwrap()
                .facts
                .injected
                .as_deref(),
            Some("500/2000")
        );
    }

    #[test]
    fn the_correlation_table_reads() {
        crate::sandbox::operation::check_table(OPERATIONS).unwrap();
    }
}
