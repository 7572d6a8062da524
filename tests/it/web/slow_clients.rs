//! Slow clients (slowloris) over real HTTP on 127.0.0.1: sockets that send
//! part of their headers, or part of their body, and then nothing are closed
//! by the server after `[web] request_timeout`, on the public and the admin
//! listener, while `/healthz` keeps answering. One client address holds at
//! most 32 connections (its slowest shed first), and a full listener sheds
//! the slowest connection rather than keep a newcomer waiting. Clients come
//! from several loopback addresses (Linux routes all of 127/8 to `lo`).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::helpers::app::spawn_app;
use crate::http;

/// A connected socket with timeouts, `bytes` written.
fn slow(addr: SocketAddr, bytes: &str) -> TcpStream {
    let mut s = TcpStream::connect_timeout(&addr, http::TIMEOUT).unwrap();
    s.set_write_timeout(Some(http::TIMEOUT)).unwrap();
    s.write_all(bytes.as_bytes()).unwrap();
    s
}

/// `slow` from the loopback address 127.0.0.`host`.
fn slow_from(host: u8, addr: SocketAddr, bytes: &str) -> TcpStream {
    let mut s = http::connect_from(loopback(host), addr);
    s.write_all(bytes.as_bytes()).unwrap();
    s
}

fn loopback(host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))
}

