//! PPaaS's simulated API: the state of one run, the answer envelopes (Keycloak's OAuth errors,
//! the events API's inferred one), the handlers of the operations the sandbox answers (token,
//! countries, events), the router and `impl ProviderSandbox`. The journeys golive plays as
//! PPaaS and the consumer are in `actors`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use super::events_api::{EventsApi, EventsEndpoint};
use super::steps::{AckMode, AckScript, SandboxSettings};
use super::{inferred, OPERATIONS, OP_COUNTRIES, OP_EVENT, OP_TOKEN};
use crate::journal::{Facts, TokenState};
use crate::sandbox::request_schema::{
    form_fields, OperationSchemas, RequestFindings, RequestSchema,
};
use crate::sandbox::tokens::TokenBook;
use crate::sandbox::{
    lock, profile_settings, Dispatch, FactsExt, ProviderSandbox, Routes, SandboxCore,
};

/// A QR code payment PPaaS forwarded in this run.
#[derive(Debug, Clone)]
pub(super) struct Transaction {
    /// Whether the terminal could display the service provider's answer.
    pub(super) displayed: bool,
    /// Why not, when it could not.
    pub(super) problem: Option<String>,
}

pub(super) struct State_ {
    tokens: TokenBook<()>,
    pub(super) transactions: HashMap<String, Transaction>,
    ack: AckScript,
    acks_refused: u32,
    pub(super) webhook_timeout_s: f64,
    /// The scenario's last QR code payment, for the consumer to scan.
    pub(super) last_transaction: Option<String>,
    /// The events API as the suite reads it.
    events: Arc<EventsEndpoint>,
}

impl State_ {
    /// Whether the scenario's acknowledgement script refuses this event: the status and how
    /// many it refused so far, this one included.
    fn refuse_ack(&mut self) -> Option<(u16, u32)> {
        let refuse = match self.ack {
            AckScript::Mode(AckMode::Always) => None,
            AckScript::Mode(AckMode::Never) => Some(500),
            AckScript::FailFirst { fail_first, status } => {
                (self.acks_refused < fail_first).then_some(status)
            }
        };
        if refuse.is_some() {
            self.acks_refused += 1;
        }
        refuse.map(|s| (s, self.acks_refused))
    }
}

pub struct PPaaSSandbox {
    pub(super) core: Arc<SandboxCore>,
    realm: String,
    client_id: String,
    client_secret: String,
    pub(super) schemas: OperationSchemas,
    pub(super) answer_schema: RequestSchema,
    pub(super) state: Mutex<State_>,
}

/// A JWT-shaped access token, like Keycloak's (the signature is random: nobody verifies it
/// but the sandbox, which keeps the tokens it issued).
pub(super) fn jwt(claims: Value) -> String {
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
    pub(super) fn new(core: Arc<SandboxCore>) -> Self {
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
        let token = authorization(headers, "bearer");
        let now = self.core.now_ms();
        let (used, _) = lock(&self.state).tokens.judge(token.as_deref(), now);
        let state = used.state;
        facts.token_used = Some(used);
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

    /// Why the token operation refuses a call, in Keycloak's words; `None`: it issues a token.
    fn token_refusal(
        &self,
        realm: &str,
        headers: &HeaderMap,
        form: &BTreeMap<String, String>,
    ) -> Option<Response> {
        if realm != self.realm {
            let unknown = Json(json!({"error": "Realm does not exist"}));
            return Some((StatusCode::NOT_FOUND, unknown).into_response());
        }
        let Some(grant) = form.get("grant_type") else {
            return Some(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing form parameter: grant_type",
            ));
        };
        let (client_id, secret) = self.client_of(headers, form);
        if client_id.as_deref() != Some(self.client_id.as_str())
            || secret.as_deref() != Some(self.client_secret.as_str())
        {
            return Some(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Invalid client or Invalid client credentials",
            ));
        }
        (grant != "client_credentials").then(|| {
            oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type",
            )
        })
    }

    /// Client authentication: HTTP Basic, or client_id/client_secret in the form.
    fn client_of(
        &self,
        headers: &HeaderMap,
        form: &BTreeMap<String, String>,
    ) -> (Option<String>, Option<String>) {
        let basic = authorization(headers, "basic")
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

/// The credentials of the `Authorization` header when it uses `scheme` (any case).
fn authorization(headers: &HeaderMap, scheme: &str) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (given, rest) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim().to_owned())
}

