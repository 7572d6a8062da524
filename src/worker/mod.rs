//! The long-running worker, in one tokio process: the web endpoints, the
//! post watcher and the feed poller (`posts`) behind the publish gate
//! (`gate`), the digest scheduler (`digest`), scheduled sends
//! (`scheduled`), the bounce mailbox (`bounces`), the presence heartbeat,
//! and campaign supervision (`campaigns`).

mod bounces;
mod digest;
mod gate;
mod posts;
mod scheduled;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub use crate::ops::runs::Campaigns;

use crate::config::Settings;
use crate::content;
use crate::delivery::mailer::Mailer;
use crate::delivery::queue::{Options, RunSpec};
use crate::error::Result;
use crate::render::Templates;
use crate::store::{ts, Store};

/// The log target of the line each pass of the worker's loop ends with
/// (`GAZETTE_LOG=…,gazette::worker::pass=debug` shows it).
pub const PASS_TARGET: &str = "gazette::worker::pass";

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

/// `GAZETTE_NOW` for a long-running process: "now" starts at the pinned
/// time and runs on from there (the CLI reads the pin once per command;
/// a worker that stood still at it could never reach a time after it).
pub struct PinnedClock {
    pinned: DateTime<Utc>,
    since: std::time::Instant,
}

impl PinnedClock {
    pub fn new(pinned: DateTime<Utc>) -> PinnedClock {
        PinnedClock {
            pinned,
            since: std::time::Instant::now(),
        }
    }

    /// The clock `GAZETTE_NOW` (RFC 3339, as the CLI reads it) asks for, if
    /// set; a value that is no date is an error naming the variable.
    pub fn from_env(
        env: &std::collections::HashMap<String, String>,
    ) -> Result<Option<PinnedClock>> {
        let Some(s) = env.get("GAZETTE_NOW").filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        crate::util::time::parse_date(s)
            .map(|(d, _)| Some(PinnedClock::new(d.with_timezone(&Utc))))
            .ok_or_else(|| crate::error::Error::msg(format!("GAZETTE_NOW: invalid date {s:?}")))
    }
}

