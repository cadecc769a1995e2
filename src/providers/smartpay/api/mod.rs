//! SmartPay's simulated API: the sandbox's state and credentials, what every operation checks
//! before its own answer (body, schema, authentication, injected faults), the error envelope,
//! and the router. The operations themselves: `payments` (token, checkout, status),
//! `modifications` (capture, refund, cancel) and `widget` (the shopper's widget).

mod modifications;
mod payments;
pub(crate) mod state;
mod widget;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::steps::SandboxSettings;
use super::{
    OPERATIONS, OP_CANCEL, OP_CAPTURE, OP_CREATE_CHECKOUT, OP_OAUTH_TOKEN, OP_PAYMENT_STATUS,
    OP_REFUND, OP_WIDGET_PAY, OP_WIDGET_SESSION,
};
use crate::journal::{fingerprint, Facts, TokenState, TokenUse};
use crate::sandbox::request_schema::{query_object, OperationSchemas, RequestFindings};
use crate::sandbox::{lock, Auth, Dispatch, FactsExt, ProviderSandbox, Routes, SandboxCore};
use state::ApiState;

/// The error code of an injected fault when the suite names none.
const INTERNAL_ERROR: &str = "INTERNAL_ERROR";

pub struct SmartPaySandbox {
    pub(crate) core: Arc<SandboxCore>,
    merchant_key: String,
    authentication_key: String,
    client_id: String,
    client_secret: String,
    schemas: OperationSchemas,
    pub(crate) state: Mutex<ApiState>,
}

/// An operation's answer: `Err` when it refuses the call, `Ok` when it serves it; either is
/// sent, its facts attached.
pub(crate) type Answer = Result<Response, Response>;

/// What a call brings besides its headers.
pub(crate) enum Payload<'a> {
    /// Nothing (Get Payment Status).
    Nothing,
    /// A JSON object.
    Json(&'a [u8]),
    /// A form (the OAuth token endpoint).
    Form(&'a [u8]),
}

/// A call the checks every operation makes first let through.
pub(crate) struct Admitted {
    /// Its facts so far: operation, payment, schema findings, authentication, a fault that
    /// only slowed it.
    pub(crate) facts: Facts,
    /// Its body (a form's fields as strings; `Null` without one).
    pub(crate) body: Value,
    /// What the operation's request schema found in the body.
    pub(crate) findings: RequestFindings,
}

impl SmartPaySandbox {
    pub(crate) fn new(core: Arc<SandboxCore>) -> Self {
        SmartPaySandbox {
            core,
            merchant_key: crate::sandbox::random_uuid().to_string(),
            authentication_key: format!("sbx-auth-{}", crate::sandbox::random_text(24)),
            client_id: crate::sandbox::random_text(26).to_ascii_lowercase(),
            client_secret: format!("sbx-secret-{}", crate::sandbox::random_text(32)),
            schemas: OperationSchemas::of(OPERATIONS),
            state: Mutex::new(ApiState::new()),
        }
    }

    /// What every operation does before its own answer, in this order: reads the body (a
    /// JSON object or a form) and checks it against the operation's request schema; notes
    /// `noted` (a text field of the body, under a note's name); authenticates the caller when
    /// the operation takes a token (a body that is no JSON object is refused once that is
    /// judged, so its facts tell both); serves a fault the scenario injected. `Err`: the
    /// answer to give instead, its facts attached.
    pub(crate) async fn admit(
        &self,
        operation: &'static str,
        payment: Option<&str>,
        headers: &HeaderMap,
        payload: Payload<'_>,
        noted: Option<(&str, &str)>,
    ) -> Result<Admitted, Response> {
        let mut facts = Facts {
            payment: payment.map(str::to_owned),
            ..Facts::of(operation)
        };
        let takes_token = OPERATIONS
            .iter()
            .any(|o| o.name == operation && matches!(o.auth, Auth::Token(_)));
        let body = match payload {
            Payload::Nothing => None,
            Payload::Form(bytes) => Some(query_object(Some(&String::from_utf8_lossy(bytes)))),
            Payload::Json(bytes) => match parse_json(bytes, &mut facts) {
                Ok(json) => Some(json),
                Err(r) => {
                    if takes_token {
                        let _ = self.authenticate(headers, &mut facts);
                    }
                    return Err(r.facts(facts));
                }
            },
        };
        let findings = body
            .as_ref()
            .map(|b| self.schemas.check(operation, b))
            .unwrap_or_default();
        facts.unrecognized_fields = findings.unrecognized.clone();
        facts.schema_errors = findings.errors.clone();
        if let (Some((field, note)), Some(body)) = (noted, &body) {
            if let Some(v) = body.get(field).and_then(Value::as_str) {
                facts.notes.insert(note.into(), json!(v));
            }
        }
        if takes_token {
            if let Err(r) = self.authenticate(headers, &mut facts) {
                return Err(r.facts(facts));
            }
        }
        if let Some(fault) = self
            .core
            .inject(operation, &mut facts, INTERNAL_ERROR)
            .await
        {
            let code = fault.code_or(INTERNAL_ERROR);
            let message = "An unexpected error occurred; please retry.";
            return Err(error(fault.status, &code, message, &[]).facts(facts));
        }
        Ok(Admitted {
            facts,
            body: body.unwrap_or(Value::Null),
            findings,
        })
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
            "bearer" => {
                let (used, _) = lock(&self.state).tokens.judge(Some(&credential), now);
                (used.state, used.remaining_s)
            }
            _ => (TokenState::Unknown, None),
        };
        if !scheme.is_empty() {
            facts.notes.insert("auth_scheme".into(), json!(scheme));
        }
        // Whatever the scheme, the credential's fingerprint (none when it is empty).
        facts.token_used = Some(TokenUse {
            fingerprint: (!credential.is_empty()).then(|| fingerprint(&credential)),
            state,
            remaining_s: remaining,
        });
        match state {
            TokenState::Valid => {}
            TokenState::Missing => {
                return Err(error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "The Authorization header is missing: use Basic (merchantKey:authenticationKey) or a Bearer token.", &[]))
            }
            TokenState::Expired => return Err(error(StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED", "The access token has expired.", &[])),
            TokenState::Unknown => return Err(error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "The credentials in the Authorization header are not valid.", &[])),
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
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "The X-Access-Token header is not a valid Identity Kit token.",
                    &[p],
                ));
            }
        }
        Ok(())
    }
}

