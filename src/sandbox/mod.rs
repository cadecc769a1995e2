//! The simulated provider's core: one axum server on loopback per run, serving the profile a
//! provider opens (`src/providers/<id>/`), and knowing no provider itself.
//!
//! Every request that reaches it is captured whole (method, path, query, headers, body, the
//! answer, timings) and appended to the journal with the running scenario's tag and the facts
//! the profile knew (operation, token state, unrecognised fields...). What every profile needs
//! is here once: the operation table type, request schemas, the token book, fault injection,
//! the correlation of the integration's ids. Profiles only answer; the driver plays the actors.

mod capture;
pub mod correlation;
mod faults;
pub mod operation;
pub mod request_schema;
mod server;
#[cfg(test)]
pub(crate) mod testing;
pub mod tokens;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub use capture::{with_facts, FactsExt, ACTOR_HEADER, MAX_REQUEST_BODY};
pub use correlation::Learned;
pub use faults::{Fault, FaultPlan, Injected};
pub use operation::{Auth, Caller, Dispatch, Operation, Routes};
pub use server::{unserved, Sandbox, SandboxError, ServedOperation, ServerTask};

use crate::journal::{IssuedToken, Journal};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What every profile shares: the journal, the clock, the run's settings and the faults the
/// scenario asked for. Profiles keep their own API state beside it.
pub struct SandboxCore {
    pub journal: Journal,
    base_url: Mutex<String>,
    scenario: Mutex<ScenarioSettings>,
    pub faults: FaultPlan,
    /// The provider's operations (where the integration's ids travel, what is served).
    operations: Mutex<&'static [Operation]>,
    /// The ids the integration used in the running scenario.
    learned: Mutex<Learned>,
}

/// The generic part of a scenario's sandbox behaviour; the rest is the profile's.
#[derive(Debug, Clone)]
pub struct ScenarioSettings {
    pub token_lifetime_s: f64,
    pub time_scale: f64,
}

impl SandboxCore {
    pub fn new(journal: Journal) -> Arc<Self> {
        Arc::new(SandboxCore {
            journal,
            base_url: Mutex::new(String::new()),
            scenario: Mutex::new(ScenarioSettings {
                token_lifetime_s: 600.0,
                time_scale: 1.0,
            }),
            faults: FaultPlan::default(),
            operations: Mutex::new(&[]),
            learned: Mutex::new(Learned::default()),
        })
    }

    /// The provider's operation table, set before the sandbox serves.
    pub fn set_operations(&self, table: &'static [Operation]) {
        *lock(&self.operations) = table;
    }

    pub fn operations(&self) -> &'static [Operation] {
        *lock(&self.operations)
    }

    /// Reads the integration's ids off an exchange of the running scenario.
    pub fn learn(&self, exchange: &crate::journal::Exchange) {
        let table = self.operations();
        lock(&self.learned).learn(table, exchange);
    }

    /// What the running scenario taught so far.
    pub fn learned(&self) -> Learned {
        lock(&self.learned).clone()
    }

    /// Ids the harness found elsewhere (a trigger's answer captured as `order_reference` or
    /// `payment_id`).
    pub fn note(&self, f: impl FnOnce(&mut Learned)) {
        f(&mut lock(&self.learned));
    }

    /// A new scenario: forget the last one's ids.
    pub fn forget_learned(&self) {
        *lock(&self.learned) = Learned::default();
    }

    /// Where the sandbox listens (`http://127.0.0.1:PORT`), once it does.
    pub fn base_url(&self) -> String {
        lock(&self.base_url).clone()
    }

    pub(crate) fn set_base_url(&self, url: String) {
        *lock(&self.base_url) = url;
    }

    pub fn settings(&self) -> ScenarioSettings {
        lock(&self.scenario).clone()
    }

    pub fn set_settings(&self, settings: ScenarioSettings) {
        *lock(&self.scenario) = settings;
    }

    pub fn token_lifetime_s(&self) -> f64 {
        lock(&self.scenario).token_lifetime_s
    }

    /// Issues `token` into `book` for the scenario's token lifetime from now, with what the
    /// provider keeps of it (`info`): what the journal notes of it (`facts.token_issued`).
    pub fn issue_token<V: Clone>(
        &self,
        book: &mut tokens::TokenBook<V>,
        token: &str,
        info: V,
    ) -> IssuedToken {
        let lifetime = self.token_lifetime_s();
        let now = self.now_ms();
        let expires = now + lifetime * 1000.0;
        let fingerprint = book.issue(token, expires, info, now);
        IssuedToken {
            fingerprint,
            lifetime_s: lifetime,
            expires_at_ms: expires,
        }
    }

    /// Milliseconds since the run started (the journal's clock).
    pub fn now_ms(&self) -> f64 {
        self.journal.now_ms()
    }

    /// Applies the generic keys of a `sandbox:` step (`token_lifetime_s`, `inject`) and returns
    /// the rest for the profile.
    pub fn configure_generic(
        &self,
        settings: &serde_json::Map<String, Value>,
    ) -> Result<serde_json::Map<String, Value>, String> {
        let mut rest = settings.clone();
        if let Some(v) = rest.remove("token_lifetime_s") {
            let secs = v
                .as_f64()
                .ok_or_else(|| "`token_lifetime_s` must be a number of seconds".to_string())
                .and_then(|s| crate::suite::bounds::check_duration_s(s, false))
                .map_err(|e| format!("`token_lifetime_s`: {e}"))?;
            lock(&self.scenario).token_lifetime_s = secs;
        }
        if let Some(v) = rest.remove("inject") {
            let faults: Vec<Fault> = serde_json::from_value(v)
                .map_err(|e| format!("`inject` must be a list of faults: {e}"))?;
            for f in faults {
                self.faults.add(f);
            }
        }
        Ok(rest)
    }
}

