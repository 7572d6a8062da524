//! Running a campaign: join it, keep this process's heartbeat and leases
//! alive (and watch for `campaigns pause`/`cancel`), run passes until
//! nothing is pending, and store how it ended. Several processes (workers
//! on several hosts, a foreground `gazette send`) may run one campaign at
//! once: each leases its own deliveries, and `smtp.rate` is shared among
//! the live ones.
//!
//! Crash safety: a delivery is `pending` until its outcome is committed, so
//! after a kill nobody is skipped; a message is sent twice only if it was in
//! flight or its outcome was not yet committed. That is at most
//! `concurrency + OUTCOME_CHANNEL + OUTCOME_BATCH` messages (45 with the
//! default concurrency of 4) per interruption of one process.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::cancel::{Cancel, StopReason};
use super::pass::{self, OUTCOME_BATCH, OUTCOME_CHANNEL};
use super::policy::RetryPolicy;
use super::progress::{Pacer, Progress};
use super::shared::Shared;
use super::transport::Connector;
use crate::config::Newsletter;
use crate::error::{Error, Result};
use crate::render::Prepared;
use crate::store::campaigns::{CampaignStatus, ClaimRefused};
use crate::store::claims::{ClaimOwner, Ending};
use crate::store::Store;

/// How often a sending process renews its heartbeat and leases (and reads
/// the campaign's status, to notice `campaigns pause`/`cancel`).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A heartbeat leaves alone the leases taken less than this before it
/// (they end at most this much before the ones it renews): rewriting a
/// batch claimed a moment ago would only cost (on PostgreSQL a row
/// version, index entries and WAL per row, and row locks the outcome
/// writer waits for). The beat counts as a renewal this much earlier.
const RENEW_SKIP: Duration = Duration::from_millis(500);
pub use super::policy::CLAIM_STALE;
/// How often the queue looks for addresses that unsubscribed meanwhile.
const OPT_OUT_POLL: Duration = Duration::from_millis(200);
/// The longest the worker waits between retries of an unreachable server.
pub const UNREACHABLE_RETRY_MAX: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct Options {
    pub concurrency: u32,
    pub rate: Option<f64>,
    pub retry_delay: Duration,
    pub max_attempts: u32,
    /// The first wait before the worker retries a campaign paused because
    /// the server was unreachable; doubles up to an hour.
    pub unreachable_retry: Duration,
    /// VERP sender and what a rejection does to the subscriber (bounces).
    pub bounces: crate::config::BouncePolicy,
    /// The circuit breaker's limits (`[send]`).
    pub safety: crate::config::SendSafety,
}

/// The most messages that can be sent twice after one interruption of a
/// run at `concurrency`: those in flight, those waiting for the outcome
/// writer and one batch being written (docs/sending.md).
pub const fn duplicate_bound(concurrency: usize) -> usize {
    concurrency + OUTCOME_CHANNEL + OUTCOME_BATCH
}

impl Options {
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        Options {
            concurrency: s.smtp.concurrency,
            rate: s.smtp.rate,
            retry_delay: s.smtp.retry_delay,
            max_attempts: s.smtp.max_attempts,
            unreachable_retry: s.worker.unreachable_retry,
            bounces: s.bounces.policy.clone(),
            safety: s.send.clone(),
        }
    }

    /// The wait before retry number `tries` (1-based) of an unreachable
    /// server: `unreachable_retry`, doubling, at most an hour.
    pub fn unreachable_backoff(&self, tries: u32) -> Duration {
        let factor = 1u32 << tries.saturating_sub(1).min(16);
        self.unreachable_retry
            .saturating_mul(factor)
            .min(UNREACHABLE_RETRY_MAX)
    }
}

/// Everything a campaign run needs.
#[derive(Clone)]
pub struct RunSpec {
    pub store: Store,
    pub connector: Arc<dyn Connector>,
    pub newsletter: Arc<Newsletter>,
    pub opts: Options,
    /// Turning true stops the run gracefully (a signal).
    pub stop: watch::Receiver<bool>,
    /// An operator's `send` or `campaigns resume` (true), or the worker:
    /// only the former restarts a paused campaign.
    pub foreground: bool,
}

/// How a run ended; the status stored agrees with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Done,
    /// Stopped by a signal: the campaign stays `sending`, so the worker (or
    /// `campaigns resume`) continues it.
    Interrupted,
    /// Paused by `campaigns pause`; `campaigns resume` continues it.
    Paused,
    Cancelled,
    /// The server could not be reached; the campaign is paused and the
    /// worker retries it after `retry_in`.
    Unreachable {
        error: String,
        retry_in: Duration,
    },
    /// The database failed (e.g. locked past its busy timeout): stopped,
    /// the campaign continues at the next run.
    Store(String),
    /// Another process took deliveries this one had leased (it stalled
    /// past the lease): stopped at once.
    LostClaim(String),
    /// The circuit breaker paused it (the limit crossed);
    /// `campaigns resume ID --force` continues it.
    Breaker(String),
}

