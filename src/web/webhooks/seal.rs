//! Freshness and single use of signed provider webhooks.
//!
//! Signed requests are fresh and used once: a signature whose timestamp
//! lies more than [`MAX_AGE`] from now either way is refused (401), and
//! each signature's nonce (Mailgun's token, SNS's `MessageId`, SendGrid's
//! signed timestamp and body) is remembered for the window, bound to a
//! digest of what was applied under it. The same request again (a
//! provider's retry) is applied again, which records each event once; the
//! same nonce with
//! another body (Mailgun signs only `timestamp` + `token`, so a captured
//! signature could carry any event) is refused with 401. Postmark signs
//! nothing: its basic-auth password over HTTPS is the whole proof, and its
//! event ids are recorded once.

use chrono::{DateTime, Utc};

use crate::store::webhooks::NonceUse;
use crate::store::Store;

/// How far a signature's timestamp may lie from now, in either direction.
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// What a provider's signature covers: when it was made, a nonce used
/// once, and a digest of the content applied under it.
pub struct Seal {
    pub signed_at: Option<DateTime<Utc>>,
    pub nonce: String,
    pub digest: String,
}

/// Why a correctly signed request is not applied.
pub enum Refusal {
    /// Stale, from the future, or its nonce used with other content.
    Unsigned(&'static str),
    /// The nonce could not be checked.
    Store(crate::error::Error),
}

/// A Unix time in seconds, as Mailgun and SendGrid sign it.
pub fn unix_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(s.trim().parse().ok()?, 0)
}

impl Seal {
    /// Admit the request once, while fresh (its nonce is then used).
    pub async fn admit(&self, store: &Store, provider: &str) -> Result<(), Refusal> {
        let now = Utc::now();
        let window = chrono::Duration::from_std(MAX_AGE).unwrap_or_default();
        match self.signed_at {
            Some(t) if (now - t).abs() <= window => {}
            Some(_) => {
                return Err(Refusal::Unsigned(
                    "signature timestamp more than 5 minutes from now",
                ))
            }
            None => return Err(Refusal::Unsigned("no valid signature timestamp")),
        }
        let used = store
            .use_webhook_nonce(provider, &self.nonce, &self.digest, now, MAX_AGE * 2)
            .await;
        match used.map_err(Refusal::Store)? {
            NonceUse::Fresh => Ok(()),
            // The same request again (a retry, perhaps of one that failed
            // half-way): applied again, which records each event once.
            NonceUse::Repeat => Ok(()),
            NonceUse::Conflict => Err(Refusal::Unsigned(
                "signature already used for another request (replayed)",
            )),
        }
    }
}
