//! Importing and exporting subscribers: what `gazette subscribers
//! import|export` and `POST /api/v1/subscribers/import`, `GET
//! /api/v1/subscribers/export` do, written once. The caller reads the
//! arguments and prints or answers the [`Report`].

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audience::csvio::ExportWriter;
use crate::audience::import::{BadRow, Format, ImportReader, ImportRow};
use crate::audience::{Status, SubscriberEmail};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::store::{ImportStats, Store, IMPORT_BATCH};

/// What the import did (or, for a dry run, would do): the `--json` report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub file: String,
    pub format: &'static str,
    pub format_name: String,
    pub dry_run: bool,
    pub active: u64,
    pub pending: u64,
    pub unsubscribed: u64,
    pub bounced: u64,
    pub complained: u64,
    /// Erased earlier with `subscribers remove`: never re-added.
    pub skipped: u64,
    pub invalid: u64,
    pub valid: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub errors: Vec<BadRow>,
}

pub struct Options {
    /// Rows the other tool held as subscribed (or, in a plain file, rows
    /// without a status) become active.
    pub confirmed: bool,
    /// The addresses made active get the welcome email (else they are
    /// marked welcomed as they are inserted).
    pub welcome: bool,
    pub dry_run: bool,
}

/// Shown as each invalid row is read (the CLI prints them as they come).
pub type OnBadRow = Box<dyn Fn(&BadRow) + Send>;

/// Import the CSV `input` (its format recognised by its columns; `name`,
/// a file name, helps tell them apart and names it in the report). Rows
/// are parsed on a thread of their own while this task merges. Returns the
/// report and the store's counts; invalid rows are in the report (the
/// valid ones are imported all the same).
pub async fn import<R: Read + Send + 'static>(
    store: &Store,
    input: R,
    name: &str,
    opts: &Options,
    on_bad: OnBadRow,
    now: DateTime<Utc>,
) -> Result<(Report, ImportStats), super::OpError> {
    // A file the import cannot read at all (no email column) is bad input.
    let mut reader = ImportReader::new(input, opts.confirmed)
        .map_err(|m| super::OpError::Invalid(format!("{name}: {m}")))?;
    if let Some(file) = std::path::Path::new(name).file_name() {
        reader.file_name_hint(&file.to_string_lossy());
    }
    let format = reader.format();
    let mut import = store.begin_import().await?;
    import.mark_welcomed_on_insert(!opts.welcome);
    // At most three batches ahead of the merge (SQLite runs on the thread
    // that merges).
    let (batches, mut incoming) = tokio::sync::mpsc::channel::<Vec<ImportRow>>(2);
    let parser = parse_in_batches(reader, batches, on_bad);
    import.merge_from(&mut incoming, now).await?;
    let (bad, valid) = parser
        .await
        .map_err(|e| Error::msg(format!("reading {name}: {e}")))?;
    let stats = import.finish(opts.dry_run).await?;
    let report = report(name, format, opts.dry_run, valid, &stats, bad);
    Ok((report, stats))
}

/// Read the rows on a thread of their own and send them in batches of
/// `IMPORT_BATCH` (the last one shorter) until the input ends or the import
/// stops (the channel closed). Returns the invalid rows and the number of
/// valid ones.
fn parse_in_batches<R: Read + Send + 'static>(
    mut reader: ImportReader<R>,
    batches: tokio::sync::mpsc::Sender<Vec<ImportRow>>,
    on_bad: OnBadRow,
) -> tokio::task::JoinHandle<(Vec<BadRow>, u64)> {
    tokio::task::spawn_blocking(move || {
        let (mut bad, mut valid) = (Vec::<BadRow>::new(), 0u64);
        loop {
            let mut batch = Vec::with_capacity(IMPORT_BATCH);
            while batch.len() < IMPORT_BATCH {
                if batches.is_closed() {
                    // The import stopped on an error: read no further.
                    return (bad, valid);
                }
                match reader.next_row() {
                    None => break,
                    Some(Ok(r)) => {
                        valid += 1;
                        batch.push(r);
                    }
                    Some(Err(b)) => {
                        on_bad(&b);
                        bad.push(b);
                    }
                }
            }
            // A batch that is not full is the last.
            let last = batch.len() < IMPORT_BATCH;
            if (!batch.is_empty() && batches.blocking_send(batch).is_err()) || last {
                return (bad, valid);
            }
        }
    })
}

