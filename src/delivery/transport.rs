//! Transports, as lettre has them: what the queue hands a message to. An
//! SMTP connection, the outbox folder, or an in-memory stub for tests. Each
//! answers with a `policy::Reply`; the policy decides what it means.

use std::time::Duration;

use futures_util::future::BoxFuture;
use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;

use super::policy::Reply;

/// What became of the next message's transaction, opened behind a message
/// by `Transport::send_and_open`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Nothing of the next message was sent (no PIPELINING, or the message
    /// before it failed): it goes out with a `send` of its own.
    No,
    /// MAIL, RCPT and DATA were accepted: the next `send` of that envelope
    /// writes only its content.
    Yes,
    /// The server refused the next message's envelope with this reply (its
    /// content was never sent; the session is closed).
    Refused(Reply),
    /// The next message's commands went out but got no usable answer (no
    /// reply in time, the session broke, or MAIL FROM was refused): its
    /// content was never sent, the session is closed, and the server may
    /// not take commands behind the final dot.
    Lost,
}

/// An open channel for messages.
pub trait Transport: Send {
    /// Hand one message over. Never waits longer than the transport's
    /// timeout.
    fn send<'a>(&'a mut self, envelope: &'a Envelope, bytes: &'a [u8]) -> BoxFuture<'a, Reply>;
    /// `send`, and where the session allows it (PIPELINING, RFC 2920: "the
    /// actual transfer of message content is explicitly allowed to be the
    /// first command in a group") open the transaction of the next message
    /// (`next`: its envelope and content) in the same write: one write and
    /// one round trip per message instead of two. The reply is the
    /// message's own, each exchange bounded by the timeout. Transports
    /// without sessions send the message alone.
    fn send_and_open<'a>(
        &'a mut self,
        envelope: &'a Envelope,
        bytes: &'a [u8],
        next: (&'a Envelope, &'a [u8]),
    ) -> BoxFuture<'a, (Reply, Opened)> {
        let _ = next;
        Box::pin(async move { (self.send(envelope, bytes).await, Opened::No) })
    }
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
    /// The server offers PIPELINING (RFC 2920).
    pub(super) pipelining: bool,
    /// The server offers CHUNKING (RFC 3030): content goes as `BDAT
    /// <size> LAST`, with no 354 to wait for and no dot-stuffing.
    pub(super) chunking: bool,
    /// The envelope whose transaction is open (the server answered 354 to
    /// its DATA, or with CHUNKING accepted its MAIL and RCPT): the session
    /// can only go on with that message's content, or be dropped (never
    /// QUIT, which after a 354 would be content).
    pub(super) open: Option<Envelope>,
}

impl SmtpTransport {
    /// Whether this message's transaction is the one open. Another open
    /// one cannot be closed (every byte would be its content): the session
    /// is given up, and `false` says nothing was sent.
    fn take_open(&mut self, envelope: &Envelope) -> Result<bool, Reply> {
        match self.open.take() {
            None => Ok(false),
            Some(e) if e == *envelope => Ok(true),
            Some(_) => {
                self.broken = true;
                Err(Reply::Reset(
                    "the session had another message's transaction open".into(),
                ))
            }
        }
    }

