//! KontoCloud (seeds 000 and 003): an e-wallet. The shop issues a token (1.45 Issue Token),
//! sends the shopper's browser to the e-wallet with a form POST, gets the browser back with a
//! POST to its `callBackUrl`, and must confirm with 1.41 Get Payment Status before trusting it.
//!
//! The e-wallet's own pages are (inferred): the seeds document only what goes in (the form
//! fields) and what comes out (the callback), so the pages in between are the simplest that
//! carry the journey: a page with a "pay" form, then an auto-submitting form to the callback.
//!
//! The folder:
//! - this file: what the provider is (its ids, its operation table, [`KontoCloud`]);
//! - `steps`: what its `shopper:` and `sandbox:` steps may say;
//! - `api`: the simulated API's state and JSON operations (Issue Token, Get Payment Status);
//!   `envelope`: the answer envelope they share; `ewallet`: the e-wallet's pages the shopper's
//!   browser goes through;
//! - `actors`: the journeys golive plays as the shopper;
//! - `reference/`: the built-in reference shop;
//! - `tests`: the sandbox's unit tests.
//!
//! Its request schemas are in `schemas/kontocloud/`, its bundled suite in
//! `suites/kontocloud-go-live.yaml`.

mod actors;
mod api;
mod envelope;
mod ewallet;
pub mod reference;
mod steps;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::providers::{bundled_suite, About, Opened, Provider};
use crate::sandbox::{Auth, Caller, Operation};

pub use api::KontoCloudSandbox;

pub const ID: &str = "kontocloud";

pub const OP_ISSUE_TOKEN: &str = "issue_token";
pub const OP_PAYMENT_STATUS: &str = "payment_status";
pub const OP_EWALLET: &str = "ewallet";
pub const OP_EWALLET_COMPLETE: &str = "ewallet_complete";

pub struct KontoCloud;

/// KontoCloud's API as data. Where the shop's ids travel: its order id goes to the e-wallet as
/// merchantTransactionId (through the browser, in the form or the redirect's query); the payment
/// id is the uniqueReference the e-wallet issues when the shopper pays.
pub const OPERATIONS: &[Operation] = &[
    Operation::new(
        OP_ISSUE_TOKEN,
        Caller::Integration,
        "POST",
        "/user/{user_id}/issue",
        "1.45 Issue Token",
    )
    .with_auth(Auth::Credentials("the test account's password in the body"))
    .with_schema(include_str!(
        "../../../schemas/kontocloud/issue_token.request.json"
    )),
    Operation::new(
        OP_PAYMENT_STATUS,
        Caller::Integration,
        "GET",
        "/payment/{unique_reference}/status",
        "1.41 Get Payment Status",
    )
    .with_auth(Auth::Token("X-Auth-Token"))
    .with_schema(include_str!(
        "../../../schemas/kontocloud/payment_status.query.json"
    )),
    Operation::new(
        OP_EWALLET,
        Caller::Shopper,
        "POST",
        "/ewallet",
        "the e-wallet's payment page (the shop's form, or a GET redirect)",
    )
    .with_schema(include_str!(
        "../../../schemas/kontocloud/ewallet.form.json"
    ))
    .with_also_method("GET")
    .with_order_reference(&["form:merchantTransactionId", "query:merchantTransactionId"])
    .with_note(
        "inferred: the seeds document the form's fields and the callback, not the pages between",
    ),
    Operation::new(
        OP_EWALLET_COMPLETE,
        Caller::Shopper,
        "POST",
        "/ewallet/complete",
        "the shopper pays in the e-wallet, which sends the browser back to the callBackUrl",
    )
    .with_payment_id(&["issued"])
    .with_note(
        "inferred: the seeds document the form's fields and the callback, not the pages between",
    ),
];

pub static ABOUT: About = About {
    id: ID,
    title: "KontoCloud (J.P. Morgan Mobility Payments e-wallet)",
    operations: OPERATIONS,
    credential_names: &["user_id", "password"],
    reference: &reference::REFERENCE,
    suite: bundled_suite!("kontocloud-go-live.yaml"),
    open: |core| Opened::of(Arc::new(KontoCloudSandbox::new(core))),
    parse_step: steps::parse,
    trigger_answers: &[(
        "start_payment",
        "the shopper's page: the browser follows it to the KontoCloud e-wallet your server got from Initiate Payment, by a redirect (3xx Location) or a page with a form or link to it (pages of your own in between are followed, up to 5)",
    )],
};

impl Provider for KontoCloud {
    fn about(&self) -> &'static About {
        &ABOUT
    }
}

/// A date and time in KontoCloud's formats (`YYYY-MM-DD`, `HHMMSS`), at an offset from UTC:
/// the sandbox's `sysDate`/`sysTime` (offset 0), and the reference shop's local time.
pub fn date_and_time(utc_offset_minutes: i64) -> (String, String) {
    let now = time::OffsetDateTime::now_utc() + time::Duration::minutes(utc_offset_minutes);
    // Digit by digit, not `format!`: every answer of the sandbox carries both.
    fn push(out: &mut String, n: u32, width: u32) {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
        }
    }
    let mut date = String::with_capacity(10);
    push(&mut date, now.year().unsigned_abs(), 4);
    date.push('-');
    push(&mut date, u32::from(u8::from(now.month())), 2);
    date.push('-');
    push(&mut date, u32::from(now.day()), 2);
    let mut clock = String::with_capacity(6);
    for part in [now.hour(), now.minute(), now.second()] {
        push(&mut clock, u32::from(part), 2);
    }
    (date, clock)
}
