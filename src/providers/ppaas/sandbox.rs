//! PPaaS's simulated API (the operations the sandbox answers) and its actors (the steps
//! golive plays as the shopper or as PPaaS). What the provider is: the folder's `mod.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::driver::{step_as, Act, Actors};
use crate::driver::{Outgoing, StepContext};
use crate::journal::{fingerprint, Actor, Facts, IssuedToken, TokenState, TokenUse};
use crate::providers::{Opened, Provider, StepKind};
use crate::sandbox::request_schema::{OperationSchemas, RequestSchema};
use crate::sandbox::tokens::TokenBook;
use crate::sandbox::{
    lock, Auth, BoxFuture, Caller, FactsExt, Operation, ProviderSandbox, SandboxCore,
};
use crate::suite::ParsedStep;

pub const ID: &str = "ppaas";

pub const OP_TOKEN: &str = "token";
pub const OP_COUNTRIES: &str = "countries";
pub const OP_EVENT: &str = "transaction_event";
/// The operation golive (as PPaaS) calls on the service provider.
pub const OP_QRCODE_PAYMENT: &str = "qrcode_payment";
/// The role of the webhook exchange in the journal.
pub const ROLE_WEBHOOK: &str = "webhook";

/// Everything about PPaaS that no public page states, in one place. Suites and schemas that
/// rely on it say "inferred". The events API's part (path, field names, event types) is the
/// default of [`EventsApi`]: the bundled suite states the same reading in
/// `settings.sandbox.events_api`, where a suite may state another.
pub mod inferred {
    /// Where the service provider posts its events about a transaction.
    pub const EVENTS_PATH: &str = "/qrcode-payment/v1/transactions/{client_transaction_id}/events";
    /// An event's field names: its id (kept on redelivery), its type, the transaction it is
    /// about, when it happened.
    pub const EVENT_FIELDS: [&str; 4] =
        ["eventId", "eventType", "clientTransactionId", "timestamp"];
    /// Event types. The seed says only that events "inform about the payment process flow".
    pub const NON_TERMINAL_EVENTS: &[&str] = &["QR_CODE_SCANNED", "PAYMENT_PENDING"];
    /// Event types that end a transaction: nothing follows them.
    pub const TERMINAL_EVENTS: &[&str] = &[
        "PAYMENT_SUCCEEDED",
        "PAYMENT_FAILED",
        "PAYMENT_EXPIRED",
        "PAYMENT_CANCELLED",
    ];
    /// Names of the data PPaaS adds to the terminal's call ("such as merchant ID and acquirer").
    pub const ENRICHMENT: &[(&str, &str)] = &[
        ("merchantId", "MERCHANT-GOLIVE-0001"),
        ("acquirerId", "ACQUIRER-GOLIVE-01"),
        ("terminalId", "ingenico-DX8000-2097CD800007"),
    ];
    /// The state the journal gives a webhook exchange whose answer the terminal can display.
    pub const QR_DISPLAYED: &str = "QR_CODE_DISPLAYED";
    pub const QR_NOT_DISPLAYED: &str = "QR_CODE_NOT_DISPLAYED";
    /// How long PPaaS waits for the webhook's answer unless a scenario says otherwise (provider
    /// time: scaled by the suite's `time_scale`).
    pub const WEBHOOK_TIMEOUT_S: f64 = 10.0;
    /// The error envelope of the events API: `{errorCode, message, correlationId}`.
    pub const ERROR_FIELDS: (&str, &str, &str) = ("errorCode", "message", "correlationId");
}

/// golive's reading of PPaaS's events API, which no public page describes (INFERRED): the
/// suite states it under `settings.sandbox.events_api` (`suites/ppaas-go-live.yaml`), and a
/// suite that reads the silence differently overrides it there, without Rust. The defaults
/// are [`inferred`]'s. Only the names change; the event's meaning (an id kept on redelivery,
/// a type, the transaction it is about, a zoned timestamp) is the bundled schema's.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct EventsApi {
    method: String,
    /// The path; `{client_transaction_id}` where the transaction's id goes. Without it, the id
    /// is read from the body's transaction id field.
    path: String,
    fields: EventFields,
    event_types: EventTypes,
}

/// The names of an event's fields.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct EventFields {
    event_id: String,
    event_type: String,
    client_transaction_id: String,
    timestamp: String,
}

/// The values of the event type field.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct EventTypes {
    in_progress: Vec<String>,
    /// Types that end a transaction (the suite's checks name the same list).
    terminal: Vec<String>,
}

impl Default for EventsApi {
    fn default() -> Self {
        EventsApi {
            method: "POST".into(),
            path: inferred::EVENTS_PATH.into(),
            fields: EventFields::default(),
            event_types: EventTypes::default(),
        }
    }
}

impl Default for EventFields {
    fn default() -> Self {
        let [event_id, event_type, client_transaction_id, timestamp] = inferred::EVENT_FIELDS;
        EventFields {
            event_id: event_id.into(),
            event_type: event_type.into(),
            client_transaction_id: client_transaction_id.into(),
            timestamp: timestamp.into(),
        }
    }
}

impl Default for EventTypes {
    fn default() -> Self {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        EventTypes {
            in_progress: owned(inferred::NON_TERMINAL_EVENTS),
            terminal: owned(inferred::TERMINAL_EVENTS),
        }
    }
}

/// Where the transaction's id goes in the events path.
const ID_PLACEHOLDER: &str = "{client_transaction_id}";

/// One segment of the events path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    TransactionId,
}

/// The events API as the sandbox serves it: the suite's reading, its path split for matching
/// and the event schema with the suite's names.
struct EventsEndpoint {
    api: EventsApi,
    method: Method,
    segments: Vec<Segment>,
    schema: RequestSchema,
}

impl EventsEndpoint {
    /// golive's own reading ([`inferred`]); it is bundled, so a failure is a bug (tested).
    fn inferred() -> Self {
        EventsEndpoint::new(EventsApi::default()).expect("golive's inferred events API is valid")
    }

