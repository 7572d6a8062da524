//! The publish gate: the worker sends a new post once it has settled, is
//! not held and its URL answers 200. A real HTTP server on 127.0.0.1
//! stands in for the blog; the worker runs on a controlled clock (no
//! sleeping through `settle`); `posts hold`, `posts list` and `status` are
//! the real binary.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use gazette::config;
use gazette::store::Store;
use gazette::worker::{Clock, DigestTick, Worker};

use crate::helpers::sites::{Route, Web};
use crate::helpers::Project;

struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// The binary's `GAZETTE_NOW` (helpers::Project::cmd).
fn pinned() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

struct Blog {
    web: Web,
    project: Project,
    store: Store,
    clock: Arc<TestClock>,
    worker: Worker,
}

impl Blog {
    async fn new(publish: &str, start: DateTime<Utc>) -> Blog {
        let web = Web::start();
        let config = crate::helpers::CONFIG.replace(
            "base_url = \"https://example.com/blog\"",
            &format!("base_url = \"{}\"", web.url("/blog")),
        );
        let project = Project::with_config(&format!("{config}\n{publish}\n"));
        project.write("list.csv", "email\na@example.org\n");
        project
            .run(&["subscribers", "import", "list.csv", "--confirmed"])
            .ok();
        let path = project.path().join("gazette.toml");
        let settings =
            Arc::new(config::load(&path, &Default::default(), &Default::default()).unwrap());
        let store = Store::open(&settings.database_url).await.unwrap();
        let clock = Arc::new(TestClock(Mutex::new(start)));
        let (tx, rx) = tokio::sync::watch::channel(false);
        std::mem::forget(tx);
        let worker = Worker::new(settings, store.clone(), clock.clone(), rx)
            .await
            .unwrap();
        Blog {
            web,
            project,
            store,
            clock,
            worker,
        }
    }

    fn at(&self, t: DateTime<Utc>) {
        *self.clock.0.lock().unwrap() = t;
    }

    /// One scan of the posts; the slugs of the posts sent.
    async fn scan(&self) -> Vec<i64> {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.worker.scan_posts())
            .await
            .expect("scan within 30s")
            .unwrap()
    }

    async fn sent(&self, slug: &str) -> bool {
        self.store.post_campaign(slug).await.unwrap().is_some()
    }

    /// The slugs campaign `id` carries.
    async fn carried_by(&self, id: i64) -> Vec<String> {
        let all = self.store.post_carriers().await.unwrap();
        all.into_iter()
            .filter(|(_, cs)| cs.iter().any(|c| c.campaign_id == id))
            .map(|(slug, _)| slug)
            .collect()
    }

    fn page_hits(&self, slug: &str) -> usize {
        self.web.all_hits(&format!("/blog/{slug}/"))
    }
}

