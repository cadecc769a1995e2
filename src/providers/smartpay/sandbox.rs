//! SmartPay's simulated API (the operations the sandbox answers) and its actors (the steps
//! golive plays as the shopper or as SmartPay). What the provider is: the folder's `mod.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::driver::{step_as, Act, Actors};
use crate::driver::{Outgoing, StepContext};
use crate::journal::{fingerprint, Actor, Facts, IssuedToken, TokenState, TokenUse};
use crate::providers::{Opened, Provider, StepKind};
use crate::sandbox::request_schema::{query_object, OperationSchemas};
use crate::sandbox::tokens::TokenBook;
use crate::sandbox::{
    lock, Auth, BoxFuture, Caller, FactsExt, Operation, ProviderSandbox, SandboxCore,
};
use crate::suite::ParsedStep;

pub const ID: &str = "smartpay";

pub const OP_OAUTH_TOKEN: &str = "oauth_token";
pub const OP_CREATE_CHECKOUT: &str = "create_checkout";
pub const OP_PAYMENT_STATUS: &str = "payment_status";
pub const OP_CAPTURE: &str = "capture";
pub const OP_REFUND: &str = "refund";
pub const OP_CANCEL: &str = "cancel";
pub const OP_WIDGET_SESSION: &str = "widget_session";
pub const OP_WIDGET_PAY: &str = "widget_pay";

/// The trigger through which the shop's page tells its server what the widget reported.
pub const FINISHED_TRIGGER: &str = "payment_finished";

/// Statuses SmartPay documents as "not completed synchronously".
pub const PENDING_STATUSES: &[&str] = &["AUTHORIZATION_PENDING", "CAPTURE_PENDING"];

/// Every status a scenario may script (the documented ones, `AUTORIZATION_INITIALIZED` with
/// SmartPay's spelling, plus the inferred failure states).
const KNOWN_STATUSES: &[&str] = &[
    "CREATED",
    "AUTORIZATION_INITIALIZED",
    "AUTHORIZATION_PENDING",
    "AUTHORIZATION_COMPLETED",
    "CAPTURE_PENDING",
    "CAPTURED",
    "SETTLED",
    "FAILED",
    "CANCELLED",
];

pub struct SmartPay;

/// SmartPay's API as data. Where the shop's ids travel: its order id is the checkout's
/// partnerReference; the payment id is the transactionId the checkout answers with.
pub const OPERATIONS: &[Operation] = &[
    Operation::new(
        OP_OAUTH_TOKEN,
        Caller::Integration,
        "POST",
        "/oauth2/token",
        "the OAuth 2.0 token (client credentials)",
    )
    .with_auth(Auth::Credentials(
        "client_id and client_secret, in the form or a Basic header",
    ))
    .with_schema(include_str!(
        "../../../schemas/smartpay/oauth_token.form.json"
    )),
    Operation::new(
        OP_CREATE_CHECKOUT,
        Caller::Integration,
        "POST",
        "/payment/creation",
        "Create checkout (Payment Creation)",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH))
    .with_schema(include_str!(
        "../../../schemas/smartpay/create_checkout.request.json"
    ))
    .with_order_reference(&["body:/partnerReference"])
    .with_payment_id(&["answer:/transactionId"]),
    Operation::new(
        OP_PAYMENT_STATUS,
        Caller::Integration,
        "GET",
        "/payment/status/{transaction_id}",
        "Get Payment Status",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH)),
    Operation::new(
        OP_CAPTURE,
        Caller::Integration,
        "POST",
        "/payment/{transaction_id}/capture",
        "Capture",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH))
    .with_schema(include_str!(
        "../../../schemas/smartpay/modification.request.json"
    )),
    Operation::new(
        OP_REFUND,
        Caller::Integration,
        "POST",
        "/payment/{transaction_id}/refund",
        "Refund",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH))
    .with_schema(include_str!(
        "../../../schemas/smartpay/modification.request.json"
    )),
    Operation::new(
        OP_CANCEL,
        Caller::Integration,
        "POST",
        "/payment/{transaction_id}/cancel",
        "Cancel",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH))
    .with_schema(include_str!(
        "../../../schemas/smartpay/modification.request.json"
    )),
    Operation::new(
        OP_WIDGET_SESSION,
        Caller::Shopper,
        "GET",
        "/widget/session",
        "the hosted widget, opened with the checkout token",
    )
    .with_note(WIDGET_INFERRED),
    Operation::new(
        OP_WIDGET_PAY,
        Caller::Shopper,
        "POST",
        "/widget/pay",
        "the shopper pays in the hosted widget",
    )
    .with_note(WIDGET_INFERRED),
];

/// How SmartPay's API calls authenticate.
const SMARTPAY_AUTH: &str = "Authorization: Bearer, or Basic merchantKey:authenticationKey";
const WIDGET_INFERRED: &str =
    "inferred: the widget is a script in the shop's page; golive plays it as two calls";

impl Provider for SmartPay {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "SmartPay (J.P. Morgan Mobility Payments hosted widget)"
    }

    fn open(&self, core: Arc<SandboxCore>) -> Opened {
        Opened::of(Arc::new(SmartPaySandbox::new(core)))
    }

    fn reference(&self) -> &'static crate::reference::Reference {
        &super::reference::REFERENCE
    }

    fn suite(&self) -> crate::providers::BundledSuite {
        crate::providers::BundledSuite {
            file: "suites/smartpay-go-live.yaml",
            text: include_str!("../../../suites/smartpay-go-live.yaml"),
        }
    }

    fn parse_step(&self, kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
        match kind {
            StepKind::Shopper => parse_shopper(params).map(|s| Arc::new(s) as ParsedStep),
            StepKind::Sandbox => {
                let s: SandboxSettings = serde_json::from_value(params.clone()).map_err(|e| e.to_string())?;
                s.check()?;
                Ok(Arc::new(s))
            }
            StepKind::Provider => Err("SmartPay does not call the shop on its own; the widget reports to the shopper's page (`shopper:` steps)".into()),
        }
    }

    fn operations(&self) -> &'static [Operation] {
        OPERATIONS
    }

    fn credential_names(&self) -> &'static [&'static str] {
        &[
            "merchant_key",
            "authentication_key",
            "client_id",
            "client_secret",
        ]
    }

    /// Every shopper step ends with the page telling the shop's server (`tell_shop`).
    fn step_needs(&self, kind: StepKind, _params: &Value) -> crate::providers::StepNeeds {
        match kind {
            StepKind::Shopper => crate::providers::StepNeeds {
                triggers: vec![(FINISHED_TRIGGER, &["transaction_id", "widget_result"])],
                webhooks: vec![],
            },
            _ => crate::providers::StepNeeds::default(),
        }
    }
}

