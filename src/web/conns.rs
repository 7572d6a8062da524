//! Who holds a listener's connections, and whom to let go when it is full.
//!
//! One client address (IPv4 exactly, IPv6 by its /64, the block one
//! subscriber line gets) holds at most [`PER_CLIENT`] connections, well
//! below the listener's [`MAX_CONNECTIONS`]: one client holding hundreds of
//! sockets, each trickling a header byte now and then, can no longer slow
//! everyone else down. A trusted proxy (`[web] trusted_proxies`) carries
//! many clients on its connections, so its own are counted only against
//! the listener's cap.
//!
//! When a client is at its cap, or the listener at its own, the connection
//! that has waited longest for request headers (a slow client still
//! sending them, or an idle keep-alive connection) is closed to make room:
//! the slow are shed, not the newcomer. When every connection of the client
//! is busy with a request, its newcomer gets 503; when every connection of
//! the listener is, the newcomer waits for a free slot.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::Notify;

use crate::util::net::{canonical, Cidr};

/// Connections one listener serves at the same time.
pub const MAX_CONNECTIONS: usize = 512;

/// Connections one client address (IPv6: one /64) holds at the same time.
pub const PER_CLIENT: usize = 32;

/// Whose connection it is: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match canonical(ip) {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                ClientKey(IpAddr::V6(Ipv6Addr::from(bits)))
            }
            v4 => ClientKey(v4),
        }
    }
}

/// Since when a connection waits for request headers (0: a request is in
/// progress), in nanoseconds after the registry's start, plus one.
pub struct Phase {
    start: Instant,
    since: AtomicU64,
}

impl Phase {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64 + 1
    }

    /// A request's headers are in: it is being served.
    pub fn busy(&self) {
        self.since.store(0, Ordering::Relaxed);
    }

    /// The answer is out: the connection waits for the next request.
    pub fn waiting(&self) {
        self.since.store(self.now(), Ordering::Relaxed);
    }

    fn waiting_since(&self) -> Option<u64> {
        Some(self.since.load(Ordering::Relaxed)).filter(|&s| s != 0)
    }
}

struct Entry {
    /// `None`: a trusted proxy, not counted per client.
    key: Option<ClientKey>,
    phase: Arc<Phase>,
    shed: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    conns: HashMap<u64, Entry>,
    per_client: HashMap<ClientKey, usize>,
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.conns.remove(&id)?;
        if let Some(k) = e.key {
            if let Some(n) = self.per_client.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.per_client.remove(&k);
                }
            }
        }
        Some(e)
    }

    /// Close the connection (of `key`, or any) that has waited longest for
    /// request headers; false when every one is busy.
    fn shed(&mut self, key: Option<ClientKey>) -> bool {
        let oldest = self
            .conns
            .iter()
            .filter(|(_, e)| key.is_none() || e.key == key)
            .filter_map(|(id, e)| Some((e.phase.waiting_since()?, *id)))
            .min();
        let Some((_, id)) = oldest else {
            return false;
        };
        if let Some(e) = self.remove(id) {
            e.shed.notify_one();
        }
        true
    }
}

/// Why a connection was not let in.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its client holds [`PER_CLIENT`] busy connections: answer 503.
    Client,
    /// The listener holds [`MAX_CONNECTIONS`] busy connections: wait.
    Full,
}

/// The connections of one listener.
pub struct Registry {
    start: Instant,
    trusted: Vec<Cidr>,
    per_client: usize,
    max: usize,
    inner: Mutex<Inner>,
    /// Signalled whenever a connection leaves.
    pub freed: Notify,
}

impl Registry {
    /// `trusted`: proxies, whose connections are counted only against the
    /// listener's cap.
    pub fn new(trusted: Vec<Cidr>) -> Arc<Registry> {
        Self::with_caps(trusted, PER_CLIENT, MAX_CONNECTIONS)
    }

    pub fn with_caps(trusted: Vec<Cidr>, per_client: usize, max: usize) -> Arc<Registry> {
        Arc::new(Registry {
            start: Instant::now(),
            trusted,
            per_client,
            max,
            inner: Mutex::new(Inner::default()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Let a connection from `peer` in, shedding the slowest to make room.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let key =
            Some(ClientKey::of(peer)).filter(|_| !self.trusted.iter().any(|c| c.contains(peer)));
        let mut inner = self.lock();
        if let Some(k) = key {
            let held = inner.per_client.get(&k).copied().unwrap_or(0);
            if held >= self.per_client && !inner.shed(Some(k)) {
                return Err(Refused::Client);
            }
        }
        if inner.conns.len() >= self.max && !inner.shed(None) {
            return Err(Refused::Full);
        }
        let phase = Arc::new(Phase {
            start: self.start,
            since: AtomicU64::new(0),
        });
        phase.waiting();
        let shed = Arc::new(Notify::new());
        let id = inner.next;
        inner.next += 1;
        inner.conns.insert(
            id,
            Entry {
                key,
                phase: phase.clone(),
                shed: shed.clone(),
            },
        );
        if let Some(k) = key {
            *inner.per_client.entry(k).or_default() += 1;
        }
        Ok(Slot {
            id,
            registry: self.clone(),
            phase,
            shed,
        })
    }

    /// Connections held now.
    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One admitted connection; dropping it gives its place back.
pub struct Slot {
    id: u64,
    registry: Arc<Registry>,
    pub phase: Arc<Phase>,
    /// Notified when the connection is shed: close it.
    pub shed: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().remove(self.id);
        self.registry.freed.notify_waiters();
    }
}

/// A response body that marks its connection as waiting for the next
/// request once it has been sent (or dropped).
pub struct Tracked {
    inner: Body,
    phase: Arc<Phase>,
}

impl Tracked {
    pub fn wrap(inner: Body, phase: Arc<Phase>) -> Body {
        Body::new(Tracked { inner, phase })
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.phase.waiting();
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_are_counted_by_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2::5")),
            ClientKey::of(ip("2001:db8:1:2:ffff::1"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::5")),
            ClientKey::of(ip("2001:db8:1:3::5"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.1")),
            ClientKey::of(ip("192.0.2.1"))
        );
        assert_ne!(
            ClientKey::of(ip("192.0.2.1")),
            ClientKey::of(ip("192.0.2.2"))
        );
    }

    #[test]
    fn a_full_client_sheds_its_longest_waiting_connection_or_is_refused() {
        let r = Registry::with_caps(vec![], 2, 10);
        let a = r.admit(ip("192.0.2.1")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = r.admit(ip("192.0.2.1")).unwrap();
        // Another client is not concerned.
        let _other = r.admit(ip("192.0.2.9")).unwrap();
        let _c = r.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(r.len(), 3, "a, the oldest waiting, made room");
        use futures_util::FutureExt;
        assert!(
            a.shed.notified().now_or_never().is_some(),
            "a is told to close"
        );
        assert!(b.shed.notified().now_or_never().is_none());
        drop(a);
        assert_eq!(r.len(), 3, "a shed slot gives nothing back twice");
        b.phase.busy();
        _c.phase.busy();
        assert_eq!(r.admit(ip("192.0.2.1")).err(), Some(Refused::Client));
        // A trusted proxy is counted only against the listener's cap.
        let proxy = Registry::with_caps(crate::util::net::parse_list(&[], true).unwrap(), 1, 3);
        let held: Vec<_> = (0..3)
            .map(|_| proxy.admit(ip("127.0.0.1")).unwrap())
            .collect();
        held.iter().for_each(|s| s.phase.busy());
        assert_eq!(proxy.admit(ip("127.0.0.1")).err(), Some(Refused::Full));
    }
}