    /// Checks a suite's reading and builds the endpoint; the error says what is wrong with it.
    fn new(api: EventsApi) -> Result<Self, String> {
        let method = match api.method.to_ascii_uppercase().as_str() {
            m @ ("POST" | "PUT" | "PATCH") => {
                Method::from_bytes(m.as_bytes()).map_err(|e| e.to_string())?
            }
            other => {
                return Err(format!(
                    "events_api.method: `{other}` is not POST, PUT or PATCH"
                ))
            }
        };
        if !api.path.starts_with('/') || api.path.contains(['?', '#']) {
            return Err(format!(
                "events_api.path: `{}` must be a path starting with `/` (no query)",
                api.path
            ));
        }
        let segments: Vec<Segment> = api
            .path
            .trim_matches('/')
            .split('/')
            .map(|seg| {
                if seg == ID_PLACEHOLDER {
                    Ok(Segment::TransactionId)
                } else if seg.contains(['{', '}']) || seg.is_empty() {
                    Err(format!(
                        "events_api.path: segment `{seg}` is neither a name nor `{ID_PLACEHOLDER}`"
                    ))
                } else {
                    Ok(Segment::Literal(seg.to_owned()))
                }
            })
            .collect::<Result<_, _>>()?;
        if segments
            .iter()
            .filter(|s| **s == Segment::TransactionId)
            .count()
            > 1
        {
            return Err(format!(
                "events_api.path: `{ID_PLACEHOLDER}` appears more than once"
            ));
        }
        let f = &api.fields;
        let names = [
            &f.event_id,
            &f.event_type,
            &f.client_transaction_id,
            &f.timestamp,
        ];
        if names.iter().any(|n| n.trim().is_empty()) {
            return Err("events_api.fields: every field name must be given".into());
        }
        let types: Vec<&String> = api
            .event_types
            .in_progress
            .iter()
            .chain(&api.event_types.terminal)
            .collect();
        if api.event_types.terminal.is_empty() {
            return Err(
                "events_api.event_types.terminal: at least one event type ends a transaction"
                    .into(),
            );
        }
        if types
            .iter()
            .enumerate()
            .any(|(i, t)| types[..i].contains(t))
        {
            return Err("events_api.event_types: an event type is listed twice".into());
        }
        let schema = Self::schema(&api)?;
        Ok(EventsEndpoint {
            api,
            method,
            segments,
            schema,
        })
    }

    /// The bundled event schema with the suite's field names and event types.
    fn schema(api: &EventsApi) -> Result<RequestSchema, String> {
        let mut schema: Value = serde_json::from_str(include_str!(
            "../../../schemas/ppaas/transaction_event.request.json"
        ))
        .map_err(|e| format!("the bundled event schema: {e}"))?;
        let f = &api.fields;
        let renames: Vec<(&str, &str)> = inferred::EVENT_FIELDS
            .iter()
            .copied()
            .zip([
                f.event_id.as_str(),
                f.event_type.as_str(),
                f.client_transaction_id.as_str(),
                f.timestamp.as_str(),
            ])
            .collect();
        let props = schema["properties"]
            .as_object_mut()
            .ok_or("the bundled event schema has no properties")?;
        let before = props.len();
        let mut moved = Vec::new();
        for (from, _) in &renames {
            moved.push(props.remove(*from).unwrap_or(Value::Null));
        }
        for ((_, to), definition) in renames.iter().zip(moved) {
            props.insert((*to).to_owned(), definition);
        }
        if props.len() != before {
            return Err("events_api.fields: two fields have the same name (or one takes the name of an optional event field)".into());
        }
        let types: Vec<&String> = api
            .event_types
            .in_progress
            .iter()
            .chain(&api.event_types.terminal)
            .collect();
        props[f.event_type.as_str()] = json!({ "enum": types });
        if let Some(required) = schema["required"].as_array_mut() {
            for r in required.iter_mut() {
                if let Some((_, to)) = renames.iter().find(|(from, _)| r == from) {
                    *r = json!(to);
                }
            }
        }
        schema["title"] = json!(format!("PPaaS QR code payment: an asynchronous event from the service provider ({} {}), as the suite reads it", api.method, api.path));
        Ok(RequestSchema::bundled(&schema.to_string()))
    }

    /// Whether a call is an event: `Some(the transaction id in the path, if the path has one)`.
    fn matches(&self, method: &Method, path: &str) -> Option<Option<String>> {
        if method != self.method {
            return None;
        }
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut id = None;
        for (seg, part) in self.segments.iter().zip(parts) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::TransactionId if !part.is_empty() => id = Some(percent_decode(part)),
                _ => return None,
            }
        }
        Some(id)
    }
}

/// A path segment as the service provider meant it (`%2D` is `-`).
fn percent_decode(segment: &str) -> String {
    form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| segment.to_owned())
}

/// Every call outside the token and countries routes: an event if it is the suite's events
/// operation, otherwise a 404 naming what this sandbox serves (journaled as unserved).
async fn events_or_unserved(
    State(sb): State<Arc<PPaaSSandbox>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let events = lock(&sb.state).events.clone();
    match events.matches(&method, uri.path()) {
        Some(id_in_path) => transaction_event(sb, events, id_in_path, headers, body).await,
        None => crate::sandbox::unserved(&method, uri.path(), &sb.served().unwrap_or_default()),
    }
}

pub struct PPaaS;

/// PPaaS's API as data (the events operation first: an unserved call most likely meant it).
/// Where the service provider's ids travel: the payment id is the clientTransactionId in the
/// events path.
pub const OPERATIONS: &[Operation] = &[
    Operation::new(
        OP_EVENT,
        Caller::Integration,
        "POST",
        inferred::EVENTS_PATH,
        "the PPaaS events operation",
    )
    .with_auth(Auth::Token("Authorization: Bearer"))
    .with_payment_id(&["segment:3"])
    .with_note(
        "inferred: no public page states it; a suite sets it in settings.sandbox.events_api",
    ),
    Operation::new(
        OP_TOKEN,
        Caller::Integration,
        "POST",
        "/auth/realms/{realm}/protocol/openid-connect/token",
        "the PPaaS token operation",
    )
    .with_auth(Auth::Credentials(
        "client_id and client_secret (client credentials grant)",
    ))
    .with_schema(include_str!("../../../schemas/ppaas/token.form.json")),
    Operation::new(
        OP_COUNTRIES,
        Caller::Integration,
        "GET",
        "/resources/v1/countries",
        "the PPaaS countries resource",
    )
    .with_auth(Auth::Token("Authorization: Bearer")),
    Operation::new(
        OP_QRCODE_PAYMENT,
        Caller::Provider,
        "POST",
        "the service provider's webhooks.qrcode_payment",
        "PPaaS asks the service provider for a QR code payment",
    )
    .with_auth(Auth::Provider(
        "a Bearer token PPaaS issued to itself (terminal token)",
    ))
    .with_schema(include_str!(
        "../../../schemas/ppaas/qrcode_payment.request.json"
    )),
];

impl Provider for PPaaS {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "PPaaS (Worldline/Ingenico payment platform: service provider QR code payments)"
    }

    fn open(&self, core: Arc<SandboxCore>) -> Opened {
        Opened::of(Arc::new(PPaaSSandbox::new(core)))
    }

    fn reference(&self) -> &'static crate::reference::Reference {
        &super::reference::REFERENCE
    }

    fn suite(&self) -> crate::providers::BundledSuite {
        crate::providers::BundledSuite {
            file: "suites/ppaas-go-live.yaml",
            text: include_str!("../../../suites/ppaas-go-live.yaml"),
        }
    }

    fn parse_step(&self, kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
        match kind {
            StepKind::Provider => serde_json::from_value::<ProviderStep>(params.clone())
                .map(|s| Arc::new(s) as ParsedStep)
                .map_err(|e| format!("{e}; expected `qrcode_payment: {{amount, currency, ...}}`")),
            StepKind::Shopper => serde_json::from_value::<ShopperStep>(params.clone())
                .map(|s| Arc::new(s) as ParsedStep)
                .map_err(|e| format!("{e}; expected `consumer: pays`, `consumer: declines` or `consumer: abandons`")),
            StepKind::Sandbox => {
                let s = serde_json::from_value::<SandboxSettings>(params.clone())
                    .map_err(|e| e.to_string())?;
                // A suite's reading of the events API is checked before anything runs.
                if let Some(api) = s.events_api.clone() {
                    EventsEndpoint::new(api)?;
                }
                if let Some(t) = s.webhook_timeout_s {
                    crate::suite::bounds::check_duration_s(t, false)
                        .map_err(|e| format!("`webhook_timeout_s`: {e}"))?;
                }
                Ok(Arc::new(s))
            }
        }
    }

    fn operations(&self) -> &'static [Operation] {
        OPERATIONS
    }

    fn credential_names(&self) -> &'static [&'static str] {
        &["realm", "client_id", "client_secret"]
    }

    /// A QR code payment is forwarded to the target's webhook (`qrcode_payment`); the consumer
    /// acts through the target's `consumer` trigger (`consumer`).
    fn step_needs(&self, kind: StepKind, _params: &Value) -> crate::providers::StepNeeds {
        match kind {
            StepKind::Provider => crate::providers::StepNeeds {
                triggers: vec![],
                webhooks: vec![OP_QRCODE_PAYMENT],
            },
            StepKind::Shopper => crate::providers::StepNeeds {
                triggers: vec![("consumer", &["client_transaction_id", "consumer_action"])],
                webhooks: vec![],
            },
            StepKind::Sandbox => crate::providers::StepNeeds::default(),
        }
    }
}

