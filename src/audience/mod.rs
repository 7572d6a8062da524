//! Subscribers: domain types (parse, don't validate), tokens, CSV import
//! and export.

pub mod attributes;
pub mod csvio;
pub mod import;
pub mod prefs;
pub mod signup;
pub mod tokens;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A validated, normalised email address: trimmed, domain lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberEmail(String);

impl SubscriberEmail {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("email address is empty".into());
        }
        if s.len() > 254 {
            return Err("email address is longer than 254 characters".into());
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("{s:?} is not a valid email address"));
        }
        let (local, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("{s:?} is not a valid email address (no @)"))?;
        if !is_dot_atom(local) {
            return Err(format!(
                "{s:?} is not a valid email address (the part before @ must be letters, digits and .!#$%&'*+/=?^_`{{|}}~- without quotes)"
            ));
        }
        // A domain name: address literals (`x@[127.0.0.1]`) cannot be
        // sent to through a relay and are refused with the rest.
        if !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains(['[', ']', ':'])
        {
            return Err(format!("{s:?} is not a valid email address (bad domain)"));
        }
        // One mailbox, one identity: a Unicode domain is kept in its ASCII
        // (punycode) form, as `jörg@xn--bcher-kva.example` is written too.
        let domain = if domain.is_ascii() {
            domain.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(domain)
                .map_err(|_| format!("{s:?} is not a valid email address (bad domain)"))?
        };
        let normalised = format!("{local}@{domain}");
        normalised
            .parse::<lettre::Address>()
            .map_err(|_| format!("{s:?} is not a valid email address"))?;
        Ok(SubscriberEmail(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity of the address.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The key this address had before domains were kept in ASCII form,
    /// when it differs (a punycode domain, once stored in Unicode): the
    /// suppression list holds hashes of keys, which cannot be rewritten.
    pub fn unicode_key(&self) -> Option<String> {
        let (local, domain) = self.0.rsplit_once('@')?;
        if !domain.split('.').any(|l| l.starts_with("xn--")) {
            return None;
        }
        let (unicode, ok) = idna::domain_to_unicode(domain);
        ok.ok()?;
        Some(format!("{local}@{unicode}").to_lowercase())
    }
}

/// RFC 5321's dot-atom local part (plus UTF-8, RFC 6531). A quoted local
/// part (`"a@b"@example.com`) is valid RFC 5322 but the mailer cannot put it
/// in an envelope, so it is refused everywhere an address comes in.
fn is_dot_atom(local: &str) -> bool {
    let b = local.as_bytes();
    if b.is_empty() || b.len() > 64 || b[0] == b'.' || b[b.len() - 1] == b'.' {
        return false;
    }
    let mut prev_dot = false;
    b.iter().all(|&c| {
        let dot = c == b'.';
        let ok = !(dot && prev_dot)
            && (dot
                || c.is_ascii_alphanumeric()
                || !c.is_ascii()
                || b"!#$%&'*+/=?^_`{|}~-".contains(&c));
        prev_dot = dot;
        ok
    })
}

/// Names are capped as the subscribe form caps them.
pub const MAX_NAME_CHARS: usize = 200;

/// A name as stored: one line (control characters become spaces) of at
/// most `MAX_NAME_CHARS` characters, so no header built from it can
/// exceed RFC 5322's line limits.
pub fn cap_name(name: String) -> String {
    // One pass for the common case: short, one line, single spaces.
    let mut chars = 0;
    let mut prev_space = true; // a leading space needs cleaning
    let clean = name.chars().all(|c| {
        chars += 1;
        let space = c == ' ';
        let ok = !(c.is_control() || (c.is_whitespace() && !space) || (space && prev_space));
        prev_space = space;
        ok
    }) && !prev_space
        && chars <= MAX_NAME_CHARS;
    if clean {
        return name;
    }
    crate::util::text::clean_header_text(&name)
        .chars()
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim_end()
        .to_string()
}

impl fmt::Display for SubscriberEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Active,
    Unsubscribed,
    Bounced,
    Complained,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Active,
        Status::Unsubscribed,
        Status::Bounced,
        Status::Complained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Unsubscribed => "unsubscribed",
            Status::Bounced => "bounced",
            Status::Complained => "complained",
        }
    }

    /// Unsubscribed, bounced and complained addresses are never made active
    /// by an import.
    pub fn is_opted_out(self) -> bool {
        matches!(
            self,
            Status::Unsubscribed | Status::Bounced | Status::Complained
        )
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Cli,
    Import,
    Web,
    /// Added through the admin API (`POST /api/v1/subscribers`).
    Api,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cli => "cli",
            Source::Import => "import",
            Source::Web => "web",
            Source::Api => "api",
        }
    }
}

/// A subscriber as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Subscriber {
    #[serde(skip)]
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub status: Status,
    pub source: String,
    pub attributes: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub unsub_token: String,
    /// The reader's own choice of frequency (`None`: the newsletter's).
    #[serde(skip)]
    pub frequency: Option<prefs::Frequency>,
    /// The reader's topics (empty: every post).
    #[serde(skip)]
    pub topics: Vec<String>,
}

/// RFC 3339 with second precision, as export writes and import reads.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_domain_lowercased() {
        let e = SubscriberEmail::parse("  Ann.Lee@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Ann.Lee@example.com");
        assert_eq!(e.key(), "ann.lee@example.com");
    }

    #[test]
    fn names_are_one_capped_line() {
        assert_eq!(cap_name("Ann Lee".into()), "Ann Lee");
        assert_eq!(cap_name("Ann\r\nBcc: x@y.z".into()), "Ann Bcc: x@y.z");
        let long = cap_name("é".repeat(1_000_000));
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        for ok in [
            "o'neil+news@example.com",
            "a.b-c_d@example.com",
            "jörg@example.com",
        ] {
            assert!(SubscriberEmail::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn invalid_emails_are_rejected() {
        for bad in [
            "",
            "plain",
            "a@",
            "@b.c",
            "a b@c.d",
            "a@b",
            "a@b.c\r\nBcc: x@y.z",
            "a@.com",
            "\"a@b\"@example.com",
            "\"john doe\"@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a\\b@example.com",
            "x@[127.0.0.1]",
            "x@[IPv6:::1]",
        ] {
            assert!(SubscriberEmail::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_unicode_domain_is_kept_in_ascii_form() {
        let u = SubscriberEmail::parse("Jörg@Bücher.Example").unwrap();
        let a = SubscriberEmail::parse("jörg@XN--BCHER-KVA.example").unwrap();
        assert_eq!(u.as_str(), "Jörg@xn--bcher-kva.example");
        assert_eq!(u.key(), a.key());
        assert_eq!(u.unicode_key().as_deref(), Some("jörg@bücher.example"));
        assert_eq!(
            SubscriberEmail::parse("a@example.org")
                .unwrap()
                .unicode_key(),
            None
        );
        assert!(SubscriberEmail::parse("a@bü\u{200b}cher\u{fffd}.example").is_err());
    }
}
