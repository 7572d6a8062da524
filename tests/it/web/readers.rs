//! For readers: the welcome email, preferences, the archive and its feed,
//! over real HTTP on 127.0.0.1 with a real SQLite file and the outbox.

use gazette::audience::Status;

use crate::helpers::app::{spawn_app, App};
use crate::http;

/// A page with Tera's `&#x2F;` read back as `/` (as a browser reads it).
fn get(app: &App, path: &str) -> http::Response {
    let mut r = http::get(app.addr, path);
    r.body = r.body.replace("&#x2F;", "/");
    r
}

fn post(app: &App, path: &str, body: &str) -> http::Response {
    let mut r = http::post_form(app.addr, path, body);
    r.body = r.body.replace("&#x2F;", "/");
    r
}

#[allow(unused_imports)]
pub use crate::helpers::readers::{
    link, sent_campaign, sent_campaign_dated, sent_digest, subscribe_and_confirm,
};

#[test]
fn confirming_twice_sends_one_welcome_email() {
    let app = spawn_app("");
    let confirm = subscribe_and_confirm(&app, "ann%40example.org", 1);
    assert_eq!(app.status_of("ann@example.org"), Some(Status::Active));
    let welcome = app.wait_for_email(2);
    assert!(
        welcome.contains("Subject: Welcome to Test Notes"),
        "{welcome}"
    );
    assert!(welcome.contains("List-Unsubscribe: <https://news.example.com/unsubscribe/"));
    let prefs = link(&welcome, "/preferences/");
    let token = app.unsub_token("ann@example.org");
    assert_eq!(prefs, format!("/preferences/{token}"));
    // The same link again, and a new subscription confirmed again: no second welcome.
    assert_eq!(http::get(app.addr, &confirm).status, 404);
    assert_eq!(http::post_form(app.addr, &confirm, "").status, 404);
    let r = http::subscribe(app.addr, "email=ann%40example.org");
    assert_eq!(r.status, 200);
    app.settled();
    assert_eq!(app.outbox_files().len(), 2, "one confirmation, one welcome");
    // The flag is taken: nothing claims a second welcome for this person.
    let e = gazette::audience::SubscriberEmail::parse("ann@example.org").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let again = rt.block_on(async {
        let sub = app.store.get(&e).await.unwrap().unwrap();
        app.store
            .claim_welcome(sub.id, chrono::Utc::now())
            .await
            .unwrap()
    });
    assert!(!again);
}

#[test]
fn welcome_can_be_switched_off_and_given_a_subject() {
    let app = spawn_app("[welcome]\nenabled = false\n");
    subscribe_and_confirm(&app, "bo%40example.org", 1);
    app.settled();
    assert_eq!(app.outbox_files().len(), 1);
    // A welcome is claimed before the answer and sent after it: unclaimed,
    // none is on its way.
    let e = gazette::audience::SubscriberEmail::parse("bo@example.org").unwrap();
    let unclaimed = app._rt.block_on(async {
        let sub = app.store.get(&e).await.unwrap().unwrap();
        app.store
            .claim_welcome(sub.id, chrono::Utc::now())
            .await
            .unwrap()
    });
    assert!(unclaimed, "no welcome claimed");

    let app = spawn_app("[welcome]\nsubject = \"Hello from {{ newsletter.title }}!\"\n");
    subscribe_and_confirm(&app, "cy%40example.org", 1);
    let welcome = app.wait_for_email(2);
    assert!(
        welcome.contains("Subject: Hello from Test Notes!"),
        "{welcome}"
    );
}

const TOPICS: &str = "[topics]\nrust = \"Rust\"\ngo = \"Go\"\n";

