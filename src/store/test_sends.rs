//! Test sends as their links find them: the email's page and the address
//! it went to, under the hash of the token the links carry.

use chrono::{DateTime, Duration, Utc};

use super::db::{db, Ts};
use super::{key_hash, Store};
use crate::error::Result;

/// How long a test send's links work.
pub const TEST_SEND_DAYS: i64 = 30;

/// A test send as recorded.
#[derive(Debug, Clone)]
pub struct TestSend {
    pub email: String,
    pub subject: String,
    /// The email as a web page (`Prepared::public_html`).
    pub html: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Record a test send under `token` (kept as its hash); forget those
    /// older than [`TEST_SEND_DAYS`].
    pub async fn record_test_send(
        &self,
        token: &str,
        email: &str,
        subject: &str,
        html: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let old = now - Duration::days(TEST_SEND_DAYS);
        db!(&self.pool, p, pg => {
            sqlx::query("DELETE FROM test_sends WHERE created_at < $1")
                .bind(Ts(old))
                .execute(p)
                .await?;
            sqlx::query(
                "INSERT INTO test_sends (token_hash, email, subject, html, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(key_hash(token))
            .bind(email)
            .bind(subject)
            .bind(html)
            .bind(Ts(now))
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The test send whose links carry `token`, if recorded and not older
    /// than [`TEST_SEND_DAYS`] at `now`.
    pub async fn test_send(&self, token: &str, now: DateTime<Utc>) -> Result<Option<TestSend>> {
        let old = now - Duration::days(TEST_SEND_DAYS);
        let row: Option<(String, String, String, Ts)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT email, subject, html, created_at FROM test_sends
                 WHERE token_hash = $1 AND created_at >= $2",
            )
            .bind(key_hash(token))
            .bind(Ts(old))
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|(email, subject, html, t)| TestSend {
            email,
            subject,
            html,
            created_at: t.0,
        }))
    }
}
