//! One error type for the whole program. Every variant renders as a single
//! line that names the file, line or field it is about; `exit_code` maps it
//! to the process exit status (1 for bad input or failures, 2 for usage,
//! 75 for "try again later").

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem located in a file: `path:line: message`.
    #[error("{}:{}: {}", path.display(), line, one_line(message))]
    At {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A problem with a file as a whole: `path: message`.
    #[error("{}: {}", path.display(), one_line(message))]
    File { path: PathBuf, message: String },
    /// A command-line usage error (exit code 2).
    #[error("{}", one_line(.0))]
    Usage(String),
    /// Anything else, already phrased for the user.
    #[error("{}", one_line(.0))]
    Msg(String),
    /// Several errors found in one pass (e.g. `posts check`).
    #[error("{}", join_lines(.0))]
    Many(Vec<Error>),
    /// The database refused or failed; the cause is kept (a locked database
    /// is "try again later", exit code 75).
    #[error("database: {}", one_line(&.0.to_string()))]
    Database(#[source] sqlx::Error),
    /// The database refused or failed while doing `context` ("opening
    /// database X"): the cause kept, so a busy database is still "try
    /// again later" (exit code 75).
    #[error("{context}: {}", one_line(&.source.to_string()))]
    DatabaseIn {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    /// An error met while doing `context` ("copying deliveries"), kept
    /// whole: its exit code is the cause's.
    #[error("{context}: {source}")]
    In {
        context: String,
        #[source]
        source: Box<Error>,
    },
    /// Applying the schema failed.
    #[error("database migration: {}", one_line(&.0.to_string()))]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// Standard output could not be written (a closed pipe is not an error:
    /// `main` exits 0 for it).
    #[error("writing to standard output: {}", io_reason(.0))]
    Output(#[source] std::io::Error),
    /// A message could not be built (an address or header lettre refused).
    #[error("building message: {}", one_line(&.0.to_string()))]
    Message(#[source] lettre::error::Error),
    /// A temporary failure (the mail server unreachable, the database
    /// busy): exit code 75 (EX_TEMPFAIL), so scripts can try again later.
    #[error("{}", one_line(.0))]
    TryLater(String),
}

/// EX_TEMPFAIL: the failure is temporary; the same command may succeed later.
pub const EXIT_TRY_LATER: i32 = 75;

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn at(path: impl AsRef<Path>, line: usize, message: impl Into<String>) -> Self {
        Error::At {
            path: path.as_ref().to_path_buf(),
            line: line.max(1),
            message: message.into(),
        }
    }

    pub fn file(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub fn msg(message: impl Into<String>) -> Self {
        Error::Msg(message.into())
    }

    /// A database error met while doing `context`, its cause kept.
    pub fn database(context: impl Into<String>, source: sqlx::Error) -> Self {
        Error::DatabaseIn {
            context: context.into(),
            source,
        }
    }

    /// `self`, met while doing `context`: the message gains the context,
    /// the exit code stays the cause's.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::In {
            context: context.into(),
            source: Box::new(self),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// An I/O error on `path`, phrased as `path: reason`.
    pub fn io(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        Error::file(path, io_reason(&err))
    }

    /// Standard output was closed by its reader (`gazette … | head`).
    pub fn is_closed_output(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Database(e) if is_busy(e) => EXIT_TRY_LATER,
            Error::DatabaseIn { source, .. } if is_busy(source) => EXIT_TRY_LATER,
            Error::In { source, .. } => source.exit_code(),
            Error::TryLater(_) => EXIT_TRY_LATER,
            Error::Many(errors) => errors.iter().map(Error::exit_code).max().unwrap_or(1),
            _ => 1,
        }
    }
}

/// The reason of an I/O error without Rust's "(os error N)" suffix.
pub fn io_reason(err: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match err.kind() {
        NotFound => "no such file or directory".into(),
        PermissionDenied => "permission denied".into(),
        AlreadyExists => "already exists".into(),
        InvalidData => "not valid UTF-8".into(),
        _ => {
            let s = err.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

fn join_lines(errors: &[Error]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Worth trying again later: SQLite's "database is locked" / "busy"
/// (another writer held the file past the busy timeout); PostgreSQL's
/// connection failures (class 08), serialization failures and deadlocks
/// (40001, 40P01), a server shutting down or in recovery (57P01-57P03,
/// 53300 too many connections); a lost connection or an exhausted pool.
pub fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => match d.code().as_deref() {
            Some("5" | "6" | "517" | "262") => true,
            Some(c) => {
                c.starts_with("08")
                    || matches!(c, "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03")
            }
            None => false,
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        _ => false,
    }
}

/// Collapse a multi-line message (as TOML or Tera produce) into one line.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for part in s
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(part);
    }
    out
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(e)
    }
}

impl From<lettre::error::Error> for Error {
    fn from(e: lettre::error::Error) -> Self {
        Error::Message(e)
    }
}

/// Exit cleanly when standard output goes away: `gazette … | head` ends
/// with status 0 instead of a panic, and a full disk is one line of error
/// with status 1. (`println!` panics on a failed write; this hook turns
/// that panic into the exit the user expects, and any other panic into one
/// line without a backtrace unless RUST_BACKTRACE asks for one.)
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if let Some(reason) = msg.strip_prefix("failed printing to stdout: ") {
            if reason.contains("Broken pipe") {
                std::process::exit(0);
            }
            let reason = reason.split(" (os error").next().unwrap_or(reason);
            eprintln!("error: writing to standard output: {}", one_line(reason));
            std::process::exit(1);
        }
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            default(info);
        } else {
            eprintln!(
                "error: internal error: {} (please report this)",
                one_line(msg)
            );
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_database_in_a_context_is_still_try_again_later() {
        let opening = Error::database("opening database x.db", sqlx::Error::PoolTimedOut);
        assert_eq!(opening.exit_code(), EXIT_TRY_LATER);
        assert!(
            opening.to_string().starts_with("opening database x.db: "),
            "{opening}"
        );
        assert!(std::error::Error::source(&opening).is_some());
        let copying = Error::from(sqlx::Error::PoolTimedOut).context("copying deliveries");
        assert_eq!(copying.exit_code(), EXIT_TRY_LATER);
        assert!(
            copying
                .to_string()
                .starts_with("copying deliveries: database: "),
            "{copying}"
        );
        let bad = Error::msg("no such table").context("copying deliveries");
        assert_eq!(bad.exit_code(), 1);
        assert_eq!(bad.to_string(), "copying deliveries: no such table");
    }
}
