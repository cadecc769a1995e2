//! A provider that exists only in golive's tests: the proof that a provider is one folder. It
//! has what every provider has and no more: an operation table (a token, a charge that needs
//! it, the shopper's approval), a sandbox that only answers, an actor (the shopper approving
//! in the toy's app), a reference shop with one flaw, a suite and a target. Nothing outside
//! this folder names it except the registry's test-only line.

mod reference;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::driver::{step_as, Act, Actors, Outgoing, StepContext};
use crate::journal::{Actor, Facts};
use crate::providers::{About, BundledSuite, Opened, Provider, StepKind};
use crate::sandbox::request_schema::OperationSchemas;
use crate::sandbox::tokens::TokenBook;
use crate::sandbox::{
    lock, random_text, Auth, Caller, Dispatch, FactsExt, Operation, ProviderSandbox, Routes,
    SandboxCore,
};
use crate::suite::ParsedStep;

pub const ID: &str = "toy";
const OP_TOKEN: &str = "token";
const OP_CHARGE: &str = "charge";
const OP_APPROVE: &str = "approve";

pub const OPERATIONS: &[Operation] = &[
    Operation::new(
        OP_TOKEN,
        Caller::Integration,
        "POST",
        "/token",
        "issue a token",
    )
    .with_auth(Auth::Credentials("api_key in the body")),
    Operation::new(
        OP_CHARGE,
        Caller::Integration,
        "POST",
        "/charges",
        "create a charge",
    )
    .with_auth(Auth::Token("Authorization: Bearer"))
    .with_schema(include_str!("charge.request.json"))
    .with_order_reference(&["body:/reference"])
    .with_payment_id(&["answer:/id"]),
    Operation::new(
        OP_APPROVE,
        Caller::Shopper,
        "POST",
        "/charges/{id}/approve",
        "the shopper approves",
    ),
];

pub struct Toy;

pub static ABOUT: About = About {
    id: ID,
    title: "Toy (test-only)",
    operations: OPERATIONS,
    credential_names: &["api_key"],
    reference: &reference::REFERENCE,
    suite: BundledSuite {
        file: "src/providers/toy/suite.yaml",
        text: include_str!("suite.yaml"),
    },
    open,
    parse_step,
    trigger_answers: &[],
};

impl Provider for Toy {
    fn about(&self) -> &'static About {
        &ABOUT
    }
}

fn open(core: Arc<SandboxCore>) -> Opened {
    Opened::of(Arc::new(ToySandbox {
        core,
        api_key: format!("sbx-{}", random_text(16)),
        schemas: OperationSchemas::of(OPERATIONS),
        tokens: Mutex::new(TokenBook::new()),
        charges: Mutex::new(HashMap::new()),
    }))
}

fn parse_step(kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
    match kind {
        StepKind::Shopper => serde_json::from_value::<ShopperStep>(params.clone())
            .map(|s| Arc::new(s) as ParsedStep)
            .map_err(|e| format!("{e}; expected `shopper: {{ app: approve }}`")),
        StepKind::Sandbox if params.as_object().is_some_and(|m| m.is_empty()) => Ok(Arc::new(())),
        StepKind::Sandbox => Err("the toy sandbox has no settings".into()),
        StepKind::Provider => Err("the toy provider never calls the shop".into()),
    }
}

/// `shopper: { app: approve }`: the shopper approves the scenario's charge in the toy's app.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopperStep {
    app: AppAction,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AppAction {
    Approve,
}

struct ToySandbox {
    core: Arc<SandboxCore>,
    api_key: String,
    schemas: OperationSchemas,
    tokens: Mutex<TokenBook<()>>,
    /// Charge id → approved.
    charges: Mutex<HashMap<String, bool>>,
}

