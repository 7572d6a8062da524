//! Campaigns run in the background, by the worker and by the admin API
//! (`POST /api/v1/campaigns` in `serve` or `worker`): each campaign in its
//! own task (one at a time per campaign); the worker also picks up those a
//! crash, a stop or `gazette send` left behind, and retries those paused
//! because the server was unreachable, with backoff. The run itself and its
//! report are `delivery::supervise`, shared with `gazette send`, so the
//! circuit breaker, the canary and throttling hold the same everywhere.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::delivery::progress::Style;
use crate::delivery::queue::{RunSpec, CLAIM_STALE};
use crate::delivery::supervise;
use crate::error::Result;
use crate::store::campaigns::CampaignStatus;

/// How often a running campaign's progress is logged.
const REPORT_EVERY: Duration = Duration::from_secs(5);

pub struct Campaigns {
    spec: RunSpec,
    running: Mutex<HashMap<i64, JoinHandle<()>>>,
    /// The stop switch of runners that have their own (see [`Self::own`]).
    stop: Option<tokio::sync::watch::Sender<bool>>,
}

impl Campaigns {
    /// Runs that stop when `spec.stop` turns true (the worker's).
    pub fn new(spec: RunSpec) -> Self {
        Campaigns {
            spec,
            running: Mutex::new(HashMap::new()),
            stop: None,
        }
    }

    /// Runs with a stop switch of their own, turned by [`Self::shutdown`]
    /// (the admin API's in `gazette serve`).
    pub fn own(spec: impl FnOnce(tokio::sync::watch::Receiver<bool>) -> RunSpec) -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        Campaigns {
            spec: spec(rx),
            running: Mutex::new(HashMap::new()),
            stop: Some(tx),
        }
    }

    /// Run campaign `id` in the background, unless it runs already.
    pub async fn spawn(&self, id: i64, total: i64) {
        self.spawn_with(id, total, None).await
    }

    /// As [`Self::spawn`], with `canary` instead of `[send] canary` (as
    /// `send --canary N`).
    pub async fn spawn_with(&self, id: i64, total: i64, canary: Option<u64>) {
        let mut running = self.running.lock().await;
        running.retain(|_, h| !h.is_finished());
        if running.contains_key(&id) {
            return;
        }
        let mut spec = self.spec.clone();
        if let Some(n) = canary {
            spec.opts.safety.canary = n;
        }
        running.insert(
            id,
            tokio::spawn(async move {
                match supervise::run(&spec, id, total, Style::Log(REPORT_EVERY)).await {
                    Ok(ran) => ran.log(id),
                    Err(e) => tracing::error!("campaign {id}: {e}"),
                }
            }),
        );
    }

    /// Run what is due: campaigns left `sending` or `queued`, and those
    /// paused as unreachable whose retry time has come (each try logged).
    pub async fn resume_due(&self) -> Result<()> {
        let store = &self.spec.store;
        for (id, status) in store.campaigns_to_run(Utc::now(), CLAIM_STALE).await? {
            let running = {
                let mut r = self.running.lock().await;
                r.retain(|_, h| !h.is_finished());
                r.contains_key(&id)
            };
            if running {
                continue;
            }
            let Some(c) = store.campaign(id).await? else {
                continue;
            };
            match status {
                CampaignStatus::Paused => tracing::info!(
                    "campaign {id}: retrying (try {}) after the server was unreachable: {}",
                    store.unreachable_tries(id).await? + 1,
                    c.last_error.as_deref().unwrap_or("unknown error")
                ),
                CampaignStatus::Queued => tracing::info!("campaign {id}: starting (left queued)"),
                _ => tracing::debug!("campaign {id}: resuming"),
            }
            self.spawn(id, c.pending).await;
        }
        Ok(())
    }

    /// Stop the runs of a runner with its own switch after the messages in
    /// flight, waiting at most `grace`. Returns false if any was aborted.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        if let Some(tx) = &self.stop {
            let _ = tx.send(true);
        }
        self.finish(grace).await
    }

    /// Wait for running campaigns to record their in-flight messages; abort
    /// what is still running after `grace`. Returns false if any was aborted.
    pub async fn finish(&self, grace: Duration) -> bool {
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
}
