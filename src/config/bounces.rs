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
    allow_unverified_mailbox: Option<bool>,
    /// Read with `[send]` (`send::SendSafety::blocked_alert`).
    pub(super) blocked_alert: Option<String>,
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
    /// How `imap_url` is secured.
    pub imap_tls: ImapTls,
    /// `allow_unverified_mailbox = true`: a mailbox without VERP
    /// (`address`) is accepted, with a warning at every worker start.
    pub allow_unverified_mailbox: bool,
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
            imap_tls: ImapTls::Implicit,
            allow_unverified_mailbox: false,
            poll: Duration::from_secs(300),
            processed_folder: "Gazette/Processed".to_string(),
        }
    }
}

/// How the bounce mailbox's connection is secured (`imap_url`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapTls {
    /// `imap://`: in clear (loopback or `?insecure_auth=true` only).
    None,
    /// `imap://…?tls=required`: STARTTLS before logging in, or fail.
    Required,
    /// `imaps://`: TLS from the first byte.
    Implicit,
}

/// Validate the section. Errors are `(key, message)`.
pub(super) fn resolve(
    raw: RawBounces,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Bounces, (&'static str, String)> {
    let d = Bounces::default();
    let address = verp_address(raw.address)?;
    let soft_limit = raw.soft_limit.unwrap_or(d.policy.soft_limit);
    if soft_limit == 0 {
        return Err(("soft_limit", "must be at least 1".into()));
    }
    // Bounded: a window of 300,000 years made every recorded bounce panic
    // (the start of the window is before the first representable date).
    let dur = |key: &'static str, v: Option<String>, default: Duration, (min, max, range)| {
        let d = match v {
            None => default,
            Some(s) => parse_duration(&s).map_err(|m| (key, m))?,
        };
        if d < min || d > max {
            return Err((key, format!("must be between {range}")));
        }
        Ok(d)
    };
    const H: u64 = 3600;
    let soft_window = dur(
        "soft_window",
        raw.soft_window,
        d.policy.soft_window,
        (secs(H), secs(3650 * 24 * H), "1h and 3650d"),
    )?;
    let poll = dur(
        "poll",
        raw.poll,
        d.poll,
        (Duration::ZERO, secs(24 * H), "0s and 1d"),
    )?
    .max(Duration::from_millis(200));
    let imap_url = raw.imap_url.filter(|u| !u.trim().is_empty());
    let imap_password = env("GAZETTE_BOUNCES_PASSWORD");
    let allow_unverified_mailbox = raw.allow_unverified_mailbox.unwrap_or(false);
    let imap_tls = match &imap_url {
        None => d.imap_tls,
        Some(u) => check_imap_url(u).map_err(|m| ("imap_url", m))?,
    };
    if imap_url.is_some() && address.is_none() && !allow_unverified_mailbox {
        return Err((
            "imap_url",
            "is set without bounces.address: with no VERP address to check, anyone who can \
             mail this mailbox can bounce any subscriber; set [bounces] address, or \
             allow_unverified_mailbox = true to accept that"
                .into(),
        ));
    }
    let webhooks = webhooks(&env);
    Ok(Bounces {
        webhooks,
        policy: BouncePolicy {
            address,
            soft_limit,
            soft_window,
        },
        imap_url,
        imap_password,
        imap_tls,
        allow_unverified_mailbox,
        poll,
        processed_folder: raw
            .processed_folder
            .filter(|f| !f.trim().is_empty())
            .unwrap_or(d.processed_folder),
    })
}

/// `[bounces] address`: the VERP envelope sender base, if set.
fn verp_address(raw: Option<String>) -> Result<Option<lettre::Address>, (&'static str, String)> {
    let Some(a) = raw.filter(|a| !a.trim().is_empty()) else {
        return Ok(None);
    };
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
    Ok(Some(parsed))
}

/// The webhook secrets from the environment.
fn webhooks(env: &impl Fn(&str) -> Option<String>) -> WebhookSecrets {
    let postmark = match (
        env("GAZETTE_WEBHOOK_POSTMARK_USER"),
        env("GAZETTE_WEBHOOK_POSTMARK_PASSWORD"),
    ) {
        (Some(u), Some(p)) => Some((u, p)),
        _ => None,
    };
    WebhookSecrets {
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
    }
}

/// An imap:// or imaps:// URL with a host and no password, and how it is
/// secured. SMTP's rule: the password never crosses the network in clear,
/// unless the server is on this machine (loopback) or the URL says
/// `insecure_auth=true`. Errors never repeat a password.
fn check_imap_url(u: &str) -> Result<ImapTls, String> {
    let parsed = url::Url::parse(u).map_err(|e| format!("not a valid URL ({e})"))?;
    let mut shown = parsed.clone();
    let _ = shown.set_password(None);
    let host = parsed.host_str().filter(|h| !h.is_empty());
    let Some(host) = host.filter(|_| matches!(parsed.scheme(), "imap" | "imaps")) else {
        return Err(format!(
            "{shown} is not an imap:// or imaps:// URL with a host"
        ));
    };
    let bad = |m: &str| format!("{shown}: {m}");
    if parsed.password().is_some() {
        return Err(bad(
            "a password in the URL is not accepted (URLs end up in files, shell histories and process lists): use imaps://USER@host/INBOX and set GAZETTE_BOUNCES_PASSWORD",
        ));
    }
    let query = |key: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let tls = match (parsed.scheme(), query("tls").as_deref()) {
        ("imaps", _) => ImapTls::Implicit,
        (_, Some("required")) => ImapTls::Required,
        (_, None | Some("none")) => ImapTls::None,
        (_, Some(other)) => {
            return Err(bad(&format!("tls={other} (expected required or none)")));
        }
    };
    let insecure_ok =
        super::smtp_url::insecure_auth(query("insecure_auth").as_deref()).map_err(|m| bad(&m))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if tls == ImapTls::None && !super::is_loopback(host) && !insecure_ok {
        return Err(bad(&super::smtp_url::cleartext_refused("imaps")));
    }
    Ok(tls)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