/// `shopper:` steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum ShopperStep {
    /// The widget takes the payment (`success`) or fails it (`error`) and its callback fires;
    /// the page tells the shop's server through the `payment_finished` trigger.
    Widget(String),
    /// The page tells the shop's server of a success the widget never reported.
    ForgeSuccess(ForgeSuccess),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgeSuccess {
    /// `unknown` (a transactionId SmartPay never issued) or `other` (a real, paid payment of
    /// an earlier scenario: another order's).
    #[serde(default = "unknown")]
    transaction_id: String,
}

fn unknown() -> String {
    "unknown".into()
}

fn parse_shopper(params: &Value) -> Result<ShopperStep, String> {
    let step: ShopperStep = serde_json::from_value(params.clone())
        .map_err(|e| format!("{e}; expected `widget: success|error` or `forge_success: {{transaction_id: unknown|other}}`"))?;
    match &step {
        ShopperStep::Widget(r) if r != "success" && r != "error" => {
            Err(format!("`widget: {r}`: expected `success` or `error`"))
        }
        ShopperStep::ForgeSuccess(f)
            if f.transaction_id != "unknown" && f.transaction_id != "other" =>
        {
            Err(format!(
                "`forge_success.transaction_id: {}`: expected `unknown` or `other`",
                f.transaction_id
            ))
        }
        _ => Ok(step),
    }
}

/// Profile keys of `sandbox:` steps (besides the generic `token_lifetime_s` and `inject`).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct SandboxSettings {
    /// What Get Payment Status reports for payments the widget completes from now on: each
    /// query advances one step, the last one repeats (default `[CAPTURED]`).
    #[serde(default)]
    status_sequence: Option<Vec<String>>,
}

