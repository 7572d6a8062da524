//! One validator per section of the configuration. Every error names the
//! file and line of the key it is about (or the environment variable or
//! flag the value came from).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;

use super::checks::check_http_url;
use super::keys::{Locator, Origin, RawSize};
use super::raw::{RawConfig, RawDatabase, RawNewsletter, RawPaths, RawSmtp};
use super::raw::{RawDigest, RawWorker};
use super::smtp_url::SmtpEndpoint;
use super::*;
use crate::error::Result;
use crate::util::text::{clean_header_text, slugify};

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const DAY: u64 = 86400;

/// Every section, validated, with environment and flags applied.
pub(super) fn settings(
    loc: &Locator<'_>,
    mut raw: RawConfig,
    env: &HashMap<String, String>,
    flags: &Overrides,
) -> Result<Settings> {
    super::inputs::refuse_control(loc, env, flags)?;
    let env_get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let root = config_root(loc.path);
    let (readers, reading) = super::readers::resolve(
        raw.welcome,
        raw.topics,
        raw.archive,
        raw.digest.subject.clone(),
        raw.newsletter.language.clone(),
    )
    .map_err(|(section, key, m)| loc.at(section, &key, m))?;
    let newsletter = newsletter(loc, raw.newsletter)?;
    let max_email_size = email_size(loc, raw.paths.max_email_size.take())?;
    let newsletter = Newsletter {
        reading: super::Reading {
            max_email_size,
            code_theme: super::readers::code_theme(loc, raw.render.code_theme.take())?,
            digest_preheader: super::readers::digest_preheader(loc, raw.digest.preheader.take())?,
            track_clicks: raw.tracking.clicks.unwrap_or(false),
            ..reading
        },
        dkim: match raw.dkim {
            None => None,
            Some(d) => Some(std::sync::Arc::new(super::dkim::config(d, &root, loc)?)),
        },
        ..newsletter
    };
    let database_url = database(
        loc,
        raw.database,
        flags,
        env_get("GAZETTE_DATABASE_URL"),
        &root,
    )?;
    let smtp = smtp(loc, raw.smtp, flags, &env_get)?;
    let paths = paths(loc, raw.paths, &root)?;
    let feed = super::source::settings(
        loc,
        raw.source,
        env_get("GAZETTE_FEED_URL"),
        &root,
        &database_url,
    )?;
    let web = super::web::resolve(
        loc,
        raw.web,
        (&env_get, env.get("GAZETTE_ADMIN_LISTEN").cloned()),
        &newsletter,
    )?;
    let send = super::send::resolve(raw.send, raw.bounces.blocked_alert.take())
        .map_err(|(section, key, m)| loc.at(section, key, m))?;
    Ok(Settings {
        send,
        readers,
        config_path: loc.path.to_path_buf(),
        newsletter,
        database_url,
        smtp,
        web,
        digest: digest(loc, raw.digest)?,
        gate: super::publish::gate(loc, &raw.publish)?,
        publish: super::publish::mode(loc, raw.publish)?,
        worker: worker(loc, raw.worker)?,
        posts_dir: paths.0,
        templates_dir: paths.1,
        outbox_dir: paths.2,
        max_post_size: paths.3,
        bounces: super::bounces::resolve(raw.bounces, env_get)
            .map_err(|(key, m)| loc.at("bounces", key, m))?,
        feed,
        root,
    })
}

