//! Store tests (both backends): readers: welcome claims, preferences,
//! audiences, campaigns for an audience, the archive.

use chrono::{DateTime, TimeZone, Utc};
use gazette::audience::prefs::{Frequency, Preferences};
use gazette::audience::{Source, Status, SubscriberEmail};
use gazette::render::{EmailKind, Prepared};
use gazette::store::{Audience, ImportRow, Store};
use serde_json::json;

use super::{both, TestStore};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

async fn add(store: &Store, addr: &str, active: bool) -> i64 {
    store
        .add(
            &SubscriberEmail::parse(addr).unwrap(),
            None,
            active,
            Source::Cli,
            now(),
        )
        .await
        .unwrap()
        .subscriber()
        .id
}

fn prefs(frequency: Option<Frequency>, topics: &[&str]) -> Preferences {
    Preferences {
        frequency,
        topics: topics.iter().map(|t| t.to_string()).collect(),
    }
}

fn prepared(subject: &str) -> Prepared {
    Prepared {
        subject: subject.into(),
        html: "<p>Hi</p>".into(),
        text: "Hi".into(),
        kind: EmailKind::Post,
    }
}

both!(welcome_is_claimed_once, |store: Store| async move {
    let id = add(&store, "ada@example.com", true).await;
    let pending = add(&store, "bo@example.com", false).await;
    assert!(store.claim_welcome(id, now()).await.unwrap());
    assert!(!store.claim_welcome(id, now()).await.unwrap());
    assert!(!store.claim_welcome(pending, now()).await.unwrap());
    store.release_welcome(id).await.unwrap();
    assert!(store.claim_welcome(id, now()).await.unwrap());
});

both!(preferences_round_trip, |store: Store| async move {
    let id = add(&store, "ada@example.com", true).await;
    assert_eq!(store.preferences(id).await.unwrap(), Preferences::default());
    assert_eq!(
        store.preferences(id + 9).await.unwrap(),
        Preferences::default()
    );
    let p = prefs(Some(Frequency::Digest), &["rust", "go"]);
    store.set_preferences(id, &p).await.unwrap();
    assert_eq!(store.preferences(id).await.unwrap(), p);
    store.set_preferences(id, &prefs(None, &[])).await.unwrap();
    assert_eq!(store.preferences(id).await.unwrap(), Preferences::default());
});

both!(
    digest_readers_and_post_audiences,
    |store: Store| async move {
        let all = add(&store, "all@example.com", true).await;
        let rust = add(&store, "rust@example.com", true).await;
        let digest = add(&store, "digest@example.com", true).await;
        let both_ = add(&store, "both@example.com", true).await;
        add(&store, "pending@example.com", false).await;
        store
            .set_preferences(rust, &prefs(Some(Frequency::Each), &["rust"]))
            .await
            .unwrap();
        store
            .set_preferences(digest, &prefs(Some(Frequency::Digest), &[]))
            .await
            .unwrap();
        store
            .set_preferences(both_, &prefs(Some(Frequency::Both), &["go"]))
            .await
            .unwrap();
        let readers = store.digest_readers(Frequency::Each).await.unwrap();
        assert_eq!(
            readers,
            vec![(digest, vec![]), (both_, vec!["go".to_string()])]
        );
        let readers = store.digest_readers(Frequency::Digest).await.unwrap();
        assert_eq!(readers.first(), Some(&(all, vec![])));
        assert_eq!(readers.len(), 3);

        let count = |tags: Vec<&str>, default| {
            let store = store.clone();
            let tags: Vec<String> = tags.into_iter().map(String::from).collect();
            async move {
                store
                    .count_audience(&Audience::Posts {
                        tags: &tags,
                        default,
                    })
                    .await
                    .unwrap()
            }
        };
        // all (no topics), rust (tag matches, case aside); not digest, not pending.
        assert_eq!(count(vec!["Rust"], Frequency::Each).await, 2);
        assert_eq!(count(vec!["go"], Frequency::Each).await, 2);
        assert_eq!(count(vec![], Frequency::Each).await, 1);
        assert_eq!(count(vec!["go"], Frequency::Digest).await, 1);
        let ids = [rust, digest, 999];
        assert_eq!(store.count_audience(&Audience::Ids(&ids)).await.unwrap(), 2);
    }
);

