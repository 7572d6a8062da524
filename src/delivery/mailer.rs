//! The mailer: SMTP connections that Gazette opens itself (TCP_NODELAY and
//! quick ACKs, `socket`), handed to lettre's `AsyncSmtpConnection`, every
//! exchange bounded by `smtp.timeout`, or `.eml` files in the outbox folder
//! when no SMTP server is configured. It is the production `Connector`.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::BoxFuture;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;

use super::outbox::OutboxTransport;
use super::policy::{self, Reply, Verdict};
use super::socket::QuickAck;
use super::transport::{
    offers_chunking, offers_pipelining, reason, Connector, SmtpTransport, Transport,
};
use crate::config::{Settings, SmtpTls};
use crate::error::{Error, Result};

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

    /// Send one message on a connection of its own (for the occasional
    /// confirmation email; campaigns keep connections open).
    pub async fn send(&self, message: &Message) -> std::result::Result<(), Reply> {
        let mut conn = self.connect().await.map_err(Reply::Refused)?;
        let reply = conn.send(message.envelope(), &message.formatted()).await;
        conn.close().await;
        match policy::classify(&reply) {
            Verdict::Sent => Ok(()),
            _ => Err(reply),
        }
    }
}

impl Connector for Mailer {
    fn connect(&self) -> BoxFuture<'_, std::result::Result<Box<dyn Transport>, String>> {
        Box::pin(async move {
            match self {
                Mailer::Outbox(dir) => {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        format!(
                            "outbox folder not writable: {}: {}",
                            dir.display(),
                            crate::error::io_reason(&e)
                        )
                    })?;
                    Ok(Box::new(OutboxTransport { dir: dir.clone() }) as Box<dyn Transport>)
                }
                Mailer::Smtp(t) => {
                    let (conn, (pipelining, chunking)) = t.connect().await?;
                    Ok(Box::new(SmtpTransport {
                        conn,
                        timeout: t.timeout,
                        broken: false,
                        pipelining,
                        chunking,
                        open: None,
                    }) as Box<dyn Transport>)
                }
            }
        })
    }

    fn describe(&self) -> String {
        Mailer::describe(self)
    }

    fn timeout(&self) -> Duration {
        match self {
            Mailer::Outbox(_) => Duration::from_secs(5),
            Mailer::Smtp(t) => t.timeout,
        }
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
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
    /// Connect, greet, STARTTLS and log in, each step within the timeout;
    /// with whether the server offers PIPELINING and CHUNKING. `Err` names
    /// the server.
    async fn connect(&self) -> std::result::Result<(AsyncSmtpConnection, (bool, bool)), String> {
        let named = |e: String| format!("server unreachable: {}: {e}", self.display);
        let within = |what: &'static str| {
            move |_| {
                format!(
                    "{what} (no answer within {})",
                    super::transport::humantime(self.timeout)
                )
            }
        };
        let tls_params = || TlsParameters::new(self.host.clone()).map_err(|e| named(e.to_string()));
        let mut conn = if self.tls == Tls::Implicit {
            // lettre opens implicit-TLS connections itself.
            tokio::time::timeout(
                self.timeout,
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &self.hello,
                    Some(tls_params()?),
                    None,
                ),
            )
            .await
            .map_err(within("no greeting"))
            .map_err(named)?
            .map_err(|e| named(reason(&e)))?
        } else {
            let tcp = tokio::time::timeout(
                self.timeout,
                tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
            )
            .await
            .map_err(within("connect timed out"))
            .map_err(named)?
            .map_err(|e| named(crate::error::io_reason(&e)))?;
            // TCP_NODELAY and quick ACKs (`socket`): without them a
            // message can wait ~40 ms for a delayed ACK, on either side.
            let tcp = QuickAck::new(tcp).map_err(|e| named(e.to_string()))?;
            let mut conn = tokio::time::timeout(
                self.timeout,
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello),
            )
            .await
            .map_err(within("no greeting"))
            .map_err(named)?
            .map_err(|e| named(reason(&e)))?;
            if self.tls == Tls::Required || (self.tls == Tls::Opportunistic && conn.can_starttls())
            {
                tokio::time::timeout(self.timeout, conn.starttls(tls_params()?, &self.hello))
                    .await
                    .map_err(within("STARTTLS"))
                    .map_err(named)?
                    .map_err(|e| named(format!("STARTTLS: {}", reason(&e))))?;
            }
            conn
        };
        // lettre keeps only the extensions it uses from the EHLO reply, and
        // PIPELINING and CHUNKING are not among them: ask again (before AUTH, which some
        // servers reset on EHLO).
        let ehlo = Ehlo::new(self.hello.clone());
        let offers = tokio::time::timeout(self.timeout, conn.command(ehlo))
            .await
            .map_err(within("EHLO"))
            .map_err(named)?
            .map_err(|e| named(format!("EHLO: {}", reason(&e))))
            .map(|r| (offers_pipelining(&r), offers_chunking(&r)))?;
        if let Some(creds) = &self.credentials {
            tokio::time::timeout(
                self.timeout,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], creds),
            )
            .await
            .map_err(within("authentication"))
            .map_err(named)?
            .map_err(|e| named(format!("authentication failed: {}", reason(&e))))?;
        }
        Ok((conn, offers))
    }
}
