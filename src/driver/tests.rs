use super::*;
use crate::journal::Journal;
use crate::report::{CheckResult, Outcome, ScenarioResult, Severity};
use crate::sandbox::Sandbox;
use crate::suite::Step;
use serde_json::{json, Map};
use std::sync::Arc;
use std::time::Duration;

fn verdict(id: &str, scenario: Option<&str>, outcome: Outcome) -> CheckResult {
    CheckResult {
        id: id.into(),
        title: id.into(),
        description: String::new(),
        severity: Severity::Major,
        source: "test".into(),
        kind: "order_outcome".into(),
        scenario: scenario.map(str::to_owned),
        outcome,
        message: "no order probe in this scenario".into(),
        evidence: vec![3],
    }
}

fn scenario(id: &str, not_applicable: Option<&str>) -> ScenarioResult {
    ScenarioResult {
        id: id.into(),
        title: id.into(),
        started_ms: 0.0,
        ended_ms: 0.0,
        error: None,
        not_applicable: not_applicable.map(str::to_owned),
        exchanges: vec![],
        exchanges_omitted: 0,
    }
}

const SUITE: &str = r#"
golive: 1
id: s
title: S
provider: smartpay
scenarios:
  - id: captured
    title: C
    steps:
      - trigger: { name: start_payment }
      - trigger: { name: capture_order }
  - id: declined
    title: D
    steps:
      - trigger: { name: start_payment }
checks:
  - { id: ONLY-CAPTURE, title: t, description: d, severity: major, source: s, kind: order_outcome, scenarios: [captured] }
  - { id: BOTH, title: t, description: d, severity: major, source: s, kind: order_outcome, scenarios: [captured, declined] }
  - { id: WHOLE, title: t, description: d, severity: major, source: s, kind: token_valid }
"#;

#[test]
fn a_scenario_needing_a_trigger_not_offered_skips_only_its_verdicts() {
    let suite = crate::suite::parse_suite(SUITE, std::path::Path::new("s.yaml"))
        .unwrap()
        .value;
    let target = crate::suite::parse_target(
            "golive: 1\nname: t\nbase_url: http://127.0.0.1:1\ntriggers:\n  start_payment: { path: /pay }\n  capture_order: { not_offered: automatic capture }\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap()
        .value;
    let reason = not_applicable(&suite.scenarios[0], &target).unwrap();
    assert_eq!(
        reason,
        "not applicable: the shop does not offer `capture_order` (automatic capture)"
    );
    assert_eq!(not_applicable(&suite.scenarios[1], &target), None);

    let scenarios = [
        scenario("captured", Some(&reason)),
        scenario("declined", None),
    ];
    let mut checks = vec![
        verdict("ONLY-CAPTURE", Some("captured"), Outcome::Failed),
        verdict("ONLY-CAPTURE", None, Outcome::Failed),
        verdict("BOTH", Some("declined"), Outcome::Failed),
        verdict("BOTH", None, Outcome::Failed),
        verdict("WHOLE", None, Outcome::Passed),
    ];
    skip_not_applicable(&mut checks, &suite, &scenarios);
    let outcomes: Vec<Outcome> = checks.iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Skipped,
            Outcome::Skipped,
            // Judged where the shop could be judged: a real failure stays one.
            Outcome::Failed,
            Outcome::Failed,
            Outcome::Passed,
        ]
    );
    assert_eq!(checks[0].message, reason);
    assert!(checks[0].evidence.is_empty());
    assert_eq!(checks[1].message, format!("captured: {reason}"));
}

/// Trigger steps need no provider actors.
struct NoActors;

#[async_trait::async_trait]
impl Actors for NoActors {
    async fn act(
        &self,
        _: Act,
        _: &crate::suite::ParsedStep,
        _: &mut StepContext,
    ) -> Result<(), String> {
        Err("no actors in this test".to_string())
    }
}

async fn context(wait_ms: u64) -> (StepContext, Sandbox) {
    context_for(
        wait_ms,
        "http://127.0.0.1:1",
        "  refund: { path: \"/payments/{{ payment.id }}/refund\" }\n",
    )
    .await
}

async fn context_for(wait_ms: u64, target_url: &str, triggers: &str) -> (StepContext, Sandbox) {
    let journal = Journal::in_memory();
    let sandbox = crate::sandbox::testing::bare(journal.clone()).await;
    let target = crate::suite::parse_target(
        &format!("golive: 1\nname: t\nbase_url: http://127.0.0.1:1\ntriggers:\n{triggers}"),
        std::path::Path::new("t.yaml"),
    )
    .unwrap()
    .value;
    let mut vars = Map::new();
    vars.insert("order_id".into(), json!("s-1"));
    let ctx = StepContext {
        scenario: "s".into(),
        vars,
        http: Recorder::new(journal),
        sandbox_url: sandbox.base_url(),
        target_url: target_url.into(),
        last_trigger: None,
        request_timeout: Duration::from_secs(5),
        wait_timeout: Duration::from_millis(wait_ms),
        time_scale: 1.0,
        target: Arc::new(target),
        core: sandbox.core.clone(),
        pending: Vec::new(),
        repetition: None,
        waited: Waited::default(),
        wait_share: 1.0,
    };
    (ctx, sandbox)
}

