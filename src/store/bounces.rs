//! The bounce log and what bounces do to subscribers.

use super::db::{db, BeginWrite, Ts};
use super::{ts, Store};
use crate::audience::{Status, SubscriberEmail};
use crate::bounce::{Kind, Record};
use crate::config::BouncePolicy as Policy;
use crate::error::Result;
use chrono::{DateTime, Utc};

/// Who a bounce is about, once looked up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    pub campaign_id: Option<i64>,
    pub subscriber_id: Option<i64>,
    /// The subscriber's address (when the report did not name it).
    pub email: Option<String>,
}

/// What recording a bounce did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Already recorded (the same event seen before).
    Duplicate,
    /// Nobody to record it for: the address is not a subscriber.
    Unknown,
    /// Recorded; `Some` when the subscriber's status changed.
    Recorded(Option<Status>),
}

/// One row of the bounce log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BounceRow {
    pub id: i64,
    pub subscriber: Option<String>,
    pub subscriber_id: Option<i64>,
    #[serde(rename = "campaign")]
    pub campaign_id: Option<i64>,
    pub kind: String,
    pub blocked: bool,
    pub status: Option<String>,
    pub reason: String,
    pub diagnostic: Option<String>,
    pub source: String,
    #[serde(rename = "time")]
    pub created_at: String,
}

/// Bounce counts of one campaign.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BounceCounts {
    pub hard: i64,
    pub soft: i64,
    pub blocked: i64,
    pub complaints: i64,
}

/// A delivery's campaign and subscriber, as read.
#[derive(sqlx::FromRow)]
struct Owner {
    campaign_id: Option<i64>,
    subscriber_id: Option<i64>,
    email: Option<String>,
}

impl From<Owner> for Attribution {
    fn from(o: Owner) -> Attribution {
        Attribution {
            campaign_id: o.campaign_id,
            subscriber_id: o.subscriber_id,
            email: o.email,
        }
    }
}

/// One row of the bounce log, as read.
#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    email: Option<String>,
    subscriber_id: Option<i64>,
    campaign_id: Option<i64>,
    kind: String,
    blocked: i64,
    status: Option<String>,
    reason: String,
    diagnostic: Option<String>,
    source: String,
    created_at: Ts,
}

impl LogRow {
    fn into_row(self) -> BounceRow {
        BounceRow {
            id: self.id,
            subscriber: self.email,
            subscriber_id: self.subscriber_id,
            campaign_id: self.campaign_id,
            kind: self.kind,
            blocked: self.blocked != 0,
            status: self.status,
            reason: self.reason,
            diagnostic: self.diagnostic,
            source: self.source,
            created_at: ts(self.created_at.0),
        }
    }
}

/// The UPDATE that gives a subscriber `status`: complaints override
/// everything but themselves; bounces only stop addresses that still get
/// mail.
fn status_change_sql(status: Status) -> String {
    let from = if status == Status::Complained {
        "('pending', 'active', 'unsubscribed', 'bounced')"
    } else {
        "('pending', 'active')"
    };
    format!(
        "UPDATE subscribers SET status = $2, unsubscribed_at = COALESCE(unsubscribed_at, $3),
         confirm_hash = NULL, confirm_expires_at = NULL WHERE id = $1 AND status IN {from}"
    )
}

impl Store {
    /// Open an existing database read-only, without migrating or creating
    /// it (for `bounces scan`, which changes nothing).
    /// On PostgreSQL a plain connection (the command only reads).
    pub async fn open_existing_read_only(url: &str) -> Result<Store> {
        use std::str::FromStr;
        if super::Backend::of_url(url) == super::Backend::Postgres {
            return Store::connect(url).await;
        }
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .map_err(|e| crate::error::Error::msg(format!("database URL {url:?}: {e}")))?
            .create_if_missing(false)
            .read_only(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(|e| crate::error::Error::database(format!("opening database {url}"), e))?;
        let pool = super::db::Pool::Sqlite(pool);
        Ok(Store {
            queue_pool: pool.clone(),
            pool,
        })
    }

    /// Find the delivery a returned message is about (VERP token or
    /// Message-ID, most reliable first), else the subscriber by address.
    pub async fn attribute(&self, refs: &[String], recipient: Option<&str>) -> Result<Attribution> {
        for r in refs {
            // Message-IDs are "<{token}@domain>": a range on the index.
            // Byte order on PostgreSQL too, whatever the database's collation.
            let id = self.dialect().bytewise("d.message_id");
            let sql = format!(
                "SELECT d.campaign_id, d.subscriber_id, s.email FROM deliveries d
                 LEFT JOIN subscribers s ON s.id = d.subscriber_id
                 WHERE {id} > $1 AND {id} < $2 LIMIT 1"
            );
            let row: Option<Owner> = db!(&self.pool, p, pg => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(format!("<{r}@"))
                    .bind(format!("<{r}A"))
                    .fetch_optional(p)
                    .await?
            });
            if let Some(row) = row {
                return Ok(row.into());
            }
        }
        let Some(email) = recipient.and_then(|r| SubscriberEmail::parse(r).ok()) else {
            return Ok(Attribution::default());
        };
        let row: Option<(i64, String)> = db!(&self.pool, p, pg => {
            sqlx::query_as("SELECT id, email FROM subscribers WHERE email_key = $1")
                .bind(email.key())
                .fetch_optional(p)
                .await?
        });
        Ok(match row {
            Some((id, email)) => Attribution {
                campaign_id: None,
                subscriber_id: Some(id),
                email: Some(email),
            },
            None => Attribution::default(),
        })
    }

