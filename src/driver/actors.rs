//! The provider's actors: the shopper's browser, widget or app, and the provider calling the
//! integration on its own. A provider implements [`Actors`]; the driver plays its `shopper:` and
//! `provider:` steps through it, so the sandbox only answers and never drives.

use super::StepContext;
use crate::suite::ParsedStep;

/// Which provider-specific step is being acted out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// The shopper's browser, widget or app.
    Shopper,
    /// The provider calling the integration (webhook, notification).
    Provider,
}

/// One run's provider actors.
#[async_trait::async_trait]
pub trait Actors: Send + Sync {
    /// A `shopper:` or `provider:` step, as the provider's `parse_step` read it (its own type,
    /// to downcast).
    async fn act(&self, act: Act, step: &ParsedStep, ctx: &mut StepContext) -> Result<(), String>;
}

/// A parsed step as the provider's own type `T` (what its `parse_step` returned for this kind
/// of step); a mismatch is a bug in the provider, named.
pub fn step_as<T: 'static>(step: &ParsedStep) -> Result<&T, String> {
    step.downcast_ref::<T>().ok_or_else(|| {
        format!(
            "golive bug: the step was not parsed as {}",
            std::any::type_name::<T>()
        )
    })
}
