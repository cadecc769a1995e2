//! The driver: runs each scenario's steps against the target and the sandbox.

mod actors;
pub mod browser;
pub mod capture;
pub mod http;
pub mod process;
pub mod template;

mod context;
mod repetitions;
mod scenario;
mod steps;
mod triggers;

pub use actors::{step_as, Act, Actors};
pub use http::{HttpOutcome, Outgoing, Recorder};

pub use context::{StepContext, Waited};
use repetitions::{Repetition, Repetitions};
pub use scenario::{
    not_applicable, record_not_applicable, run_scenario, settle_late_traffic, skip_not_applicable,
    step_label, StepResult, LATE_AT_MOST, LATE_QUIET,
};
pub use steps::is_paid;
use steps::*;
use triggers::*;

#[cfg(test)]
mod tests;
