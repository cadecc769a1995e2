//! The journeys golive plays as the shopper: paying through the e-wallet (shop page →
//! e-wallet → pay → back to the shop's callback) and forging a callback the e-wallet never
//! made. KontoCloud never calls the shop on its own, so there are no provider journeys.

use crate::driver::browser::{self, Navigation};
use crate::driver::StepContext;
use crate::driver::{step_as, Act, Actors};
use crate::journal::Facts;
use crate::sandbox::{lock, random_text};
use crate::suite::ParsedStep;

use super::api::KontoCloudSandbox;
use super::steps::{ForgeCallback, ShopperStep};
use super::{OP_EWALLET, OP_EWALLET_COMPLETE};

#[async_trait::async_trait]
impl Actors for KontoCloudSandbox {
    async fn act(&self, act: Act, step: &ParsedStep, ctx: &mut StepContext) -> Result<(), String> {
        if act == Act::Provider {
            return Err("KontoCloud has no provider-initiated steps".into());
        }
        match step_as::<ShopperStep>(step)? {
            ShopperStep::Pay(outcome) => self.pay(ctx, outcome).await,
            ShopperStep::ForgeCallback(forge) => self.forge(ctx, forge).await,
        }
    }
}

impl KontoCloudSandbox {
    /// The shopper's journey: shop page → e-wallet → pay → back to the shop's callback.
    async fn pay(&self, ctx: &mut StepContext, outcome: &str) -> Result<(), String> {
        let to_ewallet = self.follow_shop_pages(ctx).await?;
        let landing = ctx
            .navigate(&to_ewallet, OP_EWALLET, Facts::default())
            .await?;
        if !(200..300).contains(&landing.status) {
            return Err(format!(
                "the e-wallet refused the shop's payment request ({}): {}",
                landing.status,
                browser::page_text(&landing.text(), 300)
            ));
        }
        // The e-wallet's pay page: submit it with the scripted outcome.
        let mut pay = browser::next_navigation(&landing.url, &landing)
            .ok_or("the e-wallet page has no pay form")?;
        for f in pay.fields.iter_mut() {
            if f.0 == "outcome" {
                f.1 = outcome.to_owned();
            }
        }
        let back = ctx
            .navigate(&pay, OP_EWALLET_COMPLETE, Facts::default())
            .await?;
        let to_shop = browser::next_navigation(&back.url, &back)
            .ok_or("the e-wallet did not send the browser back")?;
        let reference = url_param(&to_shop.url, "uniqueReference");
        let facts = Facts {
            payment: reference,
            payment_state: url_param(&to_shop.url, "paymentResult"),
            ..Facts::default()
        };
        ctx.navigate(&to_shop, "callback", facts).await?;
        Ok(())
    }

    /// Follows the shop's page until it sends the browser to the e-wallet (a redirect or a
    /// form, perhaps pages of the shop's own in between, at most a few hops); the navigation
    /// to the e-wallet, not yet made.
    async fn follow_shop_pages(&self, ctx: &mut StepContext) -> Result<Navigation, String> {
        let mut current = ctx
            .trigger_answer()
            .await?
            .ok_or("no shop page to follow: fire the trigger that starts the payment first")?;
        for _ in 0..=5 {
            let nav = browser::next_navigation(&current.url, &current).ok_or_else(|| {
                format!(
                    "the shop's page (answer {}) does not send the browser anywhere: expected a redirect or a form to the KontoCloud e-wallet",
                    current.status
                )
            })?;
            if nav.url.starts_with(&ctx.sandbox_url) {
                return Ok(nav);
            }
            current = ctx.navigate(&nav, "shop_page", Facts::default()).await?;
        }
        Err("the shop's pages never reached the e-wallet within 5 hops".into())
    }

    /// A callback the e-wallet never made, posted straight to the shop's callBackUrl.
    async fn forge(&self, ctx: &mut StepContext, forge: &ForgeCallback) -> Result<(), String> {
        // The shopper tampering with the URL saw the shop's pages up to the e-wallet (not the
        // e-wallet itself): the callBackUrl and the shop's order id come from there.
        let known_callback = lock(&self.state).callback_url.is_some();
        let to_ewallet = if known_callback {
            None
        } else {
            Some(self.follow_shop_pages(ctx).await?)
        };
        let callback = self.callback_url_for(to_ewallet.as_ref())?;
        let reference = match forge.unique_reference.as_str() {
            "unknown" => random_text(22),
            "last" => lock(&self.state)
                .last_payment
                .clone()
                .ok_or("no real payment in this scenario to forge a callback for")?,
            other => other.to_owned(),
        };
        let mut url = url::Url::parse(&callback)
            .map_err(|e| format!("the shop's callBackUrl `{callback}` is not a URL: {e}"))?;
        url.query_pairs_mut()
            .append_pair("paymentResult", &forge.payment_result)
            .append_pair(
                "merchantTransactionId",
                &self.order_reference_for(ctx, to_ewallet.as_ref()),
            )
            .append_pair("uniqueReference", &reference);
        let nav = Navigation {
            method: "POST".into(),
            url: url.to_string(),
            fields: Vec::new(),
        };
        let facts = Facts {
            payment: Some(reference),
            payment_state: Some(forge.payment_result.clone()),
            forged: true,
            ..Facts::default()
        };
        ctx.navigate(&nav, "forged_callback", facts).await?;
        Ok(())
    }

    /// The shop's own id for the order a forged callback names: the one it sent the e-wallet
    /// or a trigger captured, else the merchantTransactionId of the form on its last page, else
    /// golive's order id (a shop that took it).
    fn order_reference_for(&self, ctx: &StepContext, to_ewallet: Option<&Navigation>) -> String {
        if let Some(r) = ctx
            .order_reference()
            .filter(|r| Some(r) != ctx.var_str("order_id").as_ref())
        {
            return r;
        }
        to_ewallet
            .and_then(|nav| {
                nav.fields
                    .iter()
                    .find(|(k, _)| k == "merchantTransactionId")
                    .map(|(_, v)| v.clone())
                    .or_else(|| url_param(&nav.url, "merchantTransactionId"))
            })
            .or_else(|| ctx.var_str("order_id"))
            .unwrap_or_default()
    }

    /// The callBackUrl the shop gave: from the e-wallet request of this scenario, or from the
    /// shop's navigation to the e-wallet.
    fn callback_url_for(&self, to_ewallet: Option<&Navigation>) -> Result<String, String> {
        if let Some(u) = lock(&self.state).callback_url.clone() {
            return Ok(u);
        }
        let nav = to_ewallet.ok_or("the shop's pages never led to the e-wallet")?;
        nav.fields
            .iter()
            .find(|(k, _)| k == "callBackUrl")
            .map(|(_, v)| v.clone())
            .or_else(|| url_param(&nav.url, "callBackUrl"))
            .ok_or_else(|| "the shop's redirect to the e-wallet carries no callBackUrl".into())
    }
}

fn url_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
