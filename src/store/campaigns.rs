//! Campaigns and the delivery queue (SQL only).

use std::collections::HashSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::db::{db_tx, Tx};
use super::{parse_ts, ts, Store, Ts};
use crate::audience::{tokens, Status};
use crate::error::{Error, Result};
use crate::render::Prepared;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    /// Waits for its `scheduled_at`; the worker starts it then.
    Scheduled,
    Queued,
    Sending,
    Paused,
    Done,
    Cancelled,
    Failed,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Queued => "queued",
            CampaignStatus::Sending => "sending",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Done => "done",
            CampaignStatus::Cancelled => "cancelled",
            CampaignStatus::Failed => "failed",
        }
    }
}

impl FromStr for CampaignStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "scheduled" => CampaignStatus::Scheduled,
            "queued" => CampaignStatus::Queued,
            "sending" => CampaignStatus::Sending,
            "paused" => CampaignStatus::Paused,
            "done" => CampaignStatus::Done,
            "cancelled" => CampaignStatus::Cancelled,
            "failed" => CampaignStatus::Failed,
            _ => return Err(format!("unknown campaign status {s:?}")),
        })
    }
}

/// Where one delivery stands: the one mapping to the database's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Failed,
    Skipped,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Sent,
            DeliveryStatus::Failed,
            DeliveryStatus::Skipped,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| format!("unknown delivery status {s:?}"))
    }
}

/// Why a campaign could not be taken for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRefused {
    Unknown,
    Finished(CampaignStatus),
    /// Another process is sending it right now (which one, if known).
    Busy(Option<String>),
}

/// A campaign with its delivery counts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CampaignInfo {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub status: CampaignStatus,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
    pub pending: i64,
    pub skipped: i64,
    pub posts: Vec<String>,
    pub last_error: Option<String>,
    /// Paused because the server was unreachable: when a running worker
    /// tries again.
    pub retry_at: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// When a scheduled campaign starts (or started).
    pub scheduled_at: Option<String>,
}

/// One delivery ready to send.
#[derive(Debug, Clone)]
pub struct QueueItem {
    pub delivery_id: i64,
    pub attempts: i64,
    /// `None` when the subscriber was erased since the campaign started.
    pub recipient: Option<QueueRecipient>,
}

#[derive(Debug, Clone)]
pub struct QueueRecipient {
    pub subscriber_id: i64,
    pub email: String,
    pub name: Option<String>,
    pub status: Status,
    pub unsub_token: String,
    /// The attributes as stored (JSON text), parsed only when used.
    pub attributes: Option<String>,
}

/// The recorded result of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    Sent {
        message_id: String,
        at: DateTime<Utc>,
    },
    /// Try again at `next`; `attempts` is the new count.
    Retry {
        reply: String,
        attempts: i64,
        next: DateTime<Utc>,
    },
    Failed {
        reply: String,
        attempts: i64,
    },
    /// The recipient is no longer active (or was erased).
    Skipped,
}

