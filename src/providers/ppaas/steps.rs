//! What a PPaaS suite may write in its steps, as types: the `provider:` step (PPaaS forwards
//! a terminal's QR code payment), the `shopper:` step (the consumer in front of the terminal)
//! and the profile keys of a `sandbox:` step; and their parsing, once, before anything runs.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::events_api::{EventsApi, EventsEndpoint};
use crate::providers::StepKind;
use crate::suite::ParsedStep;

/// Reads a step of `kind` into its type; the error says what was expected.
pub(super) fn parse(kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
    match kind {
        StepKind::Provider => serde_json::from_value::<ProviderStep>(params.clone())
            .map(|s| Arc::new(s) as ParsedStep)
            .map_err(|e| format!("{e}; expected `qrcode_payment: {{amount, currency, ...}}`")),
        StepKind::Shopper => serde_json::from_value::<ShopperStep>(params.clone())
            .map(|s| Arc::new(s) as ParsedStep)
            .map_err(|e| {
                format!(
                    "{e}; expected `consumer: pays`, `consumer: declines` or `consumer: abandons`"
                )
            }),
        StepKind::Sandbox => {
            let s = serde_json::from_value::<SandboxSettings>(params.clone())
                .map_err(|e| e.to_string())?;
            // A suite's reading of the events API is checked before anything runs.
            if let Some(api) = s.events_api.clone() {
                EventsEndpoint::new(api)?;
            }
            if let Some(t) = s.webhook_timeout_s {
                crate::suite::bounds::check_duration_s(t, false)
                    .map_err(|e| format!("`webhook_timeout_s`: {e}"))?;
            }
            Ok(Arc::new(s))
        }
    }
}

/// `provider:` steps: PPaaS forwards a terminal's action to the service provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(super) enum ProviderStep {
    QrcodePayment(QrPayment),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct QrPayment {
    /// Minor units (seed 001: `"amount": 2000` for 20.00 EUR).
    #[serde(default = "default_amount")]
    pub(super) amount: i64,
    #[serde(default = "eur")]
    pub(super) currency: String,
    #[serde(default = "default_description")]
    pub(super) description: String,
    /// The seed's example says `KB`.
    #[serde(default = "kb")]
    pub(super) payment_type: String,
    #[serde(default = "consumerscan")]
    pub(super) payment_scenario: String,
    /// Fields PPaaS adds on top (a newer PPaaS, a terminal extension): the service provider
    /// must tolerate them.
    #[serde(default)]
    pub(super) extra_fields: serde_json::Map<String, Value>,
}

fn default_amount() -> i64 {
    2000
}
fn eur() -> String {
    "EUR".into()
}
fn default_description() -> String {
    "golive QR code payment".into()
}
fn kb() -> String {
    "KB".into()
}
fn consumerscan() -> String {
    "consumerscan".into()
}

/// `shopper:` steps: the consumer in front of the terminal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(super) enum ShopperStep {
    /// The consumer scans the QR code and pays, declines, or walks away. The payment happens
    /// at the service provider, so golive tells the service provider through the target's
    /// `consumer` trigger (its test hook; INFERRED: a real wallet app plays this part).
    Consumer(ConsumerAction),
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(super) enum ConsumerAction {
    Pays,
    Declines,
    Abandons,
}

impl ConsumerAction {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ConsumerAction::Pays => "pays",
            ConsumerAction::Declines => "declines",
            ConsumerAction::Abandons => "abandons",
        }
    }
}

/// Profile keys of `sandbox:` steps (besides the generic `token_lifetime_s` and `inject`).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct SandboxSettings {
    /// How PPaaS acknowledges events: `always` (default), `never`, or `{fail_first: N}`.
    #[serde(default)]
    pub(super) ack: Option<AckScript>,
    /// How long PPaaS waits for the webhook's answer (provider time, scaled).
    #[serde(default)]
    pub(super) webhook_timeout_s: Option<f64>,
    /// golive's reading of the unpublished events API (see [`EventsApi`]).
    #[serde(default)]
    pub(super) events_api: Option<EventsApi>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
pub(super) enum AckScript {
    Mode(AckMode),
    FailFirst {
        fail_first: u32,
        /// The status of the refusals (a 5xx).
        #[serde(default = "server_error")]
        status: u16,
    },
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(super) enum AckMode {
    Always,
    Never,
}

fn server_error() -> u16 {
    500
}

impl Default for AckScript {
    fn default() -> Self {
        AckScript::Mode(AckMode::Always)
    }
}
