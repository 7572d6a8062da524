//! Which peers may tell us the client's address (`X-Forwarded-For`), and
//! the client address that follows from it.

use std::net::IpAddr;

use axum::http::HeaderMap;

pub use crate::util::net::{canonical, parse_list, Cidr};

/// The client's address: the peer's, unless the peer is a trusted proxy;
/// then the right-most `X-Forwarded-For` entry that is not itself a
/// trusted proxy (each proxy appends the address it saw, so entries left of
/// an untrusted one may be made up by the client).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for entry in entries.iter().rev() {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            // Garbage from an untrusted hop: stop at the last good address.
            break;
        };
        client = canonical(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_only_through_trusted_proxies() {
        let trusted = parse_list(&["10.0.0.0/8".into()], false).unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.9, 10.0.0.2"),
        );
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
        let loopback = parse_list(&[], true).unwrap();
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &loopback), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("::1"), &HeaderMap::new(), &loopback),
            ip("::1")
        );
    }
}
