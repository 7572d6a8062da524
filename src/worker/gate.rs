//! The publish gate: a new post goes out once it has settled (`[publish]
//! settle` after it was first seen, restarted by a change to its file),
//! is not held (`posts hold`) and, when `wait_until_live`, its URL answers
//! 200. A digest leaves out a post still waiting; the next one carries it.
//! The per-post state lives in the worker state (`ops::posts::Gate`).

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use super::Worker;
use crate::content::Post;
use crate::error::{Error, Result};
use crate::ops::links;
use crate::ops::posts::{gate_raw, gates, swap_gate, Gate};
use crate::store::ts;

/// The HTTP client of the live checks, made once.
fn http() -> Result<&'static reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = links::client(links::TIMEOUT).map_err(Error::msg)?;
    Ok(CLIENT.get_or_init(|| c))
}

/// The post file's content hash (its body's, if the file cannot be read).
fn fingerprint(post: &Post) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(&post.path).unwrap_or_else(|_| post.body.clone().into_bytes());
    hex::encode(sha2::Sha256::digest(&bytes))
}

impl Worker {
    /// Whether the new post `post` may go out now. `live`: the post is live
    /// by definition (a feed item, published on its blog already): no
    /// settle wait and no URL check; `posts hold` still applies. Records
    /// why it waits otherwise.
    pub(super) async fn gate_open(&self, post: &Post, live: bool) -> Result<bool> {
        let now = self.clock.now();
        let (raw, g) = gate_raw(&self.store, &post.slug).await?;
        let mut g = g.unwrap_or_default();
        if g.passed {
            return Ok(true);
        }
        let before = g.clone();
        let open = self.decide(post, live, &mut g, now).await?;
        if g != before && !swap_gate(&self.store, &post.slug, raw.as_deref(), &g).await? {
            // `posts hold` or `release` meanwhile: theirs wins; the next
            // scan decides again.
            return Ok(false);
        }
        Ok(open)
    }

    async fn decide(
        &self,
        post: &Post,
        live: bool,
        g: &mut Gate,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let cfg = &self.settings.gate;
        let fp = fingerprint(post);
        if g.fingerprint != fp {
            if !g.fingerprint.is_empty() {
                tracing::info!("post {} changed: its settle wait starts over", post.slug);
                g.since = None;
            }
            g.fingerprint = fp;
        }
        if g.since.is_none() {
            *g = Gate {
                since: Some(now),
                fingerprint: std::mem::take(&mut g.fingerprint),
                held: g.held,
                left_out: g.left_out,
                ..Gate::default()
            };
        }
        if g.held {
            g.reason = format!("held (gazette posts release {})", post.slug);
            return Ok(false);
        }
        if g.gave_up {
            // Sent by hand since: the caller sees the campaign and moves on.
            let sent = self.store.post_campaign(&post.slug).await?.is_some();
            if sent {
                g.passed = true;
                g.reason.clear();
            }
            return Ok(sent);
        }
        let settled =
            g.since.unwrap_or(now) + chrono::Duration::from_std(cfg.settle).unwrap_or_default();
        if !live && now < settled {
            g.reason = format!("settling until {}", ts(settled));
            return Ok(false);
        }
        if !live && cfg.waits_for(&post.url) && !self.is_live(post, g, now).await? {
            return Ok(false);
        }
        tracing::info!("post {} passed the publish gate", post.slug);
        g.passed = true;
        g.reason.clear();
        Ok(true)
    }

    /// Ask the post's URL (at most every `live_retry`); give up after
    /// `live_timeout`, reported once.
    async fn is_live(&self, post: &Post, g: &mut Gate, now: DateTime<Utc>) -> Result<bool> {
        let cfg = &self.settings.gate;
        let started = *g.live_since.get_or_insert(now);
        let retry = chrono::Duration::from_std(cfg.live_retry).unwrap_or_default();
        if g.checked.is_some_and(|c| now - c < retry) {
            return Ok(false);
        }
        g.checked = Some(now);
        let why = match links::live(http()?, &post.url).await {
            Ok(()) => return Ok(true),
            Err(why) => why,
        };
        let timeout = chrono::Duration::from_std(cfg.live_timeout).unwrap_or_default();
        if now - started >= timeout {
            g.gave_up = true;
            g.reason = format!(
                "given up: not live after {:?} ({why}); send it by hand: gazette send post {}",
                cfg.live_timeout, post.slug
            );
            tracing::error!("post {} not sent: {}", post.slug, g.reason);
        } else {
            g.reason = format!("waiting until live: {why} (checked {})", ts(now));
        }
        Ok(false)
    }

    /// The digest's posts without those waiting at the gate (marked left
    /// out), with the posts an earlier digest left out that have passed
    /// since.
    pub(super) async fn gate_digest<'a>(
        &self,
        chosen: Vec<&'a Post>,
        all: &'a [Post],
    ) -> Result<Vec<&'a Post>> {
        let now = self.clock.now();
        let seen = self.store.seen_posts().await?;
        // A post the scan has not reached yet (written just before the
        // digest's time) meets the gate here first: it must settle and be
        // live like any other. One seen before the gate existed has passed.
        for p in &chosen {
            if !seen.contains(&p.slug) {
                let live = p.format == crate::content::BodyFormat::Html;
                self.gate_open(p, live).await?;
            }
        }
        let mut gates = gates(&self.store).await?;
        let mut out = Vec::with_capacity(chosen.len());
        for p in chosen {
            match gates.get_mut(&p.slug) {
                Some(g) if !g.passed => {
                    if !g.left_out {
                        self.mark_left_out(&p.slug).await?;
                        g.left_out = true;
                    }
                    tracing::info!("digest leaves out post {}: {}", p.slug, g.reason);
                }
                _ => out.push(p),
            }
        }
        let (carried, _) = self.store.digest_history().await?;
        for p in all.iter().filter(|p| p.is_published(now)) {
            let late = gates.get(&p.slug).is_some_and(|g| g.left_out && g.passed);
            if late && !carried.contains(&p.slug) && !out.iter().any(|o| o.slug == p.slug) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Record that a digest left the post out (by compare-and-swap: a
    /// `posts hold` meanwhile is kept).
    async fn mark_left_out(&self, slug: &str) -> Result<()> {
        for _ in 0..20 {
            let (raw, g) = gate_raw(&self.store, slug).await?;
            let mut g = g.unwrap_or_default();
            g.left_out = true;
            if swap_gate(&self.store, slug, raw.as_deref(), &g).await? {
                return Ok(());
            }
        }
        Err(Error::msg(format!(
            "post {slug}: its publish gate record kept changing"
        )))
    }
}
