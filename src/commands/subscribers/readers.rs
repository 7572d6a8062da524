//! `subscribers confirm`, `subscribers set` and the welcome emails of an
//! import.

use chrono::{DateTime, Utc};

use crate::audience::prefs::Frequency;
use crate::audience::{Status, SubscriberEmail};
use crate::cli::SubscribersCommand;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::render::Templates;
use crate::store::Store;

/// `subscribers confirm` and `subscribers set`.
pub async fn run(
    settings: &Settings,
    store: &Store,
    cmd: SubscribersCommand,
    now: DateTime<Utc>,
) -> Result<()> {
    match cmd {
        SubscribersCommand::Confirm { email } => {
            confirm(settings, store, &parse(&email)?, now).await
        }
        SubscribersCommand::Set {
            email,
            frequency,
            topics,
        } => {
            let email = parse(&email)?;
            set(
                settings,
                store,
                &email,
                frequency.as_deref(),
                topics.as_deref(),
            )
            .await
        }
        _ => Ok(()),
    }
}

/// `subscribers import`, then the preferences and welcome emails it brings.
pub async fn import(
    settings: &Settings,
    store: &Store,
    cmd: SubscribersCommand,
    quiet: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let SubscribersCommand::Import {
        file,
        confirmed,
        welcome,
        dry_run,
        json,
    } = cmd
    else {
        return Ok(());
    };
    let opts = super::import::Options {
        import: crate::ops::import::Options {
            confirmed,
            welcome,
            dry_run,
        },
        json,
        quiet,
    };
    let stats = super::import::run(store, &file, opts, now).await?;
    if dry_run {
        return Ok(());
    }
    after_import(settings, store, welcome, stats.with_preferences > 0).await
}

fn parse(s: &str) -> Result<SubscriberEmail> {
    SubscriberEmail::parse(s).map_err(|m| Error::msg(format!("EMAIL: {m}")))
}

fn optin(settings: &Settings, store: &Store) -> Result<crate::optin::Optin> {
    let templates = Templates::load(Some(&settings.templates_dir))?;
    crate::app::optin(settings, store.clone(), &templates)
}

/// Confirm a pending address as its confirmation link would, welcome
/// email included.
pub async fn confirm(
    settings: &Settings,
    store: &Store,
    email: &SubscriberEmail,
    now: DateTime<Utc>,
) -> Result<()> {
    let sub = store
        .get(email)
        .await?
        .ok_or_else(|| Error::msg(format!("no subscriber {email}")))?;
    match sub.status {
        Status::Pending => {}
        Status::Active => {
            println!("{email}: already active");
            return Ok(());
        }
        Status::Unsubscribed => {
            return Err(Error::msg(format!(
                "{email} unsubscribed and is not confirmed by an operator; they can subscribe again on the subscribe page"
            )))
        }
        other => {
            return Err(Error::msg(format!(
                "{email} is {} and is not confirmed; if that was a mistake, `gazette subscribers reactivate {email}` is the way back",
                other.as_str()
            )))
        }
    }
    store.activate(sub.id, email, now).await?;
    let optin = optin(settings, store)?;
    if optin.welcome(email, false).await? {
        println!(
            "{email}: active; welcome email sent through {}",
            optin.mailer.describe()
        );
    } else {
        println!("{email}: active");
    }
    Ok(())
}

/// Set a reader's frequency and topics.
pub async fn set(
    settings: &Settings,
    store: &Store,
    email: &SubscriberEmail,
    frequency: Option<&str>,
    topics: Option<&str>,
) -> Result<()> {
    let sub = store
        .get(email)
        .await?
        .ok_or_else(|| Error::msg(format!("no subscriber {email}")))?;
    if frequency.is_none() && topics.is_none() {
        return Err(Error::msg(
            "nothing to set: give --frequency and/or --topics",
        ));
    }
    let change = crate::ops::subscribers::PrefsChange {
        frequency: frequency.map(|f| Some(f.to_string())),
        topics: topics.map(|t| vec![t.to_string()]),
    };
    let names = ("--frequency", "--topics");
    let prefs =
        crate::ops::subscribers::set_preferences(settings, store, sub.id, &change, names).await?;
    let f = prefs.frequency.map_or("default", Frequency::as_str);
    let t = if prefs.topics.is_empty() {
        "all".to_string()
    } else {
        prefs.topics.join(",")
    };
    println!("{email}: frequency {f}, topics {t}");
    Ok(())
}

/// After an import: preferences adopted (problems printed) and the
/// welcome emails (`ops::import::after_import`).
pub async fn after_import(
    settings: &Settings,
    store: &Store,
    welcome: bool,
    preferences: bool,
) -> Result<()> {
    let done = crate::ops::import::after_import(settings, store, welcome, preferences, || {
        optin(settings, store)
    })
    .await?;
    for (email, problem) in done.problems {
        eprintln!("{email}: {problem} (kept as an attribute)");
    }
    if done.due > 0 {
        eprintln!("welcome emails sent: {}", done.welcomed);
    }
    Ok(())
}
