//! The SQLite side of an import: each batch counted and merged through
//! SQLite's C API (`raw`) on the connection held for the whole import, the
//! statements prepared once; a 64 MiB page cache and the selector trigger
//! set aside for the import's transaction.

use chrono::{DateTime, Utc};

use super::raw::{Conn, Statement};
use crate::audience::import::ImportRow;
use crate::audience::{tokens, Status};
use crate::error::Result;
use crate::store::dialect::Dialect;
use crate::store::import::rules::{
    answer, became_json, became_sql, new_status, Tally, IMPORT_BATCH, OPTED_OUT,
};
use crate::store::ts;

/// A large import touches index pages all over the file (addresses and
/// tokens arrive in random order): a bounded 64 MiB page cache keeps them
/// in memory instead of spilling to the WAL.
pub(crate) async fn grow_cache(t: &mut sqlx::Transaction<'static, sqlx::Sqlite>) -> Result<()> {
    sqlx::query("PRAGMA cache_size = -65536")
        .execute(&mut **t)
        .await?;
    Ok(())
}

/// SQLite: the trigger that gives a selector to a row inserted without one
/// is set aside inside the import's transaction (every imported row has its
/// selector; running it for each row cost a tenth of a large import) and
/// put back, exactly as it was, before the commit (`Import::finish`); a
/// rollback (a dry run, an error, an import dropped unfinished) puts it
/// back too. Returns its SQL, if it was there.
pub(crate) async fn set_trigger_aside(
    t: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
) -> Result<Option<String>> {
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

/// Put back the trigger `set_trigger_aside` took, from its SQL as the
/// schema had it.
pub(crate) async fn put_trigger_back(
    t: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    sql: String,
) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut **t)
        .await?;
    Ok(())
}

/// SQLite: each batch counted (with the query run here when needed) and
/// merged by one multi-row upsert (a key that comes twice is merged into
/// the row its first copy left), both run through SQLite's C API with the
/// values borrowed, not copied, on the connection held for the whole
/// import (the statements prepared once).
pub(crate) async fn merge_sqlite(
    t: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    tally: &mut Tally,
    incoming: &mut tokio::sync::mpsc::Receiver<Vec<ImportRow>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let now_s = ts(now);
    let mut handle = t.lock_handle().await?;
    let conn = Conn::new(&mut handle);
    let mut prepared = Prepared::default();
    while let Some(batch) = incoming.recv().await {
        sqlite_batch(&conn, &mut prepared, tally, &batch, &now_s)?;
    }
    Ok(())
}

/// The statements an import prepares once (finalized, when dropped,
/// before the connection is given back to sqlx).
#[derive(Default)]
pub(super) struct Prepared<'h> {
    full: Option<Statement<'h>>,
    became: Option<Statement<'h>>,
}

/// One batch into SQLite, on the locked connection `conn`. (A batch that
/// erased addresses shortened gets an upsert of its own length.)
pub(super) fn sqlite_batch<'h>(
    conn: &'h Conn<'_>,
    prepared: &mut Prepared<'h>,
    tally: &mut Tally,
    batch: &[ImportRow],
    now_s: &str,
) -> Result<()> {
    let rows = tally.keep(batch);
    if rows.is_empty() {
        return Ok(());
    }
    let mut queried = Vec::new();
    if tally.needs_query(&rows) {
        let query = match &mut prepared.became {
            Some(q) => q,
            None => prepared
                .became
                .insert(Statement::prepare(conn, &became_sql(Dialect::SQLITE))?),
        };
        queried = vec![None; rows.len()];
        query.query(&[Some(&became_json(&rows))], |i, status| {
            answer(&mut queried, i, status)
        })?;
    }
    tally.count(&rows, &queried);
    let welcomed = tally.welcomed_on_insert;
    tally.changes += if rows.len() == IMPORT_BATCH {
        let stmt = match &mut prepared.full {
            Some(s) => s,
            None => prepared
                .full
                .insert(Statement::prepare(conn, &merge_sql(IMPORT_BATCH))?),
        };
        merge_sqlite_batch(stmt, &rows, now_s, welcomed)?
    } else {
        let mut short = Statement::prepare(conn, &merge_sql(rows.len()))?;
        merge_sqlite_batch(&mut short, &rows, now_s, welcomed)?
    };
    Ok(())
}

