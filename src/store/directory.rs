//! The subscriber directory for operators (SQL only): search and paging,
//! lookup by id, edits of name and attributes.

use serde_json::{Map, Value};

use super::db::{db, BeginWrite};
use super::{JsonText, Store, SubscriberRow};
use crate::audience::{Status, Subscriber};
use crate::error::Result;

/// One page of subscribers, and how many match in all.
#[derive(Debug)]
pub struct Page {
    pub subscribers: Vec<Subscriber>,
    pub total: i64,
}

/// What an edit of a subscriber did.
#[derive(Debug)]
pub enum Edited {
    /// The row after the change.
    Done(Subscriber),
    NotFound,
    /// Refused: the attributes would be over their cap (the reason).
    TooLarge(String),
}

/// Escape `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_pattern(q: &str) -> String {
    let mut p = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// Subscribers in `status` (all when `None`) whose address or name
    /// contains `q` (case-insensitive), oldest first, `limit` from `offset`.
    pub async fn search(
        &self,
        status: Option<Status>,
        q: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Page> {
        let pattern = q.filter(|q| !q.is_empty()).map(like_pattern);
        // LIKE is case-sensitive on PostgreSQL: both sides in lowercase.
        let filter = "WHERE ($1 IS NULL OR status = $1)
             AND ($2 IS NULL OR lower(email_key) LIKE $2 ESCAPE '\\' OR lower(COALESCE(name, '')) LIKE $2 ESCAPE '\\')";
        let count = format!("SELECT COUNT(*) FROM subscribers {filter}");
        let page = format!(
            "SELECT {} FROM subscribers {filter} ORDER BY id LIMIT $3 OFFSET $4",
            subscriber_columns!()
        );
        let (total, rows): (i64, Vec<SubscriberRow>) = db!(&self.pool, p, pg => {
            let total = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(status.map(Status::as_str))
                .bind(pattern.as_deref())
                .fetch_one(p)
                .await?;
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(page))
                .bind(status.map(Status::as_str))
                .bind(pattern.as_deref())
                .bind(limit)
                .bind(offset)
                .fetch_all(p)
                .await?;
            (total, rows)
        });
        Ok(Page {
            subscribers: rows.into_iter().map(SubscriberRow::into_domain).collect(),
            total,
        })
    }

    pub async fn subscriber_by_id(&self, id: i64) -> Result<Option<Subscriber>> {
        let row: Option<SubscriberRow> = db!(&self.pool, p, pg => {
            sqlx::query_as(concat!(
                "SELECT ",
                subscriber_columns!(),
                " FROM subscribers WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(SubscriberRow::into_domain))
    }

    /// Change a subscriber's name (`Some(None)` clears it) and merge
    /// `attributes` into theirs (a `null` value removes the key). Returns
    /// the row after the change, or `None` when there is no such id; an
    /// edit that would take the attributes over their cap is an error (see
    /// `edit_subscriber`, which tells it apart).
    pub async fn update_subscriber(
        &self,
        id: i64,
        name: Option<Option<&str>>,
        attributes: Option<&Map<String, Value>>,
    ) -> Result<Option<Subscriber>> {
        match self.edit_subscriber(id, name, attributes).await? {
            Edited::Done(s) => Ok(Some(s)),
            Edited::NotFound => Ok(None),
            Edited::TooLarge(m) => Err(crate::error::Error::msg(format!("subscriber {id}: {m}"))),
        }
    }

    /// `update_subscriber`, with an edit refused for the attributes' cap
    /// (`audience::attributes::MAX_BYTES`, of the merged attributes: the
    /// cap is per subscriber, not per edit) told apart; nothing changes then.
    pub async fn edit_subscriber(
        &self,
        id: i64,
        name: Option<Option<&str>>,
        attributes: Option<&Map<String, Value>>,
    ) -> Result<Edited> {
        let merge = |current: &JsonText| {
            let mut merged: Map<String, Value> =
                serde_json::from_str(&current.0).unwrap_or_default();
            for (k, v) in attributes.into_iter().flatten() {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            // A row stored over the cap (before there was one) may still
            // be renamed or trimmed: only growth past the cap is refused.
            let merged = JsonText(Value::Object(merged).to_string());
            if merged.0.len() > current.0.len() {
                crate::audience::attributes::check_len(merged.0.len())?;
            }
            Ok::<_, String>(merged)
        };
        let found = db!(&self.pool, p, d => {
            let mut tx = p.begin_write().await?;
            // Locked until the commit: a concurrent edit cannot be lost.
            let current: Option<JsonText> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT attributes FROM subscribers WHERE id = $1{}",
                d.for_update()
            )))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            match current.as_ref().map(merge) {
                None => Ok(false),
                Some(Err(too_large)) => Err(too_large),
                Some(Ok(merged)) => {
                    sqlx::query(
                        "UPDATE subscribers SET attributes = $2,
                             name = CASE WHEN $3 THEN $4 ELSE name END
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(merged)
                    .bind(name.is_some())
                    .bind(name.flatten())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(true)
                }
            }
        });
        match found {
            Err(too_large) => Ok(Edited::TooLarge(too_large)),
            Ok(false) => Ok(Edited::NotFound),
            Ok(true) => Ok(self
                .subscriber_by_id(id)
                .await?
                .map_or(Edited::NotFound, Edited::Done)),
        }
    }
}
