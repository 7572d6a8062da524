//! The dashboard's figures: growth per week, each campaign's numbers, the
//! delivery timeline, bounce verdicts by domain. Counts only: nothing here
//! returns an address.
//!
//! A finished campaign's delivery counts and timeline no longer change:
//! they are computed once and kept in `campaign_counts` with the
//! `finished_at` they were computed for (a campaign that runs again gets a
//! new one).

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::db::{db, Ts};
use super::Store;
use crate::error::Result;

/// One week of the list's growth (weeks start on Monday, UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Week {
    /// The Monday it starts on, `YYYY-MM-DD`.
    pub week: String,
    pub confirmations: i64,
    pub unsubscribes: i64,
    pub bounces: i64,
    pub complaints: i64,
}

/// Delivery counts of a campaign.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub sent: i64,
    pub failed: i64,
    pub pending: i64,
    pub skipped: i64,
}

/// One campaign as the dashboard lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CampaignLine {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub status: String,
    pub total: i64,
    pub created_at: String,
    pub started_at: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Hard bounces (the sender's own refusals left out).
    pub bounced: i64,
    pub soft: i64,
    pub blocked: i64,
    pub complained: i64,
    /// Readers who unsubscribed after this campaign was the last to reach them.
    pub unsubscribed: i64,
    pub clicks: i64,
}

/// Bounce verdicts of one recipient domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DomainVerdicts {
    pub domain: String,
    pub hard: i64,
    pub soft: i64,
    pub blocked: i64,
    pub complaints: i64,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    id: i64,
    kind: String,
    subject: String,
    status: String,
    total: i64,
    created_at: Ts,
    started_at: Option<Ts>,
    finished_at: Option<Ts>,
}

/// The Monday of `t`'s week.
pub fn week_start(t: DateTime<Utc>) -> NaiveDate {
    let d = t.date_naive();
    d - Duration::days(d.weekday().num_days_from_monday() as i64)
}

/// Whether a campaign of `status` is over (its counts no longer change).
fn finished(status: &str) -> bool {
    matches!(status, "done" | "cancelled" | "failed")
}

impl Store {
    /// Confirmations and readers lost (unsubscribed, bounced, complained)
    /// per week, for the `weeks` weeks up to the one of `now`, oldest first.
    /// Erased readers are no longer counted.
    pub async fn growth(&self, weeks: usize, now: DateTime<Utc>) -> Result<Vec<Week>> {
        let first = week_start(now) - Duration::weeks(weeks.saturating_sub(1) as i64);
        let since = first.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        type Days = (Vec<(String, i64)>, Vec<(String, String, i64)>);
        let (joined, left): Days = db!(&self.pool, p, pg => {
            let joined = format!(
                "SELECT {d} AS d, COUNT(*) FROM subscribers WHERE confirmed_at >= $1 GROUP BY d",
                d = pg.utc_day("confirmed_at")
            );
            let left = format!(
                "SELECT {d} AS d, status, COUNT(*) FROM subscribers WHERE unsubscribed_at >= $1
                 AND status IN ('unsubscribed', 'bounced', 'complained') GROUP BY d, status",
                d = pg.utc_day("unsubscribed_at")
            );
            let a = sqlx::query_as(sqlx::AssertSqlSafe(joined))
                .bind(Ts(since))
                .fetch_all(p)
                .await?;
            let b = sqlx::query_as(sqlx::AssertSqlSafe(left))
                .bind(Ts(since))
                .fetch_all(p)
                .await?;
            (a, b)
        });
        let mut out: Vec<Week> = (0..weeks)
            .map(|i| Week {
                week: (first + Duration::weeks(i as i64)).to_string(),
                ..Week::default()
            })
            .collect();
        let slot = |d: &str| -> Option<usize> {
            let d = NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?;
            let i = (d - first).num_days().checked_div(7)?;
            (0..weeks as i64).contains(&i).then_some(i as usize)
        };
        for (d, n) in joined {
            if let Some(i) = slot(&d) {
                out[i].confirmations += n;
            }
        }
        for (d, status, n) in left {
            let Some(i) = slot(&d) else { continue };
            match status.as_str() {
                "unsubscribed" => out[i].unsubscribes += n,
                "bounced" => out[i].bounces += n,
                _ => out[i].complaints += n,
            }
        }
        Ok(out)
    }

    /// How many campaigns there are.
    pub async fn campaign_count(&self) -> Result<i64> {
        Ok(db!(&self.pool, p, pg => {
            sqlx::query_scalar("SELECT COUNT(*) FROM campaigns").fetch_one(p).await?
        }))
    }