#[tokio::test]
async fn a_call_naming_the_payment_waits_for_the_integration_to_name_it() {
    let (ctx, sandbox) = context(2000).await;
    assert!(mentions_payment_id(&ctx.target.triggers["refund"]));
    let vars = ctx.template_vars();
    assert_eq!(vars["order"]["reference"], "s-1");
    assert!(template::render("{{ payment.id }}", &vars).is_err());
    // The shop's call to the provider comes a moment after its trigger answered.
    let core = sandbox.core.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        core.note(|l| l.note_payment_id("P-1".into()));
        core.note(|l| l.note_order_reference("ORD1".into()));
    });
    let started = tokio::time::Instant::now();
    ctx.await_payment_id().await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(140), "{waited:?}");
    assert!(waited < Duration::from_millis(1500), "{waited:?}");
    let vars = ctx.template_vars();
    assert_eq!(
        template::render("/payments/{{ payment.id }}/{{ order.reference }}", &vars).unwrap(),
        "/payments/P-1/ORD1"
    );
    assert_eq!(ctx.order_reference().as_deref(), Some("ORD1"));
}

#[tokio::test]
async fn the_wait_for_a_payment_id_is_bounded() {
    let (ctx, _sandbox) = context(100).await;
    let started = tokio::time::Instant::now();
    ctx.await_payment_id().await;
    assert!(started.elapsed() < Duration::from_millis(600));
    assert_eq!(ctx.payment_id(), None);
}

/// A shop whose trigger answers only after a while (a till that answers once the payment
/// is done), and one that then refuses.
async fn slow_shop() -> String {
    use axum::routing::post;
    let app = axum::Router::new()
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "order ORD42 done"
            }),
        )
        .route(
            "/slow-refusal",
            post(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                (axum::http::StatusCode::CONFLICT, "no")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_trigger_that_answers_when_done_does_not_hang_the_journey() {
    let url = slow_shop().await;
    let (mut ctx, sandbox) = context_for(
            150,
            &url,
            "  slow: { path: /slow, capture: { order_reference: { regex: \"ORD[0-9]+\" } } }\n  refused: { path: /slow-refusal }\n",
        )
        .await;
    let step = |name: &str| {
        Step::Trigger(crate::suite::TriggerStep {
            name: name.into(),
            with: Map::new(),
            expect_success: true,
        })
    };
    let started = tokio::time::Instant::now();
    run_step(&step("slow"), &mut ctx, &sandbox, &NoActors)
        .await
        .unwrap();
    // The journey went on after the wait timeout, not after the answer.
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(ctx.last_trigger.is_none());
    ctx.settle_triggers(false).await.unwrap();
    assert_eq!(ctx.pending.len(), 1, "still working");
    // A step that needs the answer waits for it; the capture is applied then.
    let answer = ctx.trigger_answer().await.unwrap().unwrap();
    assert_eq!(answer.text(), "order ORD42 done");
    assert_eq!(ctx.order_reference().as_deref(), Some("ORD42"));
    assert!(ctx.pending.is_empty());
    // A late refusal is still the step's failure, named when it comes.
    run_step(&step("refused"), &mut ctx, &sandbox, &NoActors)
        .await
        .unwrap();
    let e = ctx.settle_triggers(true).await.unwrap_err();
    assert!(
        e.contains(
            "trigger `refused`, answered after the steps that followed it: the target answered 409"
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_sleep_counts_what_it_waited_and_a_sleep_cut_short_counts_its_part() {
    let (mut ctx, sandbox) = context(1000).await;
    let waited = ctx.waited.clone();
    let sleep = |seconds| {
        Step::Sleep(crate::suite::Sleep {
            seconds,
            scaled: false,
        })
    };
    run_step(&sleep(0.05), &mut ctx, &sandbox, &NoActors)
        .await
        .unwrap();
    let after_one = waited.ms();
    assert!((50.0..1000.0).contains(&after_one), "{after_one}");
    // The run is cut short 50 ms into a 60 s sleep: 50 ms of it were waited, not 60 s.
    let cut = tokio::time::timeout(
        Duration::from_millis(50),
        run_step(&sleep(60.0), &mut ctx, &sandbox, &NoActors),
    )
    .await;
    assert!(cut.is_err());
    let cut_part = waited.ms() - after_one;
    assert!((50.0..1000.0).contains(&cut_part), "{cut_part}");
}

#[tokio::test]
async fn a_load_repetition_counts_its_share_of_the_rounds() {
    let (mut ctx, sandbox) = context(1000).await;
    // 10 repetitions, 5 at a time: 2 rounds, each repetition a fifth of its sleep.
    ctx.wait_share = 2.0 / 10.0;
    let step = Step::Sleep(crate::suite::Sleep {
        seconds: 0.1,
        scaled: false,
    });
    run_step(&step, &mut ctx, &sandbox, &NoActors)
        .await
        .unwrap();
    let share = ctx.waited.ms();
    assert!((20.0..200.0).contains(&share), "{share}");
}