/// Bind a batch's rows to the upsert for that many rows and run it.
/// Returns the rows changed.
fn merge_sqlite_batch(
    stmt: &mut Statement<'_>,
    rows: &[&ImportRow],
    now_s: &str,
    welcomed: bool,
) -> Result<u64> {
    let verifiers = tokens::verifiers(rows.len());
    let selectors = tokens::selectors(rows.len());
    // Every row's attributes as JSON, one after another in one buffer.
    let mut json = Vec::with_capacity(rows.len() * 32);
    let mut ends = Vec::with_capacity(rows.len());
    for r in rows {
        serde_json::to_writer(&mut json, &r.attributes).expect("JSON");
        ends.push(json.len());
    }
    let json = String::from_utf8(json).expect("JSON is UTF-8");
    // Times as SQLite's text (what `Ts` writes); `now` formatted once by
    // the caller and borrowed.
    let times: Vec<[Option<std::borrow::Cow<'_, str>>; 3]> = rows
        .iter()
        .map(|r| {
            let active = r.status == Status::Active;
            let out = r.status.is_opted_out();
            [
                time_or(r.created_at, Some(now_s)),
                time_or(r.confirmed_at, active.then_some(now_s)),
                time_or(r.unsubscribed_at, out.then_some(now_s)),
            ]
        })
        .collect();
    let mut values: Vec<Option<&str>> = Vec::with_capacity(rows.len() * 12);
    for (i, r) in rows.iter().enumerate() {
        let [created, confirmed, unsubscribed] = &times[i];
        let attributes = &json[if i == 0 { 0 } else { ends[i - 1] }..ends[i]];
        values.extend([
            Some(r.email.as_str()),
            Some(r.key.as_str()),
            r.name.as_deref(),
            Some(r.status.as_str()),
            Some(r.source.as_str()),
            Some(attributes),
            created.as_deref(),
            confirmed.as_deref(),
            unsubscribed.as_deref(),
            Some(verifiers[i].as_str()),
            Some(selectors[i].as_str()),
            (welcomed && r.status == Status::Active).then_some(now_s),
        ]);
    }
    Ok(stmt.run(&values)?)
}

/// A row's own time as SQLite's text, or the default (`now`, borrowed).
fn time_or(own: Option<DateTime<Utc>>, default: Option<&str>) -> Option<std::borrow::Cow<'_, str>> {
    match own {
        Some(t) => Some(std::borrow::Cow::Owned(ts(t))),
        None => default.map(std::borrow::Cow::Borrowed),
    }
}

/// The upsert for `n` rows (SQLite).
fn merge_sql(n: usize) -> String {
    let mut sql = String::with_capacity(1536 + n * 26);
    sql.push_str(
        "INSERT INTO subscribers (email, email_key, name, status, source, attributes, created_at, confirmed_at, unsubscribed_at, unsub_verifier, selector, welcomed_at) VALUES ",
    );
    for i in 0..n {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?,?,?)");
    }
    let new_status = new_status();
    sql.push_str(&format!(
        " ON CONFLICT (email_key) DO UPDATE SET \
           name = COALESCE(excluded.name, subscribers.name), \
           attributes = json_patch(subscribers.attributes, excluded.attributes), \
           confirmed_at = CASE WHEN subscribers.status = 'pending' AND ({new_status}) = 'active' \
                          THEN excluded.confirmed_at ELSE subscribers.confirmed_at END, \
           unsubscribed_at = CASE WHEN subscribers.status NOT IN {OPTED_OUT} AND ({new_status}) IN {OPTED_OUT} \
                          THEN excluded.unsubscribed_at ELSE subscribers.unsubscribed_at END, \
           status = {new_status} \
         WHERE subscribers.name IS NOT COALESCE(excluded.name, subscribers.name) \
            OR subscribers.attributes IS NOT json_patch(subscribers.attributes, excluded.attributes) \
            OR subscribers.status IS NOT ({new_status})"
    ));
    sql
}
