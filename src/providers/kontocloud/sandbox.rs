//! KontoCloud's simulated API (the operations the sandbox answers) and its actors (the steps
//! golive plays as the shopper or as KontoCloud). What the provider is: the folder's `mod.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::driver::browser::{self, escape_html, Navigation};
use crate::driver::StepContext;
use crate::driver::{step_as, Act, Actors};
use crate::journal::{fingerprint, Facts, IssuedToken, TokenState, TokenUse};
use crate::providers::{Opened, Provider, StepKind};
use crate::sandbox::request_schema::{query_object, OperationSchemas};
use crate::sandbox::tokens::TokenBook;
use crate::sandbox::{
    lock, random_text, Auth, BoxFuture, Caller, FactsExt, Operation, ProviderSandbox, SandboxCore,
};
use crate::suite::ParsedStep;

pub const ID: &str = "kontocloud";

pub const OP_ISSUE_TOKEN: &str = "issue_token";
pub const OP_PAYMENT_STATUS: &str = "payment_status";
pub const OP_EWALLET: &str = "ewallet";
pub const OP_EWALLET_COMPLETE: &str = "ewallet_complete";

pub struct KontoCloud;

/// KontoCloud's API as data. Where the shop's ids travel: its order id goes to the e-wallet as
/// merchantTransactionId (through the browser, in the form or the redirect's query); the payment
/// id is the uniqueReference the e-wallet issues when the shopper pays.
pub const OPERATIONS: &[Operation] = &[
    Operation::new(
        OP_ISSUE_TOKEN,
        Caller::Integration,
        "POST",
        "/user/{user_id}/issue",
        "1.45 Issue Token",
    )
    .with_auth(Auth::Credentials("the test account's password in the body"))
    .with_schema(include_str!(
        "../../../schemas/kontocloud/issue_token.request.json"
    )),
    Operation::new(
        OP_PAYMENT_STATUS,
        Caller::Integration,
        "GET",
        "/payment/{unique_reference}/status",
        "1.41 Get Payment Status",
    )
    .with_auth(Auth::Token("X-Auth-Token"))
    .with_schema(include_str!(
        "../../../schemas/kontocloud/payment_status.query.json"
    )),
    Operation::new(
        OP_EWALLET,
        Caller::Shopper,
        "POST",
        "/ewallet",
        "the e-wallet's payment page (the shop's form, or a GET redirect)",
    )
    .with_schema(include_str!(
        "../../../schemas/kontocloud/ewallet.form.json"
    ))
    .with_order_reference(&["form:merchantTransactionId", "query:merchantTransactionId"])
    .with_note(
        "inferred: the seeds document the form's fields and the callback, not the pages between",
    ),
    Operation::new(
        OP_EWALLET_COMPLETE,
        Caller::Shopper,
        "POST",
        "/ewallet/complete",
        "the shopper pays in the e-wallet, which sends the browser back to the callBackUrl",
    )
    .with_payment_id(&["issued"])
    .with_note(
        "inferred: the seeds document the form's fields and the callback, not the pages between",
    ),
];

impl Provider for KontoCloud {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "KontoCloud (J.P. Morgan Mobility Payments e-wallet)"
    }

    fn open(&self, core: Arc<SandboxCore>) -> Opened {
        Opened::of(Arc::new(KontoCloudSandbox::new(core)))
    }

    fn reference(&self) -> &'static crate::reference::Reference {
        &super::reference::REFERENCE
    }

    fn suite(&self) -> crate::providers::BundledSuite {
        crate::providers::BundledSuite {
            file: "suites/kontocloud-go-live.yaml",
            text: include_str!("../../../suites/kontocloud-go-live.yaml"),
        }
    }

    fn parse_step(&self, kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
        match kind {
            StepKind::Shopper => {
                const EXPECTED: &str = "expected exactly one of `pay: <OK or an error text>` or `forge_callback: {...}`";
                if let Some(map) = params.as_object().filter(|m| m.len() != 1) {
                    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                    return Err(format!("{EXPECTED}; found keys {}", keys.join(", ")));
                }
                serde_json::from_value::<ShopperStep>(params.clone())
                    .map(|s| Arc::new(s) as ParsedStep)
                    .map_err(|e| format!("{e}; {EXPECTED}"))
            }
            StepKind::Sandbox => serde_json::from_value::<SandboxSettings>(params.clone())
                .map(|s| Arc::new(s) as ParsedStep)
                .map_err(|e| e.to_string()),
            StepKind::Provider => Err("KontoCloud does not call the shop on its own; the journey goes through the shopper's browser (`shopper:` steps)".into()),
        }
    }

    fn operations(&self) -> &'static [Operation] {
        OPERATIONS
    }

    fn credential_names(&self) -> &'static [&'static str] {
        &["user_id", "password"]
    }
}

