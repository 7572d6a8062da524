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

use chrono::{DateTime, Utc};

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
