//! What servers say, in their own words (lowercase), and what it means.
//! Two tables, read in order by `classify`: first the refusals of the
//! sender or the message (they decide even under a 5.1.1 status: a
//! server that says "SPF" is not telling us the mailbox is gone), then
//! what is said of the recipient (it decides before the status code, as
//! in Sisimai: a 4.x.x "user unknown" is a dead address).
//!
//! Each phrase names the real message it was first seen in (the corpus
//! under tests/fixtures/bounces/, or Sisimai's public set of emails).

use super::{v, Class, Verdict};

/// Refusals of the sender, the sending host or the message, and failures
/// of the path (not of the mailbox): never a reason to stop mailing the
/// address.
pub const REFUSALS: &[(&str, Verdict)] = &[
    // SPF, DKIM, DMARC and other authentication of the sender.
    ("per its spf record", v(Class::Blocked, "securityerror")),
    ("per it's spf record", v(Class::Blocked, "securityerror")),
    ("spf record", v(Class::Blocked, "securityerror")),
    ("spf check", v(Class::Blocked, "securityerror")),
    ("spf validation", v(Class::Blocked, "securityerror")),
    ("spf unauthorized", v(Class::Blocked, "securityerror")),
    ("fails to pass spf", v(Class::Blocked, "securityerror")),
    ("spf: ", v(Class::Blocked, "securityerror")),
    ("spf fail", v(Class::Blocked, "securityerror")),
    ("mismatches client ip", v(Class::Blocked, "securityerror")),
    ("dkim", v(Class::Blocked, "securityerror")),
    ("dmarc", v(Class::Blocked, "policy")),
    ("unauthenticated email", v(Class::Blocked, "securityerror")),
    (
        "authentication required",
        v(Class::Blocked, "securityerror"),
    ),
    ("must use tls", v(Class::Blocked, "securityerror")),
    ("tls required", v(Class::Blocked, "securityerror")),
    ("security policy", v(Class::Blocked, "securityerror")),
    ("reverse dns", v(Class::Blocked, "blocked")),
    ("ptr record", v(Class::Blocked, "blocked")),
    // The sender's address, not the recipient's.
    ("sender address rejected", v(Class::Blocked, "rejected")),
    ("sender was rejected", v(Class::Blocked, "rejected")),
    ("sender rejected", v(Class::Blocked, "rejected")),
    ("domain of sender address", v(Class::Blocked, "rejected")),
    ("sender domain", v(Class::Blocked, "rejected")),
    ("envelope sender", v(Class::Blocked, "rejected")),
    ("sender verify failed", v(Class::Blocked, "rejected")),
    // Content, virus and spam filters.
    ("virus", v(Class::Blocked, "virusdetected")),
    ("content rejected", v(Class::Blocked, "contenterror")),
    ("message filtered", v(Class::Blocked, "filtered")),
    ("rejected due to content", v(Class::Blocked, "contenterror")),
    ("content filter", v(Class::Blocked, "contenterror")),
    ("message content", v(Class::Blocked, "contenterror")),
    ("spam", v(Class::Blocked, "spamdetected")),
    ("junk mail", v(Class::Blocked, "spamdetected")),
    ("unsolicited", v(Class::Blocked, "spamdetected")),
    ("ube", v(Class::Blocked, "spamdetected")),
    // Reputation and blocklists.
    ("reputation", v(Class::Blocked, "blocked")),
    ("blacklist", v(Class::Blocked, "blocked")),
    ("blocklist", v(Class::Blocked, "blocked")),
    ("block list", v(Class::Blocked, "blocked")),
    ("listed at", v(Class::Blocked, "blocked")),
    ("listed in", v(Class::Blocked, "blocked")),
    ("dnsbl", v(Class::Blocked, "blocked")),
    ("rbl", v(Class::Blocked, "blocked")),
    ("blocked", v(Class::Blocked, "blocked")),
    ("policy", v(Class::Blocked, "policy")),
    ("relay access denied", v(Class::Blocked, "norelaying")),
    ("relaying denied", v(Class::Blocked, "norelaying")),
    ("relay not permitted", v(Class::Blocked, "norelaying")),
    // Refused before any recipient was named: at the connection or at
    // MAIL FROM the server judges the sending host or the sender, never
    // the address (Exim's "SMTP error … after MAIL FROM:", corpus
    // ss-email-exim-38, -51; "after initial connection", ss-email-exim-56).
    ("after mail from", v(Class::Blocked, "rejected")),
    ("after initial connection", v(Class::Blocked, "blocked")),
    ("relay quota", v(Class::Blocked, "toomanyconn")),
    // ss-email-exim-45: "Domain is invalid. Please provide a valid From:".
    ("a valid from", v(Class::Blocked, "rejected")),
    // ss-rhost-messagelabs-01: relaying refused to an unauthenticated client.
    ("not permitted to relay", v(Class::Blocked, "norelaying")),
    ("smtp authentication", v(Class::Blocked, "securityerror")),
    // Google Groups refuses a post (the group does not exist or does not
    // take posts from the sender), in each reader's language, always with
    // its help link (ss-lhost-googlegroups-01, in Japanese).
    ("groups.google.com", v(Class::Blocked, "rejected")),
    // Hotmail's SC-004 refusal of a sending IP, relayed by au/EZweb
    // (s3-email-ezweb-08): "too many unwanted messages have been sent".
    ("unwanted messages", v(Class::Blocked, "blocked")),
    // Cox-style "554 IP=… - A problem occurred. (…) (BL)": BL marks a
    // blocklisted sending IP (s3-sendmail-16).
    ("(bl)", v(Class::Blocked, "blocked")),
    ("too many connections", v(Class::Blocked, "toomanyconn")),
    ("rate limit", v(Class::Blocked, "toomanyconn")),
    // The receiving system or the path, not the mailbox.
    (
        "service currently unavailable",
        v(Class::Soft, "systemerror"),
    ),
    ("too many hops", v(Class::Soft, "networkerror")),
    // Gmail could not connect to the recipient's server and gave up
    // (s3-email-google-10; issue 26 point 3): a path failure.
    (
        "did not accept our requests to connect",
        v(Class::Soft, "expired"),
    ),
    // The local delivery program failed (a procmail pipe, sendmail's
    // "Service unavailable" for it, s3-rfc3464-04): Sisimai's mailererror.
    ("bin/procmail", v(Class::Soft, "mailererror")),
    ("bin/maildrop", v(Class::Soft, "mailererror")),
    ("mailer error", v(Class::Soft, "mailererror")),
    ("command failed:", v(Class::Soft, "mailererror")),
    ("routing loop", v(Class::Soft, "networkerror")),
    ("mail loop", v(Class::Soft, "networkerror")),
    // ss-lhost-x6-01: "554 5.4.6 Hop count exceeded - possible mail loop".
    ("hop count exceeded", v(Class::Soft, "networkerror")),
    // fml's loop alert (ss-email-fml-01): the list refused a looping copy.
    ("duplicated message-id", v(Class::Soft, "systemerror")),
];