/// `shopper:` steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum ShopperStep {
    /// Follow the shop's redirect to the e-wallet, pay with this result (`OK`, or an error
    /// text such as `Insufficient funds`), and come back to the callback.
    Pay(String),
    /// Post a callback the e-wallet never made.
    ForgeCallback(ForgeCallback),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgeCallback {
    #[serde(default = "ok")]
    payment_result: String,
    /// `unknown` (a reference KontoCloud never issued) or `last` (the last real payment of
    /// the scenario, whatever its status).
    #[serde(default = "unknown")]
    unique_reference: String,
}

fn ok() -> String {
    "OK".into()
}
fn unknown() -> String {
    "unknown".into()
}

/// Profile keys of `sandbox:` steps (besides the generic `token_lifetime_s` and `inject`).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct SandboxSettings {
    /// What Get Payment Status reports for payments completed from now on.
    #[serde(default)]
    payment: Option<PaymentScript>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct PaymentScript {
    /// `statusCode` to report (default: CAPTURED for Purchase, AUTHORIZED for BlockAmount).
    #[serde(default)]
    status: Option<String>,
    /// `presentationAmount` to report (default: the amount the shopper paid).
    #[serde(default)]
    amount: Option<f64>,
}

#[derive(Debug, Clone)]
struct Payment {
    unique_reference: String,
    merchant_transaction_id: String,
    amount: f64,
    currency: String,
    status: String,
}

#[derive(Debug, Clone)]
struct Session {
    fields: BTreeMap<String, String>,
}

struct State_ {
    /// Issued tokens → when they were issued; expired ones swept (see [`TokenBook`]).
    tokens: TokenBook<f64>,
    sessions: HashMap<String, Session>,
    payments: HashMap<String, Payment>,
    script: PaymentScript,
    last_payment: Option<String>,
    callback_url: Option<String>,
}

pub struct KontoCloudSandbox {
    core: Arc<SandboxCore>,
    user_id: String,
    password: String,
    schemas: OperationSchemas,
    state: Mutex<State_>,
}

