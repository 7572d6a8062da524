//! SQLite write transactions and another writer (issue 24, items 7 and 8):
//! a transaction that reads before it writes begins `IMMEDIATE`, so it
//! waits for the write lock (the busy timeout) instead of failing at once
//! with "database is locked" when it would upgrade its read.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use gazette::audience::{Source, Status, SubscriberEmail};
use gazette::store::ImportRow;
use sqlx::{Connection, Executor, SqliteConnection};

use super::TestStore;

fn row(addr: &str) -> ImportRow {
    let e = SubscriberEmail::parse(addr).unwrap();
    ImportRow {
        line: 1,
        key: e.key(),
        email: e,
        name: None,
        status: Status::Active,
        source: Source::Import,
        attributes: Default::default(),
        created_at: None,
        confirmed_at: None,
        unsubscribed_at: None,
    }
}

/// Another connection takes the write lock, writes, and commits after
/// `hold` (as a send's outcome writer does, over and over).
async fn hold_write_lock(url: &str, hold: Duration) -> tokio::task::JoinHandle<()> {
    let mut c = SqliteConnection::connect(url).await.unwrap();
    c.execute("BEGIN IMMEDIATE").await.unwrap();
    c.execute("INSERT INTO worker_state (key, value) VALUES ('holder', 'x')")
        .await
        .unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        c.execute("COMMIT").await.unwrap();
        c.close().await.unwrap();
    })
}

/// Issue 24, item 7: an import started while a send runs failed at once
/// with "database is locked" (code 517: its read transaction could not be
/// upgraded). Begun `IMMEDIATE`, it waits for the lock, then runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_waits_for_another_writer_instead_of_failing_at_once() {
    let t = TestStore::new("sqlite").await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let first = [row("first@example.com")];
    let mut i = t.store.begin_import().await.unwrap();
    super::merge(&mut i, &first, now).await.unwrap();
    i.finish(false).await.unwrap();

    let holder = hold_write_lock(&t.url, Duration::from_millis(1200)).await;
    let started = Instant::now();
    let import = async {
        let mut i = t.store.begin_import().await?;
        super::merge(&mut i, &[row("second@example.com")], now).await?;
        i.finish(false).await
    };
    let stats = tokio::time::timeout(Duration::from_secs(25), import)
        .await
        .expect("the import hung")
        .expect("the import failed instead of waiting for the lock");
    assert_eq!(stats.inserted, 1);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "ran while another connection held the write lock ({:?})",
        started.elapsed()
    );
    holder.await.unwrap();
    assert!(t
        .store
        .get(&SubscriberEmail::parse("second@example.com").unwrap())
        .await
        .unwrap()
        .is_some());
}

/// An operator's edit reads the row, then writes it: the same wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_waits_for_another_writer_instead_of_failing_at_once() {
    let t = TestStore::new("sqlite").await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let ada = SubscriberEmail::parse("ada@example.com").unwrap();
    t.store
        .add(&ada, None, true, Source::Cli, now)
        .await
        .unwrap();
    let holder = hold_write_lock(&t.url, Duration::from_millis(800)).await;
    let erased = tokio::time::timeout(Duration::from_secs(25), t.store.erase(&ada, now))
        .await
        .expect("the erasure hung")
        .expect("the erasure failed instead of waiting for the lock");
    assert!(erased);
    holder.await.unwrap();
    assert!(t.store.get(&ada).await.unwrap().is_none());
}
