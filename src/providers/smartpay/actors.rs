//! What golive plays as the shopper: the browser running SmartPay's widget in the shop's page,
//! and a page that reports a success the widget never reported. SmartPay has no
//! provider-initiated steps.

use serde_json::{json, Map, Value};

use super::steps::{ForgeSuccess, ShopperStep};
use super::{SmartPaySandbox, FINISHED_TRIGGER, OP_WIDGET_PAY, OP_WIDGET_SESSION};
use crate::driver::{step_as, Act, Actors, Outgoing, StepContext};
use crate::journal::{Actor, Facts};
use crate::sandbox::lock;
use crate::suite::ParsedStep;

#[async_trait::async_trait]
impl Actors for SmartPaySandbox {
    async fn act(&self, act: Act, step: &ParsedStep, ctx: &mut StepContext) -> Result<(), String> {
        if act == Act::Provider {
            return Err("SmartPay has no provider-initiated steps".into());
        }
        match step_as::<ShopperStep>(step)? {
            ShopperStep::Widget(result) => self.widget(ctx, result).await,
            ShopperStep::ForgeSuccess(f) => self.forge(ctx, f).await,
        }
    }
}

impl SmartPaySandbox {
    /// The shopper's browser with SmartPay's widget: take the checkout token from the shop's
    /// page, start the widget with it, pay, and let the page tell the shop's server. A page
    /// without a token (a shop that answered "Pay" at once, 202, and creates the checkout in
    /// the background) gets it from the shop's server once the shop has made its Create
    /// Checkout: the widget waits for that call (at most the wait timeout), not for the answer.
    async fn widget(&self, ctx: &mut StepContext, result: &str) -> Result<(), String> {
        let page = ctx
            .trigger_answer()
            .await?
            .ok_or("no shop page to take the checkout token from: fire the trigger that starts the payment first")?;
        let page_token = find_checkout_token(&page.text());
        let deadline = tokio::time::Instant::now() + ctx.wait_timeout;
        let token = loop {
            let found = lock(&self.state).widget_checkout(page_token.as_deref())?;
            if let Some((_, token)) = found {
                break token;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the shop's answer to the trigger ({}) carries no checkout token for the widget (looked for a `checkoutToken` JSON field, JavaScript property or `data-checkout-token` attribute), and its server made no Create Checkout for it within {:.1} s",
                    page.status,
                    ctx.wait_timeout.as_secs_f64()
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let base = ctx.sandbox_url.trim_end_matches('/').to_owned();
        let mut url =
            url::Url::parse(&format!("{base}/widget/session")).map_err(|e| e.to_string())?;
        url.query_pairs_mut().append_pair("checkoutToken", &token);
        let session = ctx
            .send(Outgoing::new(
                Actor::Browser,
                OP_WIDGET_SESSION,
                "GET",
                url.to_string(),
                ctx.request_timeout,
            ))
            .await?;
        if !(200..300).contains(&session.status) {
            return Err(format!(
                "the widget could not start with the page's checkout token ({})",
                session.status
            ));
        }
        let pay = ctx
            .send(
                Outgoing::new(
                    Actor::Browser,
                    OP_WIDGET_PAY,
                    "POST",
                    format!("{base}/widget/pay"),
                    ctx.request_timeout,
                )
                .json(&json!({"checkoutToken": token, "result": result})),
            )
            .await?;
        let transaction_id = pay
            .json()
            .and_then(|j| j["transactionId"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("the widget could not take the payment ({})", pay.status))?;
        self.tell_shop(ctx, &transaction_id, result, false).await
    }

    /// The page reports a success the widget never reported.
    async fn forge(&self, ctx: &mut StepContext, forge: &ForgeSuccess) -> Result<(), String> {
        let transaction_id = match forge.transaction_id.as_str() {
            "other" => lock(&self.state)
                .captured_of_another_order()
                .ok_or("no captured payment of an earlier scenario to forge a success with: run a scenario whose payment SmartPay captured first")?,
            _ => uuid::Uuid::new_v4().to_string(),
        };
        self.tell_shop(ctx, &transaction_id, "success", true).await
    }

    /// The widget's callback fired: the page tells the shop's server (`payment_finished`).
    async fn tell_shop(
        &self,
        ctx: &mut StepContext,
        transaction_id: &str,
        result: &str,
        forged: bool,
    ) -> Result<(), String> {
        let mut with = Map::new();
        with.insert("transaction_id".into(), json!(transaction_id));
        with.insert("widget_result".into(), json!(result));
        let facts = Facts {
            payment: Some(transaction_id.to_owned()),
            payment_state: Some(result.to_owned()),
            forged,
            ..Facts::default()
        };
        ctx.fire_trigger_with(FINISHED_TRIGGER, &with, facts)
            .await?;
        Ok(())
    }
}

/// Finds the checkout token a page hands to the widget: a JSON field, a JavaScript property
/// or a `data-checkout-token` attribute.
pub fn find_checkout_token(page: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<Value>(page) {
        if let Some(t) = find_key(&json, "checkoutToken") {
            return Some(t);
        }
    }
    let re = regex::Regex::new(
        r#"(?i)(?:checkout[_-]?token)["']?\s*[:=]\s*["']([A-Za-z0-9._~+/=-]{16,})["']"#,
    )
    .expect("valid regex");
    re.captures(page).map(|c| c[1].to_owned())
}

fn find_key(v: &Value, key: &str) -> Option<String> {
    match v {
        Value::Object(m) => m
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}
