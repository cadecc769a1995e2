//! Reports: everything a run leaves for CI, the team and the provider's reviewer.

pub mod events;
pub mod build;
pub mod model;
pub mod redact;

pub use events::{EventSink, RunEvent, Silent};
pub use model::*;
