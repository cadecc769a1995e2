//! The unit tests of PPaaS's simulated API and steps, and the harness they share: one sandbox
//! on loopback serving a fresh profile, an HTTP client, and the requests the tests make.

mod api;
mod events;
mod steps;

use std::sync::Arc;

use serde_json::Value;

use super::api::{PPaaSSandbox, Transaction};
use super::OPERATIONS;
use crate::journal::{Exchange, Journal, TokenState};
use crate::providers::testing::{self, answer};
use crate::sandbox::{lock, Sandbox, SandboxCore};

/// A sandbox serving one PPaaS profile, and a client to call it.
struct Run {
    sb: Sandbox,
    /// The profile the sandbox serves, so a test can stand in for a webhook step (the sandbox
    /// only knows transactions it forwarded).
    profile: Arc<PPaaSSandbox>,
    http: reqwest::Client,
}

impl Run {
    async fn start() -> Run {
        let core = SandboxCore::new(Journal::in_memory());
        core.set_operations(OPERATIONS);
        let profile = Arc::new(PPaaSSandbox::new(core.clone()));
        let sb = Sandbox::serve(core, profile.clone(), 0).await.unwrap();
        Run {
            sb,
            profile,
            http: testing::client(),
        }
    }

    /// The sandbox now knows the transaction, as if PPaaS had forwarded it.
    fn register(&self, id: &str) {
        lock(&self.profile.state).transactions.insert(
            id.to_owned(),
            Transaction {
                displayed: true,
                problem: None,
            },
        );
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.base_url())
    }

    fn token_url(&self, realm: &str) -> String {
        self.url(&format!(
            "/auth/realms/{realm}/protocol/openid-connect/token"
        ))
    }

    fn events_url(&self, id: &str) -> String {
        self.url(&format!("/qrcode-payment/v1/transactions/{id}/events"))
    }

    fn credential(&self, name: &str) -> String {
        self.sb.profile.credentials()[name].clone()
    }

    /// A token by client credentials in the form.
    async fn token(&self) -> String {
        let (_, answer) = answer(
            self.http
                .post(self.token_url(&self.credential("realm")))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &self.credential("client_id")),
                    ("client_secret", &self.credential("client_secret")),
                ]),
        )
        .await;
        let token = answer["access_token"].as_str().unwrap().to_owned();
        assert!(crate::report::redact::is_shaped_token(&token), "{token}");
        token
    }

    async fn countries(&self, token: &str) -> (u16, Value) {
        answer(
            self.http
                .get(self.url("/resources/v1/countries"))
                .bearer_auth(token),
        )
        .await
    }

    /// Posts JSON with a Bearer token.
    async fn post_json(&self, url: &str, token: &str, body: &Value) -> (u16, Value) {
        answer(self.http.post(url).bearer_auth(token).json(body)).await
    }

    /// Posts an event to golive's reading of the events path.
    async fn post_event(&self, token: &str, id: &str, event: Value) -> (u16, Value) {
        self.post_json(&self.events_url(id), token, &event).await
    }

    /// What the journal holds so far.
    fn live(&self) -> Vec<Arc<Exchange>> {
        self.sb.core.journal.live()
    }

    /// How the sandbox judged the token of the journal's `n`th exchange.
    fn token_state(&self, n: usize) -> TokenState {
        self.live()[n].facts.token_used.as_ref().unwrap().state
    }

    /// The journal's exchanges of `operation`.
    fn exchanges_of(&self, operation: &str) -> Vec<Arc<Exchange>> {
        self.live()
            .into_iter()
            .filter(|e| e.operation() == Some(operation))
            .collect()
    }
}

/// An event in golive's reading of the events API.
fn event(id: &str, event_id: &str, kind: &str) -> Value {
    serde_json::json!({"eventId": event_id, "eventType": kind, "clientTransactionId": id, "timestamp": "2024-05-01T12:00:00Z"})
}
