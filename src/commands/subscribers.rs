use std::io::Write;

use chrono::Utc;
use serde::Serialize;

use super::Ctx;
use crate::audience::csvio::{ExportWriter, ImportReader};
use crate::audience::optin::Outcome;
use crate::audience::{format_time, Source, Status, SubscriberEmail};
use crate::cli::SubscribersCommand;
use crate::error::{Error, Result};
use crate::render::Templates;
use crate::store::IMPORT_BATCH;
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
            let templates = Templates::load(Some(&settings.templates_dir))?;
            let optin = super::serve::optin(&settings, store.clone(), &templates)?;
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
        SubscribersCommand::Remove { email } => {
            let email = parse_email(&email)?;
            if store.remove(&email, now).await? {
                println!("{email}: personal data erased; the address stays blocked from imports");
            } else {
                println!("{email}: not on the list; the address is now blocked from imports");
            }
            Ok(())
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
        } => import(&store, &file, confirmed, dry_run, now, ctx.quiet).await,
        SubscribersCommand::Export { output, status } => {
            let status = status.map(Status::from);
            match output {
                Some(path) => {
                    let file = AtomicFile::create(&path).map_err(|e| Error::io(&path, e))?;
                    let file = export(&store, status, file).await?;
                    file.commit().map_err(|e| Error::io(&path, e))
                }
                None => {
                    let _stdout = export(&store, status, std::io::stdout().lock()).await?;
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
    out: W,
) -> Result<W> {
    let csv_err = |e: csv::Error| Error::msg(format!("writing CSV: {e}"));
    let mut w = ExportWriter::new(out).map_err(csv_err)?;
    store
        .for_each(status, |s| w.write(&s).map_err(csv_err))
        .await?;
    w.finish()
        .map_err(|e| Error::msg(format!("writing CSV: {e}")))
}

async fn import(
    store: &crate::store::Store,
    path: &std::path::Path,
    confirmed: bool,
    dry_run: bool,
    now: chrono::DateTime<Utc>,
    quiet: bool,
) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = ImportReader::new(std::io::BufReader::with_capacity(1 << 16, file), confirmed)
        .map_err(|m| Error::file(path, m))?;
    let mut import = store.begin_import().await?;
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    let mut bad = 0u64;
    let mut valid = 0u64;
    while let Some(row) = reader.next_row() {
        match row {
            Ok(r) => {
                valid += 1;
                batch.push(r);
                if batch.len() == IMPORT_BATCH {
                    import.merge(&batch, now).await?;
                    batch.clear();
                }
            }
            Err(b) => {
                bad += 1;
                eprintln!("{}:{}: {}", path.display(), b.line, b.reason);
            }
        }
    }
    if !batch.is_empty() {
        import.merge(&batch, now).await?;
    }
    let stats = import.finish(dry_run).await?;
    if !quiet {
        println!(
            "{}{} valid rows: {} new, {} updated, {} unchanged, {} skipped (erased earlier); {} invalid rows",
            if dry_run { "dry run, nothing changed: " } else { "" },
            valid,
            stats.inserted,
            stats.updated,
            stats.unchanged,
            stats.suppressed,
            bad
        );
    }
    if bad > 0 {
        return Err(Error::file(
            path,
            format!(
                "{bad} invalid row{} not imported (see above)",
                if bad == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(())
}