/// `provider:` steps: PPaaS forwards a terminal's action to the service provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum ProviderStep {
    QrcodePayment(QrPayment),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct QrPayment {
    /// Minor units (seed 001: `"amount": 2000` for 20.00 EUR).
    #[serde(default = "default_amount")]
    amount: i64,
    #[serde(default = "eur")]
    currency: String,
    #[serde(default = "default_description")]
    description: String,
    /// The seed's example says `KB`.
    #[serde(default = "kb")]
    payment_type: String,
    #[serde(default = "consumerscan")]
    payment_scenario: String,
    /// Fields PPaaS adds on top (a newer PPaaS, a terminal extension): the service provider
    /// must tolerate them.
    #[serde(default)]
    extra_fields: serde_json::Map<String, Value>,
}

fn default_amount() -> i64 {
    2000
}
fn eur() -> String {
    "EUR".into()
}
fn default_description() -> String {
    "golive QR code payment".into()
}
fn kb() -> String {
    "KB".into()
}
fn consumerscan() -> String {
    "consumerscan".into()
}

/// `shopper:` steps: the consumer in front of the terminal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum ShopperStep {
    /// The consumer scans the QR code and pays, declines, or walks away. The payment happens
    /// at the service provider, so golive tells the service provider through the target's
    /// `consumer` trigger (its test hook; INFERRED: a real wallet app plays this part).
    Consumer(ConsumerAction),
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ConsumerAction {
    Pays,
    Declines,
    Abandons,
}

impl ConsumerAction {
    fn as_str(self) -> &'static str {
        match self {
            ConsumerAction::Pays => "pays",
            ConsumerAction::Declines => "declines",
            ConsumerAction::Abandons => "abandons",
        }
    }
}

/// Profile keys of `sandbox:` steps (besides the generic `token_lifetime_s` and `inject`).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct SandboxSettings {
    /// How PPaaS acknowledges events: `always` (default), `never`, or `{fail_first: N}`.
    #[serde(default)]
    ack: Option<AckScript>,
    /// How long PPaaS waits for the webhook's answer (provider time, scaled).
    #[serde(default)]
    webhook_timeout_s: Option<f64>,
    /// golive's reading of the unpublished events API (see [`EventsApi`]).
    #[serde(default)]
    events_api: Option<EventsApi>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum AckScript {
    Mode(AckMode),
    FailFirst {
        fail_first: u32,
        /// The status of the refusals (a 5xx).
        #[serde(default = "server_error")]
        status: u16,
    },
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum AckMode {
    Always,
    Never,
}

fn server_error() -> u16 {
    500
}

impl Default for AckScript {
    fn default() -> Self {
        AckScript::Mode(AckMode::Always)
    }
}

/// A QR code payment PPaaS forwarded in this run.
#[derive(Debug, Clone)]
struct Transaction {
    /// Whether the terminal could display the service provider's answer.
    displayed: bool,
    /// Why not, when it could not.
    problem: Option<String>,
}

struct State_ {
    tokens: TokenBook<()>,
    transactions: HashMap<String, Transaction>,
    ack: AckScript,
    acks_refused: u32,
    webhook_timeout_s: f64,
    /// The scenario's last QR code payment, for the consumer to scan.
    last_transaction: Option<String>,
    /// The events API as the suite reads it.
    events: Arc<EventsEndpoint>,
}

pub struct PPaaSSandbox {
    core: Arc<SandboxCore>,
    realm: String,
    client_id: String,
    client_secret: String,
    schemas: OperationSchemas,
    answer_schema: RequestSchema,
    state: Mutex<State_>,
}

/// A JWT-shaped access token, like Keycloak's (the signature is random: nobody verifies it
/// but the sandbox, which keeps the tokens it issued).
fn jwt(claims: Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64.encode(claims.to_string()),
        crate::sandbox::random_text(43)
    )
}

/// Keycloak's OAuth error answer.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The events API's error answer (INFERRED envelope, see [`inferred::ERROR_FIELDS`]).
fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    let (c, m, id) = inferred::ERROR_FIELDS;
    (
        status,
        Json(json!({ c: code, m: message, id: uuid::Uuid::new_v4().to_string() })),
    )
        .into_response()
}

impl PPaaSSandbox {
    fn new(core: Arc<SandboxCore>) -> Self {
        PPaaSSandbox {
            core,
            realm: "sandbox-sp".into(),
            client_id: "golive-service-provider".into(),
            client_secret: format!("sbx-{}", crate::sandbox::random_text(32)),
            schemas: OperationSchemas::of(OPERATIONS),
            answer_schema: RequestSchema::bundled(include_str!(
                "../../../schemas/ppaas/qrcode_payment.answer.json"
            )),
            state: Mutex::new(State_ {
                tokens: TokenBook::new(),
                transactions: HashMap::new(),
                ack: AckScript::default(),
                acks_refused: 0,
                webhook_timeout_s: inferred::WEBHOOK_TIMEOUT_S,
                last_transaction: None,
                events: Arc::new(EventsEndpoint::inferred()),
            }),
        }
    }