#[test]
fn preferences_page_saves_frequency_and_topics() {
    let app = spawn_app(TOPICS);
    subscribe_and_confirm(&app, "dee%40example.org", 1);
    let welcome = app.wait_for_email(2);
    let path = link(&welcome, "/preferences/");
    let page = get(&app, &path);
    assert_eq!(page.status, 200, "{}", page.body);
    // Labels on every field; the default is `[publish] mode` (digest).
    for id in ["f-each", "f-digest", "f-both", "t-1", "t-2"] {
        assert!(page.body.contains(&format!("<label for=\"{id}\">")), "{id}");
    }
    assert!(
        page.body.contains("value=\"digest\" checked"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<label for=\"t-1\">Go</label>"));
    assert!(
        page.body.contains("/unsubscribe/"),
        "an unsubscribe link beside it"
    );
    // A topic the newsletter does not have is refused with a message
    // naming it, and nothing is saved.
    let r = post(&app, &path, "frequency=both&topics=rust&topics=cobol");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("There is no topic &quot;cobol&quot; here"),
        "{}",
        r.body
    );
    assert!(get(&app, &path).body.contains("value=\"digest\" checked"));
    // Saving answers with the same page and a notice.
    let r = post(&app, &path, "frequency=both&topics=rust");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Your preferences are saved."));
    assert!(r.body.contains("value=\"both\" checked"));
    assert!(r.body.contains("value=\"rust\" checked"));
    assert!(!r.body.contains("value=\"go\" checked"));
    let again = get(&app, &path);
    assert!(again.body.contains("value=\"both\" checked"));
    assert!(again.body.contains("value=\"rust\" checked"));
    // A wrong token (same selector, other verifier) finds nothing.
    let (sel, _) = path
        .trim_start_matches("/preferences/")
        .split_once('.')
        .unwrap();
    let bad = format!("/preferences/{sel}.{}", "0".repeat(32));
    assert_eq!(get(&app, &bad).status, 404);
    assert_eq!(post(&app, &bad, "frequency=each").status, 404);
    assert_eq!(post(&app, &path, "frequency=weekly").status, 422);
}

#[test]
fn archive_pages_and_atom_feed() {
    let off = spawn_app("");
    assert_eq!(
        http::get(off.addr, "/archive").status,
        404,
        "off by default"
    );
    assert_eq!(http::get(off.addr, "/feed.xml").status, 404);

    let app = spawn_app("[archive]\nenabled = true\nper_page = 1\n");
    subscribe_and_confirm(&app, "eve%40example.org", 1);
    let first = sent_campaign(&app, "First & foremost", "The first <issue>.");
    let second = sent_campaign(&app, "Second", "The second issue.");
    let list = get(&app, "/archive");
    assert_eq!(list.status, 200);
    assert!(list
        .body
        .contains(&format!("https://news.example.com/archive/{second}/")));
    assert!(
        !list.body.contains(&format!("/archive/{first}/")),
        "paged: one per page"
    );
    assert!(list.body.contains("/archive?page=2"));
    let older = get(&app, "/archive?page=2");
    assert!(
        older
            .body
            .contains(&format!("/archive/{first}/test-notes-first-foremost")),
        "{}",
        older.body
    );

    let issue = get(&app, &format!("/archive/{first}/test-notes-first-foremost"));
    assert_eq!(issue.status, 200);
    assert!(issue.body.contains("Hello readers."));
    let token = app.unsub_token("eve@example.org");
    for personal in [
        token.as_str(),
        "/unsubscribe/",
        "/preferences/",
        "eve@example.org",
        "\u{E000}",
    ] {
        assert!(
            !issue.body.contains(personal),
            "{personal:?} in the archive page"
        );
    }
    assert_eq!(get(&app, "/archive/999/x").status, 404);
    // The email links to this page ("View in browser"); a reader's copy
    // keeps its own footer, the page does not.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stored = rt
        .block_on(
            app.store
                .campaign_prepared::<gazette::render::Prepared>(first),
        )
        .unwrap();
    let url = format!("https://news.example.com/archive/{first}/test-notes-first-foremost");
    assert!(
        stored.html.contains(&format!("href=\"{url}\"")),
        "{}",
        stored.html
    );
    assert!(
        stored.text.contains(&format!("View in browser: {url}")),
        "{}",
        stored.text
    );
    assert!(issue.body.contains("Hello readers.") && !issue.body.contains("View in browser"));

    let feed = get(&app, "/feed.xml");
    assert_eq!(feed.status, 200);
    assert!(feed
        .header("content-type")
        .unwrap()
        .starts_with("application/atom+xml"));
    check_feed(&feed.body, &[first, second]);
}

