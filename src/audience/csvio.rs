//! CSV export (which import reads back unchanged), and the CRLF reader
//! import uses. The import itself lives in `audience::import`.

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use super::import::{BadRow, ImportReader};
use super::{format_time, Subscriber};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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
}
