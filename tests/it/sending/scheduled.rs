//! Scheduled sends (`send … --at`) started by the worker with a controlled
//! clock, exactly once even with two workers; cancelling before the time;
//! and `send digest` refusing posts that earlier digests carried unless
//! `--force`.

use crate::helpers::procs::Watched;
use crate::helpers::OutputWithin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use gazette::config;
use gazette::store::campaigns::CampaignStatus;
use gazette::store::Store;
use gazette::worker::{Clock, Worker};

use crate::helpers::Project;

struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// A project in Europe/Berlin with two active subscribers and one post.
fn project() -> Project {
    let p = Project::with_config(&format!(
        "{}\n[digest]\ntimezone = \"Europe/Berlin\"\nfirst_window_days = 30\n",
        crate::helpers::CONFIG
    ));
    p.write("list.csv", "email\na@example.org\nb@example.org\n");
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    p.post("one", "One", "2026-11-20", "First post.");
    p
}

async fn worker(p: &Project, clock: Arc<TestClock>) -> (Worker, Store) {
    let path = p.path().join("gazette.toml");
    let settings = Arc::new(config::load(&path, &Default::default(), &Default::default()).unwrap());
    let store = Store::open(&settings.database_url).await.unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    let w = Worker::new(settings, store.clone(), clock, rx)
        .await
        .unwrap();
    (w, store)
}

