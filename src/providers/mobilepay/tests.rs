//! The simulated API's unit tests, each through a real sandbox on loopback.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::*;
use crate::journal::TokenState;
use crate::providers::testing;
use crate::sandbox::Sandbox;

struct Client {
    sb: Sandbox,
    http: reqwest::Client,
}

impl Client {
    async fn start() -> Client {
        let (sb, http) = testing::serve(&MobilePay).await;
        Client { sb, http }
    }

    fn creds(&self) -> BTreeMap<String, String> {
        self.sb.profile.credentials()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.base_url())
    }

    async fn token(&self, vat: Option<&str>) -> reqwest::Response {
        let c = self.creds();
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(v) = vat {
            form.push(("merchant_vat", v));
        }
        let request = self
            .http
            .post(self.url("/integrator-authentication/connect/token"))
            .header(CLIENT_ID_HEADER, &c["client_id"])
            .basic_auth(&c["client_id"], Some(&c["client_secret"]))
            .form(&form);
        send(request).await
    }

    /// A token with the merchant_vat claim.
    async fn bearer(&self) -> String {
        let t = json_of(self.token(Some("DK12345678")).await).await;
        t["access_token"].as_str().unwrap().to_owned()
    }

    /// A `/pos/v10` request with the client id and the token, but no system version header.
    fn unversioned(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header(CLIENT_ID_HEADER, &self.creds()["client_id"])
            .bearer_auth(token)
    }

    /// A `/pos/v10` request with every header V10 asks for.
    fn api(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.unversioned(method, path, token)
            .header(VERSION_HEADER, "1.2.3")
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        send(self.api(Method::GET, path, token)).await
    }

    /// A POST, under an idempotency key if given, with a JSON body if given.
    async fn post(
        &self,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.api(Method::POST, path, token);
        if let Some(k) = key {
            request = request.header(IDEMPOTENCY_HEADER, k);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        send(request).await
    }

    /// The customer approves the payment in the app.
    async fn approve(&self, payment_id: &str) -> reqwest::Response {
        send(
            self.http
                .post(self.url(&format!("/golive/app/{payment_id}/approve"))),
        )
        .await
    }

    /// A short poll delay, so that the app's answer reaches the sandbox within a test.
    fn fast_polls(&self) {
        self.sb
            .profile
            .configure(json!({"poll_delay_ms": 1}).as_object().unwrap())
            .unwrap();
    }

    /// Polls `path` a little after the app's answer; the status it shows.
    async fn status_after_a_poll_delay(&self, path: &str, token: &str) -> Value {
        tokio::time::sleep(Duration::from_millis(20)).await;
        json_of(self.get(path, token).await).await["status"].clone()
    }
}

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.unwrap()
}

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

async fn code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn token_is_issued_only_to_the_registered_client() {
    let c = Client::start().await;
    let ok = json_of(c.token(Some("DK12345678")).await).await;
    assert_eq!(ok["token_type"], "Bearer");
    let issued = ok["access_token"].as_str().unwrap();
    assert!(crate::report::redact::is_shaped_token(issued), "{issued}");
    assert_eq!(ok["scope"], "integrator_scope");
    assert!(ok["expires_in"].as_u64().unwrap() > 0);
    let bad = c
        .http
        .post(c.url("/integrator-authentication/connect/token"))
        .header(CLIENT_ID_HEADER, "someone")
        .basic_auth("someone", Some("else"))
        .form(&[("grant_type", "client_credentials")]);
    assert_eq!(send(bad).await.status(), 401);
    let bad_vat = c.token(Some("SE123")).await;
    assert_eq!(bad_vat.status(), 400);
    let live = c.sb.core.journal.live();
    assert!(live[0].facts.token_issued.is_some());
    assert_eq!(live[0].facts.token_claims, vec!["merchant_vat"]);
    assert!(live[2]
        .facts
        .schema_errors
        .iter()
        .any(|e| e.contains("merchant_vat")));
}

#[tokio::test]
async fn header_rules_give_the_v10_codes() {
    let c = Client::start().await;
    let t = c.bearer().await;
    let path = "/pos/v10/pointofsales?merchantPosId=x";
    assert_eq!(c.get(path, &t).await.status(), 200);
    let r = send(c.unversioned(Method::GET, path, &t)).await;
    assert_eq!(code(r).await, (400, "1153".into()));
    let r = send(c.api(Method::GET, path, &t).header(VERSION_HEADER, "1.2.3")).await;
    assert_eq!(code(r).await, (400, "1157".into()));
    let r = send(
        c.unversioned(Method::GET, path, &t)
            .header(VERSION_HEADER, "v1"),
    )
    .await;
    assert_eq!(code(r).await, (400, "1161".into()));
    // A token without the merchant_vat claim needs the VAT header.
    let plain = json_of(c.token(None).await).await;
    let plain = plain["access_token"].as_str().unwrap();
    assert_eq!(code(c.get(path, plain).await).await, (400, "1151".into()));
    let r = send(
        c.api(Method::GET, path, plain)
            .header(VAT_HEADER, "FI87654321"),
    )
    .await;
    assert_eq!(r.status(), 200);
    // Wrong and made-up tokens get 401, not a crash.
    let r = c.get("/pos/v10/pointofsales", "made-up").await;
    assert_eq!(r.status(), 401);
    let live = c.sb.core.journal.live();
    assert_eq!(
        live.last()
            .unwrap()
            .facts
            .token_used
            .as_ref()
            .unwrap()
            .state,
        TokenState::Unknown
    );
}

