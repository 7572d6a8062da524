//! Issue 26, point 1: no refusal of the sender or the message, and no
//! failure of the path, marks a reader bounced. One test per kind, each a
//! real returned message (tests/fixtures/bounces/corpus) through `gazette
//! bounces process` on a real SQLite file: the subscriber stays active,
//! and the log keeps the refusal as `blocked` (or a soft failure).

use super::process::{import, status_of};
use crate::bounces::{corpus, gz};
use crate::helpers::Project;

/// Process `file` for a subscriber `email`; the subscriber must stay
/// active and the bounce be logged with `verdict` (blocked or soft).
fn stays_active(file: &str, email: &str, verdict: &str) {
    let p = Project::new();
    import(&p, &[email]);
    let path = corpus().join(file);
    gz(&p, &["bounces", "process", path.to_str().unwrap()]).ok();
    assert_eq!(status_of(&p, email), "active", "{file}");
    let log: serde_json::Value =
        serde_json::from_str(&gz(&p, &["bounces", "list", "--json"]).stdout()).unwrap();
    let rows = log.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{file}: {log}");
    let row = &rows[0];
    assert_eq!(row["subscriber"], email, "{file}: {row}");
    assert_eq!(row["blocked"], verdict == "blocked", "{file}: {row}");
    assert_eq!(row["kind"], "soft", "{file}: {row}");
}

#[test]
fn a_dmarc_refusal_is_blocked() {
    // Gmail relayed by Postfix: "550-5.7.26 Unauthenticated email … DMARC policy".
    stays_active(
        "postfix-dmarc-01.eml",
        "kijitora@google.example.com",
        "blocked",
    );
    // iCloud: "554 5.7.1 Your message was rejected due to …'s DMARC policy".
    stays_active(
        "ss-lhost-postfix-71.eml",
        "kijitora@apple.example.com",
        "blocked",
    );
}

#[test]
fn a_content_filter_is_blocked() {
    // Barracuda: "550 5.7.1 Message content rejected, UBE".
    stays_active("barracuda-01.eml", "kijitora@example.org", "blocked");
}

#[test]
fn a_blocklisted_or_banned_sending_host_is_blocked() {
    // Gmail relaying a CBL listing; Exchange Online's "banned sending IP".
    stays_active("gmail-04.eml", "kijitora@example.com", "blocked");
    stays_active(
        "ss-rhost-exchangeonline-01.eml",
        "kijitora@example.com",
        "blocked",
    );
}

#[test]
fn a_policy_refusal_is_blocked() {
    // Yahoo/AOL "554 5.7.9 Message not accepted for policy reasons".
    stays_active("yahoo-policy-01.eml", "kijitora@aol.example.jp", "blocked");
}

#[test]
fn a_security_error_is_blocked() {
    // MessageLabs: "550-Please turn on SMTP Authentication … not permitted
    // to relay".
    stays_active(
        "ss-rhost-messagelabs-01.eml",
        "kijitora@example.messagelabs.com",
        "blocked",
    );
}

#[test]
fn a_reverse_dns_refusal_is_blocked() {
    // Exim: "SMTP error … after MAIL FROM: 554 5.7.1 Reverse DNS failed".
    stays_active("ss-email-exim-34.eml", "kijitora@example.net", "blocked");
}

#[test]
fn an_exim_rejection_after_mail_from_is_blocked_even_if_it_says_does_not_exist() {
    // "553 5.1.0 … does not exist" said of the sender at MAIL FROM.
    stays_active("ss-email-exim-51.eml", "kijitora@example.org", "blocked");
}

#[test]
fn a_rate_limit_is_blocked() {
    // QQ: "550 Ip frequency limited … Blocked IP".
    stays_active(
        "ss-rhost-tencentqq-01.eml",
        "nekochan@qq.example.cn",
        "blocked",
    );
}

#[test]
fn too_many_hops_is_soft() {
    // "554 5.4.6 Hop count exceeded - possible mail loop".
    stays_active("ss-lhost-x6-01.eml", "kijitora@nyaan.example.org", "soft");
}

#[test]
fn a_google_groups_refusal_is_blocked() {
    // The group refused the post (notice in Japanese).
    stays_active(
        "ss-lhost-googlegroups-01.eml",
        "libsisimai@googlegroups.com",
        "blocked",
    );
}

#[test]
fn service_unavailable_is_soft() {
    // sendmail: "554 … Service unavailable" for a failed procmail pipe
    // (third collection, s3-rfc3464-04).
    stays_active(
        "s3-rfc3464-04.eml",
        "kijitora@mailx-53.neko.example.edu",
        "soft",
    );
}

#[test]
fn a_refusal_of_the_sending_ip_at_mail_from_is_blocked() {
    // Hotmail via au/EZweb: "too many unwanted messages have been sent
    // from the following IP address" (s3-email-ezweb-08); a Cox-style
    // "554 IP=… (BL)" listing (s3-sendmail-16).
    stays_active(
        "s3-email-ezweb-08.eml",
        "kijitora-neko-nyaan-22222-cats@hotmail.com",
        "blocked",
    );
    stays_active(
        "s3-sendmail-16.eml",
        "aoduigoadiugoaiugaodiugao@example.org",
        "blocked",
    );
}

#[test]
fn a_header_or_security_refusal_is_blocked() {
    // "554 5.7.9 Header error" (s3-sendmail-09); Exchange 2007
    // "550 5.7.1 RESOLVER.RST.AuthRequired" (s3-email-exchange2007-04).
    stays_active("s3-sendmail-09.eml", "kijitora@example.co.jp", "blocked");
    stays_active(
        "s3-email-exchange2007-04.eml",
        "neko-nyaan@example.jp",
        "blocked",
    );
}

#[test]
fn gmail_giving_up_on_a_connection_is_soft() {
    // "The recipient server did not accept our requests to connect"
    // (issue 26, point 3; s3-email-google-10).
    stays_active(
        "s3-email-google-10.eml",
        "kijitora@6jo.example.co.jp",
        "soft",
    );
}
