//! The send queue: stream a campaign's due deliveries from the store, send
//! them over `concurrency` connections at up to `rate` messages per second,
//! and record outcomes in batched transactions.
//!
//! Crash safety: a delivery is `pending` until its outcome is committed, so
//! after a kill nobody is skipped; a message is sent twice only if it was in
//! flight or its outcome was not yet committed. That is at most
//! `concurrency + OUTCOME_CHANNEL + OUTCOME_BATCH` messages (45 with the
//! default concurrency of 4).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{mpsc, watch, Mutex};

use super::mailer::{Connection, Mailer, SendError};
use crate::audience::Status;
use crate::config::Newsletter;
use crate::error::{Error, Result};
use crate::render::{message, Prepared, Recipient};
use crate::store::campaigns::{CampaignStatus, ClaimRefused, QueueItem, Recorded};
use crate::store::Store;

/// How often the sending process renews its claim on a campaign.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A claim older than this belongs to a process that died.
pub const CLAIM_STALE: Duration = Duration::from_secs(5);

/// Deliveries read from the store at a time.
pub const FETCH_BATCH: i64 = 500;
/// Outcomes written per transaction (at most).
pub const OUTCOME_BATCH: usize = 25;
/// Outcomes waiting for the writer (at most).
pub const OUTCOME_CHANNEL: usize = 16;
/// Outcomes are written at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct Options {
    pub concurrency: u32,
    pub rate: Option<f64>,
    pub retry_delay: Duration,
    pub max_attempts: u32,
    /// VERP sender and what a rejection does to the subscriber (bounces).
    pub bounces: crate::bounce::Policy,
}

impl Options {
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        Options {
            concurrency: s.smtp.concurrency,
            rate: s.smtp.rate,
            retry_delay: s.smtp.retry_delay,
            max_attempts: s.smtp.max_attempts,
            bounces: s.bounces.policy.clone(),
        }
    }

    /// The most messages that can be sent twice after a crash.
    pub fn duplicate_bound(&self) -> usize {
        self.concurrency as usize + OUTCOME_CHANNEL + OUTCOME_BATCH
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Done,
    /// Another process is sending this campaign; nothing was done.
    Busy,
    /// Stopped by a signal: the campaign stays `sending`, so the worker (or
    /// `campaigns resume`) continues it.
    Interrupted,
    /// Paused by `campaigns pause`; `campaigns resume` continues it.
    Paused,
    Cancelled,
    /// The server could not be reached; the campaign is paused.
    Unreachable(String),
}

/// Live counters for progress reports.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
    pub retried: std::sync::atomic::AtomicU64,
    pub skipped: std::sync::atomic::AtomicU64,
    /// Time to hand one message to the server (SMTP transaction).
    pub latency: Histogram,
}

/// A fixed-size latency histogram: buckets growing by 10% from 1 µs, so
/// memory does not grow with the audience.
#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<std::sync::atomic::AtomicU64>,
}

const BUCKETS: usize = 200;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| Default::default()).collect(),
        }
    }
}

impl Histogram {
    fn bucket(us: f64) -> usize {
        ((us.max(1.0).ln() / 1.1f64.ln()) as usize).min(BUCKETS - 1)
    }

    pub fn record(&self, d: Duration) {
        let b = Self::bucket(d.as_secs_f64() * 1e6);
        self.buckets[b].fetch_add(1, Ordering::Relaxed);
    }

    /// The `q` quantile (0..1), as the upper edge of its bucket.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(Duration::from_secs_f64(1.1f64.powi(i as i32 + 1) / 1e6));
            }
        }
        None
    }
}

