//! The rules of an import, whichever the backend: which rows are kept
//! (not erased), the status each merged address is left with (the merge
//! rule: [`merged_status`], and the same rule as SQL, [`merge_rule_sql`]),
//! and the counts of the report ([`Tally`]).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use crate::audience::import::ImportRow;
use crate::audience::Status;
use crate::store::dialect::Dialect;
use crate::store::key_hash;

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

pub(crate) fn status_index(s: Status) -> usize {
    Status::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

/// The status a stored address has after a row is merged into it (`None`:
/// no such address yet): an opt-out is never undone. The one statement of
/// the rule; [`merge_rule_sql`] is tested equal to it.
pub fn merged_status(existing: Option<Status>, row: Status) -> Status {
    match existing {
        None => row,
        Some(e) if e.is_opted_out() => e,
        Some(_) if row.is_opted_out() => row,
        Some(_) if row == Status::Active => Status::Active,
        Some(e) => e,
    }
}

/// What an import has merged and counted so far.
pub(crate) struct Tally {
    /// Rows inserted active are marked welcomed at once (no welcome email
    /// for this import), instead of by an UPDATE of every row afterwards.
    pub(crate) welcomed_on_insert: bool,
    pub(crate) count_before: i64,
    pub(crate) changes: u64,
    pub(crate) rows: u64,
    pub(crate) suppressed_set: HashSet<String>,
    /// The stored addresses that opted out, when there are at most
    /// `OPTED_OUT_IN_MEMORY` (kept current as the import adds more): with
    /// them the report's counts need no query per batch.
    pub(crate) opted_out: Option<HashMap<String, Status>>,
    /// The status counted for each address merged so far (by a 64-bit
    /// hash of its key: 1M rows take about 30 MB).
    seen: HashMap<u64, Status, std::hash::BuildHasherDefault<KeyIdHasher>>,
    pub(crate) stats: ImportStats,
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

/// Rows per upsert statement (12 parameters each on SQLite).
pub const IMPORT_BATCH: usize = 500;

/// The statuses that opted out ([`Status::is_opted_out`]: a test holds
/// the two equal), as an SQL list.
pub(crate) const OPTED_OUT: &str = "('unsubscribed', 'bounced', 'complained')";

impl Tally {
    /// Nothing counted yet, into a list of `count_before` addresses.
    pub(crate) fn new(
        count_before: i64,
        suppressed_set: HashSet<String>,
        opted_out: Option<HashMap<String, Status>>,
    ) -> Tally {
        Tally {
            welcomed_on_insert: false,
            count_before,
            changes: 0,
            rows: 0,
            suppressed_set,
            opted_out,
            seen: HashMap::default(),
            stats: ImportStats::default(),
        }
    }

    /// The rows of a batch that are not suppressed (erased earlier).
    pub(crate) fn keep<'a>(&mut self, batch: &'a [ImportRow]) -> Vec<&'a ImportRow> {
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
    pub(crate) fn needs_query(&self, rows: &[&ImportRow]) -> bool {
        self.count_before > 0
            && (self.opted_out.is_none() || rows.iter().any(|r| r.status == Status::Pending))
    }

    /// Count the status each row will have (the merge rule applied to the
    /// stored address; `queried` is the database's answer, or empty). An
    /// address seen earlier in this import is counted once, in the state
    /// its last row leaves it.
    pub(crate) fn count(&mut self, rows: &[&ImportRow], queried: &[Option<Status>]) {
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
pub(crate) fn became_json(rows: &[&ImportRow]) -> String {
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
pub(crate) fn became_sql(d: Dialect) -> String {
    let elements = d.either(
        "SELECT key, value ->> 0, value ->> 1 FROM json_each($1)",
        "SELECT e.ord - 1, e.value ->> 0, e.value ->> 1
         FROM jsonb_array_elements($1) WITH ORDINALITY AS e(value, ord)",
    );
    let became = merge_rule_sql("s.status", "b.st");
    format!(
        "WITH b(i, k, st) AS ({elements})
         SELECT b.i AS i, {became} AS became
         FROM b LEFT JOIN subscribers s ON s.email_key = b.k"
    )
}

/// One row of `became_sql`'s answer into `queried` (by the row's index in
/// the batch; an index out of range or an unknown status is left `None`).
pub(crate) fn answer(queried: &mut [Option<Status>], i: i64, status: &str) {
    if let Some(slot) = usize::try_from(i).ok().and_then(|i| queried.get_mut(i)) {
        *slot = Status::from_str(status).ok();
    }
}

/// [`merged_status`] as SQL: the status after the merge of a stored
/// address whose status is the expression `stored` (NULL: none) and a row
/// whose status is `row`. Every statement that merges writes it with this.
pub(crate) fn merge_rule_sql(stored: &str, row: &str) -> String {
    format!(
        "CASE WHEN {stored} IN {OPTED_OUT} THEN {stored} \
              WHEN {row} IN {OPTED_OUT} THEN {row} \
              WHEN {row} = 'active' THEN 'active' \
              ELSE COALESCE({stored}, {row}) END"
    )
}

/// The merged status of a stored row (`subscribers`) and an imported one
/// (`excluded`), in an upsert.
pub(crate) fn new_status() -> String {
    merge_rule_sql("subscribers.status", "excluded.status")
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

    #[test]
    fn the_sql_list_of_opt_outs_is_is_opted_out() {
        let listed: Vec<String> = Status::ALL
            .iter()
            .filter(|s| s.is_opted_out())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(OPTED_OUT, format!("({})", listed.join(", ")));
    }

    /// The SQL of the rule, run by SQLite for every pair, answers what
    /// `merged_status` does.
    #[tokio::test]
    async fn the_sql_merge_rule_is_merged_status() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let sql = format!("SELECT {}", merge_rule_sql("$1", "$2"));
        let stored = std::iter::once(None).chain(Status::ALL.iter().copied().map(Some));
        for s in stored {
            for row in Status::ALL {
                let got: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(s.map(Status::as_str))
                    .bind(row.as_str())
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!(got, merged_status(s, row).as_str(), "{s:?} + {row:?}");
            }
        }
    }
}
