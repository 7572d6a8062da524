use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

mod import;
mod readers;
mod show;

use super::Ctx;
use crate::audience::{cap_name, format_time, Source, Status, SubscriberEmail};
use crate::cli::SubscribersCommand;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::optin::Outcome;
use crate::store::Store;
use crate::util::fs::AtomicFile;

fn parse_email(s: &str) -> Result<SubscriberEmail> {
    SubscriberEmail::parse(s).map_err(|m| Error::msg(format!("EMAIL: {m}")))
}

#[derive(Serialize)]
struct SubscriberJson<'a> {
    email: &'a str,
    name: Option<&'a str>,
    status: Status,
    created_at: String,
    confirmed_at: Option<String>,
    unsubscribed_at: Option<String>,
    source: &'a str,
    attributes: &'a serde_json::Value,
}

pub async fn run(ctx: &Ctx, cmd: SubscribersCommand) -> Result<()> {
    let settings = ctx.settings()?;
    let store = ctx.store(&settings).await?;
    // Records carry the real time; GAZETTE_NOW only pins what is published.
    let now = Utc::now();
    let result = match cmd {
        SubscribersCommand::Add {
            email,
            name,
            confirmed,
        } => {
            add(
                &settings,
                &store,
                &parse_email(&email)?,
                name,
                confirmed,
                now,
            )
            .await
        }
        cmd @ (SubscribersCommand::Confirm { .. } | SubscribersCommand::Set { .. }) => {
            readers::run(&settings, &store, cmd, now).await
        }
        SubscribersCommand::Unsubscribe { email } => {
            unsubscribe(&store, &parse_email(&email)?, now).await
        }
        SubscribersCommand::Reactivate { email } => {
            super::bounces::reactivate(&store, &parse_email(&email)?, now).await
        }
        SubscribersCommand::Remove { email } => {
            let email = parse_email(&email)?;
            if store.erase(&email, now).await? {
                println!("{email}: personal data erased; the address stays blocked from imports");
            } else {
                println!("{email}: not on the list; the address is now blocked from imports");
            }
            Ok(())
        }
        SubscribersCommand::Show { email, json } => {
            show::run(&store, &parse_email(&email)?, json).await
        }
        SubscribersCommand::List { status, json } => {
            list(&store, status.map(Status::from), json).await
        }
        SubscribersCommand::Count { json } => count(&store, json).await,
        cmd @ SubscribersCommand::Import { .. } => {
            readers::import(&settings, &store, cmd, ctx.quiet, now).await
        }
        SubscribersCommand::Export {
            output,
            status,
            raw,
        } => {
            let status = status.map(Status::from);
            match output {
                Some(path) => {
                    let file = AtomicFile::create(&path).map_err(|e| Error::io(&path, e))?;
                    let file = export(&store, status, raw, file, |e| Error::io(&path, e)).await?;
                    file.commit().map_err(|e| Error::io(&path, e))
                }
                None => {
                    let out = std::io::stdout().lock();
                    let _stdout = export(&store, status, raw, out, Error::Output).await?;
                    Ok(())
                }
            }
        }
    };
    store.close().await;
    result
}

async fn add(
    settings: &Settings,
    store: &Store,
    email: &SubscriberEmail,
    name: Option<String>,
    confirmed: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    // The same code as the admin API: erased and opted-out addresses are
    // refused; the confirmation email says the address was added, not
    // entered on the subscribe page.
    let optin = crate::app::operator_optin(settings, store.clone())?;
    // Capped as on the web form and in imports.
    let name = name.map(cap_name);
    let outcome =
        crate::ops::subscribers::add(&optin, email, name.as_deref(), confirmed, Source::Cli, now)
            .await?;
    match outcome {
        Outcome::Activated => println!("{email}: active"),
        Outcome::AlreadyActive => println!("{email}: already active"),
        Outcome::ConfirmationSent => println!(
            "{email}: pending; confirmation email sent through {}",
            optin.mailer.describe()
        ),
        Outcome::RecentlySent => {
            println!("{email}: pending; a confirmation email was sent less than 10 minutes ago")
        }
        // Refused by `ops::subscribers::add` above.
        Outcome::OptedOut(st) => println!("{email}: {}", st.as_str()),
    }
    Ok(())
}

async fn unsubscribe(store: &Store, email: &SubscriberEmail, now: DateTime<Utc>) -> Result<()> {
    let sub = store
        .get(email)
        .await?
        .ok_or_else(|| Error::msg(format!("no subscriber {email}")))?;
    store.unsubscribe(sub.id, now).await?;
    let after = store
        .get(email)
        .await?
        .map(|s| s.status)
        .unwrap_or(sub.status);
    println!("{email}: {}", after.as_str());
    Ok(())
}

async fn list(store: &Store, status: Option<Status>, json: bool) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut first = true;
    if json {
        out.write_all(b"[").map_err(stdout_err)?;
    }
    store
        .for_each(status, |s| {
            if json {
                let row = SubscriberJson {
                    email: &s.email,
                    name: s.name.as_deref(),
                    status: s.status,
                    created_at: format_time(&s.created_at),
                    confirmed_at: s.confirmed_at.as_ref().map(format_time),
                    unsubscribed_at: s.unsubscribed_at.as_ref().map(format_time),
                    source: &s.source,
                    attributes: &s.attributes,
                };
                if !first {
                    out.write_all(b",").map_err(stdout_err)?;
                }
                out.write_all(b"\n  ").map_err(stdout_err)?;
                serde_json::to_writer(&mut out, &row).map_err(json_err)?;
            } else {
                writeln!(
                    out,
                    "{:<13} {}  {}{}",
                    s.status.as_str(),
                    format_time(&s.created_at),
                    s.email,
                    s.name
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                )
                .map_err(stdout_err)?;
            }
            first = false;
            Ok(())
        })
        .await?;
    if json {
        out.write_all(if first { b"]\n" } else { b"\n]\n" })
            .map_err(stdout_err)?;
    }
    out.flush().map_err(stdout_err)
}

async fn count(store: &Store, json: bool) -> Result<()> {
    let counts = store.counts().await?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    if json {
        let mut m = serde_json::Map::new();
        for (s, n) in &counts {
            m.insert(s.as_str().into(), (*n).into());
        }
        m.insert("total".into(), total.into());
        let text = format!("{}\n", serde_json::Value::Object(m));
        return super::write_output(None, text.as_bytes());
    } else {
        for (s, n) in &counts {
            println!("{:<13} {n}", s.as_str());
        }
        println!("{:<13} {total}", "total");
    }
    Ok(())
}

fn stdout_err(e: std::io::Error) -> Error {
    Error::Output(e)
}

/// A failed write to stdout (`| head` closed it) is an output error, which
/// `main` ends quietly; anything else is a JSON error.
pub(crate) fn json_err(e: serde_json::Error) -> Error {
    if e.is_io() {
        Error::Output(e.into())
    } else {
        Error::msg(format!("writing JSON: {e}"))
    }
}

async fn export<W: Write>(
    store: &Store,
    status: Option<Status>,
    raw: bool,
    out: W,
    io_err: impl Fn(std::io::Error) -> Error,
) -> Result<W> {
    crate::ops::import::export(store, status, raw, out, io_err).await
}
