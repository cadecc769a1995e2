//! KontoCloud (seeds 000 and 003): an e-wallet. The shop issues a token (1.45 Issue Token),
//! sends the shopper's browser to the e-wallet with a form POST, gets the browser back with a
//! POST to its `callBackUrl`, and must confirm with 1.41 Get Payment Status before trusting it.
//!
//! The e-wallet's own pages are (inferred): the seeds document only what goes in (the form
//! fields) and what comes out (the callback), so the pages in between are the simplest that
//! carry the journey: a page with a "pay" form, then an auto-submitting form to the callback.
//!
//! The folder: `sandbox` (its API, state and actors), `reference` (the built-in reference
//! shop); its request schemas are in `schemas/kontocloud/`, its bundled suite in
//! `suites/kontocloud-go-live.yaml`.

pub mod reference;
pub mod sandbox;

pub use sandbox::*;