/// A date and time in KontoCloud's formats (`YYYY-MM-DD`, `HHMMSS`), at an offset from UTC:
/// the sandbox's `sysDate`/`sysTime` (offset 0), and the reference shop's local time.
pub fn date_and_time(utc_offset_minutes: i64) -> (String, String) {
    let now = time::OffsetDateTime::now_utc() + time::Duration::minutes(utc_offset_minutes);
    (
        format!(
            "{:04}-{:02}-{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        ),
        format!("{:02}{:02}{:02}", now.hour(), now.minute(), now.second()),
    )
}

impl KontoCloudSandbox {
    fn new(core: Arc<SandboxCore>) -> Self {
        KontoCloudSandbox {
            core,
            user_id: "golive-merchant-01".into(),
            password: format!("sbx-{}", random_text(20)),
            schemas: OperationSchemas::of(OPERATIONS),
            state: Mutex::new(State_ {
                tokens: TokenBook::new(),
                sessions: HashMap::new(),
                payments: HashMap::new(),
                script: PaymentScript::default(),
                last_payment: None,
                callback_url: None,
            }),
        }
    }

    /// The answer envelope every KontoCloud response shares.
    fn envelope(
        &self,
        status: StatusCode,
        partner_reference: Option<&str>,
        code: &str,
        description: &str,
        unrecognized: &[String],
        mut body: serde_json::Map<String, Value>,
    ) -> Response {
        let (sys_date, sys_time) = date_and_time(0);
        let mut info = json!({ "requestId": uuid::Uuid::new_v4().simple().to_string() });
        if !unrecognized.is_empty() {
            info["unrecognizedFields"] = json!(unrecognized);
        }
        if let Some(pr) = partner_reference {
            body.insert("partnerReference".into(), json!(pr));
        }
        body.insert("sysDate".into(), json!(sys_date));
        body.insert("sysTime".into(), json!(sys_time));
        body.insert("responseCode".into(), json!(code));
        body.insert("responseDescription".into(), json!(description));
        body.insert("additionalInformation".into(), info);
        (status, Json(Value::Object(body))).into_response()
    }

    fn error(
        &self,
        status: StatusCode,
        pr: Option<&str>,
        code: &str,
        description: &str,
        unrecognized: &[String],
    ) -> Response {
        self.envelope(
            status,
            pr,
            code,
            description,
            unrecognized,
            serde_json::Map::new(),
        )
    }

    /// Checks the X-Auth-Token; the answer when it is not good enough.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        facts: &mut Facts,
        pr: Option<&str>,
    ) -> Result<(), Box<Response>> {
        let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
        let now = self.core.now_ms();
        let (state, remaining) = match token {
            None => (TokenState::Missing, None),
            Some(t) => match lock(&self.state).tokens.get(t) {
                None => (TokenState::Unknown, None),
                Some(known) => {
                    let remaining = (known.expires_ms - now) / 1000.0;
                    if remaining > 0.0 {
                        (TokenState::Valid, Some(remaining))
                    } else {
                        (TokenState::Expired, Some(remaining))
                    }
                }
            },
        };
        facts.token_used = Some(TokenUse {
            fingerprint: token.map(fingerprint),
            state,
            remaining_s: remaining,
        });
        match state {
            TokenState::Valid => Ok(()),
            TokenState::Missing => Err(Box::new(self.error(
                StatusCode::UNAUTHORIZED,
                pr,
                "0001",
                "Required parameter missing: X-Auth-Token.",
                &[],
            ))),
            TokenState::Expired => Err(Box::new(self.error(
                StatusCode::UNAUTHORIZED,
                pr,
                "0002",
                "Invalid parameter: X-Auth-Token has expired.",
                &[],
            ))),
            TokenState::Unknown => Err(Box::new(self.error(
                StatusCode::UNAUTHORIZED,
                pr,
                "0002",
                "Invalid parameter: X-Auth-Token.",
                &[],
            ))),
        }
    }

    /// A fault the scenario injected for this operation, as KontoCloud would answer it.
    async fn injected(
        &self,
        operation: &str,
        facts: &mut Facts,
        pr: Option<&str>,
    ) -> Option<Response> {
        let fault = self.core.faults.take(operation)?;
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if fault.then_succeed {
            facts.injected = Some(fault.label("0099"));
            return None;
        }
        facts.injected = Some(fault.label("0099"));
        let code = fault.code.clone().unwrap_or_else(|| "0099".into());
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Some(self.error(status, pr, &code, "Unexpected server error occurred.", &[]))
    }
}

async fn issue_token(
    State(sb): State<Arc<KontoCloudSandbox>>,
    Path(user_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_ISSUE_TOKEN.into()),
        ..Facts::default()
    };
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        facts.schema_errors = vec!["body: not JSON".into()];
        return sb
            .error(
                StatusCode::BAD_REQUEST,
                None,
                "0001",
                "Request body is not valid JSON.",
                &[],
            )
            .facts(facts);
    };
    let findings = sb.schemas.check(OP_ISSUE_TOKEN, &json);
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
    let pr = json
        .get("partnerReference")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let pr = pr.as_deref();
    if let Some(r) = sb.injected(OP_ISSUE_TOKEN, &mut facts, pr).await {
        return r.facts(facts);
    }
    if user_id != sb.user_id {
        return sb
            .error(
                StatusCode::NOT_FOUND,
                pr,
                "0018",
                "Unknown user.",
                &findings.unrecognized,
            )
            .facts(facts);
    }
    if json.get("password").and_then(Value::as_str).is_none() || !findings.errors.is_empty() {
        return sb
            .error(
                StatusCode::BAD_REQUEST,
                pr,
                "0001",
                &format!(
                    "Required parameter missing or badly formatted: {}",
                    findings.errors.join("; ")
                ),
                &findings.unrecognized,
            )
            .facts(facts);
    }
    if json.get("password").and_then(Value::as_str) != Some(sb.password.as_str()) {
        return sb
            .error(
                StatusCode::UNAUTHORIZED,
                pr,
                "0002",
                "Invalid parameter: password.",
                &findings.unrecognized,
            )
            .facts(facts);
    }
    let token = format!("kc.{}", random_text(48));
    let lifetime = sb.core.token_lifetime_s();
    let now = sb.core.now_ms();
    let expires = now + lifetime * 1000.0;
    lock(&sb.state)
        .tokens
        .issue(token.clone(), expires, now, now);
    // Checked: a lifetime no calendar can hold (a suite mistake that got past validation)
    // must not panic the handler; the token then says it is valid for as long as can be written.
    let valid_until = time::Duration::checked_seconds_f64(lifetime)
        .and_then(|d| time::OffsetDateTime::now_utc().checked_add(d))
        .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    facts.token_issued = Some(IssuedToken {
        fingerprint: fingerprint(&token),
        lifetime_s: lifetime,
        expires_at_ms: expires,
    });
    let mut body = serde_json::Map::new();
    body.insert("token".into(), json!(token));
    body.insert("validUntil".into(), json!(valid_until));
    sb.envelope(
        StatusCode::OK,
        pr,
        "0000",
        "Successful execution",
        &findings.unrecognized,
        body,
    )
    .facts(facts)
}

