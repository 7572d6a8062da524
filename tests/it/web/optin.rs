//! The web endpoints over real HTTP on 127.0.0.1, with a real SQLite file
//! and the confirmation email read back from the outbox folder.

use std::time::Duration;

use crate::helpers::wait::wait_for;
use crate::http;
use gazette::audience::Status;
use gazette::audience::SubscriberEmail;

#[allow(unused_imports)]
pub use crate::helpers::app::{
    spawn_app, spawn_app_full, spawn_app_with, spawn_app_with_token, App,
};

fn link_path(email: &str, prefix: &str) -> String {
    let start = email
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{email}"));
    let rest = &email[start + prefix.len()..];
    let end = rest
        .find(|c: char| {
            !(c.is_ascii_alphanumeric() || c == '.' || c == '/' || c == ':' || c == '-')
        })
        .unwrap();
    let url = &rest[..end];
    url.trim_start_matches("https://news.example.com")
        .to_string()
}

#[test]
fn subscribe_confirm_then_one_click_unsubscribe() {
    let app = spawn_app("");
    let page = http::get(app.addr, "/");
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("<form method=\"post\" action=\"subscribe\">"));
    assert!(page.body.contains("<label for=\"email\">"));

    let r = http::subscribe(app.addr, "email=Reader%40Example.org&name=Rea+Der");
    assert_eq!(r.status, 200, "{}", r.body);
    // The work runs after the answer: the email says it is done.
    let mail = app.wait_for_email(1);
    assert_eq!(app.status_of("reader@example.org"), Some(Status::Pending));
    // The confirmation goes to the bare address (changed deliberately: a
    // name given on the form is unproven and must not reach the owner's
    // To: line; it becomes the subscriber's name once confirmed).
    assert!(mail.contains("To: Reader@example.org"), "{mail}");
    assert!(!mail.contains("Rea Der"), "{mail}");
    assert!(
        mail.contains("Subject: Confirm your subscription to Test Notes"),
        "{mail}"
    );
    assert!(
        !mail.contains("List-Unsubscribe"),
        "a confirmation is not list mail"
    );
    let confirm = link_path(&mail, "https://news.example.com/confirm/");
    let confirm = format!("/confirm/{confirm}");
    // Opening the link shows a button; pressing it (a POST) confirms.
    let r = http::get(app.addr, &confirm);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.status_of("reader@example.org"), Some(Status::Pending));
    let r = http::post_form(app.addr, &confirm, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("You are subscribed"));
    assert_eq!(app.status_of("reader@example.org"), Some(Status::Active));
    // The link is used up.
    assert_eq!(http::get(app.addr, &confirm).status, 404);
    assert_eq!(http::post_form(app.addr, &confirm, "").status, 404);

    let token = app.unsub_token("reader@example.org");
    let page = http::get(app.addr, &format!("/unsubscribe/{token}"));
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("<button type=\"submit\">Unsubscribe</button>"));
    // RFC 8058 one-click: no cookie, no CSRF token.
    let r = http::post_form(
        app.addr,
        &format!("/unsubscribe/{token}"),
        "List-Unsubscribe=One-Click",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.status_of("reader@example.org"),
        Some(Status::Unsubscribed)
    );
    // Twice is fine.
    let r = http::post_form(
        app.addr,
        &format!("/unsubscribe/{token}"),
        "List-Unsubscribe=One-Click",
    );
    assert_eq!(r.status, 200);
    // A tampered token is unknown.
    let mut bad = token.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        http::post_form(app.addr, &format!("/unsubscribe/{bad}"), "").status,
        404
    );
    assert_eq!(http::get(app.addr, "/unsubscribe/not-a-token").status, 404);
}

#[test]
fn same_answer_for_new_pending_and_active_and_one_email_per_ten_minutes() {
    let app = spawn_app("");
    let body = |r: http::Response| (r.status, r.body);
    let first = body(http::subscribe(app.addr, "email=a%40example.org"));
    app.wait_for_email(1);
    let again = body(http::subscribe(app.addr, "email=a%40example.org"));
    assert_eq!(first, again);
    app.settled();
    assert_eq!(
        app.outbox_files().len(),
        1,
        "a pending address gets at most one email per 10 minutes"
    );
    // Active addresses get the same answer and no email.
    app._rt
        .block_on(app.store.add(
            &SubscriberEmail::parse("b@example.org").unwrap(),
            None,
            true,
            gazette::audience::Source::Cli,
            chrono::Utc::now(),
        ))
        .unwrap();
    let active = body(http::subscribe(app.addr, "email=b%40example.org"));
    assert_eq!(active.0, 200);
    assert_eq!(
        active.1.replace("b@example.org", "X"),
        first.1.replace("a@example.org", "X")
    );
    app.settled();
    assert_eq!(app.outbox_files().len(), 1);
}

