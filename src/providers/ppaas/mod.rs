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
//! The folder: `sandbox` (its API, state and actors), `reference` (the built-in reference
//! shop); its request schemas are in `schemas/ppaas/`, its bundled suite in
//! `suites/ppaas-go-live.yaml`.

pub mod reference;
pub mod sandbox;

pub use sandbox::*;
