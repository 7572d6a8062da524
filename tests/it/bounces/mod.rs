//! Bounces and complaints: the corpus, the IMAP mailbox, the Sisimai differential test, SMTP rejections, provider webhooks.

mod imap;
mod kinds;
mod process;
mod sisimai;
mod smtp;
mod webhooks;

// The old paths of the corpus helpers (`crate::bounces::gz`, ...).
#[allow(unused_imports)]
pub use crate::helpers::bounces::{corpus, expected, gz, scan_json};
#[allow(unused_imports)]
pub use crate::helpers::procs::run_timeout;
