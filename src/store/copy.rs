//! `gazette db copy`: move an installation from one database to another
//! (SQLite or PostgreSQL on either side). Every table is copied in
//! foreign-key order, in batches, inside one transaction on the target,
//! from one consistent snapshot of the source; ids are kept. Columns are
//! converted by kind: timestamps through [`Ts`] (text on SQLite,
//! `timestamptz` on PostgreSQL), JSON through [`JsonText`] (text or
//! `jsonb`). The row counts of both sides are compared before the commit,
//! so a copy either matches table by table or writes nothing.

use futures_util::TryStreamExt;
use sqlx::{ColumnIndex, Database, Decode, Row, Type};

use super::db::{db, db_tx, JsonText, Ts, Tx};
use super::{Backend, Store};
use crate::error::{Error, Result};
use crate::util::net::without_password;

/// How a column is carried across.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Time,
    Json,
}
use Kind::{Int, Json, Text, Time};

/// One table: its columns (the key first), the order rows are read in,
/// whether its `id` is an identity (a sequence to move on PostgreSQL),
/// and a self-referencing column set once every row is in.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    order_by: &'static str,
    identity: bool,
    later: Option<&'static str>,
}

/// Every table of an installation, parents before children.
static TABLES: &[Table] = &[
    Table {
        name: "subscribers",
        columns: &[
            ("id", Int),
            ("email", Text),
            ("email_key", Text),
            ("name", Text),
            ("status", Text),
            ("source", Text),
            ("attributes", Json),
            ("created_at", Time),
            ("confirmed_at", Time),
            ("unsubscribed_at", Time),
            ("unsub_verifier", Text),
            ("confirm_hash", Text),
            ("confirm_expires_at", Time),
            ("confirm_sent_at", Time),
            ("selector", Text),
            ("confirm_name", Text),
            ("bounces_reset_at", Time),
            ("welcomed_at", Time),
            ("frequency", Text),
            ("topics", Json),
        ],
        order_by: "id",
        identity: true,
        later: None,
    },
    Table {
        name: "subscriber_aliases",
        columns: &[
            ("selector", Text),
            ("unsub_verifier", Text),
            ("subscriber_id", Int),
        ],
        order_by: "selector",
        identity: false,
        later: None,
    },
    Table {
        name: "suppressions",
        columns: &[("email_hash", Text), ("reason", Text), ("created_at", Time)],
        order_by: "email_hash",
        identity: false,
        later: None,
    },
    Table {
        name: "campaigns",
        columns: &[
            ("id", Int),
            ("kind", Text),
            ("subject", Text),
            ("prepared", Text),
            ("status", Text),
            ("total", Int),
            ("last_error", Text),
            ("heartbeat_at", Time),
            ("created_at", Time),
            ("started_at", Time),
            ("finished_at", Time),
            ("claim_host", Text),
            ("claim_pid", Int),
            ("claim_id", Text),
            ("unreachable_tries", Int),
            ("retry_at", Time),
            ("scheduled_at", Time),
            ("variant_of", Int),
            ("summary", Text),
        ],
        order_by: "id",
        identity: true,
        // A variant names a campaign that may come later in id order.
        later: Some("variant_of"),
    },
    Table {
        name: "campaign_posts",
        columns: &[("campaign_id", Int), ("slug", Text), ("post_date", Time)],
        order_by: "campaign_id, slug",
        identity: false,
        later: None,
    },
    Table {
        name: "deliveries",
        columns: &[
            ("id", Int),
            ("campaign_id", Int),
            ("subscriber_id", Int),
            ("status", Text),
            ("attempts", Int),
            ("next_attempt_at", Time),
            ("message_id", Text),
            ("sent_at", Time),
            ("last_reply", Text),
            ("lease_owner", Text),
            ("lease_until", Time),
        ],
        order_by: "id",
        identity: true,
        later: None,
    },
    Table {
        name: "bounces",
        columns: &[
            ("id", Int),
            ("event_key", Text),
            ("subscriber_id", Int),
            ("campaign_id", Int),
            ("kind", Text),
            ("blocked", Int),
            ("status", Text),
            ("reason", Text),
            ("diagnostic", Text),
            ("source", Text),
            ("created_at", Time),
        ],
        order_by: "id",
        identity: true,
        later: None,
    },
    Table {
        name: "seen_posts",
        columns: &[("slug", Text), ("seen_at", Time), ("campaign_id", Int)],
        order_by: "slug",
        identity: false,
        later: None,
    },
    Table {
        name: "digest_runs",
        columns: &[("period", Time), ("campaign_id", Int), ("handled_at", Time)],
        order_by: "period",
        identity: false,
        later: None,
    },
    Table {
        name: "worker_state",
        columns: &[("key", Text), ("value", Text)],
        order_by: "key",
        identity: false,
        later: None,
    },
    Table {
        name: "erased_ids",
        columns: &[("row_id", Int), ("erased_at", Time)],
        order_by: "row_id",
        identity: false,
        later: None,
    },
    Table {
        name: "senders",
        columns: &[
            ("id", Text),
            ("host", Text),
            ("pid", Int),
            ("role", Text),
            ("campaign_id", Int),
            ("started_at", Time),
            ("heartbeat_at", Time),
        ],
        order_by: "id",
        identity: false,
        later: None,
    },
];

