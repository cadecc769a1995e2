//! golive: plays a payment provider's sandbox, drives a merchant's integration through real
//! payment journeys, records every exchange, judges the traffic against a go-live checklist,
//! and writes JUnit and a report a reviewer can read.

pub mod accuracy;
pub mod bench;
pub mod checks;
pub mod cli;
pub mod driver;
pub mod error;
pub mod exit;
pub mod journal;
pub mod partition;
pub mod providers;
pub mod reference;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod standalone;
pub mod suite;
pub mod validate;

pub use error::{Error, Result};
