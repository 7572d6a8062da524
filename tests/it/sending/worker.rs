//! The worker: the schedule and the posts watcher with a controlled clock
//! (no sleeping for schedules), and the real binary under SIGTERM.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use gazette::config;
use gazette::store::campaigns::CampaignStatus;
use gazette::store::Store;
use gazette::worker::{Clock, DigestTick, Worker};

use crate::helpers::procs::sigterm;
use crate::helpers::Project;
use crate::smtp::{Script, SmtpServer};

struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

struct Setup {
    project: Project,
    store: Store,
    clock: Arc<TestClock>,
    settings: Arc<config::Settings>,
}

impl Setup {
    async fn new(extra: &str, start: DateTime<Utc>) -> Setup {
        let project = Project::with_config(&format!("{}\n{extra}\n", crate::helpers::CONFIG));
        project.write("list.csv", "email\na@example.org\nb@example.org\n");
        project
            .run(&["subscribers", "import", "list.csv", "--confirmed"])
            .ok();
        let path = project.path().join("gazette.toml");
        let settings =
            Arc::new(config::load(&path, &Default::default(), &Default::default()).unwrap());
        let store = Store::open(&settings.database_url).await.unwrap();
        Setup {
            project,
            store,
            clock: Arc::new(TestClock(Mutex::new(start))),
            settings,
        }
    }

    async fn worker(&self) -> Worker {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        std::mem::forget(_tx);
        Worker::new(
            self.settings.clone(),
            self.store.clone(),
            self.clock.clone(),
            rx,
        )
        .await
        .unwrap()
    }

    async fn campaign_ids(&self) -> Vec<i64> {
        self.store
            .campaigns()
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect()
    }