/// Rows per INSERT (the widest table has 20 columns: 10,000 parameters,
/// under SQLite's 32,766 and PostgreSQL's 65,535).
const BATCH: usize = 500;

/// One value in transit.
enum Val {
    Int(Option<i64>),
    Text(Option<String>),
    Time(Option<Ts>),
    Json(Option<JsonText>),
}

/// The row counts of one table on both sides.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableCount {
    pub table: &'static str,
    pub source: i64,
    pub target: i64,
}

/// What a copy did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Copied {
    /// Backends: `sqlite` or `postgres`.
    pub from: &'static str,
    pub to: &'static str,
    pub tables: Vec<TableCount>,
}

/// Copy every row from the database at `from` to the one at `to`
/// (migrated first; it must hold no rows).
pub async fn copy(from: &str, to: &str) -> Result<Copied> {
    let source = Store::open_existing_read_only(from).await?;
    check_migrated(&source, from).await?;
    let target = Store::open(to).await?;
    for t in TABLES {
        let n = count(&target, t.name).await?;
        if n > 0 {
            return Err(Error::msg(format!(
                "refusing to copy into {}: it already holds {n} {} row{}",
                without_password(to),
                t.name,
                if n == 1 { "" } else { "s" }
            )));
        }
    }
    let mut src = Tx::begin_read(&source.pool).await?;
    // One snapshot of the source, whatever its writers do meanwhile.
    db_tx!(&mut src, t, d => if d.is_postgres() {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut **t)
            .await?;
    });
    let mut dst = Tx::begin(&target.pool).await?;
    let mut tables = Vec::new();
    for t in TABLES {
        copy_table(&mut src, &mut dst, t)
            .await
            .map_err(|e| e.context(format!("copying {}", t.name)))?;
        tables.push(TableCount {
            table: t.name,
            source: count_tx(&mut src, t.name).await?,
            target: count_tx(&mut dst, t.name).await?,
        });
    }
    if target.backend() == Backend::Postgres {
        move_sequences(&mut dst).await?;
    }
    if let Some(c) = tables.iter().find(|c| c.source != c.target) {
        dst.rollback().await?;
        return Err(Error::msg(format!(
            "copy not committed: {} has {} rows in the source but {} in the target",
            c.table, c.source, c.target
        )));
    }
    dst.commit().await?;
    src.rollback().await?;
    let copied = Copied {
        from: source.backend().as_str(),
        to: target.backend().as_str(),
        tables,
    };
    source.close().await;
    target.close().await;
    Ok(copied)
}

/// The source must have every migration this build knows (its columns
/// are the ones copied).
async fn check_migrated(source: &Store, url: &str) -> Result<()> {
    let known = match source.backend() {
        Backend::Sqlite => super::SQLITE_MIGRATIONS.iter().count(),
        Backend::Postgres => super::POSTGRES_MIGRATIONS.iter().count(),
    };
    let applied = source.applied_migrations().await.unwrap_or(0);
    if applied < known {
        return Err(Error::msg(format!(
            "{} is not up to date ({applied} of {known} migrations applied): run `gazette db migrate` on it first",
            without_password(url)
        )));
    }
    Ok(())
}