    fn timed_out(&self) -> Reply {
        Reply::Timeout(format!(
            "no reply within {} (smtp.timeout)",
            humantime(self.timeout)
        ))
    }
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a mut self, envelope: &'a Envelope, bytes: &'a [u8]) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let open = match self.take_open(envelope) {
                Ok(open) => open,
                Err(reply) => return reply,
            };
            let (conn, pipelining) = (&mut self.conn, self.pipelining);
            let sent = if self.chunking {
                chunked(conn, pipelining, open, envelope, bytes, None)
            } else {
                Box::pin(transaction(conn, pipelining, open, envelope, bytes, None))
            };
            let reply = tokio::time::timeout(self.timeout, async { sent.await.0 }).await;
            let reply = reply.unwrap_or_else(|_| self.timed_out());
            if super::policy::reconnect(&reply) {
                self.broken = true;
            }
            reply
        })
    }

    fn send_and_open<'a>(
        &'a mut self,
        envelope: &'a Envelope,
        bytes: &'a [u8],
        next: (&'a Envelope, &'a [u8]),
    ) -> BoxFuture<'a, (Reply, Opened)> {
        Box::pin(async move {
            if !self.pipelining {
                return (self.send(envelope, bytes).await, Opened::No);
            }
            let open = match self.take_open(envelope) {
                Ok(open) => open,
                Err(reply) => return (reply, Opened::No),
            };
            let sent = if self.chunking {
                chunked(&mut self.conn, true, open, envelope, bytes, Some(next))
            } else {
                Box::pin(transaction(
                    &mut self.conn,
                    true,
                    open,
                    envelope,
                    bytes,
                    Some(next),
                ))
            };
            // One `smtp.timeout` for both, so a stop's grace (the timeout
            // and ½ s) never cuts off a reply that arrived; the message's
            // reply is taken first and kept whatever the next one's
            // replies do: a server that goes quiet after accepting this
            // message must not turn its 250 into a timeout (a duplicate).
            let deadline = tokio::time::Instant::now() + self.timeout;
            let (reply, opening) = match tokio::time::timeout_at(deadline, sent).await {
                Err(_) => (self.timed_out(), None),
                Ok(r) => r,
            };
            if super::policy::reconnect(&reply) {
                self.broken = true;
                return (reply, Opened::No);
            }
            let Some(replies) = opening else {
                return (reply, Opened::No);
            };
            let opening = read_opening(&mut self.conn, replies);
            let opened = match tokio::time::timeout_at(deadline, opening).await {
                Ok(Ok(())) => {
                    self.open = Some(next.0.clone());
                    Opened::Yes
                }
                // The next message's own refusal (RCPT TO, DATA): the
                // session is dropped.
                Ok(Err(Some(refusal))) => {
                    self.broken = true;
                    Opened::Refused(refusal)
                }
                // No answer to the commands behind the dot, or MAIL FROM
                // refused (which may be about the session, not the
                // message): the next message was not sent; it goes alone
                // on a new session.
                Ok(Err(None)) | Err(_) => {
                    self.broken = true;
                    Opened::Lost
                }
            };
            (reply, opened)
        })
    }

    fn is_usable(&self) -> bool {
        !self.broken && !self.conn.has_broken()
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // With a transaction open, QUIT would be message content: the
            // connection is dropped instead (the server discards it).
            if self.is_usable() && self.open.is_none() {
                let t = self.timeout.min(Duration::from_secs(2));
                let _ = tokio::time::timeout(t, self.conn.quit()).await;
            }
        })
    }
}

/// Bytes already in SMTP form, for lettre's `command` (which writes what a
/// command displays, in one write, then reads one reply).
struct Wire<'a>(&'a str);

impl std::fmt::Display for Wire<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The message as DATA carries it: a `.` that starts a line doubled (RFC
/// 5321 4.5.2; a line starts at the beginning and after CRLF, as in
/// lettre's codec), then CRLF `.` CRLF, as lettre ends it. Found by a
/// vectorised search for CRLF `.` (memchr), not byte by byte:
/// quoted-printable lines rarely start with a dot.
pub fn dot_stuffed(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    if message.starts_with('.') {
        out.push('.');
    }
    let mut from = 0;
    for i in memchr::memmem::find_iter(message.as_bytes(), b"\r\n.") {
        out.push_str(&message[from..i + 3]);
        out.push('.');
        from = i + 3;
    }
    out.push_str(&message[from..]);
    out.push_str("\r\n.\r\n");
    out
}

/// Whether an EHLO reply offers PIPELINING (RFC 2920). lettre parses only
/// the extensions it uses and drops this one.
pub fn offers_pipelining(ehlo: &Response) -> bool {
    offers(ehlo, "PIPELINING")
}

/// Whether an EHLO reply offers CHUNKING (RFC 3030), which lettre does
/// not use either.
pub fn offers_chunking(ehlo: &Response) -> bool {
    offers(ehlo, "CHUNKING")
}

fn offers(ehlo: &Response, keyword: &str) -> bool {
    ehlo.message().any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case(keyword))
    })
}

