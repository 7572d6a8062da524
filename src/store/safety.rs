//! Send-time safety in the store: the canary's hold on the rest of the
//! audience, and a campaign's totals for the circuit breaker.

use chrono::{DateTime, TimeZone, Utc};

use super::db::{db, db_tx, Tx};
use super::{Store, Ts};
use crate::error::Result;

/// `next_attempt_at` of the deliveries a canary holds back: never due
/// until released.
pub fn hold_mark() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

/// Whether `next` (the next delivery to fall due) is the canary's hold.
pub fn is_held(next: DateTime<Utc>) -> bool {
    next >= hold_mark()
}

/// A campaign's canary as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Canary {
    /// Recipients it went to; `None`: the campaign had no canary (yet).
    pub size: Option<i64>,
    /// When its wait ends (set once its messages were sent).
    pub until: Option<DateTime<Utc>>,
    /// Deliveries still held back.
    pub held: i64,
}

/// What the circuit breaker counts over a whole campaign.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Deliveries sent or failed.
    pub tried: u64,
    /// Subscribers with a hard bounce (not a block) from this campaign.
    pub hard: u64,
    pub complaints: u64,
    /// Recipient domain → (tried, blocked).
    pub domains: Vec<(String, u64, u64)>,
}

/// The last campaign that reached the audience (one message sent at
/// least).
#[derive(Debug, Clone, PartialEq)]
pub struct LastCampaign {
    pub id: i64,
    pub subject: String,
    /// Its recipients.
    pub total: i64,
    pub started_at: DateTime<Utc>,
}

/// How the audience changed since a moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudienceChanges {
    /// Readers active now who joined (or were confirmed) since, by source.
    pub added: Vec<(String, i64)>,
    /// Readers who left since (unsubscribed, bounced, complained), by
    /// status and source.
    pub removed: Vec<(String, String, i64)>,
    /// Readers whose data was erased since.
    pub erased: i64,
}

/// A recipient domain: (domain, tried, blocked).
type DomainRow = (String, i64, i64);

#[derive(sqlx::FromRow)]
struct CanaryRow {
    canary_size: Option<i64>,
    canary_until: Option<Ts>,
}

