//! The post watcher: notice newly published posts (file notifications,
//! polling as the fallback) and, in `email`/`both` mode, start a campaign
//! for each.

use std::path::Path;

use super::Worker;
use crate::delivery::{campaign, selections};
use crate::error::Result;

impl Worker {
    /// Notice newly published posts; in `email`/`both` mode start a campaign
    /// for each. A post is picked up once: editing it later sends nothing.
    pub async fn scan_posts(&self) -> Result<Vec<i64>> {
        let now = self.clock.now();
        let catalog = self.catalog();
        let seen = self.store.seen_posts().await?;
        let mut started = Vec::new();
        for post in catalog
            .posts
            .iter()
            .filter(|p| p.is_published(now) && !seen.contains(&p.slug))
        {
            // The publish gate: settled, not held, its URL live.
            if !self.gate_open(post, false).await? {
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
            // `[publish] mode` is the default; a reader's choice wins.
            let default = selections::default_frequency(self.settings.publish);
            let audience = crate::store::Audience::Posts {
                tags: &post.tags,
                default,
            };
            if !self.settings.publish.emails_posts()
                && self.store.count_audience(&audience).await? == 0
            {
                continue;
            }
            if let Some(id) = self.store.post_campaign(&post.slug).await? {
                tracing::info!("post {} was already sent by campaign {id}", post.slug);
                continue;
            }
            let prepared = campaign::prepare(&self.templates, &self.settings, &[post], None)?;
            let (id, total) = campaign::create_for(
                &self.store,
                &self.settings,
                &prepared,
                &[post],
                None,
                default,
            )
            .await?;
            self.store.set_seen_campaign(&post.slug, id).await?;
            tracing::info!(
                "campaign {id} started: post {} to {total} subscribers",
                post.slug
            );
            self.campaigns.spawn(id, total).await;
            started.push(id);
        }
        Ok(started)
    }
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
