use std::io::Write;

use chrono::Utc;
use serde::Serialize;

mod import;
mod show;

use super::Ctx;
use crate::audience::csvio::ExportWriter;
use crate::audience::{cap_name, format_time, Source, Status, SubscriberEmail};
use crate::cli::SubscribersCommand;
use crate::error::{Error, Result};
use crate::optin::Outcome;
use crate::render::{self, ConfirmOrigin, Templates};
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
            let email = parse_email(&email)?;
            // Erased means erased: only the person can come back, through
            // the subscribe page and its confirmation link.
            if store.is_suppressed(&email).await? {
                return Err(Error::msg(format!(
                    "{email} was erased with `subscribers remove` and is not added again by an operator; they can subscribe again on the subscribe page"
                )));
            }
            let templates = Templates::load(Some(&settings.templates_dir))?;
            let mut optin = crate::app::optin(&settings, store.clone(), &templates)?;
            // The confirmation email says the address was added, not entered
            // on the subscribe page.
            let ttl_days = settings.web.confirm_ttl.as_secs().div_ceil(86400);
            optin.confirm = std::sync::Arc::new(render::prepare_confirm_for(
                &templates,
                &settings.newsletter,
                ttl_days,
                ConfirmOrigin::Added,
            )?);
            // Capped as on the web form and in imports.
            let name = name.map(cap_name);
            let outcome = optin
                .subscribe(&email, name.as_deref(), confirmed, Source::Cli, now, false)
                .await?;
            match outcome {
                Outcome::Activated => println!("{email}: active"),
                Outcome::AlreadyActive => println!("{email}: already active"),
                Outcome::ConfirmationSent => println!(
                    "{email}: pending; confirmation email sent through {}",
                    optin.mailer.describe()
                ),
                Outcome::RecentlySent => println!(
                    "{email}: pending; a confirmation email was sent less than 10 minutes ago"
                ),
                Outcome::OptedOut(st) => {
                    return Err(Error::msg(format!(
                        "{email} is {} and is not re-activated by an operator; they can subscribe again on the subscribe page",
                        st.as_str()
                    )))
                }
            }
            Ok(())
        }
        SubscribersCommand::Unsubscribe { email } => {
            let email = parse_email(&email)?;
            let sub = store
                .get(&email)
                .await?
                .ok_or_else(|| Error::msg(format!("no subscriber {email}")))?;
            store.unsubscribe(sub.id, now).await?;
            let after = store
                .get(&email)
                .await?
                .map(|s| s.status)
                .unwrap_or(sub.status);
            println!("{email}: {}", after.as_str());
            Ok(())
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
            let status = status.map(Status::from);
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
                        serde_json::to_writer(&mut out, &row)
                            .map_err(|e| Error::msg(format!("writing JSON: {e}")))?;
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
        SubscribersCommand::Count { json } => {
            let counts = store.counts().await?;
            let total: i64 = counts.iter().map(|(_, n)| n).sum();
            if json {
                let mut m = serde_json::Map::new();
                for (s, n) in &counts {
                    m.insert(s.as_str().into(), (*n).into());
                }
                m.insert("total".into(), total.into());
                println!("{}", serde_json::Value::Object(m));
            } else {
                for (s, n) in &counts {
                    println!("{:<13} {n}", s.as_str());
                }
                println!("{:<13} {total}", "total");
            }
            Ok(())
        }
        SubscribersCommand::Import {
            file,
            confirmed,
            dry_run,
            json,
        } => {
            let opts = import::Options {
                confirmed,
                dry_run,
                json,
                quiet: ctx.quiet,
            };
            import::run(&store, &file, opts, now).await
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
                    let file = export(&store, status, raw, file).await?;
                    file.commit().map_err(|e| Error::io(&path, e))
                }
                None => {
                    let _stdout = export(&store, status, raw, std::io::stdout().lock()).await?;
                    Ok(())
                }
            }
        }
    };
    store.close().await;
    result
}

fn stdout_err(e: std::io::Error) -> Error {
    Error::Output(e)
}

async fn export<W: Write>(
    store: &crate::store::Store,
    status: Option<Status>,
    raw: bool,
    out: W,
) -> Result<W> {
    let csv_err = |e: csv::Error| Error::msg(format!("writing CSV: {e}"));
    let mut w = ExportWriter::with_raw(out, raw).map_err(csv_err)?;
    store
        .for_each(status, |s| w.write(&s).map_err(csv_err))
        .await?;
    w.finish()
        .map_err(|e| Error::msg(format!("writing CSV: {e}")))
}