impl SandboxSettings {
    fn check(&self) -> Result<(), String> {
        if let Some(seq) = &self.status_sequence {
            if seq.is_empty() {
                return Err("`status_sequence` needs at least one status".into());
            }
            if let Some(bad) = seq.iter().find(|s| !KNOWN_STATUSES.contains(&s.as_str())) {
                return Err(format!(
                    "`status_sequence`: unknown status `{bad}`; expected one of: {}",
                    KNOWN_STATUSES.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Modification {
    kind: &'static str,
    /// The answer given the first time, repeated for the same modificationId.
    status: u16,
    body: Value,
}

#[derive(Debug, Clone)]
struct Transaction {
    id: String,
    checkout_token: String,
    amount: f64,
    currency: String,
    description: String,
    reconciliation: String,
    created: String,
    /// None until the widget finished; then whether it succeeded.
    widget_success: Option<bool>,
    sequence: Vec<String>,
    queries: usize,
    /// A status set by a modification (CAPTURED after a capture).
    overridden: Option<String>,
    modifications: Vec<(String, Modification)>,
}

impl Transaction {
    /// What the next status query reports (without advancing).
    fn next_status(&self) -> String {
        match self.widget_success {
            None => "CREATED".into(),
            Some(false) => "FAILED".into(),
            Some(true) => self.overridden.clone().unwrap_or_else(|| {
                let i = self.queries.min(self.sequence.len().saturating_sub(1));
                self.sequence
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "CAPTURED".into())
            }),
        }
    }

    /// The status the merchant last saw (what a modification is judged against).
    fn current_status(&self) -> String {
        match self.widget_success {
            Some(true) if self.overridden.is_none() => {
                let i = self
                    .queries
                    .saturating_sub(1)
                    .min(self.sequence.len().saturating_sub(1));
                self.sequence
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "CAPTURED".into())
            }
            _ => self.next_status(),
        }
    }

    fn refunded(&self) -> f64 {
        self.modifications
            .iter()
            .filter(|(_, m)| m.kind == "REFUND" && (200..300).contains(&m.status))
            .filter_map(|(_, m)| m.body["amount"].as_f64())
            .sum()
    }
}

impl State_ {
    /// A real, captured payment of another order, to forge a success with: the latest one
    /// Get Payment Status reports CAPTURED (or SETTLED), not a payment still PENDING or
    /// failed, which a shop would refuse whether or not it checks whose payment it is.
    /// One for the same amount as this scenario's checkout comes first, so only checking the
    /// transaction's order catches it.
    fn captured_of_another_order(&self) -> Option<String> {
        let amount = self
            .scenario_checkouts
            .last()
            .and_then(|id| self.transactions.get(id))
            .map(|t| t.amount);
        let captured: Vec<&Transaction> = self
            .paid
            .iter()
            .rev()
            .filter(|id| !self.scenario_checkouts.contains(id))
            .filter_map(|id| self.transactions.get(id))
            .filter(|t| matches!(t.next_status().as_str(), "CAPTURED" | "SETTLED"))
            .collect();
        captured
            .iter()
            .find(|t| Some(t.amount) == amount)
            .or(captured.first())
            .map(|t| t.id.clone())
    }
}

struct State_ {
    /// Bearer tokens issued: value → expiry (run clock, ms).
    tokens: TokenBook<()>,
    transactions: HashMap<String, Transaction>,
    /// Checkouts created in the running scenario, in order.
    scenario_checkouts: Vec<String>,
    sequence: Vec<String>,
    /// The payments the widget completed, across scenarios, oldest first (for
    /// `forge_success: other`).
    paid: Vec<String>,
}

pub struct SmartPaySandbox {
    core: Arc<SandboxCore>,
    merchant_key: String,
    authentication_key: String,
    client_id: String,
    client_secret: String,
    schemas: OperationSchemas,
    state: Mutex<State_>,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT-shaped access token, as SmartPay's OAuth provider (Amazon Cognito) issues.
fn jwt(client_id: &str, lifetime_s: f64) -> String {
    let header = b64url(br#"{"kid":"golive-sandbox","alg":"RS256"}"#);
    let payload = b64url(
        json!({"client_id": client_id, "token_use": "access", "scope": "smartpay/api", "exp_in": lifetime_s, "jti": uuid::Uuid::new_v4().to_string()})
            .to_string()
            .as_bytes(),
    );
    format!("{header}.{payload}.{}", crate::sandbox::random_text(86))
}

fn jwt_shaped(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl SmartPaySandbox {
    fn new(core: Arc<SandboxCore>) -> Self {
        SmartPaySandbox {
            core,
            merchant_key: uuid::Uuid::new_v4().to_string(),
            authentication_key: format!("sbx-auth-{}", crate::sandbox::random_text(24)),
            client_id: crate::sandbox::random_text(26).to_ascii_lowercase(),
            client_secret: format!("sbx-secret-{}", crate::sandbox::random_text(32)),
            schemas: OperationSchemas::of(OPERATIONS),
            state: Mutex::new(State_ {
                tokens: TokenBook::new(),
                transactions: HashMap::new(),
                scenario_checkouts: Vec::new(),
                sequence: vec!["CAPTURED".into()],
                paid: Vec::new(),
            }),
        }
    }

    /// The error envelope (inferred: SmartPay's public pages show no error body).
    fn error(&self, status: StatusCode, code: &str, message: &str, details: &[String]) -> Response {
        let mut body = json!({
            "status": status.as_u16(),
            "errorCode": code,
            "message": message,
            "requestTime": crate::sandbox::now_rfc3339(),
        });
        if !details.is_empty() {
            body["details"] = json!(details);
        }
        (status, Json(body)).into_response()
    }

    /// Checks the Authorization header (Basic or Bearer) and the optional X-Access-Token.
    // The error is the answer itself, sent at once; boxing it would only add noise.
    #[allow(clippy::result_large_err)]
    fn authenticate(&self, headers: &HeaderMap, facts: &mut Facts) -> Result<(), Response> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let (scheme, credential) = match auth.and_then(|a| a.split_once(' ')) {
            Some((s, c)) => (s.to_ascii_lowercase(), c.trim().to_owned()),
            None => (auth.unwrap_or("").to_ascii_lowercase(), String::new()),
        };
        let now = self.core.now_ms();
        let (state, remaining) = match scheme.as_str() {
            "" => (TokenState::Missing, None),
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(credential.as_bytes())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                let want = format!("{}:{}", self.merchant_key, self.authentication_key);
                if decoded.as_deref() == Some(want.as_str()) {
                    (TokenState::Valid, None)
                } else {
                    (TokenState::Unknown, None)
                }
            }
            "bearer" => match lock(&self.state).tokens.get(&credential) {
                None => (TokenState::Unknown, None),
                Some(known) => {
                    let remaining = (known.expires_ms - now) / 1000.0;
                    (
                        if remaining > 0.0 {
                            TokenState::Valid
                        } else {
                            TokenState::Expired
                        },
                        Some(remaining),
                    )
                }
            },
            _ => (TokenState::Unknown, None),
        };
        if !scheme.is_empty() {
            facts.notes.insert("auth_scheme".into(), json!(scheme));
        }
        facts.token_used = Some(TokenUse {
            fingerprint: (!credential.is_empty()).then(|| fingerprint(&credential)),
            state,
            remaining_s: remaining,
        });
        match state {
            TokenState::Valid => {}
            TokenState::Missing => {
                return Err(self.error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "The Authorization header is missing: use Basic (merchantKey:authenticationKey) or a Bearer token.", &[]))
            }
            TokenState::Expired => return Err(self.error(StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED", "The access token has expired.", &[])),
            TokenState::Unknown => return Err(self.error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "The credentials in the Authorization header are not valid.", &[])),
        }
        if let Some(idkit) = headers.get("x-access-token") {
            let v = String::from_utf8_lossy(idkit.as_bytes()).into_owned();
            let problem = if v.chars().count() > 512 {
                Some(format!(
                    "header X-Access-Token: {} characters (at most 512)",
                    v.chars().count()
                ))
            } else if !jwt_shaped(&v) {
                Some(
                    "header X-Access-Token: not a JWT (three base64url parts separated by dots)"
                        .to_string(),
                )
            } else {
                None
            };
            if let Some(p) = problem {
                facts.schema_errors.push(p.clone());
                return Err(self.error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "The X-Access-Token header is not a valid Identity Kit token.",
                    &[p],
                ));
            }
        }
        Ok(())
    }

    /// A fault the scenario injected for this operation, as SmartPay would answer it.
    async fn injected(&self, operation: &str, facts: &mut Facts) -> Option<Response> {
        let fault = self.core.faults.take(operation)?;
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        facts.injected = Some(fault.label("INTERNAL_ERROR"));
        if fault.then_succeed {
            return None;
        }
        let code = fault
            .code
            .clone()
            .unwrap_or_else(|| "INTERNAL_ERROR".into());
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Some(self.error(
            status,
            &code,
            "An unexpected error occurred; please retry.",
            &[],
        ))
    }

    #[allow(clippy::result_large_err)]
    fn parse_json(&self, body: &[u8], facts: &mut Facts) -> Result<Value, Response> {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) if v.is_object() => Ok(v),
            _ => {
                facts.schema_errors = vec!["body: not a JSON object".into()];
                Err(self.error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "The request body is not a JSON object.",
                    &[],
                ))
            }
        }
    }
}

/// Adds `unrecognizedFields` to an answer's JSON object when the request had any.
fn with_unrecognized(mut body: Value, unrecognized: &[String]) -> Value {
    if !unrecognized.is_empty() {
        body["unrecognizedFields"] = json!(unrecognized);
    }
    body
}

async fn oauth_token(State(sb): State<Arc<SmartPaySandbox>>, body: axum::body::Bytes) -> Response {
    let mut facts = Facts {
        operation: Some(OP_OAUTH_TOKEN.into()),
        ..Facts::default()
    };
    let text = String::from_utf8_lossy(&body);
    let fields = query_object(Some(&text));
    let findings = sb.schemas.check(OP_OAUTH_TOKEN, &fields);
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
    if let Some(r) = sb.injected(OP_OAUTH_TOKEN, &mut facts).await {
        return r.facts(facts);
    }
    // OAuth 2.0 errors (RFC 6749 §5.2), as the token endpoint answers them.
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    if fields.get("grant_type").and_then(Value::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        )
        .facts(facts);
    }
    let id = fields.get("client_id").and_then(Value::as_str);
    let secret = fields.get("client_secret").and_then(Value::as_str);
    if id != Some(sb.client_id.as_str()) || secret != Some(sb.client_secret.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Client authentication failed",
        )
        .facts(facts);
    }
    let lifetime = sb.core.token_lifetime_s();
    let token = jwt(&sb.client_id, lifetime);
    let now = sb.core.now_ms();
    let expires = now + lifetime * 1000.0;
    lock(&sb.state)
        .tokens
        .issue(token.clone(), expires, (), now);
    facts.token_issued = Some(IssuedToken {
        fingerprint: fingerprint(&token),
        lifetime_s: lifetime,
        expires_at_ms: expires,
    });
    Json(json!({"access_token": token, "expires_in": lifetime.round() as u64, "token_type": "Bearer"})).facts(facts)
}

