//! Bounces without a machine-readable report: the failed address and the
//! reason are in the text (Exim, qmail, older Exchange and Gmail, Yahoo,
//! …), and auto-replies.

use mail_parser::Message;

use super::classify::{self, Class, Verdict};
use super::dsn::{addresses_in, clean_address};
use super::{squash, Enhanced, Record};

/// Lines that start the returned copy of the original message.
const COPY_MARKERS: &[&str] = &[
    "below this line is a copy of the message",
    "this is a copy of the message",
    "copy of the original message",
    "header of the original message",
    // Lotus Notes: "------- Returned Message --------" (notes-01).
    "- returned message -",
    "undelivered message follows",
    "returned message follows",
    "message headers follow",
    "content-type: message/rfc822",
    "content-type: text/rfc822-headers",
];

/// Lines that start the returned copy when they begin with these words
/// (after any dashes): "----- Original message -----", "Original
/// Message:", "Original message headers:"; but "The original message was
/// received at …" opens a sendmail or X1 notice (s3-x1-02).
const COPY_STARTS: &[&str] = &["original message"];

/// The human-readable part of a bounce is read up to this many bytes.
const MAX_NOTICE: usize = 256 * 1024;

/// Whether a line starts the returned copy of the original message.
fn is_copy_marker(line: &str) -> bool {
    let lower = line.trim().to_ascii_lowercase();
    let bare = lower.trim_start_matches(|c: char| c == '-' || c == '=' || c.is_whitespace());
    COPY_MARKERS.iter().any(|m| lower.contains(m))
        || COPY_STARTS.iter().any(|m| bare.starts_with(m))
}