/// What is said of the recipient: the mailbox-side soft reasons first
/// (their wording can include "unknown" or "not found" of something
/// else), then the dead addresses in each vendor's words.
pub const RECIPIENT: &[(&str, Verdict)] = &[
    ("mailbox full", v(Class::Soft, "mailboxfull")),
    ("mailbox is full", v(Class::Soft, "mailboxfull")),
    ("over quota", v(Class::Soft, "mailboxfull")),
    ("quota exceeded", v(Class::Soft, "mailboxfull")),
    ("exceeded storage", v(Class::Soft, "mailboxfull")),
    ("insufficient storage", v(Class::Soft, "mailboxfull")),
    ("out of storage", v(Class::Soft, "mailboxfull")),
    // BIGLOBE (ss-jp-biglobe-01).
    (
        "recipient's mailbox exceeded",
        v(Class::Soft, "mailboxfull"),
    ),
    ("message too large", v(Class::Soft, "mesgtoolarge")),
    ("message too big", v(Class::Soft, "mesgtoolarge")),
    ("message size exceeds", v(Class::Soft, "mesgtoolarge")),
    ("size limit", v(Class::Soft, "mesgtoolarge")),
    ("user unknown", v(Class::Hard, "userunknown")),
    ("unknown user", v(Class::Hard, "userunknown")),
    ("no such user", v(Class::Hard, "userunknown")),
    ("no such mailbox", v(Class::Hard, "userunknown")),
    ("no such recipient", v(Class::Hard, "userunknown")),
    ("unknown recipient", v(Class::Hard, "userunknown")),
    ("recipient unknown", v(Class::Hard, "userunknown")),
    ("recipient not found", v(Class::Hard, "userunknown")),
    ("recipientnotfound", v(Class::Hard, "userunknown")),
    // Exchange 5.5 / 2003 (exchange-01, exchange-2003-01).
    (
        "recipient name is not recognized",
        v(Class::Hard, "userunknown"),
    ),
    // Lotus Domino (domino-01, domino-02).
    (
        "not listed in public name & address book",
        v(Class::Hard, "userunknown"),
    ),
    (
        "not listed in domino directory",
        v(Class::Hard, "userunknown"),
    ),
    ("address not found", v(Class::Hard, "userunknown")),
    // Gmail / G Suite (ss-email-gsuite-02).
    ("address couldn't be found", v(Class::Hard, "userunknown")),
    // Japanese notices, decoded from ISO-2022-JP first: Lotus Notes "not
    // in the directory list" (notes-01), au/EZweb "the address was not
    // found" (ss-email-ezweb-03).
    (
        "ディレクトリのリストにありません",
        v(Class::Hard, "userunknown"),
    ),
    (
        "メールアドレスが見つかりませんでした",
        v(Class::Hard, "userunknown"),
    ),
    (
        "account that you tried to reach does not exist",
        v(Class::Hard, "userunknown"),
    ),
    ("does not exist", v(Class::Hard, "userunknown")),
    ("doesn't have a", v(Class::Hard, "userunknown")),
    ("invalid recipient", v(Class::Hard, "userunknown")),
    ("invalid mailbox", v(Class::Hard, "userunknown")),
    ("invalid user", v(Class::Hard, "userunknown")),
    ("invalid user address", v(Class::Hard, "userunknown")),
    ("mailbox not found", v(Class::Hard, "userunknown")),
    ("wasn't found at", v(Class::Hard, "userunknown")),
    ("not our customer", v(Class::Hard, "userunknown")),
    // Outlook.com and Hotmail's wording of 5.1.1 (outlook-01): Sisimai
    // reads it as userunknown too.
    (
        "requested action not taken: mailbox unavailable",
        v(Class::Hard, "userunknown"),
    ),
    ("host not found", v(Class::Hard, "hostunknown")),
    // A domain that publishes a Null MX (RFC 7505) takes no mail, whatever
    // the status Gmail sends with it (4.0.0, s3-email-gsuite-03).
    ("null mx", v(Class::Hard, "notaccept")),
    ("doesn't receive email", v(Class::Hard, "notaccept")),
    // Verizon's MMS gateway (s3-lhost-verizon-01).
    ("no valid recipients for", v(Class::Hard, "userunknown")),
    ("host unknown", v(Class::Hard, "hostunknown")),
    ("domain not found", v(Class::Hard, "hostunknown")),
    ("no mx", v(Class::Hard, "hostunknown")),
    ("name or service not known", v(Class::Hard, "hostunknown")),
    ("account disabled", v(Class::Hard, "suspend")),
    ("account has been disabled", v(Class::Hard, "suspend")),
    ("account is disabled", v(Class::Hard, "suspend")),
    ("mailbox disabled", v(Class::Hard, "suspend")),
    ("account is inactive", v(Class::Hard, "suspend")),
    ("timed out", v(Class::Soft, "expired")),
    ("retry timeout exceeded", v(Class::Soft, "expired")),
];

/// The first phrase of `table` in `lower` (already lowercase). Short
/// words ("ube", "rbl") must stand alone; longer phrases may be part of
/// a longer text.
pub fn find(table: &[(&str, Verdict)], lower: &str) -> Option<Verdict> {
    table
        .iter()
        .find(|(p, _)| contains_phrase(lower, p))
        .map(|(_, verdict)| *verdict)
}

fn contains_phrase(text: &str, phrase: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(phrase).any(|(i, _)| {
        // "not listed in Domino Directory" is no blocklist listing.
        let negated = text[..i].ends_with("not ");
        let whole = phrase.len() > 4
            || (!word(text[..i].chars().next_back())
                && !word(text[i + phrase.len()..].chars().next()));
        whole && !negated
    })
}
