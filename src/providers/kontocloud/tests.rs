//! The sandbox's unit tests: KontoCloud's API answered over HTTP and journaled.

use std::time::Duration;

use serde_json::{json, Value};

use super::{KontoCloud, OPERATIONS};
use std::sync::Arc;

use crate::journal::{Exchange, TokenState};
use crate::providers::testing::{self, answer as send};
use crate::sandbox::Sandbox;

/// A running KontoCloud sandbox and a client to call it.
struct Api {
    sb: Sandbox,
    http: reqwest::Client,
}

/// A Get Payment Status query with every field it needs.
const STATUS_QUERY: &str = "partnerReference=p2&localDate=2024-01-01&localTime=120000";

impl Api {
    async fn start() -> Api {
        let (sb, http) = testing::serve(&KontoCloud).await;
        Api { sb, http }
    }

    /// Issue Token for the test account's user.
    fn issue_url(&self) -> String {
        let user_id = &self.sb.profile.credentials()["user_id"];
        format!("{}/user/{user_id}/issue", self.sb.base_url())
    }

    /// A valid Issue Token body with this partnerReference.
    fn issue_body(&self, partner_reference: &str) -> Value {
        let password = &self.sb.profile.credentials()["password"];
        json!({"password": password, "partnerReference": partner_reference, "localDate": "2024-01-01", "localTime": "120000"})
    }

    /// Issue Token with this body.
    fn issue(&self, body: &Value) -> reqwest::RequestBuilder {
        self.http.post(self.issue_url()).json(body)
    }

    /// Issue Token with a body that need not be JSON.
    fn issue_raw(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.http.post(self.issue_url()).body(body)
    }

    /// A new token's answer, as JSON.
    async fn issued(&self, body: &Value) -> Value {
        send(self.issue(body)).await.1
    }

    /// A new token, issued with this body.
    async fn token(&self, body: &Value) -> String {
        let answer = self.issued(body).await;
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// Get Payment Status with this query, presenting this token.
    fn status(&self, reference: &str, query: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!(
                "{}/payment/{reference}/status?{query}",
                self.sb.base_url()
            ))
            .header("X-Auth-Token", token)
    }

    fn journal(&self) -> Vec<Arc<Exchange>> {
        self.sb.core.journal.live()
    }
}

