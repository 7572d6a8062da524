//! Bounce and complaint events of sending providers (Amazon SES, Postmark,
//! Mailgun, SendGrid) and the verdicts their words map to: the same
//! hard / soft / blocked / complaint as returned mail. Pure: the web
//! checks the signatures, the store records. A provider's
//! "Undetermined"/"Transient"/unknown bounce is soft; an address on the
//! provider's own suppression list was not even tried, so it is not a new
//! hard bounce of ours (soft, reason `suppressed`).

mod ses;

pub use ses::ses_events;

use serde_json::Value;

use super::{classify, verp, Class, Enhanced, Kind, Record, Verdict};

/// One provider event, before attribution.
pub struct Event {
    /// The provider's id of the event: recording twice is a no-op.
    pub key: String,
    pub email: String,
    pub kind: Kind,
    pub verdict: Verdict,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
    /// The Message-ID Gazette gave the message, when the provider says it.
    pub message_id: Option<String>,
}

pub fn str_of<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

/// An event from a reply the provider relays (code, status, text).
pub fn from_reply(
    status: Option<&str>,
    text: &str,
    fallback: Verdict,
) -> (Verdict, Option<String>) {
    let enhanced = status
        .and_then(Enhanced::parse)
        .or_else(|| Enhanced::find(text));
    let mut verdict = classify::classify(classify::find_code(text), enhanced, text);
    if verdict.reason == "undefined" || verdict.class == Class::None {
        verdict = fallback;
    }
    (verdict, enhanced.map(|e| e.to_string()))
}

pub const HARD: Verdict = Verdict {
    class: Class::Hard,
    reason: "userunknown",
};
/// The provider did not send because the address is on its own
/// suppression list (an earlier bounce, perhaps another sender's): not a
/// new hard bounce of ours, counted as soft.
pub const SUPPRESSED: Verdict = Verdict {
    class: Class::Soft,
    reason: "suppressed",
};
pub const SOFT: Verdict = Verdict {
    class: Class::Soft,
    reason: "undefined",
};
pub const BLOCKED: Verdict = Verdict {
    class: Class::Blocked,
    reason: "blocked",
};
pub const NONE: Verdict = Verdict {
    class: Class::None,
    reason: "none",
};
pub const FEEDBACK: Verdict = Verdict {
    class: Class::None,
    reason: "feedback",
};

pub fn kind_of(v: Verdict) -> Kind {
    if v == FEEDBACK {
        return Kind::Complaint;
    }
    Record::from_verdict("", v).kind
}

impl Event {
    /// The record of this event (`source`: where it came from, such as
    /// `webhook:ses`) and the references to the message it is about, for
    /// attribution.
    pub fn record(&self, source: &str) -> (Record, Vec<String>) {
        let mut r = Record::from_verdict(source, self.verdict);
        r.kind = self.kind;
        r.recipient = Some(self.email.to_ascii_lowercase());
        r.status = self.status.clone();
        r.diagnostic = self.diagnostic.clone();
        let refs = self
            .message_id
            .as_deref()
            .and_then(verp::message_id_token)
            .into_iter()
            .collect();
        (r, refs)
    }
}

/// A Postmark Bounce or SpamComplaint record; `fallback_key` when it has
/// no `ID`. `Err` names what is missing.
pub fn postmark_event(v: &Value, fallback_key: &str) -> Result<Event, &'static str> {
    let kind = str_of(v, &["Type"]).unwrap_or_default();
    let details = str_of(v, &["Details"])
        .or(str_of(v, &["Description"]))
        .unwrap_or_default();
    let verdict = match (str_of(v, &["RecordType"]), kind) {
        (Some("SpamComplaint"), _) | (_, "SpamComplaint") => FEEDBACK,
        (Some("Bounce"), "ManuallyDeactivated") => SUPPRESSED,
        (Some("Bounce"), "HardBounce" | "BadEmailAddress") => from_reply(None, details, HARD).0,
        (Some("Bounce"), "SoftBounce" | "Transient" | "DnsError" | "Unknown" | "Undeliverable") => {
            SOFT
        }
        (Some("Bounce"), "Blocked" | "SpamNotification" | "VirusNotification" | "DMARCPolicy") => {
            BLOCKED
        }
        _ => NONE,
    };
    let email = str_of(v, &["Email"]).ok_or("no Email")?;
    Ok(Event {
        key: v
            .get("ID")
            .map(|i| i.to_string())
            .unwrap_or_else(|| fallback_key.to_string()),
        email: email.to_string(),
        kind: kind_of(verdict),
        verdict,
        status: Enhanced::find(details).map(|e| e.to_string()),
        diagnostic: Some(format!("{kind}: {details}")),
        message_id: None,
    })
}

