//! The only code that speaks SQL. A narrow API over SQLite (WAL, busy
//! timeout, foreign keys); a PostgreSQL backend can replace the internals
//! without touching callers.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

pub mod campaigns;
pub mod claims;
pub mod worker;

pub use import::{Import, ImportRow, ImportStats, IMPORT_BATCH};

use crate::audience::{tokens, Source, Status, Subscriber, SubscriberEmail};
use crate::error::{Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Timestamps are stored as fixed-width RFC 3339 text so that they sort.
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[derive(Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
}

#[derive(sqlx::FromRow)]
struct SubscriberRow {
    id: i64,
    email: String,
    name: Option<String>,
    status: String,
    source: String,
    attributes: String,
    created_at: String,
    confirmed_at: Option<String>,
    unsubscribed_at: Option<String>,
    unsub_verifier: String,
}

macro_rules! subscriber_columns {
    () => {
        "id, email, name, status, source, attributes, created_at, \
         confirmed_at, unsubscribed_at, unsub_verifier"
    };
}

// After the macro above, so that they can use it.
pub mod import;
pub mod people;

impl SubscriberRow {
    fn into_domain(self) -> Subscriber {
        Subscriber {
            id: self.id,
            email: self.email,
            name: self.name,
            status: Status::from_str(&self.status).unwrap_or(Status::Pending),
            source: self.source,
            attributes: serde_json::from_str(&self.attributes)
                .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
            created_at: parse_ts(&self.created_at).unwrap_or_default(),
            confirmed_at: self.confirmed_at.as_deref().and_then(parse_ts),
            unsubscribed_at: self.unsubscribed_at.as_deref().and_then(parse_ts),
            unsub_token: tokens::token(self.id, &self.unsub_verifier),
        }
    }
}

/// What adding an address did.
#[derive(Debug)]
pub enum Added {
    Created(Subscriber),
    Existing(Subscriber),
}

impl Added {
    pub fn subscriber(&self) -> &Subscriber {
        match self {
            Added::Created(s) | Added::Existing(s) => s,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Confirmed {
    /// The subscriber is now active.
    Activated(String),
    Expired,
    Unknown,
}

fn email_hash(email: &SubscriberEmail) -> String {
    key_hash(&email.key())
}

/// The suppression-list hash of an address's key (its lowercase form).
pub(crate) fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Store {
    /// Open (creating the file if needed) and migrate.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Open without migrating.
    pub async fn connect(url: &str) -> Result<Store> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::msg(format!("database URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // Erased subscribers leave no trace in free pages.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(opts)
            .await
            .map_err(|e| Error::msg(format!("opening database {url}: {e}")))?;
        Ok(Store { pool })
    }

    /// Apply pending migrations; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize> {
        let before = self.applied_migrations().await.unwrap_or(0);
        MIGRATOR.run(&self.pool).await?;
        let after = self.applied_migrations().await.unwrap_or(0);
        Ok(after.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> Result<usize> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as usize)
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn get(&self, email: &SubscriberEmail) -> Result<Option<Subscriber>> {
        let row: Option<SubscriberRow> = sqlx::query_as(concat!(
            "SELECT ",
            subscriber_columns!(),
            " FROM subscribers WHERE email_key = ?1"
        ))
        .bind(email.key())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(SubscriberRow::into_domain))
    }

    pub async fn is_suppressed(&self, email: &SubscriberEmail) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM suppressions WHERE email_hash = ?1")
            .bind(email_hash(email))
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Add an address, or return the existing row (whose status is kept;
    /// a missing name is filled in). `active` adds it confirmed.
    pub async fn add(
        &self,
        email: &SubscriberEmail,
        name: Option<&str>,
        active: bool,
        source: Source,
        now: DateTime<Utc>,
    ) -> Result<Added> {
        let verifier = tokens::verifier();
        let status = if active {
            Status::Active
        } else {
            Status::Pending
        };
        let now_s = ts(now);
        let row: SubscriberRow = sqlx::query_as(concat!(
            "INSERT INTO subscribers (email, email_key, name, status, source, created_at, confirmed_at, unsub_verifier)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (email_key) DO UPDATE SET name = COALESCE(subscribers.name, excluded.name)
             RETURNING ",
            subscriber_columns!()
        ))
        .bind(email.as_str())
        .bind(email.key())
        .bind(name)
        .bind(status.as_str())
        .bind(source.as_str())
        .bind(&now_s)
        .bind(active.then(|| now_s.clone()))
        .bind(&verifier)
        .fetch_one(&self.pool)
        .await?;
        let created = row.unsub_verifier == verifier;
        let s = row.into_domain();
        if created {
            Ok(Added::Created(s))
        } else {
            Ok(Added::Existing(s))
        }
    }

    /// Make a pending (or opted-out) subscriber active without a
    /// confirmation email: an explicit operator decision.
    pub async fn activate(
        &self,
        id: i64,
        email: &SubscriberEmail,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE subscribers SET status = 'active', confirmed_at = ?2, unsubscribed_at = NULL,
             confirm_hash = NULL, confirm_expires_at = NULL WHERE id = ?1",
        )
        .bind(id)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM suppressions WHERE email_hash = ?1")
            .bind(email_hash(email))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claim the right to send a confirmation email: store a fresh token
    /// unless one was sent less than `min_interval` ago or the subscriber is
    /// already active. Returns the token to put in the link.
    pub async fn claim_confirmation(
        &self,
        id: i64,
        now: DateTime<Utc>,
        ttl: Duration,
        min_interval: Duration,
    ) -> Result<Option<String>> {
        let verifier = tokens::verifier();
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7));
        let threshold = now - chrono::Duration::from_std(min_interval).unwrap_or_default();
        let done = sqlx::query(
            "UPDATE subscribers SET confirm_hash = ?2, confirm_expires_at = ?3, confirm_sent_at = ?4
             WHERE id = ?1 AND status <> 'active' AND (confirm_sent_at IS NULL OR confirm_sent_at <= ?5)",
        )
        .bind(id)
        .bind(tokens::hash(&verifier))
        .bind(ts(expires))
        .bind(ts(now))
        .bind(ts(threshold))
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then(|| tokens::token(id, &verifier)))
    }

    /// The confirmation email could not be sent: allow a new one at once.
    pub async fn release_confirmation(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE subscribers SET confirm_sent_at = NULL WHERE id = ?1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Confirm a double opt-in token.
    pub async fn confirm(&self, token: &str, now: DateTime<Utc>) -> Result<Confirmed> {
        let Some((id, verifier)) = tokens::split(token) else {
            return Ok(Confirmed::Unknown);
        };
        let row = sqlx::query(
            "SELECT email, confirm_hash, confirm_expires_at FROM subscribers WHERE id = ?1 AND confirm_hash IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(Confirmed::Unknown);
        };
        let hash: String = row.try_get("confirm_hash")?;
        if !tokens::verify(verifier, &hash) {
            return Ok(Confirmed::Unknown);
        }
        let expires: String = row.try_get("confirm_expires_at")?;
        if parse_ts(&expires).is_none_or(|e| e <= now) {
            return Ok(Confirmed::Expired);
        }
        let email: String = row.try_get("email")?;
        let parsed = SubscriberEmail::parse(&email).map_err(Error::msg)?;
        self.activate(id, &parsed, now).await?;
        Ok(Confirmed::Activated(email))
    }

    /// The subscriber an unsubscribe token belongs to.
    pub async fn by_unsubscribe_token(&self, token: &str) -> Result<Option<Subscriber>> {
        let Some((id, verifier)) = tokens::split(token) else {
            return Ok(None);
        };
        let row: Option<SubscriberRow> = sqlx::query_as(concat!(
            "SELECT ",
            subscriber_columns!(),
            " FROM subscribers WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .filter(|r| tokens::verify_plain(verifier, &r.unsub_verifier))
            .map(SubscriberRow::into_domain))
    }

    /// Unsubscribe by id; idempotent. Bounced and complained stay as they are.
    pub async fn unsubscribe(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?2,
             confirm_hash = NULL, confirm_expires_at = NULL
             WHERE id = ?1 AND status IN ('pending', 'active')",
        )
        .bind(id)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn counts(&self) -> Result<Vec<(Status, i64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM subscribers GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<(Status, i64)> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        for r in rows {
            let status: String = r.try_get("status")?;
            let n: i64 = r.try_get("n")?;
            if let Ok(st) = Status::from_str(&status) {
                if let Some(slot) = out.iter_mut().find(|(s, _)| *s == st) {
                    slot.1 = n;
                }
            }
        }
        Ok(out)
    }

    /// Stream subscribers (oldest first) into `f`, never all in memory.
    pub async fn for_each<F>(&self, status: Option<Status>, mut f: F) -> Result<()>
    where
        F: FnMut(Subscriber) -> Result<()>,
    {
        let sql = concat!(
            "SELECT ",
            subscriber_columns!(),
            " FROM subscribers WHERE (?1 IS NULL OR status = ?1) ORDER BY id"
        );
        let mut rows = sqlx::query_as::<_, SubscriberRow>(sql)
            .bind(status.map(Status::as_str))
            .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            f(row.into_domain())?;
        }
        Ok(())
    }

    /// Hashes of erased addresses (small: one per `remove`).
    pub async fn suppressed_hashes(&self) -> Result<HashSet<String>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT email_hash FROM suppressions")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }
}
