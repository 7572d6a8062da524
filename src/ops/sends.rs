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
pub async fn start_due(store: &Store, now: DateTime<Utc>) -> Result<Vec<(i64, i64)>> {
    let mut started = Vec::new();
    for id in store.due_scheduled(now).await? {
        if let Some(total) = store.start_scheduled(id, now).await? {
            started.push((id, total));
        }
    }
    Ok(started)
}
