//! Click counts that track nobody (`[tracking] clicks`): a campaign's HTML
//! links go through `/c/{campaign}/{link}` on the public listener, the same
//! URL for every reader; known links count and redirect, anything else is
//! 404; the text part, the unsubscribe and preferences links stay as they
//! were; no row, log line or metric holds an address or an IP.

use std::time::Duration;

use crate::helpers::{Project, CONFIG};
use crate::http;
use crate::web::dashboard::{signed_in, TOKEN};
use crate::web::{spawn_app_with_token, App};

const BODY: &str = "Read [the guide](https://example.com/guide?a=1&b=2), \
    [the spec](https://example.org/spec) and [the guide again](https://example.com/guide?a=1&b=2).";

/// A post campaign carrying `BODY`, created as the worker creates one
/// (nobody gets it: it is marked done at once); its id.
pub fn campaign_with_links(app: &App) -> i64 {
    let text = format!("+++\ntitle = \"Links\"\ndate = 2026-11-20\n+++\n{BODY}\n");
    let post = gazette::content::parse_post(
        std::path::Path::new("posts/links.md"),
        &text,
        "https://example.com/blog",
    )
    .unwrap();
    let prepared = gazette::render::prepare_post(
        &gazette::render::Templates::builtin().unwrap(),
        &app.settings.newsletter,
        &post,
    )
    .unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let (id, _) = gazette::delivery::selections::create_post(
            &app.store,
            &app.settings,
            &prepared,
            &post,
            gazette::audience::prefs::Frequency::Both,
        )
        .await
        .unwrap();
        id
    })
}

fn links(app: &App, id: i64) -> Vec<(i64, String, i64)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut v: Vec<_> = rt
        .block_on(app.store.link_clicks(id))
        .unwrap()
        .into_iter()
        .map(|l| (l.link, l.url, l.clicks))
        .collect();
    v.sort();
    v
}

#[test]
fn the_redirect_counts_and_redirects_only_known_links() {
    let app = spawn_app_with_token("[tracking]\nclicks = true\n", TOKEN);
    let id = campaign_with_links(&app);
    let html = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(app.store.campaign_prepared::<gazette::render::Prepared>(id))
        .unwrap()
        .html;
    let base = format!("https://news.example.com/c/{id}/");
    assert!(html.contains(&format!("href=\"{base}1\"")), "{html}");
    assert!(html.contains(&format!("href=\"{base}2\"")), "{html}");
    assert!(
        !html.contains("href=\"https://example.org/spec\""),
        "{html}"
    );
    // Numbered in the order they appear: the template's links to the blog
    // and the post first, then the body's (the guide twice, one number).
    let known = links(&app, id);
    let guide = "https://example.com/guide?a=1&b=2";
    let urls: Vec<&str> = known.iter().map(|(_, u, _)| u.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://example.com/blog",
            "https://example.com/blog/links/",
            guide,
            "https://example.org/spec"
        ]
    );
    assert!(known.iter().all(|(_, _, n)| *n == 0));
    let g = known[2].0;
    assert_eq!(
        html.matches(&format!("href=\"{base}{g}\"")).count(),
        2,
        "{html}"
    );

    let path = |n: i64| format!("/c/{id}/{n}");
    for _ in 0..3 {
        let r = http::get(app.addr, &path(g));
        assert_eq!(r.status, 302);
        assert_eq!(r.header("location"), Some(guide));
        assert!(r.header("set-cookie").is_none(), "no cookie");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    // A link checker's HEAD is answered, not counted.
    let r = http::request(app.addr, "HEAD", &path(g), &[], b"");
    assert_eq!(r.status, 302);
    assert_eq!(links(&app, id)[2].2, 3);
    // Unknown ids: 404, never a redirect.
    for bad in [
        path(99),
        format!("/c/{}/1", id + 1000),
        "/c/abc/1".into(),
        format!("/c/{id}/-1"),
        format!("/c/{id}/+1"),
        format!("/c/{id}/1%2F..%2F2"),
    ] {
        let r = http::get(app.addr, &bad);
        assert_eq!(r.status, 404, "{bad}");
        assert!(r.header("location").is_none(), "{bad}");
    }
    // Nothing of the request decides where it goes.
    let r = http::get(app.addr, &format!("{}?url=https://evil.example", path(g)));
    assert_eq!(r.header("location"), Some(guide));
    assert_eq!(links(&app, id)[2].2, 4);
    // Not on the admin listener: readers click it on the public one.
    assert_eq!(http::get(app.admin.unwrap(), &path(g)).status, 404);

    // The metric, the dashboard's campaign page and its list.
    let auth = format!("Bearer {TOKEN}");
    let m = http::request(
        app.admin.unwrap(),
        "GET",
        "/metrics",
        &[("Authorization", &auth)],
        b"",
    );
    assert!(
        m.body
            .contains("gazette_link_clicks_total{kind=\"post\"} 4"),
        "{}",
        m.body
    );
    let c = signed_in(&app);
    let page = c.get(&format!("/admin/campaigns/{id}"));
    assert!(page.body.contains("id=\"clicks\">4<"), "{}", page.body);
    assert!(page.body.contains("guide?a=1&amp;b=2"), "{}", page.body);
    let list = c.get("/admin/campaigns");
    assert!(
        list.body.contains("data-field=\"clicks\">4<"),
        "{}",
        list.body
    );
}

