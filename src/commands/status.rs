//! `gazette status`: what the worker would do next, from the database.

use serde::Serialize;

use super::{load_posts, Ctx};
use crate::delivery::campaign::default_digest;
use crate::error::Result;
use crate::store::campaigns::{CampaignInfo, CampaignStatus};
use crate::store::{ts, Store};

#[derive(Serialize)]
struct Status {
    digest_schedule: String,
    next_digest_at: Option<String>,
    posts_waiting_for_digest: Vec<String>,
    posts_not_yet_seen: Vec<String>,
    publish_mode: String,
    campaigns_in_progress: Vec<CampaignInfo>,
}

pub async fn run(ctx: &Ctx, json: bool) -> Result<()> {
    let settings = ctx.settings()?;
    let now = ctx.now()?;
    let store = Store::open(&settings.database_url).await?;
    let gathered = gather(&settings, &store, now).await;
    store.close().await;
    let (st, initialized) = gathered?;
    if json {
        println!("{}", serde_json::to_string_pretty(&st).expect("JSON"));
        return Ok(());
    }
    print_text(&st, initialized);
    Ok(())
}

/// What the worker would do next, and whether it ever ran.
async fn gather(
    settings: &crate::config::Settings,
    store: &Store,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Status, bool)> {
    let catalog = load_posts(settings);
    let (waiting, _) = default_digest(store, &catalog.posts, settings, now).await?;
    let seen = store.seen_posts().await?;
    let initialized = store.state("posts_initialized").await?.is_some();
    let unseen: Vec<String> = if initialized {
        catalog
            .posts
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
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
        .map(|d| d.with_timezone(&chrono::Utc));
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
    let st = Status {
        digest_schedule: schedule.describe(),
        next_digest_at: next.map(ts),
        posts_waiting_for_digest: waiting.iter().map(|p| p.slug.clone()).collect(),
        posts_not_yet_seen: unseen,
        publish_mode: format!("{:?}", settings.publish).to_lowercase(),
        campaigns_in_progress: in_progress,
    };
    Ok((st, initialized))
}

fn print_text(st: &Status, initialized: bool) {
    println!("digest schedule:  {}", st.digest_schedule);
    println!(
        "next digest:      {}{}",
        st.next_digest_at.as_deref().unwrap_or("never"),
        if initialized {
            ""
        } else {
            " (the worker has not run yet)"
        }
    );
    println!(
        "waiting for it:   {} post{}{}",
        st.posts_waiting_for_digest.len(),
        if st.posts_waiting_for_digest.len() == 1 {
            ""
        } else {
            "s"
        },
        if st.posts_waiting_for_digest.is_empty() {
            String::new()
        } else {
            format!(" ({})", st.posts_waiting_for_digest.join(", "))
        }
    );
    println!("publish mode:     {}", st.publish_mode);
    if !st.posts_not_yet_seen.is_empty() {
        println!(
            "new posts:        {} (picked up at the worker's next scan)",
            st.posts_not_yet_seen.join(", ")
        );
    }
    if st.campaigns_in_progress.is_empty() {
        println!("campaigns:        none in progress");
    }
    for c in &st.campaigns_in_progress {
        println!(
            "campaign {}:      {} {} — {} of {} sent, {} failed, {} pending{}",
            c.id,
            c.kind,
            c.status.as_str(),
            c.sent,
            c.total,
            c.failed,
            c.pending,
            match (c.status, &c.retry_at) {
                (CampaignStatus::Paused, Some(t)) =>
                    format!(" (server unreachable; the worker retries at {t})"),
                _ => String::new(),
            }
        );
    }
}
