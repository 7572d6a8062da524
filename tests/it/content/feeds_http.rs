//! Feeds as a post source (issue 29), part two: fetched over real HTTP on
//! 127.0.0.1 by the real binary: conditional GET, redirects, gzip, a 500, a
//! server slower than the timeout, a body over the size cap; `file://`
//! and plain paths.

use std::time::{Duration, Instant};

use crate::helpers::{Project, CONFIG};

#[allow(unused_imports)]
pub use crate::helpers::feeds::{fixture, project, FeedServer, State};

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