    /// Campaigns newest first, `limit` from `offset`, with their numbers.
    pub async fn campaign_lines(&self, limit: i64, offset: i64) -> Result<Vec<CampaignLine>> {
        let rows: Vec<LineRow> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT id, kind, subject, status, total, created_at, started_at, finished_at
                 FROM campaigns ORDER BY id DESC LIMIT $1 OFFSET $2",
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(p)
            .await?
        });
        let (Some(lo), Some(hi)) = (rows.last().map(|r| r.id), rows.first().map(|r| r.id)) else {
            return Ok(Vec::new());
        };
        let bounces = self.bounce_counts_between(lo, hi).await?;
        let oldest = rows.iter().map(|r| r.created_at.0).min();
        let unsubscribed = self.unsubscribed_after(oldest).await?;
        let clicks: HashMap<i64, i64> = self.clicks_per_campaign().await?.into_iter().collect();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let counts = self.counts_of(r.id, &r.status, r.finished_at).await?;
            let b = bounces.get(&r.id).copied().unwrap_or_default();
            out.push(CampaignLine {
                id: r.id,
                kind: r.kind,
                subject: r.subject,
                status: r.status,
                total: r.total,
                created_at: super::ts(r.created_at.0),
                started_at: r.started_at.map(|t| super::ts(t.0)),
                counts,
                bounced: b.0,
                soft: b.1,
                blocked: b.2,
                complained: b.3,
                unsubscribed: unsubscribed.get(&r.id).copied().unwrap_or(0),
                clicks: clicks.get(&r.id).copied().unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// (hard, soft, blocked, complaints) per campaign with ids in `lo..=hi`.
    async fn bounce_counts_between(
        &self,
        lo: i64,
        hi: i64,
    ) -> Result<HashMap<i64, (i64, i64, i64, i64)>> {
        let rows: Vec<(i64, String, i64, i64)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT campaign_id, kind, CAST(blocked AS BIGINT), COUNT(*) FROM bounces
                 WHERE campaign_id BETWEEN $1 AND $2 GROUP BY campaign_id, kind, blocked",
            )
            .bind(lo)
            .bind(hi)
            .fetch_all(p)
            .await?
        });
        let mut out: HashMap<i64, (i64, i64, i64, i64)> = HashMap::new();
        for (id, kind, blocked, n) in rows {
            let e = out.entry(id).or_default();
            match (kind.as_str(), blocked != 0) {
                ("complaint", _) => e.3 += n,
                (_, true) => e.2 += n,
                ("hard", false) => e.0 += n,
                ("soft", false) => e.1 += n,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Readers who unsubscribed (at or after `since`: those before cannot
    /// be a later campaign's), by the campaign that last reached them
    /// before they did.
    pub async fn unsubscribed_after(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<HashMap<i64, i64>> {
        let rows: Vec<(i64, i64)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT c, COUNT(*) FROM (
                   SELECT (SELECT d.campaign_id FROM deliveries d
                           WHERE d.subscriber_id = s.id AND d.sent_at <= s.unsubscribed_at
                           ORDER BY d.sent_at DESC LIMIT 1) AS c
                   FROM subscribers s
                   WHERE s.status = 'unsubscribed' AND s.unsubscribed_at >= $1
                 ) x WHERE c IS NOT NULL GROUP BY c",
            )
            .bind(Ts(since.unwrap_or(DateTime::UNIX_EPOCH)))
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().collect())
    }

    /// The delivery counts of campaign `id` (kept once it is finished).
    pub async fn counts_of(
        &self,
        id: i64,
        status: &str,
        finished_at: Option<Ts>,
    ) -> Result<Counts> {
        match (finished(status), finished_at) {
            (true, Some(at)) => Ok(self.snapshot(id, at).await?.0),
            _ => self.live_counts(id).await,
        }
    }

    async fn live_counts(&self, id: i64) -> Result<Counts> {
        let rows: Vec<(String, i64)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT status, COUNT(*) FROM deliveries WHERE campaign_id = $1 GROUP BY status",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        });
        let mut c = Counts::default();
        for (status, n) in rows {
            match status.as_str() {
                "sent" => c.sent = n,
                "failed" => c.failed = n,
                "pending" => c.pending = n,
                _ => c.skipped = n,
            }
        }
        Ok(c)
    }

    /// Messages sent per minute (`YYYY-MM-DDTHH:MM`, UTC), oldest first.
    async fn live_timeline(&self, id: i64) -> Result<Vec<(String, i64)>> {
        Ok(db!(&self.pool, p, pg => {
            let minute = pg.utc_minute("sent_at");
            let sql = format!(
                "SELECT {minute} AS m, COUNT(*) FROM deliveries
                 WHERE campaign_id = $1 AND status = 'sent' AND sent_at IS NOT NULL
                 GROUP BY m ORDER BY m"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_all(p)
                .await?
        }))
    }

    /// The counts and timeline of a finished campaign: kept, or computed
    /// now and kept.
    async fn snapshot(&self, id: i64, finished_at: Ts) -> Result<(Counts, Vec<(String, i64)>)> {
        type Kept = (i64, i64, i64, i64, String);
        let kept: Option<Kept> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT sent, failed, pending, skipped, timeline FROM campaign_counts
                 WHERE campaign_id = $1 AND finished_at = $2",
            )
            .bind(id)
            .bind(finished_at)
            .fetch_optional(p)
            .await?
        });
        if let Some((sent, failed, pending, skipped, timeline)) = kept {
            let counts = Counts {
                sent,
                failed,
                pending,
                skipped,
            };
            return Ok((counts, serde_json::from_str(&timeline).unwrap_or_default()));
        }
        let counts = self.live_counts(id).await?;
        let timeline = self.live_timeline(id).await?;
        let json = serde_json::to_string(&timeline).expect("JSON");
        db!(&self.pool, p, pg => {
            sqlx::query(
                "INSERT INTO campaign_counts (campaign_id, finished_at, sent, failed, pending, skipped, timeline)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (campaign_id) DO UPDATE SET finished_at = excluded.finished_at,
                   sent = excluded.sent, failed = excluded.failed, pending = excluded.pending,
                   skipped = excluded.skipped, timeline = excluded.timeline",
            )
            .bind(id)
            .bind(finished_at)
            .bind(counts.sent)
            .bind(counts.failed)
            .bind(counts.pending)
            .bind(counts.skipped)
            .bind(json)
            .execute(p)
            .await?;
        });
        Ok((counts, timeline))
    }

    /// Messages sent per minute of campaign `id` (kept once it is finished).
    pub async fn timeline(&self, id: i64) -> Result<Vec<(String, i64)>> {
        let row: Option<(String, Option<Ts>)> = db!(&self.pool, p, pg => {
            sqlx::query_as("SELECT status, finished_at FROM campaigns WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        match row {
            Some((status, Some(at))) if finished(&status) => Ok(self.snapshot(id, at).await?.1),
            Some(_) => self.live_timeline(id).await,
            None => Ok(Vec::new()),
        }
    }

    /// Compute and keep the numbers of finished campaigns that have none
    /// yet (the dashboard does it in the background at start). Returns how
    /// many it computed.
    pub async fn keep_finished_counts(&self) -> Result<usize> {
        let todo: Vec<(i64, Ts)> = db!(&self.pool, p, pg => {
            sqlx::query_as(
                "SELECT c.id, c.finished_at FROM campaigns c
                 LEFT JOIN campaign_counts k ON k.campaign_id = c.id AND k.finished_at = c.finished_at
                 WHERE c.status IN ('done', 'cancelled', 'failed') AND c.finished_at IS NOT NULL
                   AND k.campaign_id IS NULL ORDER BY c.id DESC",
            )
            .fetch_all(p)
            .await?
        });
        for (id, at) in &todo {
            self.snapshot(*id, *at).await?;
        }
        Ok(todo.len())
    }

    /// Bounce verdicts by recipient domain: of campaign `id`, or (`None`)
    /// of every bounce since `since`; `blocked_only`: the sender's own
    /// refusals only. Most bounces first, at most `limit` domains.
    pub async fn verdicts_by_domain(
        &self,
        campaign: Option<i64>,
        since: Option<DateTime<Utc>>,
        blocked_only: bool,
        limit: i64,
    ) -> Result<Vec<DomainVerdicts>> {
        let rows: Vec<(Option<String>, String, i64, i64)> = db!(&self.pool, p, pg => {
            let sql = format!(
                "SELECT {dom} AS dom, b.kind, CAST(b.blocked AS BIGINT), COUNT(*)
                 FROM bounces b LEFT JOIN subscribers s ON s.id = b.subscriber_id
                 WHERE ($1 IS NULL OR b.campaign_id = $1) AND ($2 IS NULL OR b.created_at >= $2)
                   AND ($3 = 0 OR b.blocked <> 0) AND b.kind <> 'none'
                 GROUP BY dom, b.kind, b.blocked",
                dom = pg.domain_of("s.email")
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(campaign)
                .bind(since.map(Ts))
                .bind(blocked_only as i64)
                .fetch_all(p)
                .await?
        });
        let mut by: HashMap<String, DomainVerdicts> = HashMap::new();
        for (dom, kind, blocked, n) in rows {
            let dom = dom.filter(|d| !d.is_empty()).unwrap_or_else(|| "?".into());
            let e = by.entry(dom.clone()).or_insert_with(|| DomainVerdicts {
                domain: dom,
                ..Default::default()
            });
            match (kind.as_str(), blocked != 0) {
                ("complaint", _) => e.complaints += n,
                (_, true) => e.blocked += n,
                ("hard", _) => e.hard += n,
                _ => e.soft += n,
            }
        }
        let mut out: Vec<DomainVerdicts> = by.into_values().collect();
        let total = |d: &DomainVerdicts| d.hard + d.soft + d.blocked + d.complaints;
        out.sort_by(|a, b| total(b).cmp(&total(a)).then(a.domain.cmp(&b.domain)));
        out.truncate(limit.max(0) as usize);
        Ok(out)
    }
}