both!(campaign_for_an_audience, |store: Store| async move {
    let a = add(&store, "a@example.com", true).await;
    let b = add(&store, "b@example.com", true).await;
    add(&store, "c@example.com", false).await;
    store
        .set_preferences(b, &prefs(None, &["go"]))
        .await
        .unwrap();
    let tags = vec!["rust".to_string()];
    let posts = vec![("hello".to_string(), now())];
    let (id, total) = store
        .create_campaign_for(
            &prepared("Hello"),
            &posts,
            &Audience::Posts {
                tags: &tags,
                default: Frequency::Each,
            },
            ("https://example.com", "Summary"),
            None,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(total, 1);
    let ids = [a, b];
    let (variant, total) = store
        .create_campaign_for(
            &prepared("Hello too"),
            &[],
            &Audience::Ids(&ids),
            ("https://example.com", "Summary"),
            Some(id),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(store.variants_of(id).await.unwrap(), vec![(variant, 2)]);
    assert!(store.variants_of(variant).await.unwrap().is_empty());
    // Queued campaigns are not in the archive yet.
    assert_eq!(store.archive(0, 10).await.unwrap().1, 0);
    assert!(store.archived::<Prepared>(id).await.unwrap().is_none());
});

both!(
    imported_readers_and_their_preferences,
    |store: Store| async move {
        let row = |addr: &str, status, attrs: serde_json::Value| {
            let e = SubscriberEmail::parse(addr).unwrap();
            ImportRow {
                line: 1,
                key: e.key(),
                email: e,
                name: None,
                status,
                source: Source::Import,
                attributes: attrs.as_object().cloned().unwrap(),
                created_at: None,
                confirmed_at: None,
                unsubscribed_at: None,
            }
        };
        let mut import = store.begin_import().await.unwrap();
        let rows = [
            row(
                "a@example.com",
                Status::Active,
                json!({"frequency": "digest", "topics": "Rust, go", "city": "Oslo"}),
            ),
            row(
                "b@example.com",
                Status::Active,
                json!({"frequency": "weekly", "topics": "cooking"}),
            ),
            row("c@example.com", Status::Pending, json!({})),
        ];
        crate::store::merge(&mut import, &rows, now())
            .await
            .unwrap();
        import.finish(false).await.unwrap();
        add(&store, "cli@example.com", true).await;

        let (done, problems) = store
            .adopt_imported_preferences(|t| t == "rust" || t == "go")
            .await
            .unwrap();
        assert_eq!(done, 2);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems.iter().all(|(e, _)| e == "b@example.com"),
            "{problems:?}"
        );
        let a = store
            .get(&SubscriberEmail::parse("a@example.com").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.attributes, json!({"city": "Oslo"}));
        assert_eq!(
            store.preferences(a.id).await.unwrap(),
            prefs(Some(Frequency::Digest), &["rust", "go"])
        );

        let unwelcomed = store.imported_unwelcomed(true, now()).await.unwrap();
        assert_eq!(unwelcomed, ["a@example.com", "b@example.com"]);
        assert!(store
            .imported_unwelcomed(false, now())
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .imported_unwelcomed(true, now())
            .await
            .unwrap()
            .is_empty());
    }
);

/// The archive shows campaigns that went out; no store method sends here,
/// so the test marks them as sent in SQL.
async fn archive_lists_sent_campaigns(backend: &str) {
    let Some(t) = TestStore::new(backend).await else {
        return;
    };
    let store = t.store.clone();
    // Campaigns sent to nobody are not listed: these go to one reader.
    let reader = add(&store, "reader@example.org", true).await;
    let mut ids = Vec::new();
    for subject in ["First", "Second", "Third"] {
        let (id, _) = store
            .create_campaign_for(
                &prepared(subject),
                &[],
                &Audience::Ids(&[reader]),
                ("https://example.com", subject),
                None,
                now(),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    let sql = format!(
        "UPDATE campaigns SET status = 'done', started_at = created_at WHERE id IN ({}, {})",
        ids[0], ids[2]
    );
    if backend == "postgres" {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&t.url).await.unwrap();
        c.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
    } else {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::SqliteConnection::connect(&t.url).await.unwrap();
        c.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
    }
    let (entries, total) = store.archive(0, 10).await.unwrap();
    assert_eq!(total, 2);
    // Newest first (same time: the higher id first).
    let shown: Vec<_> = entries.iter().map(|e| (e.id, e.subject.as_str())).collect();
    assert_eq!(shown, [(ids[2], "Third"), (ids[0], "First")]);
    assert_eq!(entries[0].sent_at, now());
    assert_eq!(entries[0].summary, "Third");
    let (page, total) = store.archive(1, 1).await.unwrap();
    assert_eq!((page.len(), page[0].id, total), (1, ids[0], 2));
    let (entry, email) = store.archived::<Prepared>(ids[0]).await.unwrap().unwrap();
    assert_eq!((entry.kind.as_str(), entry.sent_at), ("post", now()));
    assert_eq!(email.subject, "First");
    assert!(store.archived::<Prepared>(ids[1]).await.unwrap().is_none());
    t.store.close().await;
}

mod archive_lists_sent_campaigns {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::archive_lists_sent_campaigns("sqlite").await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::archive_lists_sent_campaigns("postgres").await
    }
}
