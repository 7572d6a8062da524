//! `gazette posts check --links`: every link and image of the posts
//! requested once (HEAD, GET where HEAD is refused), broken ones reported
//! at their line; a real HTTP server on 127.0.0.1 stands in for the web.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::Project;

/// How a path of the test server answers.
#[derive(Clone, Debug)]
pub enum Route {
    Status(u16),
    /// 405 to HEAD, 200 to GET.
    NoHead,
    /// 301 to another path.
    Redirect(&'static str),
    /// 200, after a pause.
    Slow(Duration),
}

/// A small HTTP/1.1 server on 127.0.0.1: one answer per path (unknown
/// paths answer 404), every request counted by method and path.
#[derive(Clone)]
pub struct Web {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    hits: Arc<Mutex<HashMap<(String, String), usize>>>,
}

impl Web {
    pub fn start() -> Web {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let web = Web {
            port: listener.local_addr().unwrap().port(),
            routes: Default::default(),
            hits: Default::default(),
        };
        let w = web.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let w = w.clone();
                std::thread::spawn(move || w.serve(stream));
            }
        });
        web
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn route(&self, path: &str, r: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), r);
    }

    /// How often `method` asked for `path`.
    pub fn hits(&self, method: &str, path: &str) -> usize {
        let h = self.hits.lock().unwrap();
        h.get(&(method.to_string(), path.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every request to `path`, whatever the method.
    pub fn all_hits(&self, path: &str) -> usize {
        let h = self.hits.lock().unwrap();
        h.iter()
            .filter(|((_, p), _)| p == path)
            .map(|(_, n)| n)
            .sum()
    }

    fn serve(&self, mut s: TcpStream) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let mut parts = head.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        *self
            .hits
            .lock()
            .unwrap()
            .entry((method.clone(), path.clone()))
            .or_default() += 1;
        let route = self.routes.lock().unwrap().get(&path).cloned();
        let (status, extra) = match route {
            None => (404, String::new()),
            Some(Route::Status(s)) => (s, String::new()),
            Some(Route::NoHead) if method == "HEAD" => (405, String::new()),
            Some(Route::NoHead) => (200, String::new()),
            Some(Route::Redirect(to)) => (301, format!("Location: {to}\r\n")),
            Some(Route::Slow(d)) => {
                std::thread::sleep(d);
                (200, String::new())
            }
        };
        let body = if method == "HEAD" { "" } else { "page" };
        let _ = write!(
            s,
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            if method == "HEAD" { 4 } else { body.len() }
        );
    }
}

fn project(web: &Web) -> Project {
    let config = crate::helpers::CONFIG.replace(
        "base_url = \"https://example.com/blog\"",
        &format!("base_url = \"{}\"", web.url("/blog")),
    );
    Project::with_config(&config)
}

#[test]
fn broken_links_are_reported_at_their_line_and_each_url_asked_once() {
    let web = Web::start();
    web.route("/ok", Route::Status(200));
    web.route("/nohead", Route::NoHead);
    web.route("/moved", Route::Redirect("/target"));
    web.route("/target", Route::Status(200));
    web.route("/rel", Route::Status(200));
    web.route("/slow", Route::Slow(Duration::from_secs(4)));
    let p = project(&web);
    // The body starts on line 5 of the file.
    let body = format!(
        "Intro with [a link]({ok}).\n\
         \n\
         ![a picture]({missing})\n\
         Again [the same link]({ok}#part) and [refused HEAD]({nohead}).\n\
         [moved]({moved}) and [relative](/rel) and [mail](mailto:a@example.com).\n\
         <p><img src=\"{gone}\" alt=\"\"></p>\n\
         \n\
         [slow]({slow}) and [nobody]({closed})\n",
        ok = web.url("/ok"),
        missing = web.url("/missing.png"),
        nohead = web.url("/nohead"),
        moved = web.url("/moved"),
        gone = web.url("/gone.jpg"),
        slow = web.url("/slow"),
        closed = "http://127.0.0.1:9/closed",
    );
    p.post("links", "Links", "2026-11-01", &body);
    let run = p.run(&["posts", "check", "--links", "--timeout", "1s"]);
    run.fails_with("4 problems found");
    let err = run.stderr();
    let path = "posts/links.md";
    for want in [
        format!("{path}:7: 404 {}", web.url("/missing.png")),
        format!("{path}:10: 404 {}", web.url("/gone.jpg")),
        format!("{path}:12: unreachable {}: timed out", web.url("/slow")),
        format!("{path}:12: unreachable http://127.0.0.1:9/closed: cannot connect"),
    ] {
        assert!(err.contains(&want), "{want:?} not in:\n{err}");
    }
    for fine in ["/ok", "/nohead", "/moved", "/rel"] {
        assert!(
            !err.contains(&format!("{} ", web.url(fine)))
                && !err.contains(&format!("{}:", web.url(fine))),
            "{fine} reported:\n{err}"
        );
    }
    // One request per URL, however often it appears; GET only where HEAD
    // was refused; the redirect followed.
    assert_eq!(web.hits("HEAD", "/ok"), 1);
    assert_eq!(web.all_hits("/ok"), 1);
    assert_eq!(web.hits("HEAD", "/nohead"), 1);
    assert_eq!(web.hits("GET", "/nohead"), 1);
    assert_eq!(web.all_hits("/moved"), 1);
    assert_eq!(web.all_hits("/target"), 1);
    assert_eq!(web.all_hits("/rel"), 1);
    assert_eq!(web.all_hits("/missing.png"), 1);
}

#[test]
fn a_slug_checks_only_that_post_and_plain_check_requests_nothing() {
    let web = Web::start();
    web.route("/fine", Route::Status(200));
    let p = project(&web);
    p.post(
        "good",
        "Good",
        "2026-11-01",
        &format!("[x]({})\n", web.url("/fine")),
    );
    p.post(
        "bad",
        "Bad",
        "2026-11-02",
        &format!(
            "[y]({})\n\n{{{{< figure src=\"/fig.png\" caption=\"A figure\" >}}}}\n",
            web.url("/nope")
        ),
    );
    p.run(&["posts", "check"]).ok();
    assert_eq!(web.all_hits("/fine") + web.all_hits("/nope"), 0);
    let run = p.run(&["posts", "check", "--links", "good"]);
    run.ok();
    assert!(run.stderr().contains("1 link answers"), "{}", run.stderr());
    assert_eq!(web.all_hits("/nope"), 0);
    let run = p.run(&["posts", "check", "--links"]);
    run.fails_with(&format!("posts/bad.md:5: 404 {}", web.url("/nope")));
    // A shortcode's link argument, relative, made absolute as in the email.
    run.fails_with(&format!("posts/bad.md:7: 404 {}", web.url("/fig.png")));
    p.run(&["posts", "check", "--links", "nosuch"])
        .fails_with("no post with slug \"nosuch\"");
}
