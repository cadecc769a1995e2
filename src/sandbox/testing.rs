//! A provider-free profile for the core's own tests: a sandbox that serves two operations of
//! no provider (one reading a JSON body, one a path), so the server, the capture layer and the
//! driver can be tested without any provider's knowledge.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::routing::{get, post};
use serde_json::{Map, Value};

use super::{ProviderSandbox, Sandbox, SandboxCore};
use crate::journal::Journal;

struct Bare;

impl ProviderSandbox for Bare {
    fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route(
                "/user/{user_id}/issue",
                post(|body: axum::Json<Value>| async move { body }),
            )
            .route("/payment/{id}/status", get(|| async { "{}" }))
    }

    fn credentials(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("password".to_string(), "sbx-bare-secret".to_string())])
    }

    fn begin_scenario(&self, _: &Map<String, Value>) -> Result<(), String> {
        Ok(())
    }

    fn configure(&self, _: &Map<String, Value>) -> Result<(), String> {
        Ok(())
    }
}

/// A running bare sandbox on a free port.
pub async fn bare(journal: Journal) -> Sandbox {
    Sandbox::serve(SandboxCore::new(journal), Arc::new(Bare), 0)
        .await
        .expect("a free loopback port")
}