async fn payment_status(
    State(sb): State<Arc<KontoCloudSandbox>>,
    Path(unique_reference): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_PAYMENT_STATUS.into()),
        payment: Some(unique_reference.clone()),
        ..Facts::default()
    };
    let q = query_object(query.as_deref());
    let findings = sb.schemas.check(OP_PAYMENT_STATUS, &q);
    facts.unrecognized_fields = findings.unrecognized.clone();
    facts.schema_errors = findings.errors.clone();
    let pr = q
        .get("partnerReference")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let pr = pr.as_deref();
    if let Err(r) = sb.authenticate(&headers, &mut facts, pr) {
        return (*r).facts(facts);
    }
    if let Some(r) = sb.injected(OP_PAYMENT_STATUS, &mut facts, pr).await {
        return r.facts(facts);
    }
    if !findings.errors.is_empty() {
        return sb
            .error(
                StatusCode::BAD_REQUEST,
                pr,
                "0001",
                &format!(
                    "Required parameter missing or badly formatted: {}",
                    findings.errors.join("; ")
                ),
                &findings.unrecognized,
            )
            .facts(facts);
    }
    let payment = lock(&sb.state).payments.get(&unique_reference).cloned();
    let Some(p) = payment else {
        return sb
            .error(
                StatusCode::BAD_REQUEST,
                pr,
                "0002",
                "Invalid parameter: uniqueReference.",
                &findings.unrecognized,
            )
            .facts(facts);
    };
    facts.payment_state = Some(p.status.clone());
    facts.order = Some(p.merchant_transaction_id.clone());
    let (sys_date, sys_time) = date_and_time(0);
    let local_date = q.get("localDate").cloned().unwrap_or(json!(sys_date));
    let local_time = q.get("localTime").cloned().unwrap_or(json!(sys_time));
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
    sb.envelope(
        StatusCode::OK,
        pr,
        "0000",
        "Successful execution",
        &findings.unrecognized,
        body,
    )
    .facts(facts)
}

/// The e-wallet's landing page: what the shop's form posts through the shopper's browser.
async fn ewallet(
    State(sb): State<Arc<KontoCloudSandbox>>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    // The shop may put the fields in the form body or, for a GET redirect, in the query.
    let text = if body.is_empty() {
        query.unwrap_or_default()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let fields: BTreeMap<String, String> = form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect();
    let as_json = Value::Object(fields.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
    let findings = sb.schemas.check(OP_EWALLET, &as_json);
    let mut facts = Facts {
        operation: Some(OP_EWALLET.into()),
        order: fields.get("merchantTransactionId").cloned(),
        unrecognized_fields: findings.unrecognized,
        schema_errors: findings.errors.clone(),
        ..Facts::default()
    };
    if !findings.errors.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Html(format!(
                "<html><body><h1>KontoCloud e-wallet</h1><p>The payment request is incomplete: {}</p></body></html>",
                escape_html(&findings.errors.join("; "))
            )),
        )
            .facts(facts);
    }
    let session = random_text(16);
    {
        let mut st = lock(&sb.state);
        st.callback_url = fields.get("callBackUrl").cloned();
        st.sessions.insert(
            session.clone(),
            Session {
                fields: fields.clone(),
            },
        );
    }
    facts.notes.insert("session".into(), json!(session));
    let page = format!(
        r#"<!doctype html><html><head><title>KontoCloud e-wallet</title></head><body>
<h1>KontoCloud e-wallet</h1><p>Pay {amount} {currency} to the merchant.</p>
<form method="post" action="/ewallet/complete">
<input type="hidden" name="session" value="{session}">
<input type="hidden" name="outcome" value="OK">
<button type="submit">Pay</button></form></body></html>"#,
        amount = escape_html(fields.get("amount").map(String::as_str).unwrap_or("")),
        currency = escape_html(fields.get("currency").map(String::as_str).unwrap_or("")),
    );
    (StatusCode::OK, Html(page)).facts(facts)
}

