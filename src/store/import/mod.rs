//! Imports: batches of rows merged inside one transaction. An existing
//! address's opt-out (unsubscribed, bounced, complained) is never undone,
//! and an erased address is never re-added.
//!
//! SQLite merges a batch with one multi-row upsert through its C API
//! (`sqlite.rs`: the statements prepared once, the values not copied; the
//! selector trigger set aside for the transaction, `set_trigger_aside`; a
//! 64 MiB page cache); PostgreSQL with one upsert of the batch's columns
//! as arrays (`unnest`), a key given twice in a batch going into a second
//! statement, so both apply the rows in file order with the same counts.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::db::{db_tx, pick, Tx};
use super::{key_hash, ts, JsonText, Store};
pub use crate::audience::import::ImportRow;
use crate::audience::{tokens, Status};
use crate::error::Result;

mod sqlite;
use sqlite::{merge_sqlite, sqlite_batch, Prepared};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportStats {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Erased earlier with `subscribers remove`; never re-added.
    pub suppressed: u64,
    /// The status each merged row has after the import, in `Status::ALL`
    /// order (an address that had opted out keeps its state).
    pub became: [u64; 5],
    /// Rows that carried a `frequency` or `topics` column (kept as
    /// attributes, for `Store::adopt_imported_preferences`).
    pub with_preferences: u64,
}

impl ImportStats {
    pub fn became(&self, s: Status) -> u64 {
        self.became[status_index(s)]
    }
}

