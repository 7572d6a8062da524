//! The only code that speaks SQL: one `Store` over a SQLite pool (WAL, a
//! busy timeout, foreign keys, `secure_delete`) or a PostgreSQL pool,
//! migrated from `migrations/sqlite/` or `migrations/postgres/` on open.
//! Callers see domain types, never rows or SQL.
//!
//! ## Writing a statement once for both backends
//!
//! `db!(&self.pool, p, d => body)` runs `body` with `p` the concrete pool
//! of either backend (`db_tx!` for a [`db::Tx`]); `$1` placeholders, `ON
//! CONFLICT … DO UPDATE`, `RETURNING` and `->>` are the same on both. Where
//! the backends differ, ask the dialect `d` ([`dialect::Dialect`]) for the
//! piece, never write the statement twice:
//!
//! ```text
//! db!(&self.pool, p, d => {
//!     sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
//!         "SELECT id FROM subscribers WHERE id IN ({}){}",
//!         d.id_list("$1"),   // a JSON array parameter as rows
//!         d.for_update(),    // a row lock (nothing on SQLite)
//!     )))
//!     .bind(JsonText(ids_json))
//!     .fetch_all(p)
//!     .await?
//! })
//! ```
//!
//! Also: `text_list`, `in_ids`, `elements`, `bytewise`
//! (collation), `domain_of`, `int_sum`, `linked_tables` (catalog). A write
//! transaction begins with `p.begin_write()` (`BEGIN IMMEDIATE` on SQLite).
//! Timestamps bind as [`Ts`], JSON as [`JsonText`]. What only one backend
//! runs lives in `sqlite/` or `postgres/` and is chosen with
//! `d.either(sqlite::X, postgres::X)`.
//!
//! ## Files
//!
//! - this file: opening, migrating, subscriber lookups, counts, listing;
//! - `db`: pools, transactions, `db!`/`db_tx!`, the `Ts`/`JsonText` column
//!   types; `dialect`: what differs between the two SQL dialects;
//! - `sqlite/`: connecting with its pragmas, the queue's statements for its
//!   planner, the import's fast path through SQLite's C API (`raw`);
//! - `postgres/`: connecting, the lease statements, the import's upsert of
//!   arrays;
//! - `optin`: subscribing, confirming, activating, unsubscribing;
//! - `idn`: the one-time rewrite of migration 0050 (Unicode domains to
//!   ASCII, on SQLite);
//! - `import`: batched merges of imported rows that never undo an opt-out
//!   (`import/rules`: the merge rule and the counts, for both backends);
//! - `people`: one person's data (show) and its erasure;
//! - `directory`: search, paging and edits for operators (the admin API);
//! - `campaigns`, `queue`, `claims`, `sends`: campaigns, the delivery
//!   queue (claims, leases, outcomes), the fenced claim of the process that
//!   sends, scheduled and test sends;
//! - `readers`: what readers chose (frequency, topics), audiences, the
//!   archive;
//! - `safety`: the circuit breaker's and the canary's totals;
//! - `bounces`: the bounce log and what bounces do to subscribers;
//! - `copy`: `db copy` between backends;
//! - `clicks`: click counters per campaign and link (never per reader);
//!   `stats`: the dashboard's figures (growth, campaigns, health);
//! - `webhooks`: nonces of signed provider webhooks (each used once);
//! - `signups`: the sign-up tokens' key and their used nonces;
//! - `worker`: what the worker remembers between runs.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};

pub(crate) mod db;
pub(crate) mod dialect;
use db::{db, text_enum, Pool};
pub use db::{Backend, JsonText, Ts};
use dialect::Dialect;

pub mod bounces;
pub mod campaigns;
pub mod claims;
pub mod clicks;
pub mod copy;
pub mod queue;
pub mod safety;
pub mod sends;
pub mod signups;
pub mod stats;
pub mod webhooks;
pub mod worker;

pub use import::{Import, ImportRow, ImportStats, IMPORT_BATCH};

use crate::audience::{tokens, Status, Subscriber, SubscriberEmail};
use crate::error::Result;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

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
    pub(crate) pool: Pool,
    /// The delivery queue's hot path: `claim_batch` and `record`. On
    /// SQLite one connection of its own: a connection's page cache is
    /// dropped whenever another connection has written, and spread over
    /// the shared pool these statements re-read their pages after every
    /// outcome write (now only after the shared pool's own writes: the
    /// heartbeat once a second, bounces, sign-ups). On PostgreSQL the pool.
    pub(crate) queue_pool: Pool,
}

#[derive(sqlx::FromRow)]
struct SubscriberRow {
    id: i64,
    email: String,
    name: Option<String>,
    status: Status,
    source: String,
    attributes: JsonText,
    created_at: Ts,
    confirmed_at: Option<Ts>,
    unsubscribed_at: Option<Ts>,
    unsub_verifier: String,
    selector: Option<String>,
    frequency: Option<String>,
    topics: Option<JsonText>,
}

macro_rules! subscriber_columns {
    () => {
        "id, email, name, status, source, attributes, created_at, \
         confirmed_at, unsubscribed_at, unsub_verifier, selector, frequency, topics"
    };
}