/// A client that gives up (times out and closes) does not cancel the request: the sandbox
/// finishes it as the real API would, its effect stands (the token was issued) and the
/// journal says the client left. A client that waits gets no such mark.
#[tokio::test]
async fn a_request_the_client_abandoned_is_finished_and_journaled_as_abandoned() {
    let api = Api::start().await;
    api.sb.core.faults.add(crate::sandbox::Fault {
        operation: "issue_token".into(),
        status: 500,
        code: None,
        times: Some(1),
        delay_ms: Some(400),
        then_succeed: true,
    });
    let body = api.issue_body("p1");
    let gave_up = api
        .issue(&body)
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client should have timed out");
    let mut abandoned = None;
    for _ in 0..100 {
        if let Some(ex) = api.journal().into_iter().next() {
            abandoned = Some(ex);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ex = abandoned.expect("the abandoned request is journaled");
    assert_eq!(ex.response.as_ref().unwrap().status, 200);
    assert!(
        ex.facts.token_issued.is_some(),
        "the token was issued all the same"
    );
    assert!(ex.facts.abandoned);
    assert!(ex.error.as_ref().unwrap().contains("closed the connection"));

    assert_eq!(send(api.issue(&body)).await.0, 200);
    // Once each: the abandoned request is not also journaled as one cut short.
    let journal = api.journal();
    assert_eq!(journal.len(), 2, "{journal:?}");
    assert!(!journal[1].facts.abandoned);
}

#[tokio::test]
async fn issue_token_then_status_of_an_unknown_payment() {
    let api = Api::start().await;
    let mut body = api.issue_body("p1");
    body["extra"] = json!(1);
    let answer = api.issued(&body).await;
    assert_eq!(answer["responseCode"], "0000");
    assert_eq!(answer["partnerReference"], "p1");
    assert_eq!(
        answer["additionalInformation"]["unrecognizedFields"],
        json!(["extra"])
    );
    let token = answer["token"].as_str().unwrap();
    // Reports recognise the sandbox's tokens by their shape (nothing is stored per token).
    assert!(crate::report::redact::is_shaped_token(token), "{token}");
    let (status, body) = send(api.status("NOPE", STATUS_QUERY, token)).await;
    assert_eq!(status, 400);
    assert_eq!(body["responseCode"], "0002");
    assert!(body["additionalInformation"]["requestId"].is_string());
    let live = api.journal();
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
    let api = Api::start().await;
    api.sb.core.set_settings(crate::sandbox::ScenarioSettings {
        token_lifetime_s: 1e12,
        time_scale: 1.0,
    });
    let (status, answer) = send(api.issue(&api.issue_body("p1"))).await;
    assert_eq!(status, 200);
    assert_eq!(answer["responseCode"], "0000");
    assert!(
        answer["validUntil"].as_str().unwrap().starts_with("9999-"),
        "{answer}"
    );
}

#[tokio::test]
async fn expired_tokens_are_evicted_and_their_reuse_still_answered_as_expired() {
    let api = Api::start().await;
    let mut short = serde_json::Map::new();
    short.insert("token_lifetime_s".into(), json!(0.05));
    api.sb.core.configure_generic(&short).unwrap();
    let body = api.issue_body("p");
    let first = api.token(&body).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // More issues than the book holds before its first sweep: the first token is swept out
    // to the recently-expired hashes (the book's own tests count what it keeps).
    for _ in 0..1_100 {
        api.token(&body).await;
    }
    let reused = send(api.status("NOPE", STATUS_QUERY, &first)).await.1;
    assert_eq!(
        reused["responseDescription"], "Invalid parameter: X-Auth-Token has expired.",
        "{reused}"
    );
    let made_up = format!("kc.{}", "Q".repeat(48));
    let made_up = send(api.status("NOPE", STATUS_QUERY, &made_up)).await.1;
    assert!(!made_up.to_string().contains("expired"), "{made_up}");
    let journal = api.journal();
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
    let api = Api::start().await;
    let (status, _) = send(api.status("X", "partnerReference=p", "made-up")).await;
    assert_eq!(status, 401);
    let (status, body) = send(api.issue_raw("{not json")).await;
    assert_eq!(status, 400);
    assert_eq!(body["responseCode"], "0001");
    let big = vec![b'a'; crate::sandbox::MAX_REQUEST_BODY + 10];
    let (status, _) = send(api.issue_raw(big)).await;
    assert_eq!(status, 413);
    let live = api.journal();
    assert_eq!(live.len(), 3);
    assert!(live[2].request.body.truncated);
}

#[tokio::test]
async fn injected_0099_answers_with_the_error_envelope() {
    let api = Api::start().await;
    api.sb
        .core
        .faults
        .add(serde_json::from_value(json!({"operation": "issue_token", "times": 1})).unwrap());
    let (status, body) = send(api.issue(&json!({}))).await;
    assert_eq!(status, 500);
    assert_eq!(body["responseCode"], "0099");
    assert_eq!(
        body["responseDescription"],
        "Unexpected server error occurred."
    );
    assert_eq!(api.journal()[0].facts.injected.as_deref(), Some("500/0099"));
}

#[test]
fn the_correlation_table_reads() {
    crate::sandbox::operation::check_table(OPERATIONS).unwrap();
}

/// Which answers list the fields KontoCloud did not recognise: those to the request as read,
/// not a refused token or an injected fault, which come before the fields are looked at.
#[tokio::test]
async fn only_answers_to_the_fields_list_the_unrecognised_ones() {
    let api = Api::start().await;
    let token = api.token(&api.issue_body("p1")).await;
    let extra = format!("{STATUS_QUERY}&extra=1");
    let (_, body) = send(api.status("NOPE", &extra, "")).await;
    assert_eq!(body["responseCode"], "0002", "{body}");
    assert_eq!(body["partnerReference"], "p2");
    assert!(body["additionalInformation"]
        .get("unrecognizedFields")
        .is_none());
    let (status, body) = send(api.status("NOPE", "partnerReference=p3&extra=1", &token)).await;
    assert_eq!(status, 400);
    assert_eq!(body["responseCode"], "0001");
    assert!(
        body["responseDescription"]
            .as_str()
            .unwrap()
            .starts_with("Required parameter missing or badly formatted: "),
        "{body}"
    );
    assert_eq!(
        body["additionalInformation"]["unrecognizedFields"],
        json!(["extra"])
    );
    api.sb.core.faults.add(
        serde_json::from_value(json!({"operation": "payment_status", "code": "1301"})).unwrap(),
    );
    let (status, body) = send(api.status("NOPE", &extra, &token)).await;
    assert_eq!(status, 500);
    assert_eq!(body["responseCode"], "1301");
    assert!(body["additionalInformation"]
        .get("unrecognizedFields")
        .is_none());
    assert_eq!(api.journal()[3].facts.injected.as_deref(), Some("500/1301"));
}

#[test]
fn sys_date_and_time_are_kontoclouds_forms_of_now() {
    let before = time::OffsetDateTime::now_utc();
    let (date, clock) = super::date_and_time(90);
    let after = time::OffsetDateTime::now_utc();
    let shown = |at: time::OffsetDateTime| {
        let at = at + time::Duration::minutes(90);
        (
            format!(
                "{:04}-{:02}-{:02}",
                at.year(),
                u8::from(at.month()),
                at.day()
            ),
            format!("{:02}{:02}{:02}", at.hour(), at.minute(), at.second()),
        )
    };
    assert!(
        (date.clone(), clock.clone()) == shown(before)
            || (date.clone(), clock.clone()) == shown(after),
        "{date} {clock}"
    );
}