fn status_index(s: Status) -> usize {
    Status::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

/// The status a stored address has after a row is merged into it: the same
/// rule as the SQL of `new_status`.
pub fn merged_status(existing: Option<Status>, row: Status) -> Status {
    match existing {
        None => row,
        Some(e) if e.is_opted_out() => e,
        Some(_) if row.is_opted_out() => row,
        Some(_) if row == Status::Active => Status::Active,
        Some(e) => e,
    }
}

impl Store {
    pub async fn begin_import(&self) -> Result<Import> {
        let mut tx = Tx::begin(&self.pool).await?;
        let count: i64 = db_tx!(&mut tx, t, pg => {
            if !pg {
                // A large import touches index pages all over the file
                // (addresses and tokens arrive in random order): a bounded
                // 64 MiB page cache keeps them in memory instead of
                // spilling to the WAL.
                sqlx::query("PRAGMA cache_size = -65536")
                    .execute(&mut **t)
                    .await?;
            }
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
        let set_aside = set_trigger_aside(&mut tx).await?;
        Ok(Import {
            tx,
            set_aside,
            tally: Tally {
                welcomed_on_insert: false,
                count_before: count,
                changes: 0,
                rows: 0,
                suppressed_set: suppressed,
                opted_out,
                seen: HashMap::default(),
                stats: ImportStats::default(),
            },
        })
    }
}

/// SQLite: the trigger that gives a selector to a row inserted without one
/// is set aside inside the import's transaction (every imported row has its
/// selector; running it for each row cost a tenth of a large import) and
/// put back, exactly as it was, before the commit (`Import::finish`); a
/// rollback (a dry run, an error, an import dropped unfinished) puts it
/// back too. Returns its SQL, if it was there.
async fn set_trigger_aside(tx: &mut Tx) -> Result<Option<String>> {
    let Tx::Sqlite(t) = tx else {
        return Ok(None);
    };
    let sql: Option<String> = sqlx::query_scalar(
        "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'subscribers_selector_default'",
    )
    .fetch_optional(&mut **t)
    .await?;
    if sql.is_some() {
        sqlx::query("DROP TRIGGER subscribers_selector_default")
            .execute(&mut **t)
            .await?;
    }
    Ok(sql)
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

/// What an import has merged and counted so far.
struct Tally {
    /// Rows inserted active are marked welcomed at once (no welcome email
    /// for this import), instead of by an UPDATE of every row afterwards.
    welcomed_on_insert: bool,
    count_before: i64,
    changes: u64,
    rows: u64,
    suppressed_set: HashSet<String>,
    /// The stored addresses that opted out, when there are at most
    /// `OPTED_OUT_IN_MEMORY` (kept current as the import adds more): with
    /// them the report's counts need no query per batch.
    opted_out: Option<HashMap<String, Status>>,
    /// The status counted for each address merged so far (by a 64-bit
    /// hash of its key: 1M rows take about 30 MB).
    seen: HashMap<u64, Status, std::hash::BuildHasherDefault<KeyIdHasher>>,
    stats: ImportStats,
}

/// The map of `seen` is keyed by `key_id`, already a hash: used as it is.
#[derive(Default)]
struct KeyIdHasher(u64);

impl std::hash::Hasher for KeyIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

fn key_id(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Up to this many opted-out addresses are held in memory during an import
/// (about 20 MB); a list with more is counted by a query per batch.
const OPTED_OUT_IN_MEMORY: i64 = 250_000;

async fn opted_out_keys(tx: &mut Tx) -> Result<Option<HashMap<String, Status>>> {
    let count = format!("SELECT COUNT(*) FROM subscribers WHERE status IN {OPTED_OUT}");
    let list = format!("SELECT email_key, status FROM subscribers WHERE status IN {OPTED_OUT}");
    let rows: Vec<(String, String)> = db_tx!(tx, t, pg => {
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
    Ok(Some(
        rows.into_iter()
            .filter_map(|(k, s)| Status::from_str(&s).ok().map(|s| (k, s)))
            .collect(),
    ))
}

/// Rows per upsert statement (12 parameters each on SQLite).
pub const IMPORT_BATCH: usize = 500;

const OPTED_OUT: &str = "('unsubscribed', 'bounced', 'complained')";

impl Import {
    /// Mark the rows this import inserts as active as welcomed already
    /// (SQLite; PostgreSQL marks them after the import).
    pub fn mark_welcomed_on_insert(&mut self, on: bool) {
        self.tally.welcomed_on_insert = on;
    }

    /// Merge one batch (at most `IMPORT_BATCH` rows).
    pub async fn merge(&mut self, batch: &[ImportRow], now: DateTime<Utc>) -> Result<()> {
        match &mut self.tx {
            Tx::Sqlite(t) => {
                let mut handle = t.lock_handle().await?;
                let conn = crate::store::raw::Conn::new(&mut handle);
                let mut prepared = Prepared::default();
                sqlite_batch(&conn, &mut prepared, &mut self.tally, batch, &ts(now))
            }
            Tx::Postgres(t) => merge_postgres_batch(t, &mut self.tally, batch, now).await,
        }
    }

    /// Merge the batches (at most `IMPORT_BATCH` rows each) as they come,
    /// until the channel closes (as `merge`, the statements prepared once).
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
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut **t)
                    .await?;
            }
            self.tx.commit().await?;
        }
        Ok(self.tally.stats)
    }
}

impl Tally {
    /// The rows of a batch that are not suppressed (erased earlier).
    fn keep<'a>(&mut self, batch: &'a [ImportRow]) -> Vec<&'a ImportRow> {
        let mut rows = Vec::with_capacity(batch.len());
        for r in batch {
            let hit = !self.suppressed_set.is_empty()
                && (self.suppressed_set.contains(&key_hash(&r.key))
                    || r.email
                        .unicode_key()
                        .is_some_and(|k| self.suppressed_set.contains(&key_hash(&k))));
            if hit {
                self.stats.suppressed += 1;
            } else {
                rows.push(r);
            }
        }
        rows
    }

    /// Whether counting the rows' outcomes needs the database: into an
    /// empty list the status is the row's own; an address that opted out
    /// is looked up in memory; only a pending row (whose stored address
    /// may be active) needs the database, which then looks up the whole
    /// batch in one query (one indexed lookup per row, `became_sql`).
    fn needs_query(&self, rows: &[&ImportRow]) -> bool {
        self.count_before > 0
            && (self.opted_out.is_none() || rows.iter().any(|r| r.status == Status::Pending))
    }

    /// Count the status each row will have (the merge rule applied to the
    /// stored address; `queried` is the database's answer, or empty). An
    /// address seen earlier in this import is counted once, in the state
    /// its last row leaves it.
    fn count(&mut self, rows: &[&ImportRow], queried: &[Option<Status>]) {
        self.rows += rows.len() as u64;
        for (i, r) in rows.iter().enumerate() {
            if r.attributes.contains_key("frequency") || r.attributes.contains_key("topics") {
                self.stats.with_preferences += 1;
            }
            let id = key_id(&r.key);
            let became = if let Some(prev) = self.seen.get(&id).copied() {
                let slot = &mut self.stats.became[status_index(prev)];
                *slot = slot.saturating_sub(1);
                merged_status(Some(prev), r.status)
            } else if let Some(Some(s)) = queried.get(i) {
                *s
            } else {
                // Nothing opted out yet (a fresh list): no lookup at all.
                let stored = self
                    .opted_out
                    .as_ref()
                    .filter(|o| !o.is_empty())
                    .and_then(|o| o.get(r.key.as_str()).copied());
                merged_status(stored, r.status)
            };
            self.stats.became[status_index(became)] += 1;
            self.seen.insert(id, became);
            if let Some(opted_out) = self.opted_out.as_mut() {
                if became.is_opted_out() {
                    opted_out.insert(r.key.clone(), became);
                }
            }
        }
    }
}

/// The batch's keys and statuses as the JSON array `became_sql` reads.
fn became_json(rows: &[&ImportRow]) -> String {
    let mut batch = String::with_capacity(rows.len() * 48);
    batch.push('[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            batch.push(',');
        }
        // Keys are valid addresses: no quotes, backslashes or controls.
        batch.push_str("[\"");
        batch.push_str(&r.key);
        batch.push_str("\",\"");
        batch.push_str(r.status.as_str());
        batch.push_str("\"]");
    }
    batch.push(']');
    batch
}

