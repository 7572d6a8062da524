//! What the senders of one campaign run share ([`Shared`]), and what they
//! do with it: hold the claim, count server trouble, feed the circuit
//! breaker and the throttle.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::breaker::Breaker;
use super::cancel::{Cancel, StopReason};
use super::policy::{lease_size, Reply, RetryPolicy, CLAIM_STALE, FETCH_BATCH};
use super::progress::{Pacer, Progress};
use super::throttle::{Settled, Throttle, CUT_EVERY};
use super::transport::{Connector, Transport};
use crate::config::Newsletter;
use crate::error::Result;
use crate::render::{Encoded, Prepared};
use crate::store::campaigns::{QueueItem, QueueRecipient, Recorded};
use crate::store::Store;

/// What the senders of one campaign run share.
pub struct Shared {
    pub id: i64,
    /// This run's random id: it leases deliveries, and outcome writes are
    /// fenced by the lease.
    pub claim: String,
    pub store: Store,
    pub connector: Arc<dyn Connector>,
    pub newsletter: Arc<Newsletter>,
    pub prepared: Prepared,
    /// The parts transfer-encoded once for the whole campaign.
    pub encoded: Encoded,
    /// The message formatted once (all but the personal headers and
    /// bodies); `None` with DKIM, where lettre builds each message.
    pub skeleton: Option<crate::render::message::Skeleton>,
    /// The email has `attribute(...)` slots: read recipients' attributes.
    pub uses_attributes: bool,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub pacer: Pacer,
    /// `smtp.rate` for the whole campaign (the pacer has this process's share).
    pub rate: Option<f64>,
    pub progress: Arc<Progress>,
    pub cancel: Cancel,
    /// Subscribers who unsubscribed while the campaign runs.
    pub opted_out: RwLock<HashSet<i64>>,
    /// Connection-level failures in a row (no reply from the server).
    pub trouble: AtomicU32,
    /// The rate and connections the server's "too fast" replies allow.
    pub throttle: Throttle,
    /// The circuit breaker's counts and limits.
    pub breaker: Breaker,
    /// VERP sender and what a rejection does to the subscriber (bounces).
    pub bounces: crate::config::BouncePolicy,
    /// When this process's leases were last renewed: the moment the
    /// heartbeat that renewed them was sent (they run from its `now`).
    pub renewed: std::sync::Mutex<Instant>,
    /// No transaction is opened ahead (behind a message's final dot): a
    /// paced run (`smtp.rate`: each message at its time, commands
    /// included), or the server left such commands unanswered.
    pub no_chaining: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// How long in-flight work may take after a stop.
    pub fn grace(&self) -> Duration {
        self.connector.timeout() + Duration::from_millis(500)
    }

    /// The leases were renewed by a heartbeat sent at `at`.
    pub fn renewed_at(&self, at: Instant) {
        *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Wait while the leases have not been renewed for half their length
    /// (this process stalled, or the database is slow): nothing new is sent
    /// until they are, or the run stops (the guard decides). The half left
    /// is the margin for what is already in flight. `false`: the run
    /// stopped.
    pub(super) async fn hold_claim(&self) -> bool {
        loop {
            let since = self
                .renewed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed();
            if since <= CLAIM_STALE / 2 {
                return true;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = self.cancel.stopped() => return false,
            }
        }
    }

    pub(super) fn left(&self, r: &QueueRecipient) -> bool {
        self.opted_out
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&r.subscriber_id)
    }

    /// Count a failure of the server as a whole, with no reply in between:
    /// a failed connection weighs 2, a dropped session (a timeout, a reset,
    /// 421) 1. One failed connection per sender (at least 3), or two
    /// dropped sessions each, mean the server is unreachable: stop the run.
    /// (A few slow replies at the end of a pass are not enough.)
    pub(super) fn server_trouble(&self, what: String, weight: u32) {
        let n = self.trouble.fetch_add(weight, Ordering::Relaxed) + weight;
        let limit = 2 * (self.concurrency as u32).max(3);
        if n >= limit && self.cancel.stop(StopReason::Unreachable(what)) {
            tracing::debug!("campaign {}: {n} connection failures in a row", self.id);
        }
    }

    /// The size of this process's next claim (`policy::lease_size`): what is
    /// free to take, and how many processes may send it.
    pub(super) async fn claim_size(&self, now: chrono::DateTime<Utc>) -> Result<i64> {
        let store = &self.store;
        let processes = store.possible_senders(self.id, now, CLAIM_STALE).await?;
        let enough = 2 * processes.max(1) * FETCH_BATCH;
        let free = store.claimable(self.id, now, enough).await?;
        Ok(lease_size(free, processes))
    }
}

impl Shared {
    /// Count an outcome; past a limit, stop the run (paused by the
    /// breaker when it ends).
    pub(super) fn breaker_count(&self, item: &QueueItem, recorded: &Recorded) {
        let blocked_at = self.breaker.count(item, recorded);
        if matches!(recorded, Recorded::Failed { .. }) {
            self.breaker_check(Some(blocked_at.as_deref().unwrap_or("")));
        }
    }

    /// Stop the run if a limit is crossed (`only`: of the domains, check
    /// this one alone; `Some("")`: none).
    pub(super) fn breaker_check(&self, only: Option<&str>) {
        if let Some(why) = self.breaker.tripped_at(only) {
            if self.cancel.stop(StopReason::Breaker(why.clone())) {
                tracing::warn!("campaign {}: circuit breaker: {why}", self.id);
            }
        }
    }

    /// Read the asynchronous reports (at each heartbeat) and check.
    pub(super) async fn breaker_poll(&self) {
        match self
            .store
            .campaign_reports_since(self.id, self.breaker.since)
            .await
        {
            Ok((hard, complaints)) => self.breaker.reported(hard, complaints),
            Err(e) => tracing::warn!("campaign {}: reading its bounces: {e}", self.id),
        }
        self.breaker_check(None);
    }
}

impl Shared {
    /// The server said `reply` (too fast): slow the run down.
    pub(super) async fn too_fast(&self, reply: &Reply) {
        let Some(settled) = self.throttle.slow_down(reply, self.rate) else {
            return;
        };
        // Each message at its time, commands included.
        self.no_chaining.store(true, Ordering::Relaxed);
        self.pacer.set_throttled(Some(settled.rate));
        self.pacer.hold(CUT_EVERY).await;
        tracing::warn!(
            "campaign {}: {} says the campaign goes too fast ({}): {:.1} msg/s over {} connection(s) from now on",
            self.id,
            self.connector.describe(),
            settled.reply,
            settled.rate,
            settled.connections
        );
        self.settle(settled);
    }

    fn settle(&self, settled: Settled) {
        *self
            .progress
            .settled
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(settled);
    }

    /// Whether sender `index` may take a delivery now (the server asked
    /// for fewer connections: the others close theirs and wait). A quiet
    /// minute gives some rate and a connection back first.
    pub(super) async fn may_send(
        &self,
        index: usize,
        conn: &mut Option<Box<dyn Transport>>,
    ) -> bool {
        if let Some(settled) = self.throttle.recover() {
            self.pacer.set_throttled(Some(settled.rate));
            tracing::info!(
                "campaign {}: a quiet minute; {:.1} msg/s over {} connection(s) from now on",
                self.id,
                settled.rate,
                settled.connections
            );
            self.settle(settled);
        }
        if index < self.throttle.connections() {
            return true;
        }
        if let Some(c) = conn.take() {
            tokio::select! {
                _ = c.close() => {},
                _ = self.cancel.deadline(self.grace()) => {},
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {},
            _ = self.cancel.stopped() => {},
        }
        false
    }
}
