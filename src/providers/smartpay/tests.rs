//! The unit tests of SmartPay's API (through a running sandbox), its steps and its actors.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use super::api::jwt_shaped;
use super::api::state::{ApiState, Transaction};
use super::*;
use crate::journal::TokenState;
use crate::providers::testing;
use crate::sandbox::Sandbox;

/// A running SmartPay sandbox, its test account and a client to call it.
struct Api {
    sb: Sandbox,
    http: reqwest::Client,
    creds: BTreeMap<String, String>,
    base: String,
}

impl Api {
    async fn start() -> Api {
        let (sb, http) = testing::serve(&SmartPay).await;
        let creds = sb.profile.credentials();
        let base = sb.base_url();
        Api {
            sb,
            http,
            creds,
            base,
        }
    }

    /// `Basic merchantKey:authenticationKey`.
    fn basic(&self) -> String {
        let raw = format!(
            "{}:{}",
            self.creds["merchant_key"], self.creds["authentication_key"]
        );
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// A `sandbox:` step's profile keys.
    fn configure(&self, settings: Value) {
        self.sb
            .profile
            .configure(settings.as_object().unwrap())
            .unwrap();
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base))
    }

    /// The OAuth token endpoint, with these client credentials.
    async fn oauth(&self, client_id: &str, client_secret: &str) -> reqwest::Response {
        self.post("/oauth2/token")
            .form(&[
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// The test account's OAuth token answer.
    async fn token(&self) -> Value {
        let answer = self
            .oauth(&self.creds["client_id"], &self.creds["client_secret"])
            .await;
        answer.json().await.unwrap()
    }

    /// A valid Create Checkout body for the test account.
    fn checkout_body(&self) -> Value {
        json!({
            "merchantKey": self.creds["merchant_key"],
            "payment": {"amount": 10.99, "currencyCode": "EUR", "description": "Purchase 1x product ABC"},
            "consumer": {"firstName": "Butcher", "lastName": "Hells", "emailAddress": "hells.butcher_001@mail.com"},
            "billingAddress": {"addressLine1": "Anystreet", "number": "123", "city": "Anycity", "postCode": "12345", "countryCode": "DE"},
            "partnerReference": "order-1:a_b.c"
        })
    }

    /// Create Checkout with Basic authentication.
    async fn checkout(&self, body: &Value) -> reqwest::Response {
        self.post("/payment/creation")
            .header("Authorization", self.basic())
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The shopper pays (`success`) or fails (`error`) in the widget.
    async fn pay(&self, checkout_token: &Value, result: &str) {
        self.post("/widget/pay")
            .json(&json!({"checkoutToken": checkout_token, "result": result}))
            .send()
            .await
            .unwrap();
    }

    /// Get Payment Status with this Authorization header.
    async fn status(&self, transaction_id: &str, auth: &str) -> reqwest::Response {
        self.get(&format!("/payment/status/{transaction_id}"))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap()
    }

    /// The `paymentStatus` Get Payment Status reports.
    async fn payment_status(&self, transaction_id: &str, auth: &str) -> String {
        let v: Value = self
            .status(transaction_id, auth)
            .await
            .json()
            .await
            .unwrap();
        v["paymentStatus"].as_str().unwrap().to_owned()
    }
}

fn transaction(id: &str, amount: f64, paid: bool, sequence: &[&str]) -> Transaction {
    Transaction {
        id: id.into(),
        checkout_token: format!("token-{id}"),
        amount,
        currency: "EUR".into(),
        description: String::new(),
        reconciliation: String::new(),
        created: String::new(),
        widget_success: Some(paid),
        sequence: sequence.iter().map(|s| s.to_string()).collect(),
        queries: 0,
        overridden: None,
        modifications: Vec::new(),
    }
}

#[test]
fn a_success_is_forged_with_a_captured_payment_of_another_order() {
    let mut st = ApiState::new();
    for t in [
        transaction("captured-80", 80.0, true, &["CAPTURED"]),
        transaction("captured-30", 30.0, true, &["CAPTURED"]),
        transaction("pending-30", 30.0, true, &["AUTHORIZATION_PENDING"]),
    ] {
        st.paid.push(t.id.clone());
        st.transactions.insert(t.id.clone(), t);
    }
    // This scenario's own checkout, for 80.00 and not paid yet.
    st.transactions.insert(
        "this-order".into(),
        Transaction {
            widget_success: None,
            ..transaction("this-order", 80.0, false, &[])
        },
    );
    st.scenario_checkouts.push("this-order".into());
    // Not the last paid one (still PENDING), but the captured one of the same amount.
    assert_eq!(
        st.captured_of_another_order().as_deref(),
        Some("captured-80")
    );
    st.transactions.get_mut("this-order").unwrap().amount = 55.0;
    assert_eq!(
        st.captured_of_another_order().as_deref(),
        Some("captured-30")
    );
    // Only PENDING or failed payments of other orders: nothing to forge with.
    st.paid.retain(|id| id.starts_with("pending"));
    assert_eq!(st.captured_of_another_order(), None);
}

#[tokio::test]
async fn bearer_token_then_checkout_then_scripted_statuses() {
    let api = Api::start().await;
    let token = api.token().await;
    assert_eq!(token["token_type"], "Bearer");
    let access = token["access_token"].as_str().unwrap();
    assert!(crate::report::redact::is_shaped_token(access), "{access}");
    assert!(jwt_shaped(access), "{access}");
    api.configure(json!({"status_sequence": ["AUTHORIZATION_PENDING", "CAPTURED"]}));
    let mut body = api.checkout_body();
    body["orderNote"] = json!("x");
    let created: Value = api
        .post("/payment/creation")
        .bearer_auth(access)
        .header("Accept-Language", "en-US")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["paymentStatus"], "CREATED");
    assert_eq!(created["unrecognizedFields"], json!(["orderNote"]));
    let tx = created["transactionId"].as_str().unwrap().to_owned();
    assert_eq!(tx.len(), 36);
    let checkout_token = created["checkoutToken"].as_str().unwrap().to_owned();
    assert!(
        crate::report::redact::is_shaped_token(&checkout_token),
        "{checkout_token}"
    );
    let basic = api.basic();
    assert_eq!(api.payment_status(&tx, &basic).await, "CREATED");
    api.pay(&json!(checkout_token), "success").await;
    let bearer = format!("Bearer {access}");
    assert_eq!(
        api.payment_status(&tx, &bearer).await,
        "AUTHORIZATION_PENDING"
    );
    assert_eq!(api.payment_status(&tx, &basic).await, "CAPTURED");
    assert_eq!(api.payment_status(&tx, &basic).await, "CAPTURED");
    let live = api.sb.core.journal.live();
    assert!(live[0].facts.token_issued.is_some());
    assert_eq!(live[1].facts.unrecognized_fields, vec!["orderNote"]);
    assert_eq!(
        live[1].facts.token_used.as_ref().unwrap().state,
        TokenState::Valid
    );
    assert_eq!(live[2].facts.notes["auth_scheme"], "basic");
    assert_eq!(
        live[2].facts.token_used.as_ref().unwrap().state,
        TokenState::Valid
    );
    assert_eq!(
        live[4].facts.payment_state.as_deref(),
        Some("AUTHORIZATION_PENDING")
    );
}

#[tokio::test]
async fn wrong_credentials_expired_tokens_and_garbage_get_the_api_error() {
    let api = Api::start().await;
    let r = api.status("x", "Basic bm9wZTpub3Bl").await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "UNAUTHORIZED");
    let r = api.get("/payment/status/x").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = api.status("x", "Bearer made.up.token").await;
    assert_eq!(r.status(), 401);
    // An expired Bearer token.
    api.sb.core.set_settings(crate::sandbox::ScenarioSettings {
        token_lifetime_s: 0.05,
        time_scale: 1.0,
    });
    let token = api.token().await;
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let r = api.status("x", &bearer).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorCode"],
        "TOKEN_EXPIRED"
    );
    // Garbage bodies and a bad client secret.
    let r = api
        .post("/payment/creation")
        .header("Authorization", api.basic())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = api.oauth("x", "y").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let big = vec![b'a'; crate::sandbox::MAX_REQUEST_BODY + 10];
    let r = api
        .post("/payment/creation")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // X-Access-Token must look like a JWT of at most 512 characters.
    let r = api
        .get("/payment/status/x")
        .header("Authorization", api.basic())
        .header("X-Access-Token", "a".repeat(600))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let live = api.sb.core.journal.live();
    let states: Vec<TokenState> = live
        .iter()
        .take(3)
        .map(|e| e.facts.token_used.as_ref().unwrap().state)
        .collect();
    assert_eq!(
        states,
        vec![
            TokenState::Unknown,
            TokenState::Missing,
            TokenState::Unknown
        ]
    );
    assert_eq!(
        live[4].facts.token_used.as_ref().unwrap().state,
        TokenState::Expired
    );
    assert!(live.last().unwrap().facts.schema_errors[0].contains("512"));
}

