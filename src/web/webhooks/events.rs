//! The vocabulary of provider events: one event before attribution, and
//! the verdicts the providers' words map to.

use serde_json::Value;

use crate::bounce::{classify, Class, Enhanced, Kind, Record, Verdict};

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
    Record::from_verdict("", v).kind
}
