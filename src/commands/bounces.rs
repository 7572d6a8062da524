//! `gazette bounces scan|process|list` and `subscribers reactivate`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::Ctx;
use crate::audience::{Status, SubscriberEmail};
use crate::bounce::{self, source::RawMessage, Record};
use crate::cli::BouncesCommand;
use crate::error::{Error, Result};
use crate::ops;
use crate::store::bounces::Applied;
use crate::store::Store;

pub async fn run(ctx: &Ctx, cmd: BouncesCommand) -> Result<()> {
    match cmd {
        BouncesCommand::Scan { paths, json } => scan(ctx, &paths, json).await,
        BouncesCommand::Process { paths } => process(ctx, &paths).await,
        BouncesCommand::List { json, since } => list(ctx, json, since.as_deref()).await,
    }
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<RawMessage>> {
    let mut out = Vec::new();
    for p in paths {
        bounce::source::read_path(p, &mut out).map_err(Error::msg)?;
    }
    Ok(out)
}

fn line(r: &Record) -> String {
    let mut s = format!(
        "{}\t{}\t{}\t{}\t{}",
        r.source,
        r.kind.as_str(),
        r.recipient.as_deref().unwrap_or("-"),
        r.status.as_deref().unwrap_or("-"),
        if r.blocked {
            format!("{} (blocked: against the campaign)", r.reason)
        } else {
            r.reason.clone()
        }
    );
    if let Some(c) = r.campaign_id {
        s.push_str(&format!("\tcampaign {c}"));
    }
    if let Some(id) = r.subscriber_id {
        s.push_str(&format!("\tsubscriber {id}"));
    }
    s
}

/// The database for look-ups only, when there is one: `scan` creates and
/// changes nothing.
async fn lookup_store(ctx: &Ctx) -> Option<Store> {
    let settings = ctx.settings().ok()?;
    Store::open_existing_read_only(&settings.database_url)
        .await
        .ok()
}

async fn scan(ctx: &Ctx, paths: &[PathBuf], json: bool) -> Result<()> {
    let messages = read_all(paths)?;
    let store = lookup_store(ctx).await;
    // As `process` attributes: with VERP on, a report that names no
    // delivery of ours names no subscriber either.
    let verp = ctx
        .settings()
        .is_ok_and(|s| s.bounces.policy.address.is_some());
    let mut records = Vec::new();
    for m in &messages {
        records.extend(ops::bounces::examine(store.as_ref(), &m.bytes, &m.source, verp).await?);
    }
    let text = if json {
        serde_json::to_string_pretty(&records).expect("JSON") + "\n"
    } else {
        records.iter().map(|r| line(r) + "\n").collect()
    };
    super::write_output(None, text.as_bytes())
}

async fn process(ctx: &Ctx, paths: &[PathBuf]) -> Result<()> {
    let settings = ctx.settings()?;
    let messages = read_all(paths)?;
    let store = ctx.store(&settings).await?;
    let policy = &settings.bounces.policy;
    let (mut recorded, mut ignored, mut changed) = (0, 0, 0);
    for m in &messages {
        for (r, applied) in
            ops::bounces::process_returned(&store, policy, &m.bytes, &m.source, Utc::now()).await?
        {
            let what = match &applied {
                Applied::Duplicate => "already recorded".to_string(),
                Applied::Unknown => {
                    ignored += 1;
                    "not a subscriber: ignored".to_string()
                }
                Applied::Recorded(_) if r.kind == bounce::Kind::None => {
                    ignored += 1;
                    "not a failure: ignored".to_string()
                }
                Applied::Recorded(None) => {
                    recorded += 1;
                    "recorded".to_string()
                }
                Applied::Recorded(Some(st)) => {
                    recorded += 1;
                    changed += 1;
                    format!("recorded; subscriber is now {}", st.as_str())
                }
            };
            if !ctx.quiet {
                println!("{}: {what}", line(&r));
            }
        }
    }
    println!(
        "{} messages: {recorded} bounces recorded, {changed} subscribers stopped, {ignored} ignored",
        messages.len()
    );
    Ok(())
}

async fn list(ctx: &Ctx, json: bool, since: Option<&str>) -> Result<()> {
    let since = match since {
        None => None,
        Some(s) => Some(
            crate::util::time::parse_date(s)
                .map(|(d, _)| d.with_timezone(&Utc))
                .ok_or_else(|| {
                    Error::usage(format!(
                        "--since: {s:?} is not a date (YYYY-MM-DD or RFC 3339)"
                    ))
                })?,
        ),
    };
    let settings = ctx.settings()?;
    let store = ctx.store(&settings).await?;
    let rows = store.bounces(since).await?;
    let text = if json {
        serde_json::to_string_pretty(&rows).expect("JSON") + "\n"
    } else if rows.is_empty() {
        "no bounces\n".to_string()
    } else {
        let mut t = String::from("TIME\tSUBSCRIBER\tCAMPAIGN\tKIND\tSTATUS\tREASON\n");
        for r in &rows {
            t.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                r.created_at,
                r.subscriber.as_deref().unwrap_or("-"),
                r.campaign_id.map(|c| c.to_string()).unwrap_or("-".into()),
                if r.blocked { "blocked" } else { &r.kind },
                r.status.as_deref().unwrap_or("-"),
                r.reason
            ));
        }
        t
    };
    super::write_output(None, text.as_bytes())
}

/// `subscribers reactivate EMAIL`.
pub async fn reactivate(store: &Store, email: &SubscriberEmail, now: DateTime<Utc>) -> Result<()> {
    match store.reactivate(email, now).await? {
        None => Err(Error::msg(format!("no subscriber {email}"))),
        Some(Status::Bounced | Status::Complained) => {
            println!("{email}: active again (was bounced or complained)");
            Ok(())
        }
        Some(Status::Active) => {
            println!("{email}: already active");
            Ok(())
        }
        Some(other) => Err(Error::msg(format!(
            "{email} is {}: only bounced or complained addresses are reactivated; they can subscribe again on the subscribe page",
            other.as_str()
        ))),
    }
}