    /// Checks the Bearer token of an API call; the answer when it is not good enough.
    fn authenticate(&self, headers: &HeaderMap, facts: &mut Facts) -> Option<Response> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_owned())
            });
        let now = self.core.now_ms();
        let (state, remaining) = match &token {
            None => (TokenState::Missing, None),
            Some(t) => match lock(&self.state).tokens.get(t) {
                None => (TokenState::Unknown, None),
                Some(known) => {
                    let remaining = (known.expires_ms - now) / 1000.0;
                    let state = if remaining > 0.0 {
                        TokenState::Valid
                    } else {
                        TokenState::Expired
                    };
                    (state, Some(remaining))
                }
            },
        };
        facts.token_used = Some(TokenUse {
            fingerprint: token.as_deref().map(fingerprint),
            state,
            remaining_s: remaining,
        });
        let description = match state {
            TokenState::Valid => return None,
            TokenState::Missing => "Bearer token missing",
            TokenState::Expired => "Token is not active",
            TokenState::Unknown => "Invalid token",
        };
        let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", description);
        if let Ok(v) = format!(r#"Bearer realm="{}", error="invalid_token""#, self.realm).parse() {
            r.headers_mut().insert("www-authenticate", v);
        }
        Some(r)
    }

    /// Client authentication: HTTP Basic, or client_id/client_secret in the form.
    fn client_of(
        &self,
        headers: &HeaderMap,
        form: &BTreeMap<String, String>,
    ) -> (Option<String>, Option<String>) {
        let basic = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("basic")
                    .then(|| rest.trim().to_owned())
            })
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
        match basic {
            Some((id, secret)) => (Some(id), Some(secret)),
            None => (
                form.get("client_id").cloned(),
                form.get("client_secret").cloned(),
            ),
        }
    }
}

async fn token(
    State(sb): State<Arc<PPaaSSandbox>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_TOKEN.into()),
        ..Facts::default()
    };
    let text = String::from_utf8_lossy(&body);
    let form: BTreeMap<String, String> = form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect();
    let as_json = Value::Object(form.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
    let findings = sb.schemas.check(OP_TOKEN, &as_json);
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
    if let Some(fault) = sb.core.faults.take(OP_TOKEN) {
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        facts.injected = Some(fault.label("unknown_error"));
        if !fault.then_succeed {
            let status =
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = fault.code.clone().unwrap_or_else(|| "unknown_error".into());
            return oauth_error(status, &code, "Unexpected error").facts(facts);
        }
    }
    if realm != sb.realm {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "Realm does not exist"})),
        )
            .facts(facts);
    }
    let Some(grant) = form.get("grant_type") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing form parameter: grant_type",
        )
        .facts(facts);
    };
    let (client_id, secret) = sb.client_of(&headers, &form);
    if client_id.as_deref() != Some(sb.client_id.as_str())
        || secret.as_deref() != Some(sb.client_secret.as_str())
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client or Invalid client credentials",
        )
        .facts(facts);
    }
    if grant != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        )
        .facts(facts);
    }
    let lifetime = sb.core.token_lifetime_s();
    let now = sb.core.now_ms();
    let expires = now + lifetime * 1000.0;
    let iat = time::OffsetDateTime::now_utc().unix_timestamp();
    let access_token = jwt(json!({
        "exp": iat + lifetime.ceil() as i64,
        "iat": iat,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iss": format!("{}/auth/realms/{}", sb.core.base_url(), sb.realm),
        "azp": sb.client_id,
        "typ": "Bearer",
        "scope": "email profile",
    }));
    lock(&sb.state)
        .tokens
        .issue(access_token.clone(), expires, (), now);
    facts.token_issued = Some(IssuedToken {
        fingerprint: fingerprint(&access_token),
        lifetime_s: lifetime,
        expires_at_ms: expires,
    });
    (
        StatusCode::OK,
        Json(json!({
            "access_token": access_token,
            // Keycloak states whole seconds; a fractional scenario lifetime rounds down so
            // a client that trusts expires_in never holds an expired token.
            "expires_in": lifetime.floor() as i64,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "email profile",
        })),
    )
        .facts(facts)
}

/// The seed's resource example: a list of countries, for a client to try its token.
async fn countries(State(sb): State<Arc<PPaaSSandbox>>, headers: HeaderMap) -> Response {
    let mut facts = Facts {
        operation: Some(OP_COUNTRIES.into()),
        ..Facts::default()
    };
    if let Some(r) = sb.authenticate(&headers, &mut facts) {
        return r.facts(facts);
    }
    Json(json!([
        {"code": "BG", "display": "Bulgaria"},
        {"code": "MM", "display": "Myanmar"},
        {"code": "BI", "display": "Burundi"},
        {"code": "FR", "display": "France"},
        {"code": "DE", "display": "Germany"},
    ]))
    .facts(facts)
}

/// An event from the service provider about a transaction (INFERRED path and shape: the
/// suite's `events_api`).
async fn transaction_event(
    sb: Arc<PPaaSSandbox>,
    events: Arc<EventsEndpoint>,
    id_in_path: Option<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let names = &events.api.fields;
    let json = serde_json::from_slice::<Value>(&body).ok();
    let id_in_body = json
        .as_ref()
        .and_then(|j| j.get(&names.client_transaction_id))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let client_transaction_id = id_in_path
        .clone()
        .or(id_in_body.clone())
        .unwrap_or_default();
    let mut facts = Facts {
        operation: Some(OP_EVENT.into()),
        payment: Some(client_transaction_id.clone()).filter(|id| !id.is_empty()),
        ..Facts::default()
    };
    if let Some(j) = &json {
        facts.payment_state = j
            .get(&names.event_type)
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(id) = j.get(&names.event_id).and_then(Value::as_str) {
            facts.event_id = Some(id.to_owned());
        }
    }
    if let Some(r) = sb.authenticate(&headers, &mut facts) {
        return r.facts(facts);
    }
    let Some(json) = json else {
        facts.schema_errors = vec!["body: not JSON".into()];
        return api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "The request body is not valid JSON.",
        )
        .facts(facts);
    };
    let findings = events.schema.check(&json);
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
    if let (Some(in_body), Some(in_path)) = (&id_in_body, &id_in_path) {
        if in_body != in_path {
            facts.schema_errors.push(format!(
                "{}: `{in_body}` in the body, `{in_path}` in the path",
                names.client_transaction_id
            ));
        }
    }
    if !facts.schema_errors.is_empty() {
        let message = format!("Invalid event: {}", facts.schema_errors.join("; "));
        return api_error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", &message).facts(facts);
    }
    if !lock(&sb.state)
        .transactions
        .contains_key(&client_transaction_id)
    {
        return api_error(
            StatusCode::NOT_FOUND,
            "TRANSACTION_NOT_FOUND",
            &format!("No QR code payment with clientTransactionId {client_transaction_id}."),
        )
        .facts(facts);
    }
    // PPaaS is unavailable: an injected fault, or the scenario's acknowledgement script.
    if let Some(fault) = sb.core.faults.take(OP_EVENT) {
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        facts.injected = Some(fault.label("INTERNAL_ERROR"));
        if !fault.then_succeed {
            let status =
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = fault
                .code
                .clone()
                .unwrap_or_else(|| "INTERNAL_ERROR".into());
            return api_error(
                status,
                &code,
                "The event could not be processed; send it again later.",
            )
            .facts(facts);
        }
    }
    let refuse = {
        let mut st = lock(&sb.state);
        let refuse = match st.ack {
            AckScript::Mode(AckMode::Always) => None,
            AckScript::Mode(AckMode::Never) => Some(500),
            AckScript::FailFirst { fail_first, status } => {
                (st.acks_refused < fail_first).then_some(status)
            }
        };
        if refuse.is_some() {
            st.acks_refused += 1;
        }
        refuse.map(|s| (s, st.acks_refused))
    };
    if let Some((status, n)) = refuse {
        facts.injected = Some(format!("ack refused {status} (#{n})"));
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return api_error(
            status,
            "INTERNAL_ERROR",
            "The event could not be processed; send it again later.",
        )
        .facts(facts);
    }
    let mut answer = json!({
        names.event_id.as_str(): json.get(&names.event_id).cloned().unwrap_or(Value::Null),
        names.client_transaction_id.as_str(): client_transaction_id,
        "status": "ACKNOWLEDGED",
        "receivedAt": crate::sandbox::now_rfc3339(),
    });
    if !findings.unrecognized.is_empty() {
        answer["unrecognizedFields"] = json!(findings.unrecognized);
    }
    (StatusCode::OK, Json(answer)).facts(facts)
}

