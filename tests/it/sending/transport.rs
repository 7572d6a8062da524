//! The queue against the in-memory transport (no sockets): scripted
//! replies through the retry policy, the one cancellation, and leases
//! fenced by their holder, with a real SQLite file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gazette::delivery::campaign;
use gazette::delivery::memory::{MemoryConnector, MemoryState};
use gazette::delivery::policy::Reply;
use gazette::delivery::progress::Progress;
use gazette::delivery::queue::{self, Finish, Options, RunSpec};
use gazette::store::campaigns::CampaignStatus;
use gazette::store::claims::ClaimOwner;
use gazette::store::Store;
use gazette::{config, content, render};

use crate::helpers::sending::project;
use crate::helpers::Project;

struct Setup {
    _project: Project,
    store: Store,
    settings: config::Settings,
}

async fn setup(n: usize) -> (Setup, i64) {
    let project = project(n, "max_attempts = 3");
    let path = project.path().join("gazette.toml");
    let settings = config::load(&path, &Default::default(), &Default::default()).unwrap();
    let store = Store::open(&settings.database_url).await.unwrap();
    let templates = render::Templates::load(Some(&settings.templates_dir)).unwrap();
    let catalog = content::load_dir(
        &settings.posts_dir,
        &settings.newsletter.base_url,
        settings.max_post_size,
    );
    let post = catalog.find("first").unwrap();
    let prepared = campaign::prepare(&templates, &settings, &[post], None).unwrap();
    let (id, total) = campaign::create(&store, &prepared, &[post]).await.unwrap();
    assert_eq!(total, n as i64);
    let s = Setup {
        _project: project,
        store,
        settings,
    };
    (s, id)
}

impl Setup {
    fn spec(&self, memory: &MemoryConnector) -> (RunSpec, tokio::sync::watch::Sender<bool>) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let spec = RunSpec {
            store: self.store.clone(),
            connector: Arc::new(memory.clone()),
            newsletter: Arc::new(self.settings.newsletter.clone()),
            opts: Options::from_settings(&self.settings),
            stop: rx,
            foreground: true,
        };
        (spec, tx)
    }
}

