//! CSV import: the export of Mailchimp, Substack, Ghost, Buttondown,
//! listmonk, Kit or beehiiv (recognised by its columns, see `formats`), or
//! any CSV with an email column.

mod formats;
mod records;
mod time;

use std::io::Read;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use formats::{norm, Held};
pub use formats::{Format, MailchimpFile};
pub use records::{LineCounts, MAX_LINE, UNTERMINATED};
pub use time::parse_time;

use super::{attributes, cap_name, Source, Status, SubscriberEmail};
use records::{Event, Records};

/// One valid row of an import file.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub line: u64,
    pub email: SubscriberEmail,
    /// `email.key()`, computed once.
    pub key: String,
    pub name: Option<String>,
    /// The status the file gives the row (before merging with a stored one).
    pub status: Status,
    pub source: Source,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub created_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
}

/// What a column means, decided once from the header and the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Email,
    Name,
    FirstName,
    LastName,
    /// A status or state, in the vocabulary of the format.
    Status,
    CreatedAt,
    ConfirmedAt,
    UnsubscribedAt,
    /// Mailchimp's OPTIN_TIME / CONFIRM_TIME.
    OptinTime,
    ConfirmTime,
    /// Ghost's `deleted_at`: the member left.
    DeletedAt,
    Source,
    /// A JSON object merged into the attributes (listmonk).
    Attributes,
    /// A JSON object merged if it is one, else kept as text (Buttondown).
    Metadata,
    /// Substack's `email_disabled`.
    EmailDisabled,
    /// Ghost's `subscribed_to_emails`.
    SubscribedToEmails,
    /// Buttondown's `subscriber_type`.
    SubscriberType,
    /// Mailchimp's UNSUB_REASON (also kept as an attribute).
    UnsubReason,
    /// listmonk's per-list `subscription_status`.
    ListStatus,
    Other,
}

fn classify(format: Format, h: &str) -> Column {
    use Column as C;
    let mailchimp = matches!(format, Format::Mailchimp(_));
    match h {
        "email" | "email address" | "e mail" | "e mail address" | "mail" | "subscriber email" => {
            C::Email
        }
        "name" | "full name" => C::Name,
        "first name" | "fname" | "firstname" | "given name" => C::FirstName,
        "last name" | "lname" | "lastname" | "surname" | "family name" => C::LastName,
        // Ghost's status is free/paid/comped: a plan, not a subscription state.
        "status" if format != Format::Ghost => C::Status,
        "state" if format == Format::Kit => C::Status,
        "created at" | "creation date" => C::CreatedAt,
        "confirmed at" => C::ConfirmedAt,
        "unsubscribed at" => C::UnsubscribedAt,
        "optin time" if mailchimp => C::OptinTime,
        "confirm time" if mailchimp => C::ConfirmTime,
        "unsub time" | "clean time" if mailchimp => C::UnsubscribedAt,
        "unsub reason" if mailchimp => C::UnsubReason,
        "deleted at" if format == Format::Ghost => C::DeletedAt,
        "source" if format == Format::Generic => C::Source,
        "attributes" | "attribs" => C::Attributes,
        "metadata" if format == Format::Buttondown => C::Metadata,
        "email disabled" if format == Format::Substack => C::EmailDisabled,
        "subscribed to emails" if format == Format::Ghost => C::SubscribedToEmails,
        "subscriber type" => C::SubscriberType,
        "subscription status" if format == Format::Listmonk => C::ListStatus,
        _ => C::Other,
    }
}

/// A row that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

/// Streams import rows out of a CSV file. Every physical line ends up
/// counted (see `line_counts`): the header, a valid row, an invalid one
/// (each reported with its line), blank, or inside a multi-line record.
pub struct ImportReader<R: Read> {
    records: Records<R>,
    columns: Vec<Column>,
    headers: Vec<String>,
    format: Format,
    confirmed: bool,
}

/// The values of one row, borrowed from the record while it is read.
#[derive(Default)]
struct Cells<'a> {
    email: Option<&'a str>,
    name: Option<String>,
    first: Option<&'a str>,
    last: Option<&'a str>,
    created_at: Option<DateTime<Utc>>,
    confirmed_at: Option<DateTime<Utc>>,
    unsubscribed_at: Option<DateTime<Utc>>,
    optin: Option<DateTime<Utc>>,
    confirm: Option<DateTime<Utc>>,
    source: Option<Source>,
    /// The status column says `active` (Gazette's word).
    status_active: bool,
}