impl ProviderSandbox for PPaaSSandbox {
    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route(
                "/auth/realms/{realm}/protocol/openid-connect/token",
                post(token),
            )
            .route("/resources/v1/countries", get(countries))
            // The events path is the suite's (`events_api`), so it is matched here, per call.
            .route("/{*path}", any(events_or_unserved))
            .with_state(self)
    }

    /// The table's served rows, the events operation where the suite puts it.
    fn served(&self) -> Option<Vec<crate::sandbox::ServedOperation>> {
        let events = lock(&self.state).events.clone();
        let mut served: Vec<_> = OPERATIONS
            .iter()
            .filter(|o| o.is_served())
            .map(|o| o.served())
            .collect();
        for op in served.iter_mut().filter(|o| o.operation == OP_EVENT) {
            op.method = events.api.method.clone();
            op.path = events.api.path.clone();
        }
        Some(served)
    }

    fn credentials(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("realm".to_string(), self.realm.clone()),
            ("client_id".to_string(), self.client_id.clone()),
            ("client_secret".to_string(), self.client_secret.clone()),
        ])
    }

    fn begin_scenario(&self, defaults: &serde_json::Map<String, Value>) -> Result<(), String> {
        {
            let mut st = lock(&self.state);
            st.ack = AckScript::default();
            st.acks_refused = 0;
            st.webhook_timeout_s = inferred::WEBHOOK_TIMEOUT_S;
            st.last_transaction = None;
            if st.events.api != EventsApi::default() {
                st.events = Arc::new(EventsEndpoint::inferred());
            }
        }
        self.configure(defaults)
    }

    fn configure(&self, settings: &serde_json::Map<String, Value>) -> Result<(), String> {
        let s: SandboxSettings =
            serde_json::from_value(Value::Object(settings.clone())).map_err(|e| e.to_string())?;
        let mut st = lock(&self.state);
        if let Some(a) = s.ack {
            st.ack = a;
            st.acks_refused = 0;
        }
        if let Some(t) = s.webhook_timeout_s {
            if t <= 0.0 {
                return Err("`webhook_timeout_s` must be above 0".into());
            }
            st.webhook_timeout_s = t;
        }
        if let Some(api) = s.events_api {
            if st.events.api != api {
                st.events = Arc::new(EventsEndpoint::new(api)?);
            }
        }
        Ok(())
    }
}

impl Actors for PPaaSSandbox {
    fn act<'a>(
        &'a self,
        act: Act,
        step: &'a ParsedStep,
        ctx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            match act {
                Act::Provider => {
                    let ProviderStep::QrcodePayment(p) = step_as::<ProviderStep>(step)?;
                    self.qrcode_payment(ctx, p).await
                }
                Act::Shopper => {
                    let ShopperStep::Consumer(action) = step_as::<ShopperStep>(step)?;
                    self.consumer(ctx, *action).await
                }
            }
        })
    }
}

impl PPaaSSandbox {
    /// The webhook body PPaaS forwards for a terminal's QR code payment (seed 001 fields,
    /// enriched with the merchant's data).
    fn webhook_body(&self, p: &QrPayment, client_transaction_id: &str, order_id: &str) -> Value {
        let mut body = json!({
            "paymentType": p.payment_type,
            "paymentScenario": p.payment_scenario,
            "clientTransactionId": client_transaction_id,
            "paymentAmount": { "amount": p.amount, "currency": p.currency },
            "order": { "orderId": order_id, "orderDescription": p.description },
        });
        for (k, v) in inferred::ENRICHMENT {
            body[*k] = json!(v);
        }
        for (k, v) in &p.extra_fields {
            body[k.as_str()] = v.clone();
        }
        body
    }

