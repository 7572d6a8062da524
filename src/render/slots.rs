//! Per-recipient slots: values (email, name, links, attributes) that are
//! filled into an email after it was rendered once for the campaign, either
//! into the rendered text or into its quoted-printable encoding.

use serde_json::{Map, Value};

use super::{EmailKind, Prepared};

/// The key of a counted link's slot: `click:{public_url}/c/` SEP `{url}`
/// (filled per campaign by `clicks`, never per reader).
pub(super) const CLICK_PREFIX: &str = "click:";
pub(super) const CLICK_SEP: char = '\u{1F}';

/// The URL a click slot stands for where no campaign numbered it.
fn click_original(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(CLICK_PREFIX)?;
    rest.split_once(CLICK_SEP).map(|(_, url)| url)
}

/// Private-use characters that mark a per-recipient slot in rendered output.
const SLOT_OPEN: char = '\u{E000}';
const SLOT_CLOSE: char = '\u{E001}';

/// Per-recipient values a template may use. They are filled in after the
/// campaign is rendered once, so they are values, not conditions: `{% if
/// recipient.name %}` sees the slot, not the name.
pub const RECIPIENT_SLOTS: &[&str] = &[
    "email",
    "name",
    "unsubscribe_url",
    "confirm_url",
    "preferences_url",
];

pub(super) fn slot(key: &str) -> String {
    format!("{SLOT_OPEN}{key}{SLOT_CLOSE}")
}

/// The values for one recipient.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    pub email: String,
    pub name: Option<String>,
    pub unsubscribe_url: String,
    pub confirm_url: Option<String>,
    /// The subscriber's free-form attributes (for `attribute(name=...)`).
    pub attributes: Option<Map<String, Value>>,
}

/// The one-click unsubscribe link of a token (RFC 8058's target).
pub fn unsubscribe_url(nl: &crate::config::Newsletter, token: &str) -> String {
    format!("{}/unsubscribe/{token}", nl.public_url)
}

/// Separates an attribute slot's name from its default.
const ATTR_DEFAULT: char = '\u{1F}';

/// `{{ attribute(name="city", default="there") }}` in a template: the
/// recipient's attribute, filled in per recipient like the other slots.
pub(super) fn attribute_function(
    args: &std::collections::HashMap<String, Value>,
) -> tera::Result<Value> {
    let name = args
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| tera::Error::msg("attribute() needs name=\"...\""))?;
    let default = match args.get("default") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    if name.contains([SLOT_OPEN, SLOT_CLOSE, ATTR_DEFAULT])
        || default.contains([SLOT_OPEN, SLOT_CLOSE])
    {
        return Err(tera::Error::msg("attribute(): invalid characters"));
    }
    Ok(Value::String(slot(&format!(
        "attr:{name}{ATTR_DEFAULT}{default}"
    ))))
}

impl Recipient {
    /// A subscriber as a recipient: their unsubscribe link is
    /// `{public_url}/unsubscribe/{token}`.
    pub fn new(
        nl: &crate::config::Newsletter,
        email: impl Into<String>,
        name: Option<String>,
        unsubscribe_token: &str,
    ) -> Self {
        Recipient {
            email: email.into(),
            name,
            unsubscribe_url: unsubscribe_url(nl, unsubscribe_token),
            confirm_url: None,
            attributes: None,
        }
    }

    fn value(&self, key: &str) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match key {
            "email" => Cow::Borrowed(&self.email),
            "name" => Cow::Borrowed(self.name.as_deref().unwrap_or("")),
            "unsubscribe_url" => Cow::Borrowed(&self.unsubscribe_url),
            "confirm_url" => Cow::Borrowed(self.confirm_url.as_deref().unwrap_or("")),
            // The preferences page takes the unsubscribe token.
            "preferences_url" => match self.unsubscribe_url.rsplit_once("/unsubscribe/") {
                Some((base, token)) => Cow::Owned(format!("{base}/preferences/{token}")),
                None => Cow::Borrowed(""),
            },
            // Filled per campaign (`Prepared::for_campaign`), never per reader.
            "archive_url" => Cow::Borrowed(""),
            // A counted link where no campaign numbered it: the original.
            _ if key.starts_with("click:") => {
                Cow::Owned(click_original(key).unwrap_or("").to_string())
            }
            _ => {
                let Some((name, default)) = key
                    .strip_prefix("attr:")
                    .and_then(|k| k.split_once(ATTR_DEFAULT))
                else {
                    return Cow::Borrowed("");
                };
                match self.attributes.as_ref().and_then(|a| a.get(name)) {
                    Some(Value::String(s)) if !s.is_empty() => Cow::Owned(s.clone()),
                    Some(Value::Null) | Some(Value::String(_)) | None => {
                        Cow::Owned(default.to_string())
                    }
                    Some(v) => Cow::Owned(v.to_string()),
                }
            }
        }
    }
}

impl Prepared {
    /// The email of campaign `id`: its "View in browser" link
    /// (`archive_url`) points at `{public_url}/archive/{id}/{slug}`.
    pub fn for_campaign(&self, id: i64, public_url: &str) -> Prepared {
        self.with_archive_link(&archive_url(public_url, id, &self.subject))
    }

    /// The email with its "View in browser" link (`archive_url`) at `url`.
    pub fn with_archive_link(&self, url: &str) -> Prepared {
        let mark = slot("archive_url");
        Prepared {
            html: self.html.replace(&mark, &escape_html(url)),
            text: self.text.replace(&mark, url),
            ..self.clone()
        }
    }

