//! CSV export (which import reads back unchanged). The import itself lives
//! in `audience::import`.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use super::import::{BadRow, ImportReader};
use super::{format_time, Subscriber};

/// Columns written by `export`, in order.
/// `frequency` and `topics` (comma-separated) are the reader's own
/// choices, which an import makes their preferences again.
pub const EXPORT_HEADER: [&str; 10] = [
    "email",
    "name",
    "status",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "source",
    "attributes",
    "frequency",
    "topics",
];

/// Writes subscribers as CSV in the export format.
pub struct ExportWriter<W: Write> {
    writer: csv::Writer<W>,
    raw: bool,
}

/// A cell a spreadsheet would run as a formula (OWASP's list: `=`, `+`,
/// `-`, `@`, tab, carriage return) gets a leading `'`, which spreadsheets
/// show as text.
pub fn defuse_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

impl<W: Write> ExportWriter<W> {
    /// An export safe to open in a spreadsheet (see [`defuse_formula`]).
    pub fn new(out: W) -> csv::Result<Self> {
        Self::with_raw(out, false)
    }

    /// `raw`: cells exactly as stored (`subscribers export --raw`).
    pub fn with_raw(out: W, raw: bool) -> csv::Result<Self> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        writer.write_record(EXPORT_HEADER)?;
        Ok(ExportWriter { writer, raw })
    }

    pub fn write(&mut self, s: &Subscriber) -> csv::Result<()> {
        let opt = |t: &Option<DateTime<Utc>>| t.as_ref().map(format_time).unwrap_or_default();
        let attributes = match &s.attributes {
            Value::Object(m) if m.is_empty() => String::new(),
            v => v.to_string(),
        };
        let cells = [
            s.email.as_str(),
            s.name.as_deref().unwrap_or(""),
            s.status.as_str(),
            &format_time(&s.created_at),
            &opt(&s.confirmed_at),
            &opt(&s.unsubscribed_at),
            &s.source,
            &attributes,
            s.frequency.map_or("", super::prefs::Frequency::as_str),
            &s.topics.join(","),
        ];
        if self.raw {
            self.writer.write_record(cells)
        } else {
            self.writer
                .write_record(cells.map(defuse_formula).iter().map(|c| c.as_bytes()))
        }
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.writer.flush()?;
        self.writer.into_inner().map_err(|e| e.into_error())
    }
}
