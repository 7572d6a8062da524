//! Store tests (both backends): the bounce log and what the worker
//! remembers between runs (src/store/bounces.rs, src/store/worker.rs).

use chrono::{DateTime, Duration, TimeZone, Utc};
use gazette::audience::{Status, SubscriberEmail};
use gazette::bounce::{Kind, Record};
use gazette::config::BouncePolicy;
use gazette::render::{EmailKind, Prepared};
use gazette::store::bounces::Applied;
use gazette::store::Store;

use super::{both, TestStore};

/// `both_at!(name, |store, url| async move { ... })`: as `both!`, with the
/// database URL too (for rows written with plain SQL and second stores).
macro_rules! both_at {
    ($name:ident, $test:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::on_at("sqlite", $test).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::on_at("postgres", $test).await
            }
        }
    };
}

async fn on_at<F, Fut>(backend: &str, test: F)
where
    F: FnOnce(Store, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(t) = TestStore::new(backend).await else {
        return;
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        test(t.store.clone(), t.url.clone()),
    )
    .await
    .expect("store test timed out");
    t.store.close().await;
}

/// Plain SQL statements (the same text on both backends: timestamps as
/// RFC 3339 literals), for rows whose store methods live elsewhere.
async fn sql(url: &str, statements: &'static str) {
    use sqlx::{Connection, Executor};
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        c.execute(statements).await.unwrap();
        c.close().await.unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        c.execute(statements).await.unwrap();
        c.close().await.unwrap();
    }
}

/// Subscribers 1 (ada, active), 2 (bob, active), 3 (cy, unsubscribed).
const PEOPLE: &str = "
INSERT INTO subscribers (id, email, email_key, status, source, created_at, unsub_verifier, selector)
VALUES (1, 'Ada@example.com', 'ada@example.com', 'active', 'cli', '2026-01-01T00:00:00.000000Z', 'v1', 's1'),
       (2, 'bob@example.com', 'bob@example.com', 'active', 'cli', '2026-01-01T00:00:00.000000Z', 'v2', 's2'),
       (3, 'cy@example.com', 'cy@example.com', 'unsubscribed', 'cli', '2026-01-01T00:00:00.000000Z', 'v3', 's3');";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn prepared(kind: EmailKind) -> Prepared {
    Prepared {
        subject: "Issue".into(),
        html: "<p>hi</p>".into(),
        text: "hi".into(),
        kind,
    }
}

fn record(kind: Kind, sub: Option<i64>, campaign: Option<i64>) -> Record {
    let mut r = Record::new("test", kind, "because");
    r.subscriber_id = sub;
    r.campaign_id = campaign;
    r
}

fn email(s: &str) -> SubscriberEmail {
    SubscriberEmail::parse(s).unwrap()
}

both!(worker_state_is_set_once, |store: Store| async move {
    assert_eq!(store.state("k").await.unwrap(), None);
    assert_eq!(store.state_init("k", "one").await.unwrap(), "one");
    assert_eq!(store.state_init("k", "two").await.unwrap(), "one");
    assert_eq!(store.state("k").await.unwrap().as_deref(), Some("one"));
});

both!(posts_are_seen_once, |store: Store| async move {
    let now = Utc::now();
    assert!(store.seen_posts().await.unwrap().is_empty());
    assert!(store.mark_seen("hello", now).await.unwrap());
    assert!(!store.mark_seen("hello", now).await.unwrap());
    assert!(store.mark_seen("world", now).await.unwrap());
    let seen = store.seen_posts().await.unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.contains("hello") && seen.contains("world"));
    let (id, _) = store
        .create_campaign(&prepared(EmailKind::Post), &[("hello".into(), now)], now)
        .await
        .unwrap();
    store.set_seen_campaign("hello", id).await.unwrap();
    store.set_seen_campaign("unknown", id).await.unwrap();
});