/// The first text part; for a message whose parts could not be split (a
/// multipart body without its boundary, s3-messagingserver-03), the raw
/// body.
fn body_of(msg: &Message) -> String {
    if let Some(b) = msg.body_text(0).filter(|b| !b.trim().is_empty()) {
        return b.into_owned();
    }
    if msg.parts.len() > 1 {
        return String::new();
    }
    let start = msg.root_part().raw_body_offset() as usize;
    msg.raw_message()
        .get(start..)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// The human-readable notice: the first text part, without the copy of
/// the original message.
pub fn notice(msg: &Message) -> String {
    let body = body_of(msg);
    let mut out = String::with_capacity(body.len().min(MAX_NOTICE));
    for line in body.lines() {
        if out.len() > MAX_NOTICE || is_copy_marker(line) {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The delivery-status fields of a report whose parts could not be split
/// (no boundary in its body: sendmail's rfc3464-04/-06, PMDF's
/// messagingserver-03 in the third collection): the raw body, when it
/// holds a `Final-Recipient` field.
pub fn inline_report(msg: &Message) -> Option<String> {
    if msg.parts.len() > 1 || !looks_like_bounce(msg) {
        return None;
    }
    let body = body_of(msg);
    body.lines()
        .any(|l| {
            l.trim_start()
                .to_ascii_lowercase()
                .starts_with("final-recipient:")
        })
        .then_some(body)
}

/// The recipient of the returned copy (its `To:`), for a notice that
/// names no address of its own (Verizon's "No valid recipients for this
/// MM", s3-lhost-verizon-01).
fn copy_recipient(msg: &Message, skip: &[String]) -> Option<String> {
    let body = body_of(msg);
    let copy = body.lines().skip_while(|l| !is_copy_marker(l)).skip(1);
    copy.take(60)
        .filter(|l| l.to_ascii_lowercase().starts_with("to:"))
        .flat_map(|l| addresses_in(l).into_iter().map(|(_, a)| a))
        .find(|a| !is_system(a) && !skip.iter().any(|s| s.eq_ignore_ascii_case(a)))
}

/// Addresses the notice names on a line of their own as `<address>:`,
/// qmail's way of naming a failed recipient: taken even when the address
/// is the bounce's own (a message sent to oneself, s3-qmail-08).
fn failed_lines(notice: &str, found: &[(usize, String)]) -> Vec<String> {
    found
        .iter()
        .filter(|(_, a)| {
            let line = format!("<{}>:", a.to_ascii_lowercase());
            notice
                .lines()
                .any(|l| l.trim().to_ascii_lowercase() == line)
        })
        .map(|(_, a)| a.clone())
        .collect()
}

/// The text about `addr` in a notice: from the address to the next
/// address (or the end of its paragraph); when that says nothing more,
/// the following paragraph too (Gmail puts the reason there).
pub fn segment_for(notice: &str, addr: &str) -> String {
    segment_in(notice, &addresses_in(notice), addr)
}

/// `segment_for` with the notice's addresses already found.
fn segment_in(notice: &str, found: &[(usize, String)], addr: &str) -> String {
    let Some((start, _)) = found.iter().find(|(_, a)| a.eq_ignore_ascii_case(addr)) else {
        return String::new();
    };
    segment_at(notice, found, *start, addr)
}

/// The segments after every mention of `addr`: a notice often names the
/// address first in a summary ("To: …") and gives the reason at a later
/// mention (Exchange 5.5/2003).
fn segments_all(notice: &str, found: &[(usize, String)], addr: &str) -> Vec<String> {
    let lower = notice.to_ascii_lowercase();
    let needle = addr.to_ascii_lowercase();
    lower
        .match_indices(&needle)
        .take(8)
        .map(|(i, _)| segment_at(notice, found, i, addr))
        .collect()
}

/// The reason given for `addr` in the notice: the first of its segments
/// that says something; when none does and it is the only failed
/// address, the whole notice (the reason may come before the address,
/// as in MailMarshal's and m-FILTER's notices, or in a report pasted as
/// text, as in Amazon WorkMail's).
fn reason_for(
    notice: &str,
    found: &[(usize, String)],
    addr: &str,
    only: bool,
) -> (Verdict, String) {
    let segs = segments_all(notice, found, addr);
    for seg in &segs {
        let verdict = classify::classify(None, None, seg);
        if verdict.reason != "undefined" {
            return (verdict, seg.clone());
        }
    }
    if only {
        let verdict = classify::classify(None, None, notice);
        if verdict.reason != "undefined" {
            return (verdict, notice.to_string());
        }
    }
    let seg = segs.into_iter().next().unwrap_or_default();
    (classify::classify(None, None, &seg), seg)
}

/// The text from position `start` (a mention of `addr`) to the next
/// address or the end of its paragraph, with the next paragraph when the
/// address stands alone.
fn segment_at(notice: &str, found: &[(usize, String)], start: usize, addr: &str) -> String {
    let rest = &notice[start..];
    let para_end = rest.find("\n\n").or_else(|| rest.find("\n\r\n"));
    let next_addr = found
        .iter()
        .find(|(i, a)| *i > start && !a.eq_ignore_ascii_case(addr))
        .map(|(i, _)| i - start);
    let end = match (para_end, next_addr) {
        (Some(p), Some(n)) => p.min(n),
        (p, n) => p.or(n).unwrap_or(rest.len()),
    };
    let mut seg = rest[..end].to_string();
    if seg.trim().len() <= addr.len() + 40 && para_end.is_some_and(|p| p == end) {
        // The address stands alone: the reason follows.
        let after = rest[end..].trim_start();
        let next_end = after.find("\n\n").unwrap_or(after.len());
        let next_para = &after[..next_end];
        if addresses_in(next_para).is_empty() {
            seg.push(' ');
            seg.push_str(next_para);
        }
    }
    seg
}

fn header_text(msg: &Message, name: &str) -> String {
    msg.header_raw(name)
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Whether the message presents itself as a delivery failure notice.
pub fn looks_like_bounce(msg: &Message) -> bool {
    let from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let subject = msg.subject().unwrap_or_default().to_ascii_lowercase();
    let from_local = from.split('@').next().unwrap_or_default();
    from_local == "mailer-daemon"
        || from_local == "postmaster"
        || from.starts_with("microsoftexchange")
        || msg.header_raw("X-Failed-Recipients").is_some()
        || [
            "undeliver",
            "delivery status notification",
            "failure notice",
            "returned mail",
            "mail delivery failed",
            "delivery failure",
            "undelivered mail",
            "delivery has failed",
            "could not be delivered",
            "delayed mail",
            // x6 (a hosted MTA): "There was an error sending your mail".
            "error sending your mail",
            // fml, a mailing list manager that refused a looping message.
            "loop alert",
        ]
        .iter()
        .any(|s| subject.contains(s))
}

/// An automatic reply (out of office, vacation) rather than a failure.
pub fn is_auto_reply(msg: &Message) -> bool {
    let auto = header_text(msg, "Auto-Submitted");
    let subject = msg.subject().unwrap_or_default().to_ascii_lowercase();
    !looks_like_bounce(msg)
        && (auto.contains("auto-replied")
            || msg.header_raw("X-Autoreply").is_some()
            || msg.header_raw("X-Autorespond").is_some()
            || header_text(msg, "Precedence").contains("auto_reply")
            || [
                "out of office",
                "automatic reply",
                "auto-reply",
                "autoreply",
                "vacation",
            ]
            .iter()
            .any(|s| subject.contains(s)))
}

/// Addresses that are not the failed recipient: the bounce's own
/// participants and mail system accounts.
fn excluded(msg: &Message) -> Vec<String> {
    let mut out = Vec::new();
    for list in [msg.from(), msg.to(), msg.reply_to(), msg.sender()]
        .into_iter()
        .flatten()
    {
        out.extend(
            list.iter()
                .filter_map(|a| a.address())
                .filter_map(clean_address),
        );
    }
    for h in [
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "Return-Path",
    ] {
        if let Some(v) = msg.header_raw(h) {
            out.extend(addresses_in(v).into_iter().map(|(_, a)| a));
        }
    }
    out
}

fn is_system(addr: &str) -> bool {
    let local = addr
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    [
        "mailer-daemon",
        "postmaster",
        "root",
        "abuse",
        "noreply",
        "no-reply",
    ]
    .contains(&local.as_str())
}

/// Failures found in the text of a bounce that has no report part.
pub fn from_text(msg: &Message, source: &str) -> Vec<Record> {
    if !looks_like_bounce(msg) {
        return Vec::new();
    }
    let notice = notice(msg);
    let skip = excluded(msg);
    let failed_header: Vec<String> = msg
        .header_raw("X-Failed-Recipients")
        .map(|v| addresses_in(v).into_iter().map(|(_, a)| a).collect())
        .unwrap_or_default();
    let delayed = is_delay_warning(msg, &notice);
    let mut out = Vec::new();
    let mut found = addresses_in(&notice);
    // "<a@x> (expanded from <b@y>)": b is where a came from, not a
    // failed recipient of its own (ss-lhost-postfix-50).
    let lower = notice.to_ascii_lowercase();
    found.retain(|(i, _)| {
        !lower[..*i]
            .trim_end_matches(|c: char| c == '<' || c.is_whitespace())
            .ends_with("expanded from")
    });
    let mut candidates: Vec<String> = candidates(&found, &skip)
        .into_iter()
        .map(str::to_string)
        .collect();
    if candidates.is_empty() {
        candidates = failed_lines(&notice, &found);
    }
    if candidates.is_empty() && failed_header.is_empty() {
        candidates.extend(copy_recipient(msg, &skip));
    }
    for addr in candidates.iter().map(String::as_str) {
        let (verdict, seg) = if delayed {
            // A delay is never a dead address; a delay because the sender
            // was refused is a block all the same.
            let seg = segment_in(&notice, &found, addr);
            let verdict = classify::refusal(&seg)
                .filter(|v| v.class == Class::Blocked)
                .unwrap_or(Verdict {
                    class: Class::Soft,
                    reason: "delayed",
                });
            (verdict, seg)
        } else {
            reason_for(&notice, &found, addr, candidates.len() == 1)
        };
        let listed = failed_header.iter().any(|f| f.eq_ignore_ascii_case(addr));
        if verdict.class == Class::None && !listed {
            continue;
        }
        out.push(record(source, verdict, addr, &seg));
    }
    if out.is_empty() {
        // The address is only in X-Failed-Recipients: classify the notice.
        for addr in &failed_header {
            let verdict = classify::classify(None, None, &notice);
            out.push(record(source, verdict, addr, &notice));
        }
    }
    if out.is_empty() {
        // A failure notice in words we do not know: the address it names
        // failed for a reason we cannot tell, which counts as soft.
        let unknown = Verdict {
            class: Class::Soft,
            reason: "undefined",
        };
        if let Some(addr) = candidates.first() {
            out.push(record(source, unknown, addr, &notice));
        }
    }
    out
}

/// The addresses of a notice that may be the failed recipients: not the
/// bounce's own participants, and mail system accounts only when the
/// notice names no other address (BIGLOBE returns mail for a
/// `postmaster@` recipient).
fn candidates<'a>(found: &'a [(usize, String)], skip: &[String]) -> Vec<&'a str> {
    let usable: Vec<&str> = found
        .iter()
        .map(|(_, a)| a.as_str())
        .filter(|a| !skip.iter().any(|s| s.eq_ignore_ascii_case(a)))
        .collect();
    let people: Vec<&str> = usable.iter().copied().filter(|a| !is_system(a)).collect();
    if people.is_empty() {
        usable
    } else {
        people
    }
}

fn record(source: &str, verdict: Verdict, addr: &str, seg: &str) -> Record {
    let mut r = Record::from_verdict(source, verdict);
    r.recipient = Some(addr.to_string());
    r.status = Enhanced::find(seg).map(|e| e.to_string());
    r.diagnostic = Some(squash(seg)).filter(|d| !d.is_empty());
    r
}

fn is_delay_warning(msg: &Message, notice: &str) -> bool {
    let subject = msg.subject().unwrap_or_default().to_ascii_lowercase();
    let lower = notice.to_ascii_lowercase();
    subject.contains("delay")
        || lower.contains("this is a warning only")
        || lower.contains("will be retried")
        || lower.contains("still trying")
}

#[cfg(test)]
mod tests {
    use crate::bounce::analyze;

    /// (recipient, verdict) of a corpus message.
    fn read(raw: &[u8]) -> Vec<(Option<String>, &'static str)> {
        analyze(raw, "t")
            .into_iter()
            .map(|r| (r.recipient.clone(), r.verdict()))
            .collect()
    }

    /// "The original message was received at …" opens the notice of an
    /// X1 server; it is no copy of the message.
    #[test]
    fn a_notice_that_opens_with_the_original_message_is_read() {
        let raw = include_bytes!("../../tests/fixtures/bounces/corpus/s3-x1-02.eml");
        assert_eq!(read(raw), [(Some("kijitora@example.org".into()), "hard")]);
    }

    /// qmail names the failed address on its own line, even when it is
    /// the address the bounce went to.
    #[test]
    fn qmail_s_failed_line_counts_for_the_bounce_s_own_address() {
        let raw = include_bytes!("../../tests/fixtures/bounces/corpus/s3-qmail-08.eml");
        assert_eq!(
            read(raw),
            [(Some("shironeko@example.ad.jp".into()), "soft")]
        );
    }

    /// A notice that names no address: the returned copy's To failed.
    #[test]
    fn the_copy_s_recipient_when_the_notice_names_none() {
        let raw = include_bytes!("../../tests/fixtures/bounces/corpus/s3-lhost-verizon-01.eml");
        assert_eq!(read(raw), [(Some("0000000000@vzwpix.com".into()), "hard")]);
    }

    /// A multipart/report whose body lacks its boundary: the fields of
    /// its delivery status are read from the raw body.
    #[test]
    fn delivery_status_fields_in_an_unsplit_body() {
        let raw = include_bytes!("../../tests/fixtures/bounces/corpus/s3-messagingserver-03.eml");
        assert_eq!(
            read(raw),
            [
                (Some("sabineko@example.org".into()), "hard"),
                (Some("mikeneko@example.org".into()), "hard")
            ]
        );
        let raw = include_bytes!("../../tests/fixtures/bounces/corpus/s3-rfc3464-04.eml");
        assert_eq!(
            read(raw),
            [(Some("kijitora@mailx-53.neko.example.edu".into()), "soft")]
        );
    }
}
