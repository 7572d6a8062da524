//! Each person's data: everything kept about one address (GDPR article 15)
//! and its erasure (article 17). Deliveries keep their counts, not the
//! person.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::{email_hash, parse_ts, ts, Store, SubscriberRow};
use crate::audience::{Subscriber, SubscriberEmail};
use crate::error::Result;

/// Everything stored about one address.
#[derive(Debug)]
pub struct Person {
    pub subscriber: Subscriber,
    /// When the last confirmation email went out, and until when its link works.
    pub confirm_sent_at: Option<DateTime<Utc>>,
    pub confirm_expires_at: Option<DateTime<Utc>>,
    /// The subscribers row as stored, every column but the token secrets.
    pub stored: Map<String, Value>,
    pub deliveries: Vec<DeliveryRecord>,
    /// Rows of other tables that point at the subscriber (for instance a
    /// bounce log), by table name, as stored.
    pub linked: BTreeMap<String, Vec<Map<String, Value>>>,
    /// The address was erased once before (it came back through the web).
    pub erased_before: bool,
}

/// One campaign message to the person.
#[derive(Debug, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub campaign_id: i64,
    pub kind: String,
    pub subject: String,
    /// pending, sent, failed or skipped.
    pub status: String,
    pub attempts: i64,
    pub sent_at: Option<String>,
    pub message_id: Option<String>,
    /// The last SMTP reply (for a failure or a retry).
    pub last_reply: Option<String>,
    pub campaign_created_at: String,
}

/// Tables with a `subscriber_id` column other than deliveries (which keep
/// their counts and lose only the person).
async fn linked_tables<'e, E>(ex: E) -> Result<Vec<String>>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND p.name = 'subscriber_id'
           AND m.name NOT IN ('deliveries', 'subscribers') ORDER BY m.name",
    )
    .fetch_all(ex)
    .await?;
    // Names come from our own schema; quote them, and skip anything odd.
    Ok(names
        .into_iter()
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect())
}

fn row_to_json(row: &SqliteRow) -> Map<String, Value> {
    let mut out = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let v = match row.try_get_raw(i) {
            Ok(raw) if !raw.is_null() => match raw.type_info().name() {
                "INTEGER" => row.try_get::<i64, _>(i).map(Value::from),
                "REAL" => row.try_get::<f64, _>(i).map(Value::from),
                "BLOB" => row
                    .try_get::<Vec<u8>, _>(i)
                    .map(|b| Value::from(hex::encode(b))),
                _ => row.try_get::<String, _>(i).map(Value::from),
            }
            .unwrap_or(Value::Null),
            _ => Value::Null,
        };
        out.insert(col.name().to_string(), v);
    }
    out
}

impl Store {
    /// Everything kept about `email`, or `None` when it is not on the list.
    pub async fn person(&self, email: &SubscriberEmail) -> Result<Option<Person>> {
        let row: Option<SubscriberRow> = sqlx::query_as(concat!(
            "SELECT ",
            subscriber_columns!(),
            " FROM subscribers WHERE email_key = ?1"
        ))
        .bind(email.key())
        .fetch_optional(self.lite())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id = row.id;
        let confirm = sqlx::query("SELECT * FROM subscribers WHERE id = ?1")
            .bind(id)
            .fetch_one(self.lite())
            .await?;
        // Every column as stored (new ones included), but the secrets.
        let mut stored = row_to_json(&confirm);
        for secret in ["unsub_verifier", "confirm_hash"] {
            stored.remove(secret);
        }
        let time = |c: &str| -> Result<Option<DateTime<Utc>>> {
            let s: Option<String> = confirm.try_get(c)?;
            Ok(s.as_deref().and_then(parse_ts))
        };
        let (confirm_sent_at, confirm_expires_at) =
            (time("confirm_sent_at")?, time("confirm_expires_at")?);
        let deliveries: Vec<DeliveryRecord> = sqlx::query_as(
            "SELECT d.campaign_id, c.kind, c.subject, d.status, d.attempts, d.sent_at,
                    d.message_id, d.last_reply, c.created_at AS campaign_created_at
             FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
             WHERE d.subscriber_id = ?1 ORDER BY d.campaign_id, d.id",
        )
        .bind(id)
        .fetch_all(self.lite())
        .await?;
        let mut linked = BTreeMap::new();
        for table in linked_tables(self.lite()).await? {
            let sql = format!("SELECT * FROM \"{table}\" WHERE subscriber_id = ?1");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_all(self.lite())
                .await?;
            linked.insert(table, rows.iter().map(row_to_json).collect());
        }
        let erased_before = self.is_suppressed(email).await?;
        Ok(Some(Person {
            subscriber: row.into_domain(),
            confirm_sent_at,
            confirm_expires_at,
            stored,
            deliveries,
            linked,
            erased_before,
        }))
    }

    /// Erase the personal data of an address: its row, every row of other
    /// tables that points at it, and the person in its deliveries (which
    /// keep campaign, status and times for the counts, but lose the link,
    /// the Message-ID and the server's reply, which may quote the address).
    /// A hash of the address is kept so that no import or operator can
    /// re-add it. Returns false when the address was not on the list.
    pub async fn erase(&self, email: &SubscriberEmail, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.lite().begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM subscribers WHERE email_key = ?1")
            .bind(email.key())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(id) = id {
            sqlx::query(
                "UPDATE deliveries SET subscriber_id = NULL, message_id = NULL, last_reply = NULL,
                 next_attempt_at = NULL,
                 status = CASE WHEN status = 'pending' THEN 'skipped' ELSE status END
                 WHERE subscriber_id = ?1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            for table in linked_tables(&mut *tx).await? {
                let sql = format!("DELETE FROM \"{table}\" WHERE subscriber_id = ?1");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM subscribers WHERE id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            // A running campaign's opt-out poll sees the erasure here.
            sqlx::query(
                "INSERT INTO erased_ids (row_id, erased_at) VALUES (?1, ?2)
                 ON CONFLICT (row_id) DO UPDATE SET erased_at = excluded.erased_at",
            )
            .bind(id)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM erased_ids WHERE erased_at < ?1")
                .bind(ts(now - chrono::Duration::days(1)))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?1, 'removed', ?2)
             ON CONFLICT (email_hash) DO NOTHING",
        )
        .bind(email_hash(email))
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // Old copies of the pages live on in the WAL until a checkpoint.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(self.lite())
            .await?;
        Ok(id.is_some())
    }
}
