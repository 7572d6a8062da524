//! Configuration: `gazette.toml` + `GAZETTE_*` environment + flags, layered
//! (flags > environment > file > defaults) and validated once into `Settings`.
//!
//! `raw` holds the file as written (serde, unknown keys refused), `keys`
//! the locator that gives every error its `file:line`, `validate` one
//! validator per section, `smtp_url` the SMTP URL and `dkim` the signing key;
//! `inputs` refuses control characters in URLs and paths first.

mod bounces;
mod checks;
mod dkim;
mod inputs;
mod keys;
mod publish;
mod raw;
mod readers;
mod send;
mod smtp_url;
mod source;
#[cfg(test)]
mod tests;
mod validate;
mod web;

pub use bounces::{BouncePolicy, Bounces, ImapTls};
pub use checks::check_listen;
pub use readers::{Readers, Reading, CODE_THEMES};
pub use send::{parse_percent, SendSafety};
pub use smtp_url::{is_loopback, SmtpEndpoint, SmtpTls};
pub use source::{FeedLocation, FeedSource};
pub use web::origin_of;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;

use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "gazette.toml";

/// Fully validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from.
    pub config_path: PathBuf,
    /// Directory that relative paths are resolved against.
    pub root: PathBuf,
    pub newsletter: Newsletter,
    pub database_url: String,
    pub smtp: Smtp,
    pub web: Web,
    pub digest: Digest,
    pub publish: PublishMode,
    /// The publish gate (`[publish]` settle, wait_until_live, ...).
    pub gate: PublishGate,
    pub worker: WorkerSettings,
    pub posts_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub outbox_dir: PathBuf,
    /// Posts larger than this many bytes are refused (`[paths] max_post_size`).
    pub max_post_size: u64,
    pub bounces: Bounces,
    /// Welcome email, topics, archive, digest subject.
    pub readers: Readers,
    /// `[source] feed`: a blog's feed as a source of posts.
    pub feed: Option<FeedSource>,
    /// `[send]`: the circuit breaker's limits and the canary.
    pub send: SendSafety,
}

