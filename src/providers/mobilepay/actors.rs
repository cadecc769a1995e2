//! The journeys golive plays for MobilePay: the customer in the MobilePay app (`shopper:`
//! steps). MobilePay itself calls the PoS for nothing (its notification service is not
//! simulated), so there are no `provider:` steps.

use std::time::Duration;

use super::steps::{AppAction, ShopperStep};
use super::MobilePaySandbox;
use crate::driver::{step_as, Act, Actors, Outgoing, StepContext};
use crate::journal::Actor;
use crate::suite::ParsedStep;

#[async_trait::async_trait]
impl Actors for MobilePaySandbox {
    async fn act(&self, act: Act, step: &ParsedStep, ctx: &mut StepContext) -> Result<(), String> {
        if act == Act::Provider {
            return Err("the MobilePay profile has no provider-initiated steps".into());
        }
        app(self, ctx, step_as::<ShopperStep>(step)?.app).await
    }
}

/// The customer opens the app: waits (bounded) for the PoS to issue a payment in this
/// scenario, then answers it.
async fn app(
    sb: &MobilePaySandbox,
    ctx: &mut StepContext,
    action: AppAction,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + ctx.wait_timeout;
    let payment_id = loop {
        if let Some(id) = sb.issued_payment() {
            break id;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the point of sale issued no payment to the customer within {:.1} s",
                ctx.wait_timeout.as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let verb = match action {
        AppAction::Approve => "approve",
        AppAction::Reject => "reject",
    };
    let url = format!(
        "{}/golive/app/{payment_id}/{verb}",
        ctx.sandbox_url.trim_end_matches('/')
    );
    let out = Outgoing::new(Actor::Browser, "app", "POST", url, ctx.request_timeout);
    let answer = ctx.send(out).await?;
    if !(200..300).contains(&answer.status) {
        return Err(format!(
            "the app could not {verb} the payment: {} {}",
            answer.status,
            answer.text()
        ));
    }
    Ok(())
}
