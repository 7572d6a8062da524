//! Throttling that adapts: a reply saying the sender goes too fast (421,
//! 451 or 454 about the rate, throttling, too many connections or
//! messages) halves the run's rate and its connections; after a quiet
//! minute both grow back additively (a step a minute). The delivery that
//! got such a reply is requeued as if never tried (`policy::decide`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::policy::Reply;

/// No new cut within this long of the last one: the replies to what was
/// in flight at the cut say nothing about the new rate.
pub(super) const CUT_EVERY: Duration = Duration::from_secs(1);
/// A quiet spell this long adds a step of rate and a connection back.
pub const QUIET: Duration = Duration::from_secs(60);
/// The slowest a run is made to go (messages per second).
const FLOOR: f64 = 0.5;
/// The rate taken as reached when nothing was accepted lately.
const UNKNOWN: f64 = 10.0;
/// The window over which the rate actually reached is measured.
const WINDOW: Duration = Duration::from_secs(1);

/// The limits a run settled at after the server asked it to slow down.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// Messages per second (this process).
    pub rate: f64,
    pub connections: usize,
    /// How many times the server asked to slow down.
    pub cuts: u32,
    /// The server's last such reply.
    pub reply: String,
}

impl Settled {
    pub fn describe(&self) -> String {
        format!(
            "the server asked to slow down {} time(s) (last: {}); the rate settled at {:.1} msg/s over {} connection(s)",
            self.cuts, self.reply, self.rate, self.connections
        )
    }
}

pub struct Throttle {
    max_connections: usize,
    connections: AtomicUsize,
    state: Mutex<State>,
}

struct State {
    settled: Option<Settled>,
    /// The rate added back after each quiet minute.
    step: f64,
    last_cut: Option<Instant>,
    last_change: Instant,
    /// When the messages of the last `WINDOW` were accepted.
    accepted: VecDeque<Instant>,
}

impl Throttle {
    pub fn new(connections: usize) -> Self {
        Throttle {
            max_connections: connections.max(1),
            connections: connections.max(1).into(),
            state: Mutex::new(State {
                settled: None,
                step: 1.0,
                last_cut: None,
                last_change: Instant::now(),
                accepted: VecDeque::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A message was accepted (measures the rate reached).
    pub fn accepted(&self) {
        let now = Instant::now();
        let mut s = self.state();
        s.accepted.push_back(now);
        while s
            .accepted
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            s.accepted.pop_front();
        }
    }

    /// The server said `reply` (too fast) while the rate limit was
    /// `limit`: halve the rate (the one set, or else the one reached) and
    /// the connections, unless that was done within `CUT_EVERY`. Returns
    /// the new limits when they changed.
    pub fn slow_down(&self, reply: &Reply, limit: Option<f64>) -> Option<Settled> {
        let now = Instant::now();
        let mut s = self.state();
        if s.last_cut
            .is_some_and(|t| now.duration_since(t) < CUT_EVERY)
        {
            if let Some(settled) = &mut s.settled {
                settled.reply = reply.text();
            }
            return None;
        }
        let reached = s
            .accepted
            .iter()
            .filter(|t| now.duration_since(**t) <= WINDOW)
            .count() as f64
            / WINDOW.as_secs_f64();
        // Nothing accepted lately (the server refused at once): a guess.
        let reached = if reached > 0.0 { reached } else { UNKNOWN };
        let current = match (&s.settled, limit) {
            (Some(st), Some(l)) => st.rate.min(l),
            (Some(st), None) => st.rate,
            (None, Some(l)) => l.min(reached),
            (None, None) => reached,
        };
        let rate = (current / 2.0).max(FLOOR);
        if s.settled.is_none() {
            s.step = (rate / 5.0).max(1.0);
        }
        let connections = (self.connections() / 2).max(1);
        self.connections.store(connections, Ordering::Relaxed);
        let cuts = s.settled.as_ref().map_or(0, |st| st.cuts) + 1;
        let settled = Settled {
            rate,
            connections,
            cuts,
            reply: reply.text(),
        };
        s.settled = Some(settled.clone());
        s.last_cut = Some(now);
        s.last_change = now;
        Some(settled)
    }

    /// After each quiet minute since the last change, a step of rate and a
    /// connection more. Returns the new limits when they changed.
    pub fn recover(&self) -> Option<Settled> {
        let mut s = self.state();
        if s.last_change.elapsed() < QUIET {
            return None;
        }
        let step = s.step;
        let more = (self.connections() + 1).min(self.max_connections);
        let settled = s.settled.as_mut()?;
        settled.rate += step;
        settled.connections = more;
        self.connections.store(more, Ordering::Relaxed);
        let settled = settled.clone();
        s.last_change = Instant::now();
        Some(settled)
    }

    /// Whether the run goes at its slowest already (one connection at
    /// the floor rate): a further "too fast" reply counts as an attempt.
    pub fn at_floor(&self) -> bool {
        self.connections() == 1
            && self
                .state()
                .settled
                .as_ref()
                .is_some_and(|s| s.rate <= FLOOR)
    }

    /// How many connections may send now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// The limits in force, once the server asked to slow down.
    pub fn settled(&self) -> Option<Settled> {
        self.state().settled.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::policy::too_fast;

    fn code(c: u16, text: &str) -> Reply {
        Reply::Code(c, format!("{c} {text}"))
    }

    #[test]
    fn replies_about_speed_are_recognised() {
        for r in [
            code(
                454,
                "4.7.0 Throttling failure: Maximum sending rate exceeded",
            ),
            code(
                421,
                "4.7.28 Our system has detected an unusual rate of unsolicited mail",
            ),
            code(451, "4.7.1 too many messages, slow down"),
            code(421, "too many connections from your IP"),
            code(
                421,
                "4.7.0 Try again later, closing connection. (ratelimited)",
            ),
        ] {
            assert!(too_fast(&r), "{r:?}");
        }
        for r in [
            code(451, "4.3.0 Temporary local problem, moderate load"),
            code(421, "4.4.2 Timeout, closing connection"),
            code(550, "5.7.1 sending rate exceeded"),
            code(452, "4.5.3 too many recipients"),
            code(454, "4.7.0 TLS not available"),
            Reply::Timeout("rate".into()),
        ] {
            assert!(!too_fast(&r), "{r:?}");
        }
    }

    #[test]
    fn halves_once_per_round_then_recovers_a_step() {
        let t = Throttle::new(4);
        for _ in 0..50 {
            t.accepted();
        }
        let r = code(454, "4.7.0 Throttling failure");
        let s = t.slow_down(&r, None).expect("a cut");
        assert_eq!((s.rate, s.connections, s.cuts), (25.0, 2, 1));
        assert!(t.slow_down(&r, None).is_none(), "one cut per round");
        assert_eq!(t.connections(), 2);
        assert!(t.recover().is_none(), "not quiet yet");
        t.state().last_change -= QUIET;
        let s = t.recover().expect("a quiet minute");
        assert_eq!((s.rate, s.connections), (30.0, 3));
        // Nothing accepted yet: the limit set is what is halved.
        let t = Throttle::new(1);
        let s = t.slow_down(&r, Some(10.0)).unwrap();
        assert_eq!((s.rate, s.connections), (5.0, 1));
    }
}