/// The owner of a claim made by this process: host (and pid namespace),
/// pid, a random id.
pub fn this_owner() -> ClaimOwner {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    // Process ids are only comparable within one pid namespace: two
    // containers with the same host name must not take each other's
    // claims for dead ones.
    let host = match std::fs::read_link("/proc/self/ns/pid") {
        Ok(ns) => format!("{host} ({})", ns.display()),
        Err(_) => host,
    };
    ClaimOwner {
        host,
        pid: std::process::id() as i64,
        id: crate::util::ids::random_hex(12),
    }
}

/// Whether process `pid` on this host is gone (or a zombie). Unknown (no
/// `/proc`) counts as alive: the lease decides then.
pub fn pid_is_dead(pid: i64) -> bool {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Only a missing entry means gone: an entry we may not read
        // (hidepid, another user) belongs to a live process.
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Run campaign `id` until it is done, paused, cancelled, the server is
/// unreachable, or `spec.stop` turns true.
pub async fn run(spec: &RunSpec, id: i64, progress: Arc<Progress>) -> Result<Finish> {
    let owner = this_owner();
    let claimed = spec
        .store
        .join_campaign(id, &owner, spec.foreground, Utc::now(), &pid_is_dead)
        .await?;
    match claimed {
        Ok(()) => {}
        Err(ClaimRefused::Paused) => return Ok(Finish::Paused),
        Err(ClaimRefused::Unknown) => return Err(Error::msg(format!("no campaign {id}"))),
        // The worker came to help (or retry) and found it over: another
        // process finished it, or an operator cancelled it, an instant
        // before. Nothing went wrong (two workers race for every campaign
        // they both see).
        Err(ClaimRefused::Finished(CampaignStatus::Done)) if !spec.foreground => {
            return Ok(Finish::Done)
        }
        Err(ClaimRefused::Finished(CampaignStatus::Cancelled)) if !spec.foreground => {
            return Ok(Finish::Cancelled)
        }
        Err(ClaimRefused::Finished(s)) => {
            return Err(Error::msg(format!(
                "campaign {id} is {} and cannot be sent",
                s.as_str()
            )))
        }
    }
    let prepared = match spec.store.campaign_prepared::<Prepared>(id).await {
        Ok(p) => p,
        Err(e) => {
            let why = format!("its stored email cannot be read: {e}");
            let ending = Ending::Failed(&why);
            spec.store
                .finish_claim(id, &owner.id, ending, Utc::now())
                .await?;
            return Err(Error::msg(format!("campaign {id} failed: {why}")));
        }
    };
    let cancel = Cancel::default();
    let follower = cancel.follow(spec.stop.clone(), StopReason::Signal);
    let shared = Arc::new(Shared {
        id,
        claim: owner.id.clone(),
        store: spec.store.clone(),
        connector: spec.connector.clone(),
        newsletter: spec.newsletter.clone(),
        encoded: prepared.encode(),
        // Should lettre refuse the shared parts, each message is built
        // whole and fails with lettre's reason.
        skeleton: crate::render::message::Skeleton::new(&spec.newsletter, &prepared)
            .ok()
            .flatten(),
        uses_attributes: crate::render::uses_attributes(&prepared),
        prepared,
        concurrency: spec.opts.concurrency.max(1) as usize,
        retry: RetryPolicy {
            retry_delay: spec.opts.retry_delay,
            max_attempts: spec.opts.max_attempts,
        },
        pacer: Pacer::new(spec.opts.rate),
        rate: spec.opts.rate,
        progress,
        cancel: cancel.clone(),
        opted_out: Default::default(),
        trouble: Default::default(),
        throttle: super::throttle::Throttle::new(spec.opts.concurrency.max(1) as usize),
        breaker: super::breaker::Breaker::new(spec.opts.safety.clone(), Utc::now()),
        bounces: spec.opts.bounces.clone(),
        renewed: std::sync::Mutex::new(std::time::Instant::now()),
        no_chaining: spec.opts.rate.is_some().into(),
    });
    let guard = tokio::spawn(guard(shared.clone()));
    let poller = tokio::spawn(poll_opt_outs(shared.clone()));
    run_all(&shared).await;
    poller.abort();
    let finish = conclude(spec, &shared).await;
    guard.abort();
    follower.abort();
    finish
}

/// The canary first (when the campaign has one to finish), then the rest.
async fn run_all(shared: &Arc<Shared>) {
    let canary = match super::canary::begin(shared).await {
        Ok(c) => c,
        Err(e) => {
            let why = format!("starting the canary: {e}");
            shared.cancel.stop(StopReason::Store(why));
            return;
        }
    };
    run_passes(shared).await;
    if canary && !shared.cancel.is_stopped() && super::canary::judge(shared).await {
        run_passes(shared).await;
    }
}

/// Passes until nothing is pending (but what a canary holds back) or the
/// run stops.
async fn run_passes(shared: &Arc<Shared>) {
    let cancel = &shared.cancel;
    while !cancel.is_stopped() {
        pass::run(shared).await;
        if cancel.is_stopped() {
            return;
        }
        let summary = tokio::select! {
            s = after_pass(shared) => s,
            _ = cancel.stopped() => return,
        };
        let (pending, next) = match summary {
            Ok(Some((_, Some(next)))) if crate::store::safety::is_held(next) => return,
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                cancel.stop(StopReason::Store(format!("reading the queue: {e}")));
                return;
            }
        };
        // Wait for the next retry to fall due (or a stop).
        let wait = next
            .map(|n| (n - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(10));
        tracing::info!(
            "campaign {}: {pending} deliveries wait for a retry (or another process's lease) for {}s",
            shared.id,
            wait.as_secs()
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.stopped() => return,
        }
    }
}

/// After a pass: give back what this process leased but did not send, and
/// mark the campaign done if nothing is pending (whoever empties the queue
/// does). `None`: the campaign is finished (or no longer `sending`);
/// otherwise how many are pending and when the next can be taken.
async fn after_pass(shared: &Shared) -> Result<Option<(i64, Option<chrono::DateTime<Utc>>)>> {
    let store = &shared.store;
    store.release_leases(&shared.claim).await?;
    let (pending, next) = store.pending_summary(shared.id, Utc::now()).await?;
    if pending == 0 {
        store.finish_if_empty(shared.id, Utc::now()).await?;
        return Ok(None);
    }
    if store.campaign_status(shared.id).await? != Some(CampaignStatus::Sending) {
        return Ok(None);
    }
    Ok(Some((pending, next)))
}

/// Renew the heartbeat and leases every `HEARTBEAT` (and share `smtp.rate`
/// among the live senders of the campaign); stop the run when the campaign
/// was paused or cancelled, when this process was found dead, or when the
/// leases could not be renewed for longer than the lease.
async fn guard(shared: Arc<Shared>) {
    let id = shared.id;
    let mut last_ok = std::time::Instant::now();
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        // A slow answer (a loaded machine) still counts, up to the lease.
        let limit = CLAIM_STALE.saturating_sub(last_ok.elapsed()).max(HEARTBEAT);
        let sent_at = std::time::Instant::now();
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(CLAIM_STALE).unwrap_or_default();
        let before = until - chrono::Duration::from_std(RENEW_SKIP).unwrap_or_default();
        let beat = shared
            .store
            .heartbeat_before(id, &shared.claim, now, until, before);
        let beat = tokio::time::timeout(limit, beat).await;
        // Every lease held now runs until `before` at least: as if all
        // were renewed RENEW_SKIP before this beat was sent.
        let renewed = sent_at.checked_sub(RENEW_SKIP).unwrap_or(sent_at);
        let reason = match beat {
            // Renewed, but only after the leases had lapsed: another
            // process may hold some of the rows this one still has in hand.
            Ok(Ok(Some(CampaignStatus::Sending)))
                if sent_at.duration_since(last_ok) > CLAIM_STALE =>
            {
                StopReason::LostClaim(format!(
                    "another process took the campaign over (this one could not renew its leases for {}s)",
                    CLAIM_STALE.as_secs()
                ))
            }
            Ok(Ok(Some(CampaignStatus::Sending))) => {
                last_ok = renewed;
                shared.renewed_at(renewed);
                tokio::join!(share_rate(&shared), shared.breaker_poll());
                continue;
            }
            Ok(Ok(Some(CampaignStatus::Cancelled))) => StopReason::Cancelled,
            // Another process emptied the queue while this one waited
            // (for a retry, or for that process's leases).
            Ok(Ok(Some(CampaignStatus::Done))) => StopReason::Finished,
            Ok(Ok(Some(_))) => StopReason::Paused,
            Ok(Ok(None)) => StopReason::LostClaim(
                "another process found this one dead and took its deliveries".into(),
            ),
            Ok(Err(e)) if last_ok.elapsed() > CLAIM_STALE => StopReason::Store(format!(
                "could not renew the claim for {}s: {e}",
                CLAIM_STALE.as_secs()
            )),
            Err(_) if last_ok.elapsed() > CLAIM_STALE => StopReason::Store(format!(
                "could not renew the claim for {}s: the database is busy",
                CLAIM_STALE.as_secs()
            )),
            Ok(Err(e)) => {
                tracing::warn!("campaign {id}: heartbeat: {e}");
                continue;
            }
            Err(_) => continue,
        };
        shared.cancel.stop(reason);
    }
}