#[derive(Debug, Clone)]
pub struct Newsletter {
    pub title: String,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// Without a trailing slash.
    pub base_url: String,
    /// Without a trailing slash.
    pub public_url: String,
    pub postal_address: String,
    pub unsubscribe_mailto: Option<String>,
    pub list_id: String,
    /// DKIM signing of every message, when `[dkim]` is configured.
    pub dkim: Option<std::sync::Arc<lettre::message::dkim::DkimConfig>>,
    /// Archive link, welcome and digest subjects.
    pub reading: Reading,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    /// `None`: write `.eml` files to the outbox folder.
    pub url: Option<String>,
    /// The parsed `url`.
    pub endpoint: Option<SmtpEndpoint>,
    pub password: Option<String>,
    pub concurrency: u32,
    /// Messages per second; `None` is unlimited.
    pub rate: Option<f64>,
    pub retry_delay: Duration,
    pub max_attempts: u32,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Web {
    pub listen: String,
    pub subscribe_limit: u32,
    /// `trust_proxy = true`: an alias for trusting loopback proxies (it
    /// adds them to `trusted_proxies`).
    pub trust_proxy: bool,
    /// Peers whose `X-Forwarded-For` is believed (`trusted_proxies`).
    pub trusted_proxies: Vec<crate::util::net::Cidr>,
    /// The operators' listener (`/metrics`); `None` when set to "".
    pub admin_listen: Option<String>,
    /// `GAZETTE_ADMIN_TOKEN`: the bearer token of the admin listener.
    pub admin_token: Option<AdminToken>,
    pub confirm_ttl: Duration,
    /// How long a client may take to send a request's headers, and its
    /// body (`request_timeout`); also closes idle connections.
    pub request_timeout: Duration,
    /// A subscribe form's token must be this old (`min_fill_time`).
    pub min_fill_time: Duration,
    /// `subscribe_pow = true`: the form's script proves some work.
    pub subscribe_pow: bool,
    /// At most one confirmation email per address per this interval.
    pub confirm_interval: Duration,
    /// Where a form's reader lands after subscribing; `None`: Gazette's
    /// own thank-you page.
    pub return_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Digest {
    pub first_window_days: u32,
    /// When the worker sends the digest.
    pub schedule: crate::schedule::Schedule,
}

/// What the worker does when a post is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishMode {
    /// The post waits for the next digest.
    Digest,
    /// Each new post is sent as its own campaign.
    Email,
    Both,
}

impl PublishMode {
    pub fn emails_posts(self) -> bool {
        matches!(self, PublishMode::Email | PublishMode::Both)
    }
}

#[derive(Debug, Clone)]
pub struct PublishGate {
    /// `wait_until_live`: `None` (unset) means "when the post URL is
    /// http(s)".
    pub wait_until_live: Option<bool>,
    /// How long a new post waits after it is first seen (or changed).
    pub settle: Duration,
    /// How long the worker keeps checking a post's URL before giving up.
    pub live_timeout: Duration,
    /// How often a post's URL is checked while it waits.
    pub live_retry: Duration,
}

impl PublishGate {
    /// Whether a post at `url` waits until its page answers 200.
    pub fn waits_for(&self, url: &str) -> bool {
        self.wait_until_live
            .unwrap_or_else(|| url.starts_with("http://") || url.starts_with("https://"))
    }
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How often the posts folder is scanned (besides file notifications).
    pub poll_interval: Duration,
    /// How long messages in flight may take to finish on SIGTERM.
    pub grace: Duration,
    /// The first wait before retrying a campaign paused because the server
    /// was unreachable (doubling up to an hour).
    pub unreachable_retry: Duration,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub smtp_url: Option<String>,
}

/// Where the configuration is read from.
pub fn resolve_config_path(flag: Option<&Path>, env: &HashMap<String, String>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = env.get("GAZETTE_CONFIG").filter(|s| !s.is_empty()) {
        return PathBuf::from(p);
    }
    PathBuf::from(CONFIG_FILE)
}

/// The process environment as a map (the only place env vars are read).
pub fn process_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

/// Load and validate settings from `path`, the environment and overrides.
pub fn load(path: &Path, env: &HashMap<String, String>, flags: &Overrides) -> Result<Settings> {
    inputs::config_path(path, env)?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::file(
                path,
                "configuration file not found (run `gazette init` to create one, or pass --config PATH)",
            ))
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let raw: raw::RawConfig = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
    validate::settings(&keys::Locator { path, text: &text }, raw, env, flags)
}

/// Turn a TOML error into `path:line: message`; a value of the wrong type
/// also names its key (`path:line: smtp.concurrency: invalid value …`).
pub fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let line = e
        .span()
        .map(|s| crate::util::text::line_of_offset(text, s.start))
        .unwrap_or(1);
    let msg = e.message().trim();
    match key_at(text, line).filter(|k| !msg.contains(k.rsplit('.').next().unwrap_or(k))) {
        Some(key) => Error::at(path, line, format!("{key}: {msg}")),
        None => Error::at(path, line, msg.to_string()),
    }
}

/// `section.key` of a `key = value` line (1-based), if it is one.
fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let t = lines.get(line.checked_sub(1)?)?.trim();
    let (key, _) = t.split_once('=')?;
    let key = key.trim();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let section = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match section {
        Some(s) => format!("{s}.{key}"),
        None => key.to_string(),
    })
}

/// The admin bearer token (`GAZETTE_ADMIN_TOKEN`). Never printed.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// Surrounding whitespace (a space pasted with it, the CR of a file
    /// saved with Windows line endings) is not part of the token: no
    /// client could send it in a header, so it is trimmed.
    pub fn new(token: String) -> Self {
        AdminToken(token.trim().to_string())
    }

    /// Its length in characters (0: blank).
    pub fn strength(&self) -> usize {
        self.0.chars().count()
    }

    /// Constant time whatever the lengths: both sides are hashed first.
    pub fn matches(&self, given: &str) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(given.as_bytes());
        a.ct_eq(&b).into()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}
