//! The long-running worker: the web endpoints, a watcher on `posts/`, the
//! digest schedule and the delivery queue in one tokio process.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::content;
use crate::delivery::campaign;
use crate::delivery::mailer::Mailer;
use crate::delivery::queue::{self, Finish, Options, Progress};
use crate::error::Result;
use crate::render::Templates;
use crate::store::campaigns::CampaignStatus;
use crate::store::{ts, Store};

/// The time source, injectable so the scheduler is tested without sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What a digest tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestTick {
    /// No period is due.
    NotDue,
    /// The period's digest campaign started.
    Sent {
        period: DateTime<Utc>,
        campaign: i64,
    },
    /// The period was due but had no new posts.
    Empty { period: DateTime<Utc> },
}

pub struct Worker {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub mailer: Mailer,
    templates: Arc<Templates>,
    clock: Arc<dyn Clock>,
    /// Digest periods at or before this were never the worker's to send.
    baseline: DateTime<Utc>,
    running: Mutex<HashMap<i64, JoinHandle<()>>>,
    stop: watch::Receiver<bool>,
}

const BASELINE_KEY: &str = "digest_baseline";
const POSTS_KEY: &str = "posts_initialized";

impl Worker {
    /// Set up; on the very first start, record the posts already published
    /// as seen, so an archive is never blasted out.
    pub async fn new(
        settings: Arc<Settings>,
        store: Store,
        clock: Arc<dyn Clock>,
        stop: watch::Receiver<bool>,
    ) -> Result<Worker> {
        let templates = Arc::new(Templates::load(Some(&settings.templates_dir))?);
        let mailer = Mailer::from_settings(&settings)?;
        let now = clock.now();
        let baseline = store.state_init(BASELINE_KEY, &ts(now)).await?;
        let baseline = DateTime::parse_from_rfc3339(&baseline)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(now);
        let worker = Worker {
            settings,
            store,
            mailer,
            templates,
            clock,
            baseline,
            running: Mutex::new(HashMap::new()),
            stop,
        };
        if worker.store.state(POSTS_KEY).await?.is_none() {
            let catalog = worker.catalog();
            let mut n = 0;
            for p in catalog.posts.iter().filter(|p| p.is_published(now)) {
                if worker.store.mark_seen(&p.slug, now).await? {
                    n += 1;
                }
            }
            worker.store.state_init(POSTS_KEY, &ts(now)).await?;
            tracing::info!("first start: {n} published posts recorded as already seen (not sent)");
        }
        Ok(worker)
    }

    fn catalog(&self) -> content::Catalog {
        let c = content::load_dir(&self.settings.posts_dir, &self.settings.newsletter.base_url);
        for e in &c.errors {
            tracing::warn!("{e}");
        }
        c
    }

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
            if !self.store.mark_seen(&post.slug, now).await? {
                continue;
            }
            tracing::info!(
                "new post published: {} ({})",
                post.slug,
                post.path.display()
            );
            if !self.settings.publish.emails_posts() {
                continue;
            }
            if let Some(id) = self.store.post_campaign(&post.slug).await? {
                tracing::info!("post {} was already sent by campaign {id}", post.slug);
                continue;
            }
            let (id, total) =
                campaign::create(&self.store, &self.settings, &self.templates, &[post], None)
                    .await?;
            self.store.set_seen_campaign(&post.slug, id).await?;
            tracing::info!(
                "campaign {id} started: post {} to {total} subscribers",
                post.slug
            );
            self.spawn_campaign(id).await;
            started.push(id);
        }
        Ok(started)
    }

    /// The digest period handled last (or the baseline).
    pub async fn handled_until(&self) -> Result<DateTime<Utc>> {
        Ok(self
            .store
            .last_digest_period()
            .await?
            .map_or(self.baseline, |p| p.max(self.baseline)))
    }

    /// Send the digest if a period is due. One idempotency key per period:
    /// a restart never sends a period twice.
    pub async fn digest_tick(&self) -> Result<DigestTick> {
        let now = self.clock.now();
        let handled = self.handled_until().await?;
        let Some(period) = self.settings.digest.schedule.due(handled, now) else {
            return Ok(DigestTick::NotDue);
        };
        if !self.store.claim_digest_period(period, now).await? {
            return Ok(DigestTick::NotDue);
        }
        let catalog = self.catalog();
        let (posts, since) =
            campaign::default_digest(&self.store, &catalog.posts, &self.settings, now).await?;
        if posts.is_empty() {
            tracing::info!("digest for {}: no new posts, nothing sent", ts(period));
            return Ok(DigestTick::Empty { period });
        }
        let (id, total) = campaign::create(
            &self.store,
            &self.settings,
            &self.templates,
            &posts,
            Some((since, now)),
        )
        .await?;
        self.store.set_digest_campaign(period, id).await?;
        tracing::info!(
            "campaign {id} started: digest of {} posts for {} to {total} subscribers",
            posts.len(),
            ts(period)
        );
        self.spawn_campaign(id).await;
        Ok(DigestTick::Sent {
            period,
            campaign: id,
        })
    }

    /// Run the campaigns a crash or a stop left `sending`.
    pub async fn resume_sending(&self) -> Result<()> {
        for id in self.store.campaigns_in(CampaignStatus::Sending).await? {
            if !self.running.lock().await.contains_key(&id) {
                tracing::info!("campaign {id}: resuming");
                self.spawn_campaign(id).await;
            }
        }
        Ok(())
    }

    async fn spawn_campaign(&self, id: i64) {
        let mut running = self.running.lock().await;
        running.retain(|_, h| !h.is_finished());
        if running.contains_key(&id) {
            return;
        }
        let store = self.store.clone();
        let mailer = self.mailer.clone();
        let nl = Arc::new(self.settings.newsletter.clone());
        let opts = Options::from_settings(&self.settings);
        let stop = self.stop.clone();
        running.insert(
            id,
            tokio::spawn(async move {
                let progress = Arc::new(Progress::default());
                let reporter = {
                    let p = progress.clone();
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            tracing::info!(
                                "campaign {id}: {} sent, {} failed, {} skipped so far",
                                p.sent.load(std::sync::atomic::Ordering::Relaxed),
                                p.failed.load(std::sync::atomic::Ordering::Relaxed),
                                p.skipped.load(std::sync::atomic::Ordering::Relaxed)
                            );
                        }
                    })
                };
                let r = queue::run(&store, &mailer, nl, id, opts, progress.clone(), stop).await;
                reporter.abort();
                match r {
                    Ok(Finish::Done) => tracing::info!(
                        "campaign {id} done: {} sent, {} failed",
                        progress.sent.load(std::sync::atomic::Ordering::Relaxed),
                        progress.failed.load(std::sync::atomic::Ordering::Relaxed)
                    ),
                    Ok(Finish::Busy) => {
                        tracing::debug!("campaign {id}: another process is sending it")
                    }
                    Ok(Finish::Interrupted) => {
                        tracing::info!("campaign {id}: stopped; it continues at the next start")
                    }
                    Ok(Finish::Paused) => tracing::info!("campaign {id}: paused"),
                    Ok(Finish::Cancelled) => tracing::info!("campaign {id}: cancelled"),
                    Ok(Finish::Unreachable(e)) => tracing::error!("campaign {id}: paused, {e}"),
                    Err(e) => tracing::error!("campaign {id}: {e}"),
                }
            }),
        );
    }

    /// Wait for running campaigns to record their in-flight messages; abort
    /// what is still running after `grace`. Returns false if any was aborted.
    pub async fn finish_campaigns(&self, grace: Duration) -> bool {
        let handles: Vec<JoinHandle<()>> =
            self.running.lock().await.drain().map(|(_, h)| h).collect();
        let deadline = tokio::time::Instant::now() + grace;
        let mut clean = true;
        for mut h in handles {
            if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                h.abort();
                clean = false;
            }
        }
        clean
    }

    /// When the next digest goes out (now, if a period is due).
    pub async fn next_digest(&self) -> Result<Option<DateTime<Utc>>> {
        let now = self.clock.now();
        let handled = self.handled_until().await?;
        if self.settings.digest.schedule.due(handled, now).is_some() {
            return Ok(Some(now));
        }
        Ok(self.settings.digest.schedule.next_after(now.max(handled)))
    }
}

