//! What readers choose (frequency, topics), the once-only welcome, the
//! campaigns sent to a chosen audience, and the public archive.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::campaigns::insert_campaign_posts;
use super::db::{db_tx, Tx};
use super::{ts, Store, Ts};
use crate::audience::prefs::{Frequency, Preferences};
use crate::error::{Error, Result};
use crate::render::Prepared;

/// Who a campaign goes to (active subscribers only, always).
#[derive(Debug, Clone)]
pub enum Audience<'a> {
    /// Readers whose frequency includes posts (`default` for those who
    /// never chose) and whose topics, if any, meet `tags`.
    Posts {
        tags: &'a [String],
        default: Frequency,
    },
    /// These subscribers (a digest's selection).
    Ids(&'a [i64]),
}

/// One sent campaign in the archive.
#[derive(Debug, Clone)]
pub struct ArchiveEntry {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub summary: String,
    /// When it started sending (or was created).
    pub sent_at: DateTime<Utc>,
}

/// Campaigns the archive shows: started, not cancelled, not a variant.
/// Only what went out: not scheduled (not public before its time), not
/// cancelled or waiting.
const ARCHIVED: &str = "status NOT IN ('cancelled', 'queued', 'scheduled') AND variant_of IS NULL";

impl Store {
    /// Claim the welcome email of subscriber `id`: true once per person,
    /// however often it is asked (an atomic flag).
    pub async fn claim_welcome(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE subscribers SET welcomed_at = ?2
             WHERE id = ?1 AND welcomed_at IS NULL AND status = 'active'",
        )
        .bind(id)
        .bind(ts(now))
        .execute(self.lite())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The welcome email could not be sent: a later confirmation may try again.
    pub async fn release_welcome(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE subscribers SET welcomed_at = NULL WHERE id = ?1")
            .bind(id)
            .execute(self.lite())
            .await?;
        Ok(())
    }

    /// Active imported readers never welcomed: with `welcome`, their
    /// addresses (to send it); without, they are marked as welcomed, so
    /// an import never sends one later.
    pub async fn imported_unwelcomed(
        &self,
        welcome: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        if welcome {
            return Ok(sqlx::query_scalar(
                "SELECT email FROM subscribers WHERE status = 'active' AND source = 'import'
                 AND welcomed_at IS NULL ORDER BY id",
            )
            .fetch_all(self.lite())
            .await?);
        }
        sqlx::query(
            "UPDATE subscribers SET welcomed_at = ?1 WHERE status = 'active' AND source = 'import'
             AND welcomed_at IS NULL",
        )
        .bind(ts(now))
        .execute(self.lite())
        .await?;
        Ok(Vec::new())
    }

