//! Each person's data: everything kept about one address (GDPR article 15)
//! and its erasure (article 17). Deliveries keep their counts, not the
//! person.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::db::{db, BeginWrite};
use super::{email_hash, ts, JsonText, Store, SubscriberRow, Ts};
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

/// One delivery as stored (times as `Ts` on either backend).
#[derive(sqlx::FromRow)]
struct DeliveryRow {
    campaign_id: i64,
    kind: String,
    subject: String,
    status: String,
    attempts: i64,
    sent_at: Option<Ts>,
    message_id: Option<String>,
    last_reply: Option<String>,
    campaign_created_at: Ts,
}

impl DeliveryRow {
    fn into_record(self) -> DeliveryRecord {
        DeliveryRecord {
            campaign_id: self.campaign_id,
            kind: self.kind,
            subject: self.subject,
            status: self.status,
            attempts: self.attempts,
            sent_at: self.sent_at.map(|t| ts(t.0)),
            message_id: self.message_id,
            last_reply: self.last_reply,
            campaign_created_at: ts(self.campaign_created_at.0),
        }
    }
}

/// Names come from our own schema; they are quoted, and anything odd is
/// skipped.
fn plain_names(names: Vec<String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// A row as a JSON object, each column as stored, times and JSON
/// documents as the text SQLite keeps (the same on both backends).
trait RowJson {
    fn to_json(&self) -> Map<String, Value>;
}

impl RowJson for SqliteRow {
    fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (i, col) in self.columns().iter().enumerate() {
            let v = match self.try_get_raw(i) {
                Ok(raw) if !raw.is_null() => match raw.type_info().name() {
                    "INTEGER" => self.try_get::<i64, _>(i).map(Value::from),
                    "REAL" => self.try_get::<f64, _>(i).map(Value::from),
                    "BLOB" => self
                        .try_get::<Vec<u8>, _>(i)
                        .map(|b| Value::from(hex::encode(b))),
                    _ => self.try_get::<String, _>(i).map(Value::from),
                }
                .unwrap_or(Value::Null),
                _ => Value::Null,
            };
            out.insert(col.name().to_string(), v);
        }
        out
    }
}

impl RowJson for PgRow {
    fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (i, col) in self.columns().iter().enumerate() {
            let v = match self.try_get_raw(i) {
                Ok(raw) if !raw.is_null() => match raw.type_info().name() {
                    "INT8" => self.try_get::<i64, _>(i).map(Value::from),
                    "INT4" => self.try_get::<i32, _>(i).map(Value::from),
                    "INT2" => self.try_get::<i16, _>(i).map(Value::from),
                    "BOOL" => self.try_get::<bool, _>(i).map(Value::from),
                    "FLOAT8" => self.try_get::<f64, _>(i).map(Value::from),
                    "FLOAT4" => self.try_get::<f32, _>(i).map(Value::from),
                    "BYTEA" => self
                        .try_get::<Vec<u8>, _>(i)
                        .map(|b| Value::from(hex::encode(b))),
                    "TIMESTAMPTZ" => self.try_get::<Ts, _>(i).map(|t| Value::from(ts(t.0))),
                    "JSONB" | "JSON" => self.try_get::<JsonText, _>(i).map(|j| Value::from(j.0)),
                    _ => self.try_get::<String, _>(i).map(Value::from),
                }
                .unwrap_or(Value::Null),
                _ => Value::Null,
            };
            out.insert(col.name().to_string(), v);
        }
        out
    }
}

/// A linked row as shown: without its secret verifier, if it has one.
fn hide_verifier(mut row: Map<String, Value>) -> Map<String, Value> {
    row.remove("unsub_verifier");
    row
}

