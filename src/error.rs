//! golive's one error type. Its kind says what went wrong for the user, which is what decides
//! the exit code ([`crate::exit::code`]) and how the CLI words it.

use crate::suite::Problems;

/// What stopped a command before it could give a verdict.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A mistake in a file the user wrote (a suite, a target, an examples list): every problem
    /// found, each at its `file:line:column`.
    #[error("{0}")]
    Input(Problems),
    /// A mistake in the command's arguments: an unknown provider, style or flaw, a flag missing
    /// or malformed, files an export would overwrite.
    #[error("{0}")]
    Usage(String),
    /// The command could not be carried out: a target that would not start, a port already
    /// taken, a file that could not be read or written.
    #[error("{0}")]
    Run(String),
    /// The run was interrupted by a signal; the message says what else went wrong (the partial
    /// reports could not be written).
    #[error("{0}")]
    Interrupted(String),
    /// A bug in golive: something it ships (a bundled suite, a reference shop) that does not
    /// work.
    #[error("{0}")]
    Bug(String),
}

impl From<Problems> for Error {
    fn from(problems: Problems) -> Self {
        Error::Input(problems)
    }
}

/// A result whose error is golive's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
