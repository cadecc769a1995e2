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
//! The folder: `sandbox` (its API, state and actors), `reference` (the built-in reference
//! shop); its request schemas are in `schemas/mobilepay/`, its bundled suite in
//! `suites/mobilepay-go-live.yaml`.

pub mod reference;
pub mod sandbox;

pub use sandbox::*;
