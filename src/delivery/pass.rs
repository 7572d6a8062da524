//! One pass over the deliveries due now: a producer streams them from the
//! store, `concurrency` senders hand them to transports, one writer records
//! outcomes in batches. All of it stops on the run's one `Cancel`: nothing
//! new is taken once it fires, and what is in flight is given up
//! `grace` (= `smtp.timeout` + ½ s) later, so a pass always ends within
//! that time of its cause.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{mpsc, Mutex};

use super::cancel::StopReason;
use super::policy::{self, Reply};
use super::ready::{prepare, Prep, Ready};
use super::shared::Shared;
use super::transport::{Opened, Transport};
use crate::store::campaigns::{QueueItem, Recorded};

/// Outcomes written per transaction (at most).
pub const OUTCOME_BATCH: usize = 25;
/// Outcomes waiting for the writer (at most).
pub const OUTCOME_CHANNEL: usize = 16;
/// Outcomes are written at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Run one pass; returns when nothing more is due now or the run stopped.
pub async fn run(shared: &Arc<Shared>) {
    let (work_tx, work_rx) = mpsc::channel::<QueueItem>(shared.concurrency * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (out_tx, out_rx) = mpsc::channel::<(i64, Recorded)>(OUTCOME_CHANNEL);
    let writer = tokio::spawn(write_outcomes(shared.clone(), out_rx));
    let senders: Vec<_> = (0..shared.concurrency)
        .map(|i| tokio::spawn(sender(shared.clone(), i, work_rx.clone(), out_tx.clone())))
        .collect();
    drop(out_tx);
    // The producer runs as a task too: on the caller's thread (a
    // `block_on`) every hand-over to a sender was a wake-up across
    // threads (a futex call each way; 12% of CPU in the profile).
    let producer = {
        let shared = shared.clone();
        tokio::spawn(async move { produce(&shared, work_tx).await })
    };
    if let Err(e) = producer.await {
        shared
            .cancel
            .stop(StopReason::Store(format!("queue reader: {e}")));
    }
    for s in senders {
        if let Err(e) = s.await {
            shared
                .cancel
                .stop(StopReason::Store(format!("send task: {e}")));
        }
    }
    if let Err(e) = writer.await {
        shared
            .cancel
            .stop(StopReason::Store(format!("outcome writer: {e}")));
    }
}

/// Lease due deliveries in batches and stream them to the senders. The
/// next batch is leased while this one is handed over, so the senders
/// never wait for a claim (on PostgreSQL a claim of 500 takes about as
/// long as sending 50 messages).
async fn produce(shared: &Arc<Shared>, work: mpsc::Sender<QueueItem>) {
    let cancel = &shared.cancel;
    let claim = |shared: Arc<Shared>| {
        tokio::spawn(async move {
            let now = Utc::now();
            let until =
                now + chrono::Duration::from_std(super::policy::CLAIM_STALE).unwrap_or_default();
            let limit = shared.claim_size(now).await?;
            let items = shared
                .store
                .claim_batch(shared.id, &shared.claim, now, until, limit)
                .await?;
            Ok::<_, crate::error::Error>((items, limit))
        })
    };
    let mut claiming = claim(shared.clone());
    loop {
        let items = tokio::select! {
            r = &mut claiming => r,
            _ = cancel.stopped() => {
                let_finish(claiming).await;
                return;
            }
        };
        let items = match items {
            // The claim's error, or its task's.
            Ok(claimed) => claimed.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let (items, limit) = match items {
            Ok((items, _)) if items.is_empty() => return,
            Ok(claimed) => claimed,
            Err(why) => {
                cancel.stop(StopReason::Store(format!("reading the queue: {why}")));
                return;
            }
        };
        // A short batch was the last of what is due now.
        let last = (items.len() as i64) < limit;
        if !last {
            claiming = claim(shared.clone());
        }
        for item in items {
            let stopped = tokio::select! {
                r = work.send(item) => r.is_err(),
                _ = cancel.stopped() => true,
            };
            if stopped {
                if !last {
                    let_finish(claiming).await;
                }
                return;
            }
        }
        if last {
            return;
        }
    }
}

/// A claim in flight when the run stops is let finish (its leases are given
/// back with the run's others by `finish_claim`) rather than cancelled: a
/// claim dropped inside its transaction could leave a pooled PostgreSQL
/// connection in an open transaction that later writes (the run's own
/// ending) went into and never committed. Bounded: a claim stuck behind a
/// locked database is aborted after a second.
async fn let_finish<T>(claiming: tokio::task::JoinHandle<T>) {
    let abort = claiming.abort_handle();
    if tokio::time::timeout(Duration::from_secs(1), claiming)
        .await
        .is_err()
    {
        abort.abort();
    }
}

async fn sender(
    shared: Arc<Shared>,
    index: usize,
    work: Arc<Mutex<mpsc::Receiver<QueueItem>>>,
    out: mpsc::Sender<(i64, Recorded)>,
) {
    let mut conn: Option<Box<dyn Transport>> = None;
    // The delivery taken behind the last one, and whether its transaction
    // is open on `conn` already (its content is all that is left to send).
    let mut ahead: Option<(Ready, bool)> = None;
    while !shared.cancel.is_stopped() {
        let (msg, open) = match ahead.take() {
            Some(a) => a,
            None => {
                if !shared.may_send(index, &mut conn).await {
                    // Waiting for its turn; over once nothing more comes.
                    let drained = work.try_lock().is_ok_and(|w| w.is_closed() && w.is_empty());
                    if drained {
                        break;
                    }
                    continue;
                }
                let item = tokio::select! {
                    biased;
                    _ = shared.cancel.stopped() => None,
                    item = async { work.lock().await.recv().await } => item,
                };
                let Some(item) = item else { break };
                match prepare(&shared, item) {
                    Prep::Ready(msg) => (msg, false),
                    Prep::Done(item, recorded) => {
                        if !report(&shared, &out, &item, recorded).await {
                            break;
                        }
                        continue;
                    }
                }
            }
        };
        // The next delivery, if one is waiting already: its transaction
        // is opened behind this message, in the same write.
        let next = if shared.no_chaining.load(Ordering::Relaxed) {
            None
        } else {
            match waiting(&shared, &work, &out).await {
                Ok(next) => next,
                Err(()) => break,
            }
        };
        let (recorded, opened) = transmit(&shared, &mut conn, &msg, open, next.as_ref()).await;
        if let Some(recorded) = recorded {
            if !report(&shared, &out, &msg.item, recorded).await {
                break;
            }
        }
        let Some(next) = next else { continue };
        match opened_ahead(&shared, &out, opened, next).await {
            Ok(a) => ahead = a,
            Err(()) => break,
        }
    }
    if let Some(c) = conn {
        tokio::select! {
            _ = c.close() => {},
            _ = shared.cancel.deadline(shared.grace()) => {},
        }
    }
}

/// What became of the transaction opened behind a message: the delivery
/// to send next (and whether its transaction is open), or nothing (it was
/// refused, and recorded). `Err`: the run is over.
async fn opened_ahead(
    shared: &Shared,
    out: &mpsc::Sender<(i64, Recorded)>,
    opened: Opened,
    next: Ready,
) -> Result<Option<(Ready, bool)>, ()> {
    match opened {
        Opened::Yes => Ok(Some((next, true))),
        Opened::No => Ok(Some((next, false))),
        Opened::Lost => {
            // A server that does not answer commands behind the final
            // dot gets one transaction per write for the rest of the run.
            if !shared.no_chaining.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    "campaign {}: {} did not answer commands sent behind a message; sending one transaction per write",
                    shared.id,
                    shared.connector.describe()
                );
            }
            Ok(Some((next, false)))
        }
        Opened::Refused(reply) => match judge(shared, &next, &reply).await {
            Some(recorded) => match report(shared, out, &next.item, recorded).await {
                true => Ok(None),
                false => Err(()),
            },
            None => Ok(None),
        },
    }
}