both!(digest_periods_are_claimed_once, |store: Store| async move {
    assert_eq!(store.last_digest_period().await.unwrap(), None);
    let now = Utc::now();
    let p1 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
    let p2 = p1 + Duration::days(7);
    assert!(store.claim_digest_period(p1, now).await.unwrap());
    assert!(!store.claim_digest_period(p1, now).await.unwrap());
    assert!(store.claim_digest_period(p2, now).await.unwrap());
    assert_eq!(store.last_digest_period().await.unwrap(), Some(p2));
    let (id, _) = store
        .create_campaign(&prepared(EmailKind::Digest), &[], now)
        .await
        .unwrap();
    store.set_digest_campaign(p1, id).await.unwrap();
    // Sub-second periods round-trip too (microseconds on both).
    let p3 = t("2026-04-01T08:00:00.123456Z");
    assert!(store.claim_digest_period(p3, now).await.unwrap());
    assert!(!store.claim_digest_period(p3, now).await.unwrap());
    assert_eq!(store.last_digest_period().await.unwrap(), Some(p3));
});

// Several workers sharing one database: exactly one of them gets a period.
both_at!(
    one_worker_of_several_gets_a_period,
    |store: Store, url: String| async move {
        let other = Store::open(&url).await.unwrap();
        let third = Store::open(&url).await.unwrap();
        for day in 0..20 {
            let period = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + Duration::days(day);
            let now = Utc::now();
            let (a, b, c) = tokio::join!(
                store.claim_digest_period(period, now),
                other.claim_digest_period(period, now),
                third.claim_digest_period(period, now),
            );
            let wins = [a.unwrap(), b.unwrap(), c.unwrap()];
            assert_eq!(
                wins.iter().filter(|w| **w).count(),
                1,
                "day {day}: {wins:?}"
            );
        }
        // Concurrently from one store's pool (several connections) as well.
        let period = Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap();
        let claims = (0..8).map(|_| store.claim_digest_period(period, Utc::now()));
        let wins = futures_util::future::join_all(claims).await;
        assert_eq!(wins.into_iter().filter(|w| *w.as_ref().unwrap()).count(), 1);
        other.close().await;
        third.close().await;
    }
);

both_at!(
    queue_figures_and_last_digest,
    |store: Store, url: String| async move {
        assert_eq!(store.queue_depth().await.unwrap(), 0);
        assert!(store.delivery_counts().await.unwrap().is_empty());
        assert_eq!(store.last_digest_sent().await.unwrap(), None);
        sql(&url, PEOPLE).await;
        let now = Utc::now();
        let (post, n) = store
            .create_campaign(&prepared(EmailKind::Post), &[], now)
            .await
            .unwrap();
        assert_eq!(n, 2);
        let (digest, _) = store
            .create_campaign(&prepared(EmailKind::Digest), &[], now)
            .await
            .unwrap();
        assert_eq!(store.queue_depth().await.unwrap(), 0, "queued, not sending");
        sql(
        &url,
        "UPDATE campaigns SET status = 'sending' WHERE kind = 'post';
         UPDATE campaigns SET status = 'done', finished_at = '2026-02-03T04:05:06.000007Z' WHERE kind = 'digest';
         UPDATE deliveries SET status = 'sent' WHERE subscriber_id = 2;",
    )
    .await;
        let _ = (post, digest);
        assert_eq!(store.queue_depth().await.unwrap(), 1);
        let mut counts = store.delivery_counts().await.unwrap();
        counts.sort();
        let want: Vec<(String, String, i64)> = vec![
            ("digest".into(), "pending".into(), 1),
            ("digest".into(), "sent".into(), 1),
            ("post".into(), "pending".into(), 1),
            ("post".into(), "sent".into(), 1),
        ];
        assert_eq!(counts, want);
        assert_eq!(
            store.last_digest_sent().await.unwrap(),
            Some(t("2026-02-03T04:05:06.000007Z"))
        );
    }
);

