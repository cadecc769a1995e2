//! What MobilePay's steps in a suite say: the customer's `shopper:` steps in the app, and the
//! profile keys of `sandbox:` steps, read once before anything runs.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::providers::StepKind;
use crate::suite::bounds::check_duration_s;
use crate::suite::ParsedStep;

/// Reads a provider-specific step into its type (the provider's `parse_step`).
pub(super) fn parse(kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
    match kind {
        StepKind::Shopper => serde_json::from_value::<ShopperStep>(params.clone())
            .map(|s| Arc::new(s) as ParsedStep)
            .map_err(|e| format!("{e}; expected `app: approve` or `app: reject`")),
        StepKind::Sandbox => {
            let s = serde_json::from_value::<SandboxSettings>(params.clone())
                .map_err(|e| e.to_string())?;
            if let Some(ms) = s.poll_delay_ms {
                check_duration_s(ms / 1000.0, true)
                    .map_err(|_| format!("`poll_delay_ms`: {ms} is not a number of milliseconds from 0 to 86400000 (one day)"))?;
            }
            if let Some(secs) = s.payment_expiry_s {
                check_duration_s(secs, false).map_err(|e| format!("`payment_expiry_s`: {e}"))?;
            }
            Ok(Arc::new(s))
        }
        StepKind::Provider => Err(
            "the MobilePay profile has no provider-initiated steps yet (the notification service is not simulated)"
                .into(),
        ),
    }
}

/// `shopper:` steps: the customer in the MobilePay app.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ShopperStep {
    pub(super) app: AppAction,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(super) enum AppAction {
    /// The customer swipes to pay: IssuedToUser, then Reserved.
    Approve,
    /// The customer declines: IssuedToUser, then CancelledByUser.
    Reject,
}

/// Profile keys of `sandbox:` steps (besides the generic `token_lifetime_s` and `inject`).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct SandboxSettings {
    /// `pollDelayInMs` in provider time (multiplied by the run's time scale on the wire).
    #[serde(default)]
    pub(super) poll_delay_ms: Option<f64>,
    /// The next payment initiated (or prepared) finds an active payment for the same point of
    /// sale and order, left by a PoS that crashed mid-payment: 409 1301.
    #[serde(default)]
    pub(super) already_active: Option<bool>,
    /// How long an unanswered payment waits for the customer, in provider time.
    #[serde(default)]
    pub(super) payment_expiry_s: Option<f64>,
}