#[derive(Deserialize)]
struct Complete {
    session: String,
    outcome: String,
}

/// The shopper pays (or fails to): the e-wallet sends the browser back to the shop.
async fn ewallet_complete(
    State(sb): State<Arc<KontoCloudSandbox>>,
    Form(form): Form<Complete>,
) -> Response {
    let mut facts = Facts {
        operation: Some(OP_EWALLET_COMPLETE.into()),
        ..Facts::default()
    };
    let Some(session) = lock(&sb.state).sessions.remove(&form.session) else {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>Unknown or finished e-wallet session.</p>".to_string()),
        )
            .facts(facts);
    };
    let f = &session.fields;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let callback = get("callBackUrl");
    let merchant_tx = get("merchantTransactionId");
    facts.order = Some(merchant_tx.clone());
    let mut url = match url::Url::parse(&callback) {
        Ok(u) => u,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Html("<p>The callBackUrl is not a URL.</p>".to_string()),
            )
                .facts(facts);
        }
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("paymentResult", &form.outcome);
        q.append_pair("merchantTransactionId", &merchant_tx);
    }
    facts.payment_state = Some(form.outcome.clone());
    if form.outcome == "OK" {
        let reference = random_text(22);
        let mut st = lock(&sb.state);
        let paid: f64 = get("amount").parse().unwrap_or(0.0);
        let block = get("paymentType") == "BlockAmount";
        let status = st.script.status.clone().unwrap_or_else(|| {
            if block {
                "AUTHORIZED".into()
            } else {
                "CAPTURED".into()
            }
        });
        let amount = st.script.amount.unwrap_or(paid);
        st.payments.insert(
            reference.clone(),
            Payment {
                unique_reference: reference.clone(),
                merchant_transaction_id: merchant_tx.clone(),
                amount,
                currency: get("currency"),
                status,
            },
        );
        st.last_payment = Some(reference.clone());
        url.query_pairs_mut()
            .append_pair("uniqueReference", &reference);
        facts.payment = Some(reference);
    }
    (StatusCode::OK, Html(auto_submit(url.as_str(), &[]))).facts(facts)
}

fn auto_submit(action: &str, fields: &[(String, String)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape_html(k),
                escape_html(v)
            )
        })
        .collect();
    format!(
        r#"<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="{}">{inputs}<noscript><button type="submit">Back to the shop</button></noscript></form></body></html>"#,
        escape_html(action)
    )
}

impl ProviderSandbox for KontoCloudSandbox {
    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/user/{user_id}/issue", post(issue_token))
            .route("/payment/{unique_reference}/status", get(payment_status))
            .route("/ewallet", post(ewallet).get(ewallet))
            .route("/ewallet/complete", post(ewallet_complete))
            .with_state(self)
    }

    fn credentials(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("user_id".to_string(), self.user_id.clone()),
            ("password".to_string(), self.password.clone()),
        ])
    }

    fn begin_scenario(&self, defaults: &serde_json::Map<String, Value>) -> Result<(), String> {
        {
            let mut st = lock(&self.state);
            st.script = PaymentScript::default();
            st.last_payment = None;
            st.callback_url = None;
        }
        self.configure(defaults)
    }

    fn configure(&self, settings: &serde_json::Map<String, Value>) -> Result<(), String> {
        let s: SandboxSettings =
            serde_json::from_value(Value::Object(settings.clone())).map_err(|e| e.to_string())?;
        if let Some(p) = s.payment {
            lock(&self.state).script = p;
        }
        Ok(())
    }
}

impl Actors for KontoCloudSandbox {
    fn act<'a>(
        &'a self,
        act: Act,
        step: &'a ParsedStep,
        ctx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if act == Act::Provider {
                return Err("KontoCloud has no provider-initiated steps".into());
            }
            match step_as::<ShopperStep>(step)? {
                ShopperStep::Pay(outcome) => self.pay(ctx, outcome).await,
                ShopperStep::ForgeCallback(forge) => self.forge(ctx, forge).await,
            }
        })
    }
}

