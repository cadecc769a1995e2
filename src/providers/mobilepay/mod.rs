//! MobilePay PoS V10 (seed 004, providers.md): a point-of-sale API. The integrator's PoS
//! backend gets a client-credentials token, makes sure its point of sale exists, initiates a
//! payment, polls it (no faster than `pollDelayInMs`) until the customer has approved it in the
//! MobilePay app (Reserved), then captures it; refunds work the same way.
//!
//! Error codes and statuses follow the public V10 "API Errors" page where it names them (1000,
//! 1151, 1153, 1157, 1161, 1164, 1301, 1304, 1305, 1306, 2000-2999, 401 and 404 without a
//! code). Where it does not (the HTTP status of 1304/1305, a duplicate merchantPosId, a
//! refund above what is left), the answer is (inferred) and says so in its message.
//!
//! The customer's MobilePay app is played by the harness through `/golive/app/...`, an
//! endpoint of this simulator only (the real app talks to MobilePay, never to the PoS).
//!
//! The folder: this file (what the provider is: its ids, its API as an operation table, its
//! `impl Provider`); `steps` (what its `shopper:` and `sandbox:` steps say); `api` (the
//! simulated API: state, the checks every call goes through, one file per resource);
//! `actors` (the customer's app, played by golive); `reference` (the built-in reference
//! shop); `tests` (the API's unit tests). Its request schemas are in `schemas/mobilepay/`, its
//! bundled suite in `suites/mobilepay-go-live.yaml`.

mod actors;
mod api;
pub mod reference;
mod steps;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::providers::{bundled_suite, About, Opened, Provider};
use crate::sandbox::{Auth, Caller, Operation};

pub use api::MobilePaySandbox;

pub const ID: &str = "mobilepay";

pub const OP_TOKEN: &str = "token";
pub const OP_POS_LOOKUP: &str = "pos_lookup";
pub const OP_POS_CREATE: &str = "pos_create";
pub const OP_PAYMENT_INITIATE: &str = "payment_initiate";
pub const OP_PAYMENT_PREPARE: &str = "payment_prepare";
pub const OP_PAYMENT_READY: &str = "payment_ready";
pub const OP_PAYMENT_LOOKUP: &str = "payment_lookup";
pub const OP_PAYMENT_POLL: &str = "payment_poll";
pub const OP_PAYMENT_CAPTURE: &str = "payment_capture";
pub const OP_PAYMENT_CANCEL: &str = "payment_cancel";
pub const OP_REFUND_INITIATE: &str = "refund_initiate";
pub const OP_REFUND_POLL: &str = "refund_poll";
pub const OP_REFUND_CAPTURE: &str = "refund_capture";
pub const OP_REFUND_CANCEL: &str = "refund_cancel";
pub const OP_APP_APPROVE: &str = "app_approve";
pub const OP_APP_REJECT: &str = "app_reject";

pub const CLIENT_ID_HEADER: &str = "x-ibm-client-id";
pub const VERSION_HEADER: &str = "x-mobilepay-client-system-version";
pub const VAT_HEADER: &str = "x-mobilepay-merchant-vat-number";
pub const IDEMPOTENCY_HEADER: &str = "x-mobilepay-idempotency-key";

pub struct MobilePay;

