//! MobilePay's simulated API: the state one run's sandbox keeps, the V10 error envelope, the
//! router and the `ProviderSandbox` side of it. Every `/pos/v10` call goes through the same
//! checks first (`guard`); each resource answers in its own file: the integrator token
//! (`token`), points of sale (`pos`), payments and the customer's app (`payments`), refunds
//! (`refunds`). What the provider is: the folder's `mod.rs`.

// Handlers return the API's error answer as the `Err` of their steps: an axum `Response` is
// large, but boxing every refusal would only add noise to the handlers.
#![allow(clippy::result_large_err)]

mod guard;
mod payments;
mod pos;
mod refunds;
mod token;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::steps::SandboxSettings;
use super::{
    OPERATIONS, OP_APP_APPROVE, OP_APP_REJECT, OP_PAYMENT_CANCEL, OP_PAYMENT_CAPTURE,
    OP_PAYMENT_INITIATE, OP_PAYMENT_LOOKUP, OP_PAYMENT_POLL, OP_PAYMENT_PREPARE, OP_PAYMENT_READY,
    OP_POS_CREATE, OP_POS_LOOKUP, OP_REFUND_CANCEL, OP_REFUND_CAPTURE, OP_REFUND_INITIATE,
    OP_REFUND_POLL, OP_TOKEN,
};
use crate::journal::Facts;
use crate::sandbox::request_schema::OperationSchemas;
use crate::sandbox::tokens::TokenBook;
use crate::sandbox::{
    lock, profile_settings, BoxFuture, Dispatch, FactsExt, ProviderSandbox, Routes, SandboxCore,
};
use payments::{Payment, ACTIVE};
use pos::PointOfSale;
use refunds::Refund;

#[derive(Debug, Clone)]
struct TokenInfo {
    /// The `merchant_vat` claim asked for when the token was issued.
    merchant_vat: Option<String>,
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

type Sb = State<Arc<MobilePaySandbox>>;

fn random_id() -> String {
    crate::sandbox::random_uuid().to_string()
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

/// What a handler's steps end with: the answer, or the refusal that cut them short.
type Steps<'f> = BoxFuture<'f, Result<Response, Response>>;

/// Runs a handler's steps with fresh facts: its answer, however they ended, carries the facts
/// they gathered.
async fn answering(steps: impl for<'f> FnOnce(&'f mut Facts) -> Steps<'f>) -> Response {
    let mut facts = Facts::default();
    let answer = steps(&mut facts).await;
    answer.unwrap_or_else(|refusal| refusal).facts(facts)
}

/// A `/pos/v10` call as its handler gets it: the sandbox, and the request's headers (which
/// the guard reads).
pub(super) struct PosCall {
    sb: Arc<MobilePaySandbox>,
    headers: HeaderMap,
}

impl FromRequestParts<Arc<MobilePaySandbox>> for PosCall {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        sb: &Arc<MobilePaySandbox>,
    ) -> Result<Self, Self::Rejection> {
        Ok(PosCall {
            sb: sb.clone(),
            headers: parts.headers.clone(),
        })
    }
}

impl PosCall {
    /// Answers the call: its input read and let through the guard
    /// ([`MobilePaySandbox::enter`]), then `answer` given it as JSON (`null` when the call
    /// brings none). The answer, however it ended, carries the facts gathered.
    async fn answer(
        &self,
        operation: &str,
        input: guard::Input<'_>,
        answer: impl FnOnce(Value, &mut Facts) -> Result<Response, Response>,
    ) -> Response {
        let mut facts = Facts::default();
        let answer = match self
            .sb
            .enter(operation, &self.headers, input, &mut facts)
            .await
        {
            Ok(json) => answer(json, &mut facts),
            Err(refusal) => Err(refusal),
        };
        answer.unwrap_or_else(|refusal| refusal).facts(facts)
    }
}

/// A 409 to a call the resource's state `status` does not allow (noted in the facts).
fn conflict(facts: &mut Facts, status: &str, code: &str, message: &str) -> Response {
    facts.payment_state = Some(status.to_owned());
    error(StatusCode::CONFLICT, code, message)
}

/// The [`conflict`] of a call only the states in `allowed` allow, when `status` is none of
/// them.
fn in_state(
    facts: &mut Facts,
    status: &str,
    allowed: &[&str],
    code: &str,
    message: &str,
) -> Result<(), Response> {
    if allowed.contains(&status) {
        return Ok(());
    }
    Err(conflict(facts, status, code, message))
}

/// A payment or a refund, as a handler reads it from the state by the id its path names.
trait Held: Clone {
    /// The 404's message when there is none with the id.
    const NOT_FOUND: &'static str;
    /// Moves it on to what happened by now (ms since the run started).
    fn advance(&mut self, now_ms: f64);
    /// What the exchange is about, in the facts.
    fn note(&self, facts: &mut Facts);
}

impl MobilePaySandbox {
    /// Reads a payment or a refund for a handler (`of` picks its table), moved on to now and
    /// noted in the facts; the 404 when it does not exist.
    fn held<R: Held>(
        &self,
        of: impl FnOnce(&mut ApiState) -> &mut HashMap<String, R>,
        id: &str,
        facts: &mut Facts,
    ) -> Result<R, Response> {
        let now = self.core.now_ms();
        let mut st = lock(&self.state);
        let Some(held) = of(&mut st).get_mut(id) else {
            return Err(error(StatusCode::NOT_FOUND, "404", R::NOT_FOUND));
        };
        held.advance(now);
        held.note(facts);
        Ok(held.clone())
    }
}

/// The 204 of a call that moved the resource to `status` (noted in the facts).
fn moved_to(facts: &mut Facts, status: &str) -> Result<Response, Response> {
    facts.payment_state = Some(status.to_owned());
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl MobilePaySandbox {
    pub(super) fn new(core: Arc<SandboxCore>) -> Self {
        let short = crate::sandbox::random_uuid().simple().to_string();
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

    /// A poll's facts: the state and amount it shows, and the delay it asks for (returned).
    fn polled(&self, facts: &mut Facts, status: &str, amount: f64) -> u64 {
        let poll_delay = self.poll_delay();
        facts.payment_state = Some(status.to_owned());
        facts.amount = Some(amount);
        facts.poll_delay_ms = Some(poll_delay as f64);
        poll_delay
    }
}

impl ProviderSandbox for MobilePaySandbox {
    fn dispatch(self: Arc<Self>) -> Dispatch {
        Routes::new(OPERATIONS)
            .answer(OP_TOKEN, token::issue)
            .answer(OP_POS_LOOKUP, pos::lookup)
            .answer(OP_POS_CREATE, pos::create)
            .answer(OP_PAYMENT_INITIATE, payments::initiate)
            .answer(OP_PAYMENT_PREPARE, payments::prepare)
            .answer(OP_PAYMENT_READY, payments::ready)
            .answer(OP_PAYMENT_LOOKUP, payments::lookup)
            .answer(OP_PAYMENT_POLL, payments::poll)
            .answer(OP_PAYMENT_CAPTURE, payments::capture)
            .answer(OP_PAYMENT_CANCEL, payments::cancel)
            .answer(OP_REFUND_INITIATE, refunds::initiate)
            .answer(OP_REFUND_POLL, refunds::poll)
            .answer(OP_REFUND_CAPTURE, refunds::capture)
            .answer(OP_REFUND_CANCEL, refunds::cancel)
            .answer(OP_APP_APPROVE, payments::app_approve)
            .answer(OP_APP_REJECT, payments::app_reject)
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
        let s: SandboxSettings = profile_settings(settings)?;
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
