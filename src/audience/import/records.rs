//! The records of an imported file, read so that every physical line is
//! accounted for: each line ends up in the header, a record, a blank line,
//! or a problem reported at its own number, and nothing is ever swallowed.
//!
//! Lines end at LF, CRLF or a lone CR (old Mac files). A record is one
//! line, or several when a quoted field holds line breaks. Such a field
//! must close cleanly (its closing quote followed by `,` or the line's end)
//! within `MAX_LINE` bytes; if it reaches the end of the file, the cap, or a
//! quote that cannot close it (`"x` in the middle of a field), the quote
//! is taken for a stray one: the record's first line is reported as
//! `unterminated quoted field` and reading starts again at the next
//! physical line, each as a record of its own. A line longer than
//! `MAX_LINE` is reported and skipped (its rest is read, never kept), and
//! the next line starts afresh whatever quotes it held.
//!
//! After a stray quote the lines it would have swallowed are read again,
//! each once: one that opens a quoted field itself would run into the same
//! end (the file's end or the same unclosable quote), so it is reported at
//! once without being scanned again. A file of stray quotes is read in
//! linear time. (Where the cap stopped the scan, that shortcut also reports
//! a record that starts after the stray quote and would close within the
//! cap of its own start; a record that long is reported either way.)

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};

/// The longest line, and the longest record, an import reads: well above
/// a row of Gazette's own export (attributes are capped at
/// `audience::attributes::MAX_BYTES`; a name, capped on import, may come in
/// longer than 1 MB).
pub const MAX_LINE: usize = 2 << 20;

/// The byte order mark some tools write first (Excel, Mailchimp).
const BOM: &[u8] = "\u{feff}".as_bytes();

pub const UNTERMINATED: &str = "unterminated quoted field";

/// What reading the next record found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A record starting at this line; its fields are in `Records::fields`.
    Record(u64),
    /// A line that is no record, with the reason.
    Bad(u64, String),
    End,
}

/// How many physical lines were read, and how many were neither a record's
/// first line nor a reported one: header + valid + invalid + `blank` +
/// `continued` = `lines`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCounts {
    pub lines: u64,
    /// Empty lines (skipped, as CSV readers do).
    pub blank: u64,
    /// Lines after the first of a record whose quoted field holds line breaks.
    pub continued: u64,
}

/// One physical line set aside to be read again.
struct Line {
    no: u64,
    bytes: Vec<u8>,
    /// The line break: b'\n' (LF or CRLF), b'\r', or 0 at the end of the file.
    end: u8,
    cut: bool,
}

/// Where a line's parse stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Q {
    /// At the start of a field.
    Start,
    /// In an unquoted field (quotes in it are plain characters).
    Plain,
    Quoted,
    /// Just after a quote in a quoted field: `"` escapes, `,` or the line's
    /// end closes it, anything else is a quote that closes nothing.
    QuoteSeen,
}

pub struct Records<R: Read> {
    input: BufReader<R>,
    /// The longest line and record (`MAX_LINE`; less in tests).
    max: usize,
    /// The current line (read or taken back from `replay`).
    line: Line,
    replay: VecDeque<Line>,
    /// Lines up to this one, read again after a stray quote, cannot open a
    /// quoted field that closes (see the module comment).
    doomed_until: u64,
    counts: LineCounts,
    /// A read failed: no more lines, after its reason (kept while lines
    /// set aside are read again) is reported once.
    failed: bool,
    read_error: Option<String>,
    /// The unescaped fields of the current record, one after another, and
    /// where each ends; `text` is `buf` once it is known to be UTF-8.
    buf: Vec<u8>,
    text: String,
    ends: Vec<usize>,
}

impl<R: Read> Records<R> {
    /// Records of `input`, no line or record longer than `max` bytes.
    pub fn new(input: R, max: usize) -> Self {
        Records {
            input: BufReader::with_capacity(1 << 16, input),
            max,
            line: Line {
                no: 0,
                bytes: Vec::new(),
                end: 0,
                cut: false,
            },
            replay: VecDeque::new(),
            doomed_until: 0,
            counts: LineCounts::default(),
            failed: false,
            read_error: None,
            buf: Vec::new(),
            text: String::new(),
            ends: Vec::new(),
        }
    }

