//! Which tool wrote an export, recognised by its columns, and what each
//! tool's states mean. Only rows a tool held as subscribed may become
//! active; everyone who left stays out.
//!
//! Forms recognised (header names compared case-insensitively):
//! - Mailchimp audience exports: `Email Address`, `First Name`, `Last Name`,
//!   `MEMBER_RATING`, `OPTIN_TIME`, `CONFIRM_TIME`, `LEID`, `EUID`, ... One
//!   file per state: the subscribed export, the unsubscribed one (`UNSUB_TIME`,
//!   `UNSUB_REASON`, ...) and the cleaned one (`CLEAN_TIME`, ...).
//! - Substack `email_list.*.csv`: `email`, `active_subscription`, `expiry`,
//!   `plan`, `email_disabled`, `created_at`, ...
//! - Ghost members: `id`, `email`, `name`, `note`, `subscribed_to_emails`,
//!   `complimentary_plan`, `stripe_customer_id`, `created_at`, `deleted_at`,
//!   `labels`, `tiers` (and `status` free/paid/comped in some versions).
//! - Buttondown: `email`, `subscriber_type`, `tags`, `notes`, `metadata`,
//!   `creation_date`, ...
//! - listmonk: `uuid`, `email`, `name`, `attributes`, `status`, `created_at`,
//!   `updated_at` (times in Go's `Time.String()` form), optionally a list's
//!   `subscription_status`.
//! - Kit (ConvertKit): `email_address`, `first_name`, `state` (`active`,
//!   `inactive` = unconfirmed, `cancelled`, `bounced`, `complained`).
//! - beehiiv: `email`, `status` (`active`, `inactive` = unsubscribed,
//!   `pending`, ...), `tier`, `created_at`, `unsubscribed_at`, ...

use std::fmt;

/// The tool an export came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// No tool recognised: generic columns (also Gazette's own export).
    Generic,
    Mailchimp(MailchimpFile),
    Substack,
    Ghost,
    Buttondown,
    Listmonk,
    Kit,
    Beehiiv,
}

/// Mailchimp writes one file per state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailchimpFile {
    Subscribed,
    Unsubscribed,
    Cleaned,
    /// Contacts that never opted in (customers, for instance): the same
    /// columns as the subscribed export, told apart only by the file name.
    NonSubscribed,
}

impl Format {
    /// A short machine name (the `format` field of `--json`).
    pub fn id(self) -> &'static str {
        match self {
            Format::Generic => "generic",
            Format::Mailchimp(_) => "mailchimp",
            Format::Substack => "substack",
            Format::Ghost => "ghost",
            Format::Buttondown => "buttondown",
            Format::Listmonk => "listmonk",
            Format::Kit => "kit",
            Format::Beehiiv => "beehiiv",
        }
    }

    /// The state every row of the file has unless a column says otherwise.
    pub(super) fn file_state(self) -> Held {
        match self {
            Format::Mailchimp(MailchimpFile::Subscribed) => Held::Subscribed,
            Format::Mailchimp(MailchimpFile::Unsubscribed) => Held::Unsubscribed,
            Format::Mailchimp(MailchimpFile::Cleaned) => Held::Bounced,
            Format::Mailchimp(MailchimpFile::NonSubscribed) => Held::Unconfirmed,
            _ => Held::Unknown,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Generic => "generic CSV",
            Format::Mailchimp(MailchimpFile::Subscribed) => "Mailchimp (subscribed export)",
            Format::Mailchimp(MailchimpFile::Unsubscribed) => "Mailchimp (unsubscribed export)",
            Format::Mailchimp(MailchimpFile::Cleaned) => "Mailchimp (cleaned export)",
            Format::Mailchimp(MailchimpFile::NonSubscribed) => {
                "Mailchimp (non-subscribed export: never opted in, kept pending)"
            }
            Format::Substack => "Substack",
            Format::Ghost => "Ghost members",
            Format::Buttondown => "Buttondown",
            Format::Listmonk => "listmonk",
            Format::Kit => "Kit (ConvertKit)",
            Format::Beehiiv => "beehiiv",
        })
    }
}

/// What the tool held a row as. Ordered: a later state wins over an
/// earlier one when two columns disagree (an opt-out is never lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Held {
    /// The file says nothing (generic columns).
    Unknown,
    Subscribed,
    /// Signed up, never confirmed.
    Unconfirmed,
    Unsubscribed,
    Bounced,
    Complained,
}

/// Normalised header: lowercase, `_` and `-` as spaces, trimmed.
pub(super) fn norm(h: &str) -> String {
    h.trim().to_lowercase().replace(['_', '-'], " ")
}

/// Recognise the tool from the (normalised) header names.
pub fn detect(headers: &[String]) -> Format {
    let has = |name: &str| headers.iter().any(|h| h == name);
    if has("subscriber type") {
        return Format::Buttondown;
    }
    if has("subscribed to emails") {
        return Format::Ghost;
    }
    if has("email disabled") || has("active subscription") {
        return Format::Substack;
    }
    let mailchimp = [
        "member rating",
        "optin time",
        "confirm time",
        "leid",
        "euid",
    ];
    if has("email address") && mailchimp.iter().any(|m| has(m)) {
        return Format::Mailchimp(if has("clean time") {
            MailchimpFile::Cleaned
        } else if has("unsub time") {
            MailchimpFile::Unsubscribed
        } else {
            MailchimpFile::Subscribed
        });
    }
    if has("uuid") && has("attributes") && has("status") {
        return Format::Listmonk;
    }
    if has("state") && (has("email address") || has("first name")) {
        return Format::Kit;
    }
    let beehiiv = [
        "tier",
        "free tier",
        "premium tier",
        "subscription tier",
        "utm channel",
    ];
    if has("status") && beehiiv.iter().any(|b| has(b)) {
        return Format::Beehiiv;
    }
    Format::Generic
}

