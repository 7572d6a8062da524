//! One module per command group; each turns CLI arguments into calls on the
//! library and prints the result.

pub mod campaigns;
pub mod db;
pub mod init;
pub mod posts;
pub mod preview;
pub mod send;
pub mod serve;
pub mod status;
pub mod subscribers;

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
            Some(s) => content::parse_date(s)
                .map(|(d, _)| d.with_timezone(&Utc))
                .ok_or_else(|| Error::msg(format!("GAZETTE_NOW: invalid date {s:?}"))),
            None => Ok(Utc::now()),
        }
    }
}

/// Load the posts and print the problems of the bad ones (they never hide
/// the good ones).
pub fn load_posts(settings: &Settings) -> Catalog {
    let catalog = content::load_dir(&settings.posts_dir, &settings.newsletter.base_url);
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
                .map_err(|e| Error::msg(format!("writing to standard output: {e}")))
        }
        Some(p) => write_atomic(p, bytes),
    }
}

/// Write a file so that readers see either nothing or all of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.commit()
}

/// A file written in place only when complete: writes go to a temporary
/// file beside it, renamed over the target by `commit`.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| Error::file(path, "not a file name"))?
            .to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(path, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(std::io::BufWriter::new(file)),
        })
    }

    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("not committed twice");
        let result = file
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .and_then(|_| std::fs::rename(&self.tmp, &self.path));
        if result.is_err() {
            // E.g. a full disk at the flush: leave no half-written file.
            let _ = std::fs::remove_file(&self.tmp);
        }
        result.map_err(|e| Error::io(&self.path, e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("open").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("open").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
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
        content::parse_date(s)
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