/// `smtp.rate` is a limit for the campaign as a whole: each of its live
/// senders takes an equal share.
async fn share_rate(shared: &Shared) {
    let Some(rate) = shared.rate else { return };
    let live = shared.store.live_senders(Utc::now(), CLAIM_STALE).await;
    if let Ok(live) = live {
        let n = live
            .iter()
            .filter(|s| s.campaign == Some(shared.id))
            .count();
        shared.pacer.set_rate(Some(rate / n.max(1) as f64));
    }
}

/// Rows fetched in a batch carry the status of that moment; this keeps
/// later unsubscribes visible to the senders.
async fn poll_opt_outs(shared: Arc<Shared>) {
    let since = Utc::now() - chrono::Duration::seconds(5);
    loop {
        if let Ok(ids) = shared.store.unsubscribed_since(since).await {
            shared
                .opted_out
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .extend(ids);
        }
        tokio::time::sleep(OPT_OUT_POLL).await;
    }
}

async fn finish_within(
    store: &Store,
    id: i64,
    claim: &str,
    ending: Ending<'_>,
    limit: Duration,
) -> Result<bool> {
    tokio::time::timeout(limit, store.finish_claim(id, claim, ending, Utc::now()))
        .await
        .unwrap_or_else(|_| Err(Error::msg("database: still busy")))
}