    /// Whether the terminal can display the answer, and what is wrong with it otherwise.
    fn judge_answer(
        &self,
        status: u16,
        body: &[u8],
        client_transaction_id: &str,
    ) -> (Vec<String>, Vec<String>) {
        if !(200..300).contains(&status) {
            return (Vec::new(), Vec::new());
        }
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return (vec!["the answer is not JSON".into()], Vec::new());
        };
        let findings = self.answer_schema.check(&json);
        let mut errors = findings.errors;
        // The seed names no field for the id: any field carrying it will do, but a
        // clientTransactionId naming another transaction is an answer about something else.
        match json.get("clientTransactionId").and_then(Value::as_str) {
            Some(echoed) if echoed != client_transaction_id => errors.push(format!(
                "clientTransactionId: the answer is about `{echoed}`, PPaaS asked about `{client_transaction_id}`"
            )),
            _ if json.is_object() && !carries(&json, client_transaction_id) => {
                errors.push(format!(
                    "body: the answer does not carry the transaction id PPaaS asked about (`{client_transaction_id}`)"
                ))
            }
            _ => {}
        }
        (errors, findings.unrecognized)
    }

    /// PPaaS calls the service provider's webhook with a terminal's QR code payment.
    async fn qrcode_payment(&self, ctx: &mut StepContext, p: &QrPayment) -> Result<(), String> {
        let path = ctx
            .webhook(OP_QRCODE_PAYMENT)
            .ok_or("the target maps no `webhooks.qrcode_payment` path: PPaaS does not know where to forward the QR code payment")?;
        let url = ctx.target_url(&path);
        let client_transaction_id = uuid::Uuid::new_v4().to_string();
        let order_id = ctx.var_str("order_id").unwrap_or_default();
        let body = self.webhook_body(p, &client_transaction_id, &order_id);
        let timeout_s = lock(&self.state).webhook_timeout_s;
        let timeout = crate::suite::bounds::duration_s((timeout_s * ctx.time_scale).max(0.05));
        // The terminal's token, forwarded by PPaaS (seed 001: terminals get short-lived
        // tokens, expires_in 300). Never shown in reports: the redaction masks Bearer values.
        let terminal_token = jwt(json!({
            "typ": "Bearer",
            "azp": "ppaas-terminal",
            "device_id": inferred::ENRICHMENT[2].1,
            "exp": time::OffsetDateTime::now_utc().unix_timestamp() + 300,
        }));
        let mut out = Outgoing::new(Actor::Provider, ROLE_WEBHOOK, "POST", url, timeout)
            .json(&body)
            .header("authorization", &format!("Bearer {terminal_token}"))
            .header("x-request-id", &uuid::Uuid::new_v4().to_string());
        lock(&self.state).transactions.insert(
            client_transaction_id.clone(),
            Transaction {
                displayed: false,
                problem: Some("no answer yet".into()),
            },
        );
        ctx.vars
            .insert("client_transaction_id".into(), json!(client_transaction_id));

        // Recorded once judged (like the order probe): the journal gets one exchange with
        // what PPaaS made of the answer.
        out.facts = Facts {
            operation: Some(OP_QRCODE_PAYMENT.into()),
            payment: Some(client_transaction_id.clone()),
            order: Some(order_id),
            ..Facts::default()
        };
        out.facts
            .notes
            .insert("timeout_ms".into(), json!(timeout.as_secs_f64() * 1000.0));
        let mut problem = None;
        let _ = ctx
            .http
            .send_judged(out, |result, facts| {
                problem = match result {
                    Ok(o) => {
                        let (errors, unrecognized) =
                            self.judge_answer(o.status, &o.body, &client_transaction_id);
                        let problem = if !(200..300).contains(&o.status) {
                            Some(format!("the service provider answered {}", o.status))
                        } else if !errors.is_empty() {
                            Some(format!(
                                "the answer is not a QR code the terminal can show: {}",
                                errors.join("; ")
                            ))
                        } else {
                            None
                        };
                        facts.answer_errors = errors;
                        if !unrecognized.is_empty() {
                            facts
                                .notes
                                .insert("answer_unrecognized".into(), json!(unrecognized));
                        }
                        problem
                    }
                    Err(e) => Some(format!("no answer: {e}")),
                };
                facts.payment_state = Some(
                    if problem.is_none() {
                        inferred::QR_DISPLAYED
                    } else {
                        inferred::QR_NOT_DISPLAYED
                    }
                    .into(),
                );
            })
            .await;
        let mut st = lock(&self.state);
        st.transactions.insert(
            client_transaction_id.clone(),
            Transaction {
                displayed: problem.is_none(),
                problem,
            },
        );
        st.last_transaction = Some(client_transaction_id);
        // A refused or late answer is for the checks to judge; the journey goes on.
        Ok(())
    }

    /// The consumer acts on the QR code the terminal shows.
    async fn consumer(&self, ctx: &mut StepContext, action: ConsumerAction) -> Result<(), String> {
        let (id, tx) = {
            let st = lock(&self.state);
            let id = st
                .last_transaction
                .clone()
                .ok_or("no QR code payment in this scenario yet: a `provider: {qrcode_payment: ...}` step comes first")?;
            let tx = st
                .transactions
                .get(&id)
                .cloned()
                .ok_or("the scenario's QR code payment is unknown")?;
            (id, tx)
        };
        if !tx.displayed {
            return Err(format!(
                "the terminal shows no QR code for the consumer to scan ({})",
                tx.problem.unwrap_or_default()
            ));
        }
        let mut with = serde_json::Map::new();
        with.insert("client_transaction_id".into(), json!(id));
        with.insert("consumer_action".into(), json!(action.as_str()));
        let answer = ctx.fire_trigger("consumer", &with).await?;
        if !(200..300).contains(&answer.status) {
            return Err(format!(
                "the service provider's `consumer` hook answered {}: {}",
                answer.status,
                answer.text().chars().take(200).collect::<String>()
            ));
        }
        Ok(())
    }
}

