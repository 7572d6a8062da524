//! Sign-up tokens (SQL only): the server's signing key, kept in
//! `worker_state` so that every process of a fleet signs and checks with
//! the same one, and the nonces of tokens used (each proceeds once).

use chrono::{DateTime, Utc};

use super::db::{db, Ts};
use super::Store;
use crate::error::Result;

/// The `worker_state` key of the sign-up tokens' HMAC key.
pub const SIGNUP_KEY: &str = "signup_key";

impl Store {
    /// The signing key, made by `generate` the first time (the first
    /// process to store it wins; the others read the same one back).
    pub async fn signup_key(&self, generate: impl FnOnce() -> String) -> Result<String> {
        if let Some(k) = self.state(SIGNUP_KEY).await? {
            return Ok(k);
        }
        self.state_init(SIGNUP_KEY, &generate()).await
    }

    /// Use a token's `nonce` at `now`: true the first time, false when it
    /// was used before. Nonces used before `now - keep` (their tokens
    /// have expired) are forgotten first.
    pub async fn use_signup_token(
        &self,
        nonce: &str,
        now: DateTime<Utc>,
        keep: std::time::Duration,
    ) -> Result<bool> {
        let before = now - chrono::Duration::from_std(keep).unwrap_or_default();
        let inserted = db!(&self.pool, p, pg => {
            sqlx::query("DELETE FROM signup_tokens WHERE used_at < $1")
                .bind(Ts(before))
                .execute(p)
                .await?;
            sqlx::query(
                "INSERT INTO signup_tokens (nonce, used_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
            )
            .bind(nonce)
            .bind(Ts(now))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(inserted == 1)
    }
}
