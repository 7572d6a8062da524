//! Who gets a campaign: post emails go to readers whose frequency includes
//! posts and whose topics meet the post's tags; a digest is rendered once
//! per distinct selection of its posts (readers' topics) and sent as one
//! campaign per selection: the whole digest is the archived campaign, the
//! others are its variants (`variant_of`), which the queue runs like any
//! campaign.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::audience::prefs::{wants, Frequency};
use crate::config::{PublishMode, Settings};
use crate::content::Post;
use crate::error::Result;
use crate::render::{self, Prepared, Templates};
use crate::store::{Audience, Store};

/// The frequency of readers who never chose one: `[publish] mode`.
pub fn default_frequency(mode: PublishMode) -> Frequency {
    match mode {
        PublishMode::Digest => Frequency::Digest,
        PublishMode::Email => Frequency::Each,
        PublishMode::Both => Frequency::Both,
    }
}

/// The (slug, date) of each post, as the store records what a campaign
/// carries.
pub fn dates(posts: &[&Post]) -> Vec<(String, DateTime<Utc>)> {
    posts
        .iter()
        .map(|p| (p.slug.clone(), p.date.with_timezone(&Utc)))
        .collect()
}

/// A digest's summary: its posts' titles.
fn titles(posts: &[&Post]) -> String {
    posts
        .iter()
        .map(|p| p.title.as_str())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Group digest readers by the posts their topics select (indices into
/// `posts`); readers whose topics select nothing get nothing.
pub fn group_by_selection(
    readers: &[(i64, Vec<String>)],
    posts: &[&Post],
) -> BTreeMap<Vec<usize>, Vec<i64>> {
    let mut groups: BTreeMap<Vec<usize>, Vec<i64>> = BTreeMap::new();
    for (id, topics) in readers {
        let sel: Vec<usize> = (0..posts.len())
            .filter(|&i| wants(topics, &posts[i].tags))
            .collect();
        if !sel.is_empty() {
            groups.entry(sel).or_default().push(*id);
        }
    }
    groups
}

/// How many readers a send of `prepared` (carrying `posts`) would reach
/// now: what `send --dry-run` and the confirmation prompt report.
pub async fn audience_size(
    store: &Store,
    prepared: &Prepared,
    posts: &[&Post],
    default: Frequency,
) -> Result<i64> {
    match prepared.kind {
        render::EmailKind::Post if posts.len() == 1 => {
            let audience = Audience::Posts {
                tags: &posts[0].tags,
                default,
            };
            store.count_audience(&audience).await
        }
        _ => {
            let readers = store.digest_readers(default).await?;
            let groups = group_by_selection(&readers, posts);
            Ok(groups.values().map(|ids| ids.len() as i64).sum())
        }
    }
}

/// Create a post campaign for the readers who want it.
pub async fn create_post(
    store: &Store,
    settings: &Settings,
    prepared: &Prepared,
    post: &Post,
    default: Frequency,
) -> Result<(i64, i64)> {
    let audience = Audience::Posts {
        tags: &post.tags,
        default,
    };
    let link = (
        settings.newsletter.public_url.as_str(),
        post.summary.as_str(),
    );
    store
        .create_campaign_for(prepared, &dates(&[post]), &audience, link, None, Utc::now())
        .await
}

/// Create a digest campaign of `posts` (rendered as `prepared`) for the
/// readers whose selection is all of them, and, with `window`, one variant
/// campaign per other selection, each rendered once. Without `window` the
/// whole digest goes to every digest reader any of whose topics it meets.
/// Returns the whole digest's (id, recipients).
pub async fn create_digest(
    store: &Store,
    settings: &Settings,
    prepared: &Prepared,
    posts: &[&Post],
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    default: Frequency,
) -> Result<(i64, i64)> {
    let readers = store.digest_readers(default).await?;
    let mut groups = group_by_selection(&readers, posts);
    let all: Vec<usize> = (0..posts.len()).collect();
    let whole: Vec<i64> = match window {
        Some(_) => groups.remove(&all).unwrap_or_default(),
        None => std::mem::take(&mut groups)
            .into_values()
            .flatten()
            .collect(),
    };
    let url = settings.newsletter.public_url.as_str();
    let now = Utc::now();
    let summary = titles(posts);
    let (id, total) = store
        .create_campaign_for(
            prepared,
            &dates(posts),
            &Audience::Ids(&whole),
            (url, &summary),
            None,
            now,
        )
        .await?;
    let Some((since, until)) = window else {
        return Ok((id, total));
    };
    let templates = Templates::load(Some(&settings.templates_dir))?;
    for (sel, ids) in groups {
        let chosen: Vec<&Post> = sel.iter().map(|&i| posts[i]).collect();
        let variant =
            render::prepare_digest(&templates, &settings.newsletter, &chosen, since, until)?;
        let (v, n) = store
            .create_campaign_for(
                &variant,
                &dates(&chosen),
                &Audience::Ids(&ids),
                (url, &titles(&chosen)),
                Some(id),
                now,
            )
            .await?;
        tracing::info!(
            "campaign {v}: the digest's {} of {} posts for {n} readers of those topics",
            chosen.len(),
            posts.len()
        );
    }
    Ok((id, total))
}