impl Store {
    /// Everything kept about `email`, or `None` when it is not on the list.
    pub async fn person(&self, email: &SubscriberEmail) -> Result<Option<Person>> {
        type Found = (
            SubscriberRow,
            Map<String, Value>,
            (Option<Ts>, Option<Ts>),
            Vec<DeliveryRow>,
            BTreeMap<String, Vec<Map<String, Value>>>,
        );
        let found: Option<Found> = db!(&self.pool, p, d => 'found: {
            let row: Option<SubscriberRow> = sqlx::query_as(concat!(
                "SELECT ",
                subscriber_columns!(),
                " FROM subscribers WHERE email_key = $1"
            ))
            .bind(email.key())
            .fetch_optional(p)
            .await?;
            let Some(row) = row else {
                break 'found None;
            };
            let id = row.id;
            let all = sqlx::query("SELECT * FROM subscribers WHERE id = $1")
                .bind(id)
                .fetch_one(p)
                .await?;
            // Every column as stored (new ones included), but the secrets.
            let mut stored = all.to_json();
            for secret in ["unsub_verifier", "confirm_hash"] {
                stored.remove(secret);
            }
            let times = (
                all.try_get::<Option<Ts>, _>("confirm_sent_at")?,
                all.try_get::<Option<Ts>, _>("confirm_expires_at")?,
            );
            let deliveries: Vec<DeliveryRow> = sqlx::query_as(
                "SELECT d.campaign_id, c.kind, c.subject, d.status, d.attempts, d.sent_at,
                        d.message_id, d.last_reply, c.created_at AS campaign_created_at
                 FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
                 WHERE d.subscriber_id = $1 ORDER BY d.campaign_id, d.id",
            )
            .bind(id)
            .fetch_all(p)
            .await?;
            let tables: Vec<String> = sqlx::query_scalar(d.linked_tables())
                .fetch_all(p)
                .await?;
            let mut linked = BTreeMap::new();
            for table in plain_names(tables) {
                let sql = format!("SELECT * FROM \"{table}\" WHERE subscriber_id = $1 ORDER BY 1");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_all(p)
                    .await?;
                // A merged row's link (`subscriber_aliases`) is a token:
                // shown by its selector only, as the row's own is not shown.
                let shown = rows.iter().map(|r| hide_verifier(r.to_json())).collect();
                linked.insert(table, shown);
            }
            Some((row, stored, times, deliveries, linked))
        });
        let Some((row, stored, (sent, expires), deliveries, linked)) = found else {
            return Ok(None);
        };
        let erased_before = self.is_suppressed(email).await?;
        Ok(Some(Person {
            subscriber: row.into_domain(),
            confirm_sent_at: sent.map(|t| t.0),
            confirm_expires_at: expires.map(|t| t.0),
            stored,
            deliveries: deliveries
                .into_iter()
                .map(DeliveryRow::into_record)
                .collect(),
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
        let id: Option<i64> = db!(&self.pool, p, d => {
            let mut tx = p.begin_write().await?;
            let id: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM subscribers WHERE email_key = $1{}",
                d.for_update()
            )))
            .bind(email.key())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = id {
                sqlx::query(
                    "UPDATE deliveries SET subscriber_id = NULL, message_id = NULL, last_reply = NULL,
                     next_attempt_at = NULL,
                     status = CASE WHEN status = 'pending' THEN 'skipped' ELSE status END
                     WHERE subscriber_id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let tables: Vec<String> =
                    sqlx::query_scalar(d.linked_tables())
                        .fetch_all(&mut *tx)
                        .await?;
                for table in plain_names(tables) {
                    let sql = format!("DELETE FROM \"{table}\" WHERE subscriber_id = $1");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM subscribers WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                // A running campaign's opt-out poll sees the erasure here.
                sqlx::query(
                    "INSERT INTO erased_ids (row_id, erased_at) VALUES ($1, $2)
                     ON CONFLICT (row_id) DO UPDATE SET erased_at = excluded.erased_at",
                )
                .bind(id)
                .bind(Ts(now))
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM erased_ids WHERE erased_at < $1")
                    .bind(Ts(now - chrono::Duration::days(1)))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO suppressions (email_hash, reason, created_at) VALUES ($1, 'removed', $2)
                 ON CONFLICT (email_hash) DO NOTHING",
            )
            .bind(email_hash(email))
            .bind(Ts(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            if !d.is_postgres() {
                // Old copies of the pages live on in the WAL until a checkpoint.
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(p)
                    .await?;
            }
            id
        });
        Ok(id.is_some())
    }
}
