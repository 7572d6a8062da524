//! What the worker will do next, from the database: `gazette status` and
//! the admin API's `/api/v1/worker` print the same report.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Settings;
use crate::content::Post;
use crate::delivery::campaign::default_digest;
use crate::error::Result;
use crate::store::campaigns::{CampaignInfo, CampaignStatus};
use crate::store::claims::Sender;
use crate::store::{ts, Store};

#[derive(Debug, Serialize)]
pub struct WorkerStatus {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Processes that send (workers and foreground sends) whose heartbeat
    /// is younger than the lease, on any host.
    pub workers: Vec<Sender>,
    pub digest_schedule: String,
    pub next_digest_at: Option<String>,
    pub posts_waiting_for_digest: Vec<String>,
    pub posts_not_yet_seen: Vec<String>,
    /// New posts waiting at the publish gate, and why.
    pub posts_at_gate: Vec<super::posts::GateWait>,
    pub publish_mode: String,
    pub campaigns_in_progress: Vec<CampaignInfo>,
    /// Campaigns waiting for their `scheduled_at`, soonest first.
    pub campaigns_scheduled: Vec<CampaignInfo>,
    /// Whether a worker has ever started on this database.
    #[serde(skip)]
    pub initialized: bool,
}

pub async fn report(
    settings: &Settings,
    store: &Store,
    posts: &[Post],
    now: DateTime<Utc>,
) -> Result<WorkerStatus> {
    let (waiting, _) = default_digest(store, posts, settings, now).await?;
    let seen = store.seen_posts().await?;
    let initialized = store.state("posts_initialized").await?.is_some();
    let unseen: Vec<String> = if initialized {
        posts
            .iter()
            .filter(|p| p.is_published(now) && !seen.contains(&p.slug))
            .map(|p| p.slug.clone())
            .collect()
    } else {
        Vec::new()
    };
    let handled = store.last_digest_period().await?;
    let baseline = store
        .state("digest_baseline")
        .await?
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|d| d.with_timezone(&Utc));
    let schedule = &settings.digest.schedule;
    let next = match handled.into_iter().chain(baseline).max() {
        Some(h) if schedule.due(h, now).is_some() => Some(now),
        Some(h) => schedule.next_after(now.max(h)),
        None => schedule.next_after(now),
    };
    let mut in_progress = Vec::new();
    for status in [
        CampaignStatus::Sending,
        CampaignStatus::Paused,
        CampaignStatus::Queued,
    ] {
        for id in store.campaigns_in(status).await? {
            if let Some(c) = store.campaign(id).await? {
                in_progress.push(c);
            }
        }
    }
    let mut scheduled = Vec::new();
    for id in store.campaigns_in(CampaignStatus::Scheduled).await? {
        if let Some(c) = store.campaign(id).await? {
            scheduled.push(c);
        }
    }
    scheduled.sort_by(|a, b| a.scheduled_at.cmp(&b.scheduled_at));
    let workers = store
        .live_senders(Utc::now(), crate::delivery::queue::CLAIM_STALE)
        .await?;
    Ok(WorkerStatus {
        backend: store.backend().as_str().to_string(),
        workers,
        digest_schedule: schedule.describe(),
        next_digest_at: next.map(ts),
        posts_waiting_for_digest: waiting.iter().map(|p| p.slug.clone()).collect(),
        posts_not_yet_seen: unseen,
        // Only posts still there and published (a removed or re-drafted
        // post's record is stale).
        posts_at_gate: super::posts::waiting(store)
            .await?
            .into_iter()
            .filter(|w| {
                posts
                    .iter()
                    .any(|p| p.slug == w.slug && p.is_published(now))
            })
            .collect(),
        publish_mode: format!("{:?}", settings.publish).to_lowercase(),
        campaigns_in_progress: in_progress,
        campaigns_scheduled: scheduled,
        initialized,
    })
}
