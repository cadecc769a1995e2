//! A provider-free profile for the core's own tests: a sandbox that serves two operations of
//! no provider (one reading a JSON body, one a path), so the server, the capture layer and the
//! driver can be tested without any provider's knowledge.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Caller, Dispatch, Operation, ProviderSandbox, Routes, Sandbox, SandboxCore};
use crate::journal::Journal;

struct Bare;

/// The bare profile's operations.
const BARE_OPERATIONS: &[Operation] = &[
    Operation::new(
        "issue",
        Caller::Integration,
        "POST",
        "/user/{user_id}/issue",
        "echo",
    ),
    Operation::new(
        "status",
        Caller::Integration,
        "GET",
        "/payment/{id}/status",
        "{}",
    ),
];

impl ProviderSandbox for Bare {
    fn dispatch(self: Arc<Self>) -> Dispatch {
        Routes::new(BARE_OPERATIONS)
            .answer("issue", |body: axum::Json<Value>| async move { body })
            .answer("status", || async { "{}" })
            .with_state(())
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
