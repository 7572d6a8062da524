//! `gazette status`: what the worker would do next, from the database.

use super::{load_posts, Ctx};
use crate::error::Result;
use crate::ops::status::WorkerStatus as Status;
use crate::store::campaigns::CampaignStatus;
use crate::store::Store;

pub async fn run(ctx: &Ctx, json: bool) -> Result<()> {
    let settings = ctx.settings()?;
    let now = ctx.now()?;
    let store = Store::open(&settings.database_url).await?;
    let catalog = load_posts(&settings);
    let gathered = crate::ops::status::report(&settings, &store, &catalog.posts, now).await;
    let growth = growth(&store, now).await;
    store.close().await;
    let st = gathered?;
    let growth = growth?;
    let initialized = st.initialized;
    if json {
        let mut v = serde_json::to_value(&st).expect("JSON");
        v["growth"] = serde_json::to_value(&growth).expect("JSON");
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
        return Ok(());
    }
    print_text(&st, initialized);
    print_growth(&growth);
    Ok(())
}

/// The list's growth, as the dashboard shows it: active readers now and,
/// per week (Monday, UTC) for a year, confirmations and readers lost.
#[derive(serde::Serialize)]
struct Growth {
    active: i64,
    confirmations_52_weeks: i64,
    lost_52_weeks: i64,
    weeks: Vec<crate::store::stats::Week>,
}

async fn growth(store: &Store, now: chrono::DateTime<chrono::Utc>) -> Result<Growth> {
    let weeks = store.growth(52, now).await?;
    Ok(Growth {
        active: store
            .counts()
            .await?
            .iter()
            .filter(|(s, _)| *s == crate::audience::Status::Active)
            .map(|(_, n)| n)
            .sum(),
        confirmations_52_weeks: weeks.iter().map(|w| w.confirmations).sum(),
        lost_52_weeks: weeks
            .iter()
            .map(|w| w.unsubscribes + w.bounces + w.complaints)
            .sum(),
        weeks,
    })
}

fn print_growth(g: &Growth) {
    let last4 = &g.weeks[g.weeks.len().saturating_sub(4)..];
    let joined: i64 = last4.iter().map(|w| w.confirmations).sum();
    let lost: i64 = last4
        .iter()
        .map(|w| w.unsubscribes + w.bounces + w.complaints)
        .sum();
    println!(
        "readers:          {} active; last 4 weeks +{joined} confirmed, -{lost} left; 52 weeks +{}, -{}",
        g.active, g.confirmations_52_weeks, g.lost_52_weeks
    );
}

fn print_text(st: &Status, initialized: bool) {
    print_workers(st);
    print_digest(st, initialized);
    print_campaigns(st);
}

/// The backend and the processes that send, on every host.
fn print_workers(st: &Status) {
    println!("database:         {}", st.backend);
    if st.workers.is_empty() {
        println!("workers:          none running");
    }
    for w in &st.workers {
        println!(
            "{:<18}process {} on {}{}",
            if w.role == "send" {
                "sending:"
            } else {
                "worker:"
            },
            w.pid,
            w.host,
            w.campaign
                .map(|c| format!(", sending campaign {c}"))
                .unwrap_or_default()
        );
    }
}

fn print_digest(st: &Status, initialized: bool) {
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
    for w in &st.posts_at_gate {
        println!("waiting to send:  {}: {}", w.slug, w.why);
    }
}

fn print_campaigns(st: &Status) {
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
            match (c.status, &c.retry_at, &c.breaker) {
                (CampaignStatus::Paused, Some(t), _) =>
                    format!(" (server unreachable; the worker retries at {t})"),
                (CampaignStatus::Paused, None, Some(why)) => format!(
                    " (paused by the circuit breaker: {why}; `gazette campaigns resume {} --force` after a look)",
                    c.id
                ),
                _ => String::new(),
            }
        );
    }
    for c in &st.campaigns_scheduled {
        println!(
            "campaign {}:      {} scheduled for {} — {}",
            c.id,
            c.kind,
            c.scheduled_at.as_deref().unwrap_or("?"),
            c.subject
        );
    }
}
