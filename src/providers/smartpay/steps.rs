//! The `shopper:` and `sandbox:` steps a SmartPay suite may write, read once into their own
//! types before anything runs (the actors and the API get them as read).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::providers::StepKind;
use crate::suite::ParsedStep;

/// Every status a scenario may script (the documented ones, `AUTORIZATION_INITIALIZED` with
/// SmartPay's spelling, plus the inferred failure states).
const KNOWN_STATUSES: &[&str] = &[
    "CREATED",
    "AUTORIZATION_INITIALIZED",
    "AUTHORIZATION_PENDING",
    "AUTHORIZATION_COMPLETED",
    "CAPTURE_PENDING",
    "CAPTURED",
    "SETTLED",
    "FAILED",
    "CANCELLED",
];

/// Reads a step of `kind` (SmartPay has no `provider:` steps).
pub(super) fn parse(kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
    match kind {
        StepKind::Shopper => parse_shopper(params).map(|s| Arc::new(s) as ParsedStep),
        StepKind::Sandbox => SandboxSettings::parse(params.clone()).map(|s| Arc::new(s) as ParsedStep),
        StepKind::Provider => Err("SmartPay does not call the shop on its own; the widget reports to the shopper's page (`shopper:` steps)".into()),
    }
}

/// `shopper:` steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(super) enum ShopperStep {
    /// The widget takes the payment (`success`) or fails it (`error`) and its callback fires;
    /// the page tells the shop's server through the `payment_finished` trigger.
    Widget(String),
    /// The page tells the shop's server of a success the widget never reported.
    ForgeSuccess(ForgeSuccess),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForgeSuccess {
    /// `unknown` (a transactionId SmartPay never issued) or `other` (a real, paid payment of
    /// an earlier scenario: another order's).
    #[serde(default = "unknown")]
    pub(super) transaction_id: String,
}

fn unknown() -> String {
    "unknown".into()
}

fn parse_shopper(params: &Value) -> Result<ShopperStep, String> {
    let step: ShopperStep = serde_json::from_value(params.clone())
        .map_err(|e| format!("{e}; expected `widget: success|error` or `forge_success: {{transaction_id: unknown|other}}`"))?;
    match &step {
        ShopperStep::Widget(r) if r != "success" && r != "error" => {
            Err(format!("`widget: {r}`: expected `success` or `error`"))
        }
        ShopperStep::ForgeSuccess(f)
            if f.transaction_id != "unknown" && f.transaction_id != "other" =>
        {
            Err(format!(
                "`forge_success.transaction_id: {}`: expected `unknown` or `other`",
                f.transaction_id
            ))
        }
        _ => Ok(step),
    }
}

/// Profile keys of `sandbox:` steps (besides the generic `token_lifetime_s` and `inject`).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct SandboxSettings {
    /// What Get Payment Status reports for payments the widget completes from now on: each
    /// query advances one step, the last one repeats (default `[CAPTURED]`).
    #[serde(default)]
    pub(super) status_sequence: Option<Vec<String>>,
}

impl SandboxSettings {
    /// Reads and checks a `sandbox:` step's profile keys.
    pub(super) fn parse(params: Value) -> Result<Self, String> {
        let s: SandboxSettings = serde_json::from_value(params).map_err(|e| e.to_string())?;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), String> {
        if let Some(seq) = &self.status_sequence {
            if seq.is_empty() {
                return Err("`status_sequence` needs at least one status".into());
            }
            if let Some(bad) = seq.iter().find(|s| !KNOWN_STATUSES.contains(&s.as_str())) {
                return Err(format!(
                    "`status_sequence`: unknown status `{bad}`; expected one of: {}",
                    KNOWN_STATUSES.join(", ")
                ));
            }
        }
        Ok(())
    }
}