    async fn wait_done(&self, id: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.store.campaign_status(id).await.unwrap() == Some(CampaignStatus::Done) {
                return;
            }
            assert!(Instant::now() < deadline, "campaign {id} never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// These tests are about the schedule: their posts are known to the
/// worker only at the digest (no scan runs), where the publish gate would
/// otherwise make them settle and ask their pages first (tests/it/gate.rs).
const NO_GATE: &str = "[publish]\nsettle = \"0s\"\nwait_until_live = false";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_fires_on_schedule_in_a_non_utc_zone_across_dst() {
    // Mondays 09:00 Europe/Berlin: 07:00 UTC in summer, 08:00 UTC in winter.
    let s = Setup::new(&format!("[digest]\nschedule = \"0 9 * * MON\"\ntimezone = \"Europe/Berlin\"\nfirst_window_days = 30\n{NO_GATE}"), utc(2026, 10, 19, 6, 0)).await;
    s.project.post("one", "One", "2026-10-18", "First.");
    let w = s.worker().await;
    s.clock.set(utc(2026, 10, 19, 6, 59));
    assert_eq!(w.digest_tick().await.unwrap(), DigestTick::NotDue);
    s.clock.set(utc(2026, 10, 19, 7, 0));
    let DigestTick::Sent { period, campaign } = w.digest_tick().await.unwrap() else {
        panic!("not sent")
    };
    assert_eq!(period, utc(2026, 10, 19, 7, 0));
    s.wait_done(campaign).await;
    assert_eq!(
        w.digest_tick().await.unwrap(),
        DigestTick::NotDue,
        "once per period"
    );

    // After the change to winter time the same local 09:00 is 08:00 UTC.
    s.project.post("two", "Two", "2026-10-22", "Second.");
    s.clock.set(utc(2026, 10, 26, 7, 59));
    assert_eq!(w.digest_tick().await.unwrap(), DigestTick::NotDue);
    s.clock.set(utc(2026, 10, 26, 8, 0));
    let DigestTick::Sent { period, campaign } = w.digest_tick().await.unwrap() else {
        panic!("not sent")
    };
    assert_eq!(period, utc(2026, 10, 26, 8, 0));
    s.wait_done(campaign).await;
    let c = s.store.campaign(campaign).await.unwrap().unwrap();
    assert_eq!(
        c.posts,
        vec!["two"],
        "only the post no earlier digest carried"
    );
    assert_eq!(c.sent, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_period_is_caught_up_once_and_a_restart_sends_nothing_extra() {
    let s = Setup::new(
        &format!("[digest]\nschedule = \"0 9 * * MON\"\nfirst_window_days = 30\n{NO_GATE}"),
        utc(2026, 11, 2, 10, 0),
    )
    .await;
    s.project.post("p", "P", "2026-11-03", "Body.");
    let w = s.worker().await;
    assert_eq!(w.digest_tick().await.unwrap(), DigestTick::NotDue);
    // Down for three weeks: one digest for the latest period, no backlog.
    s.clock.set(utc(2026, 11, 25, 12, 0));
    let DigestTick::Sent { period, campaign } = w.digest_tick().await.unwrap() else {
        panic!("not sent")
    };
    assert_eq!(period, utc(2026, 11, 23, 9, 0));
    s.wait_done(campaign).await;
    assert_eq!(w.digest_tick().await.unwrap(), DigestTick::NotDue);
    // A restart in the middle of the period sends nothing.
    drop(w);
    let w = s.worker().await;
    s.clock.set(utc(2026, 11, 26, 9, 0));
    assert_eq!(w.digest_tick().await.unwrap(), DigestTick::NotDue);
    assert_eq!(s.campaign_ids().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_period_sends_nothing() {
    let s = Setup::new(
        "[digest]\nschedule = \"0 9 * * MON\"",
        utc(2026, 11, 20, 0, 0),
    )
    .await;
    let w = s.worker().await;
    s.clock.set(utc(2026, 11, 23, 9, 0));
    assert_eq!(
        w.digest_tick().await.unwrap(),
        DigestTick::Empty {
            period: utc(2026, 11, 23, 9, 0)
        }
    );
    assert_eq!(w.digest_tick().await.unwrap(), DigestTick::NotDue);
    assert!(s.campaign_ids().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_posts_in_email_mode_go_out_once() {
    let s = Setup::new(
        "[publish]\nmode = \"email\"\nsettle = \"0s\"\nwait_until_live = false",
        utc(2026, 11, 23, 12, 0),
    )
    .await;
    s.project.post(
        "old",
        "Old",
        "2026-11-01",
        "Existed before the first start.",
    );
    let w = s.worker().await;
    assert!(
        w.scan_posts().await.unwrap().is_empty(),
        "pre-existing posts are not blasted out"
    );

    s.project.post("fresh", "Fresh", "2026-11-23", "New.");
    let started = w.scan_posts().await.unwrap();
    assert_eq!(started.len(), 1);
    s.wait_done(started[0]).await;
    assert_eq!(s.store.campaign(started[0]).await.unwrap().unwrap().sent, 2);
    // Editing it does not send it again.
    s.project
        .post("fresh", "Fresh (edited)", "2026-11-23", "New, edited.");
    assert!(w.scan_posts().await.unwrap().is_empty());

    // Drafts and future posts wait until they are published.
    s.project.write(
        "posts/draft.md",
        "+++\ntitle = \"Draft\"\ndate = 2026-11-22\ndraft = true\n+++\nWIP\n",
    );
    s.project.post("later", "Later", "2026-11-25", "Scheduled.");
    assert!(w.scan_posts().await.unwrap().is_empty());
    s.clock.set(utc(2026, 11, 25, 0, 0));
    let later = w.scan_posts().await.unwrap();
    assert_eq!(later.len(), 1, "a future post goes out when its time comes");
    s.project.write(
        "posts/draft.md",
        "+++\ntitle = \"Draft\"\ndate = 2026-11-22\n+++\nDone\n",
    );
    let draft = w.scan_posts().await.unwrap();
    assert_eq!(draft.len(), 1, "a draft goes out once published");
    for id in later.iter().chain(&draft) {
        s.wait_done(*id).await;
    }
    let posts: Vec<Vec<String>> = s
        .store
        .campaigns()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.posts)
        .collect();
    assert_eq!(posts, vec![vec!["fresh"], vec!["later"], vec!["draft"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_mode_does_not_mail_posts_one_by_one() {
    let s = Setup::new("", utc(2026, 11, 23, 12, 0)).await;
    let w = s.worker().await;
    s.project.post("fresh", "Fresh", "2026-11-23", "New.");
    assert!(w.scan_posts().await.unwrap().is_empty());
    assert!(s.campaign_ids().await.is_empty());
}

#[test]
fn sigterm_mid_campaign_records_outcomes_and_a_restart_completes_it() {
    let smtp = SmtpServer::start(Script {
        delay: Duration::from_millis(10),
        ..Default::default()
    });
    let n = 150;
    let p = Project::with_config(&format!(
        "{}\n[smtp]\nurl = \"{}\"\nconcurrency = 2\n",
        crate::helpers::CONFIG,
        smtp.url()
    ));
    let mut csv = String::from("email\n");
    for i in 0..n {
        csv.push_str(&format!("u{i}@example.org\n"));
    }
    p.write("list.csv", csv);
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    p.post("p", "P", "2026-11-22", "Body.");

    // `send` stopped by SIGTERM leaves the campaign to the worker.
    let send = p.spawn(&["send", "digest", "--yes"]);
    smtp.wait_for(10);
    sigterm(&send);
    let out = send.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let show = |p: &Project| -> serde_json::Value {
        serde_json::from_str(&p.run(&["campaigns", "show", "1", "--json"]).stdout()).unwrap()
    };
    let c = show(&p);
    assert_eq!(c["status"], "sending");
    assert_eq!(
        c["sent"].as_u64().unwrap() as usize,
        smtp.received().len(),
        "every message sent is recorded"
    );

    // The worker resumes it; SIGTERM stops it cleanly with exit code 0.
    let worker = p.spawn(&["worker", "--listen", "127.0.0.1:0"]);
    let before = smtp.received().len();
    smtp.wait_for(before + 20);
    sigterm(&worker);
    let out = worker.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let c = show(&p);
    let received = smtp.received().len();
    assert!(received < n, "stopped too late to test anything");
    assert_eq!(c["status"], "sending");
    assert_eq!(
        c["sent"].as_u64().unwrap() as usize,
        received,
        "outcomes of the messages in flight are recorded"
    );

    // A restart completes it; nobody skipped, nobody twice.
    let mut worker = p.spawn(&["worker", "--listen", "127.0.0.1:0"]);
    smtp.wait_for(n);
    let deadline = Instant::now() + Duration::from_secs(20);
    while show(&p)["status"] != "done" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    sigterm(&worker);
    assert_eq!(worker.wait().unwrap().code(), Some(0));
    let per = smtp.per_recipient();
    assert_eq!(per.len(), n);
    assert!(
        per.values().all(|&c| c == 1),
        "nobody twice after graceful stops"
    );
}
