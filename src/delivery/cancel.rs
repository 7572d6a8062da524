//! One cancellation for every reason a campaign run stops: a signal, a
//! pause or cancel from another command, an unreachable server, a failed
//! outcome writer, a lost claim. The first reason wins; everything that
//! waits in a run selects on `stopped()` (take nothing new) or on
//! `deadline()` (give up on what is in flight).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT/SIGTERM (or the worker shutting down).
    Signal,
    /// `campaigns pause` (the status in the database).
    Paused,
    /// `campaigns cancel`.
    Cancelled,
    /// Another process sent the rest and marked the campaign done.
    Finished,
    /// The server could not be reached (the error, naming the server).
    Unreachable(String),
    /// Outcomes could not be recorded (the database error).
    Store(String),
    /// Another process holds the claim now (why).
    LostClaim(String),
    /// The circuit breaker: a limit crossed (which, by how much).
    Breaker(String),
}

#[derive(Clone)]
pub struct Cancel {
    inner: Arc<Inner>,
}

struct Inner {
    tx: watch::Sender<bool>,
    state: Mutex<Option<(StopReason, Instant)>>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel {
            inner: Arc::new(Inner {
                tx: watch::channel(false).0,
                state: Mutex::new(None),
            }),
        }
    }
}

impl Cancel {
    /// Stop for `reason`, unless stopped already. Returns whether this call
    /// stopped it.
    pub fn stop(&self, reason: StopReason) -> bool {
        let mut s = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_some() {
            return false;
        }
        *s = Some((reason, Instant::now()));
        drop(s);
        self.inner.tx.send_replace(true);
        true
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.state().map(|(r, _)| r)
    }

    fn state(&self) -> Option<(StopReason, Instant)> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn is_stopped(&self) -> bool {
        *self.inner.tx.borrow()
    }

    /// Resolves once stopped (at once if it is).
    pub async fn stopped(&self) {
        let mut rx = self.inner.tx.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Resolves `grace` after the stop: what is still in flight then is
    /// abandoned.
    pub async fn deadline(&self, grace: Duration) {
        self.stopped().await;
        if let Some((_, at)) = self.state() {
            tokio::time::sleep_until(at + grace).await;
        }
    }

    /// Stop with `reason` when the external `signal` turns true (abort the
    /// task returned once the run is over).
    pub fn follow(
        &self,
        mut signal: watch::Receiver<bool>,
        reason: StopReason,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = signal.wait_for(|s| *s) => { me.stop(reason); }
                _ = me.stopped() => {}
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_reason_wins_and_waiters_wake() {
        let c = Cancel::default();
        let waiter = {
            let c = c.clone();
            tokio::spawn(async move { c.stopped().await })
        };
        assert!(!c.is_stopped());
        assert!(c.stop(StopReason::Unreachable("x".into())));
        assert!(!c.stop(StopReason::Signal));
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.reason(), Some(StopReason::Unreachable("x".into())));
        let t = std::time::Instant::now();
        c.deadline(Duration::from_millis(50)).await;
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn follows_an_external_signal() {
        let (tx, rx) = watch::channel(false);
        let c = Cancel::default();
        c.follow(rx, StopReason::Signal);
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), c.stopped())
            .await
            .unwrap();
        assert_eq!(c.reason(), Some(StopReason::Signal));
    }
}
