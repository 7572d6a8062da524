//! CSV import (Mailchimp, Substack, Buttondown, listmonk and plain exports)
//! and export (which import reads back unchanged).

use std::io::{Read, Write};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{format_time, Source, Status, Subscriber, SubscriberEmail};
use crate::store::ImportRow;

/// Columns written by `export`, in order.
pub const EXPORT_HEADER: [&str; 8] = [
    "email",
    "name",
    "status",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "source",
    "attributes",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Email,
    Name,
    FirstName,
    LastName,
    Status,
    /// Buttondown's subscriber type ("unsubscribed", "regular", ...).
    SubscriberType,
    CreatedAt,
    ConfirmedAt,
    UnsubscribedAt,
    Source,
    /// listmonk's JSON attributes.
    Attributes,
    Other,
}

fn classify(header: &str) -> Column {
    let h = header.trim().to_lowercase().replace(['_', '-'], " ");
    match h.as_str() {
        "email" | "email address" | "e mail" | "e mail address" | "mail" | "subscriber email" => {
            Column::Email
        }
        "name" | "full name" => Column::Name,
        "first name" | "fname" | "firstname" | "given name" => Column::FirstName,
        "last name" | "lname" | "lastname" | "surname" | "family name" => Column::LastName,
        "status" => Column::Status,
        "subscriber type" => Column::SubscriberType,
        "created at" => Column::CreatedAt,
        "confirmed at" => Column::ConfirmedAt,
        "unsubscribed at" => Column::UnsubscribedAt,
        "source" => Column::Source,
        "attributes" | "attribs" => Column::Attributes,
        _ => Column::Other,
    }
}

/// A row that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

/// Streams import rows out of a CSV file.
pub struct ImportReader<R: Read> {
    reader: csv::Reader<CrlfToLf<R>>,
    columns: Vec<Column>,
    headers: Vec<String>,
    confirmed: bool,
    record: csv::StringRecord,
}

impl<R: Read> ImportReader<R> {
    /// Read the header row. `confirmed`: rows without a status become active.
    pub fn new(input: R, confirmed: bool) -> Result<Self, String> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(CrlfToLf::new(input));
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| format!("line 1: cannot read the header row: {}", csv_reason(&e)))?
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let h = if i == 0 {
                    h.trim_start_matches('\u{feff}')
                } else {
                    h
                };
                h.trim().to_string()
            })
            .collect();
        let columns: Vec<Column> = headers.iter().map(|h| classify(h)).collect();
        if !columns.contains(&Column::Email) {
            return Err(format!(
                "line 1: no email column (expected a header such as `email` or `Email Address`; found {})",
                headers.join(", ")
            ));
        }
        Ok(ImportReader {
            reader,
            columns,
            headers,
            confirmed,
            record: csv::StringRecord::new(),
        })
    }

    /// The next row: `None` at the end, `Some(Err)` for a row to report.
    pub fn next_row(&mut self) -> Option<Result<ImportRow, BadRow>> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record.position().map(|p| p.line()).unwrap_or(0);
                Some(self.convert(line))
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                Some(Err(BadRow {
                    line,
                    reason: csv_reason(&e),
                }))
            }
        }
    }

    fn convert(&self, line: u64) -> Result<ImportRow, BadRow> {
        let bad = |reason: String| BadRow { line, reason };
        let mut email = None;
        let mut name = None;
        let (mut first, mut last) = (None, None);
        let mut status: Option<Status> = None;
        let mut attributes = Map::new();
        let (mut created_at, mut confirmed_at, mut unsubscribed_at) = (None, None, None);
        let mut source = Source::Import;
        for (i, value) in self.record.iter().enumerate() {
            let value = value.trim();
            let Some(col) = self.columns.get(i) else {
                if !value.is_empty() {
                    return Err(bad(format!(
                        "{} fields, but the header has {}",
                        self.record.len(),
                        self.columns.len()
                    )));
                }
                continue;
            };
            if value.is_empty() {
                continue;
            }
            match col {
                Column::Email => email = Some(value),
                Column::Name => name = Some(value.to_string()),
                Column::FirstName => first = Some(value),
                Column::LastName => last = Some(value),
                Column::Status => {
                    status = Some(match Status::from_str(value) {
                        Ok(s) => s,
                        // listmonk: enabled / blocklisted
                        Err(_) if value.eq_ignore_ascii_case("blocklisted") => Status::Unsubscribed,
                        Err(_) if value.eq_ignore_ascii_case("enabled") => continue,
                        Err(e) => return Err(bad(e)),
                    })
                }
                Column::SubscriberType => {
                    if value.eq_ignore_ascii_case("unsubscribed") {
                        status = Some(Status::Unsubscribed);
                    }
                    attributes.insert(self.headers[i].clone(), Value::String(value.into()));
                }
                Column::CreatedAt => created_at = Some(parse_time(value).map_err(&bad)?),
                Column::ConfirmedAt => confirmed_at = Some(parse_time(value).map_err(&bad)?),
                Column::UnsubscribedAt => unsubscribed_at = Some(parse_time(value).map_err(&bad)?),
                Column::Source => {
                    source = match value {
                        "cli" => Source::Cli,
                        "web" => Source::Web,
                        _ => Source::Import,
                    }
                }
                Column::Attributes => match serde_json::from_str::<Value>(value) {
                    Ok(Value::Object(m)) => attributes.extend(m),
                    _ => return Err(bad("attributes is not a JSON object".into())),
                },
                Column::Other => {
                    attributes.insert(self.headers[i].clone(), Value::String(value.into()));
                }
            }
        }
        let email = email.ok_or_else(|| bad("no email address".into()))?;
        let email = SubscriberEmail::parse(email).map_err(bad)?;
        if name.is_none() {
            let joined = [first, last]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if !joined.is_empty() {
                name = Some(joined);
            }
        }
        let status = match status {
            Some(Status::Pending) | None if self.confirmed => Status::Active,
            Some(s) => s,
            None => Status::Pending,
        };
        Ok(ImportRow {
            line,
            email,
            name,
            status,
            source,
            attributes,
            created_at,
            confirmed_at,
            unsubscribed_at,
        })
    }
}

