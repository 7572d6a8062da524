use chrono::Utc;

use super::Ctx;
use crate::cli::CampaignsCommand;
use crate::delivery::mailer::Mailer;
use crate::error::{Error, Result};
use crate::store::campaigns::{CampaignInfo, CampaignStatus as S};
use crate::store::Store;

fn line(c: &CampaignInfo) -> String {
    format!(
        "{:>4}  {:<6} {:<9} total {:>7}  sent {:>7}  failed {:>5}  pending {:>7}  {}  {}",
        c.id,
        c.kind,
        c.status.as_str(),
        c.total,
        c.sent,
        c.failed,
        c.pending,
        match (c.status, &c.scheduled_at) {
            (S::Scheduled, Some(at)) => format!("at {at}"),
            _ => c.created_at.clone(),
        },
        c.subject
    )
}

pub async fn run(ctx: &Ctx, cmd: CampaignsCommand) -> Result<()> {
    let settings = ctx.settings()?;
    let store = ctx.store(&settings).await?;
    let result = match cmd {
        CampaignsCommand::List { json } => list(&store, json).await,
        CampaignsCommand::Show { id, json } => show(&store, id, json).await,
        CampaignsCommand::Pause { id } => pause(&store, id).await,
        CampaignsCommand::Cancel { id } => cancel(&store, id).await,
        CampaignsCommand::Resume { id, force } => resume(&settings, &store, id, force).await,
    };
    // Bounded: after a database stall, connections may still wait on
    // SQLite's busy timeout; the outcome is known, do not wait for them.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), store.close()).await;
    result
}

async fn get(store: &Store, id: i64) -> Result<CampaignInfo> {
    store
        .campaign(id)
        .await?
        .ok_or_else(|| Error::msg(format!("no campaign {id} (see `gazette campaigns list`)")))
}

async fn list(store: &Store, json: bool) -> Result<()> {
    let all = store.campaigns().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all).expect("JSON"));
    } else {
        for c in &all {
            println!("{}", line(c));
        }
    }
    Ok(())
}

async fn show(store: &Store, id: i64, json: bool) -> Result<()> {
    let c = get(store, id).await?;
    let b = store.campaign_bounce_counts(id).await?;
    let canary = store.canary(id).await?;
    let mut links = store.link_clicks(id).await?;
    links.sort_by_key(|l| l.link);
    if json {
        let mut v = serde_json::to_value(&c).expect("JSON");
        v["bounces"] = serde_json::to_value(b).expect("JSON");
        v["clicks"] = serde_json::to_value(&links).expect("JSON");
        v["canary"] = serde_json::json!({
            "size": canary.size,
            "until": canary.until.map(crate::store::ts),
            "held": canary.held,
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
    } else {
        println!("{}", line(&c));
        println!("posts: {}", c.posts.join(", "));
        println!(
            "bounces: {} hard, {} soft, {} blocked; complaints: {}",
            b.hard, b.soft, b.blocked, b.complaints
        );
        if let Some(e) = &c.last_error {
            println!("last error: {e}");
        }
        print_clicks(&links);
        if let Some(n) = canary.size {
            let until = canary.until.map(crate::store::ts);
            println!(
                "canary:     {n} recipients first; {} held back{}",
                canary.held,
                until
                    .map(|t| format!(", its wait ends {t}"))
                    .unwrap_or_default()
            );
        }
        if let Some(why) = &c.breaker {
            println!("paused by the circuit breaker: {why}; `gazette campaigns resume {id} --force` after a look");
        }
        if let (Some(rate), Some(what)) = (c.settled_rate, &c.throttled) {
            println!("settled at: {rate:.1} msg/s ({what})");
        }
        if let (S::Paused, Some(t)) = (c.status, &c.retry_at) {
            println!("next try:   {t} (by a running worker; `gazette campaigns resume {id}` now)");
        }
    }
    Ok(())
}

/// Clicks per counted link (`[tracking] clicks`), in link order.
fn print_clicks(links: &[crate::store::clicks::LinkClicks]) {
    if links.is_empty() {
        return;
    }
    let total: i64 = links.iter().map(|l| l.clicks).sum();
    println!("clicks: {total} on {} links", links.len());
    for l in links {
        println!("  {:>3}  {:>7}  {}", l.link, l.clicks, l.url);
    }
}

/// A process sending it notices within a second and stops after the
/// messages in flight; the worker no longer retries it on its own.
async fn pause(store: &Store, id: i64) -> Result<()> {
    crate::ops::campaigns::pause(store, id, Utc::now()).await?;
    println!("campaign {id} paused");
    Ok(())
}

/// Nothing more is sent; a scheduled campaign never starts.
async fn cancel(store: &Store, id: i64) -> Result<()> {
    let (before, _) = crate::ops::campaigns::cancel(store, id, Utc::now()).await?;
    if before.status == S::Scheduled {
        println!("campaign {id} cancelled before its time; nothing will be sent");
    } else {
        println!(
            "campaign {id} cancelled; {} deliveries will not be sent",
            before.pending
        );
    }
    Ok(())
}

async fn resume(
    settings: &crate::config::Settings,
    store: &Store,
    id: i64,
    force: bool,
) -> Result<()> {
    let c = get(store, id).await?;
    crate::ops::campaigns::breaker_gate(store, &c, force).await?;
    if let (true, Some(why)) = (force, &c.breaker) {
        // A person looked and takes it from here: this run goes on
        // without the breaker (the worker's later runs have it again).
        println!("campaign {id}: resumed with --force after the circuit breaker ({why}); the breaker is off for this run");
        let mut settings = settings.clone();
        settings.send = settings.send.clone().off();
        let mailer = Mailer::from_settings(&settings)?;
        return super::send::run_foreground(&settings, store, &mailer, id, c.pending).await;
    }
    if !matches!(c.status, S::Paused | S::Sending | S::Queued) {
        return Err(Error::msg(format!(
            "campaign {id} is {} and cannot be resumed",
            c.status.as_str()
        )));
    }
    let mailer = Mailer::from_settings(settings)?;
    super::send::run_foreground(settings, store, &mailer, id, c.pending).await
}
