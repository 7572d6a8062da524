//! Imports: batches of rows merged inside one transaction. An existing
//! address's opt-out (unsubscribed, bounced, complained) is never undone,
//! and an erased address is never re-added.
//!
//! The rules and counts are `rules`, the same for both backends. SQLite
//! merges a batch with one multi-row upsert through its C API
//! (`store/sqlite/import.rs`: the statements prepared once, the values not
//! copied; the selector trigger set aside for the transaction; a 64 MiB
//! page cache); PostgreSQL with one upsert of the batch's columns as arrays
//! (`store/postgres/import.rs`), a key given twice in a batch going into a
//! second statement, so both apply the rows in file order with the same
//! counts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::db::{db_tx, Tx};
use super::postgres::import::merge_postgres_batch;
use super::sqlite::import::{grow_cache, merge_sqlite, put_trigger_back, set_trigger_aside};
use super::Store;
pub use crate::audience::import::ImportRow;
use crate::audience::Status;
use crate::error::Result;

pub(crate) mod rules;
pub use rules::{merged_status, ImportStats, IMPORT_BATCH};
use rules::{Tally, OPTED_OUT};

impl Store {
    pub async fn begin_import(&self) -> Result<Import> {
        let mut tx = Tx::begin(&self.pool).await?;
        if let Tx::Sqlite(t) = &mut tx {
            grow_cache(t).await?;
        }
        let count: i64 = db_tx!(&mut tx, t, d => {
            sqlx::query_scalar("SELECT COUNT(*) FROM subscribers")
                .fetch_one(&mut **t)
                .await?
        });
        let suppressed = self.suppressed_hashes().await?;
        let opted_out = if count > 0 {
            opted_out_keys(&mut tx).await?
        } else {
            Some(HashMap::new())
        };
        // Last, once no other connection is needed until the commit (an
        // in-memory database shares its schema lock between connections).
        let set_aside = match &mut tx {
            Tx::Sqlite(t) => set_trigger_aside(t).await?,
            Tx::Postgres(_) => None,
        };
        Ok(Import {
            tx,
            set_aside,
            tally: Tally::new(count, suppressed, opted_out),
        })
    }
}

/// An import in progress: batches of rows merged inside one transaction,
/// committed (or, for a dry run, rolled back) at the end.
pub struct Import {
    tx: Tx,
    /// SQLite: the trigger set aside for the import (its SQL), to put
    /// back before the commit.
    set_aside: Option<String>,
    tally: Tally,
}

/// Up to this many opted-out addresses are held in memory during an import
/// (about 20 MB); a list with more is counted by a query per batch.
const OPTED_OUT_IN_MEMORY: i64 = 250_000;

async fn opted_out_keys(tx: &mut Tx) -> Result<Option<HashMap<String, Status>>> {
    let count = format!("SELECT COUNT(*) FROM subscribers WHERE status IN {OPTED_OUT}");
    let list = format!("SELECT email_key, status FROM subscribers WHERE status IN {OPTED_OUT}");
    let rows: Vec<(String, Status)> = db_tx!(tx, t, pg => {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
            .fetch_one(&mut **t)
            .await?;
        if n > OPTED_OUT_IN_MEMORY {
            return Ok(None);
        }
        sqlx::query_as(sqlx::AssertSqlSafe(list))
            .fetch_all(&mut **t)
            .await?
    });
    Ok(Some(rows.into_iter().collect()))
}

impl Import {
    /// Mark the rows this import inserts as active as welcomed already
    /// (SQLite; PostgreSQL marks them after the import).
    pub fn mark_welcomed_on_insert(&mut self, on: bool) {
        self.tally.welcomed_on_insert = on;
    }

    /// Merge the batches (at most `IMPORT_BATCH` rows each) as they come,
    /// until the channel closes (on SQLite the statements prepared once).
    pub async fn merge_from(
        &mut self,
        incoming: &mut tokio::sync::mpsc::Receiver<Vec<ImportRow>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match &mut self.tx {
            Tx::Sqlite(t) => merge_sqlite(t, &mut self.tally, incoming, now).await,
            Tx::Postgres(t) => {
                while let Some(batch) = incoming.recv().await {
                    merge_postgres_batch(t, &mut self.tally, &batch, now).await?;
                }
                Ok(())
            }
        }
    }

    /// Finish: commit, or roll back when `dry_run`. Returns what changed.
    pub async fn finish(mut self, dry_run: bool) -> Result<ImportStats> {
        let count_after: i64 = db_tx!(&mut self.tx, t, pg => {
            sqlx::query_scalar("SELECT COUNT(*) FROM subscribers")
                .fetch_one(&mut **t)
                .await?
        });
        let t = &mut self.tally;
        let inserted = (count_after - t.count_before).max(0) as u64;
        t.stats.inserted = inserted;
        t.stats.updated = t.changes.saturating_sub(inserted);
        t.stats.unchanged = t.rows.saturating_sub(t.changes);
        if dry_run {
            self.tx.rollback().await?;
        } else {
            if let (Some(sql), Tx::Sqlite(t)) = (self.set_aside.take(), &mut self.tx) {
                // Read from the schema itself: the trigger as it was.
                put_trigger_back(t, sql).await?;
            }
            self.tx.commit().await?;
        }
        Ok(self.tally.stats)
    }
}
