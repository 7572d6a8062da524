//! What the worker remembers between runs (SQL only).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{parse_ts, ts, Store};
use crate::error::Result;

impl Store {
    pub async fn state(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM worker_state WHERE key = ?1")
                .bind(key)
                .fetch_optional(self.lite())
                .await?,
        )
    }

    /// Set `key` unless it is set; returns the value in force.
    pub async fn state_init(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO worker_state (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(self.lite())
        .await?;
        Ok(self.state(key).await?.unwrap_or_else(|| value.to_string()))
    }

    pub async fn seen_posts(&self) -> Result<HashSet<String>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT slug FROM seen_posts")
            .fetch_all(self.lite())
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Record a post as seen; false if it already was (another run won).
    pub async fn mark_seen(&self, slug: &str, now: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO seen_posts (slug, seen_at) VALUES (?1, ?2) ON CONFLICT (slug) DO NOTHING",
        )
        .bind(slug)
        .bind(ts(now))
        .execute(self.lite())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_seen_campaign(&self, slug: &str, campaign: i64) -> Result<()> {
        sqlx::query("UPDATE seen_posts SET campaign_id = ?2 WHERE slug = ?1")
            .bind(slug)
            .bind(campaign)
            .execute(self.lite())
            .await?;
        Ok(())
    }

    /// Claim a digest period; false if it was handled before.
    pub async fn claim_digest_period(
        &self,
        period: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO digest_runs (period, handled_at) VALUES (?1, ?2) ON CONFLICT (period) DO NOTHING",
        )
        .bind(ts(period))
        .bind(ts(now))
        .execute(self.lite())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_digest_campaign(&self, period: DateTime<Utc>, campaign: i64) -> Result<()> {
        sqlx::query("UPDATE digest_runs SET campaign_id = ?2 WHERE period = ?1")
            .bind(ts(period))
            .bind(campaign)
            .execute(self.lite())
            .await?;
        Ok(())
    }

    /// The latest digest period handled, if any.
    pub async fn last_digest_period(&self) -> Result<Option<DateTime<Utc>>> {
        let p: Option<String> = sqlx::query_scalar("SELECT MAX(period) FROM digest_runs")
            .fetch_one(self.lite())
            .await?;
        Ok(p.as_deref().and_then(parse_ts))
    }

    /// Prometheus figures: (kind, status, count) of deliveries.
    pub async fn delivery_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT c.kind, d.status, COUNT(*) AS n FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
             GROUP BY c.kind, d.status",
        )
        .fetch_all(self.lite())
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("kind")?, r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    /// Pending deliveries of campaigns that are sending.
    pub async fn queue_depth(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
             WHERE d.status = ?1 AND c.status = 'sending'",
        )
        .bind(super::campaigns::DeliveryStatus::Pending.as_str())
        .fetch_one(self.lite())
        .await?)
    }

    /// When the last digest campaign finished.
    pub async fn last_digest_sent(&self) -> Result<Option<DateTime<Utc>>> {
        let t: Option<String> = sqlx::query_scalar(
            "SELECT MAX(finished_at) FROM campaigns WHERE kind = 'digest' AND status = 'done'",
        )
        .fetch_one(self.lite())
        .await?;
        Ok(t.as_deref().and_then(parse_ts))
    }
}