/// What the request schema found, in the facts.
fn note_findings(facts: &mut Facts, findings: &RequestFindings) {
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
}

/// PPaaS cannot take the event now (an injected fault, the scenario's acknowledgement
/// script): the service provider is to send it again.
fn retry_later(status: StatusCode, code: &str) -> Response {
    api_error(
        status,
        code,
        "The event could not be processed; send it again later.",
    )
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

async fn token(
    State(sb): State<Arc<PPaaSSandbox>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut facts = Facts::of(OP_TOKEN);
    let text = String::from_utf8_lossy(&body);
    let (form, as_json) = form_fields(&text);
    note_findings(&mut facts, &sb.schemas.check(OP_TOKEN, &as_json));
    if let Some(fault) = sb.core.inject(OP_TOKEN, &mut facts, "unknown_error").await {
        let code = fault.code_or("unknown_error");
        return oauth_error(fault.status, &code, "Unexpected error").facts(facts);
    }
    if let Some(refusal) = sb.token_refusal(&realm, &headers, &form) {
        return refusal.facts(facts);
    }
    let lifetime = sb.core.token_lifetime_s();
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
    let issued = sb
        .core
        .issue_token(&mut lock(&sb.state).tokens, &access_token, ());
    facts.token_issued = Some(issued);
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
    let mut facts = Facts::of(OP_COUNTRIES);
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
    let call = events.read(id_in_path, &body);
    let client_transaction_id = call.client_transaction_id;
    let mut facts = Facts::of(OP_EVENT);
    facts.payment = Some(client_transaction_id.clone()).filter(|id| !id.is_empty());
    facts.payment_state = call.event_type;
    facts.event_id = call.event_id;
    if let Some(r) = sb.authenticate(&headers, &mut facts) {
        return r.facts(facts);
    }
    let Some(json) = call.json else {
        facts.schema_errors = vec!["body: not JSON".into()];
        return api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "The request body is not valid JSON.",
        )
        .facts(facts);
    };
    let findings = events.schema.check(&json);
    note_findings(&mut facts, &findings);
    facts.schema_errors.extend(call.id_mismatch);
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
    if let Some(fault) = sb.core.inject(OP_EVENT, &mut facts, "INTERNAL_ERROR").await {
        return retry_later(fault.status, &fault.code_or("INTERNAL_ERROR")).facts(facts);
    }
    let refuse = lock(&sb.state).refuse_ack();
    if let Some((status, n)) = refuse {
        facts.injected = Some(format!("ack refused {status} (#{n})"));
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return retry_later(status, "INTERNAL_ERROR").facts(facts);
    }
    let mut answer = events.acknowledgement(&json, &client_transaction_id);
    if !findings.unrecognized.is_empty() {
        answer["unrecognizedFields"] = json!(findings.unrecognized);
    }
    (StatusCode::OK, Json(answer)).facts(facts)
}

impl ProviderSandbox for PPaaSSandbox {
    fn dispatch(self: Arc<Self>) -> Dispatch {
        Routes::new(OPERATIONS)
            .answer(OP_TOKEN, token)
            .answer(OP_COUNTRIES, countries)
            // The events path is the suite's (`events_api`), so it is matched per call.
            .answer_by_settings(OP_EVENT, events_or_unserved)
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
        let s: SandboxSettings = profile_settings(settings)?;
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
