//! What KontoCloud's steps may say: `shopper:` steps (the journeys golive plays in the
//! shopper's browser) and the profile keys of `sandbox:` steps, read once before anything runs.
//! KontoCloud has no `provider:` steps: it never calls the shop on its own.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::providers::StepKind;
use crate::suite::ParsedStep;

/// `shopper:` steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(super) enum ShopperStep {
    /// Follow the shop's redirect to the e-wallet, pay with this result (`OK`, or an error
    /// text such as `Insufficient funds`), and come back to the callback.
    Pay(String),
    /// Post a callback the e-wallet never made.
    ForgeCallback(ForgeCallback),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForgeCallback {
    #[serde(default = "ok")]
    pub payment_result: String,
    /// `unknown` (a reference KontoCloud never issued) or `last` (the last real payment of
    /// the scenario, whatever its status).
    #[serde(default = "unknown")]
    pub unique_reference: String,
}

fn ok() -> String {
    "OK".into()
}
fn unknown() -> String {
    "unknown".into()
}

/// Profile keys of `sandbox:` steps (besides the generic `token_lifetime_s` and `inject`).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct SandboxSettings {
    /// What Get Payment Status reports for payments completed from now on.
    #[serde(default)]
    pub payment: Option<PaymentScript>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct PaymentScript {
    /// `statusCode` to report (default: CAPTURED for Purchase, AUTHORIZED for BlockAmount).
    #[serde(default)]
    pub status: Option<String>,
    /// `presentationAmount` to report (default: the amount the shopper paid).
    #[serde(default)]
    pub amount: Option<f64>,
}

/// Reads a KontoCloud step ([`crate::providers::Provider::parse_step`]).
pub(super) fn parse(kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
    match kind {
        StepKind::Shopper => {
            const EXPECTED: &str = "expected exactly one of `pay: <OK or an error text>` or `forge_callback: {...}`";
            if let Some(map) = params.as_object().filter(|m| m.len() != 1) {
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                return Err(format!("{EXPECTED}; found keys {}", keys.join(", ")));
            }
            serde_json::from_value::<ShopperStep>(params.clone())
                .map(|s| Arc::new(s) as ParsedStep)
                .map_err(|e| format!("{e}; {EXPECTED}"))
        }
        StepKind::Sandbox => serde_json::from_value::<SandboxSettings>(params.clone())
            .map(|s| Arc::new(s) as ParsedStep)
            .map_err(|e| e.to_string()),
        StepKind::Provider => Err("KontoCloud does not call the shop on its own; the journey goes through the shopper's browser (`shopper:` steps)".into()),
    }
}