fn report(
    name: &str,
    format: Format,
    dry_run: bool,
    valid: u64,
    stats: &ImportStats,
    bad: Vec<BadRow>,
) -> Report {
    let format_name = match format {
        Format::Generic => format!(
            "{format} (email, name, First Name/Last Name, status, created_at, confirmed_at, unsubscribed_at, source, attributes, frequency, topics; other columns become attributes)"
        ),
        f => f.to_string(),
    };
    Report {
        file: name.to_string(),
        format: format.id(),
        format_name,
        dry_run,
        active: stats.became(Status::Active),
        pending: stats.became(Status::Pending),
        unsubscribed: stats.became(Status::Unsubscribed),
        bounced: stats.became(Status::Bounced),
        complained: stats.became(Status::Complained),
        skipped: stats.suppressed,
        invalid: bad.len() as u64,
        valid,
        new: stats.inserted,
        updated: stats.updated,
        unchanged: stats.unchanged,
        errors: bad,
    }
}

/// What happened after an import: preference values left as attributes
/// (`(email, problem)`) and the welcome emails sent.
#[derive(Debug, Default)]
pub struct AfterImport {
    pub problems: Vec<(String, String)>,
    /// Addresses due a welcome email, and how many got one.
    pub due: usize,
    pub welcomed: u64,
}

/// After an import: the `frequency` and `topics` columns become
/// preferences (when the input had any); the addresses it made active get
/// the welcome email (`welcome`), or are marked so that none is ever
/// welcomed.
/// `optin` is built only when a welcome email is due.
pub async fn after_import(
    settings: &Settings,
    store: &Store,
    welcome: bool,
    preferences: bool,
    optin: impl FnOnce() -> Result<crate::optin::Optin>,
) -> Result<AfterImport> {
    let mut out = AfterImport::default();
    if preferences {
        let known = &settings.readers.topics;
        let (_, problems) = store
            .adopt_imported_preferences(|t| known.is_empty() || known.iter().any(|(k, _)| k == t))
            .await?;
        out.problems = problems;
    }
    let emails = store.imported_unwelcomed(welcome, Utc::now()).await?;
    if emails.is_empty() {
        return Ok(out);
    }
    out.due = emails.len();
    let optin = optin()?;
    for e in emails {
        let Ok(email) = SubscriberEmail::parse(&e) else {
            continue;
        };
        if optin.welcome(&email, false).await? {
            out.welcomed += 1;
        }
    }
    Ok(out)
}

/// A CSV error: failed writes go through `io_err` (stdout, a file).
fn csv_err(e: csv::Error, io_err: &impl Fn(std::io::Error) -> Error) -> Error {
    if !e.is_io_error() {
        return Error::msg(format!("writing CSV: {e}"));
    }
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io_err(io),
        k => Error::msg(format!("writing CSV: {k:?}")),
    }
}

/// Write the subscribers in `status` (all when `None`) to `out` as CSV,
/// every column the import reads back; `raw`: cells exactly as stored
/// (else a cell a spreadsheet would run as a formula gets a leading `'`).
pub async fn export<W: Write>(
    store: &Store,
    status: Option<Status>,
    raw: bool,
    out: W,
    io_err: impl Fn(std::io::Error) -> Error,
) -> Result<W> {
    let mut w = ExportWriter::with_raw(out, raw).map_err(|e| csv_err(e, &io_err))?;
    store
        .for_each(status, |s| w.write(&s).map_err(|e| csv_err(e, &io_err)))
        .await?;
    w.finish().map_err(io_err)
}
