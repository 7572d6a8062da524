//! Scheduled sends and the send history of posts (SQL only).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::campaigns::insert_campaign_posts;
use super::campaigns::CampaignEmail;
use super::campaigns::DeliveryStatus;
use super::db::{db, db_tx, BeginWrite, Tx};
use super::{ts, Store, Ts};
use crate::error::Result;

/// One campaign that carried a post.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Carrier {
    pub campaign_id: i64,
    pub kind: String,
    pub status: String,
    pub created_at: String,
}

impl Store {
    /// Create a campaign that waits as `scheduled` until `at`. Its audience
    /// is fixed when it starts (`start_scheduled`), not now.
    pub async fn schedule_campaign(
        &self,
        email: &impl CampaignEmail,
        posts: &[(String, DateTime<Utc>)],
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let mut tx = Tx::begin(&self.pool).await?;
        let id: i64 = db_tx!(&mut tx, t, pg => {
            sqlx::query_scalar(
                "INSERT INTO campaigns (kind, subject, prepared, status, created_at, scheduled_at)
                 VALUES ($1, $2, '', 'scheduled', $3, $4) RETURNING id",
            )
            .bind(email.kind())
            .bind(email.subject())
            .bind(Ts(now))
            .bind(Ts(at))
            .fetch_one(&mut **t)
            .await?
        });
        let (json, links) = email.body(id, None)?;
        super::clicks::attach(&mut tx, id, links).await?;
        db_tx!(&mut tx, t, pg => {
            sqlx::query("UPDATE campaigns SET prepared = $2 WHERE id = $1")
                .bind(id)
                .bind(json)
                .execute(&mut **t)
                .await?;
        });
        insert_campaign_posts(&mut tx, id, posts).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Start campaign `id` if it is `scheduled` and due at `now`: status
    /// `queued` and one pending delivery per active subscriber whose
    /// frequency includes this kind of email (topics are not applied to
    /// scheduled sends yet), in one
    /// transaction whose first statement is a conditional UPDATE, so that
    /// of two workers exactly one starts it. Returns the recipients, or
    /// `None` when it was not this caller's to start.
    pub async fn start_scheduled(&self, id: i64, now: DateTime<Utc>) -> Result<Option<i64>> {
        let total = db!(&self.pool, p, pg => {
            let mut tx = p.begin_write().await?;
            let took = sqlx::query(
                "UPDATE campaigns SET status = 'queued'
                 WHERE id = $1 AND status = 'scheduled' AND scheduled_at <= $2",
            )
            .bind(id)
            .bind(Ts(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if took != 1 {
                return Ok(None);
            }
            // The readers' choice of frequency holds for scheduled sends too (a
            // reader who never chose gets both, as with any operator's send).
            let kind: String = sqlx::query_scalar("SELECT kind FROM campaigns WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let wanted = if kind == "post" { "each" } else { "digest" };
            let total = sqlx::query(
                "INSERT INTO deliveries (campaign_id, subscriber_id, status)
                 SELECT $1, id, $2 FROM subscribers WHERE status = 'active'
                   AND COALESCE(frequency, 'both') IN ($3, 'both') ORDER BY id",
            )
            .bind(id)
            .bind(DeliveryStatus::Pending)
            .bind(wanted)
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64;
            sqlx::query("UPDATE campaigns SET total = $2 WHERE id = $1")
                .bind(id)
                .bind(total)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            total
        });
        Ok(Some(total))
    }

    /// Scheduled campaigns due at `now`, oldest time first.
    pub async fn due_scheduled(&self, now: DateTime<Utc>) -> Result<Vec<i64>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "SELECT id FROM campaigns WHERE status = 'scheduled' AND scheduled_at <= $1
                 ORDER BY scheduled_at, id",
            )
            .bind(Ts(now))
            .fetch_all(p)
            .await?
        }))
    }

    /// When the next scheduled campaign starts.
    pub async fn next_scheduled(&self) -> Result<Option<DateTime<Utc>>> {
        let t: Option<Ts> = db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT MIN(scheduled_at) FROM campaigns WHERE status = 'scheduled'")
                .fetch_one(p)
                .await?
        });
        Ok(t.map(|t| t.0))
    }

    /// Every campaign (not cancelled) that carried or will carry each post,
    /// by slug, oldest first.
    pub async fn post_carriers(&self) -> Result<BTreeMap<String, Vec<Carrier>>> {
        let rows: Vec<(String, i64, String, String, Ts)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT p.slug, c.id, c.kind, c.status, c.created_at
                 FROM campaign_posts p JOIN campaigns c ON c.id = p.campaign_id
                 WHERE c.status <> 'cancelled' ORDER BY c.id",
            )
            .fetch_all(p)
            .await?
        });
        let mut out: BTreeMap<String, Vec<Carrier>> = BTreeMap::new();
        for (slug, campaign_id, kind, status, created_at) in rows {
            out.entry(slug).or_default().push(Carrier {
                campaign_id,
                kind,
                status,
                created_at: ts(created_at.0),
            });
        }
        Ok(out)
    }
}