/// Store how the run ended and give up the claim; the finish reported is
/// the one stored.
async fn conclude(spec: &RunSpec, shared: &Shared) -> Result<Finish> {
    let (id, claim, store) = (shared.id, shared.claim.as_str(), &spec.store);
    let now = Utc::now();
    // Bounded: a locked database must not hold the process.
    let bounded = Duration::from_secs(2) + shared.grace();
    let db_failed = matches!(
        shared.cancel.reason(),
        Some(StopReason::Store(_) | StopReason::LostClaim(_))
    );
    if let Some(settled) = shared.throttle.settled() {
        let what = settled.describe();
        tracing::info!("campaign {id}: {what}");
    }
    if let Some(settled) = shared.throttle.settled().filter(|_| !db_failed) {
        let what = settled.describe();
        let stored = store.set_settled_rate(id, settled.rate, &what);
        if let Ok(Err(e)) = tokio::time::timeout(bounded, stored).await {
            tracing::warn!("campaign {id}: storing the rate it settled at: {e}");
        }
    }
    let write = |ending: Ending<'static>| finish_within(store, id, claim, ending, bounded);
    let finish = match shared.cancel.reason() {
        None => {
            write(Ending::Done).await?;
            Finish::Done
        }
        Some(StopReason::Signal) => {
            write(Ending::Release).await?;
            Finish::Interrupted
        }
        Some(StopReason::Paused) => {
            write(Ending::Release).await?;
            Finish::Paused
        }
        Some(StopReason::Finished) => {
            write(Ending::Release).await?;
            Finish::Done
        }
        Some(StopReason::Cancelled) => {
            write(Ending::Release).await?;
            Finish::Cancelled
        }
        Some(StopReason::Unreachable(error)) => {
            let tries = store.unreachable_tries(id).await.unwrap_or(0) + 1;
            let retry_in = spec.opts.unreachable_backoff(tries);
            let retry_at = now + chrono::Duration::from_std(retry_in).unwrap_or_default();
            let ending = Ending::Unreachable {
                error: &error,
                retry_at,
            };
            finish_within(store, id, claim, ending, bounded).await?;
            Finish::Unreachable { error, retry_in }
        }
        Some(StopReason::Breaker(why)) => {
            finish_within(store, id, claim, Ending::Breaker(&why), bounded).await?;
            Finish::Breaker(why)
        }
        // The database is what failed: write nothing more. The claim lapses
        // with the lease (or at once, once this process has exited).
        Some(StopReason::Store(e)) => return Ok(Finish::Store(e)),
        // The claim is another process's: write nothing.
        Some(StopReason::LostClaim(e)) => return Ok(Finish::LostClaim(e)),
    };
    // The status may have changed meanwhile (a pause just as the last
    // message went): report what is stored.
    let stored = tokio::time::timeout(bounded, store.campaign_status(id))
        .await
        .unwrap_or(Ok(None))?;
    Ok(match (finish, stored) {
        (Finish::Done, Some(CampaignStatus::Paused)) => Finish::Paused,
        (Finish::Done | Finish::Unreachable { .. }, Some(CampaignStatus::Cancelled)) => {
            Finish::Cancelled
        }
        (f, _) => f,
    })
}