    /// The delivery's campaign and subscriber.
    pub async fn delivery_owner(&self, delivery_id: i64) -> Result<Attribution> {
        let row: Option<Owner> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT d.campaign_id, d.subscriber_id, s.email FROM deliveries d
                 LEFT JOIN subscribers s ON s.id = d.subscriber_id WHERE d.id = $1",
            )
            .bind(delivery_id)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(Attribution::from).unwrap_or_default())
    }

    /// Record a bounce (once per `event_key`) and apply its consequence:
    /// hard → `bounced`; `soft_limit` soft bounces within `soft_window` →
    /// `bounced`; complaint → `complained`. Blocked refusals and `none`
    /// are logged only.
    pub async fn record_bounce(
        &self,
        event_key: &str,
        r: &Record,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        if r.subscriber_id.is_none() && r.campaign_id.is_none() {
            return Ok(Applied::Unknown);
        }
        let since = now - chrono::Duration::from_std(policy.soft_window).unwrap_or_default();
        db!(&self.pool, p, pg => {
            let mut tx = p.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO bounces (event_key, subscriber_id, campaign_id, kind, blocked, status, reason, diagnostic, source, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_key) DO NOTHING",
            )
            .bind(event_key)
            .bind(r.subscriber_id)
            .bind(r.campaign_id)
            .bind(r.kind.as_str())
            .bind(i64::from(r.blocked))
            .bind(&r.status)
            .bind(&r.reason)
            .bind(&r.diagnostic)
            .bind(&r.source)
            .bind(Ts(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok(Applied::Duplicate);
            }
            let Some(sub) = r.subscriber_id else {
                tx.commit().await?;
                return Ok(Applied::Recorded(None));
            };
            let new_status = match (r.kind, r.blocked) {
                (Kind::Hard, false) => Some(Status::Bounced),
                (Kind::Complaint, _) => Some(Status::Complained),
                (Kind::Soft, false) => {
                    // Soft bounces since the window began and since the
                    // operator last reactivated the address.
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM bounces b JOIN subscribers s ON s.id = b.subscriber_id
                         WHERE b.subscriber_id = $1 AND b.kind = 'soft' AND b.blocked = 0
                           AND b.created_at >= $2
                           AND (s.bounces_reset_at IS NULL OR b.created_at > s.bounces_reset_at)",
                    )
                    .bind(sub)
                    .bind(Ts(since))
                    .fetch_one(&mut *tx)
                    .await?;
                    (n >= policy.soft_limit as i64).then_some(Status::Bounced)
                }
                _ => None,
            };
            let mut changed = None;
            if let Some(status) = new_status {
                let done = sqlx::query(sqlx::AssertSqlSafe(status_change_sql(status)))
                    .bind(sub)
                    .bind(status.as_str())
                    .bind(Ts(now))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() > 0 {
                    changed = Some(status);
                }
            }
            tx.commit().await?;
            Ok(Applied::Recorded(changed))
        })
    }

    /// A synchronous rejection (5xx at RCPT or after DATA, or 4xx after
    /// every retry) of a campaign delivery, already classified
    /// (`bounce::smtp_record`), recorded like a returned message against
    /// the delivery's campaign and subscriber.
    pub async fn record_smtp_failure(
        &self,
        delivery_id: i64,
        mut r: Record,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let owner = self.delivery_owner(delivery_id).await?;
        r.recipient = owner.email;
        r.campaign_id = owner.campaign_id;
        r.subscriber_id = owner.subscriber_id;
        self.record_bounce(&format!("smtp:{delivery_id}"), &r, policy, now)
            .await
    }

    /// Make a bounced or complained subscriber active again (the operator's
    /// explicit decision); earlier soft bounces stop counting. Returns the
    /// status it had, or `None` when the address is unknown.
    pub async fn reactivate(
        &self,
        email: &SubscriberEmail,
        now: DateTime<Utc>,
    ) -> Result<Option<Status>> {
        db!(&self.pool, p, pg => {
            let before: Option<String> =
                sqlx::query_scalar("SELECT status FROM subscribers WHERE email_key = $1")
                    .bind(email.key())
                    .fetch_optional(p)
                    .await?;
            let Some(before) = before else { return Ok(None) };
            let before: Status = before.parse().unwrap_or(Status::Pending);
            if matches!(before, Status::Bounced | Status::Complained) {
                sqlx::query(
                    "UPDATE subscribers SET status = 'active', unsubscribed_at = NULL, bounces_reset_at = $2
                     WHERE email_key = $1 AND status IN ('bounced', 'complained')",
                )
                .bind(email.key())
                .bind(Ts(now))
                .execute(p)
                .await?;
            }
            Ok(Some(before))
        })
    }

    /// The bounce log, newest last; `since` limits it to rows at or after.
    pub async fn bounces(&self, since: Option<DateTime<Utc>>) -> Result<Vec<BounceRow>> {
        let rows: Vec<LogRow> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT b.id, s.email, b.subscriber_id, b.campaign_id, b.kind, b.blocked, b.status,
                        b.reason, b.diagnostic, b.source, b.created_at
                 FROM bounces b LEFT JOIN subscribers s ON s.id = b.subscriber_id
                 WHERE ($1 IS NULL OR b.created_at >= $1) ORDER BY b.created_at, b.id",
            )
            .bind(since.map(Ts))
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(LogRow::into_row).collect())
    }

    /// One page of the bounce log (oldest first, as `bounces list`), and
    /// how many rows match in all.
    pub async fn bounce_page(
        &self,
        since: Option<DateTime<Utc>>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<BounceRow>, i64)> {
        let (rows, total): (Vec<LogRow>, i64) = db!(&self.pool, p, pg => {
            let rows = sqlx::query_as(
                "SELECT b.id, s.email, b.subscriber_id, b.campaign_id, b.kind, b.blocked, b.status,
                        b.reason, b.diagnostic, b.source, b.created_at
                 FROM bounces b LEFT JOIN subscribers s ON s.id = b.subscriber_id
                 WHERE ($1 IS NULL OR b.created_at >= $1) ORDER BY b.created_at, b.id
                 LIMIT $2 OFFSET $3",
            )
            .bind(since.map(Ts))
            .bind(limit)
            .bind(offset)
            .fetch_all(p)
            .await?;
            let total = sqlx::query_scalar(
                "SELECT COUNT(*) FROM bounces WHERE ($1 IS NULL OR created_at >= $1)",
            )
            .bind(since.map(Ts))
            .fetch_one(p)
            .await?;
            (rows, total)
        });
        Ok((rows.into_iter().map(LogRow::into_row).collect(), total))
    }

    /// Bounce and complaint counts per campaign (campaigns without any are
    /// left out).
    pub async fn bounce_counts(&self) -> Result<Vec<(i64, BounceCounts)>> {
        let rows: Vec<(i64, i64, i64, i64, i64)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT campaign_id,
                        CAST(SUM(CASE WHEN kind = 'hard' AND blocked = 0 THEN 1 ELSE 0 END) AS BIGINT),
                        CAST(SUM(CASE WHEN kind = 'soft' AND blocked = 0 THEN 1 ELSE 0 END) AS BIGINT),
                        CAST(SUM(CASE WHEN blocked <> 0 THEN 1 ELSE 0 END) AS BIGINT),
                        CAST(SUM(CASE WHEN kind = 'complaint' THEN 1 ELSE 0 END) AS BIGINT)
                 FROM bounces WHERE campaign_id IS NOT NULL GROUP BY campaign_id ORDER BY campaign_id",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, hard, soft, blocked, complaints)| {
                let counts = BounceCounts {
                    hard,
                    soft,
                    blocked,
                    complaints,
                };
                (id, counts)
            })
            .collect())
    }

    /// Bounce and complaint counts of one campaign.
    pub async fn campaign_bounce_counts(&self, campaign_id: i64) -> Result<BounceCounts> {
        Ok(self
            .bounce_counts()
            .await?
            .into_iter()
            .find(|(id, _)| *id == campaign_id)
            .map(|(_, c)| c)
            .unwrap_or_default())
    }
}
