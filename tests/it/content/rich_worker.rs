//! The worker and a post it cannot render (issue 28): an unknown shortcode
//! is reported once and the post is never sent; the other posts go out.
//! A post whose campaign the database failed to create is tried again.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use gazette::config;
use gazette::store::Store;
use gazette::worker::{Clock, Worker};

use crate::helpers::Project;

struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A project mailing each post to one reader, and its worker (stopped
/// when the returned sender says so or is dropped).
async fn one_reader_mailing_posts() -> (Project, Store, Worker, tokio::sync::watch::Sender<bool>) {
    let project = Project::with_config(&format!(
        "{}\n[publish]\nmode = \"email\"\nsettle = \"0s\"\nwait_until_live = false\n",
        crate::helpers::CONFIG
    ));
    project.write("list.csv", "email\na@example.org\n");
    project
        .run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    let settings = Arc::new(
        config::load(
            &project.path().join("gazette.toml"),
            &Default::default(),
            &Default::default(),
        )
        .unwrap(),
    );
    let store = Store::open(&settings.database_url).await.unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let clock = Arc::new(FixedClock(
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
    ));
    let w = Worker::new(settings.clone(), store.clone(), clock, rx)
        .await
        .unwrap();
    (project, store, w, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_with_an_unknown_shortcode_is_reported_once_and_not_sent() {
    let (project, store, w, tx) = one_reader_mailing_posts().await;

    project.post(
        "mystery",
        "Mystery",
        "2026-11-23",
        "Intro.\n\n{{< mastodon id=\"1\" >}}\n",
    );
    project.post("plain", "Plain", "2026-11-22", "Nothing special.");
    let err = w.scan_posts().await.unwrap_err().to_string();
    assert!(
        err.contains("mystery.md:7: unknown shortcode \"mastodon\""),
        "{err}"
    );
    // Not reported again, never sent; the other post goes out.
    let started = w.scan_posts().await.unwrap();
    assert_eq!(started.len(), 1);
    assert!(w.scan_posts().await.unwrap().is_empty());
    let posts: Vec<Vec<String>> = store
        .campaigns()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.posts)
        .collect();
    assert_eq!(posts, vec![vec!["plain".to_string()]]);
    let _ = tx.send(true);
}

/// A post whose campaign the database fails to create (here a trigger
/// refuses the INSERT, as a full disk or a lost connection would) is not
/// lost: the next scan, once the database works again, sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_campaign_the_database_refused_is_sent_by_the_next_scan() {
    use sqlx::Connection;
    let (project, store, w, tx) = one_reader_mailing_posts().await;
    let mut db = sqlx::SqliteConnection::connect(&project.database_url())
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON campaigns BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    )
    .execute(&mut db)
    .await
    .unwrap();

    project.post("fresh", "Fresh", "2026-11-23", "Hello.");
    let err = w.scan_posts().await.unwrap_err().to_string();
    assert!(err.contains("disk I/O error"), "{err}");
    assert!(store.campaigns().await.unwrap().is_empty());

    sqlx::query("DROP TRIGGER refuse")
        .execute(&mut db)
        .await
        .unwrap();
    let started = w.scan_posts().await.unwrap();
    assert_eq!(started.len(), 1, "the post is tried again and sent");
    assert!(w.scan_posts().await.unwrap().is_empty(), "and only once");
    let _ = tx.send(true);
}