both_at!(
    hard_bounces_and_complaints_change_status,
    |store: Store, url: String| async move {
        sql(&url, PEOPLE).await;
        let policy = BouncePolicy::default();
        let now = Utc::now();
        let (c, _) = store
            .create_campaign(&prepared(EmailKind::Post), &[], now)
            .await
            .unwrap();
        // Nobody to record it for.
        let none = record(Kind::Hard, None, None);
        assert_eq!(
            store
                .record_bounce("e0", &none, &policy, now)
                .await
                .unwrap(),
            Applied::Unknown
        );
        let hard = record(Kind::Hard, Some(1), Some(c));
        assert_eq!(
            store
                .record_bounce("e1", &hard, &policy, now)
                .await
                .unwrap(),
            Applied::Recorded(Some(Status::Bounced))
        );
        assert_eq!(
            store
                .record_bounce("e1", &hard, &policy, now)
                .await
                .unwrap(),
            Applied::Duplicate
        );
        let ada = store.get(&email("ada@example.com")).await.unwrap().unwrap();
        assert_eq!(ada.status, Status::Bounced);
        assert!(ada.unsubscribed_at.is_some());
        // A complaint overrides a bounce, and an opt-out.
        let complaint = record(Kind::Complaint, Some(1), Some(c));
        assert_eq!(
            store
                .record_bounce("e2", &complaint, &policy, now)
                .await
                .unwrap(),
            Applied::Recorded(Some(Status::Complained))
        );
        let complaint3 = record(Kind::Complaint, Some(3), None);
        assert_eq!(
            store
                .record_bounce("e3", &complaint3, &policy, now)
                .await
                .unwrap(),
            Applied::Recorded(Some(Status::Complained))
        );
        // A hard bounce does not touch an opt-out; a blocked one nobody.
        let mut blocked = record(Kind::Hard, Some(2), Some(c));
        blocked.blocked = true;
        assert_eq!(
            store
                .record_bounce("e4", &blocked, &policy, now)
                .await
                .unwrap(),
            Applied::Recorded(None)
        );
        // Only a campaign.
        let camp = record(Kind::Soft, None, Some(c));
        assert_eq!(
            store
                .record_bounce("e5", &camp, &policy, now)
                .await
                .unwrap(),
            Applied::Recorded(None)
        );
        let counts = store.campaign_bounce_counts(c).await.unwrap();
        assert_eq!(
            (counts.hard, counts.soft, counts.blocked, counts.complaints),
            (1, 1, 1, 1)
        );
        assert_eq!(store.bounce_counts().await.unwrap().len(), 1);
        assert_eq!(store.campaign_bounce_counts(c + 1).await.unwrap().hard, 0);
        // Reactivation: the operator's decision.
        assert_eq!(
            store
                .reactivate(&email("ada@example.com"), now)
                .await
                .unwrap(),
            Some(Status::Complained)
        );
        let ada = store.get(&email("ada@example.com")).await.unwrap().unwrap();
        assert_eq!(ada.status, Status::Active);
        assert_eq!(ada.unsubscribed_at, None);
        assert_eq!(
            store
                .reactivate(&email("bob@example.com"), now)
                .await
                .unwrap(),
            Some(Status::Active)
        );
        assert_eq!(
            store
                .reactivate(&email("nobody@example.com"), now)
                .await
                .unwrap(),
            None
        );
    }
);

