//! One error type for the whole program. Every variant renders as a single
//! line that names the file, line or field it is about; `exit_code` maps it
//! to the process exit status (1 for bad input or failures, 2 for usage,
//! 75 for "try again later").

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum Error {
    /// A problem located in a file: `path:line: message`.
    At {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A problem with a file as a whole: `path: message`.
    File { path: PathBuf, message: String },
    /// A command-line usage error (exit code 2).
    Usage(String),
    /// Anything else, already phrased for the user.
    Msg(String),
    /// Several errors found in one pass (e.g. `posts check`).
    Many(Vec<Error>),
    /// A temporary failure (the mail server unreachable, the database
    /// busy): exit code 75 (EX_TEMPFAIL), so scripts can try again later.
    TryLater(String),
}

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

    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// An I/O error on `path`, phrased as `path: reason`.
    pub fn io(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        Error::file(path, io_reason(&err))
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::TryLater(_) => 75,
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::At {
                path,
                line,
                message,
            } => write!(f, "{}:{}: {}", path.display(), line, one_line(message)),
            Error::File { path, message } => {
                write!(f, "{}: {}", path.display(), one_line(message))
            }
            Error::Usage(m) | Error::Msg(m) | Error::TryLater(m) => f.write_str(&one_line(m)),
            Error::Many(errors) => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {}

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
        Error::msg(format!("database: {e}"))
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::msg(format!("database migration: {e}"))
    }
}

impl From<lettre::error::Error> for Error {
    fn from(e: lettre::error::Error) -> Self {
        Error::msg(format!("building message: {e}"))
    }
}