/// The error envelope (inferred: SmartPay's public pages show no error body).
pub(crate) fn error(status: StatusCode, code: &str, message: &str, details: &[String]) -> Response {
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

/// A request its operation's schema refuses, with what it found.
pub(crate) fn invalid_request(errors: &[String]) -> Response {
    let message = "The request is incomplete or badly formatted.";
    error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message, errors)
}

/// A transactionId SmartPay never issued.
pub(crate) fn no_transaction() -> Response {
    let message = "No transaction with this transactionId.";
    error(StatusCode::NOT_FOUND, "TRANSACTION_NOT_FOUND", message, &[])
}

#[allow(clippy::result_large_err)]
fn parse_json(body: &[u8], facts: &mut Facts) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => {
            facts.schema_errors = vec!["body: not a JSON object".into()];
            Err(error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "The request body is not a JSON object.",
                &[],
            ))
        }
    }
}

/// Adds `unrecognizedFields` to an answer's JSON object when the request had any.
pub(crate) fn with_unrecognized(mut body: Value, unrecognized: &[String]) -> Value {
    if !unrecognized.is_empty() {
        body["unrecognizedFields"] = json!(unrecognized);
    }
    body
}

/// Whether a token looks like a JWT (three base64url parts separated by dots).
pub(crate) fn jwt_shaped(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl ProviderSandbox for SmartPaySandbox {
    fn dispatch(self: Arc<Self>) -> Dispatch {
        Routes::new(OPERATIONS)
            .answer(OP_OAUTH_TOKEN, payments::oauth_token)
            .answer(OP_CREATE_CHECKOUT, payments::create_checkout)
            .answer(OP_PAYMENT_STATUS, payments::payment_status)
            .answer(OP_CAPTURE, modifications::answer(OP_CAPTURE))
            .answer(OP_REFUND, modifications::answer(OP_REFUND))
            .answer(OP_CANCEL, modifications::answer(OP_CANCEL))
            .answer(OP_WIDGET_SESSION, widget::widget_session)
            .answer(OP_WIDGET_PAY, widget::widget_pay)
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
        let s = SandboxSettings::parse(Value::Object(settings.clone()))?;
        if let Some(seq) = s.status_sequence {
            lock(&self.state).sequence = seq;
        }
        Ok(())
    }
}
