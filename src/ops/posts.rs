//! Every post with its send state: whether it went out on its own, in
//! which digests, or whether it still waits for one.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::content::Post;
use crate::error::Result;
use crate::store::sends::Carrier;
use crate::store::Store;

#[derive(Debug, Serialize)]
pub struct PostState {
    pub slug: String,
    pub title: String,
    pub date: String,
    /// published, draft or scheduled (dated in the future).
    pub status: String,
    /// `sent` (in a campaign that finished), `sending` (in one still
    /// scheduled, queued, sending or paused), `waiting` (published, in no
    /// campaign yet) or `not_published`.
    pub send_state: String,
    /// The campaigns that sent it on its own.
    pub post_campaigns: Vec<Carrier>,
    /// The digests that carried it.
    pub digest_campaigns: Vec<Carrier>,
}

pub async fn states(store: &Store, posts: &[Post], now: DateTime<Utc>) -> Result<Vec<PostState>> {
    let mut carriers = store.post_carriers().await?;
    let mut out = Vec::with_capacity(posts.len());
    for p in posts {
        let all = carriers.remove(&p.slug).unwrap_or_default();
        let (post_campaigns, digest_campaigns): (Vec<Carrier>, Vec<Carrier>) =
            all.into_iter().partition(|c| c.kind == "post");
        let every = || post_campaigns.iter().chain(&digest_campaigns);
        let send_state = if every().any(|c| c.status == "done") {
            "sent"
        } else if every().any(|c| c.status != "failed") {
            "sending"
        } else if p.is_published(now) {
            "waiting"
        } else {
            "not_published"
        };
        out.push(PostState {
            slug: p.slug.clone(),
            title: p.title.clone(),
            date: p.date.to_rfc3339(),
            status: p.status(now).as_str().to_string(),
            send_state: send_state.to_string(),
            post_campaigns,
            digest_campaigns,
        });
    }
    Ok(out)
}
