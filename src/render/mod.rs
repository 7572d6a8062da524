//! Rendering: Tera templates (built-in, overridden file by file from the
//! `templates/` folder), CSS inlined once per campaign, then cheap
//! per-recipient substitution of placeholders.
//!
//! - [`templates`]: the template set and its `file:line` errors.
//! - [`prepare`]: an email rendered once per campaign (`Prepared`), and web pages.
//! - [`size`]: an email's size, refused past `[paths] max_email_size`.
//! - [`slots`]: per-recipient values filled into a prepared email.
//! - [`message`]: the MIME message with its headers.
//! - [`clicks`]: links counted per campaign (`[tracking] clicks`), never per reader.

pub mod clicks;
pub mod i18n;
pub mod message;
pub mod prepare;
pub mod shortcodes;
pub mod size;
pub mod slots;
pub mod templates;

use serde::{Deserialize, Serialize};

pub use prepare::{
    base_context, check, inline_css, post_subject, prepare_confirm, prepare_confirm_for,
    prepare_digest, prepare_post, prepare_welcome, render_page, ConfirmOrigin, PostView, Prepared,
};
pub use slots::{
    escape_html, escape_html_into, uses_attributes, Encoded, Personal, Recipient, RECIPIENT_SLOTS,
};
pub use templates::{Templates, BUILTIN};

/// The kinds of email Gazette renders; each has an `.html` and a `.txt`
/// template. Stored as its `name()` (campaigns' `kind` column and the
/// prepared JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailKind {
    Post,
    Digest,
    Confirm,
    /// Sent once to a new reader after the confirmation.
    Welcome,
}

impl EmailKind {
    pub const ALL: [EmailKind; 4] = [
        EmailKind::Post,
        EmailKind::Digest,
        EmailKind::Confirm,
        EmailKind::Welcome,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EmailKind::Post => "post",
            EmailKind::Digest => "digest",
            EmailKind::Confirm => "confirm",
            EmailKind::Welcome => "welcome",
        }
    }

    /// Mail to subscribers (post, digest, welcome) carries List-* headers;
    /// confirm does not.
    pub fn is_campaign(self) -> bool {
        !matches!(self, EmailKind::Confirm)
    }
}

impl std::str::FromStr for EmailKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        EmailKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown email kind {s:?}"))
    }
}