/// Run the worker until SIGTERM/SIGINT.
pub async fn run(settings: Settings, listen: Option<String>) -> Result<()> {
    let settings = Arc::new(settings);
    let store = Store::open(&settings.database_url).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = Arc::new(
        Worker::new(
            settings.clone(),
            store.clone(),
            Arc::new(SystemClock),
            stop_rx.clone(),
        )
        .await?,
    );

    // The web endpoints.
    let (listener, local, state) =
        crate::commands::serve::bind_web(&settings, store.clone(), listen).await?;
    let admin = crate::commands::serve::bind_admin(&settings, store.clone()).await?;
    let mut web_stop = stop_rx.clone();
    let web = tokio::spawn(crate::web::serve_all(listener, state, admin, async move {
        let _ = web_stop.wait_for(|s| *s).await;
    }));
    tracing::info!(
        "worker started: web on http://{local}, posts in {}, publish mode {:?}, digest {} through {}",
        settings.posts_dir.display(),
        settings.publish,
        settings.digest.schedule.describe(),
        worker.mailer.describe()
    );

    // Signals: the first stops gracefully, a second exits at once.
    tokio::spawn(async move {
        crate::commands::serve::shutdown_signal().await;
        tracing::info!("stopping: no new deliveries; letting the messages in flight finish");
        let _ = stop_tx.send(true);
        crate::commands::serve::shutdown_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });

    // File notifications, with polling as the fallback.
    let (fs_tx, mut fs_rx) = tokio::sync::mpsc::channel::<()>(1);
    let _watcher = watch_posts(&settings.posts_dir, fs_tx);

    worker.resume_sending().await?;
    let mut stop = stop_rx.clone();
    loop {
        if let Err(e) = worker.scan_posts().await {
            tracing::error!("scanning posts: {e}");
        }
        if let Err(e) = worker.digest_tick().await {
            tracing::error!("digest: {e}");
        }
        if let Err(e) = worker.resume_sending().await {
            tracing::error!("queue: {e}");
        }
        let until_digest = worker
            .next_digest()
            .await
            .ok()
            .flatten()
            .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(settings.worker.poll_interval);
        let wait = settings
            .worker
            .poll_interval
            .min(until_digest + Duration::from_millis(50));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = fs_rx.recv() => {
                // Let an editor finish writing before reading the file.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ = queue::stopped(&mut stop) => break,
        }
    }
    let clean = worker.finish_campaigns(settings.worker.grace).await;
    if !clean {
        tracing::warn!("grace period over: stopped the messages still in flight");
    }
    let _ = web.await;
    store.close().await;
    tracing::info!("worker stopped");
    Ok(())
}

fn watch_posts(
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
