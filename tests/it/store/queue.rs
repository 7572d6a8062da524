//! Store tests (both backends): campaigns and the shared delivery queue —
//! leases, fenced outcomes, finishing once, senders.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use gazette::audience::{Source, SubscriberEmail};
use gazette::render::{EmailKind, Prepared};
use gazette::store::campaigns::{CampaignStatus, Recorded};
use gazette::store::claims::{ClaimOwner, Ending};
use gazette::store::Store;

use super::both;

fn prepared() -> Prepared {
    Prepared {
        subject: "Hello".into(),
        html: "<p>Hi</p>".into(),
        text: "Hi".into(),
        kind: EmailKind::Post,
    }
}

fn owner(id: &str) -> ClaimOwner {
    ClaimOwner {
        host: "host.example".into(),
        pid: 1,
        id: id.into(),
    }
}

/// `n` active subscribers and a post campaign to them, joined by "a".
async fn campaign(store: &Store, n: usize, now: DateTime<Utc>) -> i64 {
    for i in 0..n {
        let email = SubscriberEmail::parse(&format!("reader{i}@example.org")).unwrap();
        store
            .add(&email, Some("Reader"), true, Source::Cli, now)
            .await
            .unwrap();
    }
    let posts = vec![("first".to_string(), now)];
    let (id, total) = store
        .create_campaign(&prepared(), &posts, now)
        .await
        .unwrap();
    assert_eq!(total, n as i64);
    store
        .join_campaign(id, &owner("a"), false, now, &|_| false)
        .await
        .unwrap()
        .unwrap();
    id
}

/// Now, to the microsecond both backends keep.
fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

fn sent(now: DateTime<Utc>) -> Recorded {
    Recorded::Sent {
        message_id: "<m@example.org>".into(),
        at: now,
    }
}

both!(campaigns_keep_their_fields, |store: Store| async move {
    let now = now();
    let id = campaign(&store, 3, now).await;
    let c = store.campaign(id).await.unwrap().unwrap();
    assert_eq!(
        (c.status, c.total, c.pending),
        (CampaignStatus::Sending, 3, 3)
    );
    assert_eq!(c.posts, vec!["first".to_string()]);
    assert!(c.started_at.is_some() && c.finished_at.is_none());
    assert_eq!(store.post_campaign("first").await.unwrap(), Some(id));
    assert_eq!(
        store.campaigns_in(CampaignStatus::Sending).await.unwrap(),
        vec![id]
    );
    let changed = store
        .set_campaign_status(
            id,
            CampaignStatus::Paused,
            &[CampaignStatus::Sending],
            None,
            now,
        )
        .await
        .unwrap();
    assert!(changed);
    let again = store
        .set_campaign_status(
            id,
            CampaignStatus::Paused,
            &[CampaignStatus::Sending],
            None,
            now,
        )
        .await
        .unwrap();
    assert!(!again, "only from the statuses named");
    // A worker does not restart what an operator paused; the operator does.
    let refused = store
        .join_campaign(id, &owner("w"), false, now, &|_| false)
        .await
        .unwrap();
    assert!(refused.is_err(), "{refused:?}");
    let resumed = store
        .join_campaign(id, &owner("op"), true, now, &|_| false)
        .await
        .unwrap();
    assert_eq!(resumed, Ok(()));
});

both!(
    batches_never_overlap_and_outcomes_are_fenced,
    |store: Store| async move {
        let now = now();
        let id = campaign(&store, 10, now).await;
        let until = now + Duration::seconds(5);
        let a = store.claim_batch(id, "a", now, until, 4).await.unwrap();
        let b = store.claim_batch(id, "b", now, until, 100).await.unwrap();
        assert_eq!((a.len(), b.len()), (4, 6));
        let ids: HashSet<i64> = a.iter().chain(&b).map(|i| i.delivery_id).collect();
        assert_eq!(ids.len(), 10, "no delivery in two batches");
        assert!(a.iter().all(|i| i.recipient.is_some()));
        assert!(store
            .claim_batch(id, "c", now, until, 100)
            .await
            .unwrap()
            .is_empty());
        // Only the holder's outcomes count.
        let one = a[0].delivery_id;
        assert!(!store.record(id, "b", &[(one, sent(now))]).await.unwrap());
        assert!(store.record(id, "a", &[(one, sent(now))]).await.unwrap());
        let c = store.campaign(id).await.unwrap().unwrap();
        assert_eq!((c.sent, c.pending), (1, 9));
        // A retry goes back to the queue at its time, for anyone.
        let two = a[1].delivery_id;
        let retry = Recorded::Retry {
            reply: "451 later".into(),
            attempts: 1,
            next: now + Duration::seconds(30),
        };
        assert!(store.record(id, "a", &[(two, retry)]).await.unwrap());
        // "a" gives back what it did not send: due at once.
        assert_eq!(store.release_leases("a").await.unwrap(), 2);
        let (pending, next) = store.pending_summary(id, now).await.unwrap();
        assert_eq!((pending, next), (9, Some(now)));
        let again = store.claim_batch(id, "c", now, until, 100).await.unwrap();
        assert_eq!(
            again.len(),
            2,
            "the released two; not the retry before its time"
        );
        let later = now + Duration::seconds(31);
        let due = store.claim_batch(id, "c", later, later + Duration::seconds(5), 100);
        let due = due.await.unwrap();
        assert!(due.iter().any(|i| i.delivery_id == two && i.attempts == 1));
    }
);