/// A smooth rate limit shared by all connections.
struct Pacer {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Self {
        Pacer {
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r)),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

struct Shared {
    store: Store,
    mailer: Mailer,
    newsletter: Arc<Newsletter>,
    prepared: Prepared,
    /// The parts transfer-encoded once for the whole campaign.
    encoded: crate::render::Encoded,
    /// The email has `attribute(...)` slots: read recipients' attributes.
    uses_attributes: bool,
    opts: Options,
    pacer: Pacer,
    progress: Arc<Progress>,
    /// Set when the server is unreachable: stop the pass.
    unreachable: std::sync::Mutex<Option<String>>,
    stop: AtomicBool,
    consecutive_unreachable: AtomicU32,
    /// Subscribers who unsubscribed while the campaign runs (polled every
    /// `OPT_OUT_POLL`): they get nothing more from it.
    opted_out: std::sync::RwLock<std::collections::HashSet<i64>>,
}

/// How often the queue looks for addresses that unsubscribed meanwhile.
const OPT_OUT_POLL: Duration = Duration::from_millis(200);

/// Run campaign `id` until it is done, paused, cancelled or the server is
/// unreachable. `stop` turning true pauses it cleanly.
pub async fn run(
    store: &Store,
    mailer: &Mailer,
    newsletter: Arc<Newsletter>,
    id: i64,
    opts: Options,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Result<Finish> {
    let now = Utc::now();
    match store.claim_campaign(id, now, CLAIM_STALE).await? {
        Ok(()) => {}
        Err(ClaimRefused::Busy) => return Ok(Finish::Busy),
        Err(ClaimRefused::Unknown) => return Err(Error::msg(format!("no campaign {id}"))),
        Err(ClaimRefused::Finished(s)) => {
            return Err(Error::msg(format!(
                "campaign {id} is {} and cannot be sent",
                s.as_str()
            )))
        }
    }
    // Keep the claim alive while this process sends.
    let beat = {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                if let Err(e) = store.heartbeat(id, Utc::now()).await {
                    tracing::warn!("campaign {id}: heartbeat: {e}");
                }
            }
        })
    };
    let result = run_claimed(
        store, mailer, newsletter, id, opts, progress, &mut stop, now,
    )
    .await;
    beat.abort();
    store.release_campaign(id).await?;
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_claimed(
    store: &Store,
    mailer: &Mailer,
    newsletter: Arc<Newsletter>,
    id: i64,
    opts: Options,
    progress: Arc<Progress>,
    stop: &mut watch::Receiver<bool>,
    now: chrono::DateTime<Utc>,
) -> Result<Finish> {
    let prepared = store.campaign_prepared(id).await?;
    let shared = Arc::new(Shared {
        store: store.clone(),
        mailer: mailer.clone(),
        newsletter,
        encoded: prepared.encode(),
        uses_attributes: crate::render::uses_attributes(&prepared),
        prepared,
        pacer: Pacer::new(opts.rate),
        opts,
        progress,
        unreachable: std::sync::Mutex::new(None),
        stop: AtomicBool::new(false),
        consecutive_unreachable: AtomicU32::new(0),
        opted_out: Default::default(),
    });
    // Rows fetched in a batch carry the status of that moment; this keeps
    // later unsubscribes visible to the senders.
    let poller = {
        let shared = shared.clone();
        let since = now - chrono::Duration::seconds(5);
        tokio::spawn(async move {
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
        })
    };
    let result = run_passes(store, &shared, id, stop).await;
    poller.abort();
    result
}

async fn run_passes(
    store: &Store,
    shared: &Arc<Shared>,
    id: i64,
    stop: &mut watch::Receiver<bool>,
) -> Result<Finish> {
    loop {
        let finish = pass(shared, id, stop).await?;
        if let Some(f) = finish {
            return conclude(store, id, f).await;
        }
        let (pending, next) = store.pending_summary(id).await?;
        if pending == 0 {
            return conclude(store, id, Finish::Done).await;
        }
        // Wait for the next retry to fall due (or a stop).
        let wait = next
            .map(|n| (n - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(10));
        tracing::info!(
            "campaign {id}: {pending} deliveries wait for a retry in {}s",
            wait.as_secs()
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(stop) => return conclude(store, id, Finish::Interrupted).await,
        }
    }
}

/// Resolves when `stop` turns true (without holding its lock across awaits).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn conclude(store: &Store, id: i64, finish: Finish) -> Result<Finish> {
    let now = Utc::now();
    let sending = [CampaignStatus::Sending];
    match &finish {
        Finish::Done => {
            store
                .set_campaign_status(id, CampaignStatus::Done, &sending, None, now)
                .await?;
        }
        // `campaigns pause` already set the status; an interrupted campaign
        // stays `sending` for whoever runs the queue next.
        Finish::Paused | Finish::Interrupted | Finish::Busy => {}
        Finish::Unreachable(e) => {
            store
                .set_campaign_status(id, CampaignStatus::Paused, &sending, Some(e), now)
                .await?;
        }
        Finish::Cancelled => {}
    }
    Ok(finish)
}

