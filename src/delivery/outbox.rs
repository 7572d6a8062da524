//! The outbox folder as a transport: one `.eml` file per message, for a
//! project with no SMTP server configured.

use std::path::PathBuf;

use futures_util::future::BoxFuture;
use lettre::address::Envelope;

use super::policy::Reply;
use super::transport::Transport;

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
