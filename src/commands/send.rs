//! `gazette send post|digest`: render once, create the campaign with one
//! delivery per active subscriber, and run it to its end in the foreground.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::preview::preview_recipient;
use super::{digest_posts, load_posts, Ctx};
use crate::audience::SubscriberEmail;
use crate::cli::{SendArgs, SendCommand};
use crate::config::Settings;
use crate::content::Post;
use crate::delivery::mailer::Mailer;
use crate::delivery::progress::Style;
use crate::delivery::queue::{Options, RunSpec};
use crate::delivery::{campaign, supervise};
use crate::error::{Error, Result};
use crate::render::{message, Prepared, Templates};
use crate::store::Store;

pub async fn run(ctx: &Ctx, cmd: SendCommand) -> Result<()> {
    let settings = ctx.settings()?;
    let now = ctx.now()?;
    let templates = Templates::load(Some(&settings.templates_dir))?;
    let catalog = load_posts(&settings);
    let store = ctx.store(&settings).await?;
    let (prepared, posts, args, title) = match cmd {
        SendCommand::Post { slug, args } => {
            let post = catalog.find(&slug).ok_or_else(|| {
                Error::msg(format!(
                    "no post with slug {slug:?} (see `gazette posts list`)"
                ))
            })?;
            if !post.is_published(now) {
                return Err(Error::msg(format!(
                    "{}: the post is {} and is not sent",
                    post.path.display(),
                    post.status(now).as_str()
                )));
            }
            if args.to.is_none() && !args.dry_run && !args.force {
                if let Some(id) = store.post_campaign(&post.slug).await? {
                    return Err(Error::msg(format!(
                        "post {slug:?} was already sent (campaign {id}); use --force to send it again"
                    )));
                }
            }
            let prepared = campaign::prepare(&templates, &settings, &[post], None)?;
            (prepared, vec![post], args, post.title.clone())
        }
        SendCommand::Digest { window: w, args } => {
            let (posts, since, until) = digest_posts(&store, &catalog, &settings, now, &w).await?;
            if posts.is_empty() {
                println!(
                    "no new published posts since {}: no digest sent",
                    since.format("%Y-%m-%d %H:%M UTC")
                );
                store.close().await;
                return Ok(());
            }
            if args.to.is_none() && !args.dry_run {
                crate::ops::sends::check_digest_repeat(&store, &posts, args.force).await?;
            }
            let prepared = campaign::prepare(&templates, &settings, &posts, Some((since, until)))?;
            let title = prepared.subject.clone();
            (prepared, posts, args, title)
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
    let result = send(
        &settings, &store, &mailer, prepared, &posts, &args, &title, at,
    )
    .await;
    // Bounded: after a database stall, connections may still wait on
    // SQLite's busy timeout; the outcome is known, do not wait for them.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), store.close()).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn send(
    settings: &Settings,
    store: &Store,
    mailer: &Mailer,
    prepared: Prepared,
    posts: &[&Post],
    args: &SendArgs,
    title: &str,
    at: Option<DateTime<Utc>>,
) -> Result<()> {
    if let Some(to) = &args.to {
        return test_send(settings, store, mailer, &prepared, to).await;
    }
    // Who this send reaches: active readers whose frequency and topics
    // want it (readers who never chose get every send of an operator).
    let both = crate::audience::prefs::Frequency::Both;
    let active = crate::delivery::selections::audience_size(store, &prepared, posts, both).await?;
    if args.dry_run {
        dry_run(settings, &prepared, posts, active)?;
        let diff = crate::ops::sends::diff(store, settings, active).await?;
        print_diff(diff.as_ref(), &prepared.subject, active);
        return Ok(());
    }
    if active == 0 && at.is_none() {
        println!("no active subscriber wants this email: nothing sent");
        return Ok(());
    }
    if !args.yes && !confirmed(title, active, at)? {
        println!("nothing sent");
        return Ok(());
    }
    warn_public_url(settings);
    if let Some(t) = at {
        return schedule(settings, store, &prepared, posts, t).await;
    }
    // An operator's send reaches every reader who did not choose otherwise.
    let (id, total) = campaign::create_for(store, settings, &prepared, posts, None, both).await?;
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

/// `--dry-run`: render, report recipients and size, send nothing.
fn dry_run(settings: &Settings, prepared: &Prepared, posts: &[&Post], active: i64) -> Result<()> {
    let nl = &settings.newsletter;
    let sample = message::build(
        nl,
        prepared,
        &preview_recipient(settings),
        message::new_message_id(nl),
    )?;
    println!(
        "dry run: \"{}\" to {active} active subscriber{}; {} post{}; one message is {} bytes (HTML {} bytes, text {} bytes); nothing sent",
        prepared.subject,
        if active == 1 { "" } else { "s" },
        posts.len(),
        if posts.len() == 1 { "" } else { "s" },
        sample.formatted().len(),
        prepared.html.len(),
        prepared.text.len()
    );
    Ok(())
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

/// `--at`: the campaign waits as `scheduled`; the worker starts it.
async fn schedule(
    settings: &Settings,
    store: &Store,
    prepared: &Prepared,
    posts: &[&Post],
    at: DateTime<Utc>,
) -> Result<()> {
    let id = crate::ops::sends::schedule(store, prepared, posts, at).await?;
    let tz = settings.digest.schedule.tz();
    println!(
        "campaign {id}: scheduled for {} ({} in {tz}); the worker (`gazette worker`) starts it then; `gazette campaigns cancel {id}` cancels it",
        crate::store::ts(at),
        at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
    );
    Ok(())
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

fn warn_public_url(settings: &Settings) {
    let u = &settings.newsletter.public_url;
    let loopback = url::Url::parse(u)
        .ok()
        .and_then(|u| u.host_str().map(String::from))
        .is_some_and(|h| h == "localhost" || h.starts_with("127.") || h == "[::1]");
    if !u.starts_with("https://") && !loopback {
        tracing::warn!(
            "newsletter.public_url {u} is not https: one-click unsubscribe (RFC 8058) needs an https URL"
        );
    }
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
