//! SmartPay (seed 002): a hosted widget. The shop's server calls Create Checkout (with its
//! secret merchantKey), hands the checkout token to its page, the widget takes the payment and
//! reports success or failure to the page by JavaScript callback, the page tells the shop's
//! server, and the server must confirm with Get Payment Status before it trusts anything.
//!
//! What the public pages state: Basic or Bearer (OAuth 2.0 client credentials) authentication,
//! the optional `X-Access-Token` JWT (at most 512 characters), Create Checkout and Get Payment
//! Status with their fields, the payment statuses, "retry PENDING up to three times within 3
//! minutes", and that capture/refund/cancel carry a unique `modificationId` a retry reuses.
//!
//! Inferred here (no public page says): the error envelope (`errorCode`, `message`,
//! `details`, `requestTime`), `unrecognizedFields` in answers, the FAILED status after a
//! widget error, the modification endpoints `POST /payment/{transactionId}/{capture|refund|
//! cancel}` with `{modificationId, amount}` and their answers, 409 for a modificationId reused
//! for another modification, and the widget's own calls (`/widget/session`, `/widget/pay`),
//! which stand in for what the real widget does inside the shopper's browser.
//!
//! The folder: this file is what the provider is (its ids, its operation table, `impl
//! Provider`); `steps` the `shopper:` and `sandbox:` steps a suite may write; `api` the
//! simulated API (`api/state` what it remembers; `api/payments`, `api/modifications` and
//! `api/widget` its operations); `actors` what golive plays as the shopper; `reference` the
//! built-in reference shop; `tests` the unit tests of the API, steps and actors. Its request schemas are in `schemas/smartpay/`, its bundled suite in
//! `suites/smartpay-go-live.yaml`.

mod actors;
mod api;
pub mod reference;
mod steps;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use crate::providers::{bundled_suite, About, Opened, Provider, StepKind, StepNeeds};
use crate::sandbox::{Auth, Caller, Operation};

pub use actors::find_checkout_token;
pub use api::SmartPaySandbox;

pub const ID: &str = "smartpay";

pub const OP_OAUTH_TOKEN: &str = "oauth_token";
pub const OP_CREATE_CHECKOUT: &str = "create_checkout";
pub const OP_PAYMENT_STATUS: &str = "payment_status";
pub const OP_CAPTURE: &str = "capture";
pub const OP_REFUND: &str = "refund";
pub const OP_CANCEL: &str = "cancel";
pub const OP_WIDGET_SESSION: &str = "widget_session";
pub const OP_WIDGET_PAY: &str = "widget_pay";

/// The trigger through which the shop's page tells its server what the widget reported.
pub const FINISHED_TRIGGER: &str = "payment_finished";

/// Statuses SmartPay documents as "not completed synchronously".
pub const PENDING_STATUSES: &[&str] = &["AUTHORIZATION_PENDING", "CAPTURE_PENDING"];

pub struct SmartPay;

/// SmartPay's API as data. Where the shop's ids travel: its order id is the checkout's
/// partnerReference; the payment id is the transactionId the checkout answers with.
pub const OPERATIONS: &[Operation] = &[
    Operation::new(
        OP_OAUTH_TOKEN,
        Caller::Integration,
        "POST",
        "/oauth2/token",
        "the OAuth 2.0 token (client credentials)",
    )
    .with_auth(Auth::Credentials(
        "client_id and client_secret, in the form or a Basic header",
    ))
    .with_schema(include_str!(
        "../../../schemas/smartpay/oauth_token.form.json"
    )),
    Operation::new(
        OP_CREATE_CHECKOUT,
        Caller::Integration,
        "POST",
        "/payment/creation",
        "Create checkout (Payment Creation)",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH))
    .with_schema(include_str!(
        "../../../schemas/smartpay/create_checkout.request.json"
    ))
    .with_order_reference(&["body:/partnerReference"])
    .with_payment_id(&["answer:/transactionId"]),
    Operation::new(
        OP_PAYMENT_STATUS,
        Caller::Integration,
        "GET",
        "/payment/status/{transaction_id}",
        "Get Payment Status",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH)),
    Operation::new(
        OP_CAPTURE,
        Caller::Integration,
        "POST",
        "/payment/{transaction_id}/capture",
        "Capture",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH))
    .with_schema(include_str!(
        "../../../schemas/smartpay/modification.request.json"
    )),
    Operation::new(
        OP_REFUND,
        Caller::Integration,
        "POST",
        "/payment/{transaction_id}/refund",
        "Refund",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH))
    .with_schema(include_str!(
        "../../../schemas/smartpay/modification.request.json"
    )),
    Operation::new(
        OP_CANCEL,
        Caller::Integration,
        "POST",
        "/payment/{transaction_id}/cancel",
        "Cancel",
    )
    .with_auth(Auth::Token(SMARTPAY_AUTH))
    .with_schema(include_str!(
        "../../../schemas/smartpay/modification.request.json"
    )),
    Operation::new(
        OP_WIDGET_SESSION,
        Caller::Shopper,
        "GET",
        "/widget/session",
        "the hosted widget, opened with the checkout token",
    )
    .with_note(WIDGET_INFERRED),
    Operation::new(
        OP_WIDGET_PAY,
        Caller::Shopper,
        "POST",
        "/widget/pay",
        "the shopper pays in the hosted widget",
    )
    .with_note(WIDGET_INFERRED),
];

/// How SmartPay's API calls authenticate.
const SMARTPAY_AUTH: &str = "Authorization: Bearer, or Basic merchantKey:authenticationKey";
const WIDGET_INFERRED: &str =
    "inferred: the widget is a script in the shop's page; golive plays it as two calls";

pub static ABOUT: About = About {
    id: ID,
    title: "SmartPay (J.P. Morgan Mobility Payments hosted widget)",
    operations: OPERATIONS,
    credential_names: &[
        "merchant_key",
        "authentication_key",
        "client_id",
        "client_secret",
    ],
    reference: &reference::REFERENCE,
    suite: bundled_suite!("smartpay-go-live.yaml"),
    open: |core| Opened::of(Arc::new(SmartPaySandbox::new(core))),
    parse_step: steps::parse,
    trigger_answers: &[(
        "start_payment",
        "the checkout page the widget opens: it carries the checkout token of this order's Create Checkout (a `checkoutToken` JSON field, a JavaScript property or a `data-checkout-token` attribute), or it answers at once (202, say) while your server creates the checkout in the background",
    )],
};

impl Provider for SmartPay {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    /// Every shopper step ends with the page telling the shop's server (`tell_shop`).
    fn step_uses_earlier_scenarios(&self, kind: StepKind, params: &Value) -> bool {
        kind == StepKind::Shopper
            && params.pointer("/forge_success/transaction_id") == Some(&Value::from("other"))
    }

    fn step_needs(&self, kind: StepKind, _params: &Value) -> StepNeeds {
        match kind {
            StepKind::Shopper => StepNeeds {
                triggers: vec![(FINISHED_TRIGGER, &["transaction_id", "widget_result"])],
                webhooks: vec![],
            },
            _ => StepNeeds::default(),
        }
    }
}
