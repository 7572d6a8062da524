//! Bounces and complaints: reading returned mail (RFC 3464 delivery status
//! notifications, the plain-text bounces of common servers, RFC 5965 ARF
//! feedback reports, auto-replies) and classifying failures. Pure code:
//! the store records what this finds.

pub mod classify;
pub mod dsn;
mod feedback;
mod notification;
pub mod provider;
pub mod source;
pub mod text;
pub mod verp;

use mail_parser::{MessageParser, MimeHeaders};
use serde::Serialize;

pub use classify::{classify_reply, Class, Enhanced, Verdict};

/// What a returned message means for its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Hard,
    Soft,
    Complaint,
    None,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hard => "hard",
            Kind::Soft => "soft",
            Kind::Complaint => "complaint",
            Kind::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "hard" => Kind::Hard,
            "soft" => Kind::Soft,
            "complaint" => Kind::Complaint,
            "none" => Kind::None,
            _ => return None,
        })
    }
}

/// One finding: a recipient of one returned message (a message reporting
/// on several recipients gives several; one that reports on none gives
/// one of kind `none`). Serialized with `verdict` beside `kind`.
#[derive(Debug, Clone)]
pub struct Record {
    /// Where the message came from (file path, `path#n` in an mbox,
    /// `smtp`, `imap:…`, `webhook:…`).
    pub source: String,
    pub kind: Kind,
    pub recipient: Option<String>,
    pub status: Option<String>,
    pub reason: String,
    pub diagnostic: Option<String>,
    pub campaign_id: Option<i64>,
    pub subscriber_id: Option<i64>,
    /// A refusal of the sender or content (5.7.x, spam, policy): recorded
    /// against the campaign, never counted against the subscriber.
    pub blocked: bool,
    /// Identifiers of the original message found in the report: VERP
    /// tokens and Message-ID local parts, most reliable first.
    pub refs: Vec<String>,
}

/// The JSON of a record: `kind` (hard, soft, complaint, none) as before,
/// and `verdict`, the same with `blocked` told apart from `soft`.
#[derive(Serialize)]
struct RecordJson<'a> {
    source: &'a str,
    kind: Kind,
    verdict: &'a str,
    recipient: &'a Option<String>,
    status: &'a Option<String>,
    reason: &'a str,
    diagnostic: &'a Option<String>,
    campaign_id: Option<i64>,
    subscriber_id: Option<i64>,
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RecordJson {
            source: &self.source,
            kind: self.kind,
            verdict: self.verdict(),
            recipient: &self.recipient,
            status: &self.status,
            reason: &self.reason,
            diagnostic: &self.diagnostic,
            campaign_id: self.campaign_id,
            subscriber_id: self.subscriber_id,
        }
        .serialize(s)
    }
}

impl Record {
    pub fn new(source: &str, kind: Kind, reason: &str) -> Record {
        Record {
            source: source.to_string(),
            kind,
            recipient: None,
            status: None,
            reason: reason.to_string(),
            diagnostic: None,
            campaign_id: None,
            subscriber_id: None,
            blocked: false,
            refs: Vec::new(),
        }
    }

    /// What the record means for a list: `hard`, `soft`, `blocked` (a
    /// refusal of the sender or the message: never changes the
    /// subscriber), `complaint` or `none`.
    pub fn verdict(&self) -> &'static str {
        match (self.kind, self.blocked) {
            (Kind::Soft | Kind::Hard, true) => "blocked",
            (k, _) => k.as_str(),
        }
    }

    /// A record from a classification.
    pub fn from_verdict(source: &str, verdict: Verdict) -> Record {
        let kind = match verdict.class {
            Class::Hard => Kind::Hard,
            Class::Soft | Class::Blocked => Kind::Soft,
            Class::None => Kind::None,
        };
        let mut r = Record::new(source, kind, verdict.reason);
        r.blocked = verdict.class == Class::Blocked;
        r
    }
}

/// The record of a synchronous SMTP rejection during a send (lettre's
/// "permanent error (550): 5.1.1 …"), classified like a returned message's
/// reason: `None` when the reply holds no reply code or closes the session
/// (a broken connection or a 421 says nothing about the address).
pub fn smtp_record(reply: &str) -> Option<Record> {
    let (verdict, status) = classify_reply(reply)?;
    let mut r = Record::from_verdict("smtp", verdict);
    r.status = status.map(|s| s.to_string());
    r.diagnostic = Some(reply.chars().take(MAX_DIAGNOSTIC).collect());
    Some(r)
}

/// The longest diagnostic kept.
const MAX_DIAGNOSTIC: usize = 600;

