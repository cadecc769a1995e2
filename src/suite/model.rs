//! The suite and target, as the runner uses them once validated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::report::Severity;

/// A provider's go-live checklist: journeys to drive and rules the traffic must follow.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Format version of the file (1).
    pub golive: u32,
    pub id: String,
    pub title: String,
    /// The provider profile whose sandbox this suite drives (`kontocloud`).
    pub provider: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub settings: SuiteSettings,
    pub scenarios: Vec<Scenario>,
    pub checks: Vec<CheckSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuiteSettings {
    /// Token lifetime the sandbox grants unless a scenario says otherwise. Realistic (minutes),
    /// so that token reuse can be judged fairly.
    pub token_lifetime_s: f64,
    /// How long a `wait_for` step waits unless it says otherwise.
    pub wait_timeout_s: f64,
    /// How long one request of the harness to the target may take.
    pub request_timeout_s: f64,
    /// Multiplies the provider's own clocks (pending windows, retry pacing) and the time
    /// windows of rules: 0.01 runs a "3 minutes" rule in 1.8 s. Tests use it; real
    /// assessments keep 1.
    pub time_scale: f64,
    /// Profile settings the sandbox starts every scenario with (see the profile's docs).
    pub sandbox: serde_json::Map<String, Value>,
}

impl Default for SuiteSettings {
    fn default() -> Self {
        SuiteSettings {
            token_lifetime_s: 600.0,
            wait_timeout_s: 10.0,
            request_timeout_s: 30.0,
            time_scale: 1.0,
            sandbox: serde_json::Map::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Variables the scenario's triggers can use (`amount`, `payment_type`, ...). `order_id`
    /// is always there, new for each scenario.
    #[serde(default)]
    pub vars: serde_json::Map<String, Value>,
    pub steps: Vec<Step>,
    /// A load scenario: drive the journey this many times against the one integration, each
    /// repetition its own order (`order_id`) and payment, with its own `{{ order.reference }}`
    /// and `{{ payment.id }}`; `concurrency` of them at once. Unset: once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// How many repetitions of a `repeat` scenario run at once (default 1: one after another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
}

impl Scenario {
    /// How many times the journey is driven (1 unless `repeat`).
    pub fn repetitions(&self) -> usize {
        self.repeat.unwrap_or(1).max(1) as usize
    }

    /// How many repetitions run at once (at most all of them).
    pub fn concurrent(&self) -> usize {
        (self.concurrency.unwrap_or(1).max(1) as usize).min(self.repetitions())
    }

    /// How many rounds of [`Scenario::concurrent`] repetitions the journey takes, one after
    /// another.
    pub fn rounds(&self) -> usize {
        self.repetitions().div_ceil(self.concurrent())
    }
}

/// One thing the harness does in a journey.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Call one of the target's named triggers (its own HTTP endpoints).
    Trigger(TriggerStep),
    /// Act as the shopper (browser, widget, app): provider-specific, see the profile.
    Shopper(ProviderStep),
    /// Act as the provider calling the integration (webhook, notification): provider-specific.
    Provider(ProviderStep),
    /// Change how the sandbox behaves from now on in this scenario (token lifetime, injected
    /// faults, scripted statuses): provider-specific keys, see the profile.
    Sandbox(serde_json::Map<String, Value>),
    /// Wait until the integration makes a call.
    WaitFor(WaitFor),
    /// Ask the shop whether it considers the order paid (the target's `order_probe`).
    ProbeOrder(ProbeOrder),
    /// Let time pass: real seconds (token lifetimes are real), unless `scaled`.
    Sleep(Sleep),
}

/// A provider-specific step: its params as the suite wrote them, and the provider's typed
/// reading of them, parsed once when the suite is paired with its provider (validation, or the
/// start of a run) and handed to the provider's actors as it is.
#[derive(Clone, Deserialize, Serialize)]
#[serde(from = "Value", into = "Value")]
pub struct ProviderStep {
    pub params: Value,
    parsed: std::sync::OnceLock<ParsedStep>,
}

/// A provider's typed step (its own enum; the provider's actors downcast it).
pub type ParsedStep = std::sync::Arc<dyn std::any::Any + Send + Sync>;

impl ProviderStep {
    /// The provider's reading, once parsed.
    pub fn parsed(&self) -> Option<&ParsedStep> {
        self.parsed.get()
    }