impl KontoCloudSandbox {
    /// The shopper's journey: shop page → e-wallet → pay → back to the shop's callback.
    async fn pay(&self, ctx: &mut StepContext, outcome: &str) -> Result<(), String> {
        let to_ewallet = self.follow_shop_pages(ctx).await?;
        let landing = ctx
            .navigate(&to_ewallet, OP_EWALLET, Facts::default())
            .await?;
        if !(200..300).contains(&landing.status) {
            return Err(format!(
                "the e-wallet refused the shop's payment request ({}): {}",
                landing.status,
                browser::page_text(&landing.text(), 300)
            ));
        }
        // The e-wallet's pay page: submit it with the scripted outcome.
        let mut pay = browser::next_navigation(&landing.url, &landing)
            .ok_or("the e-wallet page has no pay form")?;
        for f in pay.fields.iter_mut() {
            if f.0 == "outcome" {
                f.1 = outcome.to_owned();
            }
        }
        let back = ctx
            .navigate(&pay, OP_EWALLET_COMPLETE, Facts::default())
            .await?;
        let to_shop = browser::next_navigation(&back.url, &back)
            .ok_or("the e-wallet did not send the browser back")?;
        let reference = url_param(&to_shop.url, "uniqueReference");
        let facts = Facts {
            payment: reference,
            payment_state: url_param(&to_shop.url, "paymentResult"),
            ..Facts::default()
        };
        ctx.navigate(&to_shop, "callback", facts).await?;
        Ok(())
    }

    /// Follows the shop's page until it sends the browser to the e-wallet (a redirect or a
    /// form, perhaps pages of the shop's own in between, at most a few hops); the navigation
    /// to the e-wallet, not yet made.
    async fn follow_shop_pages(&self, ctx: &mut StepContext) -> Result<Navigation, String> {
        let mut current = ctx
            .trigger_answer()
            .await?
            .ok_or("no shop page to follow: fire the trigger that starts the payment first")?;
        for _ in 0..=5 {
            let nav = browser::next_navigation(&current.url, &current).ok_or_else(|| {
                format!(
                    "the shop's page (answer {}) does not send the browser anywhere: expected a redirect or a form to the KontoCloud e-wallet",
                    current.status
                )
            })?;
            if nav.url.starts_with(&ctx.sandbox_url) {
                return Ok(nav);
            }
            current = ctx.navigate(&nav, "shop_page", Facts::default()).await?;
        }
        Err("the shop's pages never reached the e-wallet within 5 hops".into())
    }

    /// A callback the e-wallet never made, posted straight to the shop's callBackUrl.
    async fn forge(&self, ctx: &mut StepContext, forge: &ForgeCallback) -> Result<(), String> {
        // The shopper tampering with the URL saw the shop's pages up to the e-wallet (not the
        // e-wallet itself): the callBackUrl and the shop's order id come from there.
        let known_callback = lock(&self.state).callback_url.is_some();
        let to_ewallet = if known_callback {
            None
        } else {
            Some(self.follow_shop_pages(ctx).await?)
        };
        let callback = self.callback_url_for(to_ewallet.as_ref())?;
        let reference = match forge.unique_reference.as_str() {
            "unknown" => random_text(22),
            "last" => lock(&self.state)
                .last_payment
                .clone()
                .ok_or("no real payment in this scenario to forge a callback for")?,
            other => other.to_owned(),
        };
        let mut url = url::Url::parse(&callback)
            .map_err(|e| format!("the shop's callBackUrl `{callback}` is not a URL: {e}"))?;
        url.query_pairs_mut()
            .append_pair("paymentResult", &forge.payment_result)
            .append_pair(
                "merchantTransactionId",
                &self.order_reference_for(ctx, to_ewallet.as_ref()),
            )
            .append_pair("uniqueReference", &reference);
        let nav = Navigation {
            method: "POST".into(),
            url: url.to_string(),
            fields: Vec::new(),
        };
        let facts = Facts {
            payment: Some(reference),
            payment_state: Some(forge.payment_result.clone()),
            forged: true,
            ..Facts::default()
        };
        ctx.navigate(&nav, "forged_callback", facts).await?;
        Ok(())
    }

