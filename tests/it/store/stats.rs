//! Store tests (both backends): click counters and the dashboard's figures
//! (growth per week, campaign numbers kept once finished, the campaign an
//! unsubscribe came after, the delivery timeline).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use gazette::audience::{Source, SubscriberEmail};
use gazette::render::{EmailKind, Prepared};
use gazette::store::campaigns::{CampaignStatus, Recorded};
use gazette::store::claims::ClaimOwner;
use gazette::store::stats::week_start;
use gazette::store::Store;

use super::both;

fn tracked() -> Prepared {
    let html =
        "<p><a href=\"https://example.com/a\">a</a> <a href=\"https://example.com/b\">b</a> \
                <a href=\"https://example.com/a\">a</a></p>";
    Prepared {
        subject: "Hello".into(),
        html: gazette::render::clicks::track(html, "https://news.example.com"),
        text: "https://example.com/a".into(),
        kind: EmailKind::Post,
    }
}

both!(
    clicks_and_the_dashboard_figures,
    |store: Store| async move {
        let now = Utc::now().trunc_subsecs(6);
        let joined = now - Duration::weeks(2);
        let mut ids = Vec::new();
        for i in 0..3 {
            let e = SubscriberEmail::parse(&format!("r{i}@example.org")).unwrap();
            let added = store
                .add(&e, None, true, Source::Cli, joined)
                .await
                .unwrap();
            ids.push(added.subscriber().id);
        }
        let posts = vec![("first".to_string(), joined)];
        let (id, total) = store
            .create_campaign(&tracked(), &posts, joined)
            .await
            .unwrap();
        assert_eq!(total, 3);

        // The links, numbered; counted; unknown ones are nothing.
        let html = store
            .campaign_prepared::<gazette::render::Prepared>(id)
            .await
            .unwrap()
            .html;
        assert_eq!(
            html.matches(&format!("https://news.example.com/c/{id}/1"))
                .count(),
            2
        );
        assert!(html.contains(&format!("https://news.example.com/c/{id}/2")));
        assert_eq!(
            store.click(id, 1, true).await.unwrap().as_deref(),
            Some("https://example.com/a")
        );
        assert_eq!(
            store.click(id, 1, true).await.unwrap().as_deref(),
            Some("https://example.com/a")
        );
        assert_eq!(
            store.click(id, 2, false).await.unwrap().as_deref(),
            Some("https://example.com/b")
        );
        assert_eq!(store.click(id, 3, true).await.unwrap(), None);
        assert_eq!(store.click(id + 1, 1, true).await.unwrap(), None);
        let links = store.link_clicks(id).await.unwrap();
        assert_eq!(
            links.iter().map(|l| (l.link, l.clicks)).collect::<Vec<_>>(),
            [(1, 2), (2, 0)]
        );
        assert_eq!(store.clicks_per_campaign().await.unwrap(), [(id, 2)]);
        assert_eq!(
            store.clicks_by_kind().await.unwrap(),
            [("post".to_string(), 2)]
        );

        // Sent to all three at `sent_at`; one unsubscribes after it.
        let owner = ClaimOwner {
            host: "host.example".into(),
            pid: 1,
            id: "a".into(),
        };
        let sent_at = joined + Duration::minutes(1);
        store
            .join_campaign(id, &owner, false, sent_at, &|_| false)
            .await
            .unwrap()
            .unwrap();
        let batch = store
            .claim_batch(id, "a", sent_at, sent_at + Duration::seconds(30), 10)
            .await
            .unwrap();
        let outcomes: Vec<(i64, Recorded)> = batch
            .iter()
            .map(|i| {
                let m = format!("<{}@example.org>", i.delivery_id);
                (
                    i.delivery_id,
                    Recorded::Sent {
                        message_id: m,
                        at: sent_at,
                    },
                )
            })
            .collect();
        assert!(store.record(id, "a", &outcomes).await.unwrap());
        let left: DateTime<Utc> = now - Duration::days(1);
        store.unsubscribe(ids[0], left).await.unwrap();
        let done = store
            .set_campaign_status(
                id,
                CampaignStatus::Done,
                &[CampaignStatus::Sending],
                None,
                sent_at,
            )
            .await
            .unwrap();
        assert!(done);

        assert_eq!(
            store.unsubscribed_after(None).await.unwrap().get(&id),
            Some(&1)
        );
        assert_eq!(
            store.unsubscribed_after(Some(now)).await.unwrap().get(&id),
            None
        );
        assert_eq!(store.keep_finished_counts().await.unwrap(), 1);
        assert_eq!(store.keep_finished_counts().await.unwrap(), 0, "kept");
        let lines = store.campaign_lines(10, 0).await.unwrap();
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert_eq!(
            (
                l.id,
                l.counts.sent,
                l.counts.pending,
                l.unsubscribed,
                l.clicks
            ),
            (id, 3, 0, 1, 2)
        );
        let minute = sent_at.format("%Y-%m-%dT%H:%M").to_string();
        assert_eq!(store.timeline(id).await.unwrap(), [(minute, 3)]);
        assert_eq!(store.campaign_count().await.unwrap(), 1);
        assert!(store
            .verdicts_by_domain(Some(id), None, false, 10)
            .await
            .unwrap()
            .is_empty());
        // Bounce verdicts by the recipient's domain.
        use gazette::bounce::{Kind, Record};
        for (n, (who, kind, blocked)) in [
            (1, Kind::Hard, false),
            (2, Kind::Soft, true),
            (2, Kind::Complaint, false),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = Record::new("test", kind, "why");
            r.subscriber_id = Some(ids[who]);
            r.campaign_id = Some(id);
            r.blocked = blocked;
            let policy = gazette::config::BouncePolicy::default();
            store
                .record_bounce(&format!("e{n}"), &r, &policy, now)
                .await
                .unwrap();
        }
        let d = store
            .verdicts_by_domain(Some(id), None, false, 10)
            .await
            .unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (
                d[0].domain.as_str(),
                d[0].hard,
                d[0].soft,
                d[0].blocked,
                d[0].complaints
            ),
            ("example.org", 1, 0, 1, 1)
        );
        let blocked = store
            .verdicts_by_domain(None, Some(now - Duration::days(1)), true, 10)
            .await
            .unwrap();
        assert_eq!((blocked.len(), blocked[0].blocked), (1, 1));
        let l = &store.campaign_lines(10, 0).await.unwrap()[0];
        assert_eq!((l.bounced, l.blocked, l.complained), (1, 1, 1));

        // Growth: three confirmed two weeks ago, one left yesterday.
        let weeks = store.growth(52, now).await.unwrap();
        let at = |t: DateTime<Utc>| {
            weeks
                .iter()
                .find(|w| w.week == week_start(t).to_string())
                .unwrap()
        };
        assert_eq!(at(joined).confirmations, 3);
        assert_eq!(at(left).unsubscribes, 1);
        assert_eq!(weeks.iter().map(|w| w.confirmations).sum::<i64>(), 3);
        // And the two the bounces above took off the list (a hard bounce, a complaint).
        let sum = |f: fn(&gazette::store::stats::Week) -> i64| weeks.iter().map(f).sum::<i64>();
        assert_eq!(
            (
                sum(|w| w.unsubscribes),
                sum(|w| w.bounces),
                sum(|w| w.complaints)
            ),
            (1, 1, 1)
        );
        assert_eq!(at(now).bounces + at(now).complaints, 2);
    }
);