async fn create_checkout(
    State(sb): State<Arc<SmartPaySandbox>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_CREATE_CHECKOUT.into()),
        ..Facts::default()
    };
    let json = match sb.parse_json(&body, &mut facts) {
        Ok(j) => j,
        Err(r) => {
            let _ = sb.authenticate(&headers, &mut facts);
            return r.facts(facts);
        }
    };
    let findings = sb.schemas.check(OP_CREATE_CHECKOUT, &json);
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
    if let Some(pr) = json.get("partnerReference").and_then(Value::as_str) {
        facts.notes.insert("partner_reference".into(), json!(pr));
    }
    if let Err(r) = sb.authenticate(&headers, &mut facts) {
        return r.facts(facts);
    }
    if let Some(r) = sb.injected(OP_CREATE_CHECKOUT, &mut facts).await {
        return r.facts(facts);
    }
    if !findings.errors.is_empty() {
        return sb
            .error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "The request is incomplete or badly formatted.",
                &findings.errors,
            )
            .facts(facts);
    }
    if json.get("merchantKey").and_then(Value::as_str) != Some(sb.merchant_key.as_str()) {
        return sb
            .error(
                StatusCode::FORBIDDEN,
                "INVALID_MERCHANT",
                "The merchantKey is not this merchant's.",
                &[],
            )
            .facts(facts);
    }
    let payment = &json["payment"];
    let tx = Transaction {
        id: uuid::Uuid::new_v4().to_string(),
        // "512 bits checkout token": 86 base62 characters carry a little more.
        checkout_token: crate::sandbox::random_text(86),
        amount: payment["amount"].as_f64().unwrap_or(0.0),
        currency: payment["currencyCode"].as_str().unwrap_or("").to_owned(),
        description: payment["description"].as_str().unwrap_or("").to_owned(),
        reconciliation: crate::sandbox::random_text(21),
        created: crate::sandbox::now_rfc3339(),
        widget_success: None,
        sequence: Vec::new(),
        queries: 0,
        overridden: None,
        modifications: Vec::new(),
    };
    facts.payment = Some(tx.id.clone());
    facts.payment_state = Some("CREATED".into());
    facts.notes.insert(
        "checkout_token".into(),
        json!(fingerprint(&tx.checkout_token)),
    );
    let answer = json!({
        "transactionId": tx.id,
        "checkoutToken": tx.checkout_token,
        "paymentStatus": "CREATED",
        "requestTime": crate::sandbox::now_rfc3339(),
    });
    {
        let mut st = lock(&sb.state);
        st.scenario_checkouts.push(tx.id.clone());
        st.transactions.insert(tx.id.clone(), tx);
    }
    Json(with_unrecognized(answer, &findings.unrecognized)).facts(facts)
}

async fn payment_status(
    State(sb): State<Arc<SmartPaySandbox>>,
    Path(transaction_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_PAYMENT_STATUS.into()),
        payment: Some(transaction_id.clone()),
        ..Facts::default()
    };
    if let Err(r) = sb.authenticate(&headers, &mut facts) {
        return r.facts(facts);
    }
    if let Some(r) = sb.injected(OP_PAYMENT_STATUS, &mut facts).await {
        return r.facts(facts);
    }
    let found = {
        let mut st = lock(&sb.state);
        st.transactions.get_mut(&transaction_id).map(|t| {
            let status = t.next_status();
            if t.widget_success == Some(true) {
                t.queries += 1;
            }
            (t.clone(), status)
        })
    };
    let Some((t, status)) = found else {
        return sb
            .error(
                StatusCode::NOT_FOUND,
                "TRANSACTION_NOT_FOUND",
                "No transaction with this transactionId.",
                &[],
            )
            .facts(facts);
    };
    facts.payment_state = Some(status.clone());
    let modifications: Vec<Value> = t
        .modifications
        .iter()
        .map(|(id, m)| json!({"modificationId": id, "type": m.kind, "amount": m.body["amount"], "status": m.body["status"]}))
        .collect();
    Json(json!({
        "transactionId": t.id,
        "reconciliationReferenceId": t.reconciliation,
        "description": t.description,
        "paymentStatus": status,
        "creationDate": t.created,
        "transactionOverview": {
            "amount": t.amount,
            "currencyCode": t.currency,
            "mit": false,
            "transactionId": t.id,
            "paymentMethod": "CARDS",
        },
        "modifications": modifications,
    }))
    .facts(facts)
}

