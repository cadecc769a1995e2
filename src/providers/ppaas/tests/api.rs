//! The token and countries operations, and what a bad client, token or body gets.

use std::time::Duration;

use serde_json::{json, Value};

use super::{answer, Run};
use crate::journal::TokenState;

#[tokio::test]
async fn client_credentials_in_the_form_or_basic_give_a_keycloak_token() {
    let run = Run::start().await;
    let (status, answer) = answer(
        run.http
            .post(run.token_url(&run.credential("realm")))
            .basic_auth(
                run.credential("client_id"),
                Some(run.credential("client_secret")),
            )
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 600);
    assert_eq!(answer["refresh_expires_in"], 0);
    assert!(answer["not-before-policy"].is_number());
    assert_eq!(
        answer["access_token"].as_str().unwrap().split('.').count(),
        3
    );
    let token = run.token().await;
    let (status, list) = run.countries(&token).await;
    assert_eq!(status, 200);
    assert!(list.as_array().unwrap().iter().any(|c| c["code"] == "BG"));
    assert!(run.live()[0].facts.token_issued.is_some());
    assert_eq!(run.token_state(2), TokenState::Valid);
}

#[tokio::test]
async fn bad_clients_tokens_and_garbage_get_the_api_errors_not_a_crash() {
    let run = Run::start().await;
    let realm = run.token_url(&run.credential("realm"));
    let (status, body) = answer(run.http.post(&realm).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &run.credential("client_id")),
        ("client_secret", "wrong"),
    ]))
    .await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")));
    let (status, body) = answer(run.http.post(&realm).body("{not a form")).await;
    assert_eq!((status, &body["error"]), (400, &json!("invalid_request")));
    let other_realm = run
        .http
        .post(run.token_url("other"))
        .form(&[("grant_type", "client_credentials")]);
    assert_eq!(answer(other_realm).await.0, 404);
    let r = run
        .http
        .post(run.events_url("x"))
        .bearer_auth("made-up")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let token = run.token().await;
    let garbage = run
        .http
        .post(run.events_url("x"))
        .bearer_auth(&token)
        .body("garbage");
    let (status, body) = answer(garbage).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (400, &json!("INVALID_REQUEST"))
    );
    let big = vec![b'a'; crate::sandbox::MAX_REQUEST_BODY + 10];
    assert_eq!(
        answer(run.http.post(run.token_url("x")).body(big)).await.0,
        413
    );
    assert_eq!(run.token_state(3), TokenState::Unknown);
    assert_eq!(
        run.live()[5].facts.schema_errors,
        vec!["body: not JSON".to_string()]
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let run = Run::start().await;
    run.sb
        .core
        .configure_generic(json!({"token_lifetime_s": 0.05}).as_object().unwrap())
        .unwrap();
    let token = run.token().await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let (status, _): (u16, Value) = run.countries(&token).await;
    assert_eq!(status, 401);
    assert_eq!(run.token_state(1), TokenState::Expired);
}