fn refusal(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

async fn token(State(sb): State<Arc<ToySandbox>>, Json(body): Json<Value>) -> Response {
    let facts = Facts::of(OP_TOKEN);
    if body["api_key"].as_str() != Some(sb.api_key.as_str()) {
        return refusal(StatusCode::UNAUTHORIZED, "unknown api_key").facts(facts);
    }
    let token = format!("toy.{}", random_text(24));
    let (now, lifetime) = (sb.core.now_ms(), sb.core.token_lifetime_s());
    lock(&sb.tokens).issue(&token, now + lifetime * 1000.0, (), now);
    Json(json!({ "token": token, "expires_in": lifetime })).facts(facts)
}

async fn charge(
    State(sb): State<Arc<ToySandbox>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut facts = Facts::of(OP_CHARGE);
    let findings = sb.schemas.check(OP_CHARGE, &body);
    facts.schema_errors = findings.errors;
    facts.unrecognized_fields = findings.unrecognized;
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let (used, _) = lock(&sb.tokens).judge(presented, sb.core.now_ms());
    let valid = used.state == crate::journal::TokenState::Valid;
    facts.token_used = Some(used);
    if !valid {
        return refusal(StatusCode::UNAUTHORIZED, "a valid Bearer token is required").facts(facts);
    }
    if !facts.schema_errors.is_empty() {
        let why = facts.schema_errors.join("; ");
        return refusal(StatusCode::BAD_REQUEST, &why).facts(facts);
    }
    let id = format!("ch_{}", random_text(12));
    lock(&sb.charges).insert(id.clone(), false);
    facts.payment = Some(id.clone());
    facts.order = body["reference"].as_str().map(str::to_owned);
    Json(json!({ "id": id, "status": "pending" })).facts(facts)
}

async fn approve(State(sb): State<Arc<ToySandbox>>, Path(id): Path<String>) -> Response {
    let mut facts = Facts::of(OP_APPROVE);
    facts.payment = Some(id.clone());
    match lock(&sb.charges).get_mut(&id) {
        Some(approved) => {
            *approved = true;
            Json(json!({ "id": id, "status": "succeeded" })).facts(facts)
        }
        None => refusal(StatusCode::NOT_FOUND, "no such charge").facts(facts),
    }
}

impl ProviderSandbox for ToySandbox {
    fn dispatch(self: Arc<Self>) -> Dispatch {
        Routes::new(OPERATIONS)
            .answer(OP_TOKEN, token)
            .answer(OP_CHARGE, charge)
            .answer(OP_APPROVE, approve)
            .with_state(self)
    }

    fn credentials(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("api_key".to_string(), self.api_key.clone())])
    }

    fn begin_scenario(&self, _defaults: &serde_json::Map<String, Value>) -> Result<(), String> {
        lock(&self.charges).clear();
        Ok(())
    }

    fn configure(&self, settings: &serde_json::Map<String, Value>) -> Result<(), String> {
        match settings.is_empty() {
            true => Ok(()),
            false => Err("the toy sandbox has no settings".into()),
        }
    }
}

#[async_trait::async_trait]
impl Actors for ToySandbox {
    async fn act(&self, act: Act, step: &ParsedStep, ctx: &mut StepContext) -> Result<(), String> {
        let (Act::Shopper, AppAction::Approve) = (act, &step_as::<ShopperStep>(step)?.app) else {
            return Err("the toy provider never calls the shop".into());
        };
        // The charge the shop created in this scenario, as the correlation learned it.
        let id = ctx
            .payment_id()
            .ok_or("the shop created no charge in this scenario")?;
        let url = format!("{}/charges/{id}/approve", ctx.sandbox_url);
        let out = Outgoing::new(Actor::Browser, "app", "POST", url, ctx.request_timeout);
        let answer = ctx.send(out).await?;
        match answer.is_success() {
            true => Ok(()),
            false => Err(format!("the toy app could not approve: {}", answer.status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::run::{self, RunConfig, TargetSpec};

    async fn run_reference(flaws: &[&str]) -> run::RunOutcome {
        let dir = tempfile::tempdir().unwrap();
        let suite = crate::suite::parse_suite(Toy.suite().text, std::path::Path::new("toy.yaml"))
            .expect("the toy suite loads");
        let flaws: Vec<String> = flaws.iter().map(|f| f.to_string()).collect();
        run::run(
            RunConfig {
                suite,
                target: TargetSpec::reference(ID, None, &flaws).expect("the toy reference"),
                reports_dir: dir.path().to_owned(),
                time_scale: None,
                wait_timeout_s: None,
                jobs: 1,
            },
            &|_| Box::new(crate::report::Silent),
        )
        .await
    }

    /// The whole pipeline, for a provider no core file knows: sandbox, actors, reference shop,
    /// suite and checks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_toy_reference_passes_and_its_flaw_is_caught_exactly() {
        let passed = run_reference(&[]).await;
        assert_eq!(passed.report.run_error, None);
        assert_eq!(
            passed.exit_code,
            crate::exit::PASSED,
            "{:#?}",
            passed.report.checks
        );
        let approved = passed
            .report
            .exchanges
            .iter()
            .filter(|e| e.operation() == Some(OP_APPROVE))
            .count();
        assert_eq!(approved, 1, "the actor approved the learned charge");

        let flawed = run_reference(&["stale_token"]).await;
        assert_eq!(flawed.exit_code, crate::exit::CHECKS_FAILED);
        let failing: BTreeSet<String> = run::failing_ids(&flawed.report);
        let expected: BTreeSet<String> = reference::REFERENCE.flaws[0]
            .caught_by
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(failing, expected);
    }

    #[test]
    fn the_toy_table_is_sound() {
        crate::sandbox::operation::check_table(OPERATIONS).unwrap();
        assert!(crate::providers::provider(ID).is_some());
    }
}