both!(
    a_heartbeat_leaves_fresh_leases_alone,
    |store: Store| async move {
        let now = now();
        let id = campaign(&store, 5, now).await;
        let lease = Duration::seconds(5);
        let old = store
            .claim_batch(id, "a", now, now + lease, 2)
            .await
            .unwrap();
        assert_eq!(old.len(), 2);
        let t1 = now + Duration::seconds(2);
        let fresh = store.claim_batch(id, "a", t1, t1 + lease, 2).await.unwrap();
        assert_eq!(fresh.len(), 2);
        // A beat at t1 renewing what ends more than half a second before
        // its own end: the two older leases, not the two just taken.
        let (until, before) = (t1 + lease, t1 + lease - Duration::milliseconds(500));
        let status = store
            .heartbeat_before(id, "a", t1, until, before)
            .await
            .unwrap();
        assert_eq!(status, Some(CampaignStatus::Sending));
        // Every lease now runs until t1 + 5 s: nothing is free before.
        let t2 = t1 + lease - Duration::milliseconds(1);
        let taken = store
            .claim_batch(id, "b", t2, t2 + lease, 10)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1, "only the fifth, never leased");
        assert_eq!(
            store.renew_leases_before("a", until, before).await.unwrap(),
            0
        );
        assert_eq!(
            store
                .renew_leases_before("a", until + lease, until + lease)
                .await
                .unwrap(),
            4
        );
    }
);

both!(
    an_expired_lease_goes_to_the_next_taker,
    |store: Store| async move {
        let now = now();
        let id = campaign(&store, 3, now).await;
        let lease = Duration::seconds(5);
        let a = store
            .claim_batch(id, "a", now, now + lease, 100)
            .await
            .unwrap();
        assert_eq!(a.len(), 3);
        // Renewed leases hold; unrenewed ones lapse.
        let t1 = now + Duration::seconds(4);
        assert_eq!(
            store
                .renew_leases_before("a", t1 + lease, t1 + lease)
                .await
                .unwrap(),
            3
        );
        let t2 = now + Duration::seconds(6);
        assert!(store
            .claim_batch(id, "b", t2, t2 + lease, 100)
            .await
            .unwrap()
            .is_empty());
        let (pending, next) = store.pending_summary(id, t2).await.unwrap();
        assert_eq!((pending, next), (3, Some(t1 + lease)), "wait for the lease");
        let t3 = t1 + lease + Duration::seconds(1);
        let b = store
            .claim_batch(id, "b", t3, t3 + lease, 100)
            .await
            .unwrap();
        assert_eq!(b.len(), 3);
        let done: Vec<_> = b.iter().map(|i| (i.delivery_id, sent(t3))).collect();
        assert!(!store.record(id, "a", &done).await.unwrap(), "a lost them");
        assert!(store.record(id, "b", &done).await.unwrap());
    }
);

both!(
    whoever_empties_the_queue_finishes_the_campaign_once,
    |store: Store| async move {
        let now = now();
        let id = campaign(&store, 2, now).await;
        let until = now + Duration::seconds(5);
        let a = store.claim_batch(id, "a", now, until, 1).await.unwrap();
        let b = store.claim_batch(id, "b", now, until, 1).await.unwrap();
        assert!(store
            .record(id, "a", &[(a[0].delivery_id, sent(now))])
            .await
            .unwrap());
        assert!(
            !store.finish_if_empty(id, now).await.unwrap(),
            "one still pending"
        );
        assert!(store
            .record(id, "b", &[(b[0].delivery_id, Recorded::Skipped)])
            .await
            .unwrap());
        assert!(store.finish_if_empty(id, now).await.unwrap());
        assert!(!store.finish_if_empty(id, now).await.unwrap(), "once");
        let ended = store
            .finish_claim(id, "a", Ending::Done, now)
            .await
            .unwrap();
        assert!(!ended);
        let c = store.campaign(id).await.unwrap().unwrap();
        assert_eq!((c.status, c.sent, c.skipped), (CampaignStatus::Done, 1, 1));
        assert!(c.finished_at.is_some());
    }
);

