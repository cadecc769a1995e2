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
//! The folder: `sandbox` (its API, state and actors), `reference` (the built-in reference
//! shop); its request schemas are in `schemas/smartpay/`, its bundled suite in
//! `suites/smartpay-go-live.yaml`.

pub mod reference;
pub mod sandbox;

pub use sandbox::*;
