//! Campaigns and the delivery queue (SQL only).

use std::collections::HashSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::db::{db, db_tx, text_enum, Tx};
use super::{ts, JsonText, Store, Ts};
use crate::audience::Status;
use crate::error::{Error, Result};

/// A campaign's email as the store keeps it: plain data it neither reads
/// nor changes. `kind` and `subject` have columns of their own; `body` is
/// the whole email as JSON (the delivery layer implements this for
/// render's `Prepared`; the store reads it back into whatever type the
/// caller names, `campaign_prepared`).
pub trait CampaignEmail: Sync {
    fn kind(&self) -> &str;
    fn subject(&self) -> &str;
    /// The email of campaign `campaign` as JSON, its counted links
    /// numbered (and returned: number, URL); with `link`, for a campaign
    /// whose "View in browser" link points at the archive page of campaign
    /// `link.0` under the public URL `link.1`.
    fn body(
        &self,
        campaign: i64,
        link: Option<(i64, &str)>,
    ) -> Result<(String, Vec<(i64, String)>)>;
}

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

text_enum!(CampaignStatus);

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

text_enum!(DeliveryStatus);

/// Why a campaign could not be taken for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRefused {
    Unknown,
    Finished(CampaignStatus),
    /// Paused by an operator (a worker does not restart it).
    Paused,
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
    /// The rate (msg/s) a run settled at after the server asked it to
    /// slow down, and what happened (`None`: it never asked).
    pub settled_rate: Option<f64>,
    pub throttled: Option<String>,
    /// Why the circuit breaker paused it (`campaigns resume --force`).
    pub breaker: Option<String>,
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
        email: &impl CampaignEmail,
        posts: &[(String, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<(i64, i64)> {
        let mut tx = Tx::begin(&self.pool).await?;
        let id: i64 = db_tx!(&mut tx, t, pg => {
            sqlx::query_scalar(
                "INSERT INTO campaigns (kind, subject, prepared, status, created_at) VALUES ($1, $2, '', 'queued', $3) RETURNING id",
            )
            .bind(email.kind())
            .bind(email.subject())
            .bind(Ts(now))
            .fetch_one(&mut **t)
            .await?
        });
        let (json, links) = email.body(id, None)?;
        super::clicks::attach(&mut tx, id, links).await?;
        insert_campaign_posts(&mut tx, id, posts).await?;
        let total = db_tx!(&mut tx, t, pg => {
            let total = sqlx::query(
                "INSERT INTO deliveries (campaign_id, subscriber_id, status)
                 SELECT $1, id, $2 FROM subscribers WHERE status = 'active' ORDER BY id",
            )
            .bind(id)
            .bind(DeliveryStatus::Pending)
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

    /// The campaign (not cancelled) that already carried post `slug`, if any.
    pub async fn post_campaign(&self, slug: &str) -> Result<Option<i64>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "SELECT c.id FROM campaigns c JOIN campaign_posts p ON p.campaign_id = c.id
                 WHERE c.kind = 'post' AND p.slug = $1 AND c.status <> 'cancelled' ORDER BY c.id LIMIT 1",
            )
            .bind(slug)
            .fetch_optional(p)
            .await?
        }))
    }

    /// Posts carried by earlier digests (not cancelled), and the newest of
    /// their dates.
    pub async fn digest_history(&self) -> Result<(HashSet<String>, Option<DateTime<Utc>>)> {
        let rows: Vec<(String, Ts)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT p.slug, p.post_date FROM campaign_posts p JOIN campaigns c ON c.id = p.campaign_id
                 WHERE c.kind = 'digest' AND c.status <> 'cancelled'",
            )
            .fetch_all(p)
            .await?
        });
        let newest = rows.iter().map(|(_, d)| d.0).max();
        Ok((rows.into_iter().map(|(s, _)| s).collect(), newest))
    }

    pub async fn campaigns(&self) -> Result<Vec<CampaignInfo>> {
        let ids: Vec<i64> = db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT id FROM campaigns ORDER BY id")
                .fetch_all(p)
                .await?
        });
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.campaign(id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub async fn campaign(&self, id: i64) -> Result<Option<CampaignInfo>> {
        let found: Option<CampaignParts> = db!(&self.pool, p, pg => {
            let row: Option<CampaignRow> = sqlx::query_as(
                "SELECT id, kind, subject, status, total, last_error, retry_at, created_at, started_at, finished_at, scheduled_at, settled_rate, throttled, breaker FROM campaigns WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(p)
            .await?;
            match row {
                None => None,
                Some(row) => {
                    let counts = sqlx::query_as(
                        "SELECT status, COUNT(*) AS n FROM deliveries WHERE campaign_id = $1 GROUP BY status",
                    )
                    .bind(id)
                    .fetch_all(p)
                    .await?;
                    let posts = sqlx::query_scalar(
                        "SELECT slug FROM campaign_posts WHERE campaign_id = $1 ORDER BY post_date DESC, slug",
                    )
                    .bind(id)
                    .fetch_all(p)
                    .await?;
                    Some((row, counts, posts))
                }
            }
        });
        let Some((row, counts, posts)) = found else {
            return Ok(None);
        };
        let text = |t: Option<Ts>| t.map(|t| ts(t.0));
        let mut c = CampaignInfo {
            id,
            kind: row.kind,
            subject: row.subject,
            status: row.status,
            total: row.total,
            sent: 0,
            failed: 0,
            pending: 0,
            skipped: 0,
            posts,
            last_error: row.last_error,
            retry_at: text(row.retry_at),
            created_at: ts(row.created_at.0),
            started_at: text(row.started_at),
            finished_at: text(row.finished_at),
            scheduled_at: text(row.scheduled_at),
            settled_rate: row.settled_rate,
            throttled: row.throttled,
            breaker: row.breaker,
        };
        for (status, n) in counts {
            match status {
                DeliveryStatus::Sent => c.sent = n,
                DeliveryStatus::Failed => c.failed = n,
                DeliveryStatus::Pending => c.pending = n,
                DeliveryStatus::Skipped => c.skipped = n,
            }
        }
        Ok(Some(c))
    }

    /// The email a campaign sends, read from its stored JSON into `T`
    /// (render's `Prepared`).
    pub async fn campaign_prepared<T: serde::de::DeserializeOwned>(&self, id: i64) -> Result<T> {
        let json: String = db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT prepared FROM campaigns WHERE id = $1")
                .bind(id)
                .fetch_one(p)
                .await?
        });
        serde_json::from_str(&json).map_err(|e| Error::msg(format!("campaign {id}: {e}")))
    }

    pub async fn campaign_status(&self, id: i64) -> Result<Option<CampaignStatus>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT status FROM campaigns WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        }))
    }

    /// Set a campaign's status (`from`: only when it currently is one of
    /// these). Returns whether it changed. (Sending starts by
    /// `join_campaign`.)
    pub async fn set_campaign_status(
        &self,
        id: i64,
        to: CampaignStatus,
        from: &[CampaignStatus],
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let from_list: Vec<String> = from.iter().map(|s| s.as_str().to_string()).collect();
        let finished = matches!(
            to,
            CampaignStatus::Done | CampaignStatus::Cancelled | CampaignStatus::Failed
        )
        .then_some(Ts(now));
        let done = db!(&self.pool, p, d => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE campaigns SET status = $2, last_error = $3, finished_at = $4, retry_at = NULL
                 WHERE id = $1 AND status IN ({})",
                d.text_list("$5")
            )))
            .bind(id)
            .bind(to.as_str())
            .bind(error)
            .bind(finished)
            .bind(JsonText(serde_json::to_string(&from_list).expect("JSON")))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Store the rate a run settled at after the server asked it to slow
    /// down (`what`: how it came to it).
    pub async fn set_settled_rate(&self, id: i64, rate: f64, what: &str) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("UPDATE campaigns SET settled_rate = $2, throttled = $3 WHERE id = $1")
                .bind(id)
                .bind(rate)
                .bind(what)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Hard bounces and complaints reported for campaign `id` since
    /// `since` other than by the SMTP server's reply (DSNs, feedback
    /// reports, webhooks): the circuit breaker's late counts.
    pub async fn campaign_reports_since(
        &self,
        id: i64,
        since: DateTime<Utc>,
    ) -> Result<(u64, u64)> {
        let (hard, complaints): (i64, i64) = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT COUNT(DISTINCT CASE WHEN kind = 'hard' AND blocked = 0 THEN subscriber_id END),
                        COUNT(DISTINCT CASE WHEN kind = 'complaint' THEN subscriber_id END)
                 FROM bounces WHERE campaign_id = $1 AND created_at >= $2 AND source <> 'smtp'",
            )
            .bind(id)
            .bind(Ts(since))
            .fetch_one(p)
            .await?
        });
        Ok((hard.max(0) as u64, complaints.max(0) as u64))
    }

    /// Forget why the circuit breaker paused campaign `id` (a person looked:
    /// `campaigns resume --force`).
    pub async fn clear_breaker(&self, id: i64) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("UPDATE campaigns SET breaker = NULL WHERE id = $1")
                .bind(id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Campaigns a crash or a signal left `sending`.
    pub async fn campaigns_in(&self, status: CampaignStatus) -> Result<Vec<i64>> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT id FROM campaigns WHERE status = $1 ORDER BY id")
                .bind(status.as_str())
                .fetch_all(p)
                .await?
        }))
    }
}

/// A campaign's row, its delivery counts by status, and its posts.
type CampaignParts = (CampaignRow, Vec<(DeliveryStatus, i64)>, Vec<String>);

#[derive(sqlx::FromRow)]
struct CampaignRow {
    kind: String,
    subject: String,
    status: CampaignStatus,
    total: i64,
    last_error: Option<String>,
    retry_at: Option<Ts>,
    created_at: Ts,
    started_at: Option<Ts>,
    finished_at: Option<Ts>,
    scheduled_at: Option<Ts>,
    settled_rate: Option<f64>,
    throttled: Option<String>,
    breaker: Option<String>,
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
