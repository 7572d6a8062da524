//! `gazette subscribers import`: read, merge in batches, report per format.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audience::import::{BadRow, Format, ImportReader, ImportRow};
use crate::audience::Status;
use crate::error::{Error, Result};
use crate::store::{ImportStats, Store, IMPORT_BATCH};

/// What the import did (or, for a dry run, would do).
#[derive(Serialize)]
struct Report<'a> {
    file: String,
    format: &'static str,
    format_name: String,
    dry_run: bool,
    active: u64,
    pending: u64,
    unsubscribed: u64,
    bounced: u64,
    complained: u64,
    /// Erased earlier with `subscribers remove`: never re-added.
    skipped: u64,
    invalid: u64,
    valid: u64,
    new: u64,
    updated: u64,
    unchanged: u64,
    errors: &'a [BadRow],
}

pub struct Options {
    /// `--welcome`: the addresses made active get the welcome email (else
    /// they are marked welcomed as they are inserted).
    pub welcome: bool,
    pub confirmed: bool,
    pub dry_run: bool,
    pub json: bool,
    pub quiet: bool,
}

/// Returns what the import did.
pub async fn run(
    store: &Store,
    path: &Path,
    opts: Options,
    now: DateTime<Utc>,
) -> Result<ImportStats> {
    // A FIFO or device is never opened: it could hang or never end.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::file(path, "not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = ImportReader::new(
        std::io::BufReader::with_capacity(1 << 16, file),
        opts.confirmed,
    )
    .map_err(|m| Error::file(path, m))?;
    if let Some(name) = path.file_name() {
        reader.file_name_hint(&name.to_string_lossy());
    }
    let format = reader.format();
    let mut import = store.begin_import().await?;
    import.mark_welcomed_on_insert(!opts.welcome);
    // The file is parsed on a thread of its own, at most three batches
    // ahead, while this one merges (SQLite runs on the thread that merges).
    let (batches, mut incoming) = tokio::sync::mpsc::channel::<Vec<ImportRow>>(2);
    let parser = parse_in_batches(reader, path, batches);
    import.merge_from(&mut incoming, now).await?;
    let (bad, valid) = parser
        .await
        .map_err(|e| Error::msg(format!("reading {}: {e}", path.display())))?;
    let stats = import.finish(opts.dry_run).await?;
    let report = report(path, format, opts.dry_run, valid, &stats, &bad);
    if opts.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::msg(format!("writing JSON: {e}")))?;
        crate::commands::write_output(None, format!("{text}\n").as_bytes())?;
    } else if !opts.quiet {
        print_text(&report);
    }
    if !bad.is_empty() {
        let n = bad.len();
        return Err(Error::file(
            path,
            format!(
                "{n} invalid row{} not imported (see above)",
                if n == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(stats)
}

/// Read the rows on a thread of their own and send them in batches of
/// `IMPORT_BATCH` (the last one shorter) until the file ends or the import
/// stops (the channel closed); invalid rows are printed as they come.
/// Returns them and the number of valid rows.
fn parse_in_batches<R: std::io::Read + Send + 'static>(
    mut reader: ImportReader<R>,
    path: &Path,
    batches: tokio::sync::mpsc::Sender<Vec<ImportRow>>,
) -> tokio::task::JoinHandle<(Vec<BadRow>, u64)> {
    let shown = path.to_path_buf();
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
                        eprintln!("{}:{}: {}", shown.display(), b.line, b.reason);
                        bad.push(b);
                    }
                }
            }
            // A batch that is not full is the last; a closed channel is an
            // import that stopped on an error.
            let last = batch.len() < IMPORT_BATCH;
            if (!batch.is_empty() && batches.blocking_send(batch).is_err()) || last {
                return (bad, valid);
            }
        }
    })
}

fn report<'a>(
    path: &Path,
    format: Format,
    dry_run: bool,
    valid: u64,
    stats: &ImportStats,
    bad: &'a [BadRow],
) -> Report<'a> {
    let format_name = match format {
        Format::Generic => format!(
            "{format} (email, name, First Name/Last Name, status, created_at, confirmed_at, unsubscribed_at, source, attributes; other columns become attributes)"
        ),
        f => f.to_string(),
    };
    Report {
        file: path.display().to_string(),
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

fn print_text(r: &Report<'_>) {
    let dry = if r.dry_run {
        "dry run, nothing changed: "
    } else {
        ""
    };
    println!("{}: {}", r.file, r.format_name);
    println!(
        "  {dry}{} active, {} pending, {} unsubscribed, {} bounced, {} complained, {} skipped (erased earlier), {} invalid",
        r.active, r.pending, r.unsubscribed, r.bounced, r.complained, r.skipped, r.invalid
    );
    println!(
        "{dry}{} valid rows: {} new, {} updated, {} unchanged, {} skipped (erased earlier); {} invalid rows",
        r.valid, r.new, r.updated, r.unchanged, r.skipped, r.invalid
    );
}
