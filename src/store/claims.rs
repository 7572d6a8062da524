//! The processes that send (SQL only). Several processes — workers on
//! several hosts, a foreground `gazette send` — may send one campaign at
//! once: each joins it (`join_campaign`), registers a heartbeat row in
//! `senders` under a random id, and leases deliveries by that id (see
//! `queue`). The heartbeat renews the leases; a process that stops beating
//! loses them when they expire, and one that died on this host loses them
//! at once (the next process to join releases them).

use chrono::{DateTime, Utc};

use super::campaigns::{CampaignStatus, ClaimRefused};
use super::db::db;
use super::{ts, Store, Ts};
use crate::error::Result;

/// Who sends: a process on a host, and a random id of its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimOwner {
    pub host: String,
    pub pid: i64,
    pub id: String,
}

impl std::fmt::Display for ClaimOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} on {}", self.pid, self.host)
    }
}

/// How a campaign run ends, as stored by `finish_claim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending<'a> {
    /// Nothing is left for this process: the campaign is marked done if
    /// nothing is pending any more (whoever empties the queue marks it).
    Done,
    /// The server was unreachable: paused with the error; the worker
    /// retries it at `retry_at`.
    Unreachable {
        error: &'a str,
        retry_at: DateTime<Utc>,
    },
    /// The stored email cannot be used: the campaign can never be sent.
    Failed(&'a str),
    /// The circuit breaker: paused with the reason (not retried by the
    /// worker; `campaigns resume --force` clears it).
    Breaker(&'a str),
    /// Stopped (signal, pause, cancel, a store error): only the leases are
    /// given up, the status stays what it is.
    Release,
}

/// A process that sends, as its heartbeat row shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sender {
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// `worker` or `send` (a foreground `gazette send`), with the campaign.
    pub role: String,
    pub campaign: Option<i64>,
    pub started_at: String,
    pub heartbeat_at: String,
}

#[derive(sqlx::FromRow)]
struct SenderRow {
    id: String,
    host: String,
    pid: i64,
    role: String,
    campaign_id: Option<i64>,
    started_at: Ts,
    heartbeat_at: Ts,
}

impl Store {
    /// Join campaign `id` as `owner`: status `sending` (from queued or
    /// sending; from paused when `foreground` — an operator's `send` or
    /// `campaigns resume` — or when its retry after an unreachable server
    /// is due, so that a worker never restarts what an operator paused), a
    /// heartbeat row, and the leases of senders on this host that
    /// `is_dead` given back.
    pub async fn join_campaign(
        &self,
        id: i64,
        owner: &ClaimOwner,
        foreground: bool,
        now: DateTime<Utc>,
        is_dead: &(dyn Fn(i64) -> bool + Sync),
    ) -> Result<std::result::Result<(), ClaimRefused>> {
        self.release_dead_senders(&owner.host, owner.pid, now, is_dead)
            .await?;
        let joined = db!(&self.pool, p, pg => {
            sqlx::query(
                "UPDATE campaigns SET status = 'sending', heartbeat_at = $2,
                     last_error = CASE WHEN status = 'sending' THEN last_error ELSE NULL END,
                     started_at = COALESCE(started_at, $2), finished_at = NULL
                 WHERE id = $1 AND (status IN ('queued', 'sending')
                     OR (status = 'paused' AND ($3 OR (retry_at IS NOT NULL AND retry_at <= $2))))",
            )
            .bind(id)
            .bind(Ts(now))
            .bind(foreground)
            .execute(p)
            .await?
            .rows_affected()
        });
        if joined == 0 {
            return Ok(Err(match self.campaign_status(id).await? {
                None => ClaimRefused::Unknown,
                Some(CampaignStatus::Paused) => ClaimRefused::Paused,
                Some(s) => ClaimRefused::Finished(s),
            }));
        }
        db!(&self.pool, p, pg => {
            sqlx::query(
                "INSERT INTO senders (id, host, pid, role, campaign_id, started_at, heartbeat_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)
                 ON CONFLICT (id) DO UPDATE SET campaign_id = excluded.campaign_id,
                     heartbeat_at = excluded.heartbeat_at",
            )
            .bind(&owner.id)
            .bind(&owner.host)
            .bind(owner.pid)
            .bind(if foreground { "send" } else { "worker" })
            .bind(id)
            .bind(Ts(now))
            .execute(p)
            .await?;
        });
        Ok(Ok(()))
    }