async fn wait_done(store: &Store, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.campaign_status(id).await.unwrap() != Some(CampaignStatus::Done) {
        assert!(Instant::now() < deadline, "campaign {id} never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn outbox_count(p: &Project) -> usize {
    std::fs::read_dir(p.path().join("outbox"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_post_starts_at_its_local_time_exactly_once_with_two_workers() {
    let p = project();
    let out = p
        .run(&["send", "post", "one", "--at", "2026-12-01 09:00", "--yes"])
        .ok()
        .stdout();
    // 09:00 in Berlin in winter is 08:00 UTC.
    assert!(out.contains("scheduled for 2026-12-01T08:00:00"), "{out}");
    let list = p.run(&["campaigns", "list"]).ok().stdout();
    assert!(
        list.contains("scheduled") && list.contains("at 2026-12-01T08:00:00"),
        "campaigns list shows the time: {list}"
    );
    let json = p.run(&["campaigns", "list", "--json"]).ok().stdout();
    assert!(
        json.contains("\"scheduled_at\": \"2026-12-01T08:00:00"),
        "{json}"
    );
    assert_eq!(outbox_count(&p), 0, "nothing sent before its time");

    let clock = Arc::new(TestClock(Mutex::new(utc(2026, 12, 1, 7, 59))));
    let (w1, store) = worker(&p, clock.clone()).await;
    let (w2, _) = worker(&p, clock.clone()).await;
    assert!(
        w1.scheduled_tick().await.unwrap().is_empty(),
        "a minute early"
    );
    assert_eq!(
        store.campaign_status(1).await.unwrap(),
        Some(CampaignStatus::Scheduled)
    );
    clock.0.lock().unwrap().clone_from(&utc(2026, 12, 1, 8, 0));
    let (a, b) = tokio::join!(w1.scheduled_tick(), w2.scheduled_tick());
    let mut started = a.unwrap();
    started.extend(b.unwrap());
    assert_eq!(started, vec![1], "exactly one worker starts it");
    wait_done(&store, 1).await;
    assert!(w1.scheduled_tick().await.unwrap().is_empty());
    assert!(w2.scheduled_tick().await.unwrap().is_empty());
    let c = store.campaign(1).await.unwrap().unwrap();
    assert_eq!((c.total, c.sent), (2, 2));
    assert_eq!(outbox_count(&p), 2, "each subscriber got it once");
    // A post sent by schedule counts as sent.
    p.run(&["send", "post", "one", "--yes"])
        .fails_with("already sent (campaign 1)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_digest_cancelled_before_its_time_never_starts() {
    let p = project();
    let out = p
        .run(&[
            "send",
            "digest",
            "--at",
            "2026-12-01T09:00:00+00:00",
            "--yes",
        ])
        .ok()
        .stdout();
    assert!(
        out.contains("campaign 1: scheduled for 2026-12-01T09:00:00"),
        "{out}"
    );
    // The scheduled digest already holds the post: no second digest of it.
    let again = p.run(&["send", "digest", "--yes"]).ok().stdout();
    assert!(again.contains("no digest sent"), "{again}");
    let status = p.run(&["status", "--json"]).ok().stdout();
    assert!(status.contains("\"campaigns_scheduled\""), "{status}");
    let cancel = p.run(&["campaigns", "cancel", "1"]).ok().stdout();
    assert!(cancel.contains("cancelled before its time"), "{cancel}");
    p.run(&["campaigns", "cancel", "1"])
        .fails_with("campaign 1 is cancelled and cannot be cancelled");

    let clock = Arc::new(TestClock(Mutex::new(utc(2026, 12, 2, 0, 0))));
    let (w, store) = worker(&p, clock).await;
    assert!(w.scheduled_tick().await.unwrap().is_empty());
    assert_eq!(
        store.campaign_status(1).await.unwrap(),
        Some(CampaignStatus::Cancelled)
    );
    assert_eq!(outbox_count(&p), 0);
}

#[test]
fn bad_at_times_are_refused_with_the_reason() {
    let p = project();
    p.run(&["send", "post", "one", "--at", "2026-11-01 09:00", "--yes"])
        .fails_with("is not in the future");
    p.run(&["send", "post", "one", "--at", "next tuesday", "--yes"])
        .fails_with("--at: \"next tuesday\" is not a time");
    // 02:30 on the last Sunday of March does not exist in Berlin.
    p.run(&["send", "post", "one", "--at", "2027-03-28 02:30", "--yes"])
        .fails_with("does not exist in Europe/Berlin");
    p.run(&[
        "send",
        "post",
        "one",
        "--at",
        "2026-12-01 09:00",
        "--to",
        "x@example.org",
    ])
    .fails_with_code(2, "cannot be used with");
    assert!(p
        .run(&["campaigns", "list"])
        .ok()
        .stdout()
        .trim()
        .is_empty());
}

#[test]
fn a_digest_of_posts_earlier_digests_carried_is_refused_unless_forced() {
    let p = project();
    p.post("two", "Two", "2026-11-21", "Second post.");
    p.run(&["send", "digest", "--since", "2026-11-19", "--yes"])
        .ok();
    assert_eq!(outbox_count(&p), 2);
    // The default window: nothing new.
    let out = p.run(&["send", "digest", "--yes"]).ok().stdout();
    assert!(out.contains("no digest sent"), "{out}");
    // An explicit window over the same posts: refused, naming the campaign.
    p.run(&["send", "digest", "--since", "2026-11-19", "--yes"])
        .fails_with("every post of this digest was already sent in an earlier digest: two (campaign 1), one (campaign 1); use --force");
    // A window with one new post and one old: still refused.
    p.post("three", "Three", "2026-11-22", "Third post.");
    p.run(&["send", "digest", "--since", "2026-11-21", "--yes"])
        .fails_with(
            "some posts of this digest were already sent in an earlier digest: two (campaign 1)",
        );
    assert_eq!(outbox_count(&p), 2, "nothing sent by a refusal");
    // A dry run and a test send are not refused.
    p.run(&["send", "digest", "--since", "2026-11-19", "--dry-run"])
        .ok();
    // --force sends it again.
    p.run(&[
        "send",
        "digest",
        "--since",
        "2026-11-21",
        "--yes",
        "--force",
    ])
    .ok();
    assert_eq!(outbox_count(&p), 4);
}

#[test]
fn the_real_worker_starts_a_scheduled_campaign_once_its_time_has_passed() {
    let p = project();
    p.post("old", "Old", "2019-12-01", "A post from before.");
    // A reader who chose the digest only gets no scheduled post email.
    p.run(&[
        "subscribers",
        "add",
        "digest-only@example.org",
        "--confirmed",
    ])
    .ok();
    p.run(&[
        "subscribers",
        "set",
        "digest-only@example.org",
        "--frequency",
        "digest",
    ])
    .ok();
    // The CLI's "now" is pinned in the past, so the time given is in the
    // future for `send` and already past for the worker's clock (which
    // starts at the helper's later `GAZETTE_NOW`).
    let out = p
        .cmd()
        .env("GAZETTE_NOW", "2020-01-01T00:00:00Z")
        .args(["send", "post", "old", "--at", "2020-01-02 09:00", "--yes"])
        .output_within();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(outbox_count(&p), 0);
    let mut worker = p.spawn(&["worker", "--listen", "127.0.0.1:0"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let json = p.run(&["campaigns", "show", "1", "--json"]).ok().stdout();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        if v["status"] == "done" || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let stop = Instant::now() + Duration::from_secs(20);
    while worker.try_wait().unwrap().is_none() {
        if Instant::now() > stop {
            let _ = worker.kill();
            panic!("the worker did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["sent"], 2, "{status}");
    assert_eq!(status["scheduled_at"], "2020-01-02T08:00:00.000000Z");
    assert_eq!(outbox_count(&p), 2);
}

/// Migration 0030 rebuilds `campaigns` (a CHECK constraint changes): on a
/// database with campaigns, deliveries, posts and bounces, nothing is lost
/// and nothing cascades.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_status_migration_keeps_every_row() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let (url, mut c) = crate::helpers::sqlite_migrated_before(dir.path(), "0030").await;
    for sql in [
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, unsub_verifier) VALUES (1, 'a@example.org', 'a@example.org', 'active', 'cli', '2026-01-01T00:00:00Z', 'v')",
        "INSERT INTO campaigns (id, kind, subject, prepared, status, total, created_at) VALUES (7, 'post', 'S', '{}', 'done', 1, '2026-01-01T00:00:00Z')",
        "INSERT INTO campaign_posts (campaign_id, slug, post_date) VALUES (7, 'one', '2026-01-01T00:00:00Z')",
        "INSERT INTO deliveries (campaign_id, subscriber_id, status) VALUES (7, 1, 'sent')",
    ] {
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
    c.close().await.unwrap();

    let store = Store::open(&url).await.unwrap();
    let camp = store.campaign(7).await.unwrap().unwrap();
    assert_eq!(camp.status, CampaignStatus::Done);
    assert_eq!((camp.total, camp.sent), (1, 1));
    assert_eq!(camp.posts, vec!["one"]);
    assert_eq!(camp.scheduled_at, None);
    store.close().await;
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:?}");
    let deliveries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(deliveries, 1);
}

/// `gazette worker` with `GAZETTE_NOW` set, its output captured.
fn worker_at(p: &Project, now: &str) -> Watched {
    Watched::start(
        p.cmd()
            .env("GAZETTE_NOW", now)
            .args(["worker", "--listen", "127.0.0.1:0"]),
    )
}

fn status_of(p: &Project, id: i64) -> serde_json::Value {
    let json = p
        .run(&["campaigns", "show", &id.to_string(), "--json"])
        .ok()
        .stdout();
    serde_json::from_str(&json).unwrap()
}

/// Stop a worker (SIGTERM) and return what it logged.
fn stop(worker: Watched) -> String {
    let (out, _) = worker.stop(Duration::from_secs(30));
    out.ok().stderr()
}

/// Issue 24, item 8: the worker decided whether a scheduled send was due
/// by the real clock, though `send --at` had judged its time by
/// `GAZETTE_NOW`. Its clock now starts at `GAZETTE_NOW` and runs on.
#[test]
fn the_worker_starts_scheduled_sends_by_gazette_now() {
    let p = project();
    p.post("two", "Two", "2026-11-21", "Second post.");
    // Past for the real clock, ahead of the pinned one (2026-11-23 12:00).
    p.run(&["send", "post", "one", "--at", "2026-12-01 09:00", "--yes"])
        .ok();
    // Years ahead of the real clock: 09:00 in Berlin is 08:00 UTC.
    p.run(&["send", "post", "two", "--at", "2030-01-01 09:00", "--yes"])
        .ok();
    // Passes every 100 ms: a few of them, and nothing is due.
    p.add_config("[worker]\npoll_interval = \"100ms\"\n");
    let early = worker_at(&p, "2026-11-23T12:00:00Z");
    early.wait_passes(3);
    let log = stop(early);
    assert_eq!(status_of(&p, 1)["status"], "scheduled", "{log}");
    assert_eq!(status_of(&p, 2)["status"], "scheduled", "{log}");
    assert_eq!(outbox_count(&p), 0);

    // Two seconds before the second one's time: both go, the second once
    // the worker's clock has run on to it.
    let late = worker_at(&p, "2030-01-01T07:59:58Z");
    let deadline = Instant::now() + Duration::from_secs(30);
    while [1, 2]
        .iter()
        .any(|&id| status_of(&p, id)["status"] != "done")
    {
        assert!(Instant::now() < deadline, "not started by GAZETTE_NOW");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = stop(late);
    assert!(!log.contains("ERROR"), "{log}");
    assert_eq!(outbox_count(&p), 4);
}

/// Issue 24, item 8: of two workers racing for a scheduled campaign, the
/// one that came to help after the other had finished it logged "ERROR
/// campaign N is done and cannot be sent". Several campaigns, three
/// workers: none logs an error, each reader gets each post once.
#[test]
fn workers_racing_for_scheduled_campaigns_log_no_error() {
    let p = Project::with_config(&format!(
        "{}\n[digest]\ntimezone = \"Europe/Berlin\"\n[worker]\npoll_interval = \"100ms\"\n",
        crate::helpers::CONFIG
    ));
    p.write("list.csv", "email\na@example.org\nb@example.org\n");
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    const N: i64 = 6;
    for i in 1..=N {
        let slug = format!("p{i}");
        p.post(&slug, &format!("Post {i}"), "2026-10-20", "Hello.");
        // Scheduled by a CLI pinned earlier still: due for the workers.
        let out = p
            .cmd()
            .env("GAZETTE_NOW", "2026-11-01T00:00:00Z")
            .args(["send", "post", &slug, "--at", "2026-11-20 09:00", "--yes"])
            .output_within();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let workers: Vec<_> = (0..3)
        .map(|_| worker_at(&p, "2026-11-23T12:00:00Z"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (1..=N).any(|id| status_of(&p, id)["status"] != "done") {
        assert!(Instant::now() < deadline, "not all done");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A few more polls of every worker.
    for w in &workers {
        w.wait_passes(3);
    }
    for w in workers {
        let log = stop(w);
        assert!(!log.contains("ERROR"), "{log}");
    }
    assert_eq!(
        outbox_count(&p),
        2 * N as usize,
        "each reader got each post once"
    );
}
