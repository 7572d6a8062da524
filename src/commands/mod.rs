//! One module per command group; each turns CLI arguments into calls on the
//! library and prints the result.

pub mod bounces;
pub mod campaigns;
pub mod db;
pub mod form;
pub mod init;
pub mod posts;
pub mod preview;
pub mod send;
pub mod serve;
pub mod shell;
pub mod status;
pub mod subscribers;
pub mod worker;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use crate::cli::Cli;
use crate::config::{self, Overrides, Settings};
use crate::content::{self, Catalog};
use crate::error::{Error, Result};

/// What every command needs: where the config is and how to load it.
pub struct Ctx {
    pub config_path: PathBuf,
    pub env: HashMap<String, String>,
    pub overrides: Overrides,
    pub quiet: bool,
}

impl Ctx {
    pub fn new(cli: &Cli, env: HashMap<String, String>) -> Self {
        Ctx {
            config_path: config::resolve_config_path(cli.config.as_deref(), &env),
            overrides: Overrides {
                database_url: cli.database_url.clone(),
                smtp_url: cli.smtp_url.clone(),
            },
            env,
            quiet: cli.quiet,
        }
    }

    pub fn settings(&self) -> Result<Settings> {
        config::load(&self.config_path, &self.env, &self.overrides)
    }

    /// Open (creating and migrating) the database.
    pub async fn store(&self, settings: &Settings) -> Result<crate::store::Store> {
        crate::store::Store::open(&settings.database_url).await
    }

    /// "Now" for deciding what is published (drafts, scheduled posts, digest
    /// windows); `GAZETTE_NOW` (RFC 3339) pins it for tests and demos.
    /// Records in the database always carry the real time.
    pub fn now(&self) -> Result<DateTime<Utc>> {
        match self.env.get("GAZETTE_NOW").filter(|s| !s.is_empty()) {
            Some(s) => crate::util::time::parse_date(s)
                .map(|(d, _)| d.with_timezone(&Utc))
                .ok_or_else(|| Error::msg(format!("GAZETTE_NOW: invalid date {s:?}"))),
            None => Ok(Utc::now()),
        }
    }
}

/// Load the posts and print the problems of the bad ones (they never hide
/// the good ones).
/// With `[source] feed`, the feed is fetched first; when it cannot be,
/// that is one more problem and its last good copy is used.
pub fn load_posts(settings: &Settings) -> Catalog {
    let fetch_error = settings
        .feed
        .as_ref()
        .and_then(|src| content::feed_fetch::refresh_blocking(src).err());
    let mut catalog = content::catalog(settings);
    catalog.errors.extend(fetch_error);
    for e in &catalog.errors {
        eprintln!("{e}");
    }
    catalog
}

/// Write `bytes` to `path` atomically (temp file + rename) or to stdout.
pub fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match path {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|_| out.flush())
                .map_err(Error::Output)
        }
        Some(p) => crate::util::fs::write_atomic(p, bytes).map_err(|e| Error::io(p, e)),
    }
}

/// The posts of a digest and its window: `--since`/`--until` when given,
/// else what the next digest carries (posts no earlier digest carried).
pub async fn digest_posts<'a>(
    store: &crate::store::Store,
    catalog: &'a Catalog,
    settings: &Settings,
    now: DateTime<Utc>,
    w: &crate::cli::WindowArgs,
) -> Result<(Vec<&'a crate::content::Post>, DateTime<Utc>, DateTime<Utc>)> {
    if w.since.is_some() || w.until.is_some() {
        let (since, until) = window(
            w.since.as_deref(),
            w.until.as_deref(),
            now,
            settings.digest.first_window_days as i64,
        )?;
        return Ok((catalog.window(since, until, now), since, until));
    }
    let (posts, since) =
        crate::delivery::campaign::default_digest(store, &catalog.posts, settings, now).await?;
    Ok((posts, since, now))
}

/// The digest window from `--since`/`--until` (both inclusive days), with
/// `default_days` back from now when `--since` is absent.
pub fn window(
    since: Option<&str>,
    until: Option<&str>,
    now: DateTime<Utc>,
    default_days: i64,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let parse = |flag: &str, s: &str| {
        crate::util::time::parse_date(s)
            .map(|(d, date_only)| (d.with_timezone(&Utc), date_only))
            .ok_or_else(|| {
                Error::usage(format!(
                    "--{flag}: invalid date {s:?} (expected YYYY-MM-DD or RFC 3339)"
                ))
            })
    };
    let until = match until {
        Some(s) => {
            let (d, date_only) = parse("until", s)?;
            if date_only {
                d + Duration::days(1)
            } else {
                d
            }
        }
        None => now,
    };
    let since = match since {
        Some(s) => parse("since", s)?.0,
        None => until - Duration::days(default_days),
    };
    if since >= until {
        return Err(Error::usage("--since must be before --until"));
    }
    Ok((since, until))
}