/// One pass over the deliveries due now. `Some` ends the run.
async fn pass(
    shared: &Arc<Shared>,
    id: i64,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<Finish>> {
    let concurrency = shared.opts.concurrency as usize;
    let (work_tx, work_rx) = mpsc::channel::<QueueItem>(concurrency * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (out_tx, out_rx) = mpsc::channel::<(i64, Recorded)>(OUTCOME_CHANNEL);

    let writer = tokio::spawn(write_outcomes(shared.store.clone(), out_rx));
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        workers.push(tokio::spawn(worker(
            shared.clone(),
            work_rx.clone(),
            out_tx.clone(),
        )));
    }
    drop(out_tx);

    // Produce: stream due deliveries in id order.
    let mut after = 0;
    let mut last_check = Instant::now();
    let mut finish = None;
    'produce: loop {
        if *stop.borrow() {
            finish = Some(Finish::Interrupted);
            break;
        }
        if last_check.elapsed() > Duration::from_secs(1) {
            last_check = Instant::now();
            match shared.store.campaign_status(id).await? {
                Some(CampaignStatus::Sending) => {}
                Some(CampaignStatus::Cancelled) => {
                    finish = Some(Finish::Cancelled);
                    break;
                }
                _ => {
                    finish = Some(Finish::Paused);
                    break;
                }
            }
        }
        let items = shared
            .store
            .due_deliveries(id, after, Utc::now(), FETCH_BATCH)
            .await?;
        if items.is_empty() {
            break;
        }
        after = items.last().map(|i| i.delivery_id).unwrap_or(after);
        for item in items {
            if shared.stop.load(Ordering::Relaxed) {
                break 'produce;
            }
            tokio::select! {
                r = work_tx.send(item) => if r.is_err() { break 'produce },
                _ = stopped(stop) => {
                    finish = Some(Finish::Interrupted);
                    break 'produce;
                }
            }
        }
    }
    drop(work_tx);
    if finish.is_some() {
        // Let the messages in flight finish; take nothing new.
        shared.stop.store(true, Ordering::Relaxed);
    }
    for w in workers {
        w.await.map_err(|e| Error::msg(format!("send task: {e}")))?;
    }
    writer
        .await
        .map_err(|e| Error::msg(format!("outcome writer: {e}")))??;
    if let Some(e) = shared
        .unreachable
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return Ok(Some(Finish::Unreachable(e)));
    }
    Ok(finish)
}

async fn worker(
    shared: Arc<Shared>,
    work: Arc<Mutex<mpsc::Receiver<QueueItem>>>,
    out: mpsc::Sender<(i64, Recorded)>,
) {
    let mut conn: Option<Connection> = None;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let item = { work.lock().await.recv().await };
        let Some(item) = item else { break };
        let Some(recorded) = deliver(&shared, &mut conn, &item).await else {
            // Nothing was sent and nothing is recorded (unreachable).
            continue;
        };
        // bounces: a final SMTP rejection is a bounce for the subscriber.
        if let Recorded::Failed { reply, .. } = &recorded {
            let (store, policy) = (&shared.store, &shared.opts.bounces);
            let done = store.record_smtp_failure(item.delivery_id, reply, policy, Utc::now());
            if let Err(e) = done.await {
                tracing::warn!("delivery {}: recording the bounce: {e}", item.delivery_id);
            }
        }
        match &recorded {
            Recorded::Sent { .. } => shared.progress.sent.fetch_add(1, Ordering::Relaxed),
            Recorded::Failed { .. } => shared.progress.failed.fetch_add(1, Ordering::Relaxed),
            Recorded::Retry { .. } => shared.progress.retried.fetch_add(1, Ordering::Relaxed),
            Recorded::Skipped => shared.progress.skipped.fetch_add(1, Ordering::Relaxed),
        };
        if out.send((item.delivery_id, recorded)).await.is_err() {
            break;
        }
    }
    if let Some(c) = conn {
        c.close().await;
    }
}

