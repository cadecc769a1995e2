//! The events operation: acknowledged, refused as the scenario scripts, judged; and read the
//! suite's way (`events_api`), with calls outside it named as unserved.

use serde_json::json;

use super::super::events_api::{EventsApi, EventsEndpoint};
use super::super::{inferred, PPaaS, OP_EVENT};
use super::{answer, event, Run};
use crate::providers::{Provider, StepKind};

#[tokio::test]
async fn events_are_acknowledged_refused_as_scripted_and_judged() {
    let run = Run::start().await;
    let token = run.token().await;
    let id = uuid::Uuid::new_v4().to_string();
    // A transaction PPaaS never forwarded.
    let (status, body) = run
        .post_event(&token, &id, event(&id, "e0", "QR_CODE_SCANNED"))
        .await;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (404, Some("TRANSACTION_NOT_FOUND"))
    );
    // Stand in for the webhook step: the sandbox now knows the transaction.
    run.register(&id);
    run.sb
        .profile
        .begin_scenario(json!({"ack": {"fail_first": 2}}).as_object().unwrap())
        .unwrap();
    let scanned = event(&id, "e1", "QR_CODE_SCANNED");
    let (s1, b1) = run.post_event(&token, &id, scanned.clone()).await;
    let (s2, _) = run.post_event(&token, &id, scanned).await;
    let (s3, b3) = run.post_event(&token, &id, json!({"eventId": "e1", "eventType": "QR_CODE_SCANNED", "clientTransactionId": id, "timestamp": "2024-05-01T12:00:00+02:00", "note": 1})).await;
    assert_eq!((s1, s2, s3), (500, 500, 200));
    assert_eq!(b1["errorCode"], "INTERNAL_ERROR");
    assert_eq!(b3["status"], "ACKNOWLEDGED");
    assert_eq!(b3["unrecognizedFields"], json!(["note"]));
    // A timestamp without a zone, a body about another transaction: 400.
    let (s4, _) = run.post_event(&token, &id, json!({"eventId": "e2", "eventType": "PAYMENT_SUCCEEDED", "clientTransactionId": "other", "timestamp": "2024-05-01T12:00:00"})).await;
    assert_eq!(s4, 400);
    let events = run.exchanges_of(OP_EVENT);
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

    run.sb
        .profile
        .configure(json!({"ack": "never"}).as_object().unwrap())
        .unwrap();
    for _ in 0..3 {
        let succeeded = event(&id, "e9", "PAYMENT_SUCCEEDED");
        assert_eq!(run.post_event(&token, &id, succeeded).await.0, 500);
    }
}

#[tokio::test]
async fn a_suite_reads_the_events_api_its_own_way_and_unserved_calls_are_named() {
    let run = Run::start().await;
    let token = run.token().await;
    let id = uuid::Uuid::new_v4().to_string();
    run.register(&id);
    // golive's reading: the event of another reading is not served, and says so.
    let url = run.url("/events/v1/events");
    let other = json!({"id": "e1", "type": "SCANNED", "transactionId": id, "timestamp": "2024-05-01T12:00:00Z"});
    let (status, body) = run.post_json(&url, &token, &other).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "POST /events/v1/events is not an operation of this sandbox"
    );
    assert_eq!(body["operations"][0]["path"], inferred::EVENTS_PATH);
    let live = run.live();
    let unserved = live.last().unwrap();
    assert_eq!(unserved.operation(), Some("unknown"));
    assert!(unserved.facts.unserved.as_ref().unwrap()[0].contains("the PPaaS events operation"));
    // A wrong method on a served path is unserved too, not a bare 405.
    let delete = run.http.delete(run.url("/resources/v1/countries"));
    assert_eq!(answer(delete).await.0, 404);

    // The suite's reading: no id in the path, other field names and event types.
    let reading = json!({"events_api": {
        "path": "/events/v1/events",
        "fields": {"event_id": "id", "event_type": "type", "client_transaction_id": "transactionId"},
        "event_types": {"in_progress": ["SCANNED"], "terminal": ["PAID", "DECLINED"]},
    }});
    PPaaS.parse_step(StepKind::Sandbox, &reading).unwrap();
    run.sb
        .profile
        .begin_scenario(reading.as_object().unwrap())
        .unwrap();
    let (status, body) = run.post_json(&url, &token, &other).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["id"].as_str(), body["transactionId"].as_str()),
        (Some("e1"), Some(id.as_str()))
    );
    let golive_reading = event(&id, "e2", "PAYMENT_SUCCEEDED");
    let (status, body) = run.post_event(&token, &id, golive_reading).await;
    assert_eq!(
        (status, body["operations"][0]["path"].as_str()),
        (404, Some("/events/v1/events"))
    );
    let outside = json!({"id": "e3", "type": "PAYMENT_SUCCEEDED", "transactionId": id, "timestamp": "2024-05-01T12:00:00Z"});
    let (status, _) = run.post_json(&url, &token, &outside).await;
    assert_eq!(status, 400, "an event type outside the suite's list");
    let events = run.exchanges_of(OP_EVENT);
    assert_eq!(events[0].facts.payment_state.as_deref(), Some("SCANNED"));
    assert_eq!(events[0].facts.event_id.as_deref(), Some("e1"));
    assert_eq!(events[0].facts.payment.as_deref(), Some(id.as_str()));
    assert!(
        events[1].facts.schema_errors[0].starts_with("type:"),
        "{:?}",
        events[1].facts.schema_errors
    );

    // The next scenario without an override is back to golive's reading.
    run.sb
        .profile
        .begin_scenario(&serde_json::Map::new())
        .unwrap();
    let succeeded = event(&id, "e4", "PAYMENT_SUCCEEDED");
    assert_eq!(run.post_event(&token, &id, succeeded).await.0, 200);
}

#[test]
fn a_reading_of_the_events_api_that_cannot_be_served_is_refused_before_the_run() {
    let bad = |api: serde_json::Value| {
        PPaaS
            .parse_step(StepKind::Sandbox, &json!({"events_api": api}))
            .unwrap_err()
    };
    assert!(bad(json!({"method": "GET"})).contains("not POST, PUT or PATCH"));
    assert!(bad(json!({"path": "events"})).contains("starting with `/`"));
    assert!(
        bad(json!({"path": "/e/{id}"})).contains("neither a name nor `{client_transaction_id}`")
    );
    assert!(bad(json!({"fields": {"event_type": "eventId"}})).contains("same name"));
    assert!(bad(json!({"event_types": {"terminal": []}})).contains("at least one"));
    assert!(
        bad(json!({"event_types": {"in_progress": ["A"], "terminal": ["A"]}})).contains("twice")
    );
    assert!(bad(json!({"paths": "/x"})).contains("unknown field"));
    assert_eq!(EventsEndpoint::inferred().api, EventsApi::default());
}