both_at!(
    soft_bounces_count_within_the_window_and_since_reactivation,
    |store: Store, url: String| async move {
        sql(&url, PEOPLE).await;
        let policy = BouncePolicy {
            soft_limit: 3,
            soft_window: std::time::Duration::from_secs(10 * 86400),
            ..BouncePolicy::default()
        };
        let start = t("2026-03-01T00:00:00Z");
        let soft = record(Kind::Soft, Some(2), None);
        let at = |d: i64| start + Duration::days(d);
        // Two, then one outside the window of the fourth.
        assert_eq!(
            store
                .record_bounce("s1", &soft, &policy, at(0))
                .await
                .unwrap(),
            Applied::Recorded(None)
        );
        assert_eq!(
            store
                .record_bounce("s2", &soft, &policy, at(11))
                .await
                .unwrap(),
            Applied::Recorded(None)
        );
        assert_eq!(
            store
                .record_bounce("s3", &soft, &policy, at(12))
                .await
                .unwrap(),
            Applied::Recorded(None)
        );
        assert_eq!(
            store
                .record_bounce("s4", &soft, &policy, at(13))
                .await
                .unwrap(),
            Applied::Recorded(Some(Status::Bounced))
        );
        // Reactivated: earlier soft bounces stop counting.
        let bob = email("bob@example.com");
        assert_eq!(
            store.reactivate(&bob, at(14)).await.unwrap(),
            Some(Status::Bounced)
        );
        assert_eq!(
            store
                .record_bounce("s5", &soft, &policy, at(15))
                .await
                .unwrap(),
            Applied::Recorded(None)
        );
        assert_eq!(
            store
                .record_bounce("s6", &soft, &policy, at(16))
                .await
                .unwrap(),
            Applied::Recorded(None)
        );
        assert_eq!(
            store
                .record_bounce("s7", &soft, &policy, at(17))
                .await
                .unwrap(),
            Applied::Recorded(Some(Status::Bounced))
        );
        // The log: all of it, or since a time, oldest first.
        let all = store.bounces(None).await.unwrap();
        assert_eq!(all.len(), 7);
        assert_eq!(all[0].created_at, "2026-03-01T00:00:00.000000Z");
        assert_eq!(all[0].subscriber.as_deref(), Some("bob@example.com"));
        assert!(!all[0].blocked);
        let recent = store.bounces(Some(at(15))).await.unwrap();
        let keys: Vec<&str> = recent.iter().map(|b| b.created_at.as_str()).collect();
        assert_eq!(
            keys,
            [
                "2026-03-16T00:00:00.000000Z",
                "2026-03-17T00:00:00.000000Z",
                "2026-03-18T00:00:00.000000Z"
            ]
        );
    }
);

both_at!(
    bounces_are_attributed_by_token_and_address,
    |store: Store, url: String| async move {
        sql(&url, PEOPLE).await;
        let now = Utc::now();
        let (c, _) = store
            .create_campaign(&prepared(EmailKind::Post), &[], now)
            .await
            .unwrap();
        sql(
            &url,
            "UPDATE deliveries SET message_id = '<tok1@news.example>' WHERE subscriber_id = 1;
         UPDATE deliveries SET message_id = '<tok1x@news.example>' WHERE subscriber_id = 2;",
        )
        .await;
        let by_token = store.attribute(&["tok1".into()], None).await.unwrap();
        assert_eq!(by_token.campaign_id, Some(c));
        assert_eq!(by_token.subscriber_id, Some(1));
        assert_eq!(by_token.email.as_deref(), Some("Ada@example.com"));
        let by_addr = store
            .attribute(&["nope".into()], Some("BOB@example.com"))
            .await
            .unwrap();
        assert_eq!(
            (by_addr.campaign_id, by_addr.subscriber_id),
            (None, Some(2))
        );
        let nobody = store.attribute(&[], Some("zed@example.com")).await.unwrap();
        assert_eq!(nobody, Default::default());
        let owner = store.delivery_owner(2).await.unwrap();
        assert_eq!((owner.campaign_id, owner.subscriber_id), (Some(c), Some(2)));
        assert_eq!(store.delivery_owner(99).await.unwrap(), Default::default());
        // A synchronous 5xx rejection of delivery 1.
        let policy = BouncePolicy::default();
        let applied = store
            .record_smtp_failure(
                1,
                gazette::bounce::smtp_record("550 5.1.1 no such user").unwrap(),
                &policy,
                now,
            )
            .await
            .unwrap();
        assert_eq!(applied, Applied::Recorded(Some(Status::Bounced)));
        let again = store
            .record_smtp_failure(
                1,
                gazette::bounce::smtp_record("550 5.1.1 no such user").unwrap(),
                &policy,
                now,
            )
            .await
            .unwrap();
        assert_eq!(again, Applied::Duplicate);
        let log = store.bounces(None).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0].campaign_id, log[0].subscriber_id),
            (Some(c), Some(1))
        );
        assert_eq!(log[0].source, "smtp");
    }
);

both_at!(
    read_only_open_reads_the_log,
    |store: Store, url: String| async move {
        sql(&url, PEOPLE).await;
        let r = record(Kind::Hard, Some(1), None);
        let policy = BouncePolicy::default();
        store
            .record_bounce("r1", &r, &policy, Utc::now())
            .await
            .unwrap();
        let ro = Store::open_existing_read_only(&url).await.unwrap();
        let log = ro.bounces(None).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].kind, "hard");
        ro.close().await;
    }
);
