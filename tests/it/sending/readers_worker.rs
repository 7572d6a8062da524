//! Readers' choices through the real worker: post emails only to readers
//! whose frequency includes posts, digests with only their topics' posts,
//! rendered once per distinct selection.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use gazette::config;
use gazette::store::campaigns::CampaignStatus;
use gazette::store::Store;
use gazette::worker::{Clock, DigestTick, Worker};

use crate::helpers::Project;

struct FixedClock(Mutex<DateTime<Utc>>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn utc(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
}

async fn wait_done(store: &Store, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.campaign_status(id).await.unwrap() != Some(CampaignStatus::Done) {
        assert!(Instant::now() < deadline, "campaign {id} never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (To, Subject, body) of every email in the outbox.
fn outbox(p: &Project) -> Vec<(String, String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(p.path().join("outbox"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|f| {
            let m = crate::http::decode_qp(&std::fs::read_to_string(f).unwrap());
            let header = |h: &str| {
                m.lines()
                    .find_map(|l| l.strip_prefix(h))
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            (header("To:"), header("Subject:"), m.clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frequency_and_topics_decide_who_gets_what() {
    let p = Project::with_config(&format!(
        "{}\n[publish]\nmode = \"both\"\nsettle = \"0s\"\nwait_until_live = false\n[digest]\nschedule = \"0 9 * * MON\"\nfirst_window_days = 30\n[topics]\nrust = \"Rust\"\ngo = \"Go\"\n",
        crate::helpers::CONFIG
    ));
    p.write(
        "list.csv",
        "email\nall@example.org\ndigest@example.org\nrust@example.org\n",
    );
    assert_eq!(
        p.run(&["subscribers", "import", "list.csv", "--confirmed"])
            .code(),
        0
    );
    let set = |args: &[&str]| {
        let r = p.run(&[&["subscribers", "set"], args].concat());
        assert_eq!(r.code(), 0, "{}", r.stderr());
        r.stdout()
    };
    assert!(set(&["digest@example.org", "--frequency", "digest"]).contains("frequency digest"));
    set(&[
        "rust@example.org",
        "--frequency",
        "digest",
        "--topics",
        "rust",
    ]);
    let bad = p.run(&[
        "subscribers",
        "set",
        "rust@example.org",
        "--topics",
        "cobol",
    ]);
    assert_eq!(bad.code(), 1);
    assert!(bad.stderr().contains("not a topic"), "{}", bad.stderr());

    let settings = Arc::new(
        config::load(
            &p.path().join("gazette.toml"),
            &Default::default(),
            &Default::default(),
        )
        .unwrap(),
    );
    let store = Store::open(&settings.database_url).await.unwrap();
    let clock = Arc::new(FixedClock(Mutex::new(utc(23, 12))));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let w = Worker::new(settings.clone(), store.clone(), clock.clone(), rx)
        .await
        .unwrap();
    w.scan_posts().await.unwrap();
    assert!(w.digest_tick().await.is_ok());

    // Two posts: one about Rust, one about Go, each mailed on its own.
    p.write(
        "posts/rusty.md",
        "+++\ntitle = \"Rusty\"\ndate = 2026-11-23\ntags = [\"rust\"]\nsubject = \"Own subject: Rust\"\n+++\nAbout Rust.\n",
    );
    p.write(
        "posts/gopher.md",
        "+++\ntitle = \"Gopher\"\ndate = 2026-11-23\ntags = [\"go\"]\n+++\nAbout Go.\n",
    );
    let started = w.scan_posts().await.unwrap();
    assert_eq!(started.len(), 2);
    for id in &started {
        wait_done(&store, *id).await;
    }
    let mails = outbox(&p);
    assert_eq!(mails.len(), 2, "only all@ gets post emails: {mails:?}");
    assert!(mails.iter().all(|(to, _, _)| to == "all@example.org"));
    assert!(
        mails.iter().any(|(_, s, _)| s == "Own subject: Rust"),
        "front matter subject"
    );

    // The digest: the whole of it for all@ and digest@, only Rust for rust@.
    *clock.0.lock().unwrap() = utc(30, 10);
    let DigestTick::Sent { campaign, .. } = w.digest_tick().await.unwrap() else {
        panic!("no digest sent");
    };
    wait_done(&store, campaign).await;
    let variants = store.variants_of(campaign).await.unwrap();
    assert_eq!(
        variants.len(),
        1,
        "one more rendering for the one other selection"
    );
    wait_done(&store, variants[0].0).await;
    let mails = outbox(&p);
    assert_eq!(mails.len(), 5, "{mails:?}");
    let digest_to = |who: &str| {
        mails[2..]
            .iter()
            .find(|(to, _, _)| to == who)
            .unwrap_or_else(|| panic!("no digest to {who}"))
            .clone()
    };
    for who in ["all@example.org", "digest@example.org"] {
        let (_, subject, body) = digest_to(who);
        assert_eq!(subject, "Test Notes: 2 new posts");
        assert!(body.contains("Rusty") && body.contains("Gopher"));
    }
    let (_, subject, body) = digest_to("rust@example.org");
    assert_eq!(subject, "Test Notes: Rusty");
    assert!(body.contains("Rusty") && !body.contains("Gopher"), "{body}");
    // Only the whole digest is archived.
    let (archived, n) = store.archive(0, 10).await.unwrap();
    assert_eq!(n, 3, "two posts and one digest");
    assert!(archived.iter().all(|e| e.id != variants[0].0));
}