/// Whether a JSON value holds `id` as a string anywhere (a field's value, an array's item).
fn carries(v: &Value, id: &str) -> bool {
    match v {
        Value::String(s) => s == id,
        Value::Object(m) => m.values().any(|x| carries(x, id)),
        Value::Array(a) => a.iter().any(|x| carries(x, id)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;
    use crate::sandbox::Sandbox;

    /// A handle on the PPaaS profile the sandbox serves, so a test can stand in for a webhook
    /// step (the sandbox only knows transactions it forwarded).
    #[derive(Default)]
    struct Handle(Mutex<Option<Arc<PPaaSSandbox>>>);

    impl Handle {
        fn register(&self, id: &str) {
            let p = lock(&self.0).clone().expect("started");
            lock(&p.state).transactions.insert(
                id.to_owned(),
                Transaction {
                    displayed: true,
                    problem: None,
                },
            );
        }
    }

    async fn start() -> (Sandbox, reqwest::Client) {
        let (sb, _, http) = start_with_handle().await;
        (sb, http)
    }

    async fn start_with_handle() -> (Sandbox, Handle, reqwest::Client) {
        let handle = Handle::default();
        let core = SandboxCore::new(Journal::in_memory());
        core.set_operations(OPERATIONS);
        let profile = Arc::new(PPaaSSandbox::new(core.clone()));
        *lock(&handle.0) = Some(profile.clone());
        let sb = Sandbox::serve(core, profile, 0).await.unwrap();
        (
            sb,
            handle,
            reqwest::Client::builder().no_proxy().build().unwrap(),
        )
    }

    fn token_url(sb: &Sandbox, realm: &str) -> String {
        format!(
            "{}/auth/realms/{realm}/protocol/openid-connect/token",
            sb.base_url()
        )
    }

    async fn get_token(sb: &Sandbox, http: &reqwest::Client) -> String {
        let creds = sb.profile.credentials();
        let answer: Value = http
            .post(token_url(sb, &creds["realm"]))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &creds["client_id"]),
                ("client_secret", &creds["client_secret"]),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"].as_str().unwrap().to_owned();
        assert!(crate::report::redact::is_shaped_token(&token), "{token}");
        token
    }

    #[tokio::test]
    async fn client_credentials_in_the_form_or_basic_give_a_keycloak_token() {
        let (sb, http) = start().await;
        let creds = sb.profile.credentials();
        let r = http
            .post(token_url(&sb, &creds["realm"]))
            .basic_auth(&creds["client_id"], Some(&creds["client_secret"]))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["token_type"], "Bearer");
        assert_eq!(answer["expires_in"], 600);
        assert_eq!(answer["refresh_expires_in"], 0);
        assert!(answer["not-before-policy"].is_number());
        assert_eq!(
            answer["access_token"].as_str().unwrap().split('.').count(),
            3
        );
        let token = get_token(&sb, &http).await;
        let r = http
            .get(format!("{}/resources/v1/countries", sb.base_url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let list: Value = r.json().await.unwrap();
        assert!(list.as_array().unwrap().iter().any(|c| c["code"] == "BG"));
        let live = sb.core.journal.live();
        assert!(live[0].facts.token_issued.is_some());
        assert_eq!(
            live[2].facts.token_used.as_ref().unwrap().state,
            TokenState::Valid
        );
    }

    #[tokio::test]
    async fn bad_clients_tokens_and_garbage_get_the_api_errors_not_a_crash() {
        let (sb, http) = start().await;
        let creds = sb.profile.credentials();
        let r = http
            .post(token_url(&sb, &creds["realm"]))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &creds["client_id"]),
                ("client_secret", "wrong"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
        let r = http
            .post(token_url(&sb, &creds["realm"]))
            .body("{not a form")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
        let r = http
            .post(token_url(&sb, "other"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = http
            .post(format!(
                "{}/qrcode-payment/v1/transactions/x/events",
                sb.base_url()
            ))
            .bearer_auth("made-up")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("www-authenticate").is_some());
        let token = get_token(&sb, &http).await;
        let r = http
            .post(format!(
                "{}/qrcode-payment/v1/transactions/x/events",
                sb.base_url()
            ))
            .bearer_auth(&token)
            .body("garbage")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<Value>().await.unwrap()["errorCode"],
            "INVALID_REQUEST"
        );
        let big = vec![b'a'; crate::sandbox::MAX_REQUEST_BODY + 10];
        let r = http
            .post(token_url(&sb, "x"))
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let live = sb.core.journal.live();
        assert_eq!(
            live[3].facts.token_used.as_ref().unwrap().state,
            TokenState::Unknown
        );
        assert_eq!(
            live[5].facts.schema_errors,
            vec!["body: not JSON".to_string()]
        );
    }

    #[tokio::test]
    async fn expired_tokens_are_refused() {
        let (sb, http) = start().await;
        sb.core
            .configure_generic(json!({"token_lifetime_s": 0.05}).as_object().unwrap())
            .unwrap();
        let token = get_token(&sb, &http).await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        let r = http
            .get(format!("{}/resources/v1/countries", sb.base_url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let live = sb.core.journal.live();
        assert_eq!(
            live[1].facts.token_used.as_ref().unwrap().state,
            TokenState::Expired
        );
    }

    async fn post_event(
        sb: &Sandbox,
        http: &reqwest::Client,
        token: &str,
        id: &str,
        event: Value,
    ) -> (u16, Value) {
        let r = http
            .post(format!(
                "{}/qrcode-payment/v1/transactions/{id}/events",
                sb.base_url()
            ))
            .bearer_auth(token)
            .json(&event)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    fn event(id: &str, event_id: &str, kind: &str) -> Value {
        json!({"eventId": event_id, "eventType": kind, "clientTransactionId": id, "timestamp": "2024-05-01T12:00:00Z"})
    }

    #[tokio::test]
    async fn events_are_acknowledged_refused_as_scripted_and_judged() {
        let (sb, handle, http) = start_with_handle().await;
        let token = get_token(&sb, &http).await;
        let id = uuid::Uuid::new_v4().to_string();
        // A transaction PPaaS never forwarded.
        let (status, body) =
            post_event(&sb, &http, &token, &id, event(&id, "e0", "QR_CODE_SCANNED")).await;
        assert_eq!(
            (status, body["errorCode"].as_str()),
            (404, Some("TRANSACTION_NOT_FOUND"))
        );
        // Stand in for the webhook step: the sandbox now knows the transaction.
        handle.register(&id);
        sb.profile
            .begin_scenario(json!({"ack": {"fail_first": 2}}).as_object().unwrap())
            .unwrap();
        let (s1, b1) =
            post_event(&sb, &http, &token, &id, event(&id, "e1", "QR_CODE_SCANNED")).await;
        let (s2, _) =
            post_event(&sb, &http, &token, &id, event(&id, "e1", "QR_CODE_SCANNED")).await;
        let (s3, b3) = post_event(&sb, &http, &token, &id, json!({"eventId": "e1", "eventType": "QR_CODE_SCANNED", "clientTransactionId": id, "timestamp": "2024-05-01T12:00:00+02:00", "note": 1})).await;
        assert_eq!((s1, s2, s3), (500, 500, 200));
        assert_eq!(b1["errorCode"], "INTERNAL_ERROR");
        assert_eq!(b3["status"], "ACKNOWLEDGED");
        assert_eq!(b3["unrecognizedFields"], json!(["note"]));
        // A timestamp without a zone, a body about another transaction: 400.
        let (s4, _) = post_event(&sb, &http, &token, &id, json!({"eventId": "e2", "eventType": "PAYMENT_SUCCEEDED", "clientTransactionId": "other", "timestamp": "2024-05-01T12:00:00"})).await;
        assert_eq!(s4, 400);
        let live = sb.core.journal.live();
        let events: Vec<_> = live
            .iter()
            .filter(|e| e.operation() == Some(OP_EVENT))
            .collect();
        assert_eq!(
            events[1].facts.injected.as_deref(),
            Some("ack refused 500 (#1)")
        );
        assert_eq!(events[1].facts.event_id.as_deref(), Some("e1"));
        assert_eq!(events[1].facts.payment.as_deref(), Some(id.as_str()));
        assert_eq!(
            events[1].facts.payment_state.as_deref(),
            Some("QR_CODE_SCANNED")
        );
        assert_eq!(
            events[3].facts.unrecognized_fields,
            vec!["note".to_string()]
        );
        assert_eq!(
            events[4].facts.schema_errors.len(),
            2,
            "{:?}",
            events[4].facts.schema_errors
        );

        sb.profile
            .configure(json!({"ack": "never"}).as_object().unwrap())
            .unwrap();
        for _ in 0..3 {
            let (s, _) = post_event(
                &sb,
                &http,
                &token,
                &id,
                event(&id, "e9", "PAYMENT_SUCCEEDED"),
            )
            .await;
            assert_eq!(s, 500);
        }
    }

    #[tokio::test]
    async fn a_suite_reads_the_events_api_its_own_way_and_unserved_calls_are_named() {
        let (sb, handle, http) = start_with_handle().await;
        let token = get_token(&sb, &http).await;
        let id = uuid::Uuid::new_v4().to_string();
        handle.register(&id);
        // golive's reading: the event of another reading is not served, and says so.
        let url = format!("{}/events/v1/events", sb.base_url());
        let other = json!({"id": "e1", "type": "SCANNED", "transactionId": id, "timestamp": "2024-05-01T12:00:00Z"});
        let r = http
            .post(&url)
            .bearer_auth(&token)
            .json(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let answer: Value = r.json().await.unwrap();
        assert_eq!(
            answer["error"],
            "POST /events/v1/events is not an operation of this sandbox"
        );
        assert_eq!(answer["operations"][0]["path"], inferred::EVENTS_PATH);
        let live = sb.core.journal.live();
        let unserved = live.last().unwrap();
        assert_eq!(unserved.operation(), Some("unknown"));
        assert!(unserved.facts.unserved.as_ref().unwrap()[0].contains("the PPaaS events operation"));
        // A wrong method on a served path is unserved too, not a bare 405.
        let r = http
            .delete(format!("{}/resources/v1/countries", sb.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);

        // The suite's reading: no id in the path, other field names and event types.
        let reading = json!({"events_api": {
            "path": "/events/v1/events",
            "fields": {"event_id": "id", "event_type": "type", "client_transaction_id": "transactionId"},
            "event_types": {"in_progress": ["SCANNED"], "terminal": ["PAID", "DECLINED"]},
        }});
        PPaaS.parse_step(StepKind::Sandbox, &reading).unwrap();
        sb.profile
            .begin_scenario(reading.as_object().unwrap())
            .unwrap();
        let r = http
            .post(&url)
            .bearer_auth(&token)
            .json(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let answer: Value = r.json().await.unwrap();
        assert_eq!(
            (answer["id"].as_str(), answer["transactionId"].as_str()),
            (Some("e1"), Some(id.as_str()))
        );
        let golive_reading = event(&id, "e2", "PAYMENT_SUCCEEDED");
        let (status, body) = post_event(&sb, &http, &token, &id, golive_reading).await;
        assert_eq!(
            (status, body["operations"][0]["path"].as_str()),
            (404, Some("/events/v1/events"))
        );
        let (status, _) = post_event_at(&http, &url, &token, json!({"id": "e3", "type": "PAYMENT_SUCCEEDED", "transactionId": id, "timestamp": "2024-05-01T12:00:00Z"})).await;
        assert_eq!(status, 400, "an event type outside the suite's list");
        let live = sb.core.journal.live();
        let events: Vec<_> = live
            .iter()
            .filter(|e| e.operation() == Some(OP_EVENT))
            .collect();
        assert_eq!(events[0].facts.payment_state.as_deref(), Some("SCANNED"));
        assert_eq!(events[0].facts.event_id.as_deref(), Some("e1"));
        assert_eq!(events[0].facts.payment.as_deref(), Some(id.as_str()));
        assert!(
            events[1].facts.schema_errors[0].starts_with("type:"),
            "{:?}",
            events[1].facts.schema_errors
        );

        // The next scenario without an override is back to golive's reading.
        sb.profile.begin_scenario(&serde_json::Map::new()).unwrap();
        let (status, _) = post_event(
            &sb,
            &http,
            &token,
            &id,
            event(&id, "e4", "PAYMENT_SUCCEEDED"),
        )
        .await;
        assert_eq!(status, 200);
    }

    /// Posts an event to a path of the suite's reading.
    async fn post_event_at(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        event: Value,
    ) -> (u16, Value) {
        let r = http
            .post(url)
            .bearer_auth(token)
            .json(&event)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    #[test]
    fn a_reading_of_the_events_api_that_cannot_be_served_is_refused_before_the_run() {
        let bad = |api: Value| {
            PPaaS
                .parse_step(StepKind::Sandbox, &json!({"events_api": api}))
                .unwrap_err()
        };
        assert!(bad(json!({"method": "GET"})).contains("not POST, PUT or PATCH"));
        assert!(bad(json!({"path": "events"})).contains("starting with `/`"));
        assert!(bad(json!({"path": "/e/{id}"}))
            .contains("neither a name nor `{client_transaction_id}`"));
        assert!(bad(json!({"fields": {"event_type": "eventId"}})).contains("same name"));
        assert!(bad(json!({"event_types": {"terminal": []}})).contains("at least one"));
        assert!(
            bad(json!({"event_types": {"in_progress": ["A"], "terminal": ["A"]}}))
                .contains("twice")
        );
        assert!(bad(json!({"paths": "/x"})).contains("unknown field"));
        assert_eq!(EventsEndpoint::inferred().api, EventsApi::default());
    }

    #[test]
    fn the_webhook_body_is_valid_against_its_published_schema() {
        let sb = PPaaSSandbox::new(SandboxCore::new(Journal::in_memory()));
        let p: QrPayment =
            serde_json::from_value(json!({"extra_fields": {"loyalty": {"programme": "x"}}}))
                .unwrap();
        let body = sb.webhook_body(&p, &uuid::Uuid::new_v4().to_string(), "order-1");
        let f = sb.schemas.check(OP_QRCODE_PAYMENT, &body);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(body["paymentAmount"]["amount"], 2000);
        assert_eq!(body["loyalty"]["programme"], "x");
        assert_eq!(body["merchantId"], "MERCHANT-GOLIVE-0001");
    }

    #[test]
    fn answers_are_judged_for_the_terminal() {
        let sb = PPaaSSandbox::new(SandboxCore::new(Journal::in_memory()));
        let ok = json!({"clientTransactionId": "t1", "qrCode": {"type": "PAYLOAD", "value": "sp://pay/t1"}, "extra": 1});
        let (errors, unrecognized) = sb.judge_answer(200, ok.to_string().as_bytes(), "t1");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(unrecognized, vec!["extra".to_string()]);
        let image = json!({"clientTransactionId": "t1", "qrCode": {"type": "IMAGE", "value": "https://not-a-data-url"}});
        assert_eq!(
            sb.judge_answer(201, image.to_string().as_bytes(), "t1")
                .0
                .len(),
            1
        );
        let other = json!({"clientTransactionId": "t2", "qrCode": {"type": "URL", "value": "https://sp/t2"}});
        assert!(
            sb.judge_answer(200, other.to_string().as_bytes(), "t1").0[0].contains("asked about")
        );
        assert_eq!(
            sb.judge_answer(200, b"<html>", "t1").0,
            vec!["the answer is not JSON".to_string()]
        );
        // Where the seed is silent, every careful reading passes: the QR code as a plain
        // string, an object without a type, the id under another name.
        for lenient in [
            json!({"clientTransactionId": "t1", "qrCode": "REFSP:1:t1:2000"}),
            json!({"clientTransactionId": "t1", "qrCode": {"value": "sp://pay/t1"}}),
            json!({"transactionId": "t1", "qrCode": "https://sp/qr/t1"}),
            json!({"transaction": {"id": "t1"}, "qrCode": "sp://pay/t1"}),
        ] {
            let (errors, _) = sb.judge_answer(200, lenient.to_string().as_bytes(), "t1");
            assert!(errors.is_empty(), "{lenient}: {errors:?}");
        }
        // Still refused: no QR code, an empty one, no transaction id, a number for a code.
        for (bad, why) in [
            (json!({"clientTransactionId": "t1"}), "qrCode"),
            (json!({"clientTransactionId": "t1", "qrCode": ""}), "qrCode"),
            (json!({"qrCode": "sp://pay/x"}), "does not carry"),
            (json!({"clientTransactionId": "t1", "qrCode": 7}), "qrCode"),
            (
                json!({"qr_code_url": "https://sp/qr/x", "ok": true}),
                "qrCode",
            ),
        ] {
            let (errors, _) = sb.judge_answer(200, bad.to_string().as_bytes(), "t1");
            assert!(
                errors.iter().any(|e| e.contains(why)),
                "{bad}: expected `{why}` in {errors:?}"
            );
        }
        assert!(sb.judge_answer(400, b"<html>", "t1").0.is_empty());
    }

    #[test]
    fn steps_and_settings_are_validated() {
        let p = PPaaS;
        assert!(p
            .parse_step(
                StepKind::Provider,
                &json!({"qrcode_payment": {"amount": 100}})
            )
            .is_ok());
        assert!(p
            .parse_step(StepKind::Provider, &json!({"qrcode_payment": {"amt": 100}}))
            .is_err());
        assert!(p
            .parse_step(StepKind::Shopper, &json!({"consumer": "pays"}))
            .is_ok());
        assert!(p
            .parse_step(StepKind::Shopper, &json!({"consumer": "dances"}))
            .is_err());
        assert!(p
            .parse_step(StepKind::Sandbox, &json!({"ack": "never"}))
            .is_ok());
        assert!(p
            .parse_step(StepKind::Sandbox, &json!({"ack": {"fail_first": 2}}))
            .is_ok());
        assert!(p
            .parse_step(StepKind::Sandbox, &json!({"ack": "sometimes"}))
            .is_err());
    }

    #[test]
    fn the_correlation_table_reads() {
        crate::sandbox::operation::check_table(OPERATIONS).unwrap();
    }
}
