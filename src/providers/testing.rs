//! What the providers' unit tests share: a provider's sandbox on loopback with a client to call
//! it, and a request's answer read as JSON.

use serde_json::Value;

use crate::journal::Journal;
use crate::providers::Provider;
use crate::sandbox::Sandbox;

/// A client for tests that call a sandbox on loopback (never through a proxy).
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The provider's sandbox for one run on a free port, journaling in memory, and a client.
pub(crate) async fn serve(provider: &dyn Provider) -> (Sandbox, reqwest::Client) {
    let (sandbox, _actors) = crate::providers::start(provider, Journal::in_memory(), 0)
        .await
        .unwrap();
    (sandbox, client())
}

/// Sends a request: its answer's status and JSON body (`null` when it is not JSON).
pub(crate) async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}