pub(crate) fn squash(s: &str) -> String {
    let mut out = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.len() > MAX_DIAGNOSTIC {
        let mut cut = MAX_DIAGNOSTIC;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// Read one returned message.
pub fn analyze(raw: &[u8], source: &str) -> Vec<Record> {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return vec![Record::new(source, Kind::None, "unreadable")];
    };
    let refs = verp::references(&msg, raw);
    let mut out = if let Some(fb) = report_part(&msg, "feedback-report") {
        feedback::complaints(&msg, &fb, source)
    } else {
        feedback::hotmail(&msg, source)
            .or_else(|| notification::ses(&msg, source))
            .unwrap_or_default()
    };
    if out.is_empty() {
        let status = report_part(&msg, "delivery-status").or_else(|| text::inline_report(&msg));
        if let Some(status) = status {
            out = from_dsn(&msg, &status, source);
        }
    }
    if out.is_empty() {
        out = text::from_text(&msg, source);
    }
    if out.is_empty() {
        let mut r = if text::is_auto_reply(&msg) {
            let mut r = Record::new(source, Kind::None, "vacation");
            r.recipient = msg
                .from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .and_then(dsn::clean_address);
            r
        } else if text::looks_like_bounce(&msg) {
            Record::new(source, Kind::None, "undefined")
        } else {
            Record::new(source, Kind::None, "notbounce")
        };
        r.diagnostic = msg.subject().map(squash);
        out.push(r);
    }
    for r in &mut out {
        r.refs = refs.clone();
    }
    out
}

/// The text of the first `message/<subtype>` part (also `message/global-…`).
pub(crate) fn report_part(msg: &mail_parser::Message, subtype: &str) -> Option<String> {
    msg.parts.iter().find_map(|p| {
        let ct = p.content_type()?;
        let sub = ct.subtype()?.to_ascii_lowercase();
        let wanted = ct.ctype().eq_ignore_ascii_case("message")
            && (sub == subtype || sub == format!("global-{subtype}"));
        wanted.then(|| String::from_utf8_lossy(p.contents()).into_owned())
    })
}

fn from_dsn(msg: &mail_parser::Message, report: &str, source: &str) -> Vec<Record> {
    let notice = text::notice(msg);
    dsn::recipients(report)
        .into_iter()
        .map(|rcpt| {
            let status = rcpt.status.as_deref().and_then(Enhanced::parse);
            let diag = rcpt.diagnostic.clone().unwrap_or_default();
            let mut verdict = match rcpt.action.as_str() {
                "delayed" => Verdict {
                    class: Class::Soft,
                    reason: "delayed",
                },
                "delivered" | "relayed" | "expanded" => Verdict {
                    class: Class::None,
                    reason: "delivered",
                },
                _ => classify::classify(classify::find_code(&diag), status, &diag),
            };
            let seg = text::segment_for(&notice, &rcpt.address);
            // A status without a reason in words: the human part may
            // give one (a refusal of the sender decides over 5.1.1).
            if classify::by_text(&diag).is_none() {
                if let Some(refused) = classify::refusal(&seg) {
                    verdict = refused;
                }
            }
            // A bare "5.0.0" without wording: the human part may say more.
            if verdict.reason == "undefined" {
                let more = classify::classify(None, status, &format!("{diag} {seg}"));
                if more.class != Class::None {
                    verdict = more;
                }
            }
            let mut r = Record::from_verdict(source, verdict);
            let specific = Enhanced::find(&diag).filter(|e| e.subject != 0 || e.detail != 0);
            r.status = match (status, specific) {
                (Some(s), Some(d)) if s.subject == 0 && s.detail == 0 => Some(d.to_string()),
                (Some(s), _) => Some(s.to_string()),
                (None, d) => d.map(|d| d.to_string()),
            };
            r.recipient = Some(rcpt.address);
            r.diagnostic = rcpt.diagnostic.as_deref().map(squash);
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply during a send gets the verdict a returned message would.
    #[test]
    fn smtp_replies_get_the_same_verdicts() {
        let spf = "permanent error (550): 5.1.1 Sender is not allowed to send from <example.org> per its SPF record";
        assert_eq!(smtp_record(spf).unwrap().verdict(), "blocked");
        let dead =
            smtp_record("permanent error (550): 5.1.1 <a@example.com>: user unknown").unwrap();
        assert_eq!(
            (dead.verdict(), dead.status.as_deref()),
            ("hard", Some("5.1.1"))
        );
        assert_eq!(
            smtp_record("transient error (452): 4.2.2 Over quota")
                .unwrap()
                .verdict(),
            "soft"
        );
        assert!(smtp_record("transient error (421): 4.3.2 Service shutting down").is_none());
        assert!(smtp_record("connection reset by peer").is_none());
    }

    #[test]
    fn garbage_is_none() {
        let r = analyze(b"", "x");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, Kind::None);
        let r = analyze(
            b"Subject: hello\r\nFrom: a@example.com\r\n\r\nhi there\r\n",
            "x",
        );
        assert_eq!(r[0].kind, Kind::None);
        assert_eq!(r[0].reason, "notbounce");
    }
}