    /// Imported `frequency` and `topics` columns (kept as attributes by
    /// the import) become the readers' preferences. `topic_ok` says which
    /// topics exist. Returns (readers updated, `(email, problem)` for
    /// values left as attributes).
    pub async fn adopt_imported_preferences(
        &self,
        topic_ok: impl Fn(&str) -> bool,
    ) -> Result<(u64, Vec<(String, String)>)> {
        let rows = sqlx::query(
            "SELECT id, email, attributes FROM subscribers
             WHERE json_extract(attributes, '$.frequency') IS NOT NULL
                OR json_extract(attributes, '$.topics') IS NOT NULL",
        )
        .fetch_all(self.lite())
        .await?;
        let (mut done, mut problems) = (0, Vec::new());
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let email: String = r.try_get("email")?;
            let text: String = r.try_get("attributes")?;
            let mut attrs: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).unwrap_or_default();
            let mut prefs = self.preferences(id).await?;
            let cell = |v: &serde_json::Value| v.as_str().map_or(v.to_string(), str::to_string);
            if let Some(v) = attrs.get("frequency").map(cell) {
                match Frequency::parse(&v) {
                    Ok(f) => {
                        prefs.frequency = Some(f);
                        attrs.remove("frequency");
                    }
                    Err(_) if v.trim().is_empty() => {
                        attrs.remove("frequency");
                    }
                    Err(m) => problems.push((email.clone(), format!("frequency: {m}"))),
                }
            }
            if let Some(v) = attrs.get("topics").map(cell) {
                let topics = crate::audience::prefs::parse_topics(&v);
                match topics.iter().find(|t| !topic_ok(t)) {
                    Some(bad) => problems
                        .push((email.clone(), format!("topics: {bad:?} is not in [topics]"))),
                    None => {
                        prefs.topics = topics;
                        attrs.remove("topics");
                    }
                }
            }
            self.set_preferences(id, &prefs).await?;
            sqlx::query("UPDATE subscribers SET attributes = ?2 WHERE id = ?1")
                .bind(id)
                .bind(serde_json::Value::Object(attrs).to_string())
                .execute(self.lite())
                .await?;
            done += 1;
        }
        Ok((done, problems))
    }

    pub async fn preferences(&self, id: i64) -> Result<Preferences> {
        let row = sqlx::query("SELECT frequency, topics FROM subscribers WHERE id = ?1")
            .bind(id)
            .fetch_optional(self.lite())
            .await?;
        let Some(row) = row else {
            return Ok(Preferences::default());
        };
        let f: Option<String> = row.try_get("frequency")?;
        let t: Option<String> = row.try_get("topics")?;
        Ok(Preferences {
            frequency: f.as_deref().and_then(|f| Frequency::parse(f).ok()),
            topics: t
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default(),
        })
    }

    pub async fn set_preferences(&self, id: i64, p: &Preferences) -> Result<()> {
        let topics = (!p.topics.is_empty()).then(|| serde_json::json!(p.topics).to_string());
        sqlx::query("UPDATE subscribers SET frequency = ?2, topics = ?3 WHERE id = ?1")
            .bind(id)
            .bind(p.frequency.map(Frequency::as_str))
            .bind(topics)
            .execute(self.lite())
            .await?;
        Ok(())
    }

    /// Active readers who get digests, with their topics (oldest first).
    pub async fn digest_readers(&self, default: Frequency) -> Result<Vec<(i64, Vec<String>)>> {
        let rows = sqlx::query(
            "SELECT id, topics FROM subscribers WHERE status = 'active'
             AND COALESCE(frequency, ?1) IN ('digest', 'both') ORDER BY id",
        )
        .bind(default.as_str())
        .fetch_all(self.lite())
        .await?;
        rows.into_iter()
            .map(|r| {
                let t: Option<String> = r.try_get("topics")?;
                let topics = t
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok())
                    .unwrap_or_default();
                Ok((r.try_get("id")?, topics))
            })
            .collect()
    }

    /// Readers a post campaign for `tags` would reach.
    pub async fn count_audience(&self, audience: &Audience<'_>) -> Result<i64> {
        let (sql, a, b) = audience_sql(audience);
        let sql = format!("SELECT COUNT(*) FROM subscribers WHERE {sql}");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(a)
            .bind(b)
            .fetch_one(self.lite())
            .await?)
    }

    /// Create a campaign for `audience`, in one transaction with its
    /// deliveries, its "View in browser" link pointing at its archive page
    /// under `public_url`, and `summary` for the archive. `variant_of`: the campaign of the whole digest
    /// this one carries a selection of. Returns (id, recipients).
    pub async fn create_campaign_for(
        &self,
        prepared: &Prepared,
        posts: &[(String, DateTime<Utc>)],
        audience: &Audience<'_>,
        (public_url, summary): (&str, &str),
        variant_of: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(i64, i64)> {
        let mut tx = Tx::begin(&self.pool).await?;
        let id: i64 = db_tx!(&mut tx, t, pg => {
            sqlx::query_scalar(
                "INSERT INTO campaigns (kind, subject, prepared, status, created_at, variant_of, summary)
                 VALUES ($1, $2, '', 'queued', $3, $4, $5) RETURNING id",
            )
            .bind(prepared.kind.name())
            .bind(&prepared.subject)
            .bind(Ts(now))
            .bind(variant_of)
            .bind(summary)
            .fetch_one(&mut **t)
            .await?
        });
        let link_id = variant_of.unwrap_or(id);
        let json = serde_json::to_string(&prepared.for_campaign(link_id, public_url))
            .map_err(|e| Error::msg(e.to_string()))?;
        insert_campaign_posts(&mut tx, id, posts).await?;
        let (filter, a, b) = audience_sql(audience);
        let sql = format!(
            "INSERT INTO deliveries (campaign_id, subscriber_id, status)
             SELECT ?3, id, 'pending' FROM subscribers WHERE {filter} ORDER BY id"
        );
        let total = db_tx!(&mut tx, t, pg => {
            let total = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(a)
                .bind(b)
                .bind(id)
                .execute(&mut **t)
                .await?
                .rows_affected() as i64;
            sqlx::query("UPDATE campaigns SET total = $2, prepared = $3 WHERE id = $1")
                .bind(id)
                .bind(total)
                .bind(json)
                .execute(&mut **t)
                .await?;
            total
        });
        tx.commit().await?;
        Ok((id, total))
    }

    /// The variants of a digest campaign, with their recipients.
    pub async fn variants_of(&self, id: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query("SELECT id, total FROM campaigns WHERE variant_of = ?1 ORDER BY id")
            .bind(id)
            .fetch_all(self.lite())
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("total")?)))
            .collect()
    }

    /// Archived campaigns, newest first: `limit` from `offset`, and how
    /// many there are in all.
    pub async fn archive(&self, offset: i64, limit: i64) -> Result<(Vec<ArchiveEntry>, i64)> {
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM campaigns WHERE {ARCHIVED}"
        )))
        .fetch_one(self.lite())
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, kind, subject, COALESCE(summary, '') AS summary, COALESCE(started_at, created_at) AS at FROM campaigns
             WHERE {ARCHIVED} ORDER BY at DESC, id DESC LIMIT ?1 OFFSET ?2"
        )))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.lite())
        .await?;
        let entries = rows
            .into_iter()
            .map(|r| {
                let at: String = r.try_get("at")?;
                Ok(ArchiveEntry {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    subject: r.try_get("subject")?,
                    summary: r.try_get("summary")?,
                    sent_at: super::parse_ts(&at).unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((entries, total))
    }

    /// One archived campaign and its email.
    pub async fn archived(&self, id: i64) -> Result<Option<(ArchiveEntry, Prepared)>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, kind, subject, COALESCE(summary, '') AS summary, prepared, COALESCE(started_at, created_at) AS at
             FROM campaigns WHERE id = ?1 AND {ARCHIVED}"
        )))
        .bind(id)
        .fetch_optional(self.lite())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let json: String = r.try_get("prepared")?;
        let prepared: Prepared =
            serde_json::from_str(&json).map_err(|e| Error::msg(format!("campaign {id}: {e}")))?;
        let at: String = r.try_get("at")?;
        Ok(Some((
            ArchiveEntry {
                id,
                kind: r.try_get("kind")?,
                subject: r.try_get("subject")?,
                summary: r.try_get("summary")?,
                sent_at: super::parse_ts(&at).unwrap_or_default(),
            },
            prepared,
        )))
    }
}

/// The WHERE clause of an audience and its two bound values (?1, ?2).
fn audience_sql(audience: &Audience<'_>) -> (&'static str, String, String) {
    match audience {
        Audience::Posts { tags, default } => (
            "status = 'active' AND COALESCE(frequency, ?1) IN ('each', 'both')
             AND (topics IS NULL OR topics = '[]' OR EXISTS (
                 SELECT 1 FROM json_each(subscribers.topics) t
                 WHERE t.value IN (SELECT lower(value) FROM json_each(?2))))",
            default.as_str().to_string(),
            serde_json::json!(tags).to_string(),
        ),
        Audience::Ids(ids) => (
            "status = 'active' AND ?1 = ?1 AND id IN (SELECT value FROM json_each(?2))",
            String::new(),
            serde_json::json!(ids).to_string(),
        ),
    }
}