/// Turns CRLF line ends into LF, so that the csv crate's record positions
/// give the line a record starts on for CRLF files too.
pub struct CrlfToLf<R> {
    inner: R,
    /// A '\r' at the end of the previous chunk, not yet known to precede '\n'.
    pending_cr: bool,
}

impl<R: Read> CrlfToLf<R> {
    pub fn new(inner: R) -> Self {
        CrlfToLf {
            inner,
            pending_cr: false,
        }
    }
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.len() < 2 {
            return self.inner.read(buf);
        }
        loop {
            let start = usize::from(self.pending_cr);
            let n = self.inner.read(&mut buf[start..])?;
            if self.pending_cr {
                buf[0] = b'\r';
            }
            let total = start + n;
            if total == 0 {
                return Ok(0);
            }
            // At end of input, a trailing '\r' is kept as it is.
            let eof = n == 0;
            let mut out = 0;
            let mut i = 0;
            self.pending_cr = false;
            while i < total {
                let b = buf[i];
                if b == b'\r' {
                    if i + 1 < total {
                        if buf[i + 1] == b'\n' {
                            i += 1;
                            continue;
                        }
                    } else if !eof {
                        self.pending_cr = true;
                        break;
                    }
                }
                buf[out] = b;
                out += 1;
                i += 1;
            }
            if out > 0 || eof {
                return Ok(out);
            }
        }
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    crate::util::time::parse_date(s)
        .map(|(d, _)| d.with_timezone(&Utc))
        .ok_or_else(|| format!("invalid date {s:?}"))
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        csv::ErrorKind::Io(io) => crate::error::io_reason(io),
        _ => {
            let s = e.to_string();
            // Drop csv's own position prefix; we print the line ourselves.
            match s.split_once("): ") {
                Some((_, rest)) => rest.to_string(),
                None => s,
            }
        }
    }
}

/// Writes subscribers as CSV in the export format.
pub struct ExportWriter<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> ExportWriter<W> {
    pub fn new(out: W) -> csv::Result<Self> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        writer.write_record(EXPORT_HEADER)?;
        Ok(ExportWriter { writer })
    }

    pub fn write(&mut self, s: &Subscriber) -> csv::Result<()> {
        let opt = |t: &Option<DateTime<Utc>>| t.as_ref().map(format_time).unwrap_or_default();
        let attributes = match &s.attributes {
            Value::Object(m) if m.is_empty() => String::new(),
            v => v.to_string(),
        };
        self.writer.write_record([
            s.email.as_str(),
            s.name.as_deref().unwrap_or(""),
            s.status.as_str(),
            &format_time(&s.created_at),
            &opt(&s.confirmed_at),
            &opt(&s.unsubscribed_at),
            &s.source,
            &attributes,
        ])
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.writer.flush()?;
        self.writer.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(csv: &str, confirmed: bool) -> (Vec<ImportRow>, Vec<BadRow>) {
        let mut r = ImportReader::new(csv.as_bytes(), confirmed).unwrap();
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        while let Some(row) = r.next_row() {
            match row {
                Ok(x) => ok.push(x),
                Err(e) => bad.push(e),
            }
        }
        (ok, bad)
    }

    #[test]
    fn mailchimp_export_with_bom_and_crlf() {
        let csv = "\u{feff}Email Address,First Name,Last Name,MEMBER_RATING\r\nann@Example.com,Ann,Lee,2\r\nnot-an-email,Bob,,1\r\n";
        let (ok, bad) = read_all(csv, false);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].email.as_str(), "ann@example.com");
        assert_eq!(ok[0].name.as_deref(), Some("Ann Lee"));
        assert_eq!(ok[0].attributes["MEMBER_RATING"], "2");
        assert_eq!(ok[0].status, Status::Pending);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
        assert!(bad[0].reason.contains("not a valid email"), "{:?}", bad[0]);
    }

    #[test]
    fn listmonk_export_attributes_and_quoted_fields() {
        let csv = "email,name,attributes\n\"a@x.org\",\"Lee, Ann\",\"{\"\"city\"\": \"\"Oslo\"\"}\"\nb@x.org,\"Multi\nLine\",\n";
        let (ok, bad) = read_all(csv, true);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok[0].name.as_deref(), Some("Lee, Ann"));
        assert_eq!(ok[0].attributes["city"], "Oslo");
        assert_eq!(ok[0].status, Status::Active);
        assert_eq!(ok[1].name.as_deref(), Some("Multi\nLine"));
        assert_eq!(ok[1].line, 3);
    }

    #[test]
    fn crlf_is_normalised_across_chunk_boundaries() {
        struct Tiny<'a>(&'a [u8]);
        impl Read for Tiny<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = String::new();
        CrlfToLf::new(Tiny(b"a\r\nb\rc\r\n\r"))
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a\nb\rc\n\r");
    }

    #[test]
    fn missing_email_column_is_an_error() {
        assert!(ImportReader::new("name,city\nA,B\n".as_bytes(), false).is_err());
    }

    #[test]
    fn buttondown_unsubscribed_type_is_honoured() {
        let (ok, _) = read_all("email,subscriber_type\nz@x.org,unsubscribed\n", true);
        assert_eq!(ok[0].status, Status::Unsubscribed);
    }
}