    /// Give back the leases of senders on `host` whose process died, and
    /// forget senders silent for a day (on any host).
    async fn release_dead_senders(
        &self,
        host: &str,
        me: i64,
        now: DateTime<Utc>,
        is_dead: &(dyn Fn(i64) -> bool + Sync),
    ) -> Result<()> {
        let here: Vec<(String, i64, Option<i64>)> = db!(&self.pool, p, pg => {
            sqlx::query_as("SELECT id, pid, campaign_id FROM senders WHERE host = $1")
                .bind(host)
                .fetch_all(p)
                .await?
        });
        for (id, pid, campaign) in here.into_iter().filter(|(_, pid, _)| *pid != me) {
            if is_dead(pid) {
                let n = self.release_leases(&id).await?;
                self.forget_sender(&id).await?;
                if let (Some(c), true) = (campaign, n > 0) {
                    tracing::info!(
                        "campaign {c}: took over the claim of process {pid}, which died ({n} leased deliveries back in the queue)"
                    );
                }
            }
        }
        let old = Ts(now - chrono::Duration::days(1));
        db!(&self.pool, p, pg => {
            sqlx::query("DELETE FROM senders WHERE heartbeat_at < $1")
                .bind(old)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// A worker's own heartbeat (idle or not), for `gazette status`.
    pub async fn worker_beat(&self, owner: &ClaimOwner, now: DateTime<Utc>) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query(
                "INSERT INTO senders (id, host, pid, role, campaign_id, started_at, heartbeat_at)
                 VALUES ($1, $2, $3, 'worker', NULL, $4, $4)
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            )
            .bind(&owner.id)
            .bind(&owner.host)
            .bind(owner.pid)
            .bind(Ts(now))
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Forget sender `id` (a worker that stops).
    pub async fn forget_sender(&self, id: &str) -> Result<()> {
        db!(&self.pool, p, pg => {
            sqlx::query("DELETE FROM senders WHERE id = $1")
                .bind(id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Renew `owner`'s heartbeat, and its leases that end before `before`
    /// until `until` (those taken since end late enough: see
    /// [`Store::renew_leases_before`]); returns the campaign's status, or
    /// `None` when the sender was forgotten (another process found it dead:
    /// its leases are gone).
    pub async fn heartbeat_before(
        &self,
        id: i64,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Result<Option<CampaignStatus>> {
        let beat = db!(&self.pool, p, pg => {
            sqlx::query("UPDATE senders SET heartbeat_at = $2 WHERE id = $1")
                .bind(owner)
                .bind(Ts(now))
                .execute(p)
                .await?
                .rows_affected()
        });
        if beat == 0 {
            return Ok(None);
        }
        self.renew_leases_before(owner, until, before).await?;
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "UPDATE campaigns SET heartbeat_at = $2 WHERE id = $1 RETURNING status",
            )
            .bind(id)
            .bind(Ts(now))
            .fetch_optional(p)
            .await?
        }))
    }

    /// End `owner`'s run of campaign `id`: give up its leases and its
    /// heartbeat row, and store how it ended (only while the campaign is
    /// `sending`; `Done` only once nothing is pending). Returns whether
    /// the campaign's status changed.
    pub async fn finish_claim(
        &self,
        id: i64,
        owner: &str,
        ending: Ending<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.release_leases(owner).await?;
        self.forget_sender(owner).await?;
        if ending == Ending::Done {
            return self.finish_if_empty(id, now).await;
        }
        let done = db!(&self.pool, p, pg => {
            let q = match ending {
                Ending::Done | Ending::Release => return Ok(false),
                Ending::Unreachable { error, retry_at } => sqlx::query(
                    "UPDATE campaigns SET status = 'paused', last_error = $2, retry_at = $3,
                         heartbeat_at = NULL, unreachable_tries = unreachable_tries + 1
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(id)
                .bind(error)
                .bind(Ts(retry_at)),
                Ending::Breaker(why) => sqlx::query(
                    "UPDATE campaigns SET status = 'paused', last_error = $2, breaker = $2,
                         retry_at = NULL, heartbeat_at = NULL
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(id)
                .bind(why),
                Ending::Failed(error) => sqlx::query(
                    "UPDATE campaigns SET status = 'failed', last_error = $2, finished_at = $3,
                         heartbeat_at = NULL, retry_at = NULL
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(id)
                .bind(error)
                .bind(Ts(now)),
            };
            q.execute(p).await?.rows_affected()
        });
        Ok(done == 1)
    }

    /// Mark campaign `id` done if it is `sending` and nothing is pending:
    /// whichever process empties the queue does it, once. Returns whether
    /// this call did.
    pub async fn finish_if_empty(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let done = db!(&self.pool, p, pg => {
            sqlx::query(
                "UPDATE campaigns SET status = 'done', finished_at = $2, heartbeat_at = NULL,
                     unreachable_tries = 0, retry_at = NULL
                 WHERE id = $1 AND status = 'sending' AND NOT EXISTS
                     (SELECT 1 FROM deliveries WHERE campaign_id = $1 AND status = 'pending')",
            )
            .bind(id)
            .bind(Ts(now))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// The senders whose heartbeat is younger than `stale`, oldest first.
    pub async fn live_senders(
        &self,
        now: DateTime<Utc>,
        stale: std::time::Duration,
    ) -> Result<Vec<Sender>> {
        let since = Ts(now - chrono::Duration::from_std(stale).unwrap_or_default());
        let rows: Vec<SenderRow> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT id, host, pid, role, campaign_id, started_at, heartbeat_at FROM senders
                 WHERE heartbeat_at >= $1 ORDER BY started_at, id",
            )
            .bind(since)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| Sender {
                id: r.id,
                host: r.host,
                pid: r.pid,
                role: r.role,
                campaign: r.campaign_id,
                started_at: ts(r.started_at.0),
                heartbeat_at: ts(r.heartbeat_at.0),
            })
            .collect())
    }

    /// How many processes may send campaign `id` now: those sending it and
    /// the live workers (each helps with every campaign that is `sending`),
    /// counted once per process, heartbeat younger than `stale`.
    pub async fn possible_senders(
        &self,
        id: i64,
        now: DateTime<Utc>,
        stale: std::time::Duration,
    ) -> Result<i64> {
        let since = Ts(now - chrono::Duration::from_std(stale).unwrap_or_default());
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT DISTINCT host, pid FROM senders
                     WHERE heartbeat_at >= $2 AND (role = 'worker' OR campaign_id = $1)) AS s",
            )
            .bind(id)
            .bind(since)
            .fetch_one(p)
            .await?
        }))
    }

    /// How many times in a row campaign `id` found the server unreachable.
    pub async fn unreachable_tries(&self, id: i64) -> Result<u32> {
        let n: Option<i64> = db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT unreachable_tries FROM campaigns WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        Ok(n.unwrap_or(0).clamp(0, u32::MAX as i64) as u32)
    }

    /// Campaigns a worker should run now: `sending` ones (every worker
    /// helps; leases keep them apart), `queued` ones older than `settle`
    /// (a `gazette send` starts its own at once), and those paused because
    /// the server was unreachable whose retry is due.
    pub async fn campaigns_to_run(
        &self,
        now: DateTime<Utc>,
        settle: std::time::Duration,
    ) -> Result<Vec<(i64, CampaignStatus)>> {
        let settled = now - chrono::Duration::from_std(settle).unwrap_or_default();
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT id, status FROM campaigns
                 WHERE status = 'sending'
                    OR (status = 'queued' AND created_at < $2)
                    OR (status = 'paused' AND retry_at IS NOT NULL AND retry_at <= $1)
                 ORDER BY id",
            )
            .bind(Ts(now))
            .bind(Ts(settled))
            .fetch_all(p)
            .await?
        }))
    }
}