// After the macro, which they use.
mod idn;
mod optin;
pub use optin::WebSubscription;
pub mod directory;
pub mod import;
pub mod people;
mod postgres;
pub mod readers;
pub mod test_sends;
pub use readers::{ArchiveEntry, Audience};
mod sqlite;

// A subscriber's status is read as the enum: a value it does not know is
// an error naming it, never a silent `Pending`.
text_enum!(Status);

impl SubscriberRow {
    fn into_domain(self) -> Subscriber {
        Subscriber {
            id: self.id,
            email: self.email,
            name: self.name,
            status: self.status,
            source: self.source,
            attributes: serde_json::from_str(&self.attributes.0)
                .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
            created_at: self.created_at.0,
            confirmed_at: self.confirmed_at.map(|t| t.0),
            unsubscribed_at: self.unsubscribed_at.map(|t| t.0),
            unsub_token: tokens::row_token(self.id, self.selector.as_deref(), &self.unsub_verifier),
            frequency: (self.frequency.as_deref())
                .and_then(|f| crate::audience::prefs::Frequency::parse(f).ok()),
            topics: (self.topics)
                .and_then(|t| serde_json::from_str(&t.0).ok())
                .unwrap_or_default(),
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
    /// Open (creating a SQLite file if needed) and migrate.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Self::connect(url).await?;
        if store.migrate().await? > 0 && store.backend() == Backend::Sqlite {
            // A migration may edit a table's stored definition in place
            // (0093: a CHECK that allows more), which connections opened
            // before it do not read again: open fresh ones.
            store.close().await;
            return Self::connect(url).await;
        }
        Ok(store)
    }

    /// Open without migrating: `postgres://` (or `postgresql://`) URLs
    /// open PostgreSQL, anything else a SQLite file.
    pub async fn connect(url: &str) -> Result<Store> {
        let pool = match Backend::of_url(url) {
            Backend::Sqlite => {
                let (pool, queue) = sqlite::connect(url).await?;
                return Ok(Store {
                    pool: Pool::Sqlite(pool),
                    queue_pool: Pool::Sqlite(queue),
                });
            }
            Backend::Postgres => Pool::Postgres(postgres::connect(url).await?),
        };
        Ok(Store {
            queue_pool: pool.clone(),
            pool,
        })
    }

    /// The SQL dialect of this store's backend.
    pub(crate) fn dialect(&self) -> Dialect {
        Dialect(self.backend())
    }

    /// Which database this store speaks to.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Apply pending migrations; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize> {
        let before = self.applied_migrations().await.unwrap_or(0);
        match &self.pool {
            Pool::Sqlite(p) => {
                SQLITE_MIGRATIONS.run(p).await?;
                idn::rekey_once(p).await?;
            }
            Pool::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        let after = self.applied_migrations().await.unwrap_or(0);
        Ok(after.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> Result<usize> {
        let n: i64 = db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(p)
                .await?
        });
        Ok(n as usize)
    }

    pub async fn ping(&self) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        db!(&self.queue_pool, p, pg => p.close().await);
        db!(&self.pool, p, pg => p.close().await)
    }

    pub async fn get(&self, email: &SubscriberEmail) -> Result<Option<Subscriber>> {
        let row: Option<SubscriberRow> = db!(&self.pool, p, pg => {
            sqlx::query_as(concat!(
                "SELECT ",
                subscriber_columns!(),
                " FROM subscribers WHERE email_key = $1"
            ))
            .bind(email.key())
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(SubscriberRow::into_domain))
    }

    pub async fn is_suppressed(&self, email: &SubscriberEmail) -> Result<bool> {
        // An address erased while its domain was kept in Unicode: its old key.
        let old = email.unicode_key().map(|k| key_hash(&k));
        let n: i64 = db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM suppressions WHERE email_hash = $1 OR email_hash = $2",
            )
            .bind(email_hash(email))
            .bind(old)
            .fetch_one(p)
            .await?
        });
        Ok(n > 0)
    }

    pub async fn counts(&self) -> Result<Vec<(Status, i64)>> {
        let rows: Vec<(Status, i64)> = db!(&self.pool, p, pg => {
            sqlx::query_as("SELECT status, COUNT(*) AS n FROM subscribers GROUP BY status")
                .fetch_all(p)
                .await?
        });
        let mut out: Vec<(Status, i64)> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        for (st, n) in rows {
            if let Some(slot) = out.iter_mut().find(|(s, _)| *s == st) {
                slot.1 = n;
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
            " FROM subscribers WHERE ($1 IS NULL OR status = $1) ORDER BY id"
        );
        db!(&self.pool, p, pg => {
            let mut rows = sqlx::query_as::<_, SubscriberRow>(sql)
                .bind(status.map(Status::as_str))
                .fetch(p);
            while let Some(row) = rows.try_next().await? {
                f(row.into_domain())?;
            }
        });
        Ok(())
    }

    /// Hashes of erased addresses (small: one per `remove`).
    pub async fn suppressed_hashes(&self) -> Result<HashSet<String>> {
        let rows: Vec<String> = db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT email_hash FROM suppressions")
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().collect())
    }
}
