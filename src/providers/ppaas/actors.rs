//! The steps golive plays around the service provider under test: PPaaS forwarding a
//! terminal's QR code payment to its webhook (and judging whether the terminal can show the
//! answer), and the consumer acting on the QR code through the target's `consumer` trigger.

use serde_json::{json, Value};

use super::api::{jwt, PPaaSSandbox, Transaction};
use super::steps::{ConsumerAction, ProviderStep, QrPayment, ShopperStep};
use super::{inferred, OP_QRCODE_PAYMENT, ROLE_WEBHOOK};
use crate::driver::{step_as, Act, Actors, Outgoing, StepContext};
use crate::journal::{Actor, Facts};
use crate::sandbox::lock;
use crate::suite::ParsedStep;

#[async_trait::async_trait]
impl Actors for PPaaSSandbox {
    async fn act(&self, act: Act, step: &ParsedStep, ctx: &mut StepContext) -> Result<(), String> {
        match act {
            Act::Provider => {
                let ProviderStep::QrcodePayment(p) = step_as::<ProviderStep>(step)?;
                self.qrcode_payment(ctx, p).await
            }
            Act::Shopper => {
                let ShopperStep::Consumer(action) = step_as::<ShopperStep>(step)?;
                self.consumer(ctx, *action).await
            }
        }
    }
}

impl PPaaSSandbox {
    /// The webhook body PPaaS forwards for a terminal's QR code payment (seed 001 fields,
    /// enriched with the merchant's data).
    pub(super) fn webhook_body(
        &self,
        p: &QrPayment,
        client_transaction_id: &str,
        order_id: &str,
    ) -> Value {
        let mut body = json!({
            "paymentType": p.payment_type,
            "paymentScenario": p.payment_scenario,
            "clientTransactionId": client_transaction_id,
            "paymentAmount": { "amount": p.amount, "currency": p.currency },
            "order": { "orderId": order_id, "orderDescription": p.description },
        });
        for (k, v) in inferred::ENRICHMENT {
            body[*k] = json!(v);
        }
        for (k, v) in &p.extra_fields {
            body[k.as_str()] = v.clone();
        }
        body
    }

