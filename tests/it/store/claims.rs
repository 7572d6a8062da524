//! Store tests (both backends): who may take deliveries of a campaign. A
//! claim takes rows only while the campaign is `sending`, checked in the
//! claiming statement itself (issue 24, item 8: a paused campaign is never
//! claimed by a worker that decided to retry it an instant before); the
//! lease's size follows the audience and the processes that send.

use chrono::{DateTime, Duration, Utc};
use gazette::audience::{Source, SubscriberEmail};
use gazette::render::{EmailKind, Prepared};
use gazette::store::campaigns::{CampaignStatus, ClaimRefused};
use gazette::store::claims::{ClaimOwner, Ending};
use gazette::store::Store;

use super::both;

fn owner(id: &str) -> ClaimOwner {
    ClaimOwner {
        host: "host.example".into(),
        pid: 1,
        id: id.into(),
    }
}

fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// `n` active subscribers and a queued post campaign to them.
async fn queued(store: &Store, n: usize, now: DateTime<Utc>) -> i64 {
    for i in 0..n {
        let email = SubscriberEmail::parse(&format!("reader{i}@example.org")).unwrap();
        store
            .add(&email, None, true, Source::Cli, now)
            .await
            .unwrap();
    }
    let prepared = Prepared {
        subject: "Hello".into(),
        html: "<p>Hi</p>".into(),
        text: "Hi".into(),
        kind: EmailKind::Post,
    };
    let posts = vec![("first".to_string(), now)];
    store
        .create_campaign(&prepared, &posts, now)
        .await
        .unwrap()
        .0
}

async fn pause(store: &Store, id: i64, now: DateTime<Utc>) {
    let from = [
        CampaignStatus::Queued,
        CampaignStatus::Sending,
        CampaignStatus::Paused,
    ];
    assert!(store
        .set_campaign_status(id, CampaignStatus::Paused, &from, None, now)
        .await
        .unwrap());
}

both!(
    a_claim_takes_nothing_once_the_campaign_is_paused,
    |store: Store| async move {
        let now = now();
        let until = now + Duration::seconds(5);
        let id = queued(&store, 4, now).await;
        store
            .join_campaign(id, &owner("a"), false, now, &|_| false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store
                .claim_batch(id, "a", now, until, 1)
                .await
                .unwrap()
                .len(),
            1
        );
        // An operator pauses while the run goes on: its next claim (before its
        // heartbeat has read the status) takes nothing more.
        pause(&store, id, now).await;
        assert!(store
            .claim_batch(id, "a", now, until, 10)
            .await
            .unwrap()
            .is_empty());
        // Nor does anyone else's.
        assert!(store
            .claim_batch(id, "b", now, until, 10)
            .await
            .unwrap()
            .is_empty());
        // Resumed, the rest is there to take.
        assert!(store
            .join_campaign(id, &owner("c"), true, now, &|_| false)
            .await
            .unwrap()
            .is_ok());
        assert_eq!(
            store
                .claim_batch(id, "c", now, until, 10)
                .await
                .unwrap()
                .len(),
            3
        );
    }
);

both!(
    a_worker_retrying_an_unreachable_campaign_never_takes_a_paused_one,
    |store: Store| async move {
        let now = now();
        let until = now + Duration::seconds(5);
        let id = queued(&store, 3, now).await;
        store
            .join_campaign(id, &owner("a"), false, now, &|_| false)
            .await
            .unwrap()
            .unwrap();
        let ending = Ending::Unreachable {
            error: "connection refused",
            retry_at: now - Duration::seconds(1),
        };
        assert!(store.finish_claim(id, "a", ending, now).await.unwrap());
        // The worker decides to retry it ...
        let due = store
            .campaigns_to_run(now, std::time::Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(due, vec![(id, CampaignStatus::Paused)]);
        // ... an operator pauses it an instant later ...
        pause(&store, id, now).await;
        // ... and the worker's try is refused, and takes nothing.
        let joined = store
            .join_campaign(id, &owner("w"), false, now, &|_| false)
            .await
            .unwrap();
        assert!(matches!(joined, Err(ClaimRefused::Paused)), "{joined:?}");
        assert!(store
            .claim_batch(id, "w", now, until, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store.campaign_status(id).await.unwrap(),
            Some(CampaignStatus::Paused)
        );
    }
);