/// MAIL FROM, RCPT TO and DATA of a message as one string, after lettre's
/// checks (SMTPUTF8 for a non-ASCII envelope, 8BITMIME for a non-ASCII
/// message); `Err` is the reply lettre's `send` gives for a failed check.
fn envelope_commands(
    conn: &AsyncSmtpConnection,
    envelope: &Envelope,
    text: &str,
) -> Result<(Mail, Vec<Rcpt>), Reply> {
    let mut options = vec![];
    let non_ascii = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|a: &lettre::Address| !AsRef::<str>::as_ref(a).is_ascii());
    if non_ascii {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(Reply::Unsendable(
                "internal client error: Envelope contains non-ascii chars but server does not support SMTPUTF8"
                    .into(),
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !text.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(Reply::Unsendable(
                "internal client error: Message contains non-ascii chars but server does not support 8BITMIME"
                    .into(),
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let mail = Mail::new(envelope.from().cloned(), options);
    let rcpts = envelope
        .to()
        .iter()
        .map(|a| Rcpt::new(a.clone(), vec![]))
        .collect();
    Ok((mail, rcpts))
}

/// The commands of a transaction written in one piece (PIPELINING).
fn pipelined(mail: &Mail, rcpts: &[Rcpt], out: &mut String) {
    envelope_only(mail, rcpts, out);
    out.push_str("DATA\r\n");
}

/// MAIL FROM and RCPT TO in one piece (CHUNKING: no DATA).
fn envelope_only(mail: &Mail, rcpts: &[Rcpt], out: &mut String) {
    use std::fmt::Write;
    let _ = write!(out, "{mail}");
    for r in rcpts {
        let _ = write!(out, "{r}");
    }
}

/// Read the replies to a transaction's commands written in one piece:
/// `replies` = the recipients + 2 (MAIL, each RCPT, DATA; + 1 without DATA
/// under CHUNKING). `Err(Some)`: a
/// refusal of a recipient or of DATA; `Err(None)`: the session broke, or
/// MAIL FROM was refused. Either way the caller drops the session without
/// a QUIT (the server may have answered DATA with 354, and a QUIT would
/// then be content).
async fn read_opening(conn: &mut AsyncSmtpConnection, replies: usize) -> Result<(), Option<Reply>> {
    for i in 0..replies {
        if let Err(e) = conn.read_response().await {
            let reply = lettre_reply(&e);
            return Err((i > 0 && matches!(reply, Reply::Code(..))).then_some(reply));
        }
    }
    Ok(())
}

/// Open a transaction: MAIL FROM, RCPT TO and (with `data`) DATA, in one
/// write under PIPELINING, else each after the reply to the one before.
/// `Err` is the reply that ends the message: a check that failed before
/// anything was written, or a refusal, after which the session is aborted.
async fn open_envelope(
    conn: &mut AsyncSmtpConnection,
    pipelining: bool,
    envelope: &Envelope,
    text: &str,
    data: bool,
) -> Result<(), Reply> {
    let (mail, rcpts) = envelope_commands(conn, envelope, text)?;
    let replies = if pipelining {
        let mut commands = String::with_capacity(128);
        if data {
            pipelined(&mail, &rcpts, &mut commands);
        } else {
            envelope_only(&mail, &rcpts, &mut commands);
        }
        let mut got = conn.command(Wire(&commands)).await.map(drop);
        for _ in 0..rcpts.len() + usize::from(data) {
            if got.is_err() {
                break;
            }
            got = conn.read_response().await.map(drop);
        }
        got
    } else {
        let mut got = conn.command(mail).await.map(drop);
        for r in rcpts {
            if got.is_err() {
                break;
            }
            got = conn.command(r).await.map(drop);
        }
        if data && got.is_ok() {
            got = conn.command(Data).await.map(drop);
        }
        got
    };
    match replies {
        Ok(()) => Ok(()),
        Err(e) => {
            conn.abort().await;
            Err(lettre_reply(&e))
        }
    }
}

/// One mail transaction on a lettre connection, as lettre's `send` does it
/// (the same checks; a negative reply aborts the session), except that
/// MAIL FROM, RCPT TO and DATA go in one write when the server offers
/// PIPELINING, and the message is dot-stuffed here and written in one
/// write with its final dot. `open`: the server already accepted this
/// message's DATA (its commands went out behind the message before it):
/// only the content is written. `next`: the envelope and content of the
/// message to open behind this one, in the same write as this content;
/// then the second value is how many replies its commands will get (read
/// by `read_opening`), `None` when they were not written.
async fn transaction(
    conn: &mut AsyncSmtpConnection,
    pipelining: bool,
    open: bool,
    envelope: &Envelope,
    email: &[u8],
    next: Option<(&Envelope, &[u8])>,
) -> (Reply, Option<usize>) {
    let Ok(text) = std::str::from_utf8(email) else {
        if open {
            // Not reached: content built by Gazette is UTF-8. (No QUIT: it
            // would be content; the caller drops the session.)
            return (Reply::Reset("message content is not UTF-8".into()), None);
        }
        return match conn.send(envelope, email).await {
            Ok(resp) => (code_reply(&resp), None),
            Err(e) => (lettre_reply(&e), None),
        };
    };
    if !open {
        if let Err(reply) = open_envelope(conn, pipelining, envelope, text, true).await {
            return (reply, None);
        }
    }
    let mut wire = dot_stuffed(text);
    // The next transaction's commands ride behind the final dot; a next
    // message this server cannot take (a failed check) goes alone later.
    let opening = next
        .filter(|_| pipelining)
        .and_then(|(e, bytes)| {
            let text = std::str::from_utf8(bytes).ok()?;
            envelope_commands(conn, e, text).ok()
        })
        .map(|(mail, rcpts)| {
            pipelined(&mail, &rcpts, &mut wire);
            rcpts.len() + 2
        });
    write_content(conn, &wire, opening).await
}

/// Write a message's content (with the next message's commands behind it
/// when `opening` counts their replies) and take the message's reply.
async fn write_content(
    conn: &mut AsyncSmtpConnection,
    wire: &str,
    opening: Option<usize>,
) -> (Reply, Option<usize>) {
    match conn.command(Wire(wire)).await {
        Ok(resp) => (code_reply(&resp), opening),
        Err(e) => {
            // With the next transaction's commands behind the content, a
            // QUIT could be taken for that message's content: the session
            // is dropped instead (the caller marks it broken).
            if opening.is_none() {
                conn.abort().await;
            }
            (lettre_reply(&e), None)
        }
    }
}

/// One mail transaction with CHUNKING (RFC 3030), as `transaction` does it
/// with DATA: MAIL FROM and RCPT TO (in one write under PIPELINING, unless
/// `open`: already accepted), then `BDAT <size> LAST` and the content as it
/// is (no dot-stuffing, no final dot, no 354), with `next`'s MAIL FROM and
/// RCPT TO behind it in the same write (then the second value is how many
/// replies they get). Never MAIL and RCPT ahead of BDAT in one write:
/// Postfix answers them before it reads the chunk, and its reply to BDAT
/// then waits for our delayed ACK (40 ms a message).
fn chunked<'a>(
    conn: &'a mut AsyncSmtpConnection,
    pipelining: bool,
    open: bool,
    envelope: &'a Envelope,
    email: &'a [u8],
    next: Option<(&'a Envelope, &'a [u8])>,
) -> BoxFuture<'a, (Reply, Option<usize>)> {
    Box::pin(async move {
        let Ok(text) = std::str::from_utf8(email) else {
            return transaction(conn, pipelining, open, envelope, email, None).await;
        };
        if !open {
            if let Err(reply) = open_envelope(conn, pipelining, envelope, text, false).await {
                return (reply, None);
            }
        }
        let mut wire = String::with_capacity(text.len() + 160);
        wire.push_str(&format!("BDAT {} LAST\r\n", text.len()));
        wire.push_str(text);
        let opening = next.filter(|_| pipelining).and_then(|(e, bytes)| {
            let text = std::str::from_utf8(bytes).ok()?;
            let (mail, rcpts) = envelope_commands(conn, e, text).ok()?;
            envelope_only(&mail, &rcpts, &mut wire);
            Some(rcpts.len() + 1)
        });
        write_content(conn, &wire, opening).await
    })
}

fn code_reply(resp: &Response) -> Reply {
    Reply::Code(
        u16::from(resp.code()),
        resp.message().collect::<Vec<_>>().join(" "),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_matches_lettres_codec() {
        // The cases of lettre's own codec test, as one message.
        let cases = [
            (".\r\ntest\r\n", "..\r\ntest\r\n"),
            ("a\r\n.\r\n.b\r\n", "a\r\n..\r\n..b\r\n"),
            ("te\r\n.\r\nst.", "te\r\n..\r\nst."),
            ("bare\n.lf\r.cr", "bare\n.lf\r.cr"),
            ("\r\r\n.x", "\r\r\n..x"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(dot_stuffed(input), format!("{want}\r\n.\r\n"), "{input:?}");
        }
    }

    #[test]
    fn pipelining_is_read_from_the_ehlo_reply() {
        let reply = |lines: &[&str]| {
            let text: String = lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let sep = if i + 1 == lines.len() { ' ' } else { '-' };
                    format!("250{sep}{l}\r\n")
                })
                .collect();
            text.parse::<Response>().unwrap()
        };
        assert!(offers_pipelining(&reply(&[
            "mx.example",
            "PIPELINING",
            "8BITMIME"
        ])));
        assert!(offers_pipelining(&reply(&["mx.example", "pipelining"])));
        assert!(!offers_pipelining(&reply(&["mx.example", "8BITMIME"])));
        assert!(!offers_pipelining(&reply(&[
            "mx.example",
            "PIPELINING-NOT"
        ])));
        assert!(offers_chunking(&reply(&["mx.example", "CHUNKING"])));
        assert!(!offers_chunking(&reply(&["mx.example", "PIPELINING"])));
    }
}
