//! Feeds as a post source (issue 29), part three: the real worker polls a
//! feed served on 127.0.0.1: nothing is sent on its first read, a new item
//! goes out within a poll, an outage (500s, a server past the timeout)
//! loses and duplicates nothing; a digest on the schedule carries feed
//! items.

use std::time::{Duration, Instant};

use crate::helpers::feeds::{fixture, project, FeedServer};
use crate::helpers::procs::sigterm;
use crate::helpers::wait::wait_until;

fn outbox(p: &crate::helpers::Project) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(p.path().join("outbox")) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    v.sort();
    v
}

/// A worker process, killed if the test fails before it stops.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The WordPress fixture with one more item, newest.
fn with_item(slug: &str, title: &str) -> String {
    let feed = fixture("wordpress-rss2.xml");
    let item = format!(
        "\t<item>\n\t\t<title>{title}</title>\n\t\t<link>https://wp.example/2026/11/20/{slug}/</link>\n\
         \t\t<pubDate>Fri, 20 Nov 2026 12:00:00 +0000</pubDate>\n\t\t<guid isPermaLink=\"false\">{slug}</guid>\n\
         \t\t<content:encoded><![CDATA[<p>All about {title}.</p><script>x()</script>]]></content:encoded>\n\t</item>\n"
    );
    let at = feed.find("\t<item>").unwrap();
    format!("{}{item}{}", &feed[..at], &feed[at..])
}

#[test]
fn the_worker_sends_new_feed_items_once_and_survives_an_outage() {
    let srv = FeedServer::start(&fixture("wordpress-rss2.xml"));
    let p = project(
        &srv.url("/feed.xml"),
        "poll = \"1s\"\ntimeout = \"1s\"\n[publish]\nmode = \"email\"\n",
    );
    p.write("list.csv", "email\na@example.org\nb@example.org\n");
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    let mut worker = Running(
        p.cmd()
            .args(["worker", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(p.path().join("worker.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(p.path().join("worker.log")).unwrap_or_default();
    // Started on a feed of two items: nothing is sent.
    wait_until("the first read", Duration::from_secs(30), || {
        log().contains("read for the first time: 2 items")
    });
    wait_until("a few polls", Duration::from_secs(30), || {
        srv.requests("/feed.xml").len() >= 3
    });
    assert!(outbox(&p).is_empty(), "{:?}", outbox(&p));

    // A new item: each subscriber gets it within a poll or two.
    srv.set_body(&with_item("frost-fair", "Frost Fair"));
    wait_until("the new item's emails", Duration::from_secs(30), || {
        outbox(&p).len() == 2
    });
    let mails = outbox(&p);
    assert!(
        mails
            .iter()
            .all(|m| m.contains("Subject: Test Notes: Frost Fair")),
        "{mails:?}"
    );
    assert!(mails.iter().all(|m| !m.contains("<script")), "{mails:?}");

    // 500s, then a server past the timeout: logged once, nothing lost.
    srv.state.lock().unwrap().fail = Some(500);
    let before = srv.requests("/feed.xml").len();
    wait_until("polls during the outage", Duration::from_secs(30), || {
        srv.requests("/feed.xml").len() >= before + 3
    });
    {
        let mut s = srv.state.lock().unwrap();
        s.fail = None;
        s.delay = Some(Duration::from_secs(3));
    }
    let before = srv.requests("/feed.xml").len();
    wait_until("polls past the timeout", Duration::from_secs(30), || {
        srv.requests("/feed.xml").len() >= before + 2
    });
    srv.state.lock().unwrap().delay = None;
    // Back, with the item changed and one more: only the new one is sent.
    let changed = with_item("frost-fair", "Frost Fair (updated)");
    let both = {
        let extra = with_item("thaw", "Thaw");
        let at = extra.find("\t<item>").unwrap();
        let end = extra[at..].find("</item>\n").unwrap() + at + "</item>\n".len();
        let at2 = changed.find("\t<item>").unwrap();
        format!("{}{}{}", &changed[..at2], &extra[at..end], &changed[at2..])
    };
    srv.set_body(&both);
    wait_until("the next item's emails", Duration::from_secs(30), || {
        outbox(&p).len() == 4
    });
    wait_until("the recovery", Duration::from_secs(30), || {
        log().contains("is back")
    });
    // More polls of the recovered feed (each a request the server sees;
    // the third comes after the second's posts were scanned).
    let fetched = srv.requests("/feed.xml").len();
    wait_until("three more polls", Duration::from_secs(30), || {
        srv.requests("/feed.xml").len() >= fetched + 3
    });
    let mails = outbox(&p);
    assert_eq!(mails.len(), 4, "nothing duplicated");
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.contains("Subject: Test Notes: Thaw"))
            .count(),
        2
    );
    let log_text = log();
    assert_eq!(
        log_text.matches("feed unavailable").count(),
        1,
        "logged once per outage:\n{log_text}"
    );
    assert!(log_text.contains("HTTP 500"), "{log_text}");
    sigterm(&worker.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while worker.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "worker did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct TestClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl gazette::worker::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_on_the_schedule_carries_new_feed_items_and_a_gone_item_stays() {
    use chrono::TimeZone;
    use gazette::worker::{DigestTick, Worker};
    let srv = FeedServer::start(&fixture("wordpress-rss2.xml"));
    let p = project(
        &srv.url("/feed.xml"),
        "[digest]\nschedule = \"0 9 * * MON\"\nfirst_window_days = 30\n",
    );
    p.write("list.csv", "email\na@example.org\nb@example.org\n");
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    let settings = std::sync::Arc::new(
        gazette::config::load(
            &p.path().join("gazette.toml"),
            &Default::default(),
            &Default::default(),
        )
        .unwrap(),
    );
    let src = settings.feed.clone().unwrap();
    let store = gazette::store::Store::open(&settings.database_url)
        .await
        .unwrap();
    let clock = std::sync::Arc::new(TestClock(std::sync::Mutex::new(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 20, 13, 0, 0)
            .unwrap(),
    )));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let w = Worker::new(settings.clone(), store.clone(), clock.clone(), rx)
        .await
        .unwrap();
    gazette::content::feed_fetch::refresh(&src).await.unwrap();
    assert!(
        w.scan_posts().await.unwrap().is_empty(),
        "first read: nothing sent"
    );
    srv.set_body(&with_item("frost-fair", "Frost Fair"));
    gazette::content::feed_fetch::refresh(&src).await.unwrap();
    assert!(
        w.scan_posts().await.unwrap().is_empty(),
        "digest mode: no post email"
    );
    // The item leaves the feed before the digest: it is kept.
    srv.set_body(&fixture("wordpress-rss2.xml"));
    gazette::content::feed_fetch::refresh(&src).await.unwrap();
    *clock.0.lock().unwrap() = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let DigestTick::Sent { campaign, .. } = w.digest_tick().await.unwrap() else {
        panic!("no digest")
    };
    let c = store.campaign(campaign).await.unwrap().unwrap();
    assert!(c.posts.contains(&"frost-fair".to_string()), "{:?}", c.posts);
    assert!(
        c.posts.contains(&"hello-print-shop".to_string()),
        "{:?}",
        c.posts
    );
    assert!(
        !c.posts.contains(&"summer-break".to_string()),
        "{:?}",
        c.posts
    );
    drop(_tx);
}