impl<R: Read> ImportReader<R> {
    /// Read the header row and recognise the format. `confirmed`: rows the
    /// tool held as subscribed (or, in a generic file, rows without a
    /// status) become active; everything else keeps its state.
    pub fn new(input: R, confirmed: bool) -> Result<Self, String> {
        Self::with_max_line(input, confirmed, MAX_LINE)
    }

    /// `new`, with lines and records of at most `max` bytes (a small cap
    /// lets the fuzz tests reach it cheaply).
    pub fn with_max_line(input: R, confirmed: bool, max: usize) -> Result<Self, String> {
        let mut records = Records::new(input, max);
        let line = match records.next_record() {
            Event::Record(line) => line,
            Event::End => 1,
            Event::Bad(line, reason) => {
                return Err(format!("line {line}: cannot read the header row: {reason}"))
            }
        };
        let headers: Vec<String> = records
            .fields()
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
        let normalised: Vec<String> = headers.iter().map(|h| norm(h)).collect();
        let format = formats::detect(&normalised);
        let columns: Vec<Column> = normalised.iter().map(|h| classify(format, h)).collect();
        if !columns.contains(&Column::Email) {
            return Err(format!(
                "line {line}: no email column (expected a header such as `email` or `Email Address`; found {})",
                headers.join(", ")
            ));
        }
        Ok(ImportReader {
            records,
            columns,
            headers,
            format,
            confirmed,
        })
    }

    /// Use the file's name where the columns cannot tell: Mailchimp's
    /// non-subscribed export (`nonsubscribed_…csv`) has the columns of the
    /// subscribed one, but nobody in it ever opted in.
    pub fn file_name_hint(&mut self, name: &str) {
        let name = name.to_ascii_lowercase();
        if self.format == Format::Mailchimp(MailchimpFile::Subscribed)
            && (name.contains("nonsubscribed") || name.contains("non_subscribed"))
        {
            self.format = Format::Mailchimp(MailchimpFile::NonSubscribed);
        }
    }

    /// The tool the file was recognised as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The next row: `None` at the end, `Some(Err)` for a row to report.
    pub fn next_row(&mut self) -> Option<Result<ImportRow, BadRow>> {
        match self.records.next_record() {
            Event::End => None,
            Event::Record(line) => Some(self.convert(line)),
            Event::Bad(line, reason) => Some(Err(BadRow { line, reason })),
        }
    }

    /// The physical lines read so far, and those that were blank or inside
    /// a multi-line record: with the header, the valid and the invalid rows
    /// they account for every line.
    pub fn line_counts(&self) -> LineCounts {
        self.records.counts()
    }

    fn convert(&self, line: u64) -> Result<ImportRow, BadRow> {
        let bad = |reason: String| BadRow { line, reason };
        let mut cells = Cells::default();
        let mut held = self.format.file_state();
        let mut attributes = Map::new();
        // Bytes of the cells that became attributes: their JSON is at most
        // about 8 times as long, so most rows need no exact count.
        let mut attribute_bytes = 0;
        for (i, value) in self.records.fields().enumerate() {
            let value = undefuse(value.trim());
            let Some(&col) = self.columns.get(i) else {
                if !value.is_empty() {
                    return Err(bad(format!(
                        "{} fields, but the header has {}",
                        self.records.field_count(),
                        self.columns.len()
                    )));
                }
                continue;
            };
            if value.is_empty() {
                continue;
            }
            if matches!(
                col,
                Column::Other | Column::UnsubReason | Column::Attributes | Column::Metadata
            ) {
                attribute_bytes += value.len() + self.headers[i].len();
            }
            if let Some(h) = self
                .cell(col, i, value, &mut cells, &mut attributes)
                .map_err(bad)?
            {
                held = held.max(h);
            }
        }
        let email = cells.email.ok_or_else(|| bad("no email address".into()))?;
        let email = SubscriberEmail::parse(email).map_err(bad)?;
        if attribute_bytes * 8 + 64 > attributes::MAX_BYTES {
            attributes::check(&attributes).map_err(bad)?;
        }
        let name = cells.name.or_else(|| {
            let joined = match (cells.first, cells.last) {
                (Some(f), Some(l)) => format!("{f} {l}"),
                (Some(n), None) | (None, Some(n)) => n.to_string(),
                (None, None) => return None,
            };
            Some(joined)
        });
        // Gazette's own export (generic columns) says `active` only of
        // addresses that confirmed here: they stay active without the flag.
        let own_active = self.format == Format::Generic && cells.status_active;
        let status = match held {
            Held::Unknown | Held::Subscribed if self.confirmed || own_active => Status::Active,
            Held::Unknown | Held::Subscribed | Held::Unconfirmed => Status::Pending,
            Held::Unsubscribed => Status::Unsubscribed,
            Held::Bounced => Status::Bounced,
            Held::Complained => Status::Complained,
        };
        let key = email.key();
        Ok(ImportRow {
            line,
            email,
            key,
            name: name.map(cap_name).filter(|n| !n.is_empty()),
            status,
            source: cells.source.unwrap_or(Source::Import),
            attributes,
            created_at: cells.created_at.or(cells.optin).or(cells.confirm),
            confirmed_at: cells.confirmed_at.or(cells.confirm).or(cells.optin),
            unsubscribed_at: cells.unsubscribed_at,
        })
    }