/// A Mailgun event (`event-data` of the webhook body).
pub fn mailgun_event(d: &Value, fallback_key: &str) -> Result<Event, &'static str> {
    let code_text = format!(
        "{} {} {}",
        d["delivery-status"]["code"]
            .as_i64()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        str_of(d, &["delivery-status", "message"]).unwrap_or_default(),
        str_of(d, &["delivery-status", "description"]).unwrap_or_default()
    );
    // Mailgun's own suppressions (`reason` suppress-bounce, -unsubscribe,
    // -complaint) were never sent: not new bounces of ours.
    let suppressed = str_of(d, &["reason"]).is_some_and(|r| r.starts_with("suppress-"));
    let (verdict, status) = match (str_of(d, &["event"]), str_of(d, &["severity"])) {
        (Some("complained"), _) => (FEEDBACK, None),
        (Some("failed"), _) if suppressed => (SUPPRESSED, None),
        (Some("failed"), Some("permanent")) => from_reply(None, &code_text, HARD),
        (Some("failed"), _) => (SOFT, Enhanced::find(&code_text).map(|e| e.to_string())),
        _ => (NONE, None),
    };
    let email = str_of(d, &["recipient"]).ok_or("no recipient")?;
    Ok(Event {
        key: str_of(d, &["id"])
            .map(str::to_string)
            .unwrap_or_else(|| fallback_key.to_string()),
        email: email.to_string(),
        kind: kind_of(verdict),
        verdict,
        status,
        diagnostic: Some(code_text.trim().to_string()).filter(|s| !s.is_empty()),
        message_id: str_of(d, &["message", "headers", "message-id"])
            .map(|m| format!("<{}>", m.trim_matches(['<', '>']))),
    })
}

/// One SendGrid event; `key_of` gives a key to an event without
/// `sg_event_id`. `None` for an event without an address.
pub fn sendgrid_event(e: &Value, key_of: impl Fn(&Value) -> String) -> Option<Event> {
    let reason = str_of(e, &["reason"]).unwrap_or_default();
    let (verdict, status) = match (str_of(e, &["event"])?, str_of(e, &["type"])) {
        ("spamreport", _) => (FEEDBACK, None),
        ("bounce", Some("blocked")) => (BLOCKED, str_of(e, &["status"]).map(str::to_string)),
        ("bounce", _) => from_reply(str_of(e, &["status"]), reason, HARD),
        _ => (NONE, None),
    };
    Some(Event {
        key: str_of(e, &["sg_event_id"])
            .map(str::to_string)
            .unwrap_or_else(|| key_of(e)),
        email: str_of(e, &["email"])?.to_string(),
        kind: kind_of(verdict),
        verdict,
        status,
        diagnostic: Some(reason.to_string()).filter(|r| !r.is_empty()),
        message_id: str_of(e, &["smtp-id"]).map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ses_bounce(bounce_type: &str, sub: &str, diag: &str) -> Event {
        let n = json!({
            "notificationType": "Bounce",
            "bounce": {"bounceType": bounce_type, "bounceSubType": sub,
                "bouncedRecipients": [{"emailAddress": "a@example.com", "diagnosticCode": diag}]},
            "mail": {"messageId": "x"}
        });
        ses_events(&n, "id").remove(0)
    }

    /// A provider's "not sure" is soft, its suppression list is not a new
    /// hard bounce of ours, and its words decide before its type: a
    /// "Permanent" SPF refusal is blocked.
    #[test]
    fn provider_words_map_to_the_same_verdicts() {
        assert_eq!(
            ses_bounce("Undetermined", "Undetermined", "").verdict.class,
            Class::Soft
        );
        assert_eq!(
            ses_bounce("Transient", "General", "").verdict.class,
            Class::Soft
        );
        let suppressed = ses_bounce("Permanent", "Suppressed", "");
        assert_eq!(
            (suppressed.kind, suppressed.verdict),
            (Kind::Soft, SUPPRESSED)
        );
        let spf = ses_bounce(
            "Permanent",
            "General",
            "smtp; 550 5.7.1 Sender is not allowed to send from <example.org> per its SPF record",
        );
        assert_eq!(spf.verdict.class, Class::Blocked);
        assert_eq!(
            ses_bounce("Permanent", "General", "smtp; 550 5.1.1 user unknown").kind,
            Kind::Hard
        );
        let pm = json!({"RecordType": "Bounce", "Type": "ManuallyDeactivated", "Email": "a@example.com"});
        assert_eq!(postmark_event(&pm, "k").unwrap().verdict, SUPPRESSED);
        let pm = json!({"RecordType": "Bounce", "Type": "Transient", "Email": "a@example.com"});
        assert_eq!(postmark_event(&pm, "k").unwrap().kind, Kind::Soft);
        let mg = json!({"event": "failed", "severity": "permanent", "reason": "suppress-bounce", "recipient": "a@example.com"});
        assert_eq!(mailgun_event(&mg, "k").unwrap().verdict, SUPPRESSED);
        let mg = json!({"event": "failed", "severity": "temporary", "recipient": "a@example.com"});
        assert_eq!(mailgun_event(&mg, "k").unwrap().kind, Kind::Soft);
        let sg = json!({"event": "bounce", "type": "blocked", "email": "a@example.com"});
        let sg = sendgrid_event(&sg, |_| "k".into()).unwrap();
        assert_eq!((sg.kind, sg.verdict.class), (Kind::Soft, Class::Blocked));
        let sg = json!({"event": "spamreport", "email": "a@example.com"});
        assert_eq!(
            sendgrid_event(&sg, |_| "k".into()).unwrap().kind,
            Kind::Complaint
        );
    }
}
