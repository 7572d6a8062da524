//! Claims on campaigns (SQL only): which process sends a campaign, fenced
//! by the owner's random id so that a process that lost its claim cannot
//! write over its successor's work.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::campaigns::{CampaignStatus, ClaimRefused};
use super::{parse_ts, ts, Store};
use crate::error::{Error, Result};

/// Who holds a claim: a process on a host, and a random id of its run.
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
    Done,
    /// The server was unreachable: paused with the error; the worker
    /// retries it at `retry_at`.
    Unreachable {
        error: &'a str,
        retry_at: DateTime<Utc>,
    },
    /// The stored email cannot be used: the campaign can never be sent.
    Failed(&'a str),
    /// Stopped (signal, pause, cancel, a store error): only the claim is
    /// given up, the status stays what it is.
    Release,
}

impl Store {
    /// Take campaign `id` for `owner`: status `sending`, a fresh heartbeat.
    /// Refused while another owner's heartbeat is younger than `stale`,
    /// unless that owner is a process on this host that `is_dead`.
    pub async fn claim_campaign(
        &self,
        id: i64,
        owner: &ClaimOwner,
        now: DateTime<Utc>,
        stale: std::time::Duration,
        is_dead: &(dyn Fn(i64) -> bool + Sync),
    ) -> Result<std::result::Result<(), ClaimRefused>> {
        let stale_before = now - chrono::Duration::from_std(stale).unwrap_or_default();
        if self.take(id, owner, now, Some(stale_before), None).await? {
            return Ok(Ok(()));
        }
        let row = sqlx::query(
            "SELECT status, claim_host, claim_pid, claim_id FROM campaigns WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(self.lite())
        .await?;
        let Some(row) = row else {
            return Ok(Err(ClaimRefused::Unknown));
        };
        let status =
            CampaignStatus::from_str(&row.try_get::<String, _>("status")?).map_err(Error::msg)?;
        if matches!(
            status,
            CampaignStatus::Done | CampaignStatus::Cancelled | CampaignStatus::Failed
        ) {
            return Ok(Err(ClaimRefused::Finished(status)));
        }
        let host: Option<String> = row.try_get("claim_host")?;
        let pid: Option<i64> = row.try_get("claim_pid")?;
        let old: Option<String> = row.try_get("claim_id")?;
        if let (Some(host), Some(pid), Some(old)) = (host, pid, old) {
            let holder = ClaimOwner { host, pid, id: old };
            let dead = holder.host == owner.host && holder.pid != owner.pid && is_dead(holder.pid);
            if dead && self.take(id, owner, now, None, Some(&holder.id)).await? {
                tracing::info!("campaign {id}: took over the claim of {holder}, which died");
                return Ok(Ok(()));
            }
            return Ok(Err(ClaimRefused::Busy(Some(holder.to_string()))));
        }
        Ok(Err(ClaimRefused::Busy(None)))
    }

    /// The claiming UPDATE: when the heartbeat is older than `stale_before`
    /// (or absent), or when the claim is `from`'s.
    async fn take(
        &self,
        id: i64,
        owner: &ClaimOwner,
        now: DateTime<Utc>,
        stale_before: Option<DateTime<Utc>>,
        from: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE campaigns SET status = 'sending', heartbeat_at = ?2, last_error = NULL,
                 started_at = COALESCE(started_at, ?2), finished_at = NULL,
                 claim_host = ?3, claim_pid = ?4, claim_id = ?5
             WHERE id = ?1 AND status IN ('queued', 'sending', 'paused')
               AND ((?6 IS NOT NULL AND (heartbeat_at IS NULL OR heartbeat_at < ?6))
                    OR (?7 IS NOT NULL AND claim_id = ?7))",
        )
        .bind(id)
        .bind(ts(now))
        .bind(&owner.host)
        .bind(owner.pid)
        .bind(&owner.id)
        .bind(stale_before.map(ts))
        .bind(from)
        .execute(self.lite())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Renew the claim; returns the campaign's status, or `None` when the
    /// claim is no longer `claim`'s.
    pub async fn heartbeat(
        &self,
        id: i64,
        claim: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CampaignStatus>> {
        let s: Option<String> = sqlx::query_scalar(
            "UPDATE campaigns SET heartbeat_at = ?3 WHERE id = ?1 AND claim_id = ?2 RETURNING status",
        )
        .bind(id)
        .bind(claim)
        .bind(ts(now))
        .fetch_optional(self.lite())
        .await?;
        s.map(|s| CampaignStatus::from_str(&s).map_err(Error::msg))
            .transpose()
    }

    /// End a run: store how it ended (only while still `sending`) and give
    /// up the claim, both only if the claim is still `claim`'s. Returns
    /// whether it was.
    pub async fn finish_claim(
        &self,
        id: i64,
        claim: &str,
        ending: Ending<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (status, error, retry_at) = match ending {
            Ending::Done => (Some("done"), None, None),
            Ending::Unreachable { error, retry_at } => {
                (Some("paused"), Some(error), Some(ts(retry_at)))
            }
            Ending::Failed(e) => (Some("failed"), Some(e), None),
            Ending::Release => (None, None, None),
        };
        let done = sqlx::query(
            "UPDATE campaigns SET heartbeat_at = NULL, claim_host = NULL, claim_pid = NULL, claim_id = NULL,
                 status = CASE WHEN ?3 IS NOT NULL AND status = 'sending' THEN ?3 ELSE status END,
                 last_error = CASE WHEN ?3 IS NOT NULL AND status = 'sending' THEN ?4 ELSE last_error END,
                 finished_at = CASE WHEN ?3 IN ('done', 'failed') AND status = 'sending' THEN ?5 ELSE finished_at END,
                 retry_at = CASE WHEN ?3 IS NOT NULL AND status = 'sending' THEN ?6 ELSE retry_at END,
                 unreachable_tries = CASE WHEN ?3 IS NULL OR status <> 'sending' THEN unreachable_tries
                                          WHEN ?6 IS NOT NULL THEN unreachable_tries + 1 ELSE 0 END
             WHERE id = ?1 AND claim_id = ?2",
        )
        .bind(id)
        .bind(claim)
        .bind(status)
        .bind(error)
        .bind(ts(now))
        .bind(retry_at)
        .execute(self.lite())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many times in a row campaign `id` found the server unreachable.
    pub async fn unreachable_tries(&self, id: i64) -> Result<u32> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT unreachable_tries FROM campaigns WHERE id = ?1")
                .bind(id)
                .fetch_optional(self.lite())
                .await?;
        Ok(n.unwrap_or(0).clamp(0, u32::MAX as i64) as u32)
    }

    /// Campaigns a worker should run now: `sending` ones nobody sends
    /// (their claim lapsed or was released), `queued` ones older than
    /// `settle` (a `gazette send` claims its own at once), and those paused
    /// because the server was unreachable whose retry is due.
    pub async fn campaigns_to_run(
        &self,
        now: DateTime<Utc>,
        settle: std::time::Duration,
    ) -> Result<Vec<(i64, CampaignStatus)>> {
        let settled = now - chrono::Duration::from_std(settle).unwrap_or_default();
        let rows = sqlx::query(
            "SELECT id, status FROM campaigns
             WHERE status = 'sending'
                OR (status = 'queued' AND created_at < ?2)
                OR (status = 'paused' AND retry_at IS NOT NULL AND retry_at <= ?1)
             ORDER BY id",
        )
        .bind(ts(now))
        .bind(ts(settled))
        .fetch_all(self.lite())
        .await?;
        rows.into_iter()
            .map(|r| {
                let s: String = r.try_get("status")?;
                Ok((
                    r.try_get("id")?,
                    CampaignStatus::from_str(&s).map_err(Error::msg)?,
                ))
            })
            .collect()
    }

    /// When the worker retries campaign `id` (paused as unreachable).
    pub async fn campaign_retry_at(&self, id: i64) -> Result<Option<DateTime<Utc>>> {
        let t: Option<String> = sqlx::query_scalar("SELECT retry_at FROM campaigns WHERE id = ?1")
            .bind(id)
            .fetch_optional(self.lite())
            .await?
            .flatten();
        Ok(t.as_deref().and_then(parse_ts))
    }
}