impl Store {
    /// Create a campaign and, in the same transaction, one pending delivery
    /// per active subscriber. Returns (id, recipients).
    pub async fn create_campaign(
        &self,
        prepared: &Prepared,
        posts: &[(String, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<(i64, i64)> {
        let json = serde_json::to_string(prepared).expect("JSON");
        let mut tx = Tx::begin(&self.pool).await?;
        let id: i64 = db_tx!(&mut tx, t, pg => {
            sqlx::query_scalar(
                "INSERT INTO campaigns (kind, subject, prepared, status, created_at) VALUES ($1, $2, $3, 'queued', $4) RETURNING id",
            )
            .bind(prepared.kind.name())
            .bind(&prepared.subject)
            .bind(json)
            .bind(Ts(now))
            .fetch_one(&mut **t)
            .await?
        });
        insert_campaign_posts(&mut tx, id, posts).await?;
        let total = db_tx!(&mut tx, t, pg => {
            let total = sqlx::query(
                "INSERT INTO deliveries (campaign_id, subscriber_id, status)
                 SELECT $1, id, $2 FROM subscribers WHERE status = 'active' ORDER BY id",
            )
            .bind(id)
            .bind(DeliveryStatus::Pending.as_str())
            .execute(&mut **t)
            .await?
            .rows_affected() as i64;
            sqlx::query("UPDATE campaigns SET total = $2 WHERE id = $1")
                .bind(id)
                .bind(total)
                .execute(&mut **t)
                .await?;
            total
        });
        tx.commit().await?;
        Ok((id, total))
    }

    pub async fn active_count(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM subscribers WHERE status = 'active'")
                .fetch_one(self.lite())
                .await?,
        )
    }

    /// The campaign (not cancelled) that already carried post `slug`, if any.
    pub async fn post_campaign(&self, slug: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT c.id FROM campaigns c JOIN campaign_posts p ON p.campaign_id = c.id
             WHERE c.kind = 'post' AND p.slug = ?1 AND c.status <> 'cancelled' ORDER BY c.id LIMIT 1",
        )
        .bind(slug)
        .fetch_optional(self.lite())
        .await?)
    }

    /// Posts carried by earlier digests (not cancelled), and the newest of
    /// their dates.
    pub async fn digest_history(&self) -> Result<(HashSet<String>, Option<DateTime<Utc>>)> {
        let rows = sqlx::query(
            "SELECT p.slug, p.post_date FROM campaign_posts p JOIN campaigns c ON c.id = p.campaign_id
             WHERE c.kind = 'digest' AND c.status <> 'cancelled'",
        )
        .fetch_all(self.lite())
        .await?;
        let mut slugs = HashSet::new();
        let mut newest: Option<DateTime<Utc>> = None;
        for r in rows {
            let slug: String = r.try_get("slug")?;
            let date: String = r.try_get("post_date")?;
            if let Some(d) = parse_ts(&date) {
                newest = Some(newest.map_or(d, |n| n.max(d)));
            }
            slugs.insert(slug);
        }
        Ok((slugs, newest))
    }

    pub async fn campaigns(&self) -> Result<Vec<CampaignInfo>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM campaigns ORDER BY id")
            .fetch_all(self.lite())
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.campaign(id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub async fn campaign(&self, id: i64) -> Result<Option<CampaignInfo>> {
        let Some(row) = sqlx::query(
            "SELECT id, kind, subject, status, total, last_error, retry_at, created_at, started_at, finished_at, scheduled_at FROM campaigns WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(self.lite())
        .await?
        else {
            return Ok(None);
        };
        let counts = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE campaign_id = ?1 GROUP BY status",
        )
        .bind(id)
        .fetch_all(self.lite())
        .await?;
        let mut c = CampaignInfo {
            id,
            kind: row.try_get("kind")?,
            subject: row.try_get("subject")?,
            status: CampaignStatus::from_str(&row.try_get::<String, _>("status")?)
                .map_err(Error::msg)?,
            total: row.try_get("total")?,
            sent: 0,
            failed: 0,
            pending: 0,
            skipped: 0,
            posts: sqlx::query_scalar(
                "SELECT slug FROM campaign_posts WHERE campaign_id = ?1 ORDER BY post_date DESC",
            )
            .bind(id)
            .fetch_all(self.lite())
            .await?,
            last_error: row.try_get("last_error")?,
            retry_at: row.try_get("retry_at")?,
            created_at: row.try_get("created_at")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            scheduled_at: row.try_get("scheduled_at")?,
        };
        for r in counts {
            let n: i64 = r.try_get("n")?;
            match DeliveryStatus::from_str(&r.try_get::<String, _>("status")?) {
                Ok(DeliveryStatus::Sent) => c.sent = n,
                Ok(DeliveryStatus::Failed) => c.failed = n,
                Ok(DeliveryStatus::Pending) => c.pending = n,
                Ok(DeliveryStatus::Skipped) => c.skipped = n,
                Err(_) => {}
            }
        }
        Ok(Some(c))
    }

    /// The rendered email a campaign sends.
    pub async fn campaign_prepared(&self, id: i64) -> Result<Prepared> {
        let json: String = sqlx::query_scalar("SELECT prepared FROM campaigns WHERE id = ?1")
            .bind(id)
            .fetch_one(self.lite())
            .await?;
        serde_json::from_str(&json).map_err(|e| Error::msg(format!("campaign {id}: {e}")))
    }

    pub async fn campaign_status(&self, id: i64) -> Result<Option<CampaignStatus>> {
        let s: Option<String> = sqlx::query_scalar("SELECT status FROM campaigns WHERE id = ?1")
            .bind(id)
            .fetch_optional(self.lite())
            .await?;
        s.map(|s| CampaignStatus::from_str(&s).map_err(Error::msg))
            .transpose()
    }

    /// Set a campaign's status (`from`: only when it currently is one of
    /// these). Returns whether it changed. (Sending starts by
    /// `claim_campaign`.)
    pub async fn set_campaign_status(
        &self,
        id: i64,
        to: CampaignStatus,
        from: &[CampaignStatus],
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let from_list: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let from_json = serde_json::to_string(&from_list).expect("JSON");
        let done = sqlx::query(
            "UPDATE campaigns SET status = ?2, last_error = ?3,
                 finished_at = CASE WHEN ?2 IN ('done', 'cancelled', 'failed') THEN ?4 ELSE NULL END,
                 retry_at = NULL
             WHERE id = ?1 AND status IN (SELECT value FROM json_each(?5))",
        )
        .bind(id)
        .bind(to.as_str())
        .bind(error)
        .bind(ts(now))
        .bind(from_json)
        .execute(self.lite())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Campaigns a crash or a signal left `sending`.
    pub async fn campaigns_in(&self, status: CampaignStatus) -> Result<Vec<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM campaigns WHERE status = ?1 ORDER BY id")
                .bind(status.as_str())
                .fetch_all(self.lite())
                .await?,
        )
    }