#[tokio::test]
async fn a_payment_goes_through_the_states_and_keys_are_idempotent() {
    let c = Client::start().await;
    let t = c.bearer().await;
    let pos_body = json!({"merchantPosId": "till-1", "storeId": "store-1", "name": "Till 1"});
    let r = c
        .post("/pos/v10/pointofsales", &t, None, Some(&pos_body))
        .await;
    assert_eq!(code(r).await, (400, "1164".into()));
    let r = c
        .post("/pos/v10/pointofsales", &t, Some("k1"), Some(&pos_body))
        .await;
    let pos = json_of(r).await;
    let r = c
        .post("/pos/v10/pointofsales", &t, Some("k1"), Some(&pos_body))
        .await;
    let again = json_of(r).await;
    assert_eq!(pos, again, "a repeat with the same key replays the answer");
    let pos_id = pos["posId"].as_str().unwrap();
    let pay = json!({"posId": pos_id, "orderId": "o-1", "amount": 12.5, "currencyCode": "DKK", "plannedCaptureDelay": "None"});
    let r = c
        .post("/pos/v10/payments", &t, Some("k1"), Some(&pay))
        .await;
    assert_eq!(code(r).await, (409, "1306".into()));
    let r = c
        .post("/pos/v10/payments", &t, Some("k2"), Some(&pay))
        .await;
    let started = json_of(r).await;
    let id = started["paymentId"].as_str().unwrap();
    assert!(started["pollDelayInMs"].as_u64().unwrap() > 0);
    // A second payment on the same PoS: already active.
    let r = c
        .post("/pos/v10/payments", &t, Some("k3"), Some(&pay))
        .await;
    assert_eq!(code(r).await, (409, "1301".into()));
    let found = c
        .get(&format!("/pos/v10/payments?posId={pos_id}&orderId=o-1"), &t)
        .await;
    assert_eq!(json_of(found).await["paymentIds"], json!([id]));
    let capture = format!("/pos/v10/payments/{id}/capture");
    let r = c
        .post(&capture, &t, None, Some(&json!({"amount": 12.5})))
        .await;
    assert_eq!(code(r).await, (409, "1304".into()));
    // The customer approves; the sandbox shows IssuedToUser, then Reserved.
    c.fast_polls();
    assert_eq!(c.approve(id).await.status(), 200);
    let polled = c
        .status_after_a_poll_delay(&format!("/pos/v10/payments/{id}"), &t)
        .await;
    assert_eq!(polled, "Reserved");
    let r = c
        .post(&capture, &t, None, Some(&json!({"amount": 13})))
        .await;
    assert_eq!(code(r).await, (409, "1305".into()));
    let r = c
        .post(&capture, &t, None, Some(&json!({"amount": 12.5})))
        .await;
    assert_eq!(r.status(), 204);
    let r = c
        .post(&format!("/pos/v10/payments/{id}/cancel"), &t, None, None)
        .await;
    assert_eq!(code(r).await, (409, "1303".into()));
}

/// A point of sale and a payment of 100 DKK the customer approved and the till captured.
async fn captured_payment(c: &Client, t: &str) -> String {
    c.fast_polls();
    let pos_body = json!({"merchantPosId": "till-r", "storeId": "store-1", "name": "Till"});
    let r = c
        .post("/pos/v10/pointofsales", t, Some("pos"), Some(&pos_body))
        .await;
    let pos = json_of(r).await;
    let pay = json!({"posId": pos["posId"], "orderId": "o-r", "amount": 100.0, "currencyCode": "DKK", "plannedCaptureDelay": "None"});
    let r = c
        .post("/pos/v10/payments", t, Some("pay"), Some(&pay))
        .await;
    let started = json_of(r).await;
    let id = started["paymentId"].as_str().unwrap().to_owned();
    c.approve(&id).await;
    let polled = c
        .status_after_a_poll_delay(&format!("/pos/v10/payments/{id}"), t)
        .await;
    assert_eq!(polled, "Reserved");
    let capture = format!("/pos/v10/payments/{id}/capture");
    let r = c
        .post(&capture, t, None, Some(&json!({"amount": 100.0})))
        .await;
    assert_eq!(r.status(), 204);
    id
}

