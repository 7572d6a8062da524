//! One mailer for every kind of message: SMTP through lettre's async,
//! pooled transport, or `.eml` files in the outbox folder.

use std::path::PathBuf;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Settings;
use crate::error::{Error, Result};

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying later (4xx, connection trouble, timeouts).
    Temporary(String),
    /// Never retry for this recipient (5xx).
    Permanent(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Temporary(m) => write!(f, "temporary failure: {m}"),
            SendError::Permanent(m) => write!(f, "permanent failure: {m}"),
        }
    }
}

#[derive(Clone)]
pub enum Mailer {
    Outbox(PathBuf),
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The URL without its password, for messages.
        display: String,
    },
}

impl Mailer {
    pub fn from_settings(s: &Settings) -> Result<Self> {
        let Some(url) = &s.smtp.url else {
            return Ok(Mailer::Outbox(s.outbox_dir.clone()));
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| Error::msg(format!("smtp.url: {url:?} is not a valid URL ({e})")))?;
        let mut display = parsed.clone();
        let _ = display.set_password(None);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| Error::msg(format!("smtp.url {display}: {e}")))?
            .timeout(Some(s.smtp.timeout));
        if let Some(password) = &s.smtp.password {
            let user = percent_decode(parsed.username());
            if user.is_empty() {
                return Err(Error::msg(format!(
                    "GAZETTE_SMTP_PASSWORD is set but smtp.url {display} has no user name (smtp://USER@host:port)"
                )));
            }
            builder = builder.credentials(Credentials::new(user, password.clone()));
        }
        Ok(Mailer::Smtp {
            transport: builder.build(),
            display: display.to_string(),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Outbox(dir) => format!("the outbox folder {}", dir.display()),
            Mailer::Smtp { display, .. } => format!("SMTP server {display}"),
        }
    }

    pub async fn send(&self, message: &Message) -> std::result::Result<(), SendError> {
        match self {
            Mailer::Outbox(dir) => write_outbox(dir, message).map(|_| ()),
            Mailer::Smtp { transport, .. } => match transport.send(message.clone()).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(smtp_reason(&e))),
                Err(e) => Err(SendError::Temporary(smtp_reason(&e))),
            },
        }
    }
}

fn smtp_reason(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s.replace(['\r', '\n'], " ")
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("u={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Write one message as `outbox/<time>-<random>.eml`, atomically: a reader
/// never sees a half-written file.
pub fn write_outbox(
    dir: &std::path::Path,
    message: &Message,
) -> std::result::Result<PathBuf, SendError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        SendError::Temporary(format!(
            "{}: {}",
            dir.display(),
            crate::error::io_reason(&e)
        ))
    })?;
    let name = format!(
        "{}-{}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
        crate::audience::tokens::random_hex(6)
    );
    let path = dir.join(name);
    crate::commands::write_atomic(&path, &message.formatted())
        .map_err(|e| SendError::Temporary(e.to_string()))?;
    Ok(path)
}