/// Send one delivery; `None` when the server could not be reached.
async fn deliver(
    shared: &Shared,
    conn: &mut Option<Connection>,
    item: &QueueItem,
) -> Option<Recorded> {
    let Some(r) = item
        .recipient
        .as_ref()
        .filter(|r| r.status == Status::Active)
    else {
        return Some(Recorded::Skipped);
    };
    let left = |r: &crate::store::campaigns::QueueRecipient| {
        shared
            .opted_out
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&r.subscriber_id)
    };
    if left(r) {
        return Some(Recorded::Skipped);
    }
    let nl = &shared.newsletter;
    let recipient = Recipient {
        email: r.email.clone(),
        name: r.name.clone(),
        unsubscribe_url: format!("{}/unsubscribe/{}", nl.public_url, r.unsub_token),
        confirm_url: None,
        attributes: if shared.uses_attributes {
            r.attributes
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
        } else {
            None
        },
    };
    let message_id = message::new_message_id(nl);
    let msg = match message::build_encoded(
        nl,
        &shared.prepared,
        &shared.encoded,
        &recipient,
        message_id.clone(),
    ) {
        Ok(m) => m,
        Err(e) => {
            return Some(Recorded::Failed {
                reply: e.to_string(),
                attempts: item.attempts + 1,
            })
        }
    };
    let bytes = msg.formatted();
    shared.pacer.wait().await;
    if conn.as_ref().is_none_or(|c| !c.is_usable()) {
        match shared.mailer.connect().await {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                let n = shared
                    .consecutive_unreachable
                    .fetch_add(1, Ordering::Relaxed)
                    + 1;
                // A few failed connects in a row: the server is down.
                if n >= shared.opts.concurrency.max(3) {
                    *shared.unreachable.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(e.to_string());
                    shared.stop.store(true, Ordering::Relaxed);
                }
                return None;
            }
        }
    }
    if left(r) {
        return Some(Recorded::Skipped);
    }
    let c = conn.as_mut().expect("connected above");
    let started = Instant::now();
    // bounces: VERP envelope sender when `[bounces] address` is set.
    let envelope = crate::bounce::verp::envelope(
        shared.opts.bounces.address.as_ref(),
        msg.envelope(),
        &message_id,
    );
    let result = c.send(&envelope, &bytes).await;
    shared.progress.latency.record(started.elapsed());
    shared.consecutive_unreachable.store(0, Ordering::Relaxed);
    let attempts = item.attempts + 1;
    let retry_at = |delay: Duration| {
        Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(30))
    };
    Some(match result {
        Ok(()) => Recorded::Sent {
            message_id,
            at: Utc::now(),
        },
        Err(SendError::Permanent(reply)) => Recorded::Failed { reply, attempts },
        Err(SendError::Temporary(reply)) | Err(SendError::Unreachable(reply))
            if attempts >= shared.opts.max_attempts as i64 =>
        {
            Recorded::Failed { reply, attempts }
        }
        Err(SendError::Connection(reply)) if attempts >= shared.opts.max_attempts as i64 => {
            Recorded::Failed { reply, attempts }
        }
        Err(SendError::Temporary(reply)) | Err(SendError::Unreachable(reply)) => {
            // retry_delay, doubling with each attempt.
            let factor = 1u32 << (attempts - 1).clamp(0, 16) as u32;
            Recorded::Retry {
                reply,
                attempts,
                next: retry_at(shared.opts.retry_delay * factor),
            }
        }
        Err(SendError::Connection(reply)) => {
            // Dropped mid-message: retry at once on a new connection.
            *conn = None;
            Recorded::Retry {
                reply,
                attempts,
                next: Utc::now(),
            }
        }
    })
}

/// Write outcomes in batches: every `OUTCOME_BATCH` or `FLUSH_EVERY`.
async fn write_outcomes(store: Store, mut rx: mpsc::Receiver<(i64, Recorded)>) -> Result<()> {
    let mut buf: Vec<(i64, Recorded)> = Vec::with_capacity(OUTCOME_BATCH);
    loop {
        let deadline = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(deadline);
        let closed = loop {
            tokio::select! {
                item = rx.recv() => match item {
                    Some(x) => {
                        buf.push(x);
                        if buf.len() >= OUTCOME_BATCH { break false; }
                    }
                    None => break true,
                },
                _ = &mut deadline => break false,
            }
        };
        store.record(&buf).await?;
        buf.clear();
        if closed {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let h = Histogram::default();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us * 10));
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64() * 1e6;
        let p99 = h.quantile(0.99).unwrap().as_secs_f64() * 1e6;
        assert!((500.0..=560.0).contains(&p50), "{p50}");
        assert!((990.0..=1100.0).contains(&p99), "{p99}");
        assert!(Histogram::default().quantile(0.5).is_none());
    }
}
