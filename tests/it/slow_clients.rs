//! Slow clients (slowloris) over real HTTP on 127.0.0.1: sockets that send
//! part of their headers, or part of their body, and then nothing are closed
//! by the server after `[web] request_timeout`, on the public and the admin
//! listener, while `/healthz` keeps answering.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::http;
use crate::web::spawn_app;

/// A connected socket with timeouts, `bytes` written.
fn slow(addr: SocketAddr, bytes: &str) -> TcpStream {
    let mut s = TcpStream::connect_timeout(&addr, http::TIMEOUT).unwrap();
    s.set_write_timeout(Some(http::TIMEOUT)).unwrap();
    s.write_all(bytes.as_bytes()).unwrap();
    s
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
    for i in 0..150 {
        heads.push(slow(app.addr, "GET / HTTP/1.1\r\nHost: x\r\n"));
        bodies.push(slow(
            app.addr,
            &format!(
                "POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=slow{i}"
            ),
        ));
    }
    let admin_heads: Vec<_> = (0..50)
        .map(|_| slow(admin, "GET /metrics HTTP/1.1\r\nHost: x\r\n"))
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
    s.write_all(b"Connection: close\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 23\r\n\r\nemail=ok")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"@example.com").unwrap();
    s.write_all(b"xyz").unwrap();
    let answer = closed_by(s, Instant::now() + http::TIMEOUT, "served request");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
