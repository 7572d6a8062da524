//! What the worker remembers between runs (SQL only).

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::db::{db, Ts};
use super::Store;
use crate::error::Result;

impl Store {
    pub async fn state(&self, key: &str) -> Result<Option<String>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT value FROM worker_state WHERE key = $1")
                .bind(key)
                .fetch_optional(p)
                .await?
        }))
    }

    /// Set `key` unless it is set; returns the value in force.
    pub async fn state_init(&self, key: &str, value: &str) -> Result<String> {
        db!(&self.pool, p, pg => {
            sqlx::query(
                "INSERT INTO worker_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(value)
            .execute(p)
            .await?;
        });
        Ok(self.state(key).await?.unwrap_or_else(|| value.to_string()))
    }

    /// Set `key` to `new` if its value is still `old` (`None`: unset);
    /// false if another process changed it first.
    pub async fn state_swap(&self, key: &str, old: Option<&str>, new: &str) -> Result<bool> {
        let done = match old {
            None => db!(&self.pool, p, pg => {
                sqlx::query(
                    "INSERT INTO worker_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(new)
                .execute(p)
                .await?
                .rows_affected()
            }),
            Some(old) => db!(&self.pool, p, pg => {
                sqlx::query("UPDATE worker_state SET value = $3 WHERE key = $1 AND value = $2")
                    .bind(key)
                    .bind(old)
                    .bind(new)
                    .execute(p)
                    .await?
                    .rows_affected()
            }),
        };
        Ok(done == 1)
    }

    pub async fn state_delete(&self, key: &str) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("DELETE FROM worker_state WHERE key = $1")
                .bind(key)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Every key starting with `prefix`, with its value, in key order.
    pub async fn states_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = db!(&self.pool, p, pg => {
            sqlx::query_as("SELECT key, value FROM worker_state ORDER BY key")
                .fetch_all(p)
                .await?
        });
        Ok(rows
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect())
    }

    pub async fn seen_posts(&self) -> Result<HashSet<String>> {
        let rows: Vec<String> = db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT slug FROM seen_posts")
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().collect())
    }

    /// Record a post as seen; false if it already was (another run won).
    pub async fn mark_seen(&self, slug: &str, now: DateTime<Utc>) -> Result<bool> {
        let done = db!(&self.pool, p, pg => {
            sqlx::query(
                "INSERT INTO seen_posts (slug, seen_at) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING",
            )
            .bind(slug)
            .bind(Ts(now))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Undo a `mark_seen` whose campaign was never created (rendering or
    /// the database failed in between), so the next scan tries the post
    /// again instead of never sending it.
    pub async fn release_seen(&self, slug: &str) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("DELETE FROM seen_posts WHERE slug = $1 AND campaign_id IS NULL")
                .bind(slug)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    pub async fn set_seen_campaign(&self, slug: &str, campaign: i64) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("UPDATE seen_posts SET campaign_id = $2 WHERE slug = $1")
                .bind(slug)
                .bind(campaign)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Claim a digest period; false if it was handled before. Once across
    /// the fleet: the period is the table's key and the INSERT is the
    /// claim, so of several workers (on one or several hosts) sharing the
    /// database exactly one inserts the row (on PostgreSQL a concurrent
    /// second INSERT waits for the first to commit, then does nothing).
    pub async fn claim_digest_period(
        &self,
        period: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = db!(&self.pool, p, pg => {
            sqlx::query(
                "INSERT INTO digest_runs (period, handled_at) VALUES ($1, $2) ON CONFLICT (period) DO NOTHING",
            )
            .bind(Ts(period))
            .bind(Ts(now))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    pub async fn set_digest_campaign(&self, period: DateTime<Utc>, campaign: i64) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("UPDATE digest_runs SET campaign_id = $2 WHERE period = $1")
                .bind(Ts(period))
                .bind(campaign)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The latest digest period handled, if any.
    pub async fn last_digest_period(&self) -> Result<Option<DateTime<Utc>>> {
        let p: Option<Ts> = db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT MAX(period) FROM digest_runs")
                .fetch_one(p)
                .await?
        });
        Ok(p.map(|t| t.0))
    }

    /// Prometheus figures: (kind, status, count) of deliveries.
    pub async fn delivery_counts(&self) -> Result<Vec<(String, String, i64)>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT c.kind, d.status, COUNT(*) AS n FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
                 GROUP BY c.kind, d.status ORDER BY c.kind, d.status",
            )
            .fetch_all(p)
            .await?
        }))
    }

    /// Pending deliveries of campaigns that are sending.
    pub async fn queue_depth(&self) -> Result<i64> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
                 WHERE d.status = $1 AND c.status = 'sending'",
            )
            .bind(super::campaigns::DeliveryStatus::Pending)
            .fetch_one(p)
            .await?
        }))
    }

    /// When the last digest campaign finished.
    pub async fn last_digest_sent(&self) -> Result<Option<DateTime<Utc>>> {
        let t: Option<Ts> = db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "SELECT MAX(finished_at) FROM campaigns WHERE kind = 'digest' AND status = 'done'",
            )
            .fetch_one(p)
            .await?
        });
        Ok(t.map(|t| t.0))
    }
}
