//! Starting campaigns: what goes into a digest, rendering its email, and
//! creating the campaign rows (the one place, for `gazette send` and the
//! worker alike).

use chrono::{DateTime, Utc};

use super::selections;
use crate::audience::prefs::Frequency;
use crate::config::Settings;
use crate::content::Post;
use crate::error::{Error, Result};
use crate::render::{self, EmailKind, Prepared, Templates};
use crate::store::campaigns::CampaignEmail;
use crate::store::Store;

/// The posts of the default digest window: published, in no earlier digest,
/// dated after the previous digest's newest post; the first digest covers
/// the last `first_window_days`.
pub async fn default_digest<'a>(
    store: &Store,
    posts: &'a [Post],
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<(Vec<&'a Post>, DateTime<Utc>)> {
    let (seen, newest) = store.digest_history().await?;
    let since = match newest {
        Some(n) => n,
        None => now - chrono::Duration::days(settings.digest.first_window_days as i64),
    };
    let chosen = posts
        .iter()
        .filter(|p| p.is_published(now) && !seen.contains(&p.slug))
        .filter(|p| {
            let d = p.date.with_timezone(&Utc);
            if newest.is_some() {
                d > since
            } else {
                d >= since
            }
        })
        .collect();
    Ok((chosen, since))
}

/// Render the email for `posts`: one post, or a digest of the window.
pub fn prepare(
    templates: &Templates,
    settings: &Settings,
    posts: &[&Post],
    digest_window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<Prepared> {
    let nl = &settings.newsletter;
    match digest_window {
        Some((since, until)) => render::prepare_digest(templates, nl, posts, since, until),
        None => render::prepare_post(templates, nl, posts[0]),
    }
}

/// What the store keeps of a prepared email.
impl CampaignEmail for Prepared {
    fn kind(&self) -> &str {
        self.kind.name()
    }

    fn subject(&self) -> &str {
        &self.subject
    }

    fn body(
        &self,
        campaign: i64,
        link: Option<(i64, &str)>,
    ) -> Result<(String, Vec<(i64, String)>)> {
        let (numbered, links) = match link {
            None => self.with_clicks(campaign),
            Some((id, public_url)) => self.for_campaign(id, public_url).with_clicks(campaign),
        };
        let json = serde_json::to_string(&numbered).map_err(|e| Error::msg(e.to_string()))?;
        Ok((json, links))
    }
}

/// Create the campaign that sends `prepared` (carrying `posts`), with one
/// pending delivery per active subscriber, whatever they chose. Returns
/// (campaign id, recipients).
pub async fn create(store: &Store, prepared: &Prepared, posts: &[&Post]) -> Result<(i64, i64)> {
    store
        .create_campaign(prepared, &selections::dates(posts), Utc::now())
        .await
}

/// Create the campaign that sends `prepared` (carrying `posts`), with one
/// pending delivery per active reader who wants it (`selections`; readers
/// who never chose a frequency have `default`). A digest with its `window`
/// is also sent as one variant per distinct selection of its posts.
/// Returns (campaign id, recipients).
pub async fn create_for(
    store: &Store,
    settings: &Settings,
    prepared: &Prepared,
    posts: &[&Post],
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    default: Frequency,
) -> Result<(i64, i64)> {
    match prepared.kind {
        EmailKind::Post if posts.len() == 1 => {
            selections::create_post(store, settings, prepared, posts[0], default).await
        }
        _ => selections::create_digest(store, settings, prepared, posts, window, default).await,
    }
}