#[test]
fn bad_input_is_answered_clearly() {
    let app = spawn_app("");
    let r = http::subscribe_json(app.addr, r#"{"email": "nope"}"#);
    assert_eq!(r.status, 422);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("not a valid email"));
    let r = http::subscribe(app.addr, "email=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(r.status, 422);
    assert!(
        !r.body.contains("<script>alert"),
        "user input must be escaped:\n{}",
        r.body
    );
    assert!(r.body.contains("&lt;script&gt;"));
    let big = format!("email=a%40example.org&name={}", "x".repeat(20 * 1024));
    assert_eq!(http::post_form(app.addr, "/subscribe", &big).status, 413);
    let r = http::subscribe_json(app.addr, r#"{"email": "j@example.org", "name": "J"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = http::request(
        app.addr,
        "GET",
        "/confirm/0123",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    let r = http::get(app.addr, "/healthz");
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
}

#[test]
fn confirmation_links_expire() {
    let app = spawn_app("[web]\nconfirm_ttl = \"1s\"\n");
    http::subscribe(app.addr, "email=late%40example.org");
    let mail = app.wait_for_email(1);
    let token = link_path(&mail, "https://news.example.com/confirm/");
    // The link works until its TTL runs out, then answers 410.
    let r = wait_for("the link to expire", Duration::from_secs(10), || {
        let r = http::get(app.addr, &format!("/confirm/{token}"));
        (r.status != 200).then_some(r)
    });
    assert_eq!(r.status, 410, "{}", r.body);
    assert!(r.body.contains("expired"));
    let r = http::post_form(app.addr, &format!("/confirm/{token}"), "");
    assert_eq!(r.status, 410, "{}", r.body);
    assert_eq!(app.status_of("late@example.org"), Some(Status::Pending));
}

#[test]
fn rate_limit_per_client_ip() {
    let app = spawn_app("[web]\nsubscribe_limit = 3\n");
    for i in 0..3 {
        assert_eq!(
            http::subscribe(app.addr, &format!("email=r{i}%40example.org")).status,
            200
        );
    }
    let r = http::subscribe(app.addr, "email=r9%40example.org");
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    // X-Forwarded-For is ignored unless trust_proxy is on.
    let r = http::request(
        app.addr,
        "POST",
        "/subscribe",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-For", "203.0.113.7"),
        ],
        http::with_token(app.addr, "email=x%40example.org").as_bytes(),
    );
    assert_eq!(r.status, 429);

    let app = spawn_app("[web]\nsubscribe_limit = 1\ntrust_proxy = true\n");
    let from = |ip: &str, e: &str| {
        http::request(
            app.addr,
            "POST",
            "/subscribe",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Forwarded-For", ip),
            ],
            http::with_token(app.addr, &format!("email={e}%40example.org")).as_bytes(),
        )
        .status
    };
    assert_eq!(from("203.0.113.7", "p1"), 200);
    assert_eq!(from("203.0.113.8", "p2"), 200);
    assert_eq!(from("203.0.113.7", "p3"), 429);
}

#[test]
fn two_hundred_concurrent_subscribes_lose_nothing() {
    let app = spawn_app("[web]\nsubscribe_limit = 0\n");
    let addr = app.addr;
    // From eight addresses: one client holds at most 32 connections.
    let handles: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || {
                let from = std::net::Ipv4Addr::new(127, 0, 0, 10 + (i % 8) as u8);
                let body = format!("email=c{i}%40example.org");
                http::subscribe_from(from.into(), addr, &body).status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    // The work runs after the answer: 200 emails say it is done.
    app.wait_for_email(200);
    assert_eq!(app.count(), 200);
}

#[test]
fn metrics_live_on_the_admin_listener_only() {
    let app = spawn_app("");
    assert_eq!(http::get(app.addr, "/metrics").status, 404);
    let admin = app.admin.expect("the admin listener is on");
    let r = http::get(admin, "/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("gazette_subscribers"), "{}", r.body);
}

#[test]
fn opening_a_confirmation_link_confirms_nothing_until_its_button_is_pressed() {
    let app = spawn_app("");
    let r = http::subscribe(app.addr, "email=scan%40example.org");
    assert_eq!(r.status, 200, "{}", r.body);
    let mail = app.wait_for_email(1);
    // The link in the email is the same as ever.
    let token = link_path(&mail, "https://news.example.com/confirm/");
    let path = format!("/confirm/{token}");
    // A mail scanner (Safe Links, a gateway) fetches it: HEAD, GET, JSON.
    let head = http::request(app.addr, "HEAD", &path, &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
    let page = http::get(app.addr, &path);
    assert_eq!(page.status, 200, "{}", page.body);
    let action = format!("<form method=\"post\" action=\"{token}\">");
    assert!(page.body.contains(&action), "{}", page.body);
    assert!(page.body.contains("<button type=\"submit\">"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("form-action 'self'"));
    let json = http::request(
        app.addr,
        "GET",
        &path,
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(json.status, 200, "{}", json.body);
    assert_eq!(json.json()["status"], "pending");
    assert_eq!(json.json()["confirm"]["method"], "POST");
    app.settled();
    assert_eq!(app.status_of("scan@example.org"), Some(Status::Pending));
    assert_eq!(app.outbox_files().len(), 1, "no welcome email yet");
    // The reader presses the button: the form's POST to the same URL.
    let r = http::post_form(app.addr, &path, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("You are subscribed"), "{}", r.body);
    assert_eq!(app.status_of("scan@example.org"), Some(Status::Active));
    // A well-formed token that matches nothing: the same 404 on GET, HEAD
    // and POST as a malformed one (nothing to tell them apart).
    let forged = format!("/confirm/{}.{}", "ab".repeat(9), "0".repeat(32));
    let bad = http::get(app.addr, "/confirm/0123");
    for r in [
        http::get(app.addr, &forged),
        http::post_form(app.addr, &forged, ""),
        http::get(app.addr, &path),
    ] {
        assert_eq!((r.status, &r.body), (404, &bad.body));
    }
    assert_eq!(
        http::request(app.addr, "HEAD", &forged, &[], b"").status,
        404
    );
}
