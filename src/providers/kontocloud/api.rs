//! KontoCloud's simulated API: the profile's state, the prologue every JSON call goes through,
//! and its two JSON operations (1.45 Issue Token, 1.41 Get Payment Status). The envelope their
//! answers share is in `envelope`, the e-wallet's pages in `ewallet`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequest, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::steps::{PaymentScript, SandboxSettings};
use super::{date_and_time, OPERATIONS, OP_ISSUE_TOKEN, OP_PAYMENT_STATUS};
use super::{envelope, ewallet};
use crate::journal::{Facts, IssuedToken, TokenState};
use crate::sandbox::request_schema::{query_object, OperationSchemas, RequestFindings};
use crate::sandbox::tokens::TokenBook;
use crate::sandbox::{
    lock, profile_settings, random_text, Auth, Dispatch, FactsExt, Fault, ProviderSandbox, Routes,
    SandboxCore,
};

/// The error code KontoCloud answers an injected fault with when the suite names none.
const SERVER_ERROR: &str = "0099";

#[derive(Debug, Clone)]
pub(super) struct Payment {
    pub unique_reference: String,
    pub merchant_transaction_id: String,
    pub amount: f64,
    pub currency: String,
    pub status: String,
}

/// An e-wallet visit: the fields the shop sent, until the shopper pays or not.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub fields: BTreeMap<String, String>,
}

pub(super) struct ApiState {
    /// Issued tokens → when they were issued; expired ones swept (see [`TokenBook`]).
    pub tokens: TokenBook<f64>,
    pub sessions: HashMap<String, Session>,
    pub payments: HashMap<String, Payment>,
    pub script: PaymentScript,
    pub last_payment: Option<String>,
    pub callback_url: Option<String>,
}

pub struct KontoCloudSandbox {
    pub(super) core: Arc<SandboxCore>,
    user_id: String,
    password: String,
    schemas: OperationSchemas,
    pub(super) state: Mutex<ApiState>,
}

impl KontoCloudSandbox {
    pub(super) fn new(core: Arc<SandboxCore>) -> Self {
        KontoCloudSandbox {
            core,
            user_id: "golive-merchant-01".into(),
            password: format!("sbx-{}", random_text(20)),
            schemas: OperationSchemas::of(OPERATIONS),
            state: Mutex::new(ApiState {
                tokens: TokenBook::new(),
                sessions: HashMap::new(),
                payments: HashMap::new(),
                script: PaymentScript::default(),
                last_payment: None,
                callback_url: None,
            }),
        }
    }

    /// Checks a request's fields against the operation's schema; what it found, also noted in
    /// the facts.
    pub(super) fn check(
        &self,
        operation: &str,
        fields: &Value,
        facts: &mut Facts,
    ) -> RequestFindings {
        let findings = self.schemas.check(operation, fields);
        facts.unrecognized_fields = findings.unrecognized.clone();
        facts.schema_errors = findings.errors.clone();
        findings
    }

    /// The prologue of every JSON call: the schema check, the partnerReference its answers
    /// echo, the X-Auth-Token when the operation takes one (by the operation table). The call
    /// to answer, or the answer that ends it; a fault the scenario injected comes after
    /// ([`KontoCloudSandbox::serve_fault`]).
    ///
    /// Not async: a handler that awaited it held its call (the facts, the fields) and a timer
    /// in its future, which axum moves into a box for every request; they were a third of the
    /// copying a Get Payment Status does (perf).
    // The answer that ends a call is returned as it is: boxing it would be an allocation a
    // call to spare a move.
    #[allow(clippy::result_large_err)]
    fn begin(
        &self,
        operation: &'static str,
        fields: Value,
        mut facts: Facts,
        headers: &HeaderMap,
    ) -> Result<Call, Response> {
        let findings = self.check(operation, &fields, &mut facts);
        let partner_reference = fields
            .get("partnerReference")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut call = Call {
            facts,
            fields,
            partner_reference,
            findings,
        };
        let takes_token = OPERATIONS
            .iter()
            .any(|op| op.name == operation && matches!(op.auth, Auth::Token(_)));
        if takes_token {
            if let Some((code, description)) = self.authenticate(headers, &mut call.facts) {
                return Err(call.refuse(StatusCode::UNAUTHORIZED, code, description));
            }
        }
        Ok(call)
    }

