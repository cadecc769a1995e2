//! What every `/pos/v10` call goes through before its resource answers: its input read and
//! checked against the operation's schema, the client id, the Bearer token and the V10
//! headers, the fault a scenario injected, and (for the POSTs that change something) the
//! idempotency key.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{error, lock, MobilePaySandbox, Stored};
use crate::journal::{Facts, TokenState};
use crate::providers::mobilepay::{
    CLIENT_ID_HEADER, IDEMPOTENCY_HEADER, VAT_HEADER, VERSION_HEADER,
};
use crate::sandbox::request_schema::{query_object, RequestFindings};

/// What a call brings for its operation's schema.
pub(super) enum Input<'a> {
    /// Nothing (a poll, a cancel).
    Nothing,
    /// Its query string.
    Query(Option<&'a str>),
    /// Its JSON body, refused when it is not JSON.
    Json(&'a [u8]),
    /// A JSON body it may leave out (read as `{}`).
    OptionalJson(&'a [u8]),
}

/// The V10 codes for a header a call must carry exactly once: missing, invalid, duplicated;
/// and what a valid one is, said after "Invalid ... header" (if anything).
struct HeaderCodes(&'static str, &'static str, &'static str, &'static str);

const VERSION_CODES: HeaderCodes = HeaderCodes("1153", "1161", "1157", "");
const VAT_CODES: HeaderCodes = HeaderCodes("1151", "1159", "1155", "");
const KEY_CODES: HeaderCodes = HeaderCodes("1164", "1162", "1163", " (1 to 36 characters)");

impl MobilePaySandbox {
    /// The start of every `/pos/v10` handler: the operation in the facts, its input read,
    /// then [`MobilePaySandbox::admit`]. The input as JSON (`null` when it brings none).
    pub(super) async fn enter(
        &self,
        operation: &str,
        headers: &HeaderMap,
        input: Input<'_>,
        facts: &mut Facts,
    ) -> Result<Value, Response> {
        facts.operation = Some(operation.into());
        let instance = match input {
            Input::Nothing => None,
            Input::Query(query) => Some(query_object(query)),
            Input::Json(body) => Some(json_body(body, facts)?),
            Input::OptionalJson(body) if body.iter().all(u8::is_ascii_whitespace) => {
                Some(json!({}))
            }
            Input::OptionalJson(body) => Some(json_body(body, facts)?),
        };
        self.admit(operation, headers, instance.as_ref(), facts)
            .await?;
        Ok(instance.unwrap_or(Value::Null))
    }

    /// The checks after the input is read: schema findings in the facts, authorisation,
    /// injected faults, then a request the schema refuses.
    pub(super) async fn admit(
        &self,
        operation: &str,
        headers: &HeaderMap,
        instance: Option<&Value>,
        facts: &mut Facts,
    ) -> Result<(), Response> {
        facts.operation = Some(operation.into());
        let findings = instance
            .map(|i| self.schemas.check(operation, i))
            .unwrap_or_default();
        with_findings(facts, &findings);
        self.authorize(headers, facts)?;
        if let Some(r) = self.injected(operation, facts).await {
            return Err(r);
        }
        if let Some(r) = bad_request(&findings) {
            return Err(r);
        }
        Ok(())
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
        let (used, info) = lock(&self.state).tokens.judge(bearer, now);
        let valid = used.state == TokenState::Valid;
        facts.token_used = Some(used);
        if !valid {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Unauthorized: the access token is missing, unknown or expired.",
            ));
        }
        // A valid token has not expired, so it is still live in the book, with its claims.
        let token = info.expect("a valid token is live");
        if token.merchant_vat.is_some() {
            facts.token_claims = vec!["merchant_vat".into()];
        }
        single_header(headers, VERSION_HEADER, is_version, &VERSION_CODES)?;
        if token.merchant_vat.is_none() {
            single_header(headers, VAT_HEADER, is_vat, &VAT_CODES)?;
        }
        Ok(())
    }

    /// A fault the scenario injected for this operation, as MobilePay would answer it. A
    /// `then_succeed` fault only delays the real answer (the client may have given up on it).
    pub(super) async fn injected(&self, operation: &str, facts: &mut Facts) -> Option<Response> {
        let injected = self.core.inject(operation, facts, "2000").await?;
        let status = injected.status;
        let code = injected.code_or(&if status.is_server_error() {
            "2000".into()
        } else {
            status.as_u16().to_string()
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
    pub(super) fn idempotency(
        &self,
        operation: &str,
        headers: &HeaderMap,
        body: &Value,
        facts: &mut Facts,
    ) -> Result<Option<String>, Response> {
        let key = single_header(
            headers,
            IDEMPOTENCY_HEADER,
            |k| !k.is_empty() && k.chars().count() <= 36,
            &KEY_CODES,
        )?
        .to_owned();
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

    /// Keeps the answer to a request made under an idempotency key, to replay on a repeat.
    pub(super) fn remember(
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

/// The one value of a header a call must carry exactly once, or the V10 answer to a call that
/// leaves it out, sends one `valid` refuses, or sends it twice.
fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
    valid: impl Fn(&str) -> bool,
    codes: &HeaderCodes,
) -> Result<&'h str, Response> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    let HeaderCodes(missing, invalid, duplicated, valid_is) = codes;
    let (code, message) = match values.as_slice() {
        [] => (missing, format!("Missing {name} header")),
        [one] if valid(one) => return Ok(one),
        [_] => (invalid, format!("Invalid {name} header{valid_is}")),
        _ => (duplicated, format!("Duplicated {name} header")),
    };
    Err(error(StatusCode::BAD_REQUEST, code, &message))
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

pub(super) fn with_findings(facts: &mut Facts, findings: &RequestFindings) {
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
}

/// The request's JSON body, or the V10 answer to one that is not JSON.
pub(super) fn json_body(body: &[u8], facts: &mut Facts) -> Result<Value, Response> {
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