    pub fn counts(&self) -> LineCounts {
        self.counts
    }

    /// The fields of the last `Event::Record`.
    pub fn fields(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&e| {
            let f = &self.text[start..e];
            start = e;
            f
        })
    }

    pub fn field_count(&self) -> usize {
        self.ends.len()
    }

    pub fn next_record(&mut self) -> Event {
        loop {
            match self.take_line() {
                Ok(false) => return Event::End,
                Ok(true) => {}
                Err(reason) => return Event::Bad(self.counts.lines + 1, reason),
            }
            let no = self.line.no;
            if self.line.cut {
                return Event::Bad(no, format!("line longer than {}", size(self.max)));
            }
            if self.line.bytes.is_empty() {
                self.counts.blank += 1;
                continue;
            }
            if self.buf.capacity() < self.text.capacity() {
                self.buf = std::mem::take(&mut self.text).into_bytes();
            }
            self.buf.clear();
            self.ends.clear();
            let (q, _) = parse_line(&self.line.bytes, Q::Start, &mut self.buf, &mut self.ends);
            if q == Q::Quoted {
                if no <= self.doomed_until {
                    return Event::Bad(no, UNTERMINATED.into());
                }
                push_break(&mut self.buf, self.line.end);
                if let Some(bad) = self.multi_line(no) {
                    return bad;
                }
            }
            self.ends.push(self.buf.len());
            return self.validate(no);
        }
    }

    /// The rest of a record whose quoted field goes past its first line
    /// (`start`); `None` when it closed cleanly, else the report of the
    /// stray quote, with the lines read meanwhile set aside to read again.
    fn multi_line(&mut self, start: u64) -> Option<Event> {
        let mut taken: Vec<Line> = Vec::new();
        let mut bytes = self.line.bytes.len();
        let doomed = loop {
            match self.take_line() {
                Ok(true) => {}
                // The file ended inside the quoted field: any line read
                // meanwhile that opens a quoted field would end there too.
                Ok(false) => break taken.last().map_or(start, |l| l.no),
                Err(reason) => {
                    self.read_error = Some(reason);
                    break taken.last().map_or(start, |l| l.no);
                }
            }
            let line = self.own_line();
            bytes += line.bytes.len() + 1;
            if line.cut || bytes > self.max {
                let no = line.no;
                taken.push(line);
                break no - 1;
            }
            let (q, malformed) = parse_line(&line.bytes, Q::Quoted, &mut self.buf, &mut self.ends);
            let (no, end) = (line.no, line.end);
            taken.push(line);
            if malformed {
                break no - 1;
            }
            if q != Q::Quoted {
                self.counts.continued += taken.len() as u64;
                return None;
            }
            if end == 0 {
                break no;
            }
            push_break(&mut self.buf, end);
        };
        self.doomed_until = self.doomed_until.max(doomed);
        for line in taken.into_iter().rev() {
            self.replay.push_front(line);
        }
        Some(Event::Bad(start, UNTERMINATED.into()))
    }

    /// The current line, owned (for setting aside).
    fn own_line(&mut self) -> Line {
        Line {
            no: self.line.no,
            bytes: std::mem::take(&mut self.line.bytes),
            end: self.line.end,
            cut: self.line.cut,
        }
    }

    /// Turn the fields just parsed into text; a record that is not UTF-8
    /// (or whose field boundaries split a character) is reported.
    fn validate(&mut self, no: u64) -> Event {
        match String::from_utf8(std::mem::take(&mut self.buf)) {
            Ok(text) => {
                self.text = text;
                if self.ends.iter().all(|&e| self.text.is_char_boundary(e)) {
                    return Event::Record(no);
                }
                self.ends.clear();
                Event::Bad(no, "not valid UTF-8".into())
            }
            Err(e) => {
                self.buf = e.into_bytes();
                self.ends.clear();
                Event::Bad(no, "not valid UTF-8".into())
            }
        }
    }

    /// The next physical line into `self.line`: one set aside, else one
    /// read. `Ok(false)` at the end of the file (or after a read failed).
    fn take_line(&mut self) -> Result<bool, String> {
        if let Some(line) = self.replay.pop_front() {
            self.line = line;
            return Ok(true);
        }
        if self.failed {
            return self.read_error.take().map_or(Ok(false), Err);
        }
        let no = self.counts.lines + 1;
        self.line.no = no;
        match read_line(&mut self.input, &mut self.line, self.max) {
            Ok(false) => Ok(false),
            Ok(true) => {
                self.counts.lines = no;
                if no == 1 && self.line.bytes.starts_with(BOM) {
                    self.line.bytes.drain(..BOM.len());
                }
                Ok(true)
            }
            // Not a line of the file: reported (at the number the next line
            // would have), not counted.
            Err(e) => {
                self.failed = true;
                Err(crate::error::io_reason(&e))
            }
        }
    }
}