    /// A fault the scenario injected for this call, served: after its delay, the call goes
    /// on (`then_succeed`) or its answer is the fault's. Awaited boxed, where one is pending.
    async fn serve_fault(&self, fault: Fault, mut call: Call) -> Result<Call, Response> {
        match self
            .core
            .serve_fault(fault, &mut call.facts, SERVER_ERROR)
            .await
        {
            Some(fault) => Err(call.refuse(
                fault.status,
                &fault.code_or(SERVER_ERROR),
                "Unexpected server error occurred.",
            )),
            None => Ok(call),
        }
    }

    /// Judges the X-Auth-Token (noted in the facts); KontoCloud's code and description when it
    /// is not valid.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        facts: &mut Facts,
    ) -> Option<(&'static str, &'static str)> {
        let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
        let now = self.core.now_ms();
        let (used, _) = lock(&self.state).tokens.judge(token, now);
        let state = used.state;
        facts.token_used = Some(used);
        match state {
            TokenState::Valid => None,
            TokenState::Missing => Some(("0001", "Required parameter missing: X-Auth-Token.")),
            TokenState::Expired => Some(("0002", "Invalid parameter: X-Auth-Token has expired.")),
            TokenState::Unknown => Some(("0002", "Invalid parameter: X-Auth-Token.")),
        }
    }
}

/// A JSON call past its prologue: what its answer carries.
struct Call {
    /// Journaled with the answer.
    facts: Facts,
    /// The request's fields (the JSON body, or the query as an object).
    fields: Value,
    /// Echoed in every answer.
    partner_reference: Option<String>,
    findings: RequestFindings,
}

impl Call {
    /// An answer to the request as read: it lists the fields KontoCloud did not recognise.
    fn answer(
        self,
        status: StatusCode,
        code: &str,
        description: &str,
        body: Map<String, Value>,
    ) -> Response {
        envelope::answer(
            status,
            self.partner_reference.as_deref(),
            code,
            description,
            &self.findings.unrecognized,
            &body,
        )
        .facts(self.facts)
    }

    fn success(self, body: Map<String, Value>) -> Response {
        self.answer(StatusCode::OK, "0000", "Successful execution", body)
    }

    fn error(self, status: StatusCode, code: &str, description: &str) -> Response {
        self.answer(status, code, description, Map::new())
    }

    /// The answer to fields the schema rejects.
    fn badly_formatted(self) -> Response {
        let description = format!(
            "Required parameter missing or badly formatted: {}",
            self.findings.errors.join("; ")
        );
        self.error(StatusCode::BAD_REQUEST, "0001", &description)
    }

    /// An answer given before the fields are looked at (a refused token, an injected fault):
    /// it lists no unrecognised fields.
    fn refuse(self, status: StatusCode, code: &str, description: &str) -> Response {
        envelope::answer(
            status,
            self.partner_reference.as_deref(),
            code,
            description,
            &[],
            &Map::new(),
        )
        .facts(self.facts)
    }
}

/// 1.45 Issue Token.
async fn issue_token(
    State(sb): State<Arc<KontoCloudSandbox>>,
    Path(user_id): Path<String>,
    mut request: axum::extract::Request,
) -> Response {
    // The headers are moved out rather than extracted: axum's `HeaderMap` extractor clones the
    // whole map, which was 1% of a request's CPU.
    let headers = std::mem::take(request.headers_mut());
    let body = match axum::body::Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let mut facts = Facts::of(OP_ISSUE_TOKEN);
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        facts.schema_errors = vec!["body: not JSON".into()];
        return envelope::answer(
            StatusCode::BAD_REQUEST,
            None,
            "0001",
            "Request body is not valid JSON.",
            &[],
            &Map::new(),
        )
        .facts(facts);
    };
    let call = match sb.begin(OP_ISSUE_TOKEN, json, facts, &headers) {
        Ok(call) => call,
        Err(answer) => return answer,
    };
    let mut call = match sb.core.take_fault(OP_ISSUE_TOKEN) {
        None => call,
        Some(fault) => match Box::pin(sb.serve_fault(fault, call)).await {
            Ok(call) => call,
            Err(answer) => return answer,
        },
    };
    if user_id != sb.user_id {
        return call.error(StatusCode::NOT_FOUND, "0018", "Unknown user.");
    }
    let password = call.fields.get("password").and_then(Value::as_str);
    let (given, right) = (password.is_some(), password == Some(sb.password.as_str()));
    if !given || !call.findings.errors.is_empty() {
        return call.badly_formatted();
    }
    if !right {
        return call.error(
            StatusCode::UNAUTHORIZED,
            "0002",
            "Invalid parameter: password.",
        );
    }
    let token = format!("kc.{}", random_text(48));
    let lifetime = sb.core.token_lifetime_s();
    let now = sb.core.now_ms();
    let expires = now + lifetime * 1000.0;
    let print = lock(&sb.state).tokens.issue(&token, expires, now, now);
    // Checked: a lifetime no calendar can hold (a suite mistake that got past validation)
    // must not panic the handler; the token then says it is valid for as long as can be written.
    let valid_until = time::Duration::checked_seconds_f64(lifetime)
        .and_then(|d| time::OffsetDateTime::now_utc().checked_add(d))
        .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    call.facts.token_issued = Some(IssuedToken {
        fingerprint: print,
        lifetime_s: lifetime,
        expires_at_ms: expires,
    });
    let mut body = Map::new();
    body.insert("token".into(), Value::String(token));
    body.insert("validUntil".into(), json!(valid_until));
    call.success(body)
}

