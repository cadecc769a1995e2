//! The capture layer: every request into the sandbox, and its answer, goes to the journal.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response as AxumResponse};

use super::SandboxCore;
use crate::journal::{Actor, Body, Direction, Exchange, Facts, Request as JRequest, Response};

/// Requests larger than this are refused with 413 and recorded cut: an integration that sends
/// a 10 MB body gets a failed check, not a sandbox that runs out of memory.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// The harness marks the requests it makes to the sandbox in another role (the shopper's
/// browser, the provider's terminal) with this header; it is not recorded.
pub const ACTOR_HEADER: &str = "x-golive-actor";

/// Attaches what the profile knew about a request to its answer, for the journal.
pub fn with_facts(facts: Facts, response: impl IntoResponse) -> AxumResponse {
    let mut response = response.into_response();
    response.extensions_mut().insert(facts);
    response
}

/// `response.facts(...)` for handlers that build their answer first.
pub trait FactsExt {
    fn facts(self, facts: Facts) -> AxumResponse;
}

impl<T: IntoResponse> FactsExt for T {
    fn facts(self, facts: Facts) -> AxumResponse {
        with_facts(facts, self)
    }
}

fn headers_of(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .filter(|(k, _)| k.as_str() != ACTOR_HEADER)
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn actor_of(map: &HeaderMap) -> Actor {
    match map.get(ACTOR_HEADER).and_then(|v| v.to_str().ok()) {
        Some("browser") => Actor::Browser,
        Some("provider") => Actor::Provider,
        Some("harness") => Actor::Harness,
        _ => Actor::Integration,
    }
}

pub(crate) async fn capture(
    State(core): State<Arc<SandboxCore>>,
    request: Request,
    next: Next,
) -> AxumResponse {
    let at_ms = core.now_ms();
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let url = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let actor = actor_of(&parts.headers);
    let mut recorded = JRequest {
        method: parts.method.as_str().to_owned(),
        url,
        headers: headers_of(&parts.headers),
        body: Body::default(),
    };

    let (response, facts) = match to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(bytes) => {
            recorded.body = Body::from_bytes(&bytes);
            let request = Request::from_parts(parts, AxumBody::from(bytes));
            let mut response = next.run(request).await;
            let facts = response
                .extensions_mut()
                .remove::<Facts>()
                .unwrap_or_default();
            (response, facts)
        }
        Err(_) => {
            recorded.body = Body {
                text: String::new(),
                size: MAX_REQUEST_BODY + 1,
                truncated: true,
            };
            let answer = (
                StatusCode::PAYLOAD_TOO_LARGE,
                [("content-type", "application/json")],
                format!(
                    r#"{{"error":"request body larger than {MAX_REQUEST_BODY} bytes; the sandbox refuses it"}}"#
                ),
            )
                .into_response();
            let facts = Facts {
                schema_errors: vec![format!("request body larger than {MAX_REQUEST_BODY} bytes")],
                ..Facts::default()
            };
            (answer, facts)
        }
    };

    // Our own answers are small; read them whole to record them, then send them on.
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let recorded_response = Response {
        status: parts.status.as_u16(),
        headers: headers_of(&parts.headers),
        body: Body::from_bytes(&bytes),
    };
    let role = match (actor, &facts.operation) {
        (Actor::Integration, _) => "api".to_owned(),
        (_, Some(op)) => op.clone(),
        (_, None) => "sandbox".to_owned(),
    };
    let exchange = Exchange {
        seq: 0,
        scenario: String::new(),
        direction: Direction::ToSandbox,
        actor,
        role,
        at_ms,
        at: core.journal.wall(at_ms),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        request: recorded,
        response: Some(recorded_response),
        error: None,
        facts,
    };
    core.learn(&exchange);
    core.journal.record(exchange);
    AxumResponse::from_parts(parts, AxumBody::from(bytes))
}
