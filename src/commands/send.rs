//! `gazette send post|digest`: render once, create the campaign with one
//! delivery per active subscriber, and run it to its end in the foreground.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{load_posts, Ctx};
use crate::audience::SubscriberEmail;
use crate::cli::{SendArgs, SendCommand};
use crate::config::Settings;
use crate::delivery::mailer::Mailer;
use crate::delivery::progress::Style;
use crate::delivery::queue::{Options, RunSpec};
use crate::delivery::supervise;
use crate::error::{Error, Result};
use crate::ops::send::{Draft, Drafted, Names, Target};
use crate::render::Prepared;
use crate::store::Store;

pub async fn run(ctx: &Ctx, cmd: SendCommand) -> Result<()> {
    let settings = ctx.settings()?;
    let now = ctx.now()?;
    let catalog = load_posts(&settings);
    let store = ctx.store(&settings).await?;
    let (target, args) = match cmd {
        SendCommand::Post { slug, args } => (Target::Post(slug), args),
        SendCommand::Digest { window: w, args } => (
            Target::Digest {
                since: w.since,
                until: w.until,
            },
            args,
        ),
    };
    // A test send and a dry run send nothing twice: no refusal for that.
    let checks = args.to.is_none() && !args.dry_run;
    let req = crate::ops::send::Request {
        target,
        force: args.force,
        checks,
        names: Names::CLI,
    };
    let drafted = crate::ops::send::draft(&settings, &store, &catalog, now, &req).await?;
    let draft = match drafted {
        Drafted::Ready(d) => d,
        Drafted::NothingNew { since } => {
            println!(
                "no new published posts since {}: no digest sent",
                since.format("%Y-%m-%d %H:%M UTC")
            );
            store.close().await;
            return Ok(());
        }
    };
    let at = match &args.at {
        Some(a) => Some(crate::ops::sends::parse_at(
            a,
            settings.digest.schedule.tz(),
            now,
        )?),
        None => None,
    };
    let mailer = Mailer::from_settings(&settings)?;
    let result = send(&settings, &store, &mailer, &draft, &args, at).await;
    // Bounded: after a database stall, connections may still wait on
    // SQLite's busy timeout; the outcome is known, do not wait for them.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), store.close()).await;
    result
}

async fn send(
    settings: &Settings,
    store: &Store,
    mailer: &Mailer,
    draft: &Draft,
    args: &SendArgs,
    at: Option<DateTime<Utc>>,
) -> Result<()> {
    if let Some(to) = &args.to {
        return test_send(settings, store, mailer, &draft.prepared, to).await;
    }
    if args.dry_run {
        let (report, diff) = crate::ops::send::dry_run(settings, store, draft).await?;
        if args.json {
            let text = serde_json::to_string_pretty(&report)
                .map_err(|e| Error::msg(format!("writing JSON: {e}")))?;
            return super::write_output(None, format!("{text}\n").as_bytes());
        }
        print_dry_run(&report);
        print_diff(diff.as_ref(), &report.subject, report.recipients);
        return Ok(());
    }
    let active = crate::ops::send::audience(store, draft).await?;
    if active == 0 && at.is_none() {
        println!("no active subscriber wants this email: nothing sent");
        return Ok(());
    }
    if !args.yes && !confirmed(&draft.title, active, at)? {
        println!("nothing sent");
        return Ok(());
    }
    let Some(started) = crate::ops::send::start(settings, store, draft, at).await? else {
        println!("no active subscriber wants this email: nothing sent");
        return Ok(());
    };
    let (id, total) = (started.id, started.total);
    if let Some(t) = at {
        let tz = settings.digest.schedule.tz();
        println!(
            "campaign {id}: scheduled for {} ({} in {tz}); the worker (`gazette worker`) starts it then; `gazette campaigns cancel {id}` cancels it",
            crate::store::ts(t),
            t.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
        );
        return Ok(());
    }
    match args.canary {
        Some(n) => {
            let mut settings = settings.clone();
            settings.send.canary = n;
            run_foreground(&settings, store, mailer, id, total).await
        }
        None => run_foreground(settings, store, mailer, id, total).await,
    }
}

