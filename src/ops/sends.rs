//! Scheduled sends (`--at`) and the refusal to send a digest of posts that
//! earlier digests carried (unless `--force`).

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::OpError;
use crate::content::Post;
use crate::error::Result;
use crate::render::Prepared;
use crate::store::Store;

/// The time of `--at`: `YYYY-MM-DD HH:MM[:SS]` in `tz` (`[digest]
/// timezone`), or with an explicit offset (`+01:00`, `Z`, RFC 3339). It
/// must lie after `now`.
pub fn parse_at(s: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, OpError> {
    let s = s.trim();
    let bad = || {
        OpError::Invalid(format!(
            "--at: {s:?} is not a time (expected \"YYYY-MM-DD HH:MM\" in {tz}, or with an offset such as \"2026-12-01 09:00 +01:00\")"
        ))
    };
    let naive = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok());
    let at = match naive {
        Some(n) => match tz.from_local_datetime(&n) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            // The hour the clocks go back happens twice: the first one.
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => {
                return Err(OpError::Invalid(format!(
                    "--at: {s} does not exist in {tz} (the clocks skip it)"
                )))
            }
        },
        None => match crate::util::time::parse_date(s) {
            Some((t, false)) => t.with_timezone(&Utc),
            _ => return Err(bad()),
        },
    };
    if at <= now {
        return Err(OpError::Invalid(format!(
            "--at: {s} ({}) is not in the future",
            at.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    Ok(at)
}

/// Refuse a digest of `posts` when earlier digests (not cancelled) carried
/// any of them, naming those campaigns; `force` sends them again.
pub async fn check_digest_repeat(
    store: &Store,
    posts: &[&Post],
    force: bool,
) -> Result<(), OpError> {
    if force {
        return Ok(());
    }
    let carriers = store.post_carriers().await?;
    let mut carried = Vec::new();
    for p in posts {
        let ids: Vec<String> = carriers
            .get(&p.slug)
            .into_iter()
            .flatten()
            .filter(|c| c.kind == "digest")
            .map(|c| c.campaign_id.to_string())
            .collect();
        if !ids.is_empty() {
            carried.push(format!("{} (campaign {})", p.slug, ids.join(", ")));
        }
    }
    if carried.is_empty() {
        return Ok(());
    }
    let which = if carried.len() == posts.len() {
        "every post of this digest was"
    } else {
        "some posts of this digest were"
    };
    Err(OpError::Conflict(format!(
        "{which} already sent in an earlier digest: {}; use --force to send them again",
        carried.join(", ")
    )))
}

/// Create the campaign for `prepared` carrying `posts`, waiting as
/// `scheduled` until `at`. Returns its id.
pub async fn schedule(
    store: &Store,
    prepared: &Prepared,
    posts: &[&Post],
    at: DateTime<Utc>,
) -> Result<i64> {
    let dates = crate::delivery::selections::dates(posts);
    store
        .schedule_campaign(prepared, &dates, at, Utc::now())
        .await
}

/// Start the scheduled campaigns due at `now` (each exactly once, even
/// with several workers). Returns (id, recipients) of those this caller
/// started.
/// What changed since the last campaign that reached the audience
/// (`send --dry-run`).
#[derive(Debug, Clone)]
pub struct Diff {
    pub last: crate::store::safety::LastCampaign,
    pub changes: crate::store::safety::AudienceChanges,
    /// Template files modified since that campaign started.
    pub templates: Vec<String>,
    /// The audience's growth over that campaign's recipients (0.25: 25 %
    /// more); `None` when it had none.
    pub growth: Option<f64>,
    /// More than `[send] growth_warning`.
    pub grew_too_much: bool,
}

/// The diff against the last campaign that reached the audience; `None`
/// when none has yet.
pub async fn diff(
    store: &Store,
    settings: &crate::config::Settings,
    recipients: i64,
) -> Result<Option<Diff>> {
    let Some(last) = store.last_reaching_campaign().await? else {
        return Ok(None);
    };
    let changes = store.audience_changes_since(last.started_at).await?;
    let templates = changed_files(&settings.templates_dir, last.started_at.into());
    let growth = (last.total > 0).then(|| (recipients - last.total) as f64 / last.total as f64);
    let grew_too_much = growth.is_some_and(|g| g > settings.send.growth_warning);
    Ok(Some(Diff {
        last,
        changes,
        templates,
        growth,
        grew_too_much,
    }))
}

/// Files under `dir` modified after `since` (relative paths, sorted).
fn changed_files(dir: &std::path::Path, since: std::time::SystemTime) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                todo.push(path);
            } else if meta.modified().is_ok_and(|m| m > since) {
                let shown = path.strip_prefix(dir).unwrap_or(&path);
                out.push(shown.display().to_string());
            }
        }
    }
    out.sort();
    out
}

pub async fn start_due(store: &Store, now: DateTime<Utc>) -> Result<Vec<(i64, i64)>> {
    let mut started = Vec::new();
    for id in store.due_scheduled(now).await? {
        if let Some(total) = store.start_scheduled(id, now).await? {
            started.push((id, total));
        }
    }
    Ok(started)
}