/// The directory relative paths are resolved against: the config file's.
fn config_root(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn newsletter(loc: &Locator<'_>, n: RawNewsletter) -> Result<Newsletter> {
    let at = |key: &str, m: String| loc.at("newsletter", key, m);
    let title = n.title.ok_or_else(|| loc.missing("newsletter", "title"))?;
    let title = clean_header_text(&title);
    if title.is_empty() {
        return Err(at("title", "must not be empty".into()));
    }
    let from_s = n.from.ok_or_else(|| loc.missing("newsletter", "from"))?;
    let from: Mailbox = parse_mailbox(&from_s).map_err(|m| at("from", m))?;
    let reply_to = match n.reply_to.filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(parse_mailbox(&s).map_err(|m| at("reply_to", m))?),
        None => None,
    };
    let base_url = n
        .base_url
        .ok_or_else(|| loc.missing("newsletter", "base_url"))?;
    let base_url = check_http_url(&base_url).map_err(|m| at("base_url", m))?;
    let public_url = n.public_url.as_deref().unwrap_or("http://127.0.0.1:8080");
    let public_url = check_http_url(public_url).map_err(|m| at("public_url", m))?;
    let postal_address = n
        .postal_address
        .ok_or_else(|| loc.missing("newsletter", "postal_address"))?;
    if postal_address.trim().is_empty() {
        return Err(at(
            "postal_address",
            "must not be empty (CAN-SPAM requires a postal address in every email)".into(),
        ));
    }
    let unsubscribe_mailto = n.unsubscribe_mailto.filter(|s| !s.trim().is_empty());
    if let Some(m) = &unsubscribe_mailto {
        parse_mailbox(m).map_err(|e| at("unsubscribe_mailto", e))?;
    }
    let list_id = match n.list_id {
        Some(l)
            if l.is_empty()
                || !l
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) =>
        {
            return Err(at(
                "list_id",
                "must be a dotted name of letters, digits and '-'".into(),
            ))
        }
        Some(l) => l,
        None => default_list_id(&title, from.email.domain()),
    };
    Ok(Newsletter {
        title,
        from,
        reply_to,
        base_url,
        public_url,
        postal_address: postal_address.trim().to_string(),
        unsubscribe_mailto,
        list_id,
        dkim: None,
        reading: Default::default(),
    })
}

fn database(
    loc: &Locator<'_>,
    d: RawDatabase,
    flags: &Overrides,
    env: Option<String>,
    root: &Path,
) -> Result<String> {
    let (url, origin) = match (&flags.database_url, env, d.url) {
        (Some(f), _, _) => (f.clone(), Origin::Named("--database-url")),
        (None, Some(e), _) => (e, Origin::Named("GAZETTE_DATABASE_URL")),
        (None, None, Some(u)) => (u, Origin::File),
        (None, None, None) => ("sqlite://gazette.db".to_string(), Origin::File),
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if url::Url::parse(&url).is_err() {
            return Err(loc.origin(
                origin,
                "database",
                "url",
                format!(
                    "not a valid PostgreSQL URL: {}",
                    crate::util::net::without_password(&url)
                ),
            ));
        }
        return Ok(url);
    }
    if !url.starts_with("sqlite:") {
        return Err(loc.origin(
            origin,
            "database",
            "url",
            format!(
                "unsupported database URL {:?} (sqlite: or postgres:// URLs)",
                crate::util::net::without_password(&url)
            ),
        ));
    }
    Ok(resolve_sqlite_url(&url, root))
}

fn smtp(
    loc: &Locator<'_>,
    s: RawSmtp,
    flags: &Overrides,
    env_get: &dyn Fn(&str) -> Option<String>,
) -> Result<Smtp> {
    let (url, origin) = match (&flags.smtp_url, env_get("GAZETTE_SMTP_URL"), s.url) {
        (Some(f), _, _) => (Some(f.clone()), Origin::Named("--smtp-url")),
        (None, Some(e), _) => (Some(e), Origin::Named("GAZETTE_SMTP_URL")),
        (None, None, u) => (u, Origin::File),
    };
    let url = url.filter(|u| !u.trim().is_empty());
    let password = env_get("GAZETTE_SMTP_PASSWORD");
    let endpoint = match &url {
        Some(u) => Some(
            SmtpEndpoint::parse(u, password.clone())
                .map_err(|m| loc.origin(origin, "smtp", "url", m))?,
        ),
        None => None,
    };
    let rate = match s.rate {
        Some(0.0) | None => None,
        Some(r) => Some(super::inputs::check_rate(r).map_err(|m| loc.at("smtp", "rate", m))?),
    };
    Ok(Smtp {
        url,
        endpoint,
        password,
        concurrency: loc.count("smtp", "concurrency", s.concurrency, 4, (1, 1000))?,
        rate,
        retry_delay: loc.duration(
            "smtp",
            "retry_delay",
            s.retry_delay.as_deref(),
            "30s",
            (ms(0), secs(DAY)),
        )?,
        max_attempts: loc.count("smtp", "max_attempts", s.max_attempts, 5, (1, 100))?,
        timeout: loc.duration(
            "smtp",
            "timeout",
            s.timeout.as_deref(),
            "30s",
            (ms(100), secs(3600)),
        )?,
    })
}

