//! Operations that the command line and the admin API both offer, written
//! once so that both do the same: campaign controls and test sends
//! (`campaigns`), returned mail and bounce metrics (`bounces`), adding subscribers as an operator (`subscribers`),
//! scheduled and repeated sends (`sends`), the posts' send state
//! (`posts`) and what the worker will do next (`status`).

pub mod bounces;
pub mod campaigns;
pub mod import;
pub mod links;
pub mod posts;
pub mod runs;
pub mod send;
pub mod sends;
pub mod status;
pub mod subscribers;

use crate::error::Error;

/// Why an operation was refused, by kind, so that the API can answer with
/// the right status and the CLI with the same sentence.
#[derive(Debug)]
pub enum OpError {
    /// No such campaign, subscriber or post.
    NotFound(String),
    /// The thing is in a state that forbids the operation.
    Conflict(String),
    /// The request itself is wrong (an address, a time).
    Invalid(String),
    /// A flag or field that does not parse (the CLI's usage error, exit 2;
    /// the API's 422).
    Usage(String),
    /// The mail server refused or could not be reached.
    Unavailable(String),
    /// Anything else (the database).
    Failed(Error),
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        OpError::Failed(e)
    }
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Self {
        match e {
            OpError::NotFound(m)
            | OpError::Conflict(m)
            | OpError::Invalid(m)
            | OpError::Unavailable(m) => Error::msg(m),
            OpError::Usage(m) => Error::usage(m),
            OpError::Failed(e) => e,
        }
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::NotFound(m)
            | OpError::Conflict(m)
            | OpError::Invalid(m)
            | OpError::Unavailable(m)
            | OpError::Usage(m) => f.write_str(m),
            OpError::Failed(e) => write!(f, "{e}"),
        }
    }
}