/// The merge rule applied by the database to the stored addresses of a
/// batch (`$1`, from `became_json`): each row's index and the status it
/// leaves.
fn became_sql(pg: bool) -> String {
    let elements = pick(
        pg,
        "SELECT key, value ->> 0, value ->> 1 FROM json_each($1)",
        "SELECT e.ord - 1, e.value ->> 0, e.value ->> 1
         FROM jsonb_array_elements($1) WITH ORDINALITY AS e(value, ord)",
    );
    format!(
        "WITH b(i, k, st) AS ({elements})
         SELECT b.i AS i, CASE WHEN s.status IN {OPTED_OUT} THEN s.status
                     WHEN b.st IN {OPTED_OUT} THEN b.st
                     WHEN b.st = 'active' THEN 'active'
                     ELSE COALESCE(s.status, b.st) END AS became
         FROM b LEFT JOIN subscribers s ON s.email_key = b.k"
    )
}

/// One row of `became_sql`'s answer into `queried` (by the row's index in
/// the batch; an index out of range or an unknown status is left `None`).
fn answer(queried: &mut [Option<Status>], i: i64, status: &str) {
    if let Some(slot) = usize::try_from(i).ok().and_then(|i| queried.get_mut(i)) {
        *slot = Status::from_str(status).ok();
    }
}

/// One batch into PostgreSQL: counted (with a query when needed), then
/// merged by one upsert of the batch's columns as arrays.
async fn merge_postgres_batch(
    t: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    tally: &mut Tally,
    batch: &[ImportRow],
    now: DateTime<Utc>,
) -> Result<()> {
    let rows = tally.keep(batch);
    if rows.is_empty() {
        return Ok(());
    }
    let mut queried = Vec::new();
    if tally.needs_query(&rows) {
        let found: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(became_sql(true)))
            .bind(JsonText(became_json(&rows)))
            .fetch_all(&mut **t)
            .await?;
        queried = vec![None; rows.len()];
        for (i, status) in found {
            answer(&mut queried, i, &status);
        }
    }
    tally.count(&rows, &queried);
    // ON CONFLICT DO UPDATE takes each key once per statement on
    // PostgreSQL; SQLite merges a repeated key into the row its earlier
    // copy left. The same here: the n-th copy of a key goes into the n-th
    // statement (usually there is one).
    let mut copies: HashMap<&str, usize> = HashMap::new();
    let mut rounds: Vec<Vec<&ImportRow>> = Vec::new();
    for r in &rows {
        let n = copies.entry(r.key.as_str()).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(r);
        *n += 1;
    }
    for round in rounds {
        tally.changes += merge_postgres(t, &round, now).await?;
    }
    Ok(())
}

