//! A real browser: Debian's Chromium, headless, driven over WebDriver
//! (chromedriver on 127.0.0.1; the protocol spoken with a few lines of
//! JSON over HTTP) through subscribe → confirmation link from the outbox →
//! welcome email → preferences (changed, seen saved) → archive and feed →
//! unsubscribe, with screenshots at phone and desktop width into
//! `docs/screenshots/`. Chromium comes from `scripts/setup/chromium.sh`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use gazette::audience::Status;

use crate::helpers::app::spawn_app;
use crate::helpers::net::free_port;
use crate::helpers::readers::{link, sent_campaign, sent_digest};

const TIMEOUT: Duration = Duration::from_secs(60);
const PHONE: (u32, u32) = (375, 812);
const DESKTOP: (u32, u32) = (1280, 900);

/// chromedriver, killed when dropped.
pub struct Driver {
    child: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = call(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver command: JSON in, the `value` out.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open: read by Content-Length.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let (head, body_at, len) = loop {
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if n == 0 {
            return Err(format!("{method} {path}: connection closed"));
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .ok_or("no Content-Length")?;
            break (head, i + 4, len);
        }
    };
    while raw.len() < body_at + len {
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if n == 0 {
            return Err(format!("{method} {path}: connection closed"));
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&raw[body_at..body_at + len]).to_string();
    let v: Value = serde_json::from_str(&rest).map_err(|e| format!("{e}: {rest}"))?;
    if head.starts_with("HTTP/1.1 2") {
        Ok(v["value"].clone())
    } else {
        Err(format!("{method} {path}: {}", v["value"]))
    }
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Driver {
    pub fn start() -> Driver {
        Driver::start_with(true)
    }

    /// A browser with JavaScript on or (`javascript = false`) off.
    pub fn start_with(javascript: bool) -> Driver {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new("chromedriver")
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let deadline = Instant::now() + Duration::from_secs(30);
        while call(addr, "GET", "/status", None).map(|v| v["ready"] == true) != Ok(true) {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "timeouts": {"pageLoad": 30000, "script": 30000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--hide-scrollbars",
                    // Traffic only to 127.0.0.1 (an email's images included).
                    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                    format!("--user-data-dir={}", profile.path().display())],
                "prefs": {
                    "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 }
                }
            }
        }}});
        let v = call(addr, "POST", "/session", Some(&caps)).expect("a browser session");
        let session = v["sessionId"].as_str().unwrap().to_string();
        Driver {
            child,
            addr,
            session,
            _profile: profile,
        }
    }

    pub fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let p = format!("/session/{}{path}", self.session);
        let body = (method == "POST").then_some(body);
        call(self.addr, method, &p, body.as_ref()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Run `js` in the page (JavaScript on) and return its value.
    pub fn script(&self, js: &str) -> Value {
        self.cmd("POST", "/execute/sync", json!({"script": js, "args": []}))
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", json!(null))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn go(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    pub fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), json!({}));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        );
    }

    pub fn source(&self) -> String {
        self.cmd("GET", "/source", json!(null))
            .as_str()
            .unwrap_or_default()
            .replace("&#x2F;", "/")
    }

    /// The page's source once it contains `text` (a click's navigation
    /// may still be under way); fails after 15 s.
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let src = self.source();
            if src.contains(text) {
                return src;
            }
            assert!(Instant::now() < deadline, "{text:?} never showed:\n{src}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page at phone and desktop width, as `{name}-phone.png` and
    /// `{name}-desktop.png`; the document's width must fit the phone.
    pub fn shoot(&self, dir: &Path, name: &str) {
        for (suffix, (w, h)) in [("phone", PHONE), ("desktop", DESKTOP)] {
            self.cmd("POST", "/window/rect", json!({"width": w, "height": h}));
            if suffix == "phone" {
                let v = self.cmd(
                    "POST",
                    "/execute/sync",
                    json!({"script": "return [document.documentElement.scrollWidth, window.innerWidth];", "args": []}),
                );
                let (scroll, inner) = (v[0].as_i64().unwrap(), v[1].as_i64().unwrap());
                assert!(
                    scroll <= inner,
                    "{name}: {scroll}px wide on a {inner}px phone"
                );
            }
            let png = self.cmd("GET", "/screenshot", json!(null));
            let bytes = base64(png.as_str().unwrap());
            assert!(bytes.starts_with(b"\x89PNG"), "{name}: not a PNG");
            std::fs::write(dir.join(format!("{name}-{suffix}.png")), bytes).unwrap();
        }
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= (val(*c) as u32) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The HTML part of a decoded email, as a file the browser can open.
fn email_file(dir: &Path, name: &str, mail: &str) -> PathBuf {
    let start = mail.find("<!DOCTYPE html>").expect("an HTML part");
    let end = mail[start..].find("</html>").unwrap() + start + "</html>".len();
    let path = dir.join(format!("{name}.html"));
    std::fs::write(&path, &mail[start..end]).unwrap();
    path
}

/// Where screenshots go: docs/screenshots/ only on request
/// (GAZETTE_SCREENSHOTS=1), so test runs leave the checkout clean; else a
/// folder in `tmp`. Created.
pub fn screenshots_dir(tmp: &Path) -> PathBuf {
    let shots = if std::env::var_os("GAZETTE_SCREENSHOTS").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        tmp.join("screenshots")
    };
    std::fs::create_dir_all(&shots).unwrap();
    shots
}

#[test]
fn a_reader_in_a_real_browser() {
    if !have("chromium") || !have("chromedriver") {
        crate::helpers::skip_or_fail(
            "the browser test: chromium or chromedriver missing",
            "scripts/setup/chromium.sh installs them",
        );
        return;
    }
    // docs/screenshots/ is rewritten only on request
    // (GAZETTE_SCREENSHOTS=1), so test runs leave the checkout clean.
    let tmp = tempfile::tempdir().unwrap();
    let shots = screenshots_dir(tmp.path());
    let app = spawn_app("[archive]\nenabled = true\n[topics]\nrust = \"Rust\"\ngo = \"Go\"\n");
    let base = format!("http://{}", app.addr);
    let local = |url: &str| url.replace("https://news.example.com", &base);
    let b = Driver::start();

    // Subscribe on the form.
    b.go(&format!("{base}/"));
    b.shoot(&shots, "1-subscribe");
    b.type_into("#email", "reader@example.org");
    b.type_into("#name", "Rea Der");
    b.click("button[type=submit]");
    b.wait_for("Check your inbox");
    b.shoot(&shots, "2-check-inbox");

    // The confirmation link from the outbox.
    let mail = app.wait_for_email(1);
    b.go(&format!(
        "file://{}",
        email_file(tmp.path(), "confirm", &mail).display()
    ));
    b.shoot(&shots, "3-confirm-email");
    b.go(&local(&format!(
        "https://news.example.com{}",
        link(&mail, "/confirm/")
    )));
    // Opening the link confirms nothing (mail scanners open links too):
    // its page has one button that does.
    b.wait_for("Yes, subscribe me");
    assert_eq!(app.status_of("reader@example.org"), Some(Status::Pending));
    b.click("button[type=submit]");
    b.wait_for("You are subscribed");
    assert_eq!(app.status_of("reader@example.org"), Some(Status::Active));
    b.shoot(&shots, "4-confirmed");
    // Issues sent now that someone reads them (one sent to nobody is not
    // in the archive).
    let post = sent_campaign(
        &app,
        "Ownership, explained",
        "What the borrow checker wants.",
    );
    let digest = sent_digest(&app);

    // The welcome email, and its preferences link.
    let welcome = app.wait_for_email(2);
    assert!(welcome.contains("Subject: Welcome to Test Notes"));
    b.go(&format!(
        "file://{}",
        email_file(tmp.path(), "welcome", &welcome).display()
    ));
    b.shoot(&shots, "5-welcome-email");
    let prefs = format!("{base}{}", link(&welcome, "/preferences/"));
    b.go(&prefs);
    b.shoot(&shots, "6-preferences");
    b.click("#f-digest");
    b.click("input[value=rust]");
    b.click("button[type=submit]");
    b.wait_for("Your preferences are saved.");
    b.go(&prefs);
    let again = b.wait_for("value=\"digest\" checked");
    assert!(again.contains("value=\"rust\" checked"), "{again}");
    b.shoot(&shots, "7-preferences-saved");

    // The archive, one email from it, the digest, and the feed.
    b.go(&format!("{base}/archive"));
    b.wait_for("Ownership, explained");
    b.shoot(&shots, "8-archive");
    // Links are absolute to `public_url`: followed on 127.0.0.1 instead.
    let href = |id: i64| {
        let e = b.find(&format!("a[href*='/archive/{id}/']"));
        let v = b.cmd("GET", &format!("/element/{e}/attribute/href"), json!(null));
        local(v.as_str().unwrap())
    };
    b.go(&href(post));
    b.wait_for("Hello readers.");
    b.shoot(&shots, "9-post-email");
    b.go(&format!("{base}/archive"));
    b.go(&href(digest));
    b.wait_for("Go notes");
    b.shoot(&shots, "10-digest-email");
    b.go(&format!("{base}/feed.xml"));
    b.wait_for("Ownership, explained");

    // Unsubscribe from the page the email footer links to.
    let unsub = link(&welcome, "/unsubscribe/");
    b.go(&format!("{base}{unsub}"));
    b.shoot(&shots, "11-unsubscribe");
    b.click("button[type=submit]");
    b.wait_for("You are unsubscribed");
    assert_eq!(
        app.status_of("reader@example.org"),
        Some(Status::Unsubscribed)
    );
    b.shoot(&shots, "12-unsubscribed");

    // A post with highlighted code and a video shortcode, as its email
    // shows it.
    b.go(&format!(
        "file://{}",
        rich_post_email(tmp.path(), &app).display()
    ));
    b.wait_for("cache hit");
    let page = b.wait_for("Play the video");
    assert!(page.contains("style=\"color:"), "highlighted spans");
    b.shoot(&shots, "13-rich-post-email");
}

/// A post with a video shortcode and code in two languages, rendered as
/// its email (the video's thumbnail, on YouTube's servers, replaced by a
/// local picture: the browser reaches nothing but 127.0.0.1).
fn rich_post_email(dir: &Path, app: &crate::helpers::app::App) -> PathBuf {
    let text = "+++\ntitle = \"Rebuilding the build cache\"\ndate = 2026-11-20\n+++\n\
        We moved the build cache, and the numbers speak for themselves.\n\n\
        {{< youtube dQw4w9WgXcQ >}}\n\n\
        The cache key, in Rust:\n\n```rust\nfn key(lock: &[u8]) -> String {\n    \
        // One key per lock file.\n    format!(\"cache-{:x}\", md5(lock))\n}\n```\n\n\
        {{< highlight go >}}\npackage main\n\nimport \"fmt\"\n\nfunc main() {\n\t\
        fmt.Println(\"cache hit\")\n}\n{{< /highlight >}}\n";
    let post = gazette::content::parse_post(
        Path::new("posts/rebuilding-the-build-cache.md"),
        text,
        "https://example.com/blog",
    )
    .unwrap();
    let prepared = gazette::render::prepare_post(
        &gazette::render::Templates::builtin().unwrap(),
        &app.settings.newsletter,
        &post,
    )
    .unwrap();
    let thumb = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='480' height='270'%3E%3Crect width='480' height='270' fill='%23334155'/%3E%3Cpath d='M210 100 L290 135 L210 170 Z' fill='white'/%3E%3C/svg%3E";
    let html = prepared.public_html().replace(
        "https://img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
        thumb,
    );
    assert!(html.contains(thumb), "the thumbnail's address changed");
    let path = dir.join("rich-post.html");
    std::fs::write(&path, html).unwrap();
    path
}
