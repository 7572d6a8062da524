//! The one-time rewrite of migration 0050: subscribers stored with a
//! Unicode domain get the ASCII (punycode) form in `email` and
//! `email_key`, as `SubscriberEmail::parse` now gives.

use sqlx::SqlitePool;

use super::db::BeginWrite;

use crate::audience::SubscriberEmail;
use crate::error::Result;

/// Rewrite the rows once, if migration 0050 marked it due. Where the same
/// mailbox is also stored under its ASCII form (added again after the
/// first opted out), the Unicode row keeps its key and an opt-out of it
/// carries over to the ASCII row: nobody who left gets mail.
pub(super) async fn rekey_once(pool: &SqlitePool) -> Result<()> {
    let due: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idn_rekey_due")
        .fetch_one(pool)
        .await?;
    if due == 0 {
        return Ok(());
    }
    let mut tx = pool.begin_write().await?;
    // Keys with a character outside printable ASCII after the `@`.
    let rows: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, email, email_key, status, unsubscribed_at FROM subscribers
         WHERE email_key GLOB '*@*[^ -~]*'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (id, email, key, status, unsubscribed_at) in rows {
        let Ok(new) = SubscriberEmail::parse(&email) else {
            continue;
        };
        if new.key() == key {
            continue;
        }
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM subscribers WHERE email_key = ?1")
                .bind(new.key())
                .fetch_optional(&mut *tx)
                .await?;
        match taken {
            None => {
                sqlx::query("UPDATE subscribers SET email = ?2, email_key = ?3 WHERE id = ?1")
                    .bind(id)
                    .bind(new.as_str())
                    .bind(new.key())
                    .execute(&mut *tx)
                    .await?;
            }
            Some(other) if matches!(status.as_str(), "unsubscribed" | "bounced" | "complained") => {
                sqlx::query(
                    "UPDATE subscribers SET status = ?2,
                     unsubscribed_at = COALESCE(unsubscribed_at, ?3)
                     WHERE id = ?1 AND status NOT IN ('unsubscribed', 'bounced', 'complained')",
                )
                .bind(other)
                .bind(&status)
                .bind(unsubscribed_at)
                .execute(&mut *tx)
                .await?;
            }
            Some(_) => {}
        }
    }
    sqlx::query("DELETE FROM idn_rekey_due")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
