//! SQLite: the duplicates the IDN rekey (migration 0050) left are merged
//! (issue 24, item 8): a row kept under its old Unicode key beside the
//! ASCII row of the same mailbox becomes part of that row, so both
//! spellings name one person, who gets each campaign once, and whose
//! opt-out or erasure (through either spelling, or an old link of either
//! row) reaches them.

use gazette::audience::{Status, SubscriberEmail};
use gazette::store::Store;

fn email(s: &str) -> SubscriberEmail {
    SubscriberEmail::parse(s).unwrap()
}

const SEL1: &str = "0123456789abcdef01";
const VER1: &str = "00112233445566778899aabbccddeeff";
const SEL3: &str = "0123456789abcdef03";
const VER3: &str = "ffeeddccbbaa99887766554433221100";

/// A database as an earlier Gazette left it after the rekey: for two
/// mailboxes, the Unicode row beside the ASCII one, and a campaign with a
/// pending delivery to each of the four rows.
async fn left_by_the_rekey(dir: &std::path::Path) -> String {
    use sqlx::Connection;
    let (url, mut c) = crate::helpers::sqlite_migrated_before(dir, "0086").await;
    for sql in [
        // Jörg: both active (mailed twice until now).
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, confirmed_at, unsub_verifier, selector) VALUES (1, 'jörg@bücher.example', 'jörg@bücher.example', 'active', 'cli', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '00112233445566778899aabbccddeeff', '0123456789abcdef01')",
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, confirmed_at, unsub_verifier, selector) VALUES (2, 'jörg@xn--bcher-kva.example', 'jörg@xn--bcher-kva.example', 'active', 'import', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '0123456789abcdef02')",
        // Anna: left under the Unicode spelling, active under the ASCII one.
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, unsubscribed_at, unsub_verifier, selector) VALUES (3, 'anna@café.example', 'anna@café.example', 'unsubscribed', 'cli', '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z', 'ffeeddccbbaa99887766554433221100', '0123456789abcdef03')",
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, confirmed_at, unsub_verifier, selector) VALUES (4, 'anna@xn--caf-dma.example', 'anna@xn--caf-dma.example', 'active', 'import', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', '0123456789abcdef04')",
        // What only the Unicode row knew: a name, attributes, preferences.
        "UPDATE subscribers SET name = 'Jörg', attributes = '{\"city\":\"Köln\",\"plan\":\"free\"}', topics = '[\"rust\"]', frequency = 'digest', welcomed_at = '2026-01-01T00:00:00Z' WHERE id = 1",
        "UPDATE subscribers SET attributes = '{\"plan\":\"pro\"}' WHERE id = 2",
        "INSERT INTO campaigns (id, kind, subject, prepared, status, total, created_at) VALUES (1, 'post', 'S', '{}', 'paused', 4, '2026-04-01T00:00:00Z')",
        "INSERT INTO deliveries (campaign_id, subscriber_id, status) VALUES (1, 1, 'pending'), (1, 2, 'pending'), (1, 3, 'pending'), (1, 4, 'pending')",
    ] {
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
    c.close().await.unwrap();
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_the_idn_rekey_left_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let url = left_by_the_rekey(dir.path()).await;
    let store = Store::open(&url).await.unwrap();

    // One row per mailbox, found by both spellings.
    let mut rows = Vec::new();
    store
        .for_each(None, |s| {
            rows.push(s);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let jorg = store
        .get(&email("jörg@bücher.example"))
        .await
        .unwrap()
        .unwrap();
    let same = store
        .get(&email("jörg@xn--bcher-kva.example"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((jorg.id, same.id), (2, 2));
    assert_eq!(jorg.status, Status::Active);
    // Nothing the merged-away row knew is lost; the kept row's values win.
    assert_eq!(jorg.name.as_deref(), Some("Jörg"));
    assert_eq!(
        jorg.attributes,
        serde_json::json!({"city": "Köln", "plan": "pro"})
    );
    assert_eq!(jorg.created_at.to_rfc3339(), "2026-01-01T00:00:00+00:00");
    let prefs: (Option<String>, Option<String>, Option<String>) = {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_as("SELECT topics, frequency, welcomed_at FROM subscribers WHERE id = 2")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(
        prefs,
        (
            Some("[\"rust\"]".into()),
            Some("digest".into()),
            Some("2026-01-01T00:00:00Z".into())
        ),
        "preferences kept, and the welcome (nobody is welcomed twice)"
    );
    // Anna's opt-out under one spelling holds for the merged row.
    let anna = store
        .get(&email("anna@xn--caf-dma.example"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((anna.id, anna.status), (4, Status::Unsubscribed));
    // Each campaign reaches each person once: the merged rows' own pending
    // deliveries lost their subscriber (skipped when sent).
    let c = store.campaign(1).await.unwrap().unwrap();
    assert_eq!(c.total, 4);

    // An old unsubscribe link of the merged-away row names the kept one.
    let old_link = format!("{SEL1}.{VER1}");
    let by_link = store
        .by_unsubscribe_token(&old_link)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_link.id, 2);
    store
        .unsubscribe(by_link.id, chrono::Utc::now())
        .await
        .unwrap();
    let jorg = store
        .get(&email("jörg@bücher.example"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(jorg.status, Status::Unsubscribed);
    // A tampered verifier names nobody.
    let bad = format!("{SEL1}.{}", "0".repeat(32));
    assert!(store.by_unsubscribe_token(&bad).await.unwrap().is_none());

    // Erased under the Unicode spelling: gone under both, links included.
    assert!(store
        .erase(&email("anna@café.example"), chrono::Utc::now())
        .await
        .unwrap());
    assert!(store
        .get(&email("anna@xn--caf-dma.example"))
        .await
        .unwrap()
        .is_none());
    let anna_link = format!("{SEL3}.{VER3}");
    assert!(store
        .by_unsubscribe_token(&anna_link)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .is_suppressed(&email("anna@café.example"))
        .await
        .unwrap());
    store.close().await;

    // Once: a second open changes nothing.
    let store = Store::open(&url).await.unwrap();
    let mut n = 0;
    store
        .for_each(None, |_| {
            n += 1;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    store.close().await;
}

/// Issue 24, item 8: the rekey's transaction reads, then writes: begun
/// `IMMEDIATE`, it waits for another writer instead of failing at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rekey_waits_for_another_writer() {
    use sqlx::{Connection, Executor};
    let dir = tempfile::tempdir().unwrap();
    let url = left_by_the_rekey(dir.path()).await;
    let store = Store::open(&url).await.unwrap();
    // Another duplicate, and the rewrite due again (as migration 0086
    // marks it): the next `migrate` runs only the rekey.
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    c.execute(
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, unsub_verifier, selector) VALUES (5, 'jörg@bücher.example', 'jörg@bücher.example', 'active', 'cli', '2026-01-01T00:00:00Z', 'cccccccccccccccccccccccccccccccc', '0123456789abcdef05');
         INSERT INTO idn_rekey_due (due) VALUES (1)",
    )
    .await
    .unwrap();
    c.execute("BEGIN IMMEDIATE").await.unwrap();
    c.execute("INSERT INTO worker_state (key, value) VALUES ('holder', 'x')")
        .await
        .unwrap();
    let holder = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        c.execute("COMMIT").await.unwrap();
        c.close().await.unwrap();
    });
    let migrated = tokio::time::timeout(std::time::Duration::from_secs(25), store.migrate())
        .await
        .expect("the migration hung");
    migrated.expect("the rekey failed instead of waiting for the lock");
    holder.await.unwrap();
    let jorg = store
        .get(&email("jörg@bücher.example"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(jorg.id, 2);
    let link = format!("0123456789abcdef05.{}", "c".repeat(32));
    assert_eq!(
        store.by_unsubscribe_token(&link).await.unwrap().unwrap().id,
        2
    );
    store.close().await;
}
