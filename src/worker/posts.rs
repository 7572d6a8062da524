//! The post watcher: notice newly published posts (file notifications,
//! polling as the fallback; the feed polled every `[source] poll`) and, in
//! `email`/`both` mode, start a campaign for each.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use super::Worker;
use crate::config::Settings;
use crate::content::feed_fetch::{self, Cache};
use crate::delivery::{campaign, selections};
use crate::error::Result;
use crate::store::ts;

impl Worker {
    /// Notice newly published posts; in `email`/`both` mode start a campaign
    /// for each. A post is picked up once: editing it later sends nothing.
    pub async fn scan_posts(&self) -> Result<Vec<i64>> {
        let now = self.clock.now();
        let catalog = self.catalog();
        let held = self.feed_baseline(now).await?;
        let seen = self.store.seen_posts().await?;
        let mut started = Vec::new();
        for post in catalog
            .posts
            .iter()
            .filter(|p| p.is_published(now) && !seen.contains(&p.slug) && !held.contains(&p.slug))
        {
            // The publish gate: settled, not held, its URL live.
            // A feed's item is on its blog already: live by definition.
            let live = post.format == crate::content::BodyFormat::Html;
            if !self.gate_open(post, live).await? {
                continue;
            }
            if !self.store.mark_seen(&post.slug, now).await? {
                continue;
            }
            tracing::info!(
                "new post published: {} ({})",
                post.slug,
                post.path.display()
            );
            if let Some(id) = self.start_post(post).await? {
                started.push(id);
            }
        }
        Ok(started)
    }
}

impl Worker {
    /// The campaign of a post just marked seen: none when nobody is to get
    /// it by email or a campaign for it exists already. A post that does
    /// not render stays seen (reported once, as the author must fix it);
    /// one whose campaign the database failed to create is released, so
    /// the next scan tries again instead of never sending it.
    async fn start_post(&self, post: &crate::content::Post) -> Result<Option<i64>> {
        // `[publish] mode` is the default; a reader's choice wins.
        let default = selections::default_frequency(self.settings.publish);
        let audience = crate::store::Audience::Posts {
            tags: &post.tags,
            default,
        };
        if !self.settings.publish.emails_posts() && self.store.count_audience(&audience).await? == 0
        {
            return Ok(None);
        }
        if let Some(id) = self.store.post_campaign(&post.slug).await? {
            tracing::info!("post {} was already sent by campaign {id}", post.slug);
            return Ok(None);
        }
        let prepared = campaign::prepare(&self.templates, &self.settings, &[post], None)?;
        let created = campaign::create_for(
            &self.store,
            &self.settings,
            &prepared,
            &[post],
            None,
            default,
        )
        .await;
        let (id, total) = match created {
            Ok(made) => made,
            Err(e) => {
                if let Err(undo) = self.store.release_seen(&post.slug).await {
                    tracing::warn!("post {}: {undo}", post.slug);
                }
                return Err(e);
            }
        };
        self.store.set_seen_campaign(&post.slug, id).await?;
        tracing::info!(
            "campaign {id} started: post {} to {total} subscribers",
            post.slug
        );
        self.campaigns.spawn(id, total).await;
        Ok(Some(id))
    }
}

impl Worker {
    /// The first time a feed has been read, its items are recorded as
    /// seen, not sent (as the posts folder's on the very first start):
    /// a feed added later never blasts out its archive. Until then, the
    /// cached items of another feed are held back (the returned slugs).
    async fn feed_baseline(&self, now: chrono::DateTime<chrono::Utc>) -> Result<HashSet<String>> {
        let Some(src) = &self.settings.feed else {
            return Ok(HashSet::new());
        };
        let name = src.location.to_string();
        let key = format!("feed_initialized:{name}");
        if self.store.state(&key).await?.is_some() {
            return Ok(HashSet::new());
        }
        let cache = Cache::read(src);
        let slugs = cache.items.iter().map(|i| i.slug.clone());
        if cache.feed != name || cache.fetched.is_none() {
            return Ok(slugs.collect());
        }
        let mut n = 0;
        for item in cache
            .items
            .iter()
            .filter(|i| i.date.with_timezone(&chrono::Utc) <= now)
        {
            if self.store.mark_seen(&item.slug, now).await? {
                n += 1;
            }
        }
        self.store.state_init(&key, &ts(now)).await?;
        tracing::info!(
            "feed {name} read for the first time: {n} items recorded as already seen (not sent)"
        );
        Ok(HashSet::new())
    }
}

/// Fetch the feed every `[source] poll` until `stop`; after each good
/// fetch `tx` gets a note (the worker then scans the posts). A feed that
/// is down pauses nothing else: it is logged once per outage, and its
/// last good copy stays in use.
pub fn spawn_feed_poller(
    settings: Arc<Settings>,
    tx: tokio::sync::mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let src = settings.feed.clone()?;
    Some(tokio::spawn(async move {
        let mut down = false;
        loop {
            match feed_fetch::refresh(&src).await {
                Ok(f) => {
                    if down {
                        tracing::info!("feed {} is back", src.location);
                        down = false;
                    }
                    tracing::debug!("feed {}: {f:?}", src.location);
                    let _ = tx.try_send(());
                }
                Err(e) if !down => {
                    tracing::warn!("feed unavailable (its last good copy stays in use): {e}");
                    down = true;
                }
                Err(e) => tracing::debug!("feed still unavailable: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(src.poll) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }))
}

/// Watch `dir`; `tx` gets a note on every change. `None`: no notifications
/// (the worker polls).
pub fn watch_posts(
    dir: &Path,
    tx: tokio::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok() {
            let _ = tx.try_send(());
        }
    });
    match watcher {
        Ok(mut w) => match w.watch(dir, RecursiveMode::Recursive) {
            Ok(()) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "{}: no file notifications ({e}); polling instead",
                    dir.display()
                );
                None
            }
        },
        Err(e) => {
            tracing::warn!("no file notifications ({e}); polling instead");
            None
        }
    }
}
