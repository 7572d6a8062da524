//! A person signs up in a real browser (Debian's Chromium over WebDriver,
//! `browser.rs`): on Gazette's own page with the proof of work, and with
//! the embeddable form (`gazette form`) on a page of another local origin
//! (a second 127.0.0.1 port serving a static page), with JavaScript and
//! without it (through the one-more-click page); each ends on the blog's
//! `return_url` or Gazette's thank-you page, subscribed once confirmed.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gazette::audience::Status;
use gazette::web::embed::{snippet, Style};

use crate::http;
use crate::readers::link;
use crate::web::browser::{have, Driver};
use crate::web::{spawn_app, spawn_app_with, App};

/// A person takes longer than this to fill the form (the tests' apps ask
/// for `min_fill_time = "1s"`).
const PERSON: Duration = Duration::from_millis(1300);

fn browser_here() -> bool {
    if have("chromium") && have("chromedriver") {
        return true;
    }
    crate::helpers::skip_or_fail(
        "the sign-up browser tests: chromium or chromedriver missing",
        "scripts/setup/chromium.sh installs them",
    );
    false
}

/// Open the confirmation link of the `n`th email and press its button.
fn confirm(app: &App, n: usize, email: &str) {
    let mail = app.wait_for_email(n);
    assert!(mail.contains(&format!("To: {email}")), "{mail}");
    let confirm = link(&mail, "/confirm/");
    assert_eq!(http::post_form(app.addr, &confirm, "").status, 200);
    assert_eq!(app.status_of(email), Some(Status::Active));
}

/// Poll `js` (an expression) in the page until it is true; fails after 30 s.
fn until(b: &Driver, js: &str) -> Duration {
    let t = Instant::now();
    loop {
        if b.script(&format!("return !!({js});")) == serde_json::json!(true) {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(30), "never: {js}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_person_subscribes_on_the_page_with_the_proof_of_work() {
    if !browser_here() {
        return;
    }
    let app = spawn_app("[web]\nsubscribe_pow = true\nmin_fill_time = \"1s\"\n");
    let b = Driver::start();
    b.go(&format!("http://{}/", app.addr));
    let loaded = Instant::now();
    // The script finds the number while the person types.
    let took = until(&b, "document.querySelector('input[name=pow]').value");
    eprintln!("proof of work in Chromium: {took:?}");
    let pow = b.script("return document.querySelector('input[name=pow]').value;");
    assert_eq!(pow.as_str().unwrap().len(), 10, "{pow}");
    b.type_into("#email", "pat@example.org");
    std::thread::sleep(PERSON.saturating_sub(loaded.elapsed()));
    b.click("button[type=submit]");
    b.wait_for("Check your inbox");
    confirm(&app, 1, "pat@example.org");
}

/// A static page on its own 127.0.0.1 port: `/` is the blog's page with
/// the snippet in it, `/blog/thanks/` where `return_url` points.
struct Blog {
    origin: String,
    listener: TcpListener,
}

impl Blog {
    fn bind() -> Blog {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        Blog { origin, listener }
    }

    /// Serve `page` in a thread, for the life of the test binary.
    fn serve(self, page: String) {
        let page = Arc::new(page);
        std::thread::spawn(move || {
            for s in self.listener.incoming() {
                let Ok(mut s) = s else { continue };
                let page = page.clone();
                std::thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    let mut buf = [0u8; 8192];
                    let n = s.read(&mut buf).unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]);
                    let body = if req.starts_with("GET /blog/thanks/ ") {
                        "<!DOCTYPE html><title>Thanks</title><h1>Thanks from the blog</h1>"
                            .to_string()
                    } else {
                        page.to_string()
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes());
                    let _ = s.write_all(body.as_bytes());
                });
            }
        });
    }
}

#[test]
fn the_embedded_form_on_another_origin_with_and_without_javascript() {
    if !browser_here() {
        return;
    }
    let blog = Blog::bind();
    let base = crate::helpers::CONFIG
        .replace("https://example.com/blog", &format!("{}/blog", blog.origin));
    let app = spawn_app_with(
        &base,
        &format!(
            "[web]\nmin_fill_time = \"1s\"\nreturn_url = \"{}/blog/thanks/\"\n",
            blog.origin
        ),
    );
    // The snippet as `gazette form --style card` prints it, for Gazette
    // where the test serves it.
    let mut settings = app.settings.clone();
    settings.newsletter.public_url = format!("http://{}", app.addr);
    let t = gazette::render::Templates::load(None)
        .unwrap()
        .messages("en")
        .unwrap();
    let page = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>A blog</title></head><body><h1>A post</h1>\n{}\n<script>document.body.setAttribute(\"data-js\", \"on\");</script></body></html>",
        snippet(&settings, &t, Style::Card)
    );
    let origin = blog.origin.clone();
    blog.serve(page);
    let thanks = format!("{origin}/blog/thanks/");

    // With JavaScript: the snippet's script fetched a token (CORS).
    let b = Driver::start();
    b.go(&format!("{origin}/"));
    let loaded = Instant::now();
    until(
        &b,
        "document.querySelector('#gazette-subscribe [name=token]').value",
    );
    assert!(b.source().contains("data-js=\"on\""));
    b.type_into("#gazette-email", "js@example.org");
    b.type_into("#gazette-name", "Jay Ess");
    std::thread::sleep(PERSON.saturating_sub(loaded.elapsed()));
    b.click("#gazette-subscribe button[type=submit]");
    b.wait_for("Thanks from the blog");
    assert_eq!(b.url(), thanks);
    confirm(&app, 1, "js@example.org");
    drop(b);

    // Without JavaScript: no token, so one more click on Gazette's page.
    let b = Driver::start_with(false);
    b.go(&format!("{origin}/"));
    b.wait_for("A post");
    assert!(!b.source().contains("data-js=\"on\""), "scripts ran");
    b.type_into("#gazette-email", "nojs@example.org");
    b.click("#gazette-subscribe button[type=submit]");
    let again = b.wait_for("One more click");
    assert!(again.contains("value=\"nojs@example.org\""), "{again}");
    assert_eq!(app.status_of("nojs@example.org"), None);
    let shown = Instant::now();
    std::thread::sleep(PERSON.saturating_sub(shown.elapsed()));
    b.click("button[type=submit]");
    b.wait_for("Thanks from the blog");
    assert_eq!(b.url(), thanks);
    // (Email 2 was the welcome of the first.)
    confirm(&app, 3, "nojs@example.org");
}