/// The next delivery if the queue has one ready now (never waits), built;
/// one with nothing to send is recorded instead. `Err`: the run is over.
async fn waiting(
    shared: &Shared,
    work: &Mutex<mpsc::Receiver<QueueItem>>,
    out: &mpsc::Sender<(i64, Recorded)>,
) -> Result<Option<Ready>, ()> {
    let Some(item) = work.try_lock().ok().and_then(|mut w| w.try_recv().ok()) else {
        return Ok(None);
    };
    match prepare(shared, item) {
        Prep::Ready(n) => Ok(Some(n)),
        Prep::Done(item, recorded) => match report(shared, out, &item, recorded).await {
            true => Ok(None),
            false => Err(()),
        },
    }
}

/// Count an outcome and hand it to the writer (a final rejection is also
/// a bounce for the subscriber). `false`: the run is over.
async fn report(
    shared: &Shared,
    out: &mpsc::Sender<(i64, Recorded)>,
    item: &QueueItem,
    recorded: Recorded,
) -> bool {
    // bounces: a final SMTP rejection is a bounce for the subscriber.
    if let Some(bounce) = match &recorded {
        Recorded::Failed { reply, .. } => crate::bounce::smtp_record(reply),
        _ => None,
    } {
        let done =
            shared
                .store
                .record_smtp_failure(item.delivery_id, bounce, &shared.bounces, Utc::now());
        // Like every wait here, given up after a stop's grace.
        let done = tokio::select! {
            r = done => r,
            _ = shared.cancel.deadline(shared.grace()) => return false,
        };
        if let Err(e) = done {
            tracing::warn!("delivery {}: recording the bounce: {e}", item.delivery_id);
        }
    }
    shared.breaker_count(item, &recorded);
    let counter = match &recorded {
        Recorded::Sent { .. } => {
            shared.throttle.accepted();
            &shared.progress.sent
        }
        Recorded::Failed { .. } => &shared.progress.failed,
        Recorded::Retry { .. } => &shared.progress.retried,
        Recorded::Skipped => &shared.progress.skipped,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    tokio::select! {
        r = out.send((item.delivery_id, recorded)) => r.is_ok(),
        _ = shared.cancel.deadline(shared.grace()) => false,
    }
}

/// Send one message (`open`: its transaction is open on `conn` already),
/// and open `next`'s behind it where the session allows. `None`: nothing
/// was sent (no connection, or the run stopped first).
async fn transmit(
    shared: &Shared,
    conn: &mut Option<Box<dyn Transport>>,
    msg: &Ready,
    open: bool,
    next: Option<&Ready>,
) -> (Option<Recorded>, Opened) {
    let skipped = (Some(Recorded::Skipped), Opened::No);
    tokio::select! {
        _ = shared.pacer.wait() => {},
        _ = shared.cancel.stopped() => return (None, Opened::No),
    }
    if conn.as_ref().is_none_or(|c| !c.is_usable()) {
        *conn = None;
        let connected = tokio::select! {
            c = shared.connector.connect() => c,
            _ = shared.cancel.stopped() => return (None, Opened::No),
        };
        match connected {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                shared.server_trouble(e, 2);
                return (None, Opened::No);
            }
        }
    }
    if msg.item.recipient.as_ref().is_some_and(|r| shared.left(r)) {
        if open {
            // Its transaction cannot be undone, only dropped.
            *conn = None;
        }
        return skipped;
    }
    if !shared.hold_claim().await {
        return (None, Opened::No);
    }
    let Some(c) = conn.as_mut() else {
        return (None, Opened::No);
    };
    let started = Instant::now();
    // Bounded by the transport's timeout; the deadline is a second guard.
    let sent = async {
        match next {
            Some(n) => {
                c.send_and_open(&msg.envelope, &msg.bytes, (&n.envelope, &n.bytes))
                    .await
            }
            None => (c.send(&msg.envelope, &msg.bytes).await, Opened::No),
        }
    };
    let (reply, opened) = tokio::select! {
        r = sent => r,
        _ = shared.cancel.deadline(shared.grace()) => (Reply::Timeout("stopped".into()), Opened::No),
    };
    shared.progress.latency.record(started.elapsed());
    if policy::reconnect(&reply) {
        *conn = None;
    }
    (judge(shared, msg, &reply).await, opened)
}

