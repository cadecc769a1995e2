//! The MobilePay reference integration: a point-of-sale backend (a till's server) that takes
//! MobilePay payments through the PoS V10 API.
//!
//! Two compliant styles, both allowed by the V10 documentation:
//! - `a`: a token carrying the merchant_vat claim, GUID idempotency keys, payments initiated in
//!   one call, polls exactly `pollDelayInMs` apart, 3 attempts per call, token renewed a minute
//!   before expiry.
//! - `b`: a token without the claim and the `x-mobilepay-merchant-vat-number` header instead,
//!   idempotency keys of its own format (time and counter), the prepared payment flow
//!   (prepare, then ready with the amount), polls half as often again as asked, 1 + 3 attempts
//!   with a growing back-off, token renewed after 80% of its life.
//!
//! Flaws are the mistakes the self-certification and a reviewer look for, one switch each.
//!
//! The folder: this file (the styles and the flaws, each with the checks that catch it);
//! `client` (the till's MobilePay client: token, headers, retries); `till` (what the till
//! does: its point of sale, payments followed to the end, refunds); `routes` (the endpoints
//! golive's triggers call, and `serve`).

mod client;
mod routes;
mod till;

use crate::reference::{Flaw, Reference};
use routes::serve;

pub const REFERENCE: Reference = Reference::new(
    "mobilepay",
    &["a", "b"],
    &["token with the merchant_vat claim; GUID idempotency keys; payments initiated in one call; polls exactly pollDelayInMs apart; 3 attempts", "merchant VAT header instead of the claim; own idempotency key format; prepare-then-ready flow; slower polls; 1 + 3 attempts with back-off"],
    FLAWS,
    include_str!("../../../../targets/mobilepay-reference.yaml"),
    serve,
)
    .test_time_scale(0.05); // pollDelayInMs 50 ms on the wire

pub const FLAWS: &[Flaw] = &[
    Flaw {
        name: "token_per_call",
        description: "fetches a new access token for every API call",
        caught_by: &["MP-TOKEN-REUSE"],
    },
    Flaw {
        name: "new_key_on_retry",
        description: "makes a new idempotency key for every attempt, so a retry after a timeout or 500 is a new request",
        caught_by: &["MP-IDEMPOTENCY"],
    },
    Flaw {
        name: "reused_key_other_body",
        description: "reuses the payment's idempotency key for its refund (MobilePay answers 409 1306)",
        caught_by: &["MP-IDEMPOTENCY", "MP-REFUND-COMPLETED", "MP-REFUND-CANCELLED"],
    },
    Flaw {
        name: "no_idempotency_key",
        description: "sends refunds without x-mobilepay-idempotency-key (MobilePay answers 400 1164)",
        caught_by: &["MP-IDEMPOTENCY", "MP-REFUND-COMPLETED", "MP-REFUND-CANCELLED"],
    },
    Flaw {
        name: "retry_after_4xx",
        description: "retries a call MobilePay refused with a 4xx (409 1301) with the same key before recovering",
        caught_by: &["MP-RETRIES"],
    },
    Flaw {
        name: "capture_retry_after_400",
        description: "sends a capture MobilePay refused with a 400 again, unchanged",
        caught_by: &["MP-RETRIES"],
    },
    Flaw {
        name: "unbounded_retries",
        description: "retries a failing call ten times instead of at most six attempts",
        caught_by: &["MP-RETRIES"],
    },
    Flaw {
        name: "poll_too_fast",
        description: "polls four times as often as pollDelayInMs allows, and asks twice each time",
        caught_by: &["MP-POLL-INTERVAL"],
    },
    Flaw {
        name: "capture_before_reserved",
        description: "captures right after initiating, before any poll returned Reserved (MobilePay answers 1304)",
        caught_by: &["MP-CAPTURE"],
    },
    Flaw {
        name: "capture_above_reserved",
        description: "first tries to capture the total plus a tip that was never reserved (MobilePay answers 1305)",
        caught_by: &["MP-CAPTURE"],
    },
    Flaw {
        name: "duplicate_version_header",
        description: "its refund client sends x-mobilepay-client-system-version twice (MobilePay answers 400 1157)",
        caught_by: &["MP-API-HEADERS", "MP-REFUND-COMPLETED", "MP-REFUND-CANCELLED"],
    },
    Flaw {
        name: "creates_pos_without_lookup",
        description: "creates its point of sale at start-up without looking it up first",
        caught_by: &["MP-POS-LOOKUP"],
    },
    Flaw {
        name: "ignores_active_payment",
        description: "gives up on 409 1301 instead of looking up, cancelling and re-initiating",
        caught_by: &["MP-ACTIVE-PAYMENT"],
    },
    Flaw {
        name: "paid_on_initiate",
        description: "closes the order as paid once the payment is initiated, whatever the customer does later",
        caught_by: &["MP-CANCELLED-NOT-PAID"],
    },
    Flaw {
        name: "order_left_open",
        description: "captures the payment but never closes the order as paid (it waits for a Captured poll it never makes)",
        caught_by: &["MP-PAYMENT-COMPLETED"],
    },
    Flaw {
        name: "vat_header_missing_on_lookup",
        description: "uses a token without merchant_vat and forgets x-mobilepay-merchant-vat-number when it looks up active payments (400 1151)",
        caught_by: &["MP-MERCHANT-VAT", "MP-ACTIVE-PAYMENT"],
    },
    Flaw {
        name: "refund_label_too_long",
        description: "sends a merchantRefundLabel longer than 36 characters (the refund is refused)",
        caught_by: &["MP-REQUEST-SCHEMA", "MP-REFUND-COMPLETED", "MP-REFUND-CANCELLED"],
    },
    Flaw {
        name: "ignore_token_expiry",
        description: "keeps using its access token after expires_in (and renews only when refused)",
        caught_by: &["MP-TOKEN-VALID"],
    },
    Flaw {
        name: "cancel_only_on_till",
        description: "cancels on the till without telling MobilePay, so the customer can still pay",
        caught_by: &["MP-CANCEL"],
    },
    Flaw {
        name: "unknown_field",
        description: "sends a field Initiate Payment does not know (tipAmount)",
        caught_by: &["MP-UNRECOGNIZED-FIELDS"],
    },
    Flaw {
        name: "calls_retired_endpoint",
        description:
            "after each new token, also calls a health check the API does not have (GET /v0/health, from an old SDK) and ignores the answer",
        caught_by: &["MP-UNKNOWN-OPERATION"],
    },
];