#[test]
fn without_tracking_links_are_the_originals() {
    let app = spawn_app_with_token("", TOKEN);
    let id = campaign_with_links(&app);
    let html = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(app.store.campaign_prepared::<gazette::render::Prepared>(id))
        .unwrap()
        .html;
    assert!(html.contains("href=\"https://example.org/spec\""), "{html}");
    assert!(!html.contains("/c/"), "{html}");
    assert!(links(&app, id).is_empty());
    assert_eq!(http::get(app.addr, &format!("/c/{id}/1")).status, 404);
}

/// The email in the outbox, its quoted-printable decoded.
fn outbox_email(p: &Project) -> String {
    let dir = p.path().join("outbox");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|f| f.extension().is_some_and(|x| x == "eml"))
        .expect("an email in the outbox");
    http::decode_qp(&std::fs::read_to_string(file).unwrap())
}

/// The real binary: sent to a reader, clicked, counted; `campaigns show`,
/// `status --json` and `/metrics` have the numbers; no database row, log
/// line or metric holds the reader's address or an IP with a click.
#[test]
fn end_to_end_with_the_real_binary_nothing_identifies_the_reader() {
    let p = Project::with_config(&format!("{CONFIG}\n[tracking]\nclicks = true\n"));
    p.post("one", "Links", "2026-11-20", BODY);
    p.run(&["subscribers", "add", "reader@example.org", "--confirmed"])
        .ok();
    p.run(&["send", "post", "one", "--yes"]).ok();
    let mail = outbox_email(&p);
    let html_at = mail.find("<!DOCTYPE html>").expect("an HTML part");
    let text_at = mail.find("Content-Type: text/plain").expect("a text part");
    let (html, text) = if text_at < html_at {
        (&mail[html_at..], &mail[text_at..html_at])
    } else {
        (&mail[html_at..text_at], &mail[text_at..])
    };
    assert!(html.contains("href=\"http://127.0.0.1:9/c/1/1\""), "{html}");
    assert!(
        html.contains("http://127.0.0.1:9/unsubscribe/"),
        "not rewritten"
    );
    assert!(!html.contains("/c/1/1\">Unsubscribe"));
    assert!(
        text.contains("https://example.com/guide?a=1&b=2"),
        "the text part keeps it: {text}"
    );
    assert!(!text.contains("/c/1/"), "{text}");

    // Serve, with debug logging, stderr kept.
    let log = p.path().join("serve.log");
    let addr = crate::security::free_addr();
    let admin = crate::security::free_addr();
    let mut child = p
        .cmd()
        .args(["-v", "serve", "--listen", &addr.to_string()])
        .env("GAZETTE_ADMIN_LISTEN", admin.to_string())
        .env("GAZETTE_ADMIN_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for a in [addr, admin] {
        while std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_err() {
            assert!(std::time::Instant::now() < deadline, "serve did not listen");
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    let r = http::request(
        addr,
        "GET",
        "/c/1/1",
        &[
            ("X-Forwarded-For", "203.0.113.9"),
            ("User-Agent", "reader-agent"),
        ],
        b"",
    );
    assert_eq!(r.status, 302);
    assert_eq!(http::get(addr, "/c/1/2").status, 302);
    assert_eq!(http::get(addr, "/c/1/77").status, 404);
    let auth = format!("Bearer {TOKEN}");
    let m = http::request(admin, "GET", "/metrics", &[("Authorization", &auth)], b"");
    assert!(
        m.body
            .contains("gazette_link_clicks_total{kind=\"post\"} 2"),
        "{}",
        m.body
    );
    let _ = child.kill();
    let _ = child.wait();

    let show = p.run(&["campaigns", "show", "1"]);
    let out = show.ok().stdout();
    assert!(out.contains("clicks: 2 on 4 links"), "{out}");
    assert!(out.contains("https://example.org/spec"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&p.run(&["campaigns", "show", "1", "--json"]).ok().stdout()).unwrap();
    assert_eq!(json["clicks"][0]["link"], 1);
    assert_eq!(json["clicks"][0]["clicks"], 1);
    let status: serde_json::Value =
        serde_json::from_str(&p.run(&["status", "--json"]).ok().stdout()).unwrap();
    assert_eq!(status["growth"]["active"], 1);
    assert_eq!(status["growth"]["weeks"].as_array().unwrap().len(), 52);

    // Nothing kept or logged says who clicked.
    let logged = std::fs::read_to_string(&log).unwrap();
    for needle in ["reader@example.org", "203.0.113.9", "reader-agent", "/c/1/"] {
        assert!(!logged.contains(needle), "{needle} in the log:\n{logged}");
    }
    assert!(!m.body.contains("reader@example.org") && !m.body.contains("203.0.113.9"));
    let rows = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::{Column, Connection, Row};
        let url = format!("sqlite://{}", p.path().join("gazette.db").display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let rows = sqlx::query("SELECT * FROM campaign_links")
            .fetch_all(&mut db)
            .await
            .unwrap();
        let columns: Vec<String> = rows[0]
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        assert_eq!(columns, ["campaign_id", "link", "url", "clicks"]);
        rows.iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r.get::<i64, _>(0),
                    r.get::<i64, _>(1),
                    r.get::<String, _>(2),
                    r.get::<i64, _>(3)
                )
            })
            .collect::<Vec<_>>()
    });
    for row in &rows {
        assert!(
            !row.contains("reader@") && !row.contains("203.0.113"),
            "{row}"
        );
    }
}
