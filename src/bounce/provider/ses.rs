//! Amazon SES notifications (inside SNS messages) as provider events.

use serde_json::Value;

use super::{from_reply, kind_of, str_of, Event, BLOCKED, FEEDBACK, HARD, SOFT, SUPPRESSED};
use crate::bounce::{Class, Kind, Verdict};

/// Events of an SES notification (`notificationType`) or event
/// publishing record (`eventType`).
pub fn ses_events(n: &Value, sns_id: &str) -> Vec<Event> {
    let kind = str_of(n, &["notificationType"])
        .or(str_of(n, &["eventType"]))
        .unwrap_or_default();
    let message_id = n["mail"]["headers"]
        .as_array()
        .and_then(|hs| {
            hs.iter().find(|h| {
                str_of(h, &["name"]).is_some_and(|x| x.eq_ignore_ascii_case("Message-ID"))
            })
        })
        .and_then(|h| str_of(h, &["value"]))
        .or(str_of(n, &["mail", "commonHeaders", "messageId"]))
        .map(str::to_string);
    let mut out = Vec::new();
    let event = |email: &str,
                 verdict: Verdict,
                 kind: Kind,
                 status: Option<String>,
                 diag: Option<String>| Event {
        key: format!("{sns_id}:{}", email.to_ascii_lowercase()),
        email: email.to_string(),
        kind,
        verdict,
        status,
        diagnostic: diag,
        message_id: message_id.clone(),
    };
    match kind {
        "Bounce" => {
            let b = &n["bounce"];
            let bounce_type = str_of(b, &["bounceType"]).unwrap_or_default();
            let sub = str_of(b, &["bounceSubType"]).unwrap_or_default();
            for r in b["bouncedRecipients"].as_array().into_iter().flatten() {
                let Some(email) = str_of(r, &["emailAddress"]) else {
                    continue;
                };
                let diag = str_of(r, &["diagnosticCode"]).unwrap_or_default();
                let (verdict, status) = ses_bounce_verdict(bounce_type, sub, r, diag);
                let status = status.or(str_of(r, &["status"]).map(str::to_string));
                let diag = Some(format!("{bounce_type}/{sub}: {diag}"));
                out.push(event(email, verdict, kind_of(verdict), status, diag));
            }
        }
        "Complaint" => {
            let c = &n["complaint"];
            let feedback = str_of(c, &["complaintFeedbackType"]).unwrap_or("abuse");
            let kind = if feedback == "not-spam" {
                Kind::None
            } else {
                Kind::Complaint
            };
            for r in c["complainedRecipients"].as_array().into_iter().flatten() {
                if let Some(email) = str_of(r, &["emailAddress"]) {
                    out.push(event(
                        email,
                        FEEDBACK,
                        kind,
                        None,
                        Some(format!("Feedback-Type: {feedback}")),
                    ));
                }
            }
        }
        _ => {}
    }
    out
}

/// What an SES bounce type and subtype mean for one recipient.
fn ses_bounce_verdict(
    bounce_type: &str,
    sub: &str,
    r: &Value,
    diag: &str,
) -> (Verdict, Option<String>) {
    let soft = |reason| Verdict {
        class: Class::Soft,
        reason,
    };
    match (bounce_type, sub) {
        ("Permanent", "Suppressed" | "OnAccountSuppressionList") => (SUPPRESSED, None),
        ("Permanent", _) => from_reply(str_of(r, &["status"]), diag, HARD),
        ("Transient", "MailboxFull") => (soft("mailboxfull"), None),
        ("Transient", "MessageTooLarge") => (soft("mesgtoolarge"), None),
        ("Transient", "ContentRejected" | "AttachmentRejected") => (BLOCKED, None),
        _ => (SOFT, None),
    }
}
