//! `[source]`: a blog's feed (RSS, Atom or JSON Feed) as a source of
//! posts beside the posts folder: where it is (`feed`, env
//! `GAZETTE_FEED_URL`), how long a fetch may take (`timeout`), how large the
//! feed may be (`max_size`) and how often the worker polls it (`poll`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::keys::RawSize;
use crate::util::time::parse_duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub feed: Option<String>,
    pub timeout: Option<String>,
    pub max_size: Option<RawSize>,
    pub poll: Option<String>,
}

/// Where the feed is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedLocation {
    /// An http(s) URL.
    Http(url::Url),
    /// A file the site generator wrote (`file://` URL or a plain path,
    /// relative to the configuration's folder).
    File(PathBuf),
}

impl std::fmt::Display for FeedLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedLocation::Http(u) => write!(f, "{u}"),
            FeedLocation::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A validated `[source]` with a feed.
#[derive(Debug, Clone)]
pub struct FeedSource {
    pub location: FeedLocation,
    /// The whole fetch (connect, redirects, body) at most this long.
    pub timeout: Duration,
    /// Bodies over this many bytes (after decompression) are refused.
    pub max_size: u64,
    /// How often the worker fetches the feed.
    pub poll: Duration,
    /// The feed's last good copy and its validators (ETag,
    /// Last-Modified): beside the SQLite file (`gazette.db.feed.json`),
    /// else `.gazette-feed.json` in the configuration's folder.
    pub cache: PathBuf,
}

/// `[source]`, errors at their key's line; a bad `GAZETTE_FEED_URL` is
/// named as such.
pub(super) fn settings(
    loc: &super::keys::Locator<'_>,
    raw: RawSource,
    env_feed: Option<String>,
    root: &Path,
    database_url: &str,
) -> crate::error::Result<Option<FeedSource>> {
    let from_env = env_feed.is_some();
    resolve(raw, env_feed, root, database_url).map_err(|(key, m)| match key {
        "feed" if from_env => crate::error::Error::msg(format!("GAZETTE_FEED_URL: {m}")),
        _ => loc.at("source", key, m),
    })
}

/// `[source]` validated; `None` when no feed is configured. Errors are
/// `(key, message)`.
fn resolve(
    raw: RawSource,
    env_feed: Option<String>,
    root: &Path,
    database_url: &str,
) -> Result<Option<FeedSource>, (&'static str, String)> {
    let timeout = bounded(raw.timeout.as_deref(), "30s", "timeout", (1, 3600))?;
    let poll = bounded(raw.poll.as_deref(), "15m", "poll", (1, 7 * 86400))?;
    let max_size = match raw.max_size {
        None => 10 << 20,
        Some(RawSize::Bytes(n)) => n,
        Some(RawSize::Text(s)) => crate::util::text::parse_size(&s).map_err(|m| ("max_size", m))?,
    };
    if !(1024..=(1 << 30)).contains(&max_size) {
        return Err(("max_size", "must be between 1KB and 1GB".into()));
    }
    let Some(feed) = env_feed.or(raw.feed).filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    Ok(Some(FeedSource {
        location: location(feed.trim(), root).map_err(|m| ("feed", m))?,
        timeout,
        max_size,
        poll,
        cache: cache_path(database_url, root),
    }))
}

/// Where the last good copy is kept: with the data that must survive a
/// restart (the SQLite file's folder; the configuration's may be
/// read-only), else beside the configuration.
fn cache_path(database_url: &str, root: &Path) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|f| !f.is_empty() && !f.starts_with(":memory:"));
    match file {
        Some(f) => PathBuf::from(format!("{f}.feed.json")),
        None => root.join(".gazette-feed.json"),
    }
}

fn bounded(
    v: Option<&str>,
    default: &str,
    key: &'static str,
    (min, max): (u64, u64),
) -> Result<Duration, (&'static str, String)> {
    let d = parse_duration(v.unwrap_or(default)).map_err(|m| (key, m))?;
    if d < Duration::from_secs(min) || d > Duration::from_secs(max) {
        return Err((key, format!("must be between {min}s and {max}s")));
    }
    Ok(d)
}

/// An http(s) URL, a `file://` URL or a path.
pub fn location(s: &str, root: &Path) -> Result<FeedLocation, String> {
    if s.chars().any(char::is_control) {
        return Err(format!("{s:?} contains a control character"));
    }
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let u = url::Url::parse(s).map_err(|e| format!("{s:?} is not a valid URL ({e})"))?;
        if u.host_str().is_none_or(str::is_empty) {
            return Err(format!("{s:?} has no host"));
        }
        return Ok(FeedLocation::Http(u));
    }
    if lower.starts_with("file:") {
        let u = url::Url::parse(s).map_err(|e| format!("{s:?} is not a valid URL ({e})"))?;
        let p = u
            .to_file_path()
            .map_err(|_| format!("{s:?} is not a local file URL"))?;
        return Ok(FeedLocation::File(p));
    }
    if let Some((scheme, _)) = s.split_once("://") {
        return Err(format!(
            "{scheme}:// is not supported (an http(s) URL, a file:// URL or a path)"
        ));
    }
    Ok(FeedLocation::File(root.join(s)))
}