/// A line break inside a quoted field, as the field keeps it.
fn push_break(buf: &mut Vec<u8>, end: u8) {
    if end != 0 {
        buf.push(end);
    }
}

/// `2 MB`, or bytes below a megabyte.
fn size(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{} MB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// Read one physical line (at most `max` bytes of it kept) into `line`;
/// `false` at the end of the input.
fn read_line<R: Read>(
    input: &mut BufReader<R>,
    line: &mut Line,
    max: usize,
) -> std::io::Result<bool> {
    line.bytes.clear();
    line.cut = false;
    let mut any = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            line.end = 0;
            return Ok(any);
        }
        any = true;
        let (take, brk) = match memchr::memchr2(b'\n', b'\r', chunk) {
            Some(k) => (k, Some(chunk[k])),
            None => (chunk.len(), None),
        };
        let room = max - line.bytes.len().min(max);
        if take > room {
            line.cut = true;
        }
        if !line.cut {
            line.bytes.extend_from_slice(&chunk[..take]);
        }
        match brk {
            None => input.consume(take),
            Some(b) => {
                input.consume(take + 1);
                if b == b'\r' && input.fill_buf()?.first() == Some(&b'\n') {
                    input.consume(1);
                    line.end = b'\n';
                } else {
                    line.end = b;
                }
                return Ok(true);
            }
        }
    }
}

/// Parse one line's fields into `out` / `ends` (CSV as the csv crate reads
/// it: a quote opens a quoted field only at a field's start, `""` in one
/// is a quote, text after a closing quote is kept), starting in state `q`.
/// Returns the state at the line's end and whether a quote closed a field
/// that went on (`"a"b`), which a stray quote does.
fn parse_line(line: &[u8], mut q: Q, out: &mut Vec<u8>, ends: &mut Vec<usize>) -> (Q, bool) {
    let mut malformed = false;
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        match q {
            Q::Quoted => match memchr::memchr(b'"', rest) {
                Some(k) => {
                    out.extend_from_slice(&rest[..k]);
                    i += k + 1;
                    q = Q::QuoteSeen;
                }
                None => {
                    out.extend_from_slice(rest);
                    i = line.len();
                }
            },
            Q::Plain => match memchr::memchr(b',', rest) {
                Some(k) => {
                    out.extend_from_slice(&rest[..k]);
                    ends.push(out.len());
                    i += k + 1;
                    q = Q::Start;
                }
                None => {
                    out.extend_from_slice(rest);
                    i = line.len();
                }
            },
            Q::Start | Q::QuoteSeen => {
                match (q, rest[0]) {
                    (Q::Start, b'"') => q = Q::Quoted,
                    (Q::QuoteSeen, b'"') => {
                        out.push(b'"');
                        q = Q::Quoted;
                    }
                    (_, b',') => {
                        ends.push(out.len());
                        q = Q::Start;
                    }
                    (prev, _) => {
                        malformed |= prev == Q::QuoteSeen;
                        q = Q::Plain;
                        continue;
                    }
                }
                i += 1;
            }
        }
    }
    (q, malformed)
}

#[cfg(test)]
mod tests;
