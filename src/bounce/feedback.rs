//! Feedback reports: RFC 5965 ARF (`message/feedback-report`), each
//! reported recipient a complaint, and Outlook.com's (Hotmail's) own
//! complaint layout, the reported message attached with the recipient in
//! `X-HmXmrOriginalRecipient`.

use mail_parser::{Message, MessageParser, MimeHeaders};

use super::dsn::{self, clean_address};
use super::{Kind, Record};

/// The records of an ARF report: one per reported recipient (a report may
/// name several), else one naming the returned copy's `To`. An
/// `auth-failure` report (RFC 6591: the message failed SPF/DKIM/DMARC at
/// the receiver) is not the reader's complaint, and `not-spam` is the
/// opposite of one: both are `none`.
pub fn complaints(msg: &Message, report: &str, source: &str) -> Vec<Record> {
    let fb = dsn::feedback(report);
    let (kind, reason) = match fb.feedback_type.as_str() {
        "not-spam" => (Kind::None, "feedback"),
        "auth-failure" => (Kind::None, "authfailure"),
        _ => (Kind::Complaint, "feedback"),
    };
    let mut recipients = fb.recipients;
    if recipients.is_empty() {
        // Some providers redact Original-Rcpt-To; the copy's To may remain.
        recipients.extend(copy_to(msg));
    }
    let one = |recipient: Option<String>| {
        let mut r = Record::new(source, kind, reason);
        r.recipient = recipient;
        r.diagnostic = Some(format!("Feedback-Type: {}", fb.feedback_type));
        r
    };
    if recipients.is_empty() {
        return vec![one(None)];
    }
    recipients.into_iter().map(|a| one(Some(a))).collect()
}

/// The `To` of the returned copy: a `message/rfc822` part, or the headers
/// alone (`text/rfc822-headers`).
fn copy_to(msg: &Message) -> Option<String> {
    msg.parts.iter().find_map(|p| {
        let first_to = |m: &Message| m.to()?.first()?.address().and_then(clean_address);
        if let Some(m) = p.message() {
            return first_to(m);
        }
        let ct = p.content_type()?;
        let headers = ct.ctype().eq_ignore_ascii_case("text")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"));
        if !headers {
            return None;
        }
        let parsed = MessageParser::default().parse(p.contents())?;
        first_to(&parsed)
    })
}

/// Outlook.com's complaint: the reported message attached, its recipient
/// in `X-HmXmrOriginalRecipient`.
pub fn hotmail(msg: &Message, source: &str) -> Option<Vec<Record>> {
    let recipient = msg.parts.iter().find_map(|p| {
        p.message()?
            .header_raw("X-HmXmrOriginalRecipient")
            .and_then(clean_address)
    })?;
    let mut r = Record::new(source, Kind::Complaint, "feedback");
    r.recipient = Some(recipient);
    r.diagnostic = msg.subject().map(super::squash);
    Some(vec![r])
}