/// A reserved refund of 20 DKK of a captured payment.
async fn reserved_refund(c: &Client, t: &str, payment_id: &str, n: u32) -> String {
    let body = json!({"paymentId": payment_id, "refundOrderId": format!("r-{n}"), "amount": 20.0, "currencyCode": "DKK"});
    let key = format!("refund-{n}");
    let r = c.post("/pos/v10/refunds", t, Some(&key), Some(&body)).await;
    let refund = json_of(r).await;
    let id = refund["refundId"].as_str().unwrap().to_owned();
    let polled = c
        .status_after_a_poll_delay(&format!("/pos/v10/refunds/{id}"), t)
        .await;
    assert_eq!(polled, "Reserved");
    id
}

#[tokio::test]
async fn a_refund_capture_needs_no_body() {
    let c = Client::start().await;
    let t = c.bearer().await;
    let payment = captured_payment(&c, &t).await;
    let capture = |refund: &str| format!("/pos/v10/refunds/{refund}/capture");
    // No body at all, and a body without an amount: the whole refund is captured.
    let empty = reserved_refund(&c, &t, &payment, 1).await;
    let r = c.post(&capture(&empty), &t, None, None).await;
    assert_eq!(r.status(), 204);
    let no_amount = reserved_refund(&c, &t, &payment, 2).await;
    let r = c
        .post(&capture(&no_amount), &t, None, Some(&json!({})))
        .await;
    assert_eq!(r.status(), 204);
    // An amount is still held to the refund, and garbage is still refused.
    let too_much = reserved_refund(&c, &t, &payment, 3).await;
    let r = c
        .post(
            &capture(&too_much),
            &t,
            None,
            Some(&json!({"amount": 25.0})),
        )
        .await;
    assert_eq!(code(r).await, (409, "1305".into()));
    let r = send(c.api(Method::POST, &capture(&too_much), &t).body("{nope")).await;
    assert_eq!(code(r).await, (400, "1099".into()));
    let live = c.sb.core.journal.live();
    let captures: Vec<_> = live
        .iter()
        .filter(|e| e.operation() == Some(OP_REFUND_CAPTURE))
        .collect();
    assert_eq!(captures.len(), 4);
    assert!(captures[..2]
        .iter()
        .all(|e| e.facts.schema_errors.is_empty()));
}

#[tokio::test]
async fn garbage_and_unknown_payments_get_the_api_error() {
    let c = Client::start().await;
    let t = c.bearer().await;
    let garbage = c
        .api(Method::POST, "/pos/v10/payments", &t)
        .header(IDEMPOTENCY_HEADER, "k")
        .body("{nope");
    assert_eq!(code(send(garbage).await).await, (400, "1099".into()));
    assert_eq!(c.get("/pos/v10/payments/nope", &t).await.status(), 404);
    let big = vec![b'a'; crate::sandbox::MAX_REQUEST_BODY + 10];
    let r = send(c.api(Method::POST, "/pos/v10/payments", &t).body(big)).await;
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn injected_faults_answer_like_mobilepay() {
    let c = Client::start().await;
    let t = c.bearer().await;
    c.sb.core
        .faults
        .add(serde_json::from_value(json!({"operation": "pos_lookup", "times": 1})).unwrap());
    let r = c.get("/pos/v10/pointofsales?merchantPosId=x", &t).await;
    assert_eq!(code(r).await, (500, "2000".into()));
    assert_eq!(
        c.sb.core
            .journal
            .live()
            .last()
            .unwrap()
            .facts
            .injected
            .as_deref(),
        Some("500/2000")
    );
}

#[tokio::test]
async fn injected_faults_keep_the_code_the_suite_names() {
    let c = Client::start().await;
    let t = c.bearer().await;
    let path = "/pos/v10/payments/nope";
    for (fault, status, code, message, label) in [
        (
            json!({"operation": "payment_poll", "status": 409, "code": "1301", "times": 1}),
            409,
            "1301",
            "Payment already active on the point of sale.",
            "409/1301",
        ),
        (
            json!({"operation": "payment_poll", "status": 400, "times": 1}),
            400,
            "400",
            "Injected error.",
            "400/2000",
        ),
    ] {
        c.sb.core.faults.add(serde_json::from_value(fault).unwrap());
        let r = c.get(path, &t).await;
        assert_eq!(r.status().as_u16(), status);
        let body = json_of(r).await;
        assert_eq!(
            (body["code"].as_str(), body["message"].as_str()),
            (Some(code), Some(message))
        );
        let live = c.sb.core.journal.live();
        assert_eq!(live.last().unwrap().facts.injected.as_deref(), Some(label));
    }
}

#[test]
fn the_correlation_table_reads() {
    crate::sandbox::operation::check_table(OPERATIONS).unwrap();
}
