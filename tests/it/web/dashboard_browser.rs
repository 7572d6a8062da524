//! The dashboard in a real browser (headless Chromium over WebDriver, as in
//! `browser.rs`): signs in with the admin token, opens each page, saves
//! desktop and phone screenshots (`docs/screenshots/14-*` to `20-*` with
//! GAZETTE_SCREENSHOTS=1) and checks the charts' data points against the
//! database.

use chrono::{Duration, Utc};
use gazette::audience::{Source, SubscriberEmail};
use gazette::bounce::{Kind, Record};
use gazette::store::campaigns::{CampaignStatus, Recorded};
use gazette::store::claims::ClaimOwner;

use crate::http;
use crate::web::browser::{have, screenshots_dir, Driver};
use crate::web::clicks::campaign_with_links;
use crate::web::dashboard::{point, TOKEN};
use crate::web::{spawn_app_with_token, App};

/// A list with a year of history: readers joining week after week, some
/// leaving, one campaign sent to all with clicks, a bounce and a complaint.
fn seed(app: &App) -> i64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let now = Utc::now();
    let store = &app.store;
    rt.block_on(async {
        let mut ids = Vec::new();
        for w in 0..40i64 {
            for i in 0..(1 + (w * 7) % 5) {
                let e = SubscriberEmail::parse(&format!("reader{w}-{i}@example.org")).unwrap();
                let at = now - Duration::weeks(40 - w) + Duration::hours(i);
                let s = store.add(&e, None, true, Source::Cli, at).await.unwrap();
                ids.push(s.subscriber().id);
            }
        }
        for (n, sid) in ids.iter().enumerate().filter(|(n, _)| n % 9 == 4) {
            store
                .unsubscribe(*sid, now - Duration::weeks((n % 30) as i64))
                .await
                .unwrap();
        }
    });
    let id = campaign_with_links(app);
    rt.block_on(async {
        let owner = ClaimOwner {
            host: "host.example".into(),
            pid: 1,
            id: "a".into(),
        };
        let t = now - Duration::hours(2);
        store
            .join_campaign(id, &owner, false, t, &|_| false)
            .await
            .unwrap()
            .expect("the campaign joined");
        let batch = store
            .claim_batch(id, "a", t, t + Duration::minutes(5), 1000)
            .await
            .unwrap();
        let outcomes: Vec<(i64, Recorded)> = batch
            .iter()
            .enumerate()
            .map(|(n, i)| {
                let at = t + Duration::minutes(n as i64 / 10);
                let m = format!("<{}@example.org>", i.delivery_id);
                (i.delivery_id, Recorded::Sent { message_id: m, at })
            })
            .collect();
        store.record(id, "a", &outcomes).await.unwrap();
        let policy = gazette::config::BouncePolicy::default();
        for (n, kind) in [(0, Kind::Hard), (1, Kind::Complaint)] {
            let mut r = Record::new("test", kind, "why");
            r.subscriber_id = batch[n].recipient.as_ref().map(|r| r.subscriber_id);
            r.campaign_id = Some(id);
            store
                .record_bounce(&format!("b{n}"), &r, &policy, now)
                .await
                .unwrap();
        }
        store
            .set_campaign_status(
                id,
                CampaignStatus::Done,
                &[CampaignStatus::Sending],
                None,
                now,
            )
            .await
            .unwrap();
    });
    for link in [1, 3, 3, 4] {
        assert_eq!(http::get(app.addr, &format!("/c/{id}/{link}")).status, 302);
    }
    id
}

#[test]
fn the_dashboard_in_a_real_browser() {
    if !have("chromium") || !have("chromedriver") {
        crate::helpers::skip_or_fail(
            "the dashboard browser test: chromium or chromedriver missing",
            "scripts/setup/chromium.sh installs them",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let shots = screenshots_dir(tmp.path());
    let app = spawn_app_with_token("[tracking]\nclicks = true\n", TOKEN);
    let id = seed(&app);
    let admin = format!("http://{}", app.admin.unwrap());
    let b = Driver::start();

    // Signed out: the sign-in page; a wrong token is refused.
    b.go(&format!("{admin}/admin/"));
    b.wait_for("name=\"token\"");
    b.type_into("#token", "not-the-token");
    b.click("button[type=submit]");
    b.wait_for("That is not the admin token.");
    b.shoot(&shots, "20-dashboard-sign-in");
    b.type_into("#token", TOKEN);
    b.click("button[type=submit]");
    let home = b.wait_for("Growth per week");
    b.shoot(&shots, "14-dashboard-overview");

    // The growth chart holds the database's numbers, week by week.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let weeks = rt.block_on(app.store.growth(52, Utc::now())).unwrap();
    let mut checked = 0;
    for w in &weeks {
        for (series, n) in [
            ("confirmations", w.confirmations),
            ("unsubscribes", w.unsubscribes),
            ("bounces", w.bounces),
            ("complaints", w.complaints),
        ] {
            assert_eq!(
                point(&home, series, &w.week),
                n.to_string(),
                "{series} {}",
                w.week
            );
            checked += n;
        }
    }
    assert!(checked > 100, "a chart with something in it: {checked}");

    b.go(&format!("{admin}/admin/campaigns"));
    b.wait_for("data-field=\"clicks\">4<");
    b.shoot(&shots, "15-dashboard-campaigns");

    b.go(&format!("{admin}/admin/campaigns/{id}"));
    let page = b.wait_for("Delivery timeline");
    let c = rt.block_on(app.store.campaign(id)).unwrap().unwrap();
    let minutes = rt.block_on(app.store.timeline(id)).unwrap();
    let bars = crate::web::dashboard_browser::sent_points(&page);
    assert_eq!(
        bars.iter().sum::<i64>(),
        c.sent,
        "every message sent is in a bar"
    );
    assert_eq!(minutes.iter().map(|(_, n)| n).sum::<i64>(), c.sent);
    assert!(page.contains("example.org"), "bounce verdicts by domain");
    b.shoot(&shots, "16-dashboard-campaign");

    b.go(&format!("{admin}/admin/readers"));
    b.type_into("#q", "reader12-");
    b.click("form.search button[type=submit]");
    b.wait_for("reader12-0@example.org");
    b.shoot(&shots, "17-dashboard-readers");
    b.click("#readers a");
    b.wait_for("id=\"record\"");
    b.shoot(&shots, "18-dashboard-reader");

    b.go(&format!("{admin}/admin/health"));
    let health = b.wait_for("Bounce rate");
    let rate = |n: i64| {
        format!(
            "{}",
            ((n as f64) * 100.0 / c.sent as f64 * 10000.0).round() / 10000.0
        )
    };
    assert_eq!(point(&health, "bounce-rate", &format!("#{id}")), rate(1));
    assert_eq!(point(&health, "complaint-rate", &format!("#{id}")), rate(1));
    b.shoot(&shots, "19-dashboard-health");

    // Sign out: the pages are gone.
    b.click("header form button");
    b.wait_for("name=\"token\"");
    b.go(&format!("{admin}/admin/health"));
    b.wait_for("name=\"token\"");
}

/// The `data-value`s of the `sent` bars of a page.
pub fn sent_points(page: &str) -> Vec<i64> {
    page.split("data-series=\"sent\"")
        .skip(1)
        .map(|rest| {
            let at = rest.find("data-value=\"").unwrap() + "data-value=\"".len();
            rest[at..at + rest[at..].find('"').unwrap()]
                .parse()
                .unwrap()
        })
        .collect()
}
