//! The simulated provider: one axum server on loopback per run, one profile per provider.
//!
//! Every request that reaches it is captured whole (method, path, query, headers, body, the
//! answer, timings) and appended to the journal with the running scenario's tag and the facts
//! the profile knew (operation, token state, unrecognised fields...). Profiles only answer.

mod capture;
pub mod correlation;
mod faults;
pub mod kontocloud;
pub mod mobilepay;
pub mod ppaas;
pub mod request_schema;
mod server;
pub mod smartpay;
pub mod tokens;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub use capture::{with_facts, FactsExt, ACTOR_HEADER, MAX_REQUEST_BODY};
pub use correlation::{Correlation, Learned};
pub use faults::{Fault, FaultPlan};
pub use server::{unserved, Sandbox, SandboxError, ServedOperation};

use crate::driver::StepContext;
use crate::journal::Journal;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What every profile shares: the journal, the clock, the run's settings and the faults the
/// scenario asked for. Profiles keep their own API state beside it.
pub struct SandboxCore {
    pub journal: Journal,
    base_url: Mutex<String>,
    scenario: Mutex<ScenarioSettings>,
    pub faults: FaultPlan,
    /// The provider's table of where the integration's ids travel.
    correlation: Mutex<&'static [Correlation]>,
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
            correlation: Mutex::new(&[]),
            learned: Mutex::new(Learned::default()),
        })
    }

    pub(crate) fn set_correlation(&self, table: &'static [Correlation]) {
        *lock(&self.correlation) = table;
    }

    /// Reads the integration's ids off an exchange of the running scenario.
    pub fn learn(&self, exchange: &crate::journal::Exchange) {
        let table = *lock(&self.correlation);
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

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Which provider-specific step is being acted out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// The shopper's browser, widget or app.
    Shopper,
    /// The provider calling the integration (webhook, notification).
    Provider,
}

/// A provider: its simulated API, what a step in its suites may say, and its reference
/// integrations. Adding a provider is one implementation of this trait (plus its schemas and
/// its suite), not a change to the runner.
pub trait Provider: Send + Sync {
    /// The id suites name (`kontocloud`).
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// A fresh sandbox for one run.
    fn sandbox(&self, core: Arc<SandboxCore>) -> Arc<dyn ProviderSandbox>;
    /// Checks the provider-specific part of a step before anything runs; the error says what
    /// was expected.
    fn validate_step(&self, act: StepKind, params: &Value) -> Result<(), String>;
    /// Every operation name the sandbox journals (the calls it answers and the calls it makes
    /// to the integration): what `wait_for`, `inject` and check params may name.
    fn operations(&self) -> &'static [&'static str];
    /// The names of the test account's credentials (`credentials.<name>` in a target).
    fn credential_names(&self) -> &'static [&'static str];
    /// What a valid provider-specific step needs from the target (triggers it fires, webhooks
    /// it calls), so a target that lacks them is named before anything runs.
    fn step_needs(&self, _act: StepKind, _params: &Value) -> StepNeeds {
        StepNeeds::default()
    }
    /// Which operations carry the merchant's order reference and the provider's payment id,
    /// and where (see `correlation`).
    fn correlation(&self) -> &'static [Correlation] {
        &[]
    }
}

/// What one provider-specific step needs the target to map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepNeeds {
    /// Triggers the step fires, each with the variables the step hands it (its templates may
    /// use them).
    pub triggers: Vec<(&'static str, &'static [&'static str])>,
    /// Webhooks (`webhooks.<name>` in the target) the step calls.
    pub webhooks: Vec<&'static str>,
}

/// The provider-specific step kinds a suite may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Shopper,
    Provider,
    Sandbox,
}

/// One run's simulated provider.
pub trait ProviderSandbox: Send + Sync {
    /// The provider's API, mounted at the sandbox's root. The capture layer wraps it.
    fn router(self: Arc<Self>) -> axum::Router;
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
    /// does not serve. A profile that lists none still answers such a call with a 404.
    fn served(&self) -> Vec<ServedOperation> {
        Vec::new()
    }
    /// A scenario starts: forget the last one's scripted behaviour, then apply the suite's
    /// default profile settings.
    fn begin_scenario(&self, defaults: &serde_json::Map<String, Value>) -> Result<(), String>;
    /// A `sandbox:` step's profile-specific keys (the generic ones are already applied).
    fn configure(&self, settings: &serde_json::Map<String, Value>) -> Result<(), String>;
    /// A `shopper:` or `provider:` step.
    fn act<'a>(
        &'a self,
        act: Act,
        params: &'a Value,
        ctx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// Every provider golive can play.
pub fn providers() -> Vec<&'static dyn Provider> {
    vec![
        &kontocloud::KontoCloud,
        &smartpay::SmartPay,
        &mobilepay::MobilePay,
        &ppaas::PPaaS,
    ]
}

/// The provider a suite names.
pub fn provider(id: &str) -> Option<&'static dyn Provider> {
    providers()
        .into_iter()
        .find(|p| p.id().eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What validation accepts as credential names is what each sandbox hands out.
    #[test]
    fn credential_names_are_the_sandboxes_credentials() {
        for p in providers() {
            let dir = tempfile::tempdir().unwrap();
            let journal = Journal::create(&dir.path().join("j.jsonl")).unwrap();
            let sandbox = p.sandbox(SandboxCore::new(journal));
            let mut handed: Vec<String> = sandbox.credentials().into_keys().collect();
            let mut named: Vec<String> =
                p.credential_names().iter().map(|s| s.to_string()).collect();
            handed.sort();
            named.sort();
            assert_eq!(handed, named, "{}", p.id());
            assert!(!p.operations().is_empty(), "{}", p.id());
        }
    }
}