    /// Parses the params with the provider's parser unless that was done already.
    pub fn parse_with(
        &self,
        parse: impl FnOnce(&Value) -> Result<ParsedStep, String>,
    ) -> Result<&ParsedStep, String> {
        if let Some(p) = self.parsed.get() {
            return Ok(p);
        }
        let parsed = parse(&self.params)?;
        Ok(self.parsed.get_or_init(|| parsed))
    }
}

impl From<Value> for ProviderStep {
    fn from(params: Value) -> Self {
        ProviderStep {
            params,
            parsed: std::sync::OnceLock::new(),
        }
    }
}

impl From<ProviderStep> for Value {
    fn from(step: ProviderStep) -> Value {
        step.params
    }
}

impl std::fmt::Debug for ProviderStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderStep")
            .field("params", &self.params)
            .field("parsed", &self.parsed.get().is_some())
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerStep {
    pub name: String,
    /// Variables for this call, on top of the scenario's.
    #[serde(default)]
    pub with: serde_json::Map<String, Value>,
    /// Fail the step (and record it) unless the target answers with a 2xx or 3xx.
    #[serde(default = "yes")]
    pub expect_success: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WaitFor {
    /// The sandbox operation to wait for (`payment_status`).
    pub operation: String,
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// How many such calls to wait for (default 1).
    #[serde(default = "one")]
    pub count: usize,
    /// Whether the scenario goes on (the checks will judge) when the call never comes.
    #[serde(default = "yes")]
    pub optional: bool,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProbeOrder {
    /// Probe again until the shop says paid or this long has passed (for shops that verify
    /// in the background). 0 probes once.
    #[serde(default)]
    pub settle_s: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sleep {
    pub seconds: f64,
    /// Multiply by the suite's `time_scale` (for waits in the provider's own time).
    #[serde(default)]
    pub scaled: bool,
}

/// A rule of the checklist.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub id: String,
    pub title: String,
    /// The rule in words, for the reviewer.
    pub description: String,
    pub severity: Severity,
    /// Where the rule comes from: a seed section (`seed 000 §3`), or `inferred`.
    pub source: String,
    pub kind: String,
    /// Only these scenarios (default: every scenario the kind applies to).
    #[serde(default)]
    pub scenarios: Option<Vec<String>>,
    #[serde(default)]
    pub params: Value,
}

/// How to reach and drive the team's integration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub golive: u32,
    pub name: String,
    /// The provider this integration talks to; checked against the suite's when given.
    #[serde(default)]
    pub provider: Option<String>,
    /// How to start the integration; without it, golive attaches to `base_url`.
    #[serde(default)]
    pub start: Option<StartCommand>,
    /// Where the integration listens (templated: `http://127.0.0.1:{{ port }}`).
    pub base_url: String,
    #[serde(default)]
    pub ready: Ready,
    pub triggers: BTreeMap<String, HttpCall>,
    #[serde(default)]
    pub order_probe: Option<OrderProbe>,
    /// Paths of the integration's own endpoints the provider calls (webhooks), by name.
    #[serde(default)]
    pub webhooks: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartCommand {
    /// The program and its arguments; a single string is run by `sh -c`.
    pub command: CommandLine,
    #[serde(default)]
    pub cwd: Option<String>,
    /// Environment handed to the integration (templated with `sandbox.url`,
    /// `credentials.*`, `port`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum CommandLine {
    Shell(String),
    Argv(Vec<String>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ready {
    /// A path that answers 2xx once the integration can take traffic.
    pub path: String,
    pub timeout_s: f64,
}

impl Default for Ready {
    fn default() -> Self {
        Ready {
            path: "/".into(),
            timeout_s: 30.0,
        }
    }
}

/// A request to the integration, templated from the scenario's variables.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCall {
    #[serde(default = "post")]
    pub method: String,
    /// Required unless the trigger is `not_offered`.
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body; a string that is exactly one `{{ var }}` keeps the variable's type.
    #[serde(default)]
    pub json: Option<Value>,
    /// A form body (application/x-www-form-urlencoded).
    #[serde(default)]
    pub form: Option<BTreeMap<String, String>>,
    /// Variables to take from the answer: a JSON pointer (`{transaction_id: /transactionId}`),
    /// or a form field, element, regex, header or cookie (see `driver::capture`).
    #[serde(default)]
    pub capture: BTreeMap<String, Capture>,
    /// The shop does not offer this (e.g. `automatic capture`: no capture endpoint). Scenarios
    /// that fire the trigger are reported as not applicable, with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_offered: Option<String>,
}

/// Where a trigger's answer holds a value.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Capture {
    /// A JSON pointer into a JSON answer (`/transactionId`).
    Pointer(String),
    From(CaptureFrom),
}

/// One source (and an optional `regex` to refine it, or `regex` alone on the body).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CaptureFrom {
    /// A JSON pointer into a JSON answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The value of the page's input (textarea, select) with this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_field: Option<String>,
    /// The first element a CSS selector matches: its `attr`, else an input's value or the
    /// element's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub css: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attr: Option<String>,
    /// A response header (`Location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A cookie the answer sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// A regular expression: its first group (or the whole match) is the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

fn get() -> String {
    "GET".into()
}

fn post() -> String {
    "POST".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderProbe {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// When the answer means "paid".
    pub paid_when: PaidWhen,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PaidWhen {
    /// A JSON pointer into the answer (`/status`).
    pub pointer: String,
    /// The values that mean paid (compared as JSON values; strings case-insensitively).
    #[serde(rename = "in")]
    pub any_of: Vec<Value>,
}