    /// The email with no "View in browser" link (a preview, a test send of
    /// an email that has no archive page): in the HTML the `<!--personal-->`
    /// part that holds it goes, in the text the line that holds it.
    pub fn without_archive_link(&self) -> Prepared {
        let mark = slot("archive_url");
        let mut html = String::with_capacity(self.html.len());
        let mut rest = self.html.as_str();
        while let Some(i) = rest.find("<!--personal-->") {
            let Some(j) = rest[i..].find("<!--/personal-->") else {
                break;
            };
            let end = i + j + "<!--/personal-->".len();
            html.push_str(&rest[..i]);
            if !rest[i..end].contains(&mark) {
                html.push_str(&rest[i..end]);
            }
            rest = &rest[end..];
        }
        html.push_str(rest);
        // Elsewhere (a template of one's own without the marks) it is empty.
        let html = html.replace(&mark, "");
        let text: Vec<&str> = (self.text.split_inclusive('\n'))
            .filter(|l| !l.contains(&mark))
            .collect();
        Prepared {
            html,
            text: text.concat(),
            ..self.clone()
        }
    }

    /// The email as a web page: the links and words meant for one reader
    /// (between `<!--personal-->` marks) removed, the other slots empty.
    pub fn public_html(&self) -> String {
        let mut html = String::with_capacity(self.html.len());
        let mut rest = self.html.as_str();
        while let Some(i) = rest.find("<!--personal-->") {
            html.push_str(&rest[..i]);
            match rest[i..].find("<!--/personal-->") {
                Some(j) => rest = &rest[i + j + "<!--/personal-->".len()..],
                None => {
                    rest = "";
                }
            }
        }
        html.push_str(rest);
        fill(&html, &Recipient::default(), true)
    }
}

/// Where campaign `id` is in the web archive.
pub fn archive_url(public_url: &str, id: i64, subject: &str) -> String {
    let slug = crate::util::text::slugify(subject);
    let slug = if slug.is_empty() {
        "issue".into()
    } else {
        slug
    };
    format!("{public_url}/archive/{id}/{slug}")
}

/// Whether a rendered email uses attribute slots (so recipients' attributes
/// need to be read at all).
pub fn uses_attributes(prepared: &Prepared) -> bool {
    let needle = format!("{SLOT_OPEN}attr:");
    prepared.html.contains(&needle) || prepared.text.contains(&needle)
}

/// One recipient's copy of a prepared email.
#[derive(Debug, Clone)]
pub struct Personal {
    pub subject: String,
    pub html: String,
    pub text: String,
}

impl Prepared {
    pub fn personalize(&self, r: &Recipient) -> Personal {
        Personal {
            subject: self.subject.clone(),
            html: fill(&self.html, r, true),
            text: fill(&self.text, r, false),
        }
    }

    pub fn email_kind(&self) -> EmailKind {
        self.kind
    }
}

/// A prepared email with both parts already quoted-printable encoded, once
/// per campaign; slots sit on lines of their own (between soft line breaks)
/// so a recipient's values can be encoded and dropped in without
/// re-encoding the whole body.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub html: String,
    pub text: String,
}

impl Prepared {
    pub fn encode(&self) -> Encoded {
        Encoded {
            html: qp_template(&self.html),
            text: qp_template(&self.text),
        }
    }
}

impl Encoded {
    /// The transfer-encoded (HTML, text) parts for one recipient.
    pub fn personalize(&self, r: &Recipient) -> (String, String) {
        (
            fill_encoded(&self.html, r, true),
            fill_encoded(&self.text, r, false),
        )
    }
}

fn qp(s: &str) -> String {
    let crlf;
    let s = if s.contains('\n') && !s.contains("\r\n") {
        crlf = s.replace('\n', "\r\n");
        &crlf
    } else {
        s
    };
    quoted_printable::encode_to_str(s)
}

/// Walk `s`: text between slots goes through `text`, each slot's key
/// through `slot`. A slot opener without a closer is text.
pub(super) fn walk_slots(
    s: &str,
    out: &mut String,
    mut text: impl FnMut(&str, &mut String),
    mut slot: impl FnMut(&str, &mut String),
) {
    let mut rest = s;
    while let Some(i) = rest.find(SLOT_OPEN) {
        let after = &rest[i + SLOT_OPEN.len_utf8()..];
        let Some(j) = after.find(SLOT_CLOSE) else {
            break;
        };
        text(&rest[..i], out);
        slot(&after[..j], out);
        rest = &after[j + SLOT_CLOSE.len_utf8()..];
    }
    text(rest, out);
}

/// Quoted-printable encode a template, each slot on a line of its own.
fn qp_template(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 11 / 10);
    walk_slots(
        s,
        &mut out,
        |t, out| out.push_str(&qp(t)),
        |key, out| {
            out.push_str("=\r\n");
            out.push(SLOT_OPEN);
            out.push_str(key);
            out.push(SLOT_CLOSE);
            out.push_str("=\r\n");
        },
    );
    out
}

/// Fill the slots of an encoded template with encoded values.
fn fill_encoded(s: &str, r: &Recipient, html: bool) -> String {
    let mut out = String::with_capacity(s.len() + 256);
    walk_slots(
        s,
        &mut out,
        |t, out| out.push_str(t),
        |key, out| {
            let value = r.value(key);
            out.push_str(&qp(&if html {
                escape_html(&value)
            } else {
                value.into_owned()
            }));
        },
    );
    out
}

/// Fill the slots of a rendered (not encoded) email.
fn fill(s: &str, r: &Recipient, html: bool) -> String {
    let mut out = String::with_capacity(s.len() + 256);
    walk_slots(
        s,
        &mut out,
        |t, out| out.push_str(t),
        |key, out| {
            if html {
                escape_html_into(&r.value(key), out)
            } else {
                out.push_str(&r.value(key))
            }
        },
    );
    out
}

pub use crate::util::text::escape_html_into;

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html_into(s, &mut out);
    out
}