/// A `sandbox:` step's profile-specific keys, read into the profile's own settings type; the
/// error says what serde found wrong (an unknown key, a value of the wrong type).
pub fn profile_settings<T: serde::de::DeserializeOwned>(
    settings: &serde_json::Map<String, Value>,
) -> Result<T, String> {
    serde_json::from_value(Value::Object(settings.clone())).map_err(|e| e.to_string())
}

/// Random text for references, tokens and ids the simulated providers hand out (letters and
/// digits that cannot be mistaken for one another).
pub fn random_text(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A random (version 4) UUID for the ids the simulated providers hand out, drawn from the
/// thread's generator: `Uuid::new_v4` asks the kernel for every one, a system call on every
/// answer that carries a request id.
pub fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// A JSON answer, as `axum::Json` makes it (its content type; a 500 if the value cannot be
/// serialized), serialized into a `Vec` first: `Json` writes straight into a `BytesMut`
/// through `io::Write`, a call per token serde_json emits, and that was half of what an
/// answer's envelope cost under load (perf).
pub fn json_answer(
    status: axum::http::StatusCode,
    value: &impl serde::Serialize,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes_answer(status, bytes),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            e.to_string(),
        )
            .into_response(),
    }
}

/// An answer of JSON already written (by a profile that writes its envelope itself).
pub fn json_bytes_answer(
    status: axum::http::StatusCode,
    json: Vec<u8>,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One run's simulated provider.
pub trait ProviderSandbox: Send + Sync {
    /// The provider's API, mounted at the sandbox's root: its handlers by operation name,
    /// routed from its operation table ([`Routes`]). The capture layer wraps it.
    fn dispatch(self: Arc<Self>) -> Dispatch;
    /// The test account handed to the integration (`user_id`, `password`, `client_id`...):
    /// the target's environment templates read them as `credentials.<name>`.
    fn credentials(&self) -> BTreeMap<String, String>;
    /// Values that must never reach a report (passwords, secrets, keys).
    fn secrets(&self) -> Vec<String> {
        self.credentials()
            .into_iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                k.contains("password") || k.contains("secret") || k.contains("key")
            })
            .map(|(_, v)| v)
            .collect()
    }
    /// The operations this sandbox serves, for the answer to (and the verdict on) a call it
    /// does not serve, when they depend on the run's settings (a path a suite states); `None`:
    /// the served rows of the provider's operation table.
    fn served(&self) -> Option<Vec<ServedOperation>> {
        None
    }
    /// A scenario starts: forget the last one's scripted behaviour, then apply the suite's
    /// default profile settings.
    fn begin_scenario(&self, defaults: &serde_json::Map<String, Value>) -> Result<(), String>;
    /// A `sandbox:` step's profile-specific keys (the generic ones are already applied).
    fn configure(&self, settings: &serde_json::Map<String, Value>) -> Result<(), String>;
}