/// The feed read by Python's feedparser (scripts/setup/feedparser.sh): no
/// parse problem, Atom 1.0, every issue with an absolute link and summary.
fn check_feed(xml: &str, ids: &[i64]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.xml");
    std::fs::write(&path, xml).unwrap();
    let script = r#"
import json, sys
try:
    import feedparser
except ImportError:
    print("MISSING"); sys.exit(0)
d = feedparser.parse(sys.argv[1])
print(json.dumps({"bozo": d.bozo, "version": d.version, "title": d.feed.get("title"),
  "entries": [{"link": e.link, "title": e.title, "summary": e.summary, "id": e.id} for e in d.entries]}))
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script, path.to_str().unwrap()]);
    let out = crate::helpers::run_with_timeout(&mut cmd, std::time::Duration::from_secs(60));
    let stdout = out.stdout().trim().to_string();
    if stdout == "MISSING" {
        crate::helpers::skip_or_fail(
            "the feed parser check: feedparser missing",
            "scripts/setup/feedparser.sh installs it",
        );
        return;
    }
    let v: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {}", out.stderr()));
    assert_eq!(v["bozo"], false, "{v}\n{xml}");
    assert_eq!(v["version"], "atom10");
    assert_eq!(v["title"], "Test Notes");
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), ids.len());
    for (e, id) in entries.iter().zip(ids.iter().rev()) {
        let link = e["link"].as_str().unwrap();
        assert!(
            link.starts_with(&format!("https://news.example.com/archive/{id}/")),
            "{link}"
        );
    }
    assert_eq!(entries[1]["title"], "Test Notes: First & foremost");
    assert_eq!(entries[1]["summary"], "The first <issue>.");
}

