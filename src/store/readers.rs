//! What readers choose (frequency, topics), the once-only welcome, the
//! campaigns sent to a chosen audience, and the public archive.

use super::campaigns::insert_campaign_posts;
use super::campaigns::CampaignEmail;
use super::db::{db, db_tx, Tx};
use super::dialect::Dialect;
use super::{JsonText, Store, Ts};
use crate::audience::prefs::{Frequency, Preferences};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};

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

/// Of those, the ones the list and the feed show: sent to someone (the
/// campaign or, for a digest, one of its variants had recipients), and not
/// a resend (`send --force`) of the posts of an earlier one of the same
/// kind, which is listed instead.
const LISTED: &str = "(total > 0 OR EXISTS (SELECT 1 FROM campaigns v WHERE v.variant_of = campaigns.id AND v.total > 0))
    AND NOT (EXISTS (SELECT 1 FROM campaign_posts p WHERE p.campaign_id = campaigns.id)
        AND EXISTS (SELECT 1 FROM campaigns o
            WHERE o.id < campaigns.id AND o.kind = campaigns.kind AND o.variant_of IS NULL
            AND o.status NOT IN ('cancelled', 'queued', 'scheduled')
            AND (o.total > 0 OR EXISTS (SELECT 1 FROM campaigns ov WHERE ov.variant_of = o.id AND ov.total > 0))
            AND NOT EXISTS (SELECT 1 FROM campaign_posts p WHERE p.campaign_id = campaigns.id
                AND NOT EXISTS (SELECT 1 FROM campaign_posts q WHERE q.campaign_id = o.id AND q.slug = p.slug))
            AND NOT EXISTS (SELECT 1 FROM campaign_posts q WHERE q.campaign_id = o.id
                AND NOT EXISTS (SELECT 1 FROM campaign_posts p WHERE p.campaign_id = campaigns.id AND p.slug = q.slug))))";

