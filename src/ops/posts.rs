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

/// The publish gate's record of a new post the worker has not sent yet:
/// why it waits. Kept in the worker state (`gate:SLUG`).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Gate {
    /// When the settle wait started: first seen, or the file's last change
    /// (or the last `posts release`).
    pub since: Option<DateTime<Utc>>,
    /// The file's content hash when last seen ("" until the worker saw it).
    pub fingerprint: String,
    /// `posts hold`: not sent until `posts release`.
    pub held: bool,
    /// When the live checks started (after the settle wait).
    pub live_since: Option<DateTime<Utc>>,
    /// The last live check.
    pub checked: Option<DateTime<Utc>>,
    /// Why it waits, in words (empty once it passed).
    pub reason: String,
    /// Its page never answered within `live_timeout`: reported, left for a
    /// hand-run `send`.
    pub gave_up: bool,
    /// Settled and live: the worker may send it.
    pub passed: bool,
    /// A digest left it out (the next one carries it).
    pub left_out: bool,
}

const GATE_PREFIX: &str = "gate:";

pub async fn gate(store: &Store, slug: &str) -> Result<Option<Gate>> {
    Ok(gate_raw(store, slug).await?.1)
}

/// The record as stored (for `swap_gate`) and read.
pub async fn gate_raw(store: &Store, slug: &str) -> Result<(Option<String>, Option<Gate>)> {
    let raw = store.state(&format!("{GATE_PREFIX}{slug}")).await?;
    let g = raw.as_deref().and_then(|v| serde_json::from_str(v).ok());
    Ok((raw, g))
}

/// Write `g` if the record is still `old` as stored (`gate_raw`); false if
/// another process (the worker, `posts hold`) changed it meanwhile.
pub async fn swap_gate(store: &Store, slug: &str, old: Option<&str>, g: &Gate) -> Result<bool> {
    let v = serde_json::to_string(g).expect("serialisable");
    store
        .state_swap(&format!("{GATE_PREFIX}{slug}"), old, &v)
        .await
}

/// Every post's gate record, by slug.
pub async fn gates(store: &Store) -> Result<std::collections::BTreeMap<String, Gate>> {
    Ok(store
        .states_with_prefix(GATE_PREFIX)
        .await?
        .into_iter()
        .filter_map(|(k, v)| {
            let g = serde_json::from_str(&v).ok()?;
            Some((k[GATE_PREFIX.len()..].to_string(), g))
        })
        .collect())
}

/// A post waiting at the publish gate.
#[derive(Debug, Clone, Serialize)]
pub struct GateWait {
    pub slug: String,
    /// Why it waits: held, settling until when, its URL's last answer,
    /// given up.
    pub why: String,
}

/// The posts that wait at the gate, with why (`posts list`, `status`).
pub async fn waiting(store: &Store) -> Result<Vec<GateWait>> {
    Ok(gates(store)
        .await?
        .into_iter()
        .filter(|(_, g)| !g.passed)
        .map(|(s, g)| {
            let why = if g.held {
                "held (gazette posts release to send it)".to_string()
            } else if g.reason.is_empty() {
                "not checked yet".to_string()
            } else {
                g.reason
            };
            GateWait { slug: s, why }
        })
        .collect())
}

/// `posts hold` (`on`) and `posts release`. Releasing restarts the wait
/// (settle, then the live checks, a fresh `live_timeout`). A post the
/// worker already took up (sent, or recorded as old) cannot be held.
pub async fn hold(store: &Store, slug: &str, on: bool, now: DateTime<Utc>) -> Result<()> {
    // The worker may write the record meanwhile: read, change, swap.
    for _ in 0..20 {
        let (raw, g) = gate_raw(store, slug).await?;
        let g = held(store, slug, g, on, now).await?;
        if swap_gate(store, slug, raw.as_deref(), &g).await? {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(crate::error::Error::msg(format!(
        "post {slug:?}: its publish gate record kept changing; try again"
    )))
}

/// The record `g` held (`on`) or released.
async fn held(
    store: &Store,
    slug: &str,
    mut g: Option<Gate>,
    on: bool,
    now: DateTime<Utc>,
) -> Result<Gate> {
    let taken = store.seen_posts().await?.contains(slug);
    if taken && g.as_ref().is_none_or(|g| g.passed) {
        return Err(crate::error::Error::msg(format!(
            "post {slug:?} was already taken up by the worker (sent or recorded as old); nothing to {}",
            if on { "hold" } else { "release" }
        )));
    }
    let g = g.get_or_insert_with(Gate::default);
    if on {
        g.held = true;
        g.passed = false;
    } else {
        *g = Gate {
            fingerprint: std::mem::take(&mut g.fingerprint),
            left_out: g.left_out,
            since: Some(now),
            ..Gate::default()
        };
    }
    Ok(g.clone())
}
