//! The mailer: SMTP connections that Gazette opens itself (TCP_NODELAY set,
//! handed to lettre's `AsyncSmtpConnection`), or `.eml` files in the outbox
//! folder when no SMTP server is configured.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;

use crate::config::{Settings, SmtpTls};
use crate::error::{Error, Result};

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The server refused for now (4xx): retry later.
    Temporary(String),
    /// The server refused for good (5xx): never retry for this recipient.
    Permanent(String),
    /// The connection broke or timed out while sending: the message may or
    /// may not have arrived; retry on a new connection.
    Connection(String),
    /// No connection could be made: nothing was sent.
    Unreachable(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Temporary(m) => write!(f, "temporary failure: {m}"),
            SendError::Permanent(m) => write!(f, "permanent failure: {m}"),
            SendError::Connection(m) => write!(f, "connection lost: {m}"),
            SendError::Unreachable(m) => write!(f, "server unreachable: {m}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    None,
    /// STARTTLS if offered.
    Opportunistic,
    /// STARTTLS or fail.
    Required,
    /// TLS from the first byte (smtps://).
    Implicit,
}

#[derive(Clone)]
pub struct SmtpTarget {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    timeout: Duration,
    hello: ClientId,
    /// The URL without its password, for messages.
    display: String,
}

#[derive(Clone)]
pub enum Mailer {
    Outbox(PathBuf),
    Smtp(SmtpTarget),
}

/// An open channel to send through: a connection, or the outbox folder.
pub enum Connection {
    Outbox(PathBuf),
    Smtp(Box<AsyncSmtpConnection>),
}

impl Mailer {
    pub fn from_settings(s: &Settings) -> Result<Self> {
        let Some(url) = &s.smtp.url else {
            return Ok(Mailer::Outbox(s.outbox_dir.clone()));
        };
        let Some(e) = &s.smtp.endpoint else {
            return Err(Error::msg(format!("smtp.url {url:?} was not validated")));
        };
        let tls = match e.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Opportunistic => Tls::Opportunistic,
            SmtpTls::Required => Tls::Required,
            SmtpTls::Implicit => Tls::Implicit,
        };
        let credentials = e
            .credentials
            .clone()
            .map(|(user, password)| Credentials::new(user, password));
        let (host, port, display) = (e.host.clone(), e.port, e.display.clone());
        let hello = ClientId::Domain(hostname_or(s.newsletter.from.email.domain()));
        Ok(Mailer::Smtp(SmtpTarget {
            host,
            port,
            tls,
            credentials,
            timeout: s.smtp.timeout,
            hello,
            display,
        }))
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Outbox(dir) => format!("the outbox folder {}", dir.display()),
            Mailer::Smtp(t) => format!("SMTP server {}", t.display),
        }
    }

    pub fn is_outbox(&self) -> bool {
        matches!(self, Mailer::Outbox(_))
    }

    /// Open a connection (for the outbox: make sure the folder exists).
    pub async fn connect(&self) -> std::result::Result<Connection, SendError> {
        match self {
            Mailer::Outbox(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    SendError::Unreachable(format!(
                        "{}: {}",
                        dir.display(),
                        crate::error::io_reason(&e)
                    ))
                })?;
                Ok(Connection::Outbox(dir.clone()))
            }
            Mailer::Smtp(t) => t.connect().await.map(|c| Connection::Smtp(Box::new(c))),
        }
    }

    /// Send one message on a connection of its own (for the occasional
    /// confirmation email; campaigns keep connections open).
    pub async fn send(&self, message: &Message) -> std::result::Result<(), SendError> {
        let mut conn = self.connect().await?;
        let result = conn.send(message.envelope(), &message.formatted()).await;
        conn.close().await;
        result
    }
}

fn hostname_or(fallback: &str) -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| h.contains('.'))
        .unwrap_or_else(|| fallback.to_string())
}

impl SmtpTarget {
    async fn connect(&self) -> std::result::Result<AsyncSmtpConnection, SendError> {
        let unreachable = |e: String| SendError::Unreachable(format!("{}: {e}", self.display));
        let tls_params =
            || TlsParameters::new(self.host.clone()).map_err(|e| unreachable(e.to_string()));
        let mut conn = if self.tls == Tls::Implicit {
            // lettre opens implicit-TLS connections itself.
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello,
                Some(tls_params()?),
                None,
            )
            .await
            .map_err(|e| unreachable(reason(&e)))?
        } else {
            let tcp = tokio::time::timeout(
                self.timeout,
                tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
            )
            .await
            .map_err(|_| unreachable("connect timed out".into()))?
            .map_err(|e| unreachable(crate::error::io_reason(&e)))?;
            // lettre writes the body and the final "." separately; without
            // TCP_NODELAY each message waits for a delayed ACK (~40 ms).
            tcp.set_nodelay(true)
                .map_err(|e| unreachable(e.to_string()))?;
            let mut conn = tokio::time::timeout(
                self.timeout,
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello),
            )
            .await
            .map_err(|_| unreachable("no greeting (timed out)".into()))?
            .map_err(|e| unreachable(reason(&e)))?;
            match self.tls {
                Tls::Required => conn
                    .starttls(tls_params()?, &self.hello)
                    .await
                    .map_err(|e| unreachable(format!("STARTTLS: {}", reason(&e))))?,
                Tls::Opportunistic if conn.can_starttls() => conn
                    .starttls(tls_params()?, &self.hello)
                    .await
                    .map_err(|e| unreachable(format!("STARTTLS: {}", reason(&e))))?,
                _ => {}
            }
            conn
        };
        if let Some(creds) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
                .await
                .map_err(|e| {
                    if e.is_permanent() {
                        SendError::Unreachable(format!(
                            "{}: authentication failed: {}",
                            self.display,
                            reason(&e)
                        ))
                    } else {
                        unreachable(reason(&e))
                    }
                })?;
        }
        Ok(conn)
    }
}

impl Connection {
    pub async fn send(
        &mut self,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> std::result::Result<(), SendError> {
        match self {
            Connection::Outbox(dir) => write_outbox(dir, bytes).map(|_| ()),
            Connection::Smtp(conn) => match conn.send(envelope, bytes).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(reason(&e))),
                Err(e) if e.is_transient() => Err(SendError::Temporary(reason(&e))),
                Err(e) => Err(SendError::Connection(reason(&e))),
            },
        }
    }

    /// Whether the connection can carry another message.
    pub fn is_usable(&self) -> bool {
        match self {
            Connection::Outbox(_) => true,
            Connection::Smtp(c) => !c.has_broken(),
        }
    }

    pub async fn close(self) {
        if let Connection::Smtp(mut c) = self {
            if !c.has_broken() {
                let _ = c.quit().await;
            }
        }
    }
}

fn reason(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let more = inner.to_string();
        if !s.contains(&more) {
            s.push_str(": ");
            s.push_str(&more);
        }
        src = inner.source();
    }
    s.replace(['\r', '\n'], " ")
}

/// Write one message as `outbox/<time>-<random>.eml`, atomically: a reader
/// never sees a half-written file.
pub fn write_outbox(
    dir: &std::path::Path,
    bytes: &[u8],
) -> std::result::Result<PathBuf, SendError> {
    let name = format!(
        "{}-{}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
        crate::util::ids::random_hex(6)
    );
    let path = dir.join(name);
    crate::util::fs::write_atomic(&path, bytes).map_err(|e| SendError::Temporary(e.to_string()))?;
    Ok(path)
}