/// Whether the server has closed `s` (what it sent is ignored), waiting
/// at most `wait` for it.
fn is_closed(mut s: &TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Wait (at most 10 s) until at least `n` of `socks` are closed; returns
/// which are still open.
fn wait_closed(socks: &[TcpStream], n: usize) -> Vec<usize> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open: Vec<usize> = (0..socks.len())
            .filter(|&i| !is_closed(&socks[i], Duration::from_millis(5)))
            .collect();
        if socks.len() - open.len() >= n || Instant::now() > deadline {
            return open;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the server sent before it closed `s`; panics if it is still open
/// at `deadline`.
fn closed_by(mut s: TcpStream, deadline: Instant, what: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: still open at the deadline");
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: still open at the deadline")
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn slow_headers_and_bodies_are_cut_off_and_healthz_still_answers() {
    let app = spawn_app("[web]\nrequest_timeout = \"1s\"\n");
    let admin = app.admin.expect("admin listener");
    let start = Instant::now();
    let mut heads = Vec::new();
    let mut bodies = Vec::new();
    // From ten addresses: a client holds at most 32 connections.
    for i in 0..150 {
        let host = 10 + (i % 10) as u8;
        heads.push(slow_from(host, app.addr, "GET / HTTP/1.1\r\nHost: x\r\n"));
        bodies.push(slow_from(
            host,
            app.addr,
            &format!(
                "POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=slow{i}"
            ),
        ));
    }
    let admin_heads: Vec<_> = (0..50)
        .map(|i| slow_from(20 + i % 2, admin, "GET /metrics HTTP/1.1\r\nHost: x\r\n"))
        .collect();
    // The listener still serves everyone else, at once.
    let t = Instant::now();
    let r = http::get(app.addr, "/healthz");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Each slow socket is closed within the timeout and a margin (the
    // body's deadline starts once its headers are in, the 1 s after).
    let deadline = start + Duration::from_secs(1 + 5);
    for s in heads {
        closed_by(s, deadline, "partial headers");
    }
    for s in admin_heads {
        closed_by(s, deadline, "partial headers (admin)");
    }
    for s in bodies {
        let answer = closed_by(s, deadline, "partial body");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    // Nobody got subscribed from a body that never finished.
    assert_eq!(app.count(), 0);
    let r = http::get(app.addr, "/healthz");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_client_within_the_timeout_is_served() {
    let app = spawn_app("[web]\nrequest_timeout = \"2s\"\n");
    // Headers in two pieces, the body in two pieces, each within time.
    let mut s = slow(app.addr, "POST /subscribe HTTP/1.1\r\nHost: x\r\n");
    std::thread::sleep(Duration::from_millis(300));
    // The form's token first: the body ends with the address.
    let token = format!("token={}&", http::signup_token(app.addr));
    let len = token.len() + 23;
    let head = format!("Connection: close\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\r\n{token}email=ok");
    s.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"@example.com").unwrap();
    s.write_all(b"xyz").unwrap();
    let answer = closed_by(s, Instant::now() + http::TIMEOUT, "served request");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn one_client_holds_at_most_32_connections_and_sheds_its_slowest() {
    // Long enough that no slow socket is closed for being late.
    let app = spawn_app("[web]\nrequest_timeout = \"60s\"\n");
    // 100 sockets from 127.0.0.1 trickling their headers.
    let socks: Vec<TcpStream> = (0..100)
        .map(|_| slow(app.addr, "GET /healthz HTTP/1.1\r\nHo"))
        .collect();
    // Another address is answered at once (it waited 7-10 s for the 600
    // sockets of the issue; the bound is generous for a loaded machine).
    let t = Instant::now();
    let r = http::request_from(loopback(2), app.addr, "GET", "/healthz");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The 68 oldest were shed to make room for the newest; 32 remain.
    let open = wait_closed(&socks, 68);
    assert_eq!(open, (68..100).collect::<Vec<_>>());
    // The same client may still make a request: its slowest socket goes.
    let r = http::get(app.addr, "/healthz");
    assert_eq!(r.status, 200, "{}", r.body);
    let open = wait_closed(&socks, 69);
    assert_eq!(open, (69..100).collect::<Vec<_>>());
    // The survivors are served once they finish their headers.
    (&socks[99])
        .write_all(b"st: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    socks[99].set_read_timeout(Some(http::TIMEOUT)).unwrap();
    (&socks[99]).read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_client_whose_32_connections_are_all_busy_gets_503() {
    let app = spawn_app("[web]\nrequest_timeout = \"60s\"\n");
    // 32 requests in progress: their headers are in, their bodies are not.
    let busy: Vec<TcpStream> = (0..32)
        .map(|_| {
            slow_from(
                3,
                app.addr,
                "POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=",
            )
        })
        .collect();
    // Time for the server to read the 32 heads. Not an event a test can
    // see, and probing would change it: a 33rd connection sheds the
    // slowest one that has not sent its head yet.
    std::thread::sleep(Duration::from_millis(300));
    let r = http::request_from(loopback(3), app.addr, "GET", "/healthz");
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    // The site's own page, like every public error.
    assert!(r.body.contains("<html lang=\"en\""), "{}", r.body);
    assert!(
        r.body.contains("Too many connections from your address."),
        "{}",
        r.body
    );
    let json = http::connect_from(loopback(3), app.addr);
    let r = crate::http::request_on(
        json,
        app.addr,
        "GET",
        "/healthz",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.json()["error"].is_string(), "{}", r.body);
    // Nobody else is concerned, and none of the 32 was cut off.
    let r = http::request_from(loopback(4), app.addr, "GET", "/healthz");
    assert_eq!(r.status, 200, "{}", r.body);
    let cut = busy
        .iter()
        .filter(|s| is_closed(s, Duration::from_millis(5)));
    assert_eq!(cut.count(), 0, "a busy socket was closed");
}

#[test]
fn a_full_listener_sheds_the_slowest_instead_of_keeping_newcomers_waiting() {
    let app = spawn_app("[web]\nrequest_timeout = \"60s\"\n");
    // 512 sockets (the listener's cap), 32 from each of 16 addresses, each
    // with half its headers sent.
    let socks: Vec<TcpStream> = (0..512)
        .map(|i| slow_from(30 + (i / 32) as u8, app.addr, "GET /healthz HTTP/1.1\r\nHo"))
        .collect();
    // Today a newcomer waited in the kernel's queue until a slow socket
    // timed out (a minute here); now the oldest slow socket makes room.
    let t = Instant::now();
    let r = http::request_from(loopback(2), app.addr, "GET", "/healthz");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let open = wait_closed(&socks, 1);
    assert_eq!(open, (1..512).collect::<Vec<_>>(), "the oldest was shed");
}