const EMAIL: &str = "[publish]\nmode = \"email\"\nsettle = \"10m\"\nlive_retry = \"1m\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_post_waits_for_settle_then_for_its_page_and_goes_out_once_live() {
    let t0 = pinned();
    let b = Blog::new(EMAIL, t0).await;
    b.project.post("hello", "Hello", "2026-11-20", "Hi.");

    // Settling: the page is not even asked.
    assert!(b.scan().await.is_empty());
    b.at(t0 + Duration::minutes(9));
    assert!(b.scan().await.is_empty());
    assert_eq!(b.page_hits("hello"), 0);
    let list = b.project.run(&["posts", "list"]);
    assert!(
        list.ok()
            .stdout()
            .contains("waiting to send: settling until 2026-11-23T12:10:00"),
        "{}",
        list.stdout()
    );

    // Settled, but the site is not deployed yet: 404, asked once a minute.
    b.at(t0 + Duration::minutes(10));
    assert!(b.scan().await.is_empty());
    b.at(t0 + Duration::seconds(630));
    assert!(b.scan().await.is_empty());
    assert_eq!(b.page_hits("hello"), 1);
    assert!(!b.sent("hello").await);
    let status = b.project.run(&["status"]);
    let out = status.ok().stdout();
    assert!(
        out.contains("waiting to send:  hello: waiting until live:") && out.contains("answers 404"),
        "{out}"
    );

    // Deployed (behind a redirect): sent at the next check, and only once.
    b.web
        .route("/blog/hello/", Route::Redirect("/blog/hello/index.html"));
    b.web.route("/blog/hello/index.html", Route::Status(200));
    b.at(t0 + Duration::minutes(11));
    assert_eq!(b.scan().await.len(), 1);
    assert!(b.sent("hello").await);
    assert_eq!(b.page_hits("hello"), 2);
    b.at(t0 + Duration::minutes(20));
    assert!(b.scan().await.is_empty());
    assert_eq!(b.page_hits("hello"), 2);
    let list = b.project.run(&["posts", "list", "--json"]);
    assert!(
        !list.ok().stdout().contains("\"gate\""),
        "{}",
        list.stdout()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_the_file_restarts_the_settle_wait() {
    let t0 = pinned();
    let b = Blog::new(EMAIL, t0).await;
    b.web.route("/blog/draft/", Route::Status(200));
    b.project
        .post("draft", "Draft", "2026-11-20", "First words.");
    assert!(b.scan().await.is_empty());
    b.at(t0 + Duration::minutes(8));
    b.project
        .post("draft", "Draft", "2026-11-20", "Better words.");
    assert!(b.scan().await.is_empty());
    b.at(t0 + Duration::minutes(12));
    assert!(
        b.scan().await.is_empty(),
        "sent before the new settle ended"
    );
    assert_eq!(b.page_hits("draft"), 0);
    b.at(t0 + Duration::minutes(18));
    assert_eq!(b.scan().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_hold_stops_a_post_and_release_restarts_its_wait() {
    let t0 = pinned() - Duration::hours(1);
    let b = Blog::new(EMAIL, t0).await;
    b.web.route("/blog/oops/", Route::Status(200));
    b.project
        .post("oops", "Oops", "2026-11-20", "Sent by mistake?");
    assert!(b.scan().await.is_empty());
    b.project.run(&["posts", "hold", "oops"]).ok();
    b.at(t0 + Duration::minutes(30));
    assert!(b.scan().await.is_empty());
    assert!(!b.sent("oops").await);
    let out = b.project.run(&["status"]).ok().stdout();
    assert!(out.contains("waiting to send:  oops: held"), "{out}");

    // Released at the binary's 12:00: ten more minutes of settle.
    b.project.run(&["posts", "release", "oops"]).ok();
    b.at(pinned() + Duration::minutes(5));
    assert!(b.scan().await.is_empty());
    b.at(pinned() + Duration::minutes(10));
    assert_eq!(b.scan().await.len(), 1);
    assert!(b.sent("oops").await);
    // Taken up: nothing to hold any more.
    b.project
        .run(&["posts", "hold", "oops"])
        .fails_with("already taken up by the worker");
    b.project
        .run(&["posts", "hold", "nosuch"])
        .fails_with("no post with slug \"nosuch\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_site_never_comes_up_is_reported_after_live_timeout_and_not_sent() {
    let t0 = pinned();
    let cfg = "[publish]\nmode = \"email\"\nsettle = \"0s\"\nlive_timeout = \"1h\"";
    let b = Blog::new(cfg, t0).await;
    b.project
        .post("never", "Never", "2026-11-20", "Nobody deployed me.");
    assert!(b.scan().await.is_empty());
    b.at(t0 + Duration::minutes(30));
    assert!(b.scan().await.is_empty());
    b.at(t0 + Duration::minutes(61));
    assert!(b.scan().await.is_empty());
    let asked = b.page_hits("never");
    assert_eq!(asked, 3);
    let out = b.project.run(&["status"]).ok().stdout();
    assert!(
        out.contains("waiting to send:  never: given up: not live after")
            && out.contains("gazette send post never"),
        "{out}"
    );
    // Left for a hand-run send: the worker neither asks nor sends again,
    // even once the site is up.
    b.web.route("/blog/never/", Route::Status(200));
    b.at(t0 + Duration::hours(3));
    assert!(b.scan().await.is_empty());
    assert_eq!(b.page_hits("never"), asked);
    assert!(!b.sent("never").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_leaves_out_a_post_not_live_yet_and_the_next_digest_carries_it() {
    // Mondays 09:00 UTC; the worker starts on Sunday.
    let start = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
    let cfg =
        "[publish]\nsettle = \"0s\"\n[digest]\nschedule = \"0 9 * * MON\"\nfirst_window_days = 30";
    let b = Blog::new(cfg, start).await;
    b.web.route("/blog/live/", Route::Status(200));
    b.project
        .post("live", "Live", "2026-11-15T13:00:00Z", "Deployed.");
    b.project
        .post("late", "Late", "2026-11-15T14:00:00Z", "Not deployed.");
    b.at(Utc.with_ymd_and_hms(2026, 11, 16, 9, 0, 1).unwrap());
    assert!(b.scan().await.is_empty());
    let DigestTick::Sent { campaign, .. } = b.worker.digest_tick().await.unwrap() else {
        panic!("no digest");
    };
    let carried = b.carried_by(campaign).await;
    assert_eq!(carried, vec!["live".to_string()]);

    // Deployed during the week: the next digest carries it.
    b.web.route("/blog/late/", Route::Status(200));
    b.at(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 1).unwrap());
    assert!(b.scan().await.is_empty());
    let DigestTick::Sent { campaign, .. } = b.worker.digest_tick().await.unwrap() else {
        panic!("no second digest");
    };
    let carried = b.carried_by(campaign).await;
    assert_eq!(carried, vec!["late".to_string()]);
}

/// A post written just before the digest's time, which no scan has seen
/// yet, meets the gate at the digest: left out while its page is not live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_no_scan_has_seen_yet_meets_the_gate_at_the_digest() {
    let start = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
    let cfg =
        "[publish]\nsettle = \"0s\"\n[digest]\nschedule = \"0 9 * * MON\"\nfirst_window_days = 30";
    let b = Blog::new(cfg, start).await;
    b.web.route("/blog/live/", Route::Status(200));
    b.project
        .post("live", "Live", "2026-11-15T13:00:00Z", "Deployed.");
    b.project
        .post("late", "Late", "2026-11-16T08:59:00Z", "Not deployed.");
    b.at(Utc.with_ymd_and_hms(2026, 11, 16, 9, 0, 1).unwrap());
    let DigestTick::Sent { campaign, .. } = b.worker.digest_tick().await.unwrap() else {
        panic!("no digest");
    };
    assert_eq!(b.carried_by(campaign).await, vec!["live".to_string()]);
    assert!(b.page_hits("late") >= 1, "its page was asked");

    b.web.route("/blog/late/", Route::Status(200));
    b.at(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 1).unwrap());
    assert!(b.scan().await.is_empty());
    let DigestTick::Sent { campaign, .. } = b.worker.digest_tick().await.unwrap() else {
        panic!("no second digest");
    };
    assert_eq!(b.carried_by(campaign).await, vec!["late".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_until_live_false_sends_without_asking_the_site() {
    let t0 = pinned();
    let cfg = "[publish]\nmode = \"email\"\nsettle = \"0s\"\nwait_until_live = false";
    let b = Blog::new(cfg, t0).await;
    b.project
        .post("direct", "Direct", "2026-11-20", "No check.");
    assert_eq!(b.scan().await.len(), 1);
    assert_eq!(b.page_hits("direct"), 0);
}

/// `posts hold`, `status`, `posts list` and `posts release` keep the gate's
/// state in the database, SQLite and PostgreSQL alike.
#[test]
fn hold_and_release_on_each_backend() {
    for backend in ["sqlite", "postgres"] {
        let Some(p) = Project::new().on(backend) else {
            continue;
        };
        p.post("held", "Held", "2026-11-20", "Wait.");
        p.post("gone", "Gone", "2026-11-20", "Removed later.");
        p.run(&["posts", "hold", "held"]).ok();
        p.run(&["posts", "hold", "gone"]).ok();
        std::fs::remove_file(p.path().join("posts/gone.md")).unwrap();
        let out = p.run(&["status"]).ok().stdout();
        assert!(
            out.contains("waiting to send:  held: held (gazette posts release"),
            "{backend}: {out}"
        );
        assert!(
            !out.contains("gone:"),
            "{backend}: a removed post listed: {out}"
        );
        let list = p.run(&["posts", "list", "--json"]).ok().stdout();
        let v: serde_json::Value = serde_json::from_str(&list).unwrap();
        assert!(
            v[0]["gate"].as_str().unwrap().starts_with("held"),
            "{backend}: {list}"
        );
        p.run(&["posts", "release", "held"]).ok();
        let out = p.run(&["status", "--json"]).ok().stdout();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let at_gate = v["posts_at_gate"].as_array().unwrap();
        assert_eq!(at_gate.len(), 1, "{backend}: {out}");
        assert_eq!(at_gate[0]["slug"], "held");
        assert!(
            !at_gate[0]["why"].as_str().unwrap().starts_with("held"),
            "{backend}: {out}"
        );
    }
}

/// `posts hold` while the worker is asking the post's page: the hold wins
/// (the worker's decision, made on the record before the hold, is dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_during_a_live_check_is_not_lost() {
    let t0 = pinned();
    let cfg = "[publish]\nmode = \"email\"\nsettle = \"0s\"";
    let b = Arc::new(Blog::new(cfg, t0).await);
    b.web.route(
        "/blog/race/",
        Route::Slow(std::time::Duration::from_millis(1500)),
    );
    b.project.post("race", "Race", "2026-11-20", "Quick!");
    let scan = {
        let b = b.clone();
        tokio::spawn(async move { b.scan().await })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.page_hits("race") == 0 {
        assert!(std::time::Instant::now() < deadline, "page never asked");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let p = b.project.path().to_path_buf();
    let held = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gazette"));
        cmd.current_dir(p).args(["posts", "hold", "race"]);
        crate::helpers::run_with_timeout(&mut cmd, std::time::Duration::from_secs(30)).code()
    })
    .await
    .unwrap();
    assert_eq!(held, 0);
    assert!(scan.await.unwrap().is_empty(), "sent although held");
    b.at(t0 + Duration::minutes(5));
    assert!(b.scan().await.is_empty());
    assert!(!b.sent("race").await);
    let out = b.project.run(&["status"]).ok().stdout();
    assert!(out.contains("waiting to send:  race: held"), "{out}");
}

fn eml_count(p: &Project) -> usize {
    std::fs::read_dir(p.path().join("outbox"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

/// The real `gazette worker`: a new post is held while its page answers
/// 404 (asked every `live_retry`) and mailed once it answers 200.
#[test]
fn the_worker_binary_mails_a_post_once_its_page_is_live() {
    use std::time::{Duration as Std, Instant};
    let web = Web::start();
    let config = crate::helpers::CONFIG.replace(
        "base_url = \"https://example.com/blog\"",
        &format!("base_url = \"{}\"", web.url("/blog")),
    );
    let p = Project::with_config(&format!(
        "{config}\n[publish]\nmode = \"email\"\nsettle = \"1s\"\nlive_retry = \"1s\"\n[worker]\npoll_interval = \"200ms\"\n"
    ));
    p.write("list.csv", "email\na@example.org\n");
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    let worker = p
        .cmd()
        .args(["worker", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Std::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "{what} within 30s");
            std::thread::sleep(Std::from_millis(50));
        }
    };
    wait_for("the worker's first start", &|| {
        !p.run(&["status"]).stdout().contains("has not run yet")
    });
    p.post("live", "Live", "2026-11-20", "Deployed soon.");
    wait_for("three checks of the page", &|| {
        web.all_hits("/blog/live/") >= 3
    });
    assert_eq!(eml_count(&p), 0, "mailed before its page was live");
    web.route("/blog/live/", Route::Status(200));
    wait_for("the email", &|| eml_count(&p) == 1);
    crate::helpers::procs::sigterm(&worker);
    let (out, _) = crate::helpers::procs::finish_within(worker, Std::from_secs(30));
    let log = out.ok().stderr();
    assert!(log.contains("post live passed the publish gate"), "{log}");
    assert_eq!(eml_count(&p), 1);
}
