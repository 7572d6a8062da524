//! Per-client rate limit (`[web] subscribe_limit` requests per minute per
//! client), O(1) per request and bounded in memory.
//!
//! Each client has a GCRA cell (the `governor` crate) in a sharded hash map
//! with a random hash key: a request touches one cell under one shard lock,
//! whatever the number of clients. Cells that are back to their fresh state
//! (at most two minutes after a client's last request) are dropped every
//! few seconds, so the map
//! holds the clients of the last minutes. Past `MAX_CLIENTS` cells,
//! clients are counted by a wider network (IPv4 /24, IPv6 /48) until the
//! map shrinks again. IPv6 clients are always counted by /64, the block one
//! subscriber line gets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DashMapStateStore;
use governor::Quota;

use super::proxies::canonical;

/// Above this many tracked clients, new clients are counted by network.
pub const MAX_CLIENTS: usize = 200_000;
/// How often stale cells are dropped.
const SWEEP: Duration = Duration::from_secs(10);

type Keyed<C> = governor::RateLimiter<
    IpAddr,
    DashMapStateStore<IpAddr>,
    C,
    governor::middleware::NoOpMiddleware<<C as Clock>::Instant>,
>;

pub struct RateLimiter<C: Clock = DefaultClock> {
    inner: Option<Keyed<C>>,
    clock: C,
    crowded: AtomicBool,
    requests: AtomicU64,
}

impl RateLimiter<DefaultClock> {
    /// `per_minute == 0` turns the limit off. Inside a Tokio runtime, a
    /// task drops stale cells every few seconds while the limiter lives.
    pub fn new(per_minute: u32) -> Arc<Self> {
        let l = Arc::new(Self::with_clock(per_minute, DefaultClock::default()));
        if l.inner.is_some() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(sweep(Arc::downgrade(&l)));
            }
        }
        l
    }
}

async fn sweep(l: Weak<RateLimiter<DefaultClock>>) {
    loop {
        tokio::time::sleep(SWEEP).await;
        let Some(l) = l.upgrade() else { return };
        l.sweep();
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    pub fn with_clock(per_minute: u32, clock: C) -> Self {
        let inner = NonZeroU32::new(per_minute).map(|n| {
            governor::RateLimiter::dashmap_with_clock(Quota::per_minute(n), clock.clone())
        });
        RateLimiter {
            inner,
            clock,
            crowded: AtomicBool::new(false),
            requests: AtomicU64::new(0),
        }
    }

    /// `Err(seconds to wait)` when `ip` is over its limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        // Counting the map costs a look at every shard: every 1,024 requests.
        if self
            .requests
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(1024)
        {
            self.crowded
                .store(inner.len() >= MAX_CLIENTS, Ordering::Relaxed);
        }
        let key = key(ip, self.crowded.load(Ordering::Relaxed));
        inner.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }

    /// Drop the cells of clients that are back to a fresh state.
    pub fn sweep(&self) {
        if let Some(inner) = &self.inner {
            inner.retain_recent();
            inner.shrink_to_fit();
            self.crowded
                .store(inner.len() >= MAX_CLIENTS, Ordering::Relaxed);
        }
    }

    /// How many clients are tracked.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The key a client is counted under.
fn key(ip: IpAddr, crowded: bool) -> IpAddr {
    match canonical(ip) {
        IpAddr::V4(v4) if crowded => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let keep = if crowded { 3 } else { 4 };
            let mut s = v6.segments();
            s[keep..].iter_mut().for_each(|x| *x = 0);
            IpAddr::V6(Ipv6Addr::from(s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn limits_per_ip_and_recovers_within_a_minute() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(2, clock.clone());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        let wait = l.check(a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.check(b).is_ok());
        clock.advance(Duration::from_secs(60));
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        assert!(RateLimiter::new(0).check(a).is_ok());
    }

    #[test]
    fn ipv6_clients_count_by_slash_64_and_stale_cells_go() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(1, clock.clone());
        assert!(l.check("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(l.check("2001:db8:1:2::ffff".parse().unwrap()).is_err());
        assert!(l.check("2001:db8:1:3::1".parse().unwrap()).is_ok());
        assert_eq!(l.len(), 2);
        // governor keeps a cell one emission interval past its fresh state.
        clock.advance(Duration::from_secs(121));
        l.sweep();
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn crowded_maps_count_by_network() {
        let v4: IpAddr = "198.51.100.77".parse().unwrap();
        assert_eq!(key(v4, false), v4);
        assert_eq!(key(v4, true), "198.51.100.0".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "2001:db8:1:2:3::1".parse().unwrap();
        assert_eq!(key(v6, false), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_eq!(key(v6, true), "2001:db8:1::".parse::<IpAddr>().unwrap());
    }
}