/// MobilePay PoS's API as data. Where the shop's ids travel: its order id is the payment's
/// orderId; the payment id is the paymentId initiate and prepare answer with.
pub const OPERATIONS: &[Operation] = &[
    Operation::new(
        OP_TOKEN,
        Caller::Integration,
        "POST",
        "/integrator-authentication/connect/token",
        "the integrator token (client credentials)",
    )
    .with_auth(Auth::Credentials(
        "client_id and client_secret, in the form or a Basic header",
    ))
    .with_schema(include_str!("../../../schemas/mobilepay/token.form.json")),
    Operation::new(
        OP_POS_LOOKUP,
        Caller::Integration,
        "GET",
        "/pos/v10/pointofsales",
        "look up points of sale",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/pos_lookup.query.json"
    )),
    Operation::new(
        OP_POS_CREATE,
        Caller::Integration,
        "POST",
        "/pos/v10/pointofsales",
        "create a point of sale",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/pos_create.request.json"
    )),
    Operation::new(
        OP_PAYMENT_INITIATE,
        Caller::Integration,
        "POST",
        "/pos/v10/payments",
        "initiate a payment",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_initiate.request.json"
    ))
    .with_order_reference(&["body:/orderId"])
    .with_payment_id(&["answer:/paymentId"]),
    Operation::new(
        OP_PAYMENT_PREPARE,
        Caller::Integration,
        "POST",
        "/pos/v10/payments/prepare",
        "prepare a payment (amount later)",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_prepare.request.json"
    ))
    .with_order_reference(&["body:/orderId"])
    .with_payment_id(&["answer:/paymentId"]),
    Operation::new(
        OP_PAYMENT_READY,
        Caller::Integration,
        "POST",
        "/pos/v10/payments/{payment_id}/ready",
        "a prepared payment is ready for the customer (its amount)",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_ready.request.json"
    )),
    Operation::new(
        OP_PAYMENT_LOOKUP,
        Caller::Integration,
        "GET",
        "/pos/v10/payments",
        "look up payments (by orderId, posId...)",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_lookup.query.json"
    )),
    Operation::new(
        OP_PAYMENT_POLL,
        Caller::Integration,
        "GET",
        "/pos/v10/payments/{payment_id}",
        "poll a payment",
    )
    .with_auth(BEARER),
    Operation::new(
        OP_PAYMENT_CAPTURE,
        Caller::Integration,
        "POST",
        "/pos/v10/payments/{payment_id}/capture",
        "capture a reserved payment",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/payment_capture.request.json"
    )),
    Operation::new(
        OP_PAYMENT_CANCEL,
        Caller::Integration,
        "POST",
        "/pos/v10/payments/{payment_id}/cancel",
        "cancel a payment",
    )
    .with_auth(BEARER),
    Operation::new(
        OP_REFUND_INITIATE,
        Caller::Integration,
        "POST",
        "/pos/v10/refunds",
        "initiate a refund",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/refund_initiate.request.json"
    )),
    Operation::new(
        OP_REFUND_POLL,
        Caller::Integration,
        "GET",
        "/pos/v10/refunds/{refund_id}",
        "poll a refund",
    )
    .with_auth(BEARER),
    Operation::new(
        OP_REFUND_CAPTURE,
        Caller::Integration,
        "POST",
        "/pos/v10/refunds/{refund_id}/capture",
        "capture a refund",
    )
    .with_auth(BEARER)
    .with_schema(include_str!(
        "../../../schemas/mobilepay/refund_capture.request.json"
    )),
    Operation::new(
        OP_REFUND_CANCEL,
        Caller::Integration,
        "POST",
        "/pos/v10/refunds/{refund_id}/cancel",
        "cancel a refund",
    )
    .with_auth(BEARER),
    Operation::new(
        OP_APP_APPROVE,
        Caller::Shopper,
        "POST",
        "/golive/app/{payment_id}/approve",
        "the customer approves in the MobilePay app",
    )
    .with_note(APP_IS_GOLIVE),
    Operation::new(
        OP_APP_REJECT,
        Caller::Shopper,
        "POST",
        "/golive/app/{payment_id}/reject",
        "the customer rejects in the MobilePay app",
    )
    .with_note(APP_IS_GOLIVE),
];

const BEARER: Auth = Auth::Token("Authorization: Bearer");
const APP_IS_GOLIVE: &str = "golive's own: the app is the customer's phone, played by golive";

pub static ABOUT: About = About {
    id: ID,
    title: "MobilePay PoS V10",
    operations: OPERATIONS,
    credential_names: &["client_id", "client_secret", "merchant_vat"],
    reference: &reference::REFERENCE,
    suite: bundled_suite!("mobilepay-go-live.yaml"),
    open: |core| Opened::of(Arc::new(MobilePaySandbox::new(core))),
    parse_step: steps::parse,
    trigger_answers: &[],
};

impl Provider for MobilePay {
    fn about(&self) -> &'static About {
        &ABOUT
    }
}
