//! Error answers over real HTTP: 413 in JSON when the client asked for
//! JSON (public pages and the admin API), and a disabled webhook provider's
//! path answering 404 to every method, like a path that does not exist.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::helpers::app::spawn_app;
use crate::helpers::server::serve;
use crate::helpers::Project;
use crate::http;

#[test]
fn too_large_bodies_answer_json_when_json_was_asked_for() {
    let app = spawn_app("");
    let big = format!("email=a%40example.org&name={}", "x".repeat(20 * 1024));
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let r = http::request(
        app.addr,
        "POST",
        "/subscribe",
        &[form, ("Accept", "application/json")],
        big.as_bytes(),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(r.json()["error"], "request body too large");
    let json_big = format!(
        r#"{{"email": "a@example.org", "name": "{}"}}"#,
        "x".repeat(20 * 1024)
    );
    let r = http::post_json(app.addr, "/subscribe", &json_big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.json()["error"].is_string(), "{}", r.body);
    // A browser still gets text, and every answer the security headers.
    let r = http::request(app.addr, "POST", "/subscribe", &[form], big.as_bytes());
    assert_eq!(r.status, 413);
    assert!(!r.body.trim_start().starts_with('{'), "{}", r.body);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(app.count(), 0);
}

#[test]
fn the_admin_api_answers_413_in_its_error_format() {
    let p = Project::new();
    let token = "0123456789abcdef-api";
    let s = serve(&p, &[("GAZETTE_ADMIN_TOKEN", token)]);
    let body = format!(
        r#"{{"email": "a@example.org", "name": "{}"}}"#,
        "x".repeat(3 << 20)
    );
    let mut c = TcpStream::connect_timeout(&s.admin, http::TIMEOUT).unwrap();
    c.set_read_timeout(Some(http::TIMEOUT)).unwrap();
    c.set_write_timeout(Some(http::TIMEOUT)).unwrap();
    let head = format!(
        "POST /api/v1/subscribers HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    // The server may answer and close before the whole body is in.
    let _ = c.write_all(body.as_bytes());
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    let json: serde_json::Value = serde_json::from_str(raw.split_once("\r\n\r\n").unwrap().1)
        .unwrap_or_else(|e| panic!("{e}: {raw}"));
    assert_eq!(json["error"]["code"], "too_large", "{json}");
}

#[test]
fn a_disabled_webhook_is_404_for_every_method() {
    let app = spawn_app("");
    for p in ["ses", "postmark", "mailgun", "sendgrid"] {
        let path = format!("/webhooks/{p}");
        for m in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let r = http::request(app.addr, m, &path, &[], b"");
            assert_eq!(r.status, 404, "{m} {path}");
            assert_eq!(r.header("allow"), None, "{m} {path}");
        }
    }
    // The same answer as a path that never existed.
    let nowhere = http::request(app.addr, "GET", "/webhooks/nowhere", &[], b"");
    let disabled = http::request(app.addr, "GET", "/webhooks/ses", &[], b"");
    assert_eq!(nowhere.status, disabled.status);
    assert_eq!(nowhere.body, disabled.body);
}

#[test]
fn unknown_paths_get_the_sites_own_page_in_its_language() {
    let app = spawn_app("");
    let r = http::get(app.addr, "/no/such/page");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("<html lang=\"en\""), "{}", r.body);
    assert!(r.body.contains("There is no such page."), "{}", r.body);
    let german =
        crate::helpers::CONFIG.replace("[newsletter]\n", "[newsletter]\nlanguage = \"de\"\n");
    let de = crate::helpers::app::spawn_app_with(&german, "[archive]\nenabled = true\n");
    let r = http::get(de.addr, "/no/such/page");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Diese Seite gibt es nicht."), "{}", r.body);
    let r = http::get(de.addr, "/archive?page=abc");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Die Seiten des Archivs"), "{}", r.body);
    // A method a path does not take: the site's page, with `Allow`.
    let r = http::request(
        app.addr,
        "PUT",
        "/subscribe",
        &[("Accept", "text/html")],
        b"",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert!(r.body.contains("<html lang=\"en\""), "{}", r.body);
    assert!(
        r.body.contains("cannot be opened that way") && !r.body.contains("no such page"),
        "a page that exists is not called missing: {}",
        r.body
    );
    let r = http::request(
        app.addr,
        "GET",
        "/nope",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string(), "{}", r.body);
}
