//! The `[bounces]` section of gazette.toml.

use std::time::Duration;

use serde::Deserialize;

use crate::util::time::parse_duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBounces {
    address: Option<String>,
    soft_limit: Option<u32>,
    soft_window: Option<String>,
    imap_url: Option<String>,
    poll: Option<String>,
    processed_folder: Option<String>,
}

/// What bounces do to subscribers, shared by every path that records one.
#[derive(Debug, Clone)]
pub struct BouncePolicy {
    /// VERP envelope sender base (`bounces@example.com`); `None` keeps the
    /// From address as the envelope sender.
    pub address: Option<lettre::Address>,
    /// Soft bounces within `soft_window` that make a subscriber `bounced`.
    pub soft_limit: u32,
    pub soft_window: Duration,
}

impl Default for BouncePolicy {
    fn default() -> Self {
        BouncePolicy {
            address: None,
            soft_limit: 3,
            soft_window: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Provider webhook secrets, all from the environment (GAZETTE_WEBHOOK_*).
/// A provider whose secret is unset has no endpoint (404).
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    /// GAZETTE_WEBHOOK_POSTMARK_USER / GAZETTE_WEBHOOK_POSTMARK_PASSWORD:
    /// the basic-auth credentials set in Postmark's webhook URL.
    pub postmark: Option<(String, String)>,
    /// GAZETTE_WEBHOOK_MAILGUN_KEY: Mailgun's HTTP webhook signing key.
    pub mailgun_key: Option<String>,
    /// GAZETTE_WEBHOOK_SENDGRID_KEY: the signed event webhook's
    /// verification key (base64 of the DER public key, as SendGrid shows it).
    pub sendgrid_key: Option<String>,
    /// GAZETTE_WEBHOOK_SES_TOPIC: the SNS topic ARN(s) accepted (comma-separated).
    pub ses_topics: Vec<String>,
    /// GAZETTE_WEBHOOK_SES_CERT: a PEM certificate used to verify SNS
    /// signatures instead of downloading SigningCertURL (tests, pinning);
    /// with it, a loopback http:// SubscribeURL is accepted.
    pub ses_cert: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("postmark", &self.postmark.is_some())
            .field("mailgun", &self.mailgun_key.is_some())
            .field("sendgrid", &self.sendgrid_key.is_some())
            .field("ses_topics", &self.ses_topics)
            .field("ses_cert", &self.ses_cert)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Bounces {
    pub policy: BouncePolicy,
    pub webhooks: WebhookSecrets,
    /// `imaps://user@host/INBOX`; the password is GAZETTE_BOUNCES_PASSWORD.
    pub imap_url: Option<String>,
    pub imap_password: Option<String>,
    pub poll: Duration,
    pub processed_folder: String,
}

impl Default for Bounces {
    fn default() -> Self {
        Bounces {
            policy: BouncePolicy::default(),
            webhooks: WebhookSecrets::default(),
            imap_url: None,
            imap_password: None,
            poll: Duration::from_secs(300),
            processed_folder: "Gazette/Processed".to_string(),
        }
    }
}

/// Validate the section. Errors are `(key, message)`.
pub(super) fn resolve(
    raw: RawBounces,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Bounces, (&'static str, String)> {
    let d = Bounces::default();
    let address = match raw.address.filter(|a| !a.trim().is_empty()) {
        None => None,
        Some(a) => {
            let parsed: lettre::Address = a
                .trim()
                .parse()
                .map_err(|_| ("address", format!("{a:?} is not an email address")))?;
            if parsed.user().contains('+') {
                return Err((
                    "address",
                    format!("{a:?} must not contain '+' (VERP adds +id)"),
                ));
            }
            Some(parsed)
        }
    };
    let soft_limit = raw.soft_limit.unwrap_or(d.policy.soft_limit);
    if soft_limit == 0 {
        return Err(("soft_limit", "must be at least 1".into()));
    }
    let dur = |key: &'static str, v: Option<String>, default: Duration| match v {
        None => Ok(default),
        Some(s) => parse_duration(&s).map_err(|m| (key, m)),
    };
    let soft_window = dur("soft_window", raw.soft_window, d.policy.soft_window)?;
    let poll = dur("poll", raw.poll, d.poll)?.max(Duration::from_millis(200));
    let imap_url = raw.imap_url.filter(|u| !u.trim().is_empty());
    if let Some(u) = &imap_url {
        check_imap_url(u).map_err(|m| ("imap_url", m))?;
    }
    let postmark = match (
        env("GAZETTE_WEBHOOK_POSTMARK_USER"),
        env("GAZETTE_WEBHOOK_POSTMARK_PASSWORD"),
    ) {
        (Some(u), Some(p)) => Some((u, p)),
        _ => None,
    };
    let webhooks = WebhookSecrets {
        postmark,
        mailgun_key: env("GAZETTE_WEBHOOK_MAILGUN_KEY"),
        sendgrid_key: env("GAZETTE_WEBHOOK_SENDGRID_KEY"),
        ses_topics: env("GAZETTE_WEBHOOK_SES_TOPIC")
            .map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        ses_cert: env("GAZETTE_WEBHOOK_SES_CERT").map(std::path::PathBuf::from),
    };
    Ok(Bounces {
        webhooks,
        policy: BouncePolicy {
            address,
            soft_limit,
            soft_window,
        },
        imap_url,
        imap_password: env("GAZETTE_BOUNCES_PASSWORD"),
        poll,
        processed_folder: raw
            .processed_folder
            .filter(|f| !f.trim().is_empty())
            .unwrap_or(d.processed_folder),
    })
}

/// An imap:// or imaps:// URL with a host; errors never repeat a password.
fn check_imap_url(u: &str) -> Result<(), String> {
    let parsed = url::Url::parse(u).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "imap" | "imaps") || parsed.host_str().is_none() {
        let mut shown = parsed.clone();
        let _ = shown.set_password(None);
        return Err(format!(
            "{shown} is not an imap:// or imaps:// URL with a host"
        ));
    }
    Ok(())
}
