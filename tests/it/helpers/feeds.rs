//! Feeds served over real HTTP on 127.0.0.1 (conditional GET, redirects,
//! gzip, failures, slowness), the feed fixtures, and a project whose posts
//! come from a feed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Project, CONFIG};

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/feeds/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A small HTTP/1.1 server on 127.0.0.1 serving feeds. `/feed.xml` is
/// the current `body` with ETag `"v<version>"`; other paths misbehave.
pub struct FeedServer {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
}

#[derive(Default)]
pub struct State {
    pub body: String,
    pub version: u32,
    /// Answer `/feed.xml` with this status instead (e.g. 500).
    pub fail: Option<u16>,
    /// Answer `/feed.xml` only after this long.
    pub delay: Option<Duration>,
    /// Every request: its path and headers (lowercase names).
    pub requests: Vec<(String, HashMap<String, String>)>,
}

impl FeedServer {
    pub fn start(body: &str) -> FeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            body: body.to_string(),
            version: 1,
            ..State::default()
        }));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &st);
                });
            }
        });
        FeedServer { port, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set_body(&self, body: &str) {
        let mut s = self.state.lock().unwrap();
        s.body = body.to_string();
        s.version += 1;
    }

    pub fn requests(&self, path: &str) -> Vec<HashMap<String, String>> {
        let s = self.state.lock().unwrap();
        s.requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }
}

fn serve(mut conn: TcpStream, st: &Mutex<State>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .unwrap_or("")
        .split(' ')
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let (body, version, fail, delay) = {
        let mut s = st.lock().unwrap();
        s.requests.push((path.clone(), headers.clone()));
        (s.body.clone(), s.version, s.fail, s.delay)
    };
    if let (Some(d), "/feed.xml") = (delay, path.as_str()) {
        std::thread::sleep(d);
    }
    let etag = format!("\"v{version}\"");
    let (status, extra, bytes): (&str, String, Vec<u8>) = match path.as_str() {
        "/feed.xml" if fail.is_some() => (
            if fail == Some(500) { "500 Internal Server Error" } else { "503 Service Unavailable" },
            String::new(),
            b"oops".to_vec(),
        ),
        "/feed.xml" if headers.get("if-none-match") == Some(&etag) => {
            ("304 Not Modified", format!("ETag: {etag}\r\n"), Vec::new())
        }
        "/feed.xml" => (
            "200 OK",
            format!("ETag: {etag}\r\nLast-Modified: Mon, 09 Nov 2026 10:00:00 GMT\r\nContent-Type: application/rss+xml\r\n"),
            body.into_bytes(),
        ),
        "/moved" => ("301 Moved Permanently", "Location: /feed.xml\r\n".into(), Vec::new()),
        "/loop" => ("302 Found", "Location: /loop\r\n".into(), Vec::new()),
        "/500" => ("500 Internal Server Error", String::new(), b"oops".to_vec()),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(6));
            ("200 OK", String::new(), body.into_bytes())
        }
        "/gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body.as_bytes())?;
            ("200 OK", "Content-Encoding: gzip\r\n".into(), e.finish()?)
        }
        "/big" => ("200 OK", String::new(), vec![b' '; 4096]),
        _ => ("404 Not Found", String::new(), Vec::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(&bytes)?;
    conn.flush()
}

/// A project whose posts come from `feed` (`[source]` with `extra` keys).
pub fn project(feed: &str, extra: &str) -> Project {
    Project::with_config(&format!("{CONFIG}\n[source]\nfeed = \"{feed}\"\n{extra}"))
}
