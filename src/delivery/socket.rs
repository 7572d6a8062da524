//! The TCP stream of an SMTP connection Gazette opens itself: TCP_NODELAY,
//! and on Linux TCP_QUICKACK whenever a read has to wait, so that what the
//! server sent is acknowledged at once rather than after the delayed-ACK
//! timer (about 40 ms).
//!
//! Why: a server that answers a pipelined write in two segments (Postfix's
//! smtpd does, when a write of content and the next message's commands is
//! over its 8 KB read buffer: the content's 250 first, then the next
//! MAIL/RCPT/DATA replies) holds the second segment under Nagle's
//! algorithm until the first is acknowledged. Gazette, waiting for those
//! replies, has nothing to send that would carry the ACK, so each message
//! stalled ~40 ms (89 msg/s against a local Postfix, `docs/BENCHMARKS.md`).
//! Setting the option sends an ACK that is pending; it is set again at
//! every wait because Linux does not keep it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connected stream that acknowledges what it reads without delay.
#[derive(Debug)]
pub struct QuickAck(TcpStream);

impl QuickAck {
    /// `tcp` with TCP_NODELAY set (lettre writes a message's parts in more
    /// than one write) and quick ACKs on.
    pub fn new(tcp: TcpStream) -> io::Result<QuickAck> {
        tcp.set_nodelay(true)?;
        let stream = QuickAck(tcp);
        stream.ack_now();
        Ok(stream)
    }

    fn ack_now(&self) {
        // Best effort: a socket that refuses the option only loses the
        // speed-up.
        #[cfg(target_os = "linux")]
        let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let read = Pin::new(&mut this.0).poll_read(cx, buf);
        // About to wait for the server: acknowledge what came so far now
        // (an ACK is then only sent if one is pending: when Gazette wrote
        // after its last read, the ACK went with that write). Not after
        // every read: that leaves the kernel's interactive mode and costs
        // an extra ACK per reply where nothing stalls (about 5 % against
        // smtp-sink on 127.0.0.1).
        if read.is_pending() {
            this.ack_now();
        }
        read
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for QuickAck {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}