    /// Up to `limit` pending deliveries due at `now`, with id > `after`.
    pub async fn due_deliveries(
        &self,
        campaign: i64,
        after: i64,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<QueueItem>> {
        let rows = sqlx::query(
            "SELECT d.id, d.attempts, s.id AS sid, s.email, s.name, s.status, s.unsub_verifier, s.selector, s.attributes
             FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.campaign_id = ?1 AND d.status = ?5 AND d.id > ?2
               AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?3)
             ORDER BY d.id LIMIT ?4",
        )
        .bind(campaign)
        .bind(after)
        .bind(ts(now))
        .bind(limit)
        .bind(DeliveryStatus::Pending.as_str())
        .fetch_all(self.lite())
        .await?;
        rows.into_iter()
            .map(|r| {
                let sid: Option<i64> = r.try_get("sid")?;
                let recipient = match sid {
                    Some(sid) => Some(QueueRecipient {
                        subscriber_id: sid,
                        email: r.try_get("email")?,
                        name: r.try_get("name")?,
                        status: Status::from_str(&r.try_get::<String, _>("status")?)
                            .unwrap_or(Status::Pending),
                        unsub_token: tokens::row_token(
                            sid,
                            r.try_get::<Option<String>, _>("selector")?.as_deref(),
                            &r.try_get::<String, _>("unsub_verifier")?,
                        ),
                        attributes: r.try_get("attributes")?,
                    }),
                    None => None,
                };
                Ok(QueueItem {
                    delivery_id: r.try_get("id")?,
                    attempts: r.try_get("attempts")?,
                    recipient,
                })
            })
            .collect()
    }