both!(
    unreachable_pauses_and_the_worker_retries_when_due,
    |store: Store| async move {
        let now = now();
        let id = campaign(&store, 1, now).await;
        let retry_at = now + Duration::seconds(60);
        let ending = Ending::Unreachable {
            error: "server unreachable",
            retry_at,
        };
        assert!(store.finish_claim(id, "a", ending, now).await.unwrap());
        assert_eq!(store.unreachable_tries(id).await.unwrap(), 1);
        let info = store.campaign(id).await.unwrap().unwrap();
        assert_eq!(info.retry_at, Some(gazette::store::ts(retry_at)));
        let settle = std::time::Duration::from_secs(5);
        assert!(store
            .campaigns_to_run(now, settle)
            .await
            .unwrap()
            .is_empty());
        let due = store.campaigns_to_run(retry_at, settle).await.unwrap();
        assert_eq!(due, vec![(id, CampaignStatus::Paused)]);
        let w = owner("w");
        let joined = store.join_campaign(id, &w, false, retry_at, &|_| false);
        assert_eq!(joined.await.unwrap(), Ok(()));
    }
);

both!(senders_beat_and_share, |store: Store| async move {
    let now = now();
    let id = campaign(&store, 1, now).await;
    store
        .join_campaign(id, &owner("b"), false, now, &|_| false)
        .await
        .unwrap()
        .unwrap();
    let stale = std::time::Duration::from_secs(5);
    let live = store.live_senders(now, stale).await.unwrap();
    assert_eq!(live.len(), 2);
    assert!(live
        .iter()
        .all(|s| s.campaign == Some(id) && s.role == "worker"));
    let later = now + Duration::seconds(10);
    let status = store
        .heartbeat_before(id, "a", later, later, later)
        .await
        .unwrap();
    assert_eq!(status, Some(CampaignStatus::Sending));
    let live = store.live_senders(later, stale).await.unwrap();
    assert_eq!(
        live.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    store
        .finish_claim(id, "a", Ending::Release, later)
        .await
        .unwrap();
    assert_eq!(
        store
            .heartbeat_before(id, "a", later, later, later)
            .await
            .unwrap(),
        None
    );
});

both!(scheduled_campaigns_start_once, |store: Store| async move {
    let now = now();
    let email = SubscriberEmail::parse("one@example.org").unwrap();
    store
        .add(&email, None, true, Source::Cli, now)
        .await
        .unwrap();
    let at = now + Duration::seconds(60);
    let posts = vec![("first".to_string(), now)];
    let id = store
        .schedule_campaign(&prepared(), &posts, at, now)
        .await
        .unwrap();
    assert_eq!(store.next_scheduled().await.unwrap(), Some(at));
    assert!(store.due_scheduled(now).await.unwrap().is_empty());
    assert_eq!(store.due_scheduled(at).await.unwrap(), vec![id]);
    let (a, b) = tokio::join!(store.start_scheduled(id, at), store.start_scheduled(id, at));
    let started: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(started, vec![1], "exactly one start, with its one reader");
    let carriers = store.post_carriers().await.unwrap();
    assert_eq!(carriers["first"].len(), 1);
});

both!(
    an_outcome_never_undoes_an_erasure,
    |store: Store| async move {
        let now = now();
        let id = campaign(&store, 2, now).await;
        let until = now + Duration::seconds(5);
        let items = store.claim_batch(id, "a", now, until, 10).await.unwrap();
        assert_eq!(items.len(), 2);
        // Erased while its message is in flight.
        let gone = SubscriberEmail::parse("reader0@example.org").unwrap();
        assert!(store.erase(&gone, now).await.unwrap());
        let outcomes: Vec<_> = items.iter().map(|i| (i.delivery_id, sent(now))).collect();
        assert!(
            store.record(id, "a", &outcomes).await.unwrap(),
            "still a's lease"
        );
        let c = store.campaign(id).await.unwrap().unwrap();
        assert_eq!(
            (c.sent, c.skipped, c.pending),
            (1, 1, 0),
            "the erased row stays skipped"
        );
    }
);
