//! The one-time rewrite of migration 0050: subscribers stored with a
//! Unicode domain get the ASCII (punycode) form in `email` and
//! `email_key`, as `SubscriberEmail::parse` now gives.

use sqlx::{Sqlite, SqlitePool};

use super::db::BeginWrite;

use crate::audience::SubscriberEmail;
use crate::error::Result;

/// Rewrite the rows once, if migration 0050 (or 0086, for the duplicates
/// an earlier rewrite left) marked it due. Where the same mailbox is also
/// stored under its ASCII form (added again after the first opted out),
/// the Unicode row is merged into the ASCII one (`merge`). One `IMMEDIATE`
/// transaction: it reads, then writes, and must wait for another writer
/// rather than fail at once.
pub(super) async fn rekey_once(pool: &SqlitePool) -> Result<()> {
    let due: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idn_rekey_due")
        .fetch_one(pool)
        .await?;
    if due == 0 {
        return Ok(());
    }
    let mut tx = pool.begin_write().await?;
    // Keys with a character outside printable ASCII after the `@`.
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, email, email_key FROM subscribers WHERE email_key GLOB '*@*[^ -~]*'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (id, email, key) in rows {
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
            Some(other) => merge(&mut tx, id, other).await?,
        }
    }
    sqlx::query("DELETE FROM idn_rekey_due")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Merge row `from` (a Unicode spelling) into row `into` (the ASCII one of
/// the same mailbox), so that both spellings name one row and an opt-out or
/// erasure reaches the person whichever spelling it names. The status: an
/// opt-out (unsubscribed, bounced, complained) of either wins, then a
/// confirmation of either. `from`'s unsubscribe links keep working
/// (`subscriber_aliases`); its deliveries and bounces move to `into` (a
/// campaign both rows were in keeps `into`'s delivery, `from`'s loses its
/// subscriber, so a pending one is skipped: nobody gets a campaign twice).
/// Nothing else is lost: `into`'s name, preferences and attributes win
/// where both have them, `from`'s fill the gaps; the earlier creation and
/// a welcome of either are kept (nobody is welcomed twice).
async fn merge(tx: &mut sqlx::Transaction<'static, Sqlite>, from: i64, into: i64) -> Result<()> {
    const LEFT: &str = "('unsubscribed', 'bounced', 'complained')";
    let statements = [
        format!(
            "UPDATE subscribers SET
                 status = CASE WHEN subscribers.status IN {LEFT} THEN subscribers.status
                     WHEN f.status IN {LEFT} THEN f.status
                     WHEN 'active' IN (subscribers.status, f.status) THEN 'active'
                     ELSE subscribers.status END,
                 unsubscribed_at = CASE WHEN subscribers.status IN {LEFT} THEN subscribers.unsubscribed_at
                     WHEN f.status IN {LEFT} THEN f.unsubscribed_at
                     ELSE subscribers.unsubscribed_at END,
                 confirmed_at = COALESCE(subscribers.confirmed_at, f.confirmed_at),
                 name = COALESCE(subscribers.name, f.name),
                 attributes = json_patch(f.attributes, subscribers.attributes),
                 created_at = MIN(subscribers.created_at, f.created_at),
                 welcomed_at = COALESCE(subscribers.welcomed_at, f.welcomed_at),
                 frequency = COALESCE(subscribers.frequency, f.frequency),
                 topics = COALESCE(subscribers.topics, f.topics)
             FROM (SELECT status, unsubscribed_at, confirmed_at, name, attributes, created_at,
                          welcomed_at, frequency, topics
                   FROM subscribers WHERE id = ?1) AS f
             WHERE subscribers.id = ?2"
        ),
        "UPDATE subscribers SET confirm_hash = NULL, confirm_expires_at = NULL
         WHERE id = ?2 AND status <> 'pending'"
            .to_string(),
        "INSERT INTO subscriber_aliases (selector, unsub_verifier, subscriber_id)
         SELECT selector, unsub_verifier, ?2 FROM subscribers WHERE id = ?1 AND selector IS NOT NULL"
            .to_string(),
        "UPDATE subscriber_aliases SET subscriber_id = ?2 WHERE subscriber_id = ?1".to_string(),
        "UPDATE deliveries SET subscriber_id = ?2 WHERE subscriber_id = ?1
         AND campaign_id NOT IN (SELECT campaign_id FROM deliveries WHERE subscriber_id = ?2)"
            .to_string(),
        "UPDATE bounces SET subscriber_id = ?2 WHERE subscriber_id = ?1".to_string(),
        "DELETE FROM subscribers WHERE id = ?1".to_string(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(into)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