async fn modify(
    sb: Arc<SmartPaySandbox>,
    op: &'static str,
    transaction_id: String,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut facts = Facts {
        operation: Some(op.into()),
        payment: Some(transaction_id.clone()),
        ..Facts::default()
    };
    let json = match sb.parse_json(&body, &mut facts) {
        Ok(j) => j,
        Err(r) => {
            let _ = sb.authenticate(&headers, &mut facts);
            return r.facts(facts);
        }
    };
    let findings = sb.schemas.check(op, &json);
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
    let modification_id = json
        .get("modificationId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(id) = &modification_id {
        facts.notes.insert("modification_id".into(), json!(id));
    }
    if let Err(r) = sb.authenticate(&headers, &mut facts) {
        return r.facts(facts);
    }
    if let Some(r) = sb.injected(op, &mut facts).await {
        return r.facts(facts);
    }
    let Some(modification_id) = modification_id.filter(|_| findings.errors.is_empty()) else {
        return sb
            .error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "The request is incomplete or badly formatted.",
                &findings.errors,
            )
            .facts(facts);
    };
    let kind: &'static str = match op {
        OP_CAPTURE => "CAPTURE",
        OP_REFUND => "REFUND",
        _ => "CANCEL",
    };
    let mut st = lock(&sb.state);
    let Some(t) = st.transactions.get_mut(&transaction_id) else {
        drop(st);
        return sb
            .error(
                StatusCode::NOT_FOUND,
                "TRANSACTION_NOT_FOUND",
                "No transaction with this transactionId.",
                &[],
            )
            .facts(facts);
    };
    // Idempotent on repeat: the same modificationId gets the answer it got the first time.
    if let Some((_, m)) = t
        .modifications
        .iter()
        .find(|(id, _)| *id == modification_id)
    {
        let m = m.clone();
        drop(st);
        facts.notes.insert("repeated".into(), json!(true));
        if m.kind != kind {
            return sb
                .error(StatusCode::CONFLICT, "DUPLICATE_MODIFICATION_ID", &format!("modificationId {modification_id} was already used for a {} of this transaction.", m.kind), &[])
                .facts(facts);
        }
        facts.payment_state = m.body["paymentStatus"].as_str().map(str::to_owned);
        let status = StatusCode::from_u16(m.status).unwrap_or(StatusCode::OK);
        return (status, Json(m.body)).facts(facts);
    }
    let current = t.current_status();
    let amount = json.get("amount").and_then(Value::as_f64);
    let refundable = t.amount - t.refunded();
    let refusal = match kind {
        "CAPTURE" | "CANCEL" if current != "AUTHORIZATION_COMPLETED" => Some(format!(
            "the payment is {current}; a {kind} needs AUTHORIZATION_COMPLETED"
        )),
        "REFUND" if current != "CAPTURED" && current != "SETTLED" => Some(format!(
            "the payment is {current}; a REFUND needs CAPTURED or SETTLED"
        )),
        "REFUND" if amount.unwrap_or(refundable) > refundable + 1e-9 => Some(format!(
            "the refund of {} exceeds the {refundable} left to refund",
            amount.unwrap_or(refundable)
        )),
        "CAPTURE" if amount.unwrap_or(t.amount) > t.amount + 1e-9 => Some(format!(
            "the capture of {} exceeds the authorised {}",
            amount.unwrap_or(t.amount),
            t.amount
        )),
        _ => None,
    };
    let (status, body) = match refusal {
        Some(why) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"status": 422, "errorCode": "MODIFICATION_NOT_ALLOWED", "message": why, "requestTime": crate::sandbox::now_rfc3339()}),
        ),
        None => {
            let new_status = match kind {
                "CAPTURE" => "CAPTURED".to_string(),
                "CANCEL" => "CANCELLED".to_string(),
                _ => current.clone(),
            };
            if kind != "REFUND" {
                t.overridden = Some(new_status.clone());
            }
            let amount = amount.unwrap_or(if kind == "REFUND" {
                refundable
            } else {
                t.amount
            });
            (
                StatusCode::OK,
                json!({
                    "transactionId": t.id,
                    "modificationId": modification_id,
                    "type": kind,
                    "amount": amount,
                    "currencyCode": t.currency,
                    "status": "SUCCESS",
                    "paymentStatus": new_status,
                    "requestTime": crate::sandbox::now_rfc3339(),
                }),
            )
        }
    };
    t.modifications.push((
        modification_id,
        Modification {
            kind,
            status: status.as_u16(),
            body: body.clone(),
        },
    ));
    drop(st);
    facts.payment_state = body["paymentStatus"].as_str().map(str::to_owned);
    (
        status,
        Json(with_unrecognized(body, &findings.unrecognized)),
    )
        .facts(facts)
}

async fn capture(
    State(sb): State<Arc<SmartPaySandbox>>,
    Path(tx): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    modify(sb, OP_CAPTURE, tx, headers, body).await
}
async fn refund(
    State(sb): State<Arc<SmartPaySandbox>>,
    Path(tx): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    modify(sb, OP_REFUND, tx, headers, body).await
}
async fn cancel(
    State(sb): State<Arc<SmartPaySandbox>>,
    Path(tx): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    modify(sb, OP_CANCEL, tx, headers, body).await
}

/// The widget starts in the shopper's browser with the checkout token the page gave it.
async fn widget_session(
    State(sb): State<Arc<SmartPaySandbox>>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_WIDGET_SESSION.into()),
        ..Facts::default()
    };
    let q = query_object(query.as_deref());
    let token = q.get("checkoutToken").and_then(Value::as_str).unwrap_or("");
    let st = lock(&sb.state);
    let Some(t) = st
        .transactions
        .values()
        .find(|t| !token.is_empty() && t.checkout_token == token)
    else {
        drop(st);
        return sb
            .error(
                StatusCode::NOT_FOUND,
                "INVALID_CHECKOUT_TOKEN",
                "The widget was given no checkout token SmartPay issued.",
                &[],
            )
            .facts(facts);
    };
    facts.payment = Some(t.id.clone());
    let answer = json!({
        "transactionId": t.id,
        "amount": t.amount,
        "currencyCode": t.currency,
        "description": t.description,
        "paymentMethods": ["CARDS"],
    });
    drop(st);
    Json(answer).facts(facts)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WidgetPay {
    checkout_token: String,
    result: String,
}

/// The shopper submits the widget; SmartPay processes the payment and the widget's
/// successHandler or errorHandler fires with the transactionId.
async fn widget_pay(State(sb): State<Arc<SmartPaySandbox>>, body: axum::body::Bytes) -> Response {
    let mut facts = Facts {
        operation: Some(OP_WIDGET_PAY.into()),
        ..Facts::default()
    };
    let Ok(pay) = serde_json::from_slice::<WidgetPay>(&body) else {
        return sb
            .error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "Expected {checkoutToken, result}.",
                &[],
            )
            .facts(facts);
    };
    let mut st = lock(&sb.state);
    let sequence = st.sequence.clone();
    let Some(t) = st
        .transactions
        .values_mut()
        .find(|t| t.checkout_token == pay.checkout_token)
    else {
        drop(st);
        return sb
            .error(
                StatusCode::NOT_FOUND,
                "INVALID_CHECKOUT_TOKEN",
                "Unknown checkout token.",
                &[],
            )
            .facts(facts);
    };
    if t.widget_success.is_some() {
        drop(st);
        return sb
            .error(
                StatusCode::CONFLICT,
                "CHECKOUT_COMPLETED",
                "This checkout was already paid or failed.",
                &[],
            )
            .facts(facts);
    }
    let success = pay.result == "success";
    t.widget_success = Some(success);
    t.sequence = sequence;
    let id = t.id.clone();
    if success {
        st.paid.push(id.clone());
    }
    drop(st);
    facts.payment = Some(id.clone());
    facts.payment_state = Some(pay.result.clone());
    Json(json!({"transactionId": id, "result": if success { "success" } else { "error" }}))
        .facts(facts)
}

