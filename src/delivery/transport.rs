//! Transports, as lettre has them: what the queue hands a message to. An
//! SMTP connection, the outbox folder, or an in-memory stub for tests. Each
//! answers with a `policy::Reply`; the policy decides what it means.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;

use super::policy::Reply;

/// An open channel for messages.
pub trait Transport: Send {
    /// Hand one message over. Never waits longer than the transport's
    /// timeout.
    fn send<'a>(&'a mut self, envelope: &'a Envelope, bytes: &'a [u8]) -> BoxFuture<'a, Reply>;
    /// Whether it can carry another message.
    fn is_usable(&self) -> bool;
    /// Say goodbye (bounded by the timeout).
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Opens transports: the mailer, or a stub.
pub trait Connector: Send + Sync {
    /// Open a transport; `Err` names the server and why it cannot be
    /// reached (nothing was sent).
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Transport>, String>>;
    /// "SMTP server smtp://…" or "the outbox folder …".
    fn describe(&self) -> String;
    /// The longest one message may take (`smtp.timeout`).
    fn timeout(&self) -> Duration;
}

/// An SMTP session that Gazette opened; every exchange is bounded by
/// `timeout`, since lettre sets none on a stream it did not open.
pub struct SmtpTransport {
    pub(super) conn: AsyncSmtpConnection,
    pub(super) timeout: Duration,
    pub(super) broken: bool,
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a mut self, envelope: &'a Envelope, bytes: &'a [u8]) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let reply =
                match tokio::time::timeout(self.timeout, self.conn.send(envelope, bytes)).await {
                    Err(_) => Reply::Timeout(format!(
                        "no reply within {} (smtp.timeout)",
                        humantime(self.timeout)
                    )),
                    Ok(Ok(resp)) => Reply::Code(
                        u16::from(resp.code()),
                        resp.message().collect::<Vec<_>>().join(" "),
                    ),
                    Ok(Err(e)) => lettre_reply(&e),
                };
            if super::policy::reconnect(&reply) {
                self.broken = true;
            }
            reply
        })
    }

    fn is_usable(&self) -> bool {
        !self.broken && !self.conn.has_broken()
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if self.is_usable() {
                let t = self.timeout.min(Duration::from_secs(2));
                let _ = tokio::time::timeout(t, self.conn.quit()).await;
            }
        })
    }
}

/// A reply from a lettre error.
pub(super) fn lettre_reply(e: &lettre::transport::smtp::Error) -> Reply {
    let text = reason(e);
    match e.status() {
        Some(code) => Reply::Code(u16::from(code), text),
        None if e.is_client() => Reply::Unsendable(text),
        None if e.is_timeout() => Reply::Timeout(text),
        None => Reply::Reset(text),
    }
}

/// A lettre error and its sources on one line.
pub(super) fn reason(e: &lettre::transport::smtp::Error) -> String {
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

pub fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The outbox folder: one `.eml` file per message, written atomically.
pub struct OutboxTransport {
    pub(super) dir: PathBuf,
}

impl Transport for OutboxTransport {
    fn send<'a>(&'a mut self, _: &'a Envelope, bytes: &'a [u8]) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            match write_outbox(&self.dir, bytes) {
                Ok(_) => Reply::Code(250, "written to the outbox".into()),
                // A full disk or a read-only folder: nothing was written
                // (the temporary file is removed), try again later.
                Err(e) => Reply::Refused(format!("outbox folder not writable: {e}")),
            }
        })
    }

    fn is_usable(&self) -> bool {
        true
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Write one message as `outbox/<time>-<random>.eml`, atomically: a reader
/// never sees a half-written file. `Err` names the folder and the reason.
pub fn write_outbox(dir: &std::path::Path, bytes: &[u8]) -> Result<PathBuf, String> {
    let name = format!(
        "{}-{}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
        crate::util::ids::random_hex(6)
    );
    let path = dir.join(name);
    crate::util::fs::write_atomic(&path, bytes).map_err(|e| crate::error::io_reason(&e))?;
    Ok(path)
}

/// An in-memory transport for tests: replies are scripted per message
/// (in order, over all connections); once the script runs out, 250.
#[derive(Clone, Default)]
pub struct MemoryConnector {
    pub state: Arc<Mutex<MemoryState>>,
    pub timeout: Duration,
}

#[derive(Default)]
pub struct MemoryState {
    /// Replies for the coming messages, first first.
    pub script: std::collections::VecDeque<Reply>,
    /// `Some`: connecting fails with this error.
    pub refuse: Option<String>,
    /// (recipients, message) of every message answered 250.
    pub delivered: Vec<(Vec<String>, Vec<u8>)>,
    pub connections: usize,
}

struct MemoryTransport {
    state: Arc<Mutex<MemoryState>>,
    broken: bool,
}

impl Connector for MemoryConnector {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Transport>, String>> {
        Box::pin(async move {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = &st.refuse {
                return Err(e.clone());
            }
            st.connections += 1;
            Ok(Box::new(MemoryTransport {
                state: self.state.clone(),
                broken: false,
            }) as Box<dyn Transport>)
        })
    }

    fn describe(&self) -> String {
        "the in-memory test transport".into()
    }

    fn timeout(&self) -> Duration {
        self.timeout.max(Duration::from_millis(100))
    }
}

impl Transport for MemoryTransport {
    fn send<'a>(&'a mut self, envelope: &'a Envelope, bytes: &'a [u8]) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let reply = st
                .script
                .pop_front()
                .unwrap_or_else(|| Reply::Code(250, "OK".into()));
            if matches!(reply, Reply::Code(200..=299, _)) {
                let to = envelope.to().iter().map(|a| a.to_string()).collect();
                st.delivered.push((to, bytes.to_vec()));
            }
            if super::policy::reconnect(&reply) {
                self.broken = true;
            }
            reply
        })
    }

    fn is_usable(&self) -> bool {
        !self.broken
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