/// 1.41 Get Payment Status.
async fn payment_status(
    State(sb): State<Arc<KontoCloudSandbox>>,
    Path(unique_reference): Path<String>,
    RawQuery(query): RawQuery,
    // The request rather than a `HeaderMap`: that extractor clones the whole map.
    request: axum::extract::Request,
) -> Response {
    let headers = request.headers();
    let facts = Facts {
        payment: Some(unique_reference.clone()),
        ..Facts::of(OP_PAYMENT_STATUS)
    };
    let fields = query_object(query.as_deref());
    let call = match sb.begin(OP_PAYMENT_STATUS, fields, facts, headers) {
        Ok(call) => call,
        Err(answer) => return answer,
    };
    let mut call = match sb.core.take_fault(OP_PAYMENT_STATUS) {
        None => call,
        Some(fault) => match Box::pin(sb.serve_fault(fault, call)).await {
            Ok(call) => call,
            Err(answer) => return answer,
        },
    };
    if !call.findings.errors.is_empty() {
        return call.badly_formatted();
    }
    let payment = lock(&sb.state).payments.get(&unique_reference).cloned();
    let Some(p) = payment else {
        return call.error(
            StatusCode::BAD_REQUEST,
            "0002",
            "Invalid parameter: uniqueReference.",
        );
    };
    call.facts.payment_state = Some(p.status.clone());
    call.facts.order = Some(p.merchant_transaction_id.clone());
    let (sys_date, sys_time) = date_and_time(0);
    let local_date = call
        .fields
        .get("localDate")
        .cloned()
        .unwrap_or(json!(sys_date));
    let local_time = call
        .fields
        .get("localTime")
        .cloned()
        .unwrap_or(json!(sys_time));
    let body = json!({
        "uniqueReference": p.unique_reference,
        "initiatorAccno": "123456",
        "initiatorName": "golive sandbox shopper",
        "accno": "MERCHANT-GOLIVE-01",
        "presentationAmount": p.amount,
        "presentationCurrCode": p.currency,
        "presentationUsage": format!("Order {}", p.merchant_transaction_id),
        "customerFullName": "Jacob Smith",
        "addr1": "Anystreet",
        "houseNumber": "321",
        "city": "Anycity",
        "state": "",
        "country": "Germany",
        "postCode": "12345",
        "statusCode": p.status,
        "statusReason": "",
        "localDate": local_date,
        "localTime": local_time,
    });
    let Value::Object(body) = body else {
        unreachable!("a JSON object literal")
    };
    call.success(body)
}

impl ProviderSandbox for KontoCloudSandbox {
    fn dispatch(self: Arc<Self>) -> Dispatch {
        let api = Routes::new(OPERATIONS)
            .answer(OP_ISSUE_TOKEN, issue_token)
            .answer(OP_PAYMENT_STATUS, payment_status);
        ewallet::pages(api).with_state(self)
    }

    fn credentials(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("user_id".to_string(), self.user_id.clone()),
            ("password".to_string(), self.password.clone()),
        ])
    }

    fn begin_scenario(&self, defaults: &Map<String, Value>) -> Result<(), String> {
        {
            let mut st = lock(&self.state);
            st.script = PaymentScript::default();
            st.last_payment = None;
            st.callback_url = None;
        }
        self.configure(defaults)
    }

    fn configure(&self, settings: &Map<String, Value>) -> Result<(), String> {
        let s: SandboxSettings = profile_settings(settings)?;
        if let Some(p) = s.payment {
            lock(&self.state).script = p;
        }
        Ok(())
    }
}
