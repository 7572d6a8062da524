//! Feeds as a post source (issue 29), part two: fetched over real HTTP on
//! 127.0.0.1 by the real binary: conditional GET, redirects, gzip, a 500, a
//! server slower than the timeout, a body over the size cap; `file://`
//! and plain paths.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{Project, CONFIG};

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

#[test]
fn posts_list_and_preview_of_a_feed_over_http_with_conditional_get() {
    let srv = FeedServer::start(&fixture("wordpress-rss2.xml"));
    let p = project(&srv.url("/feed.xml"), "");
    let out = p.run(&["posts", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&out.ok().stdout()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let first = &rows[0];
    let mut keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["date", "draft", "path", "slug", "status", "summary", "tags", "title", "url"]
    );
    assert_eq!(first["slug"], "hello-print-shop");
    assert_eq!(
        first["url"],
        "https://wp.example/2026/11/04/hello-print-shop/"
    );
    assert_eq!(first["status"], "published");
    assert_eq!(first["tags"], serde_json::json!(["News", "Printing"]));
    let reqs = srv.requests("/feed.xml");
    assert_eq!(reqs.len(), 1);
    let ua = &reqs[0]["user-agent"];
    assert!(ua.starts_with("Gazette/0."), "{ua}");
    assert!(reqs[0]
        .get("accept-encoding")
        .is_some_and(|a| a.contains("gzip")));

    // The text list: same columns as for files.
    let out = p.run(&["posts", "list"]);
    let text = out.ok().stdout();
    assert!(
        text.contains("published  2026-11-04  hello-print-shop"),
        "{text}"
    );
    // The second fetch was conditional and answered 304: nothing lost.
    let reqs = srv.requests("/feed.xml");
    assert_eq!(
        reqs[1].get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );
    assert_eq!(
        reqs[1].get("if-modified-since").map(String::as_str),
        Some("Mon, 09 Nov 2026 10:00:00 GMT")
    );

    let out = p.run(&["preview", "post", "hello-print-shop", "--format", "eml"]);
    let eml = out.ok().stdout();
    assert!(
        eml.contains("Subject: Test Notes: Hello from the print shop"),
        "{eml}"
    );
    assert!(eml.contains("multipart/alternative"), "{eml}");
    let decoded = eml.replace("=\r\n", "").replace("=3D", "=");
    assert!(decoded.contains("https://wp.example/about/"), "{decoded}");
    assert!(
        decoded.contains("The presses are running again"),
        "{decoded}"
    );
    let lower = decoded.to_ascii_lowercase();
    for bad in [
        "<script",
        "<iframe",
        "onerror",
        "onclick",
        "javascript:",
        "href=\"/",
    ] {
        assert!(!lower.contains(bad), "{bad} in\n{decoded}");
    }
}

#[test]
fn redirects_and_gzip_are_followed_and_a_loop_is_refused() {
    let srv = FeedServer::start(&fixture("hugo-rss.xml"));
    for path in ["/moved", "/gzip"] {
        let p = project(&srv.url(path), "");
        let out = p.run(&["posts", "list"]);
        assert!(
            out.ok().stdout().contains("pruning-apple-trees"),
            "{path}: {}",
            out.stdout()
        );
    }
    let p = project(&srv.url("/loop"), "");
    let out = p.run(&["posts", "check"]);
    out.fails_with(&format!("{}: too many redirects", srv.url("/loop")));
    assert!(
        srv.requests("/loop").len() <= 6,
        "at most 5 redirects followed"
    );
}

#[test]
fn an_http_error_a_slow_server_and_a_body_over_the_cap_are_one_line_each() {
    let srv = FeedServer::start(&fixture("hugo-rss.xml"));
    let p = project(&srv.url("/500"), "");
    let out = p.run(&["posts", "check"]);
    out.fails_with(&format!(
        "{}: HTTP 500 Internal Server Error",
        srv.url("/500")
    ));

    let p = project(&srv.url("/slow"), "timeout = \"1s\"\n");
    let t = Instant::now();
    let out = p.run(&["posts", "check"]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    out.fails_with(&format!("{}: timed out", srv.url("/slow")));

    let p = project(&srv.url("/big"), "max_size = \"1KB\"\n");
    let out = p.run(&["posts", "check"]);
    out.fails_with("larger than [source] max_size (1024 bytes)");
    for line in out.stderr().lines() {
        assert!(!line.contains("panicked"), "{line}");
    }
}

#[test]
fn a_feed_that_fails_later_keeps_its_last_good_copy_and_a_gone_item_stays() {
    let srv = FeedServer::start(&fixture("wordpress-rss2.xml"));
    let p = project(&srv.url("/feed.xml"), "");
    p.run(&["posts", "list"]).ok();
    // The feed drops its older item: it is kept.
    let newer_only = fixture("wordpress-rss2.xml");
    let cut = newer_only
        .find("\t<item>\n\t\t<title>Summer break")
        .unwrap();
    let end = newer_only[cut..].find("</item>").unwrap() + cut + "</item>".len();
    srv.set_body(&format!("{}{}", &newer_only[..cut], &newer_only[end..]));
    let out = p.run(&["posts", "list"]);
    assert!(
        out.ok().stdout().contains("summer-break"),
        "{}",
        out.stdout()
    );
    // Down: the error is named, the posts are still there.
    srv.state.lock().unwrap().fail = Some(500);
    let out = p.run(&["posts", "list"]);
    let stdout = out.ok().stdout();
    assert!(
        stdout.contains("hello-print-shop") && stdout.contains("summer-break"),
        "{stdout}"
    );
    assert!(out.stderr().contains("HTTP 500"), "{}", out.stderr());
}

#[test]
fn a_file_url_and_a_plain_path_work_and_a_slug_both_give_is_a_duplicate() {
    let p = project("site/public/index.xml", "");
    p.write("site/public/index.xml", fixture("hugo-rss.xml"));
    let out = p.run(&["posts", "list"]);
    assert!(
        out.ok().stdout().contains("seed-catalogue"),
        "{}",
        out.stdout()
    );
    let abs = p.path().join("site/public/index.xml");
    let q = project(&format!("file://{}", abs.display()), "");
    q.write(
        "posts/seed-catalogue.md",
        "+++\ntitle = \"Seeds\"\ndate = 2026-10-01\n+++\nx\n",
    );
    let out = q.run(&["posts", "check"]);
    out.fails_with("duplicate slug \"seed-catalogue\"");
    let err = out.stderr();
    assert!(
        err.contains("posts/seed-catalogue.md:1: duplicate slug"),
        "{err}"
    );
    assert!(err.contains("index.xml#seed-catalogue"), "{err}");
    // The other item is fine.
    let out = q.run(&["posts", "list"]);
    assert!(
        out.ok().stdout().contains("pruning-apple-trees"),
        "{}",
        out.stdout()
    );
}

#[test]
fn bad_source_settings_are_one_line_naming_the_key_or_variable() {
    let p = project("feed.xml", "poll = \"500ms\"\n");
    let line = CONFIG.lines().count() + 4;
    p.run(&["posts", "list"]).fails_with(&format!(
        "gazette.toml:{line}: source.poll: must be between 1s and"
    ));
    let p = project("feed.xml", "max_size = \"10\"\n");
    p.run(&["posts", "list"])
        .fails_with("source.max_size: must be between 1KB and 1GB");
    let p = Project::new();
    let out = crate::helpers::run_with_timeout(
        p.cmd()
            .env("GAZETTE_FEED_URL", "ftp://example.com/feed.xml")
            .args(["posts", "list"]),
        crate::helpers::RUN_TIMEOUT,
    );
    out.fails_with("GAZETTE_FEED_URL: ftp:// is not supported");
    // The variable wins over the file.
    let srv = FeedServer::start(&fixture("ghost-rss.xml"));
    let p = project("nowhere.xml", "");
    let out = crate::helpers::run_with_timeout(
        p.cmd()
            .env("GAZETTE_FEED_URL", srv.url("/feed.xml"))
            .args(["posts", "list"]),
        crate::helpers::RUN_TIMEOUT,
    );
    assert!(
        out.ok().stdout().contains("coming-soon"),
        "{}",
        out.stdout()
    );
}

/// The last good copy lives with the database (the configuration may be
/// mounted read-only, as compose.yaml and the systemd unit do).
#[test]
fn the_last_good_copy_is_kept_beside_the_sqlite_database() {
    let srv = FeedServer::start(&fixture("substack-rss.xml"));
    let p = project(&srv.url("/feed.xml"), "");
    std::fs::create_dir(p.path().join("state")).unwrap();
    let db = format!("sqlite://{}/state/gazette.db", p.path().display());
    let out = crate::helpers::run_with_timeout(
        p.cmd()
            .env("GAZETTE_DATABASE_URL", &db)
            .args(["posts", "list"]),
        crate::helpers::RUN_TIMEOUT,
    );
    assert!(out.ok().stdout().contains("issue-12-rivers"));
    assert!(p.path().join("state/gazette.db.feed.json").is_file());
    assert!(!p.path().join(".gazette-feed.json").exists());
    // Down now: the copy beside the database still serves.
    srv.state.lock().unwrap().fail = Some(500);
    let out = crate::helpers::run_with_timeout(
        p.cmd()
            .env("GAZETTE_DATABASE_URL", &db)
            .args(["posts", "list"]),
        crate::helpers::RUN_TIMEOUT,
    );
    assert!(
        out.ok().stdout().contains("issue-12-rivers"),
        "{}",
        out.stderr()
    );
}