    /// Subscribers who left at or after `since`: unsubscribed, bounced or
    /// complained (their bounce logged since), or erased.
    pub async fn unsubscribed_since(&self, since: DateTime<Utc>) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM subscribers WHERE unsubscribed_at >= ?1
             UNION SELECT id FROM subscribers WHERE status IN ('bounced', 'complained')
               AND id IN (SELECT subscriber_id FROM bounces WHERE created_at >= ?1)
             UNION SELECT row_id FROM erased_ids WHERE erased_at >= ?1",
        )
        .bind(ts(since))
        .fetch_all(self.lite())
        .await?)
    }

    /// The earliest retry time among pending deliveries, and how many are pending.
    pub async fn pending_summary(&self, campaign: i64) -> Result<(i64, Option<DateTime<Utc>>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(COALESCE(next_attempt_at, '')) AS next
             FROM deliveries WHERE campaign_id = ?1 AND status = ?2",
        )
        .bind(campaign)
        .bind(DeliveryStatus::Pending.as_str())
        .fetch_one(self.lite())
        .await?;
        let n: i64 = row.try_get("n")?;
        let next: Option<String> = row.try_get("next")?;
        let next = next.and_then(|s| {
            if s.is_empty() {
                Some(DateTime::<Utc>::MIN_UTC)
            } else {
                parse_ts(&s)
            }
        });
        Ok((n, next))
    }

    /// Record a batch of outcomes of campaign `campaign` in one
    /// transaction, fenced by the claim: nothing is written (and `false`
    /// returned) when `claim` no longer holds the campaign. Sent messages
    /// (the common case) are written by one statement for the whole batch.
    pub async fn record(
        &self,
        campaign: i64,
        claim: &str,
        outcomes: &[(i64, Recorded)],
    ) -> Result<bool> {
        let mut sent = Vec::new();
        let mut tx = self.lite().begin().await?;
        // Taking the write lock first also renews the heartbeat.
        let ours =
            sqlx::query("UPDATE campaigns SET heartbeat_at = ?3 WHERE id = ?1 AND claim_id = ?2")
                .bind(campaign)
                .bind(claim)
                .bind(ts(Utc::now()))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if !ours {
            tx.rollback().await?;
            return Ok(false);
        }
        for (id, o) in outcomes {
            let q = match o {
                Recorded::Sent { message_id, at } => {
                    sent.push(serde_json::json!({ "id": id, "m": message_id, "t": ts(*at) }));
                    continue;
                }
                Recorded::Retry { reply, attempts, next } => sqlx::query(
                    "UPDATE deliveries SET attempts = ?2, last_reply = ?3, next_attempt_at = ?4 WHERE id = ?1",
                )
                .bind(id)
                .bind(attempts)
                .bind(reply)
                .bind(ts(*next)),
                Recorded::Failed { reply, attempts } => sqlx::query(
                    "UPDATE deliveries SET status = ?4, attempts = ?2, last_reply = ?3, next_attempt_at = NULL WHERE id = ?1",
                )
                .bind(id)
                .bind(attempts)
                .bind(reply)
                .bind(DeliveryStatus::Failed.as_str()),
                Recorded::Skipped => {
                    sqlx::query("UPDATE deliveries SET status = ?2 WHERE id = ?1")
                        .bind(id)
                        .bind(DeliveryStatus::Skipped.as_str())
                }
            };
            q.execute(&mut *tx).await?;
        }
        if !sent.is_empty() {
            sqlx::query(
                "UPDATE deliveries SET status = ?2, attempts = attempts + 1, next_attempt_at = NULL,
                     message_id = v.value ->> 'm', sent_at = v.value ->> 't'
                 FROM json_each(?1) AS v WHERE deliveries.id = v.value ->> 'id'",
            )
            .bind(serde_json::Value::Array(sent).to_string())
            .bind(DeliveryStatus::Sent.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// The posts a campaign carries, written in its creating transaction.
pub(super) async fn insert_campaign_posts(
    tx: &mut Tx,
    id: i64,
    posts: &[(String, DateTime<Utc>)],
) -> Result<()> {
    for (slug, date) in posts {
        db_tx!(tx, t, pg => {
            sqlx::query(
                "INSERT INTO campaign_posts (campaign_id, slug, post_date) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(slug)
            .bind(Ts(*date))
            .execute(&mut **t)
            .await?;
        });
    }
    Ok(())
}
