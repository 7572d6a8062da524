//! What only SQLite runs: opening a file with its pragmas, the delivery
//! queue's statements written for its planner, and the import's fast path
//! (`import`, through SQLite's C API in `raw`).

pub(super) mod import;
pub(super) mod raw;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::{Error, Result};

/// Sent outcomes of a batch, given as a JSON array of `{id, m, t}`: one
/// statement. `+lease_owner` keeps the planner from driving the join by
/// the lease index, which parsed the whole JSON once per row the process
/// holds (the top of the profile).
pub(super) const SENT: &str =
    "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = NULL,
     status = CASE WHEN subscriber_id IS NULL THEN status ELSE 'sent' END,
     message_id = CASE WHEN subscriber_id IS NULL THEN NULL ELSE v.value ->> 'm' END,
     sent_at = CASE WHEN subscriber_id IS NULL THEN NULL ELSE v.value ->> 't' END,
     lease_owner = NULL, lease_until = NULL
     FROM json_each($1) AS v
     WHERE deliveries.id = v.value ->> 'id' AND +lease_owner = $2";

/// Renew `$1`'s leases until `$2` where they end before `$3` (one writer
/// at a time: nothing to skip).
pub(super) const RENEW_LEASES: &str = "UPDATE deliveries SET lease_until = $2
     WHERE lease_owner = $1 AND status = 'pending' AND lease_until < $3";

/// The shared pool and the queue's own connection (opened when first
/// used; the same pool for an in-memory database).
pub(super) async fn connect(url: &str) -> Result<(sqlx::SqlitePool, sqlx::SqlitePool)> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|e| Error::msg(format!("database URL {url:?}: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true)
        // Erased subscribers leave no trace in free pages.
        .pragma("secure_delete", "ON")
        // Statement journals (every multi-row write inside a
        // transaction keeps one: an import's upserts) and temporary
        // indexes in memory, not in temporary files: an import of
        // 1,000,000 rows wrote every page it touched to one.
        .pragma("temp_store", "MEMORY");
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(opts.clone().pragma("cache_size", "-512"))
        .await
        .map_err(|e| Error::database(format!("opening database {url}"), e))?;
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok((pool.clone(), pool));
    }
    let queue = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(60))
        .connect_lazy_with(opts);
    Ok((pool, queue))
}