    /// The state a state column's value stands for, in the format's words.
    fn state(&self, col: Column, i: usize, value: &str) -> Result<Held, String> {
        let unknown = |what: &str| format!("unknown {what} {value:?} for {}", self.format);
        let flag = |what: &str, on: Held, off: Held| {
            formats::boolean(value)
                .map(|b| if b { on } else { off })
                .ok_or_else(|| unknown(what))
        };
        match col {
            Column::Status => {
                formats::status_value(self.format, value).ok_or_else(|| unknown(&self.headers[i]))
            }
            Column::SubscriberType => {
                formats::buttondown_type(value).ok_or_else(|| unknown("subscriber_type"))
            }
            Column::ListStatus => {
                formats::list_subscription(value).ok_or_else(|| unknown("subscription_status"))
            }
            Column::EmailDisabled => flag("email_disabled", Held::Unsubscribed, Held::Subscribed),
            Column::SubscribedToEmails => {
                flag("subscribed_to_emails", Held::Subscribed, Held::Unsubscribed)
            }
            _ => Ok(Held::Unknown),
        }
    }

    /// Take one non-empty cell; returns the state it implies, if any.
    fn cell<'a>(
        &self,
        col: Column,
        i: usize,
        value: &'a str,
        cells: &mut Cells<'a>,
        attributes: &mut Map<String, Value>,
    ) -> Result<Option<Held>, String> {
        let time = || parse_time(value);
        let mut attribute = || {
            attributes.insert(self.headers[i].clone(), Value::String(value.into()));
        };
        match col {
            Column::Email => cells.email = Some(value),
            Column::Name => cells.name = Some(value.to_string()),
            Column::FirstName => cells.first = Some(value),
            Column::LastName => cells.last = Some(value),
            Column::Status
            | Column::SubscriberType
            | Column::ListStatus
            | Column::EmailDisabled
            | Column::SubscribedToEmails => {
                if col == Column::Status {
                    cells.status_active = value.eq_ignore_ascii_case("active");
                }
                return self.state(col, i, value).map(Some);
            }
            Column::UnsubReason => {
                attribute();
                return Ok(Some(formats::mailchimp_unsub_reason(value)));
            }
            Column::DeletedAt => {
                cells.unsubscribed_at = Some(time()?);
                return Ok(Some(Held::Unsubscribed));
            }
            Column::CreatedAt => cells.created_at = Some(time()?),
            Column::ConfirmedAt => cells.confirmed_at = Some(time()?),
            Column::UnsubscribedAt => {
                cells.unsubscribed_at = Some(time()?);
                // beehiiv keeps `status` active for some who left; the time
                // of leaving says more than the status.
                if self.format == Format::Beehiiv {
                    return Ok(Some(Held::Unsubscribed));
                }
            }
            Column::OptinTime => cells.optin = Some(time()?),
            Column::ConfirmTime => cells.confirm = Some(time()?),
            Column::Source => {
                cells.source = Some(match value {
                    "cli" => Source::Cli,
                    "web" => Source::Web,
                    "api" => Source::Api,
                    _ => Source::Import,
                })
            }
            Column::Attributes => match serde_json::from_str::<Value>(value) {
                Ok(Value::Object(m)) => attributes.extend(m),
                _ => return Err("attributes is not a JSON object".into()),
            },
            Column::Metadata => match serde_json::from_str::<Value>(value) {
                Ok(Value::Object(m)) => attributes.extend(m),
                _ => return Err("metadata is not a JSON object".into()),
            },
            Column::Other => attribute(),
        }
        Ok(None)
    }
}

/// A cell as the export wrote it, read back: export puts `'` before a cell
/// a spreadsheet would run as a formula (see `csvio::defuse_formula`), and
/// import takes it off again.
fn undefuse(cell: &str) -> &str {
    match cell.as_bytes() {
        [b'\'', b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r', ..] => &cell[1..],
        _ => cell,
    }
}

#[cfg(test)]
mod tests;