/// What a reply means for a delivery, counting a failure of the server as
/// a whole (no reply, a dropped session) towards "unreachable".
async fn judge(shared: &Shared, msg: &Ready, reply: &Reply) -> Option<Recorded> {
    if policy::too_fast(reply) {
        if shared.throttle.at_floor() {
            let (retry, attempts) = (shared.retry, msg.item.attempts);
            return policy::decide_counted(retry, reply, attempts, &msg.message_id, Utc::now());
        }
        shared.too_fast(reply).await;
    } else if policy::server_trouble(reply) {
        let (what, weight) = match reply {
            Reply::Refused(e) => (e.clone(), 2),
            r => (
                format!(
                    "{} does not answer: {}",
                    shared.connector.describe(),
                    r.text()
                ),
                1,
            ),
        };
        shared.server_trouble(what, weight);
    } else {
        shared.trouble.store(0, Ordering::Relaxed);
    }
    policy::decide(
        shared.retry,
        reply,
        msg.item.attempts,
        &msg.message_id,
        Utc::now(),
    )
}

/// Write outcomes in batches: every `OUTCOME_BATCH` or `FLUSH_EVERY`, until
/// the senders are done or the grace after a stop is over. A failed write
/// or a lost claim stops the run.
async fn write_outcomes(shared: Arc<Shared>, mut rx: mpsc::Receiver<(i64, Recorded)>) {
    let grace = shared.grace();
    let cancel = &shared.cancel;
    let mut buf: Vec<(i64, Recorded)> = Vec::with_capacity(OUTCOME_BATCH);
    loop {
        let flush = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(flush);
        let closed = loop {
            tokio::select! {
                item = rx.recv() => match item {
                    Some(x) => {
                        buf.push(x);
                        if buf.len() >= OUTCOME_BATCH { break false; }
                    }
                    None => break true,
                },
                _ = &mut flush => break false,
                _ = cancel.deadline(grace) => return,
            }
        };
        if !buf.is_empty() {
            let written = tokio::select! {
                r = shared.store.record(shared.id, &shared.claim, &buf) => r,
                _ = cancel.deadline(grace) => return,
            };
            match written {
                Ok(true) => buf.clear(),
                Ok(false) => {
                    // The rows still held were written; keep writing the
                    // outcomes in flight, take nothing new.
                    cancel.stop(StopReason::LostClaim(
                        "another process took the campaign over (this one stalled past its lease)"
                            .into(),
                    ));
                    buf.clear();
                }
                Err(e) => {
                    cancel.stop(StopReason::Store(format!("recording outcomes: {e}")));
                    return;
                }
            }
        }
        if closed {
            return;
        }
    }
}
