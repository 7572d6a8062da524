//! Nonces of signed provider webhooks: each signature is used once.

use super::db::{db, Ts};
use super::Store;
use crate::error::Result;
use chrono::{DateTime, Utc};

/// What using a webhook's nonce found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceUse {
    /// First use: go on and apply the request.
    Fresh,
    /// Seen before with the same content: the same request again (a
    /// provider's retry); applied again, its events are recorded once.
    Repeat,
    /// Seen before with other content: a captured signature replayed
    /// with a body of someone's choosing.
    Conflict,
}

impl Store {
    /// Use `nonce` of `provider` for content `digest` at `now`; nonces
    /// first seen before `now - keep` are forgotten first (their
    /// timestamps are out of the freshness window by then).
    pub async fn use_webhook_nonce(
        &self,
        provider: &str,
        nonce: &str,
        digest: &str,
        now: DateTime<Utc>,
        keep: std::time::Duration,
    ) -> Result<NonceUse> {
        let before = now - chrono::Duration::from_std(keep).unwrap_or_default();
        db!(&self.pool, p, pg => {
            sqlx::query("DELETE FROM webhook_nonces WHERE seen_at < $1")
                .bind(Ts(before))
                .execute(p)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO webhook_nonces (provider, nonce, digest, seen_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (provider, nonce) DO NOTHING",
            )
            .bind(provider)
            .bind(nonce)
            .bind(digest)
            .bind(Ts(now))
            .execute(p)
            .await?
            .rows_affected();
            if inserted > 0 {
                return Ok(NonceUse::Fresh);
            }
            let seen: Option<String> = sqlx::query_scalar(
                "SELECT digest FROM webhook_nonces WHERE provider = $1 AND nonce = $2",
            )
            .bind(provider)
            .bind(nonce)
            .fetch_optional(p)
            .await?;
            Ok(match seen {
                Some(d) if d == digest => NonceUse::Repeat,
                Some(_) => NonceUse::Conflict,
                // Forgotten between the two statements: seen long ago.
                None => NonceUse::Conflict,
            })
        })
    }
}