fn memory(script: Vec<Reply>) -> MemoryConnector {
    let m = MemoryConnector {
        timeout: Duration::from_secs(1),
        ..Default::default()
    };
    m.state.lock().unwrap().script = script.into();
    m
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the run hung")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_replies_go_through_the_policy() {
    let (s, id) = setup(20).await;
    let code = |c: u16| Reply::Code(c, format!("{c} scripted"));
    let m = memory(vec![
        code(421),
        code(451),
        code(550),
        Reply::Timeout("late".into()),
        Reply::Reset("reset".into()),
        code(452),
        code(554),
    ]);
    let (spec, _tx) = s.spec(&m);
    let finish = within(queue::run(&spec, id, Arc::new(Progress::default()))).await;
    assert_eq!(finish.unwrap(), Finish::Done);
    let c = s.store.campaign(id).await.unwrap().unwrap();
    // Two 5xx fail for good; everything else is retried and delivered.
    assert_eq!((c.sent, c.failed, c.pending), (18, 2, 0));
    let st: &MemoryState = &m.state.lock().unwrap();
    assert_eq!(st.delivered.len(), 18);
    assert!(st.connections >= 6, "a new connection after each failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_pauses_without_recording_anything() {
    let (s, id) = setup(300).await;
    let m = memory(vec![]);
    m.state.lock().unwrap().refuse = Some("server unreachable: stub: refused".into());
    let (spec, _tx) = s.spec(&m);
    let t = Instant::now();
    let finish = within(queue::run(&spec, id, Arc::new(Progress::default()))).await;
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let Finish::Unreachable { error, retry_in } = finish.unwrap() else {
        panic!("not unreachable")
    };
    assert!(error.contains("stub: refused"), "{error}");
    assert_eq!(
        retry_in,
        Duration::from_secs(60),
        "[worker] unreachable_retry"
    );
    let c = s.store.campaign(id).await.unwrap().unwrap();
    assert_eq!(
        (c.status, c.sent, c.pending),
        (CampaignStatus::Paused, 0, 300)
    );
    assert_eq!(s.store.unreachable_tries(id).await.unwrap(), 1);
    // Again: the backoff doubles.
    let finish = within(queue::run(&spec, id, Arc::new(Progress::default()))).await;
    assert!(matches!(
        finish.unwrap(),
        Finish::Unreachable { retry_in, .. } if retry_in == Duration::from_secs(120)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_leases_were_taken_stops_and_overwrites_nothing() {
    let (s, id) = setup(3000).await;
    let m = memory(vec![]);
    let (spec, _tx) = s.spec(&m);
    let run = tokio::spawn({
        let spec = spec.clone();
        async move { queue::run(&spec, id, Arc::new(Progress::default())).await }
    });
    // Let it start, then take every pending delivery as if its leases had
    // expired (a process whose clock is a minute ahead).
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.store.campaign(id).await.unwrap().unwrap().sent == 0 {
        if run.is_finished() {
            panic!("the run ended before sending anything: {:?}", run.await);
        }
        assert!(Instant::now() < deadline, "nothing sent in 30 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let later = chrono::Utc::now() + chrono::Duration::seconds(60);
    let until = later + chrono::Duration::seconds(60);
    let taken = s
        .store
        .claim_batch(id, "thief", later, until, 10_000)
        .await
        .unwrap();
    assert!(!taken.is_empty());
    let finish = within(run).await.unwrap().unwrap();
    assert!(matches!(finish, Finish::LostClaim(_)), "{finish:?}");
    let c = s.store.campaign(id).await.unwrap().unwrap();
    assert!(c.sent < 3000);
    assert_eq!(c.status, CampaignStatus::Sending, "left for the thief");
    // The thief's leases stand: its outcomes count, the old run's would not.
    let first = taken[0].delivery_id;
    let sent = gazette::store::campaigns::Recorded::Sent {
        message_id: "<x@example.com>".into(),
        at: chrono::Utc::now(),
    };
    assert!(!s
        .store
        .record(id, "someone-else", &[(first, sent.clone())])
        .await
        .unwrap());
    assert!(s.store.record(id, "thief", &[(first, sent)]).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_stops_the_run_and_records_what_was_in_flight() {
    let (s, id) = setup(3000).await;
    let m = memory(vec![]);
    let (spec, tx) = s.spec(&m);
    let run = tokio::spawn({
        let spec = spec.clone();
        async move { queue::run(&spec, id, Arc::new(Progress::default())).await }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while m.state.lock().unwrap().delivered.len() < 50 {
        assert!(Instant::now() < deadline, "nothing sent in 30 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tx.send(true).unwrap();
    let finish = within(run).await.unwrap().unwrap();
    assert_eq!(finish, Finish::Interrupted);
    let c = s.store.campaign(id).await.unwrap().unwrap();
    assert_eq!(c.status, CampaignStatus::Sending, "left for a resume");
    assert_eq!(c.sent as usize, m.state.lock().unwrap().delivered.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_hosts_leases_are_taken_only_after_they_expire() {
    let (s, id) = setup(5).await;
    let now = chrono::Utc::now();
    let lease = chrono::Duration::from_std(queue::CLAIM_STALE).unwrap();
    let elsewhere = ClaimOwner {
        host: "another-host.example".into(),
        pid: 4242,
        id: "elsewhere".into(),
    };
    let dead = |_: i64| true; // would be dead here, but it is not our host
    assert_eq!(
        s.store
            .join_campaign(id, &elsewhere, false, now, &dead)
            .await
            .unwrap(),
        Ok(())
    );
    let theirs = s
        .store
        .claim_batch(id, "elsewhere", now, now + lease, 100)
        .await
        .unwrap();
    assert_eq!(theirs.len(), 5);
    let me = queue::this_owner();
    let soon = now + chrono::Duration::seconds(4);
    s.store
        .join_campaign(id, &me, false, soon, &dead)
        .await
        .unwrap()
        .unwrap();
    let mine = s.store.claim_batch(id, &me.id, soon, soon + lease, 100);
    assert!(mine.await.unwrap().is_empty(), "live leases are not taken");
    let live = s
        .store
        .live_senders(soon, queue::CLAIM_STALE)
        .await
        .unwrap();
    assert_eq!(live.len(), 2, "{live:?}");
    let later = now + chrono::Duration::seconds(6);
    let mine = s
        .store
        .claim_batch(id, &me.id, later, later + lease, 100)
        .await
        .unwrap();
    assert_eq!(mine.len(), 5, "after the lease");
    // The old holder's outcomes are fenced off.
    let skipped = gazette::store::campaigns::Recorded::Skipped;
    let one = mine[0].delivery_id;
    assert!(!s
        .store
        .record(id, "elsewhere", &[(one, skipped.clone())])
        .await
        .unwrap());
    assert!(s.store.record(id, &me.id, &[(one, skipped)]).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_of_a_process_that_died_on_this_host_are_taken_at_once() {
    let (s, id) = setup(5).await;
    let now = chrono::Utc::now();
    let lease = chrono::Duration::from_std(queue::CLAIM_STALE).unwrap();
    let me = queue::this_owner();
    let gone = ClaimOwner {
        host: me.host.clone(),
        pid: 999_999_999,
        id: "gone".into(),
    };
    let alive = |_: i64| false;
    s.store
        .join_campaign(id, &gone, false, now, &alive)
        .await
        .unwrap()
        .unwrap();
    let theirs = s.store.claim_batch(id, "gone", now, now + lease, 100);
    assert_eq!(theirs.await.unwrap().len(), 5);
    // Its pid is dead here: joining gives its deliveries back.
    s.store
        .join_campaign(id, &me, false, now, &queue::pid_is_dead)
        .await
        .unwrap()
        .unwrap();
    let mine = s.store.claim_batch(id, &me.id, now, now + lease, 100);
    assert_eq!(mine.await.unwrap().len(), 5);
    assert_eq!(
        s.store
            .heartbeat_before(id, "gone", now, now + lease, now + lease)
            .await
            .unwrap(),
        None,
        "the dead sender is forgotten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_picks_up_queued_and_due_unreachable_campaigns() {
    let (s, id) = setup(5).await;
    let now = chrono::Utc::now();
    let settle = queue::CLAIM_STALE;
    // Just created: `gazette send` is about to claim it itself.
    assert!(s
        .store
        .campaigns_to_run(now, settle)
        .await
        .unwrap()
        .is_empty());
    let later = now + chrono::Duration::seconds(6);
    assert_eq!(
        s.store.campaigns_to_run(later, settle).await.unwrap(),
        vec![(id, CampaignStatus::Queued)]
    );
    // Paused as unreachable: due at its retry time, not before.
    let m = memory(vec![]);
    m.state.lock().unwrap().refuse = Some("server unreachable: stub".into());
    let (spec, _tx) = s.spec(&m);
    let finish = within(queue::run(&spec, id, Arc::new(Progress::default()))).await;
    assert!(matches!(finish.unwrap(), Finish::Unreachable { .. }));
    let info = s.store.campaign(id).await.unwrap().unwrap();
    let retry_at = chrono::DateTime::parse_from_rfc3339(&info.retry_at.unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let before = retry_at - chrono::Duration::seconds(1);
    assert!(s
        .store
        .campaigns_to_run(before, settle)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.store.campaigns_to_run(retry_at, settle).await.unwrap(),
        vec![(id, CampaignStatus::Paused)]
    );
    // Paused by hand: never retried on its own.
    let paused = [CampaignStatus::Paused];
    s.store
        .set_campaign_status(id, CampaignStatus::Paused, &paused, None, now)
        .await
        .unwrap();
    let much_later = retry_at + chrono::Duration::days(1);
    assert!(s
        .store
        .campaigns_to_run(much_later, settle)
        .await
        .unwrap()
        .is_empty());
}
