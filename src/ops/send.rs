//! Sending a post or a digest: what `gazette send post|digest` and `POST
//! /api/v1/campaigns` do, written once. [`draft`] picks the posts and
//! renders the email (with the refusals: an unknown or unpublished post, a
//! post or digest already sent), [`dry_run`] reports it, [`start`] creates
//! the campaign (or schedules it). Running it is the caller's: `send` in
//! the foreground, the API and the worker in the background
//! ([`super::runs`]).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::OpError;
use crate::audience::prefs::Frequency;
use crate::config::Settings;
use crate::content::{Catalog, Post};
use crate::delivery::campaign;
use crate::error::Result;
use crate::render::{message, Prepared, Recipient, Templates};
use crate::store::Store;

/// What to send.
#[derive(Debug, Clone)]
pub enum Target {
    /// One post, by slug.
    Post(String),
    /// A digest of the posts of `since`..`until` (dates or RFC 3339), or
    /// of the posts no earlier digest carried when both are absent.
    Digest {
        since: Option<String>,
        until: Option<String>,
    },
}

/// How the refusals name what they are about: the CLI's flags or the
/// API's fields.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub since: &'static str,
    pub until: &'static str,
    pub force: &'static str,
}

impl Names {
    pub const CLI: Names = Names {
        since: "--since",
        until: "--until",
        force: "--force",
    };
}

/// An email ready to send: rendered once, with the posts it carries.
pub struct Draft {
    pub prepared: Prepared,
    pub posts: Vec<Post>,
    /// The post's title, or the digest's subject.
    pub title: String,
}

impl Draft {
    pub fn post_refs(&self) -> Vec<&Post> {
        self.posts.iter().collect()
    }
}

pub enum Drafted {
    Ready(Draft),
    /// A digest with no new published post since `since`.
    NothingNew {
        since: DateTime<Utc>,
    },
}

/// What to send and which refusals apply.
#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    /// Send a post, or a digest's posts, again.
    pub force: bool,
    /// Refuse a post already sent and a digest of posts earlier digests
    /// carried, unless `force` (a test send and a dry run skip them).
    pub checks: bool,
    pub names: Names,
}

/// Pick the posts of the request's target and render the email.
pub async fn draft(
    settings: &Settings,
    store: &Store,
    catalog: &Catalog,
    now: DateTime<Utc>,
    req: &Request,
) -> Result<Drafted, OpError> {
    let templates = Templates::load(Some(&settings.templates_dir))?;
    let (force, checks, names) = (req.force, req.checks, req.names);
    match &req.target {
        Target::Post(slug) => {
            let post = catalog.find(slug).ok_or_else(|| {
                OpError::NotFound(format!(
                    "no post with slug {slug:?} (see `gazette posts list`)"
                ))
            })?;
            if !post.is_published(now) {
                return Err(OpError::Invalid(format!(
                    "{}: the post is {} and is not sent",
                    post.path.display(),
                    post.status(now).as_str()
                )));
            }
            if checks && !force {
                if let Some(id) = store.post_campaign(&post.slug).await? {
                    return Err(OpError::Conflict(format!(
                        "post {slug:?} was already sent (campaign {id}); use {} to send it again",
                        names.force
                    )));
                }
            }
            let prepared = campaign::prepare(&templates, settings, &[post], None)?;
            Ok(Drafted::Ready(Draft {
                prepared,
                posts: vec![post.clone()],
                title: post.title.clone(),
            }))
        }
        Target::Digest { since, until } => {
            let w = (since.as_deref(), until.as_deref());
            let (posts, since, until) =
                digest_posts(store, catalog, settings, now, w, names).await?;
            if posts.is_empty() {
                return Ok(Drafted::NothingNew { since });
            }
            if checks {
                super::sends::check_digest_repeat(store, &posts, force).await?;
            }
            let prepared = campaign::prepare(&templates, settings, &posts, Some((since, until)))?;
            Ok(Drafted::Ready(Draft {
                title: prepared.subject.clone(),
                prepared,
                posts: posts.into_iter().cloned().collect(),
            }))
        }
    }
}

/// The posts of a digest and its window: `since`/`until` when given, else
/// what the next digest carries (posts no earlier digest carried).
pub async fn digest_posts<'a>(
    store: &Store,
    catalog: &'a Catalog,
    settings: &Settings,
    now: DateTime<Utc>,
    (since, until): (Option<&str>, Option<&str>),
    names: Names,
) -> Result<(Vec<&'a Post>, DateTime<Utc>, DateTime<Utc>), OpError> {
    if since.is_some() || until.is_some() {
        let days = settings.digest.first_window_days as i64;
        let (since, until) = window(since, until, now, days, names)?;
        return Ok((catalog.window(since, until, now), since, until));
    }
    let (posts, since) = campaign::default_digest(store, &catalog.posts, settings, now).await?;
    Ok((posts, since, now))
}

/// The digest window from `since`/`until` (both inclusive days), with
/// `default_days` back from now when `since` is absent.
pub fn window(
    since: Option<&str>,
    until: Option<&str>,
    now: DateTime<Utc>,
    default_days: i64,
    names: Names,
) -> Result<(DateTime<Utc>, DateTime<Utc>), OpError> {
    let parse = |flag: &str, s: &str| {
        crate::util::time::parse_date(s)
            .map(|(d, date_only)| (d.with_timezone(&Utc), date_only))
            .ok_or_else(|| {
                OpError::Usage(format!(
                    "{flag}: invalid date {s:?} (expected YYYY-MM-DD or RFC 3339)"
                ))
            })
    };
    let until = match until {
        Some(s) => {
            let (d, date_only) = parse(names.until, s)?;
            if date_only {
                d + Duration::days(1)
            } else {
                d
            }
        }
        None => now,
    };
    let since = match since {
        Some(s) => parse(names.since, s)?.0,
        None => until - Duration::days(default_days),
    };
    if since >= until {
        return Err(OpError::Usage(format!(
            "{} must be before {}",
            names.since, names.until
        )));
    }
    Ok((since, until))
}