/// A `status`/`state` value as the format writes it; `None` for a value
/// the format does not use (the row is reported, never guessed).
pub(super) fn status_value(format: Format, v: &str) -> Option<Held> {
    let is = |s: &str| v.eq_ignore_ascii_case(s);
    // "inactive" means unconfirmed to Kit, unsubscribed to everyone else.
    if is("inactive") {
        return Some(if format == Format::Kit {
            Held::Unconfirmed
        } else {
            Held::Unsubscribed
        });
    }
    Some(
        if is("active") || is("subscribed") || is("enabled") || is("confirmed") {
            Held::Subscribed
        } else if is("pending") || is("unconfirmed") || is("validating") || is("needs_attention") {
            Held::Unconfirmed
        } else if is("unsubscribed")
            || is("cancelled")
            || is("canceled")
            || is("blocklisted")
            || is("blacklisted")
            || is("disabled")
        {
            Held::Unsubscribed
        } else if is("bounced") || is("cleaned") || is("undeliverable") || is("invalid") {
            Held::Bounced
        } else if is("complained") || is("spam") {
            Held::Complained
        } else {
            return None;
        },
    )
}

/// Buttondown's `subscriber_type`.
pub(super) fn buttondown_type(v: &str) -> Option<Held> {
    let is = |s: &str| v.eq_ignore_ascii_case(s);
    Some(
        if is("regular")
            || is("premium")
            || is("trialed")
            || is("unpaid")
            || is("gifted")
            || is("churning")
            || is("churned")
            || is("paused")
            || is("past_due")
        {
            Held::Subscribed
        } else if is("unactivated") {
            Held::Unconfirmed
        } else if is("unsubscribed") || is("removed") || is("spammy") || is("blocked") {
            Held::Unsubscribed
        } else if is("undeliverable") || is("bounced") {
            Held::Bounced
        } else if is("complained") {
            Held::Complained
        } else {
            return None;
        },
    )
}

/// listmonk's per-list `subscription_status`.
pub(super) fn list_subscription(v: &str) -> Option<Held> {
    let is = |s: &str| v.eq_ignore_ascii_case(s);
    Some(if is("confirmed") {
        Held::Subscribed
    } else if is("unconfirmed") {
        Held::Unconfirmed
    } else if is("unsubscribed") {
        Held::Unsubscribed
    } else {
        return None;
    })
}

/// Mailchimp's `UNSUB_REASON`: an abuse report (or the survey answer that
/// Mailchimp counts as one) is a complaint, anything else an unsubscribe.
pub(super) fn mailchimp_unsub_reason(v: &str) -> Held {
    let lower = v.to_ascii_lowercase();
    if lower.contains("abuse") || lower.contains("spam") {
        Held::Complained
    } else {
        Held::Unsubscribed
    }
}

/// A true/false cell as the tools write it.
pub(super) fn boolean(v: &str) -> Option<bool> {
    let is = |s: &str| v.eq_ignore_ascii_case(s);
    if is("true") || is("yes") || v == "1" {
        Some(true)
    } else if is("false") || is("no") || v == "0" {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(s: &str) -> Vec<String> {
        s.split(',').map(norm).collect()
    }

    #[test]
    fn tools_are_recognised_by_their_columns() {
        let cases = [
            ("Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,LEID,EUID", Format::Mailchimp(MailchimpFile::Subscribed)),
            ("Email Address,MEMBER_RATING,UNSUB_TIME,UNSUB_REASON", Format::Mailchimp(MailchimpFile::Unsubscribed)),
            ("Email Address,MEMBER_RATING,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE", Format::Mailchimp(MailchimpFile::Cleaned)),
            ("email,active_subscription,expiry,plan,email_disabled,created_at", Format::Substack),
            ("id,email,name,note,subscribed_to_emails,complimentary_plan,created_at,labels", Format::Ghost),
            ("email,subscriber_type,tags,notes,creation_date", Format::Buttondown),
            ("uuid,email,name,attributes,status,created_at,updated_at", Format::Listmonk),
            ("id,email_address,first_name,state,created_at,tags", Format::Kit),
            ("email,First Name,Last Name,status,tier,created_at,unsubscribed_at", Format::Beehiiv),
            ("email,name,status,created_at,confirmed_at,unsubscribed_at,source,attributes", Format::Generic),
            ("email,name,city", Format::Generic),
        ];
        for (h, f) in cases {
            assert_eq!(detect(&headers(h)), f, "{h}");
        }
    }

    #[test]
    fn inactive_depends_on_the_tool() {
        assert_eq!(
            status_value(Format::Kit, "inactive"),
            Some(Held::Unconfirmed)
        );
        assert_eq!(
            status_value(Format::Beehiiv, "inactive"),
            Some(Held::Unsubscribed)
        );
        assert_eq!(
            status_value(Format::Listmonk, "blocklisted"),
            Some(Held::Unsubscribed)
        );
        assert_eq!(status_value(Format::Generic, "free"), None);
        assert_eq!(buttondown_type("undeliverable"), Some(Held::Bounced));
        assert_eq!(buttondown_type("unactivated"), Some(Held::Unconfirmed));
        assert_eq!(
            mailchimp_unsub_reason("N/A (Unsubscribed by an admin)"),
            Held::Unsubscribed
        );
        assert_eq!(
            mailchimp_unsub_reason("N/A (Abuse Complaint)"),
            Held::Complained
        );
    }
}