/// Finds the checkout token a page hands to the widget: a JSON field, a JavaScript property
/// or a `data-checkout-token` attribute.
pub fn find_checkout_token(page: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<Value>(page) {
        if let Some(t) = find_key(&json, "checkoutToken") {
            return Some(t);
        }
    }
    let re = regex::Regex::new(
        r#"(?i)(?:checkout[_-]?token)["']?\s*[:=]\s*["']([A-Za-z0-9._~+/=-]{16,})["']"#,
    )
    .expect("valid regex");
    re.captures(page).map(|c| c[1].to_owned())
}

fn find_key(v: &Value, key: &str) -> Option<String> {
    match v {
        Value::Object(m) => m
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

impl ProviderSandbox for SmartPaySandbox {
    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/oauth2/token", post(oauth_token))
            .route("/payment/creation", post(create_checkout))
            .route("/payment/status/{transaction_id}", get(payment_status))
            .route("/payment/{transaction_id}/capture", post(capture))
            .route("/payment/{transaction_id}/refund", post(refund))
            .route("/payment/{transaction_id}/cancel", post(cancel))
            .route("/widget/session", get(widget_session))
            .route("/widget/pay", post(widget_pay))
            .with_state(self)
    }

    fn credentials(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("merchant_key".to_string(), self.merchant_key.clone()),
            (
                "authentication_key".to_string(),
                self.authentication_key.clone(),
            ),
            ("client_id".to_string(), self.client_id.clone()),
            ("client_secret".to_string(), self.client_secret.clone()),
        ])
    }

    fn begin_scenario(&self, defaults: &Map<String, Value>) -> Result<(), String> {
        {
            let mut st = lock(&self.state);
            st.sequence = vec!["CAPTURED".into()];
            st.scenario_checkouts.clear();
        }
        self.configure(defaults)
    }

    fn configure(&self, settings: &Map<String, Value>) -> Result<(), String> {
        let s: SandboxSettings =
            serde_json::from_value(Value::Object(settings.clone())).map_err(|e| e.to_string())?;
        s.check()?;
        if let Some(seq) = s.status_sequence {
            lock(&self.state).sequence = seq;
        }
        Ok(())
    }
}

impl Actors for SmartPaySandbox {
    fn act<'a>(
        &'a self,
        act: Act,
        step: &'a ParsedStep,
        ctx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if act == Act::Provider {
                return Err("SmartPay has no provider-initiated steps".into());
            }
            match step_as::<ShopperStep>(step)? {
                ShopperStep::Widget(result) => self.widget(ctx, result).await,
                ShopperStep::ForgeSuccess(f) => self.forge(ctx, f).await,
            }
        })
    }
}