async fn count(store: &Store, table: &str) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    Ok(db!(&store.pool, p, pg => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(p).await?
    }))
}

async fn count_tx(tx: &mut Tx, table: &str) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    Ok(db_tx!(tx, t, pg => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut **t).await?
    }))
}

/// Stream one table's rows from `src` into `dst`, a batch at a time.
async fn copy_table(src: &mut Tx, dst: &mut Tx, table: &'static Table) -> Result<()> {
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        names.join(", "),
        table.name,
        table.order_by
    );
    let later = table
        .later
        .and_then(|l| table.columns.iter().position(|(n, _)| *n == l));
    let mut deferred: Vec<(i64, i64)> = Vec::new();
    let mut batch: Vec<Vec<Val>> = Vec::with_capacity(BATCH);
    db_tx!(src, t, pg => {
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut **t);
        while let Some(row) = rows.try_next().await? {
            let mut vals = read_row(&row, table)?;
            if let Some(i) = later {
                defer(&mut vals, i, &mut deferred);
            }
            batch.push(vals);
            if batch.len() == BATCH {
                insert(dst, table, std::mem::take(&mut batch)).await?;
            }
        }
    });
    if !batch.is_empty() {
        insert(dst, table, batch).await?;
    }
    if let Some(column) = table.later {
        set_later(dst, table, column, deferred).await?;
    }
    Ok(())
}

/// Take out a self-reference (written once every row is in).
fn defer(vals: &mut [Val], i: usize, deferred: &mut Vec<(i64, i64)>) {
    if let (Val::Int(Some(key)), Val::Int(Some(v))) = (&vals[0], &vals[i]) {
        deferred.push((*key, *v));
        vals[i] = Val::Int(None);
    }
}

/// One row's values, by the table's column kinds.
fn read_row<R>(row: &R, table: &Table) -> Result<Vec<Val>>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<Ts>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<JsonText>: Decode<'r, R::Database> + Type<R::Database>,
    R::Database: Database,
{
    let mut out = Vec::with_capacity(table.columns.len());
    for (i, (name, kind)) in table.columns.iter().enumerate() {
        let v = match kind {
            Int => row.try_get(i).map(Val::Int),
            Text => row.try_get(i).map(Val::Text),
            Time => row.try_get(i).map(Val::Time),
            Json => row.try_get(i).map(Val::Json),
        };
        out.push(v.map_err(|e| Error::database(format!("column {name}"), e))?);
    }
    Ok(out)
}

/// One multi-row INSERT of `rows`.
async fn insert(dst: &mut Tx, table: &Table, rows: Vec<Vec<Val>>) -> Result<()> {
    let width = table.columns.len();
    let tuples: Vec<String> = (0..rows.len())
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        table.name,
        names.join(", "),
        tuples.join(", ")
    );
    db_tx!(dst, t, pg => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for v in rows.into_iter().flatten() {
            q = match v {
                Val::Int(x) => q.bind(x),
                Val::Text(x) => q.bind(x),
                Val::Time(x) => q.bind(x),
                Val::Json(x) => q.bind(x),
            };
        }
        q.execute(&mut **t).await?;
    });
    Ok(())
}

/// Write the deferred self-references.
async fn set_later(
    dst: &mut Tx,
    table: &Table,
    column: &str,
    deferred: Vec<(i64, i64)>,
) -> Result<()> {
    let key = table.columns[0].0;
    let sql = format!("UPDATE {} SET {column} = $2 WHERE {key} = $1", table.name);
    for (k, v) in deferred {
        db_tx!(&mut *dst, t, pg => {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(k)
                .bind(v)
                .execute(&mut **t)
                .await?;
        });
    }
    Ok(())
}

/// PostgreSQL: every identity continues after the highest id copied.
async fn move_sequences(dst: &mut Tx) -> Result<()> {
    for t in TABLES.iter().filter(|t| t.identity) {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {0}",
            t.name
        );
        db_tx!(&mut *dst, tx, pg => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut **tx).await?;
        });
    }
    Ok(())
}
