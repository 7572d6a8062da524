//! `gazette subscribers import`: the file checked and opened, the import
//! itself (`ops::import`), the report printed.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::ops::import::Report;
use crate::store::{ImportStats, Store};

pub struct Options {
    pub import: crate::ops::import::Options,
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
    let shown = path.display().to_string();
    let echo = shown.clone();
    let on_bad = Box::new(move |b: &crate::audience::import::BadRow| {
        eprintln!("{echo}:{}: {}", b.line, b.reason)
    });
    let input = std::io::BufReader::with_capacity(1 << 16, file);
    let (report, stats) =
        crate::ops::import::import(store, input, &shown, &opts.import, on_bad, now).await?;
    if opts.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::msg(format!("writing JSON: {e}")))?;
        crate::commands::write_output(None, format!("{text}\n").as_bytes())?;
    } else if !opts.quiet {
        print_text(&report);
    }
    if !report.errors.is_empty() {
        let n = report.errors.len();
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

fn print_text(r: &Report) {
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
