//! The PostgreSQL side of an import: each batch counted (with a query
//! when needed), then merged by one upsert of the batch's columns as
//! arrays (`unnest`), a key given twice in a batch going into a second
//! statement (ON CONFLICT takes each key once per statement).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::audience::import::ImportRow;
use crate::audience::{tokens, Status};
use crate::error::Result;
use crate::store::dialect::Dialect;
use crate::store::import::rules::{answer, became_json, became_sql, new_status, Tally, OPTED_OUT};
use crate::store::JsonText;

/// One batch into PostgreSQL: counted (with a query when needed), then
/// merged by one upsert of the batch's columns as arrays.
pub(crate) async fn merge_postgres_batch(
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
        let found: Vec<(i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(became_sql(Dialect::POSTGRES)))
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