impl Store {
    /// The last campaign that reached the audience.
    pub async fn last_reaching_campaign(&self) -> Result<Option<LastCampaign>> {
        let row: Option<(i64, String, i64, Ts)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT c.id, c.subject, c.total, c.started_at FROM campaigns c
                 WHERE c.started_at IS NOT NULL AND EXISTS (
                     SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.status = 'sent')
                 ORDER BY c.started_at DESC, c.id DESC LIMIT 1",
            )
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|(id, subject, total, at)| LastCampaign {
            id,
            subject,
            total,
            started_at: at.0,
        }))
    }

    /// How the audience changed since `since`.
    pub async fn audience_changes_since(&self, since: DateTime<Utc>) -> Result<AudienceChanges> {
        Ok(db!(&self.pool, p, pg => {
            let added = sqlx::query_as(
                "SELECT source, COUNT(*) FROM subscribers
                 WHERE status = 'active' AND COALESCE(confirmed_at, created_at) > $1
                 GROUP BY source ORDER BY source",
            )
            .bind(Ts(since))
            .fetch_all(p)
            .await?;
            let removed = sqlx::query_as(
                "SELECT status, source, COUNT(*) FROM subscribers
                 WHERE status IN ('unsubscribed', 'bounced', 'complained') AND unsubscribed_at > $1
                 GROUP BY status, source ORDER BY status, source",
            )
            .bind(Ts(since))
            .fetch_all(p)
            .await?;
            let erased = sqlx::query_scalar("SELECT COUNT(*) FROM erased_ids WHERE erased_at > $1")
                .bind(Ts(since))
                .fetch_one(p)
                .await?;
            AudienceChanges { added, removed, erased }
        }))
    }

    /// Start campaign `id`'s canary, once: all its pending deliveries but
    /// `n` chosen at random are held back. `false`: it had one already.
    pub async fn hold_for_canary(&self, id: i64, n: i64) -> Result<bool> {
        let mut tx = Tx::begin(&self.pool).await?;
        let first = db_tx!(&mut tx, t, pg => {
            sqlx::query("UPDATE campaigns SET canary_size = $2 WHERE id = $1 AND canary_size IS NULL")
                .bind(id)
                .bind(n)
                .execute(&mut **t)
                .await?
                .rows_affected()
                == 1
        });
        if first {
            db_tx!(&mut tx, t, pg => {
                sqlx::query(
                    "UPDATE deliveries SET next_attempt_at = $3
                     WHERE campaign_id = $1 AND status = 'pending' AND id NOT IN (
                         SELECT id FROM deliveries WHERE campaign_id = $1 AND status = 'pending'
                         ORDER BY random() LIMIT $2)",
                )
                .bind(id)
                .bind(n)
                .bind(Ts(hold_mark()))
                .execute(&mut **t)
                .await?;
            });
        }
        tx.commit().await?;
        Ok(first)
    }

    pub async fn canary(&self, id: i64) -> Result<Canary> {
        let (row, held): (Option<CanaryRow>, i64) = db!(&self.pool, p, pg => {
            let row = sqlx::query_as("SELECT canary_size, canary_until FROM campaigns WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?;
            let held = sqlx::query_scalar(
                "SELECT COUNT(*) FROM deliveries
                 WHERE campaign_id = $1 AND status = 'pending' AND next_attempt_at = $2",
            )
            .bind(id)
            .bind(Ts(hold_mark()))
            .fetch_one(p)
            .await?;
            (row, held)
        });
        Ok(Canary {
            size: row.as_ref().and_then(|r| r.canary_size),
            until: row.and_then(|r| r.canary_until).map(|t| t.0),
            held,
        })
    }

    /// The canary's wait ends at `until`, unless an earlier run set it;
    /// returns the end stored.
    pub async fn canary_wait_until(&self, id: i64, until: DateTime<Utc>) -> Result<DateTime<Utc>> {
        db!(&self.pool, p, pg => {
            sqlx::query("UPDATE campaigns SET canary_until = $2 WHERE id = $1 AND canary_until IS NULL")
                .bind(id)
                .bind(Ts(until))
                .execute(p)
                .await?;
        });
        Ok(self.canary(id).await?.until.unwrap_or(until))
    }

    /// The canary passed (or a person said go on): the deliveries it held
    /// back are due now.
    pub async fn release_canary(&self, id: i64) -> Result<u64> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query(
                "UPDATE deliveries SET next_attempt_at = NULL
                 WHERE campaign_id = $1 AND status = 'pending' AND next_attempt_at = $2",
            )
            .bind(id)
            .bind(Ts(hold_mark()))
            .execute(p)
            .await?
            .rows_affected()
        }))
    }

    /// Campaign `id`'s totals for the circuit breaker.
    pub async fn campaign_totals(&self, id: i64) -> Result<Totals> {
        let (counts, domains): ((i64, i64, i64), Vec<DomainRow>) = db!(&self.pool, p, dialect => {
            let counts = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM deliveries WHERE campaign_id = $1 AND status IN ('sent', 'failed')),
                        COUNT(DISTINCT CASE WHEN kind = 'hard' AND blocked = 0 THEN subscriber_id END),
                        COUNT(DISTINCT CASE WHEN kind = 'complaint' THEN subscriber_id END)
                 FROM bounces WHERE campaign_id = $1",
            )
            .bind(id)
            .fetch_one(p)
            .await?;
            let domains = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {} AS domain, COUNT(*), {}
                 FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                 WHERE d.campaign_id = $1 AND d.status IN ('sent', 'failed') GROUP BY domain",
                dialect.domain_of("s.email"),
                dialect.int_sum(
                    "CASE WHEN EXISTS (SELECT 1 FROM bounces b WHERE b.campaign_id = d.campaign_id
                         AND b.subscriber_id = d.subscriber_id AND b.blocked <> 0) THEN 1 ELSE 0 END"
                ),
            )))
            .bind(id)
            .fetch_all(p)
            .await?;
            (counts, domains)
        });
        let n = |x: i64| x.max(0) as u64;
        Ok(Totals {
            tried: n(counts.0),
            hard: n(counts.1),
            complaints: n(counts.2),
            domains: domains
                .into_iter()
                .map(|(d, t, b)| (d, n(t), n(b)))
                .collect(),
        })
    }
}