impl SmartPaySandbox {
    /// The shopper's browser with SmartPay's widget: read the checkout token from the shop's
    /// page, start the widget with it, pay, and let the page tell the shop's server.
    async fn widget(&self, ctx: &mut StepContext, result: &str) -> Result<(), String> {
        let page = ctx
            .trigger_answer()
            .await?
            .ok_or("no shop page to take the checkout token from: fire the trigger that starts the payment first")?;
        let token = find_checkout_token(&page.text()).ok_or_else(|| {
            format!(
                "the shop's answer to the trigger ({}) carries no checkout token for the widget (looked for a `checkoutToken` JSON field, JavaScript property or `data-checkout-token` attribute)",
                page.status
            )
        })?;
        let issued = {
            let st = lock(&self.state);
            st.scenario_checkouts
                .last()
                .and_then(|id| st.transactions.get(id))
                .map(|t| (t.id.clone(), t.checkout_token.clone()))
        };
        match issued {
            None => return Err("the page carries a checkout token, but the shop's server made no Create Checkout in this scenario".into()),
            Some((id, issued)) if issued != token => {
                return Err(format!(
                    "the page's checkout token ({}) is not the one SmartPay issued for this order's checkout (transaction {id}, {})",
                    fingerprint(&token),
                    fingerprint(&issued)
                ))
            }
            Some(_) => {}
        }
        let base = ctx.sandbox_url.trim_end_matches('/').to_owned();
        let mut url =
            url::Url::parse(&format!("{base}/widget/session")).map_err(|e| e.to_string())?;
        url.query_pairs_mut().append_pair("checkoutToken", &token);
        let session = ctx
            .send(Outgoing::new(
                Actor::Browser,
                OP_WIDGET_SESSION,
                "GET",
                url.to_string(),
                ctx.request_timeout,
            ))
            .await?;
        if !(200..300).contains(&session.status) {
            return Err(format!(
                "the widget could not start with the page's checkout token ({})",
                session.status
            ));
        }
        let pay = ctx
            .send(
                Outgoing::new(
                    Actor::Browser,
                    OP_WIDGET_PAY,
                    "POST",
                    format!("{base}/widget/pay"),
                    ctx.request_timeout,
                )
                .json(&json!({"checkoutToken": token, "result": result})),
            )
            .await?;
        let transaction_id = pay
            .json()
            .and_then(|j| j["transactionId"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("the widget could not take the payment ({})", pay.status))?;
        self.tell_shop(ctx, &transaction_id, result, false).await
    }

    /// The page reports a success the widget never reported.
    async fn forge(&self, ctx: &mut StepContext, forge: &ForgeSuccess) -> Result<(), String> {
        let transaction_id = match forge.transaction_id.as_str() {
            "other" => lock(&self.state)
                .captured_of_another_order()
                .ok_or("no captured payment of an earlier scenario to forge a success with: run a scenario whose payment SmartPay captured first")?,
            _ => uuid::Uuid::new_v4().to_string(),
        };
        self.tell_shop(ctx, &transaction_id, "success", true).await
    }

    /// The widget's callback fired: the page tells the shop's server (`payment_finished`).
    async fn tell_shop(
        &self,
        ctx: &mut StepContext,
        transaction_id: &str,
        result: &str,
        forged: bool,
    ) -> Result<(), String> {
        let mut with = Map::new();
        with.insert("transaction_id".into(), json!(transaction_id));
        with.insert("widget_result".into(), json!(result));
        let facts = Facts {
            payment: Some(transaction_id.to_owned()),
            payment_state: Some(result.to_owned()),
            forged,
            ..Facts::default()
        };
        ctx.fire_trigger_with(FINISHED_TRIGGER, &with, facts)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction(id: &str, amount: f64, paid: bool, sequence: &[&str]) -> Transaction {
        Transaction {
            id: id.into(),
            checkout_token: format!("token-{id}"),
            amount,
            currency: "EUR".into(),
            description: String::new(),
            reconciliation: String::new(),
            created: String::new(),
            widget_success: Some(paid),
            sequence: sequence.iter().map(|s| s.to_string()).collect(),
            queries: 0,
            overridden: None,
            modifications: Vec::new(),
        }
    }

    #[test]
    fn a_success_is_forged_with_a_captured_payment_of_another_order() {
        let mut st = State_ {
            tokens: TokenBook::new(),
            transactions: HashMap::new(),
            scenario_checkouts: Vec::new(),
            sequence: vec!["CAPTURED".into()],
            paid: Vec::new(),
        };
        for t in [
            transaction("captured-80", 80.0, true, &["CAPTURED"]),
            transaction("captured-30", 30.0, true, &["CAPTURED"]),
            transaction("pending-30", 30.0, true, &["AUTHORIZATION_PENDING"]),
        ] {
            st.paid.push(t.id.clone());
            st.transactions.insert(t.id.clone(), t);
        }
        // This scenario's own checkout, for 80.00 and not paid yet.
        st.transactions.insert(
            "this-order".into(),
            Transaction {
                widget_success: None,
                ..transaction("this-order", 80.0, false, &[])
            },
        );
        st.scenario_checkouts.push("this-order".into());
        // Not the last paid one (still PENDING), but the captured one of the same amount.
        assert_eq!(
            st.captured_of_another_order().as_deref(),
            Some("captured-80")
        );
        st.transactions.get_mut("this-order").unwrap().amount = 55.0;
        assert_eq!(
            st.captured_of_another_order().as_deref(),
            Some("captured-30")
        );
        // Only PENDING or failed payments of other orders: nothing to forge with.
        st.paid.retain(|id| id.starts_with("pending"));
        assert_eq!(st.captured_of_another_order(), None);
    }
    use crate::journal::Journal;
    use crate::sandbox::Sandbox;

    async fn start() -> (Sandbox, reqwest::Client) {
        let sb = crate::providers::start(&SmartPay, Journal::in_memory(), 0)
            .await
            .unwrap()
            .0;
        (sb, reqwest::Client::new())
    }

    fn basic(creds: &BTreeMap<String, String>) -> String {
        let raw = format!("{}:{}", creds["merchant_key"], creds["authentication_key"]);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    fn checkout_body(creds: &BTreeMap<String, String>) -> Value {
        json!({
            "merchantKey": creds["merchant_key"],
            "payment": {"amount": 10.99, "currencyCode": "EUR", "description": "Purchase 1x product ABC"},
            "consumer": {"firstName": "Butcher", "lastName": "Hells", "emailAddress": "hells.butcher_001@mail.com"},
            "billingAddress": {"addressLine1": "Anystreet", "number": "123", "city": "Anycity", "postCode": "12345", "countryCode": "DE"},
            "partnerReference": "order-1:a_b.c"
        })
    }

    #[tokio::test]
    async fn bearer_token_then_checkout_then_scripted_statuses() {
        let (sb, http) = start().await;
        let creds = sb.profile.credentials();
        let base = sb.base_url();
        let token: Value = http
            .post(format!("{base}/oauth2/token"))
            .form(&[
                ("client_id", creds["client_id"].as_str()),
                ("client_secret", creds["client_secret"].as_str()),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(token["token_type"], "Bearer");
        let access = token["access_token"].as_str().unwrap();
        assert!(crate::report::redact::is_shaped_token(access), "{access}");
        assert!(jwt_shaped(access), "{access}");
        sb.profile
            .configure(
                json!({"status_sequence": ["AUTHORIZATION_PENDING", "CAPTURED"]})
                    .as_object()
                    .unwrap(),
            )
            .unwrap();
        let mut body = checkout_body(&creds);
        body["orderNote"] = json!("x");
        let created: Value = http
            .post(format!("{base}/payment/creation"))
            .bearer_auth(access)
            .header("Accept-Language", "en-US")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(created["paymentStatus"], "CREATED");
        assert_eq!(created["unrecognizedFields"], json!(["orderNote"]));
        let tx = created["transactionId"].as_str().unwrap().to_owned();
        assert_eq!(tx.len(), 36);
        let checkout_token = created["checkoutToken"].as_str().unwrap().to_owned();
        assert!(
            crate::report::redact::is_shaped_token(&checkout_token),
            "{checkout_token}"
        );
        let status = |http: reqwest::Client, url: String, auth: String| async move {
            let v: Value = http
                .get(url)
                .header("Authorization", auth)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["paymentStatus"].as_str().unwrap().to_owned()
        };
        let url = format!("{base}/payment/status/{tx}");
        assert_eq!(
            status(http.clone(), url.clone(), basic(&creds)).await,
            "CREATED"
        );
        http.post(format!("{base}/widget/pay"))
            .json(&json!({"checkoutToken": checkout_token, "result": "success"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            status(http.clone(), url.clone(), format!("Bearer {access}")).await,
            "AUTHORIZATION_PENDING"
        );
        assert_eq!(
            status(http.clone(), url.clone(), basic(&creds)).await,
            "CAPTURED"
        );
        assert_eq!(
            status(http.clone(), url.clone(), basic(&creds)).await,
            "CAPTURED"
        );
        let live = sb.core.journal.live();
        assert!(live[0].facts.token_issued.is_some());
        assert_eq!(live[1].facts.unrecognized_fields, vec!["orderNote"]);
        assert_eq!(
            live[1].facts.token_used.as_ref().unwrap().state,
            TokenState::Valid
        );
        assert_eq!(live[2].facts.notes["auth_scheme"], "basic");
        assert_eq!(
            live[2].facts.token_used.as_ref().unwrap().state,
            TokenState::Valid
        );
        assert_eq!(
            live[4].facts.payment_state.as_deref(),
            Some("AUTHORIZATION_PENDING")
        );
    }

    #[tokio::test]
    async fn wrong_credentials_expired_tokens_and_garbage_get_the_api_error() {
        let (sb, http) = start().await;
        let creds = sb.profile.credentials();
        let base = sb.base_url();
        let r = http
            .get(format!("{base}/payment/status/x"))
            .header("Authorization", "Basic bm9wZTpub3Bl")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errorCode"], "UNAUTHORIZED");
        let r = http
            .get(format!("{base}/payment/status/x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let r = http
            .get(format!("{base}/payment/status/x"))
            .bearer_auth("made.up.token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        // An expired Bearer token.
        sb.core.set_settings(crate::sandbox::ScenarioSettings {
            token_lifetime_s: 0.05,
            time_scale: 1.0,
        });
        let token: Value = http
            .post(format!("{base}/oauth2/token"))
            .form(&[
                ("client_id", creds["client_id"].as_str()),
                ("client_secret", creds["client_secret"].as_str()),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        let r = http
            .get(format!("{base}/payment/status/x"))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<Value>().await.unwrap()["errorCode"],
            "TOKEN_EXPIRED"
        );
        // Garbage bodies and a bad client secret.
        let r = http
            .post(format!("{base}/payment/creation"))
            .header("Authorization", basic(&creds))
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = http
            .post(format!("{base}/oauth2/token"))
            .form(&[
                ("client_id", "x"),
                ("client_secret", "y"),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
        let big = vec![b'a'; crate::sandbox::MAX_REQUEST_BODY + 10];
        let r = http
            .post(format!("{base}/payment/creation"))
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        // X-Access-Token must look like a JWT of at most 512 characters.
        let r = http
            .get(format!("{base}/payment/status/x"))
            .header("Authorization", basic(&creds))
            .header("X-Access-Token", "a".repeat(600))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let live = sb.core.journal.live();
        let states: Vec<TokenState> = live
            .iter()
            .take(3)
            .map(|e| e.facts.token_used.as_ref().unwrap().state)
            .collect();
        assert_eq!(
            states,
            vec![
                TokenState::Unknown,
                TokenState::Missing,
                TokenState::Unknown
            ]
        );
        assert_eq!(
            live[4].facts.token_used.as_ref().unwrap().state,
            TokenState::Expired
        );
        assert!(live.last().unwrap().facts.schema_errors[0].contains("512"));
    }

    #[tokio::test]
    async fn long_descriptions_and_bad_partner_references_are_refused() {
        let (sb, http) = start().await;
        let creds = sb.profile.credentials();
        let mut body = checkout_body(&creds);
        body["payment"]["description"] = json!("x".repeat(128));
        body["partnerReference"] = json!("order #1");
        let r = http
            .post(format!("{}/payment/creation", sb.base_url()))
            .header("Authorization", basic(&creds))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errorCode"], "INVALID_REQUEST");
        let errors = &sb.core.journal.live()[0].facts.schema_errors;
        assert!(
            errors.iter().any(|e| e.starts_with("payment.description")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with("partnerReference")),
            "{errors:?}"
        );
    }

    #[tokio::test]
    async fn modifications_are_idempotent_by_modification_id() {
        let (sb, http) = start().await;
        let creds = sb.profile.credentials();
        let base = sb.base_url();
        sb.profile
            .configure(
                json!({"status_sequence": ["AUTHORIZATION_COMPLETED"]})
                    .as_object()
                    .unwrap(),
            )
            .unwrap();
        let created: Value = http
            .post(format!("{base}/payment/creation"))
            .header("Authorization", basic(&creds))
            .json(&checkout_body(&creds))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tx = created["transactionId"].as_str().unwrap();
        http.post(format!("{base}/widget/pay"))
            .json(&json!({"checkoutToken": created["checkoutToken"], "result": "success"}))
            .send()
            .await
            .unwrap();
        http.get(format!("{base}/payment/status/{tx}"))
            .header("Authorization", basic(&creds))
            .send()
            .await
            .unwrap();
        sb.core
            .faults
            .add(serde_json::from_value(json!({"operation": "capture", "times": 1})).unwrap());
        let post = |path: &str, id: &str| {
            http.post(format!("{base}/payment/{tx}/{path}"))
                .header("Authorization", basic(&creds))
                .json(&json!({"modificationId": id, "amount": 10.99}))
                .send()
        };
        assert_eq!(post("capture", "m-1").await.unwrap().status(), 500);
        let first: Value = post("capture", "m-1").await.unwrap().json().await.unwrap();
        assert_eq!(first["paymentStatus"], "CAPTURED");
        let again: Value = post("capture", "m-1").await.unwrap().json().await.unwrap();
        assert_eq!(first, again);
        assert_eq!(post("refund", "m-1").await.unwrap().status(), 409);
        assert_eq!(post("refund", "m-2").await.unwrap().status(), 200);
        // Nothing left to refund; a capture of a captured payment is refused.
        assert_eq!(post("refund", "m-3").await.unwrap().status(), 422);
        assert_eq!(post("capture", "m-4").await.unwrap().status(), 422);
        let live = sb.core.journal.live();
        assert_eq!(
            live[3].facts.injected.as_deref(),
            Some("500/INTERNAL_ERROR")
        );
        assert_eq!(live[4].facts.notes["modification_id"], "m-1");
    }

    #[test]
    fn checkout_tokens_are_found_in_json_scripts_and_attributes() {
        let t = "KwlJmj1QoJL4oFPaCYnNCTW8cC8ZsLvQg16erCzx7hlU0rxLi3TdAKBLAN6md2Ik";
        assert_eq!(
            find_checkout_token(&format!(r#"{{"order":{{"checkoutToken":"{t}"}}}}"#)).as_deref(),
            Some(t)
        );
        assert_eq!(
            find_checkout_token(&format!(r#"<div id="w" data-checkout-token="{t}"></div>"#))
                .as_deref(),
            Some(t)
        );
        assert_eq!(
            find_checkout_token(&format!("SmartPay.init({{ checkoutToken: '{t}' }})")).as_deref(),
            Some(t)
        );
        assert_eq!(find_checkout_token("<p>no token</p>"), None);
    }

    #[test]
    fn steps_are_validated() {
        assert!(SmartPay
            .parse_step(StepKind::Shopper, &json!({"widget": "success"}))
            .is_ok());
        assert!(SmartPay
            .parse_step(StepKind::Shopper, &json!({"widget": "maybe"}))
            .is_err());
        assert!(SmartPay
            .parse_step(
                StepKind::Shopper,
                &json!({"forge_success": {"transaction_id": "other"}})
            )
            .is_ok());
        assert!(SmartPay
            .parse_step(
                StepKind::Sandbox,
                &json!({"status_sequence": ["AUTHORIZATION_PENDING", "CAPTURED"]})
            )
            .is_ok());
        assert!(SmartPay
            .parse_step(StepKind::Sandbox, &json!({"status_sequence": ["PAID"]}))
            .is_err());
    }

    #[test]
    fn the_correlation_table_reads() {
        crate::sandbox::operation::check_table(OPERATIONS).unwrap();
    }
}