/// `--to`: exactly this message to one address, recorded nowhere.
async fn test_send(
    settings: &Settings,
    store: &Store,
    mailer: &Mailer,
    prepared: &Prepared,
    to: &str,
) -> Result<()> {
    let email = SubscriberEmail::parse(to).map_err(|m| Error::msg(format!("--to: {m}")))?;
    crate::ops::campaigns::test_send(settings, store, mailer, prepared, &email).await?;
    println!(
        "test message \"{}\" sent to {email} through {}",
        prepared.subject,
        mailer.describe()
    );
    Ok(())
}

/// `--dry-run`: what would be sent, to how many.
fn print_dry_run(r: &crate::ops::send::DryRun) {
    let n = r.posts.len();
    println!(
        "dry run: \"{}\" to {} active subscriber{}; {n} post{}; one message is {} bytes (HTML {} bytes, text {} bytes); nothing sent",
        r.subject,
        r.recipients,
        if r.recipients == 1 { "" } else { "s" },
        if n == 1 { "" } else { "s" },
        r.message_bytes,
        r.html_bytes,
        r.text_bytes
    );
}

/// `--dry-run`: what changed since the last campaign that reached the
/// audience.
fn print_diff(diff: Option<&crate::ops::sends::Diff>, subject: &str, recipients: i64) {
    let Some(d) = diff else {
        println!("since the last campaign: none reached this audience yet");
        return;
    };
    let l = &d.last;
    let started = crate::store::ts(l.started_at);
    println!("since campaign {} (started {started}):", l.id);
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let added = d
        .changes
        .added
        .iter()
        .map(|(src, n)| format!("{n} ({src})"));
    println!("  readers added:   {}", list(added.collect()));
    let mut removed: Vec<String> = (d.changes.removed.iter())
        .map(|(status, src, n)| format!("{n} {status} ({src})"))
        .collect();
    if d.changes.erased > 0 {
        removed.push(format!("{} erased", d.changes.erased));
    }
    println!("  readers removed: {}", list(removed));
    println!("  templates changed: {}", list(d.templates.clone()));
    match subject == l.subject {
        true => println!("  subject: unchanged"),
        false => println!("  subject: {subject:?} (was {:?})", l.subject),
    }
    let growth = d.growth.map(|g| format!(", {:+.0}%", g * 100.0));
    println!(
        "  recipients: {recipients} (was {}{})",
        l.total,
        growth.unwrap_or_default()
    );
    if d.grew_too_much {
        println!(
            "warning: the audience grew by {:.0}% since campaign {}, more than [send] growth_warning: check the imports before sending",
            d.growth.unwrap_or_default() * 100.0,
            l.id
        );
    }
}

/// Ask on the terminal; without one, refuse (pass --yes).
fn confirmed(title: &str, active: i64, at: Option<DateTime<Utc>>) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::msg(
            "refusing to send without confirmation: not on a terminal; pass --yes",
        ));
    }
    match at {
        Some(t) => eprint!(
            "Schedule \"{title}\" for {} (to the subscribers active then; {active} now)? [y/N] ",
            t.format("%Y-%m-%d %H:%M UTC")
        ),
        None => eprint!("Send \"{title}\" to {active} active subscribers? [y/N] "),
    }
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::msg(format!("reading the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Run campaign `id` to its end, with progress on stderr; Ctrl-C stops it
/// after the messages in flight.
pub async fn run_foreground(
    settings: &Settings,
    store: &Store,
    mailer: &Mailer,
    id: i64,
    total: i64,
) -> Result<()> {
    if mailer.is_outbox() {
        println!(
            "campaign {id}: writing {total} messages to {} (no SMTP server configured: set GAZETTE_SMTP_URL to send)",
            mailer.describe()
        );
    } else {
        println!(
            "campaign {id}: sending to {total} recipients through {}",
            mailer.describe()
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(async move {
        crate::app::shutdown_signal().await;
        tracing::warn!("interrupted: finishing the messages in flight, then stopping");
        let _ = stop_tx.send(true);
    });
    let spec = RunSpec {
        store: store.clone(),
        connector: Arc::new(mailer.clone()),
        newsletter: Arc::new(settings.newsletter.clone()),
        opts: Options::from_settings(settings),
        stop: stop_rx,
        foreground: true,
    };
    // On a terminal a progress bar; otherwise a log line every few seconds.
    let style = if std::io::stderr().is_terminal() {
        Style::Bar
    } else {
        Style::Log(Duration::from_secs(2))
    };
    let ran = supervise::run(&spec, id, total, style).await;
    signals.abort();
    let line = ran?.outcome(id)?;
    println!("{line}");
    Ok(())
}