impl Clock for PinnedClock {
    fn now(&self) -> DateTime<Utc> {
        self.pinned + chrono::Duration::from_std(self.since.elapsed()).unwrap_or_default()
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
    /// When scheduled campaigns are due: `clock`, or `GAZETTE_NOW`'s clock
    /// in `gazette worker` (`with_schedule_clock`).
    schedule_clock: Arc<dyn Clock>,
    /// Digest periods at or before this were never the worker's to send.
    baseline: DateTime<Utc>,
    /// The campaigns this worker runs (and its admin API starts).
    pub campaigns: Arc<Campaigns>,
    /// The problems of bad posts last reported: each is logged once, not on
    /// every scan.
    reported: std::sync::Mutex<std::collections::HashSet<String>>,
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
        let campaigns = Arc::new(Campaigns::new(RunSpec {
            store: store.clone(),
            connector: Arc::new(mailer.clone()),
            newsletter: Arc::new(settings.newsletter.clone()),
            opts: Options::from_settings(&settings),
            stop,
            foreground: false,
        }));
        let worker = Worker {
            settings,
            store,
            mailer,
            templates,
            schedule_clock: clock.clone(),
            clock,
            baseline,
            campaigns,
            reported: Default::default(),
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

    /// Decide when scheduled campaigns are due by `clock` (the digest and
    /// the posts keep the worker's own clock).
    pub fn with_schedule_clock(mut self, clock: Arc<dyn Clock>) -> Worker {
        self.schedule_clock = clock;
        self
    }

    fn catalog(&self) -> content::Catalog {
        let c = content::catalog(&self.settings);
        let now: std::collections::HashSet<String> =
            c.errors.iter().map(|e| e.to_string()).collect();
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        for e in now.difference(&reported) {
            tracing::warn!("{e}");
        }
        *reported = now;
        c
    }

    /// Scan posts, tick the digest and run due campaigns every
    /// `poll_interval` (sooner on a file notification or a due digest),
    /// until `stop` turns true.
    async fn until_stopped(
        &self,
        mut fs_rx: tokio::sync::mpsc::Receiver<()>,
        mut stop: watch::Receiver<bool>,
    ) {
        let poll = self.settings.worker.poll_interval;
        loop {
            if let Err(e) = self.scan_posts().await {
                tracing::error!("scanning posts: {e}");
            }
            if let Err(e) = self.digest_tick().await {
                tracing::error!("digest: {e}");
            }
            if let Err(e) = self.scheduled_tick().await {
                tracing::error!("scheduled campaigns: {e}");
            }
            if let Err(e) = self.campaigns.resume_due().await {
                tracing::error!("queue: {e}");
            }
            // The event tests wait for (a pass, not a clock); off unless
            // GAZETTE_LOG asks for this target.
            tracing::debug!(target: PASS_TARGET, "worker pass done");
            let until_digest = self
                .next_digest()
                .await
                .ok()
                .flatten()
                .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(poll);
            let until_scheduled = self
                .store
                .next_scheduled()
                .await
                .ok()
                .flatten()
                .map(|t| {
                    (t - self.schedule_clock.now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                })
                .unwrap_or(poll);
            let wait = poll.min(until_digest.min(until_scheduled) + Duration::from_millis(50));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = fs_rx.recv() => {
                    // Let an editor finish writing before reading the file.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

/// Run the worker until SIGTERM/SIGINT.
/// Beat every second while the worker runs; forget the row when it stops.
async fn presence(store: Store, mut stop: watch::Receiver<bool>) {
    let me = crate::delivery::queue::this_owner();
    loop {
        if let Err(e) = store.worker_beat(&me, Utc::now()).await {
            tracing::debug!("worker heartbeat: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    let _ = store.forget_sender(&me.id).await;
}

pub async fn run(settings: Settings, listen: Option<String>) -> Result<()> {
    let settings = Arc::new(settings);
    // Scheduled sends are due by `GAZETTE_NOW` when it is set, as `send
    // --at` judged their time "in the future" by it.
    let pinned = PinnedClock::from_env(&crate::config::process_env())?;
    let store = Store::open(&settings.database_url).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut worker = Worker::new(
        settings.clone(),
        store.clone(),
        Arc::new(SystemClock),
        stop_rx.clone(),
    )
    .await?;
    if let Some(clock) = pinned {
        tracing::info!(
            "GAZETTE_NOW: scheduled campaigns are due by a clock that starts at {}",
            ts(clock.now())
        );
        worker = worker.with_schedule_clock(Arc::new(clock));
    }
    let worker = Arc::new(worker);

    // The web endpoints.
    let (listener, local, state) = crate::app::bind_web(&settings, store.clone(), listen).await?;
    let runs = Some(worker.campaigns.clone());
    let admin = crate::app::bind_admin_with(&settings, store.clone(), runs).await?;
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

    // bounces: the bounce mailbox, polled every `[bounces] poll`.
    let mailbox = bounces::spawn(settings.clone(), store.clone(), stop_rx.clone())?;
    // This worker's heartbeat, for `gazette status` on any host.
    let presence = tokio::spawn(presence(store.clone(), stop_rx.clone()));

    // Signals: the first stops gracefully, a second exits at once.
    tokio::spawn(async move {
        crate::app::shutdown_signal().await;
        tracing::info!("stopping: no new deliveries; letting the messages in flight finish");
        let _ = stop_tx.send(true);
        crate::app::shutdown_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });

    // File notifications, with polling as the fallback.
    let (fs_tx, fs_rx) = tokio::sync::mpsc::channel::<()>(1);
    let feed = posts::spawn_feed_poller(settings.clone(), fs_tx.clone(), stop_rx.clone());
    let _watcher = posts::watch_posts(&settings.posts_dir, fs_tx);

    worker.campaigns.resume_due().await?;
    worker.until_stopped(fs_rx, stop_rx.clone()).await;
    let clean = worker.campaigns.finish(settings.worker.grace).await;
    if !clean {
        tracing::warn!("grace period over: stopped the messages still in flight");
    }
    let _ = web.await;
    if let Some(f) = feed {
        f.abort();
        let _ = f.await;
    }
    if let Some(m) = mailbox {
        let _ = m.await;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), presence).await;
    store.close().await;
    tracing::info!("worker stopped");
    Ok(())
}