impl Store {
    /// Claim the welcome email of subscriber `id`: true once per person,
    /// however often it is asked (an atomic flag).
    pub async fn claim_welcome(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let n = db!(&self.pool, p, pg => {
            sqlx::query(
                "UPDATE subscribers SET welcomed_at = $2
                 WHERE id = $1 AND welcomed_at IS NULL AND status = 'active'",
            )
            .bind(id)
            .bind(Ts(now))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// The welcome email could not be sent: a later confirmation may try again.
    pub async fn release_welcome(&self, id: i64) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("UPDATE subscribers SET welcomed_at = NULL WHERE id = $1")
                .bind(id)
                .execute(p)
                .await?;
        });
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
            return Ok(db!(&self.pool, p, pg => {
                sqlx::query_scalar(
                    "SELECT email FROM subscribers WHERE status = 'active' AND source = 'import'
                     AND welcomed_at IS NULL ORDER BY id",
                )
                .fetch_all(p)
                .await?
            }));
        }
        db!(&self.pool, p, pg => {
            sqlx::query(
                "UPDATE subscribers SET welcomed_at = $1 WHERE status = 'active' AND source = 'import'
                 AND welcomed_at IS NULL",
            )
            .bind(Ts(now))
            .execute(p)
            .await?;
        });
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
        let rows: Vec<(i64, String, JsonText)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT id, email, attributes FROM subscribers
                 WHERE attributes ->> 'frequency' IS NOT NULL
                    OR attributes ->> 'topics' IS NOT NULL
                 ORDER BY id",
            )
            .fetch_all(p)
            .await?
        });
        let (mut done, mut problems) = (0, Vec::new());
        for (id, email, text) in rows {
            let mut attrs: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text.0).unwrap_or_default();
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
            let attrs = JsonText(serde_json::Value::Object(attrs).to_string());
            db!(&self.pool, p, pg => {
                sqlx::query("UPDATE subscribers SET attributes = $2 WHERE id = $1")
                    .bind(id)
                    .bind(attrs)
                    .execute(p)
                    .await?;
            });
            done += 1;
        }
        Ok((done, problems))
    }

    pub async fn preferences(&self, id: i64) -> Result<Preferences> {
        let row: Option<(Option<String>, Option<JsonText>)> = db!(&self.pool, p, pg => {
            sqlx::query_as("SELECT frequency, topics FROM subscribers WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        let Some((f, t)) = row else {
            return Ok(Preferences::default());
        };
        Ok(Preferences {
            frequency: f.as_deref().and_then(|f| Frequency::parse(f).ok()),
            topics: parse_topics(t),
        })
    }

    pub async fn set_preferences(&self, id: i64, p: &Preferences) -> Result<()> {
        let topics =
            (!p.topics.is_empty()).then(|| JsonText(serde_json::json!(p.topics).to_string()));
        let frequency = p.frequency.map(Frequency::as_str);
        db!(&self.pool, p, pg => {
            sqlx::query("UPDATE subscribers SET frequency = $2, topics = $3 WHERE id = $1")
                .bind(id)
                .bind(frequency)
                .bind(topics)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Active readers who get digests, with their topics (oldest first).
    pub async fn digest_readers(&self, default: Frequency) -> Result<Vec<(i64, Vec<String>)>> {
        let rows: Vec<(i64, Option<JsonText>)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT id, topics FROM subscribers WHERE status = 'active'
                 AND COALESCE(frequency, $1) IN ('digest', 'both') ORDER BY id",
            )
            .bind(default.as_str())
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, t)| (id, parse_topics(t)))
            .collect())
    }

    /// Readers a post campaign for `tags` would reach.
    pub async fn count_audience(&self, audience: &Audience<'_>) -> Result<i64> {
        Ok(db!(&self.pool, p, d => {
            let (sql, a, b) = audience_sql(audience, d);
            let sql = format!("SELECT COUNT(*) FROM subscribers WHERE {sql}");
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(a)
                .bind(b)
                .fetch_one(p)
                .await?
        }))
    }

    /// Create a campaign for `audience`, in one transaction with its
    /// deliveries, its "View in browser" link pointing at its archive page
    /// under `public_url`, and `summary` for the archive. `variant_of`: the campaign of the whole digest
    /// this one carries a selection of. Returns (id, recipients).
    pub async fn create_campaign_for(
        &self,
        email: &impl CampaignEmail,
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
            .bind(email.kind())
            .bind(email.subject())
            .bind(Ts(now))
            .bind(variant_of)
            .bind(summary)
            .fetch_one(&mut **t)
            .await?
        });
        let link_id = variant_of.unwrap_or(id);
        let (json, links) = email.body(id, Some((link_id, public_url)))?;
        super::clicks::attach(&mut tx, id, links).await?;
        insert_campaign_posts(&mut tx, id, posts).await?;
        let total = db_tx!(&mut tx, t, d => {
            let (filter, a, b) = audience_sql(audience, d);
            let sql = format!(
                "INSERT INTO deliveries (campaign_id, subscriber_id, status)
                 SELECT $3, id, 'pending' FROM subscribers WHERE {filter} ORDER BY id"
            );
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
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_as("SELECT id, total FROM campaigns WHERE variant_of = $1 ORDER BY id")
                .bind(id)
                .fetch_all(p)
                .await?
        }))
    }

    /// Archived campaigns that are listed (see `LISTED`), newest first:
    /// `limit` from `offset`, and how many there are in all.
    pub async fn archive(&self, offset: i64, limit: i64) -> Result<(Vec<ArchiveEntry>, i64)> {
        let count = format!("SELECT COUNT(*) FROM campaigns WHERE {ARCHIVED} AND {LISTED}");
        let page = format!(
            "SELECT id, kind, subject, COALESCE(summary, '') AS summary, COALESCE(started_at, created_at) AS at FROM campaigns
             WHERE {ARCHIVED} AND {LISTED} ORDER BY at DESC, id DESC LIMIT $1 OFFSET $2"
        );
        let (total, rows): (i64, Vec<ArchiveRow>) = db!(&self.pool, p, pg => {
            let total = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .fetch_one(p)
                .await?;
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(page))
                .bind(limit)
                .bind(offset)
                .fetch_all(p)
                .await?;
            (total, rows)
        });
        let entries = rows
            .into_iter()
            .map(|(id, kind, subject, summary, at)| ArchiveEntry {
                id,
                kind,
                subject,
                summary,
                sent_at: at.0,
            })
            .collect();
        Ok((entries, total))
    }

    /// One archived campaign and its email, read into `T` (render's
    /// `Prepared`).
    pub async fn archived<T: serde::de::DeserializeOwned>(
        &self,
        id: i64,
    ) -> Result<Option<(ArchiveEntry, T)>> {
        let sql = format!(
            "SELECT kind, subject, COALESCE(summary, '') AS summary, prepared, COALESCE(started_at, created_at) AS at
             FROM campaigns WHERE id = $1 AND {ARCHIVED}"
        );
        let row: Option<(String, String, String, String, Ts)> = db!(&self.pool, p, pg => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        let Some((kind, subject, summary, json, at)) = row else {
            return Ok(None);
        };
        let prepared: T =
            serde_json::from_str(&json).map_err(|e| Error::msg(format!("campaign {id}: {e}")))?;
        Ok(Some((
            ArchiveEntry {
                id,
                kind,
                subject,
                summary,
                sent_at: at.0,
            },
            prepared,
        )))
    }
}

/// An archive entry as stored: id, kind, subject, summary, time.
type ArchiveRow = (i64, String, String, String, Ts);

/// A reader's topics as stored (a JSON array of tags, or NULL).
fn parse_topics(t: Option<JsonText>) -> Vec<String> {
    t.and_then(|t| serde_json::from_str(&t.0).ok())
        .unwrap_or_default()
}

/// The WHERE clause of an audience and its two bound values ($1, $2: a
/// frequency and a JSON array).
fn audience_sql(audience: &Audience<'_>, d: Dialect) -> (String, String, JsonText) {
    match audience {
        Audience::Posts { tags, default } => (
            format!(
                "status = 'active' AND COALESCE(frequency, $1) IN ('each', 'both')
                 AND (topics IS NULL OR topics = '[]' OR EXISTS (
                     SELECT 1 FROM {} WHERE t.value IN (SELECT lower(w.value) FROM {})))",
                d.elements("subscribers.topics", "t"),
                d.elements("$2", "w"),
            ),
            default.as_str().to_string(),
            JsonText(serde_json::json!(tags).to_string()),
        ),
        Audience::Ids(ids) => (
            format!(
                "status = 'active' AND $1 = $1 AND id IN ({})",
                d.id_list("$2")
            ),
            String::new(),
            JsonText(serde_json::json!(ids).to_string()),
        ),
    }
}