    /// The shop's own id for the order a forged callback names: the one it sent the e-wallet
    /// or a trigger captured, else the merchantTransactionId of the form on its last page, else
    /// golive's order id (a shop that took it).
    fn order_reference_for(&self, ctx: &StepContext, to_ewallet: Option<&Navigation>) -> String {
        if let Some(r) = ctx
            .order_reference()
            .filter(|r| Some(r) != ctx.var_str("order_id").as_ref())
        {
            return r;
        }
        to_ewallet
            .and_then(|nav| {
                nav.fields
                    .iter()
                    .find(|(k, _)| k == "merchantTransactionId")
                    .map(|(_, v)| v.clone())
                    .or_else(|| url_param(&nav.url, "merchantTransactionId"))
            })
            .or_else(|| ctx.var_str("order_id"))
            .unwrap_or_default()
    }

    /// The callBackUrl the shop gave: from the e-wallet request of this scenario, or from the
    /// shop's navigation to the e-wallet.
    fn callback_url_for(&self, to_ewallet: Option<&Navigation>) -> Result<String, String> {
        if let Some(u) = lock(&self.state).callback_url.clone() {
            return Ok(u);
        }
        let nav = to_ewallet.ok_or("the shop's pages never led to the e-wallet")?;
        nav.fields
            .iter()
            .find(|(k, _)| k == "callBackUrl")
            .map(|(_, v)| v.clone())
            .or_else(|| url_param(&nav.url, "callBackUrl"))
            .ok_or_else(|| "the shop's redirect to the e-wallet carries no callBackUrl".into())
    }
}