    /// Whether the terminal can display the answer, and what is wrong with it otherwise.
    pub(super) fn judge_answer(
        &self,
        status: u16,
        body: &[u8],
        client_transaction_id: &str,
    ) -> (Vec<String>, Vec<String>) {
        if !(200..300).contains(&status) {
            return (Vec::new(), Vec::new());
        }
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return (vec!["the answer is not JSON".into()], Vec::new());
        };
        let findings = self.answer_schema.check(&json);
        let mut errors = findings.errors;
        // The seed names no field for the id: any field carrying it will do, but a
        // clientTransactionId naming another transaction is an answer about something else.
        match json.get("clientTransactionId").and_then(Value::as_str) {
            Some(echoed) if echoed != client_transaction_id => errors.push(format!(
                "clientTransactionId: the answer is about `{echoed}`, PPaaS asked about `{client_transaction_id}`"
            )),
            _ if json.is_object() && !carries(&json, client_transaction_id) => {
                errors.push(format!(
                    "body: the answer does not carry the transaction id PPaaS asked about (`{client_transaction_id}`)"
                ))
            }
            _ => {}
        }
        (errors, findings.unrecognized)
    }

    /// PPaaS calls the service provider's webhook with a terminal's QR code payment.
    async fn qrcode_payment(&self, ctx: &mut StepContext, p: &QrPayment) -> Result<(), String> {
        let path = ctx
            .webhook(OP_QRCODE_PAYMENT)
            .ok_or("the target maps no `webhooks.qrcode_payment` path: PPaaS does not know where to forward the QR code payment")?;
        let url = ctx.target_url(&path);
        let client_transaction_id = uuid::Uuid::new_v4().to_string();
        let order_id = ctx.var_str("order_id").unwrap_or_default();
        let body = self.webhook_body(p, &client_transaction_id, &order_id);
        let timeout_s = lock(&self.state).webhook_timeout_s;
        let timeout = crate::suite::bounds::duration_s((timeout_s * ctx.time_scale).max(0.05));
        // The terminal's token, forwarded by PPaaS (seed 001: terminals get short-lived
        // tokens, expires_in 300). Never shown in reports: the redaction masks Bearer values.
        let terminal_token = jwt(json!({
            "typ": "Bearer",
            "azp": "ppaas-terminal",
            "device_id": inferred::ENRICHMENT[2].1,
            "exp": time::OffsetDateTime::now_utc().unix_timestamp() + 300,
        }));
        let mut out = Outgoing::new(Actor::Provider, ROLE_WEBHOOK, "POST", url, timeout)
            .json(&body)
            .header("authorization", &format!("Bearer {terminal_token}"))
            .header("x-request-id", &uuid::Uuid::new_v4().to_string());
        lock(&self.state).transactions.insert(
            client_transaction_id.clone(),
            Transaction {
                displayed: false,
                problem: Some("no answer yet".into()),
            },
        );
        ctx.vars
            .insert("client_transaction_id".into(), json!(client_transaction_id));

        // Recorded once judged (like the order probe): the journal gets one exchange with
        // what PPaaS made of the answer.
        out.facts = Facts {
            payment: Some(client_transaction_id.clone()),
            order: Some(order_id),
            ..Facts::of(OP_QRCODE_PAYMENT)
        };
        out.facts
            .notes
            .insert("timeout_ms".into(), json!(timeout.as_secs_f64() * 1000.0));
        let mut problem = None;
        let _ = ctx
            .http
            .send_judged(out, |result, facts| {
                problem = match result {
                    Ok(o) => {
                        let (errors, unrecognized) =
                            self.judge_answer(o.status, &o.body, &client_transaction_id);
                        let problem = if !(200..300).contains(&o.status) {
                            Some(format!("the service provider answered {}", o.status))
                        } else if !errors.is_empty() {
                            Some(format!(
                                "the answer is not a QR code the terminal can show: {}",
                                errors.join("; ")
                            ))
                        } else {
                            None
                        };
                        facts.answer_errors = errors;
                        if !unrecognized.is_empty() {
                            facts
                                .notes
                                .insert("answer_unrecognized".into(), json!(unrecognized));
                        }
                        problem
                    }
                    Err(e) => Some(format!("no answer: {e}")),
                };
                facts.payment_state = Some(
                    if problem.is_none() {
                        inferred::QR_DISPLAYED
                    } else {
                        inferred::QR_NOT_DISPLAYED
                    }
                    .into(),
                );
            })
            .await;
        let mut st = lock(&self.state);
        st.transactions.insert(
            client_transaction_id.clone(),
            Transaction {
                displayed: problem.is_none(),
                problem,
            },
        );
        st.last_transaction = Some(client_transaction_id);
        // A refused or late answer is for the checks to judge; the journey goes on.
        Ok(())
    }

    /// The consumer acts on the QR code the terminal shows.
    async fn consumer(&self, ctx: &mut StepContext, action: ConsumerAction) -> Result<(), String> {
        let (id, tx) = {
            let st = lock(&self.state);
            let id = st
                .last_transaction
                .clone()
                .ok_or("no QR code payment in this scenario yet: a `provider: {qrcode_payment: ...}` step comes first")?;
            let tx = st
                .transactions
                .get(&id)
                .cloned()
                .ok_or("the scenario's QR code payment is unknown")?;
            (id, tx)
        };
        if !tx.displayed {
            return Err(format!(
                "the terminal shows no QR code for the consumer to scan ({})",
                tx.problem.unwrap_or_default()
            ));
        }
        let mut with = serde_json::Map::new();
        with.insert("client_transaction_id".into(), json!(id));
        with.insert("consumer_action".into(), json!(action.as_str()));
        let answer = ctx.fire_trigger("consumer", &with).await?;
        if !(200..300).contains(&answer.status) {
            return Err(format!(
                "the service provider's `consumer` hook answered {}: {}",
                answer.status,
                answer.text().chars().take(200).collect::<String>()
            ));
        }
        Ok(())
    }
}

/// Whether a JSON value holds `id` as a string anywhere (a field's value, an array's item).
fn carries(v: &Value, id: &str) -> bool {
    match v {
        Value::String(s) => s == id,
        Value::Object(m) => m.values().any(|x| carries(x, id)),
        Value::Array(a) => a.iter().any(|x| carries(x, id)),
        _ => false,
    }
}