#[tokio::test]
async fn long_descriptions_and_bad_partner_references_are_refused() {
    let api = Api::start().await;
    let mut body = api.checkout_body();
    body["payment"]["description"] = json!("x".repeat(128));
    body["partnerReference"] = json!("order #1");
    let r = api.checkout(&body).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "INVALID_REQUEST");
    let errors = &api.sb.core.journal.live()[0].facts.schema_errors;
    assert!(
        errors.iter().any(|e| e.starts_with("payment.description")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("partnerReference")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn modifications_are_idempotent_by_modification_id() {
    let api = Api::start().await;
    api.configure(json!({"status_sequence": ["AUTHORIZATION_COMPLETED"]}));
    let created: Value = api
        .checkout(&api.checkout_body())
        .await
        .json()
        .await
        .unwrap();
    let tx = created["transactionId"].as_str().unwrap();
    api.pay(&created["checkoutToken"], "success").await;
    api.status(tx, &api.basic()).await;
    api.sb
        .core
        .faults
        .add(serde_json::from_value(json!({"operation": "capture", "times": 1})).unwrap());
    let post = |path: &str, id: &str| {
        api.post(&format!("/payment/{tx}/{path}"))
            .header("Authorization", api.basic())
            .json(&json!({"modificationId": id, "amount": 10.99}))
            .send()
    };
    assert_eq!(post("capture", "m-1").await.unwrap().status(), 500);
    let first: Value = post("capture", "m-1").await.unwrap().json().await.unwrap();
    assert_eq!(first["paymentStatus"], "CAPTURED");
    let again: Value = post("capture", "m-1").await.unwrap().json().await.unwrap();
    assert_eq!(first, again);
    assert_eq!(post("refund", "m-1").await.unwrap().status(), 409);
    assert_eq!(post("refund", "m-2").await.unwrap().status(), 200);
    // Nothing left to refund; a capture of a captured payment is refused.
    assert_eq!(post("refund", "m-3").await.unwrap().status(), 422);
    assert_eq!(post("capture", "m-4").await.unwrap().status(), 422);
    let live = api.sb.core.journal.live();
    assert_eq!(
        live[3].facts.injected.as_deref(),
        Some("500/INTERNAL_ERROR")
    );
    assert_eq!(live[4].facts.notes["modification_id"], "m-1");
}

#[test]
fn checkout_tokens_are_found_in_json_scripts_and_attributes() {
    let t = "KwlJmj1QoJL4oFPaCYnNCTW8cC8ZsLvQg16erCzx7hlU0rxLi3TdAKBLAN6md2Ik";
    assert_eq!(
        find_checkout_token(&format!(r#"{{"order":{{"checkoutToken":"{t}"}}}}"#)).as_deref(),
        Some(t)
    );
    assert_eq!(
        find_checkout_token(&format!(r#"<div id="w" data-checkout-token="{t}"></div>"#)).as_deref(),
        Some(t)
    );
    assert_eq!(
        find_checkout_token(&format!("SmartPay.init({{ checkoutToken: '{t}' }})")).as_deref(),
        Some(t)
    );
    assert_eq!(find_checkout_token("<p>no token</p>"), None);
}

#[test]
fn steps_are_validated() {
    let parses = |kind, params: Value| SmartPay.parse_step(kind, &params).is_ok();
    assert!(parses(StepKind::Shopper, json!({"widget": "success"})));
    assert!(!parses(StepKind::Shopper, json!({"widget": "maybe"})));
    assert!(parses(
        StepKind::Shopper,
        json!({"forge_success": {"transaction_id": "other"}})
    ));
    assert!(parses(
        StepKind::Sandbox,
        json!({"status_sequence": ["AUTHORIZATION_PENDING", "CAPTURED"]})
    ));
    assert!(!parses(
        StepKind::Sandbox,
        json!({"status_sequence": ["PAID"]})
    ));
}

#[test]
fn the_correlation_table_reads() {
    crate::sandbox::operation::check_table(OPERATIONS).unwrap();
}

/// A shop may answer "Pay" at once (202, no checkout token in its page) and create the
/// checkout in the background: the widget then waits for the shop's Create Checkout and opens
/// the checkout the shop's server got, rather than refusing the page. A page that does carry
/// a token must still carry this order's.
#[test]
fn the_widget_opens_the_checkout_a_background_shop_creates() {
    let mut st = ApiState::new();
    // No checkout yet and no token in the page: wait, do not fail.
    assert_eq!(st.widget_checkout(None), Ok(None));
    let t = Transaction {
        widget_success: None,
        ..transaction("first", 12.5, false, &[])
    };
    let token = t.checkout_token.clone();
    st.transactions.insert(t.id.clone(), t);
    st.scenario_checkouts.push("first".into());
    assert_eq!(
        st.widget_checkout(None),
        Ok(Some(("first".into(), token.clone())))
    );
    assert_eq!(
        st.widget_checkout(Some(&token)),
        Ok(Some(("first".into(), token.clone())))
    );
    assert!(st
        .widget_checkout(Some("someone-elses-token-0123456789"))
        .is_err());
    // Once the widget took its payment, a second "Pay" in the scenario waits for a new
    // checkout instead of opening the paid one again.
    st.transactions.get_mut("first").unwrap().widget_success = Some(true);
    assert_eq!(st.widget_checkout(None), Ok(None));
}