fn url_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;
    use crate::sandbox::Sandbox;

    async fn start() -> (Sandbox, reqwest::Client) {
        let sb = crate::providers::start(&KontoCloud, Journal::in_memory(), 0)
            .await
            .unwrap()
            .0;
        (sb, reqwest::Client::new())
    }

    /// A client that gives up (times out and closes) does not cancel the request: the sandbox
    /// finishes it as the real API would, its effect stands (the token was issued) and the
    /// journal says the client left. A client that waits gets no such mark.
    #[tokio::test]
    async fn a_request_the_client_abandoned_is_finished_and_journaled_as_abandoned() {
        let (sb, http) = start().await;
        sb.core.faults.add(crate::sandbox::Fault {
            operation: "issue_token".into(),
            status: 500,
            code: None,
            times: Some(1),
            delay_ms: Some(400),
            then_succeed: true,
        });
        let creds = sb.profile.credentials();
        let url = format!("{}/user/{}/issue", sb.base_url(), creds["user_id"]);
        let body = json!({"password": creds["password"], "partnerReference": "p1", "localDate": "2024-01-01", "localTime": "120000"});
        let gave_up = http
            .post(&url)
            .json(&body)
            .timeout(std::time::Duration::from_millis(100))
            .send()
            .await;
        assert!(gave_up.is_err(), "the client should have timed out");
        let mut abandoned = None;
        for _ in 0..100 {
            if let Some(ex) = sb.core.journal.live().into_iter().next() {
                abandoned = Some(ex);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let ex = abandoned.expect("the abandoned request is journaled");
        assert_eq!(ex.response.as_ref().unwrap().status, 200);
        assert!(
            ex.facts.token_issued.is_some(),
            "the token was issued all the same"
        );
        assert!(ex.facts.abandoned);
        assert!(ex.error.as_ref().unwrap().contains("closed the connection"));

        let waited = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(waited.status(), 200);
        // Once each: the abandoned request is not also journaled as one cut short.
        let journal = sb.core.journal.live();
        assert_eq!(journal.len(), 2, "{journal:?}");
        assert!(!journal[1].facts.abandoned);
    }

    #[tokio::test]
    async fn issue_token_then_status_of_an_unknown_payment() {
        let (sb, http) = start().await;
        let creds = sb.profile.credentials();
        let url = format!("{}/user/{}/issue", sb.base_url(), creds["user_id"]);
        let answer: Value = http
            .post(&url)
            .json(&json!({"password": creds["password"], "partnerReference": "p1", "localDate": "2024-01-01", "localTime": "120000", "extra": 1}))
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["responseCode"], "0000");
        assert_eq!(answer["partnerReference"], "p1");
        assert_eq!(
            answer["additionalInformation"]["unrecognizedFields"],
            json!(["extra"])
        );
        let token = answer["token"].as_str().unwrap();
        // Reports recognise the sandbox's tokens by their shape (nothing is stored per token).
        assert!(crate::report::redact::is_shaped_token(token), "{token}");
        let r = http
            .get(format!(
                "{}/payment/NOPE/status?partnerReference=p2&localDate=2024-01-01&localTime=120000",
                sb.base_url()
            ))
            .header("X-Auth-Token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["responseCode"], "0002");
        assert!(body["additionalInformation"]["requestId"].is_string());
        let live = sb.core.journal.live();
        assert_eq!(live.len(), 2);
        assert!(live[0].facts.token_issued.is_some());
        assert_eq!(
            live[1].facts.token_used.as_ref().unwrap().state,
            TokenState::Valid
        );
    }

    /// A lifetime beyond any calendar (a suite value that once panicked this handler on every
    /// Issue Token) gives a token valid "for ever", not a crash.
    #[tokio::test]
    async fn a_huge_token_lifetime_does_not_panic_the_handler() {
        let (sb, http) = start().await;
        sb.core.set_settings(crate::sandbox::ScenarioSettings {
            token_lifetime_s: 1e12,
            time_scale: 1.0,
        });
        let creds = sb.profile.credentials();
        let url = format!("{}/user/{}/issue", sb.base_url(), creds["user_id"]);
        let r = http
            .post(&url)
            .json(&json!({"password": creds["password"], "partnerReference": "p1", "localDate": "2024-01-01", "localTime": "120000"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["responseCode"], "0000");
        assert!(
            answer["validUntil"].as_str().unwrap().starts_with("9999-"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn expired_tokens_are_evicted_and_their_reuse_still_answered_as_expired() {
        let (sb, http) = start().await;
        let mut short = serde_json::Map::new();
        short.insert("token_lifetime_s".into(), json!(0.05));
        sb.core.configure_generic(&short).unwrap();
        let creds = sb.profile.credentials();
        let url = format!("{}/user/{}/issue", sb.base_url(), creds["user_id"]);
        let issue = || async {
            let answer: Value = http
                .post(&url)
                .json(&json!({"password": creds["password"], "partnerReference": "p", "localDate": "2024-01-01", "localTime": "120000"}))
                .send().await.unwrap().json().await.unwrap();
            answer["token"].as_str().unwrap().to_owned()
        };
        let first = issue().await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // More issues than the book holds before its first sweep: the first token is swept out
        // to the recently-expired hashes (the book's own tests count what it keeps).
        for _ in 0..1_100 {
            issue().await;
        }
        let status = |token: String| {
            let http = http.clone();
            let url = format!(
                "{}/payment/NOPE/status?partnerReference=p2&localDate=2024-01-01&localTime=120000",
                sb.base_url()
            );
            async move {
                http.get(url)
                    .header("X-Auth-Token", token)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            }
        };
        let reused = status(first).await;
        assert!(reused.contains("X-Auth-Token has expired"), "{reused}");
        let made_up = status(format!("kc.{}", "Q".repeat(48))).await;
        assert!(!made_up.contains("expired"), "{made_up}");
        let journal = sb.core.journal.live();
        let used = journal[journal.len() - 2]
            .facts
            .token_used
            .as_ref()
            .unwrap();
        assert_eq!(used.state, TokenState::Expired);
        assert!(used.remaining_s.unwrap() < 0.0);
    }

    #[tokio::test]
    async fn a_wrong_token_and_garbage_get_the_api_error_not_a_crash() {
        let (sb, http) = start().await;
        let r = http
            .get(format!(
                "{}/payment/X/status?partnerReference=p",
                sb.base_url()
            ))
            .header("X-Auth-Token", "made-up")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let r = http
            .post(format!("{}/user/golive-merchant-01/issue", sb.base_url()))
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["responseCode"], "0001");
        let big = vec![b'a'; crate::sandbox::MAX_REQUEST_BODY + 10];
        let r = http
            .post(format!("{}/user/golive-merchant-01/issue", sb.base_url()))
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let live = sb.core.journal.live();
        assert_eq!(live.len(), 3);
        assert!(live[2].request.body.truncated);
    }

    #[tokio::test]
    async fn injected_0099_answers_with_the_error_envelope() {
        let (sb, http) = start().await;
        sb.core
            .faults
            .add(serde_json::from_value(json!({"operation": "issue_token", "times": 1})).unwrap());
        let r = http
            .post(format!("{}/user/golive-merchant-01/issue", sb.base_url()))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["responseCode"], "0099");
        assert_eq!(
            body["responseDescription"],
            "Unexpected server error occurred."
        );
        assert_eq!(
            sb.core.journal.live()[0].facts.injected.as_deref(),
            Some("500/0099")
        );
    }

    #[test]
    fn the_correlation_table_reads() {
        crate::sandbox::operation::check_table(OPERATIONS).unwrap();
    }
}