#[test]
fn import_columns_set_preferences_and_welcome_only_with_the_flag() {
    let p = crate::helpers::Project::with_config(&format!(
        "{}\n[topics]\nrust = \"Rust\"\ngo = \"Go\"\n",
        crate::helpers::CONFIG
    ));
    p.write(
        "a.csv",
        "email,frequency,topics,city\nann@example.org,digest,\"rust, go\",Oslo\nbo@example.org,weekly,,Rome\n",
    );
    let r = p.run(&["subscribers", "import", "a.csv", "--confirmed"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(
        r.stderr().contains("bo@example.org: frequency:"),
        "{}",
        r.stderr()
    );
    let outbox = p.path().join("outbox");
    let count = || std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count(), 0, "an import sends no welcome email");
    p.write("b.csv", "email\ncy@example.org\n");
    let r = p.run(&["subscribers", "import", "b.csv", "--confirmed", "--welcome"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(count(), 1, "--welcome: one for the new address only");

    let settings = gazette::config::load(
        &p.path().join("gazette.toml"),
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = gazette::store::Store::open(&settings.database_url)
            .await
            .unwrap();
        let get = |e: &str| {
            let e = gazette::audience::SubscriberEmail::parse(e).unwrap();
            let store = store.clone();
            async move { store.get(&e).await.unwrap().unwrap() }
        };
        let ann = get("ann@example.org").await;
        let prefs = store.preferences(ann.id).await.unwrap();
        assert_eq!(
            prefs.frequency,
            Some(gazette::audience::prefs::Frequency::Digest)
        );
        assert_eq!(prefs.topics, ["rust", "go"]);
        assert_eq!(ann.attributes, serde_json::json!({"city": "Oslo"}));
        let bo = get("bo@example.org").await;
        assert_eq!(store.preferences(bo.id).await.unwrap().frequency, None);
        assert_eq!(
            bo.attributes["frequency"], "weekly",
            "a bad value is kept, not lost"
        );
    });
}

#[test]
fn a_scheduled_issue_is_not_public_before_it_is_sent() {
    let p = crate::helpers::Project::with_config(&format!(
        "{}\n[archive]\nenabled = true\n",
        crate::helpers::CONFIG
    ));
    p.post("later", "Later", "2026-11-01", "Not yet.");
    p.run(&["subscribers", "add", "r@example.org", "--confirmed"])
        .ok();
    p.run(&["send", "post", "later", "--at", "2030-01-01 09:00", "--yes"])
        .ok();
    let s = crate::helpers::server::serve(&p, &[]);
    let archive = crate::http::get(s.addr, "/archive");
    assert_eq!(archive.status, 200, "{}", archive.body);
    assert!(!archive.body.contains("/archive/1/"), "{}", archive.body);
    assert_eq!(crate::http::get(s.addr, "/archive/1/later").status, 404);
    let feed = crate::http::get(s.addr, "/feed.xml");
    assert!(!feed.body.contains("Later"), "{}", feed.body);
}

#[test]
fn a_dry_run_counts_the_readers_the_send_reaches() {
    let p = crate::helpers::Project::with_config(&format!(
        "{}\n[topics]\nrust = \"Rust\"\ngo = \"Go\"\n",
        crate::helpers::CONFIG
    ));
    p.write(
        "posts/r.md",
        "+++\ntitle = \"R\"\ndate = 2026-11-01\ntags = [\"rust\"]\n+++\nBody.\n",
    );
    for who in ["a", "b", "c"] {
        p.run(&[
            "subscribers",
            "add",
            &format!("{who}@example.org"),
            "--confirmed",
        ])
        .ok();
    }
    p.run(&[
        "subscribers",
        "set",
        "b@example.org",
        "--frequency",
        "digest",
    ])
    .ok();
    p.run(&["subscribers", "set", "c@example.org", "--topics", "go"])
        .ok();
    let out = p.run(&["send", "post", "r", "--dry-run"]);
    out.ok();
    assert!(
        out.stdout().contains("to 1 active subscriber;"),
        "{}",
        out.stdout()
    );
}

#[test]
fn the_feed_is_well_formed_xml_whatever_the_subjects_hold() {
    let app = spawn_app("[archive]\nenabled = true\n");
    subscribe_and_confirm(&app, "eve%40example.org", 1);
    // U+FFFE in a title, U+0008 in a summary (TOML escapes): XML 1.0
    // forbids both, so a feed carrying them is not XML.
    sent_campaign(&app, "Odd\\uFFFEtitle", "A back\\u0008space.");
    let feed = get(&app, "/feed.xml");
    assert_eq!(feed.status, 200, "{}", feed.body);
    assert!(feed.body.contains("Oddtitle"), "{}", feed.body);
    assert!(feed.body.contains("A backspace."), "{}", feed.body);
    let bad: Vec<char> = feed
        .body
        .chars()
        .filter(|&c| !gazette::web::xml::is_xml_char(c))
        .collect();
    assert!(bad.is_empty(), "characters XML forbids: {bad:?}");
}

#[test]
fn the_feed_has_validators_and_answers_304_while_unchanged() {
    let app = spawn_app("[archive]\nenabled = true\n");
    subscribe_and_confirm(&app, "eve%40example.org", 1);
    sent_campaign(&app, "One", "The first.");
    let feed = get(&app, "/feed.xml");
    assert_eq!(feed.status, 200, "{}", feed.body);
    let etag = feed.header("etag").expect("an ETag").to_string();
    let modified = feed
        .header("last-modified")
        .expect("a Last-Modified")
        .to_string();
    assert!(modified.ends_with(" GMT"), "{modified}");
    let cache = feed.header("cache-control").unwrap();
    assert!(
        cache.contains("max-age=300") && !cache.contains("no-store"),
        "{cache}"
    );
    // Pages keep no-store.
    let list = get(&app, "/archive");
    assert_eq!(list.header("cache-control"), Some("no-store"));
    let ask = |h: (&str, &str)| http::request(app.addr, "GET", "/feed.xml", &[h], b"");
    let same = ask(("If-None-Match", &etag));
    assert_eq!(same.status, 304, "{}", same.body);
    assert_eq!(same.body, "");
    assert_eq!(same.header("etag"), Some(etag.as_str()));
    assert_eq!(ask(("If-None-Match", &format!("W/{etag}"))).status, 304);
    assert_eq!(ask(("If-Modified-Since", &modified)).status, 304);
    assert_eq!(ask(("If-None-Match", "\"other\"")).status, 200);
    assert_eq!(
        ask(("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")).status,
        200
    );
    // A new issue changes the feed: the old validators get it in full (the
    // ETag is the body's hash, so no clock needs to tick first).
    sent_campaign(&app, "Two", "The second.");
    let fresh = ask(("If-None-Match", &etag));
    assert_eq!(fresh.status, 200);
    assert!(fresh.body.contains("The second."), "{}", fresh.body);
    assert_ne!(fresh.header("etag"), Some(etag.as_str()));
}

#[test]
fn archive_addresses_lead_to_the_right_page_or_the_sites_own_error() {
    let app = spawn_app("[archive]\nenabled = true\n");
    subscribe_and_confirm(&app, "eve%40example.org", 1);
    let id = sent_campaign(&app, "Right title", "Summary.");
    let right = format!("https://news.example.com/archive/{id}/test-notes-right-title");
    // Another slug, or none: a permanent redirect to the right address.
    for path in [
        format!("/archive/{id}/any-slug"),
        format!("/archive/{id}"),
        format!("/archive/0{id}/test-notes-right-title"),
    ] {
        let r = get(&app, &path);
        assert_eq!(r.status, 301, "{path}: {}", r.body);
        assert_eq!(r.header("location"), Some(right.as_str()), "{path}");
    }
    assert_eq!(
        get(&app, &format!("/archive/{id}/test-notes-right-title")).status,
        200
    );
    // Errors are the site's page, not axum's text or an empty body.
    let off = spawn_app("");
    assert!(get(&off, "/archive/1")
        .body
        .contains("There is no such page."));
    for path in [
        "/archive/999",
        "/archive/x",
        "/archive/x/y",
        "/archive/999/right-title",
    ] {
        let r = get(&app, path);
        assert_eq!(r.status, 404, "{path}");
        assert!(
            r.body.contains("There is no such page."),
            "{path}: {}",
            r.body
        );
    }
    for query in [
        "page=abc",
        "page=1e9",
        "page=1&page=2",
        "page=0",
        "page=-3",
        "page=99999999999",
    ] {
        let r = get(&app, &format!("/archive?{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.body.contains("<html"), "{query}: {}", r.body);
        assert!(
            r.body.contains("Pages of the archive are numbered"),
            "{query}: {}",
            r.body
        );
    }
    assert_eq!(get(&app, "/archive?page=1").status, 200);
    assert_eq!(
        get(&app, "/archive?page=2").status,
        404,
        "past the last page"
    );
    let json = http::request(
        app.addr,
        "GET",
        "/archive?page=abc",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(json.status, 400);
    assert!(
        json.json()["error"].as_str().unwrap().contains("\"abc\""),
        "{}",
        json.body
    );
}

#[test]
fn a_resent_issue_is_listed_once_and_one_sent_to_nobody_not_at_all() {
    let app = spawn_app("[archive]\nenabled = true\n");
    // Sent while nobody subscribed: not an issue anyone received.
    let nobody = sent_campaign(&app, "Into the void", "Nobody got it.");
    subscribe_and_confirm(&app, "eve%40example.org", 1);
    let first = sent_campaign(&app, "Once", "Sent once.");
    // `send post once --force`: the same post again.
    let again = sent_campaign(&app, "Once", "Sent once.");
    let other = sent_campaign(&app, "Twice", "Another post.");
    let list = get(&app, "/archive");
    assert_eq!(list.status, 200, "{}", list.body);
    let feed = get(&app, "/feed.xml");
    for body in [&list.body, &feed.body] {
        assert_eq!(body.matches("Sent once.").count(), 1, "{body}");
        assert!(body.contains(&format!("/archive/{first}/")), "{body}");
        assert!(!body.contains(&format!("/archive/{again}/")), "{body}");
        assert!(body.contains(&format!("/archive/{other}/")), "{body}");
        assert!(!body.contains("Into the void"), "{body}");
        assert!(!body.contains(&format!("/archive/{nobody}/")), "{body}");
    }
    // The resend's own "View in browser" link still shows its page.
    assert_eq!(
        get(&app, &format!("/archive/{again}/test-notes-once")).status,
        200
    );
}
