//! The journal: every exchange of a run, appended as it happens.
//!
//! It is written as JSON Lines beside the reports, so a run that is killed still leaves a
//! readable journal, and memory stays flat however many requests the sandbox takes: checks
//! read it back in one pass ([`read`]) and keep only the state each rule needs.

mod attribution;
mod body;
mod headers;
mod line;
mod line_writer;
mod pipe;
pub mod reader;
mod record;
mod writer;

pub use body::{text_of, Body, BODY_KEEP_BYTES};
pub use headers::Headers;
pub(crate) use line_writer::string as json_string;
pub use reader::Index;
pub use record::*;
pub use writer::{read, read_path, Journal, JournalError};
