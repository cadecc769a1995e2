//! The two inputs, kept apart: a suite (the provider's checklist) and a target (how to reach
//! the team's integration). Both are YAML, validated against `schemas/` before anything runs.

pub mod bounds;
pub mod load;
pub mod model;
pub mod schema;
pub mod yaml;

pub use load::{cross_rules, load_suite, load_target, parse_suite, parse_target, Loaded};
pub use model::*;
pub use yaml::{Pos, Problem, Problems};