fn digest(loc: &Locator<'_>, d: RawDigest) -> Result<Digest> {
    let schedule = crate::schedule::Schedule::parse(
        d.schedule.as_deref().unwrap_or("0 9 * * MON"),
        d.timezone.as_deref().unwrap_or("UTC"),
    )
    .map_err(|(key, m)| loc.at("digest", key, m))?;
    Ok(Digest {
        first_window_days: loc.count(
            "digest",
            "first_window_days",
            d.first_window_days,
            7,
            (1, 3650),
        )?,
        schedule,
    })
}

fn worker(loc: &Locator<'_>, w: RawWorker) -> Result<WorkerSettings> {
    Ok(WorkerSettings {
        poll_interval: loc.duration(
            "worker",
            "poll_interval",
            w.poll_interval.as_deref(),
            "5s",
            (ms(100), secs(DAY)),
        )?,
        grace: loc.duration(
            "worker",
            "grace",
            w.grace.as_deref(),
            "10s",
            (ms(0), secs(3600)),
        )?,
        unreachable_retry: loc.duration(
            "worker",
            "unreachable_retry",
            w.unreachable_retry.as_deref(),
            "1m",
            (ms(100), secs(3600)),
        )?,
    })
}

/// Posts, templates and outbox folders, and the post size cap.
fn paths(loc: &Locator<'_>, p: RawPaths, root: &Path) -> Result<(PathBuf, PathBuf, PathBuf, u64)> {
    let join = |p: Option<String>, d: &str| root.join(p.unwrap_or_else(|| d.to_string()));
    let max = match p.max_post_size {
        None => 5 << 20,
        Some(RawSize::Bytes(n)) => n,
        Some(RawSize::Text(s)) => {
            crate::util::text::parse_size(&s).map_err(|m| loc.at("paths", "max_post_size", m))?
        }
    };
    if !(1024..=(1 << 30)).contains(&max) {
        return Err(loc.at("paths", "max_post_size", "must be between 1KB and 1GB"));
    }
    Ok((
        join(p.posts, "posts"),
        join(p.templates, "templates"),
        join(p.outbox, "outbox"),
        max,
    ))
}

/// `[paths] max_email_size`: the largest rendered email (default 2MB).
fn email_size(loc: &Locator<'_>, v: Option<RawSize>) -> Result<u64> {
    let max = match v {
        None => 2 << 20,
        Some(RawSize::Bytes(n)) => n,
        Some(RawSize::Text(s)) => {
            crate::util::text::parse_size(&s).map_err(|m| loc.at("paths", "max_email_size", m))?
        }
    };
    if !(10 << 10..=1 << 30).contains(&max) {
        return Err(loc.at("paths", "max_email_size", "must be between 10KB and 1GB"));
    }
    Ok(max)
}

pub(super) fn parse_mailbox(s: &str) -> std::result::Result<Mailbox, String> {
    if s.contains(['\r', '\n']) {
        return Err("must be on one line".into());
    }
    s.trim()
        .parse::<Mailbox>()
        .map_err(|_| format!("{s:?} is not a valid address (expected \"Name <user@example.com>\")"))
}

fn default_list_id(title: &str, domain: &str) -> String {
    let slug = slugify(title);
    let slug = if slug.is_empty() {
        "newsletter".into()
    } else {
        slug
    };
    let slug: String = slug
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{slug}.{domain}")
}

/// `sqlite://rel.db` is resolved against the config directory, so the CLI and
/// the worker started elsewhere find the same file.
fn resolve_sqlite_url(url: &str, root: &Path) -> String {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if rest.starts_with('/') || rest.starts_with(":memory:") || root == Path::new(".") {
        return url.to_string();
    }
    format!("sqlite://{}", root.join(rest).display())
}