/// PostgreSQL: one upsert of the batch's columns as arrays (each key at
/// most once). Returns the rows changed.
async fn merge_postgres(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    rows: &[&ImportRow],
    now: DateTime<Utc>,
) -> Result<u64> {
    let col = |f: fn(&ImportRow) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<&str>>();
    let names: Vec<Option<&str>> = rows.iter().map(|r| r.name.as_deref()).collect();
    let attributes: Vec<String> = rows
        .iter()
        .map(|r| serde_json::to_string(&r.attributes).expect("JSON"))
        .collect();
    let created: Vec<DateTime<Utc>> = rows.iter().map(|r| r.created_at.unwrap_or(now)).collect();
    let confirmed: Vec<Option<DateTime<Utc>>> = rows
        .iter()
        .map(|r| {
            r.confirmed_at
                .or((r.status == Status::Active).then_some(now))
        })
        .collect();
    let unsubscribed: Vec<Option<DateTime<Utc>>> = rows
        .iter()
        .map(|r| r.unsubscribed_at.or(r.status.is_opted_out().then_some(now)))
        .collect();
    let done = sqlx::query(sqlx::AssertSqlSafe(merge_sql_postgres()))
        .bind(col(|r| r.email.as_str()))
        .bind(col(|r| r.key.as_str()))
        .bind(names)
        .bind(col(|r| r.status.as_str()))
        .bind(col(|r| r.source.as_str()))
        .bind(attributes)
        .bind(created)
        .bind(confirmed)
        .bind(unsubscribed)
        .bind(tokens::verifiers(rows.len()))
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// The merged status of a stored row (`subscribers`) and an imported one
/// (`excluded`): an opt-out is never undone.
fn new_status() -> String {
    format!(
        "CASE WHEN subscribers.status IN {OPTED_OUT} THEN subscribers.status \
              WHEN excluded.status IN {OPTED_OUT} THEN excluded.status \
              WHEN excluded.status = 'active' THEN 'active' \
              ELSE subscribers.status END"
    )
}

/// SQLite's `json_patch(subscribers.attributes, excluded.attributes)`
/// (RFC 7396: a null removes a key, an object is merged into an object)
/// in PostgreSQL's jsonb, exact to two levels of objects (a third level
/// is replaced, not merged; attributes are flat in practice).
fn patch_postgres() -> &'static str {
    "((subscribers.attributes - ARRAY(SELECT n.key FROM jsonb_each(excluded.attributes) n \
                                      WHERE n.value = 'null'::jsonb)) \
      || COALESCE((SELECT jsonb_object_agg(e.k, CASE \
             WHEN jsonb_typeof(e.v) = 'object' AND jsonb_typeof(subscribers.attributes -> e.k) = 'object' \
             THEN ((subscribers.attributes -> e.k) - ARRAY(SELECT n.key FROM jsonb_each(e.v) n \
                                                           WHERE n.value = 'null'::jsonb)) \
                  || jsonb_strip_nulls(e.v) \
             ELSE jsonb_strip_nulls(e.v) END) \
           FROM jsonb_each(excluded.attributes) AS e(k, v) WHERE e.v <> 'null'::jsonb), '{}'::jsonb))"
}

/// The upsert of a batch given as arrays (PostgreSQL): the rules of
/// `merge_sql`.
fn merge_sql_postgres() -> String {
    let new_status = new_status();
    let patch = patch_postgres();
    format!(
        "INSERT INTO subscribers (email, email_key, name, status, source, attributes, created_at, \
                                  confirmed_at, unsubscribed_at, unsub_verifier) \
         SELECT r.email, r.email_key, r.name, r.status, r.source, r.attributes::jsonb, r.created_at, \
                r.confirmed_at, r.unsubscribed_at, r.unsub_verifier \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::text[]) \
              AS r(email, email_key, name, status, source, attributes, created_at, \
                   confirmed_at, unsubscribed_at, unsub_verifier) \
         ON CONFLICT (email_key) DO UPDATE SET \
           name = COALESCE(excluded.name, subscribers.name), \
           attributes = {patch}, \
           confirmed_at = CASE WHEN subscribers.status = 'pending' AND ({new_status}) = 'active' \
                          THEN excluded.confirmed_at ELSE subscribers.confirmed_at END, \
           unsubscribed_at = CASE WHEN subscribers.status NOT IN {OPTED_OUT} AND ({new_status}) IN {OPTED_OUT} \
                          THEN excluded.unsubscribed_at ELSE subscribers.unsubscribed_at END, \
           status = {new_status} \
         WHERE subscribers.name IS DISTINCT FROM COALESCE(excluded.name, subscribers.name) \
            OR subscribers.attributes IS DISTINCT FROM {patch} \
            OR subscribers.status IS DISTINCT FROM ({new_status})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_outs_win_the_merge() {
        use Status::*;
        assert_eq!(merged_status(None, Active), Active);
        assert_eq!(merged_status(Some(Unsubscribed), Active), Unsubscribed);
        assert_eq!(merged_status(Some(Active), Bounced), Bounced);
        assert_eq!(merged_status(Some(Active), Pending), Active);
        assert_eq!(merged_status(Some(Pending), Active), Active);
        assert_eq!(merged_status(Some(Complained), Unsubscribed), Complained);
    }
}
