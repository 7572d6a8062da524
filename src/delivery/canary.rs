//! The canary: a campaign to at least ten times `[send] canary` recipients
//! first goes to that many chosen at random (the rest is held back in the
//! store), waits `[send] canary_wait` while asynchronous bounces and
//! complaints arrive, and goes on only if the circuit breaker's limits
//! hold over what the canary met; otherwise it is paused with the reason.
//! The hold is stored, so a run that stops (a crash, a pause) leaves the
//! rest held: whoever runs the campaign next finishes the wait and the
//! check first.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::breaker::Breaker;
use super::cancel::StopReason;
use super::shared::Shared;
use crate::error::Result;

/// A canary's audience is at least this many times its size.
pub const AUDIENCE_FACTOR: i64 = 10;

/// Hold back all but the canary when the campaign is fresh (nothing tried
/// yet, never had a canary) and large enough. Returns whether it has a
/// canary to finish (started now or by an earlier run).
pub(super) async fn begin(shared: &Shared) -> Result<bool> {
    let (store, id) = (&shared.store, shared.id);
    let stored = store.canary(id).await?;
    if stored.size.is_some() {
        return Ok(stored.held > 0);
    }
    let n = shared.breaker.limits.canary as i64;
    if n == 0 {
        return Ok(false);
    }
    let Some(c) = store.campaign(id).await? else {
        return Ok(false);
    };
    if c.sent + c.failed > 0 || c.pending < AUDIENCE_FACTOR * n {
        return Ok(false);
    }
    if !store.hold_for_canary(id, n).await? {
        return Ok(store.canary(id).await?.held > 0);
    }
    tracing::info!(
        "campaign {id}: canary: {n} of {} recipients chosen at random first; the rest waits for [send] canary_wait ({}) and the limits",
        c.pending,
        super::transport::humantime(shared.breaker.limits.canary_wait)
    );
    Ok(true)
}

/// The canary was sent (nothing else is due): wait out its time, then
/// check the limits over the whole campaign so far (the canary is the
/// sample) and release the rest, or stop the run (paused by the breaker).
/// `false`: the run stopped.
pub(super) async fn judge(shared: &Arc<Shared>) -> bool {
    let (store, id) = (&shared.store, shared.id);
    let limits = &shared.breaker.limits;
    let wanted = Utc::now() + chrono::Duration::from_std(limits.canary_wait).unwrap_or_default();
    let until = match store.canary_wait_until(id, wanted).await {
        Ok(u) => u,
        Err(e) => return stop(shared, format!("reading the canary: {e}")),
    };
    let wait = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    tracing::info!(
        "campaign {id}: canary sent; waiting {} for bounces and complaints before the rest",
        super::transport::humantime(wait)
    );
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = shared.cancel.stopped() => return false,
    }
    let totals = match store.campaign_totals(id).await {
        Ok(t) => t,
        Err(e) => return stop(shared, format!("reading the canary's bounces: {e}")),
    };
    // The canary is the sample, whatever its size.
    let mut limits = limits.clone();
    limits.min_sample = limits.min_sample.min(totals.tried.max(1));
    let tried = totals.tried;
    if let Some(why) = Breaker::from_totals(limits, totals).tripped() {
        if shared
            .cancel
            .stop(StopReason::Breaker(format!("canary: {why}")))
        {
            tracing::warn!("campaign {id}: circuit breaker: canary: {why}");
        }
        return false;
    }
    match store.release_canary(id).await {
        Ok(n) => {
            tracing::info!(
                "campaign {id}: canary of {tried} passed the limits; sending the other {n}"
            );
            true
        }
        Err(e) => stop(shared, format!("releasing the canary: {e}")),
    }
}

fn stop(shared: &Shared, why: String) -> bool {
    shared.cancel.stop(StopReason::Store(why));
    false
}
