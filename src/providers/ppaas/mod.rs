//! PPaaS (seed 001): the Worldline/Ingenico platform for terminals and service providers.
//!
//! Here the integration under test is a *service provider*: PPaaS forwards a terminal's QR code
//! payment to the service provider's webhook, the service provider answers with a QR code the
//! terminal displays, the consumer scans and pays at the service provider, and the service
//! provider sends asynchronous events back to PPaaS (with a Bearer token obtained by client
//! credentials), which acknowledges them.
//!
//! What the seed states: the Keycloak-style token endpoint and its answer, the resource example
//! `GET /resources/v1/countries`, the webhook request fields, and the flow (webhook → answer →
//! events → acknowledgement). What it does not state is in [`inferred`], in one place.
//!
//! This file is what the provider is: its ids, its API as data ([`OPERATIONS`]) and
//! `impl Provider`. The rest of the folder:
//! - `steps`: the typed `provider:`, `shopper:` and `sandbox:` steps a suite may write, and
//!   their parsing;
//! - `events_api`: the suite-stated reading of the unpublished events API (path, field names,
//!   event types) and the event schema built from it;
//! - `api`: the simulated API: its state, answer envelopes, handlers, router and
//!   `impl ProviderSandbox`;
//! - `actors`: the journeys golive plays (the webhook PPaaS sends, the consumer);
//! - `reference`: the built-in reference service provider;
//! - `tests`: the unit tests of the simulated API and the steps.
//!
//! Its request schemas are in `schemas/ppaas/`, its bundled suite in `suites/ppaas-go-live.yaml`.

mod actors;
mod api;
mod events_api;
pub mod reference;
mod steps;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use crate::providers::{bundled_suite, About, Opened, Provider, StepKind, StepNeeds};
use crate::sandbox::{Auth, Caller, Operation};

pub use api::PPaaSSandbox;

pub const ID: &str = "ppaas";

pub const OP_TOKEN: &str = "token";
pub const OP_COUNTRIES: &str = "countries";
pub const OP_EVENT: &str = "transaction_event";
/// The operation golive (as PPaaS) calls on the service provider.
pub const OP_QRCODE_PAYMENT: &str = "qrcode_payment";
/// The role of the webhook exchange in the journal.
pub const ROLE_WEBHOOK: &str = "webhook";

/// Everything about PPaaS that no public page states, in one place. Suites and schemas that
/// rely on it say "inferred". The events API's part (path, field names, event types) is the
/// default of [`EventsApi`](events_api::EventsApi): the bundled suite states the same reading in
/// `settings.sandbox.events_api`, where a suite may state another.
pub mod inferred {
    /// Where the service provider posts its events about a transaction.
    pub const EVENTS_PATH: &str = "/qrcode-payment/v1/transactions/{client_transaction_id}/events";
    /// An event's field names: its id (kept on redelivery), its type, the transaction it is
    /// about, when it happened.
    pub const EVENT_FIELDS: [&str; 4] =
        ["eventId", "eventType", "clientTransactionId", "timestamp"];
    /// Event types. The seed says only that events "inform about the payment process flow".
    pub const NON_TERMINAL_EVENTS: &[&str] = &["QR_CODE_SCANNED", "PAYMENT_PENDING"];
    /// Event types that end a transaction: nothing follows them.
    pub const TERMINAL_EVENTS: &[&str] = &[
        "PAYMENT_SUCCEEDED",
        "PAYMENT_FAILED",
        "PAYMENT_EXPIRED",
        "PAYMENT_CANCELLED",
    ];
    /// Names of the data PPaaS adds to the terminal's call ("such as merchant ID and acquirer").
    pub const ENRICHMENT: &[(&str, &str)] = &[
        ("merchantId", "MERCHANT-GOLIVE-0001"),
        ("acquirerId", "ACQUIRER-GOLIVE-01"),
        ("terminalId", "ingenico-DX8000-2097CD800007"),
    ];
    /// The state the journal gives a webhook exchange whose answer the terminal can display.
    pub const QR_DISPLAYED: &str = "QR_CODE_DISPLAYED";
    pub const QR_NOT_DISPLAYED: &str = "QR_CODE_NOT_DISPLAYED";
    /// How long PPaaS waits for the webhook's answer unless a scenario says otherwise (provider
    /// time: scaled by the suite's `time_scale`).
    pub const WEBHOOK_TIMEOUT_S: f64 = 10.0;
    /// The error envelope of the events API: `{errorCode, message, correlationId}`.
    pub const ERROR_FIELDS: (&str, &str, &str) = ("errorCode", "message", "correlationId");
}

pub struct PPaaS;

/// PPaaS's API as data (the events operation first: an unserved call most likely meant it).
/// Where the service provider's ids travel: the payment id is the clientTransactionId in the
/// events path.
pub const OPERATIONS: &[Operation] = &[
    Operation::new(
        OP_EVENT,
        Caller::Integration,
        "POST",
        inferred::EVENTS_PATH,
        "the PPaaS events operation",
    )
    .with_auth(Auth::Token("Authorization: Bearer"))
    .with_payment_id(&["segment:3"])
    .with_note(
        "inferred: no public page states it; a suite sets it in settings.sandbox.events_api",
    ),
    Operation::new(
        OP_TOKEN,
        Caller::Integration,
        "POST",
        "/auth/realms/{realm}/protocol/openid-connect/token",
        "the PPaaS token operation",
    )
    .with_auth(Auth::Credentials(
        "client_id and client_secret (client credentials grant)",
    ))
    .with_schema(include_str!("../../../schemas/ppaas/token.form.json")),
    Operation::new(
        OP_COUNTRIES,
        Caller::Integration,
        "GET",
        "/resources/v1/countries",
        "the PPaaS countries resource",
    )
    .with_auth(Auth::Token("Authorization: Bearer")),
    Operation::new(
        OP_QRCODE_PAYMENT,
        Caller::Provider,
        "POST",
        "the service provider's webhooks.qrcode_payment",
        "PPaaS asks the service provider for a QR code payment",
    )
    .with_auth(Auth::Provider(
        "a Bearer token PPaaS issued to itself (terminal token)",
    ))
    .with_schema(include_str!(
        "../../../schemas/ppaas/qrcode_payment.request.json"
    )),
];

pub static ABOUT: About = About {
    id: ID,
    title: "PPaaS (Worldline/Ingenico payment platform: service provider QR code payments)",
    operations: OPERATIONS,
    credential_names: &["realm", "client_id", "client_secret"],
    reference: &reference::REFERENCE,
    suite: bundled_suite!("ppaas-go-live.yaml"),
    open: |core| Opened::of(Arc::new(PPaaSSandbox::new(core))),
    parse_step: steps::parse,
    trigger_answers: &[],
};

impl Provider for PPaaS {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    /// A QR code payment is forwarded to the target's webhook (`qrcode_payment`); the consumer
    /// acts through the target's `consumer` trigger (`consumer`).
    fn step_needs(&self, kind: StepKind, _params: &Value) -> StepNeeds {
        match kind {
            StepKind::Provider => StepNeeds {
                triggers: vec![],
                webhooks: vec![OP_QRCODE_PAYMENT],
            },
            StepKind::Shopper => StepNeeds {
                triggers: vec![("consumer", &["client_transaction_id", "consumer_action"])],
                webhooks: vec![],
            },
            StepKind::Sandbox => StepNeeds::default(),
        }
    }
}