/// Who a send reaches: active readers whose frequency and topics want it
/// (readers who never chose get every send of an operator).
pub async fn audience(store: &Store, draft: &Draft) -> Result<i64> {
    let posts = draft.post_refs();
    crate::delivery::selections::audience_size(store, &draft.prepared, &posts, Frequency::Both)
        .await
}

/// The recipient shown in previews and dry runs.
pub fn preview_recipient(settings: &Settings) -> Recipient {
    let nl = &settings.newsletter;
    Recipient {
        confirm_url: Some(format!("{}/confirm/preview", nl.public_url)),
        ..Recipient::new(nl, "reader@example.com", Some("Reader".into()), "preview")
    }
}

/// What a dry run reports (`send --dry-run --json`, the API's `"dry_run":
/// true`).
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub subject: String,
    pub recipients: i64,
    /// The slugs of the posts it carries.
    pub posts: Vec<String>,
    /// One message, headers included.
    pub message_bytes: usize,
    pub html_bytes: usize,
    pub text_bytes: usize,
    /// What changed since the last campaign that reached the audience
    /// (`None`: none has yet).
    pub since_last: Option<DiffReport>,
}

/// [`super::sends::Diff`] as a report.
#[derive(Debug, Serialize)]
pub struct DiffReport {
    pub campaign_id: i64,
    pub started_at: String,
    pub subject: String,
    pub recipients: i64,
    /// Readers added since, by source.
    pub readers_added: Vec<Added>,
    /// Readers who left since, by status and source.
    pub readers_removed: Vec<Removed>,
    pub erased: i64,
    pub templates_changed: Vec<String>,
    pub subject_changed: bool,
    /// The audience's growth (0.25: 25 % more); `None` when it had none.
    pub growth: Option<f64>,
    /// More than `[send] growth_warning`.
    pub growth_warning: bool,
}

#[derive(Debug, Serialize)]
pub struct Added {
    pub source: String,
    pub count: i64,
}

#[derive(Debug, Serialize)]
pub struct Removed {
    pub status: String,
    pub source: String,
    pub count: i64,
}

/// Render one message and compare with the last campaign: nothing is
/// sent or stored. Returns the report and the diff it was made from.
pub async fn dry_run(
    settings: &Settings,
    store: &Store,
    draft: &Draft,
) -> Result<(DryRun, Option<super::sends::Diff>)> {
    let nl = &settings.newsletter;
    let p = &draft.prepared;
    let recipients = audience(store, draft).await?;
    let sample = message::build(
        nl,
        &p.without_archive_link(),
        &preview_recipient(settings),
        message::new_message_id(nl),
    )?;
    let diff = super::sends::diff(store, settings, recipients).await?;
    let since_last = diff.as_ref().map(|d| DiffReport {
        campaign_id: d.last.id,
        started_at: crate::store::ts(d.last.started_at),
        subject: d.last.subject.clone(),
        recipients: d.last.total,
        readers_added: (d.changes.added.iter())
            .map(|(source, count)| Added {
                source: source.clone(),
                count: *count,
            })
            .collect(),
        readers_removed: (d.changes.removed.iter())
            .map(|(status, source, count)| Removed {
                status: status.clone(),
                source: source.clone(),
                count: *count,
            })
            .collect(),
        erased: d.changes.erased,
        templates_changed: d.templates.clone(),
        subject_changed: d.last.subject != p.subject,
        growth: d.growth,
        growth_warning: d.grew_too_much,
    });
    let report = DryRun {
        subject: p.subject.clone(),
        recipients,
        posts: draft.posts.iter().map(|p| p.slug.clone()).collect(),
        message_bytes: sample.formatted().len(),
        html_bytes: p.html.len(),
        text_bytes: p.text.len(),
        since_last,
    };
    Ok((report, diff))
}

/// A campaign created by [`start`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Started {
    pub id: i64,
    /// Its recipients (for a scheduled campaign: those active now).
    pub total: i64,
    pub scheduled: bool,
}

/// Create the campaign of `draft`: waiting as `scheduled` until `at`, or
/// with one pending delivery per reader who wants it, ready to run.
/// `None`: nobody wants it (nothing created).
pub async fn start(
    settings: &Settings,
    store: &Store,
    draft: &Draft,
    at: Option<DateTime<Utc>>,
) -> Result<Option<Started>> {
    warn_public_url(settings);
    let posts = draft.post_refs();
    if let Some(t) = at {
        let id = super::sends::schedule(store, &draft.prepared, &posts, t).await?;
        let total = audience(store, draft).await?;
        return Ok(Some(Started {
            id,
            total,
            scheduled: true,
        }));
    }
    if audience(store, draft).await? == 0 {
        return Ok(None);
    }
    // An operator's send reaches every reader who did not choose otherwise.
    let (id, total) = campaign::create_for(
        store,
        settings,
        &draft.prepared,
        &posts,
        None,
        Frequency::Both,
    )
    .await?;
    Ok(Some(Started {
        id,
        total,
        scheduled: false,
    }))
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
