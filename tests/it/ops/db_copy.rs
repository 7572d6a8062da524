//! `gazette db copy --from URL --to URL`: an installation moved between
//! SQLite and PostgreSQL (either way) or to another SQLite file, with the
//! real binary; the copy lists what the original lists, and a second
//! copy into a database that holds rows is refused.

use chrono::{DateTime, Utc};
use gazette::bounce::{Kind, Record};
use gazette::config::BouncePolicy;
use gazette::render::{EmailKind, Prepared};
use gazette::store::Store;
use serde_json::Value;

use crate::helpers::{PgDb, Project};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/imports/listmonk.csv"
);

/// Tables and the rows `populated` puts in each.
const ROWS: &[(&str, i64)] = &[
    ("subscribers", 3),
    ("subscriber_aliases", 1),
    ("suppressions", 1),
    ("campaigns", 2),
    ("campaign_posts", 1),
    ("deliveries", 4),
    ("bounces", 2),
    ("seen_posts", 1),
    ("digest_runs", 1),
    ("worker_state", 1),
    ("erased_ids", 1),
    ("senders", 1),
];

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A SQLite project with a row in every table: imported subscribers of
/// several statuses (one erased), two campaigns (the first a variant of
/// the second: a reference forward), deliveries, bounces, worker memory.
fn populated() -> Project {
    let p = Project::new();
    std::fs::copy(FIXTURE, p.path().join("people.csv")).unwrap();
    p.run(&["subscribers", "import", "people.csv", "--confirmed"])
        .ok();
    p.run(&["subscribers", "remove", "zed.disabled@example.com"])
        .ok();
    let url = p.database_url();
    runtime().block_on(async {
        let store = Store::open(&url).await.unwrap();
        let now = t("2026-11-20T10:00:00.250000Z");
        let prepared = |kind| Prepared {
            subject: "Issue ü".into(),
            html: "<p>hi</p>".into(),
            text: "hi".into(),
            kind,
        };
        let (post, _) = store
            .create_campaign(&prepared(EmailKind::Post), &[("hello".into(), now)], now)
            .await
            .unwrap();
        let (digest, _) = store
            .create_campaign(&prepared(EmailKind::Digest), &[], now)
            .await
            .unwrap();
        let policy = BouncePolicy::default();
        let mut hard = Record::new("test", Kind::Hard, "no such user");
        (hard.subscriber_id, hard.campaign_id) = (Some(1), Some(post));
        store.record_bounce("b1", &hard, &policy, now).await.unwrap();
        let mut blocked = Record::new("test", Kind::Soft, "policy");
        (blocked.campaign_id, blocked.blocked) = (Some(post), true);
        store.record_bounce("b2", &blocked, &policy, now).await.unwrap();
        store.mark_seen("hello", now).await.unwrap();
        store.set_seen_campaign("hello", post).await.unwrap();
        let period = t("2026-11-16T08:00:00Z");
        store.claim_digest_period(period, now).await.unwrap();
        store.set_digest_campaign(period, digest).await.unwrap();
        store.state_init("installed", "yes").await.unwrap();
        store.close().await;
        use sqlx::{Connection, Executor};
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        c.execute(
            "UPDATE campaigns SET variant_of = 2 WHERE id = 1;
             UPDATE deliveries SET status = 'sent', message_id = '<tok@example.com>',
                    sent_at = '2026-11-20T10:00:01.000000Z' WHERE id = 1;
             INSERT INTO senders (id, host, pid, role, started_at, heartbeat_at)
             VALUES ('run1', 'host', 42, 'worker', '2026-11-20T10:00:00.000000Z', '2026-11-20T10:00:02.000000Z');
             INSERT INTO subscriber_aliases (selector, unsub_verifier, subscriber_id)
             SELECT '0123456789abcdef01', '00112233445566778899aabbccddeeff', MIN(id) FROM subscribers;",
        )
        .await
        .unwrap();
        c.close().await.unwrap();
    });
    p
}

/// `db copy --json`, which must succeed, as (table, source, target).
fn copy(p: &Project, from: &str, to: &str) -> Vec<(String, i64, i64)> {
    let out = p.run(&["db", "copy", "--from", from, "--to", to, "--json"]);
    out.ok();
    let v: Value =
        serde_json::from_str(&out.stdout()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout()));
    v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["source"].as_i64().unwrap(),
                t["target"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn assert_all_copied(counts: &[(String, i64, i64)]) {
    let want: Vec<(String, i64, i64)> = ROWS.iter().map(|(t, n)| (t.to_string(), *n, *n)).collect();
    assert_eq!(counts, want);
}

/// What the read-only commands print about a project's database.
fn listing(p: &Project) -> Vec<String> {
    [
        &["subscribers", "list", "--json"][..],
        &["subscribers", "list", "--status", "unsubscribed"],
        &["subscribers", "count"],
        &["bounces", "list", "--json"],
    ]
    .iter()
    .map(|args| {
        let out = p.run(args);
        out.ok();
        out.stdout()
    })
    .collect()
}

#[test]
fn copies_sqlite_to_postgres_and_back() {
    let p = populated();
    let Some(pg) = PgDb::create() else { return };
    let mut q = Project::new();
    q.db = Some(pg);
    let pg_url = q.database_url();
    assert_all_copied(&copy(&p, &p.database_url(), &pg_url));
    assert_eq!(listing(&q), listing(&p));

    // A second copy into the same target is refused and writes nothing.
    let again = p.run(&["db", "copy", "--from", &p.database_url(), "--to", &pg_url]);
    again.fails_with_code(1, "refusing to copy");
    assert_eq!(
        again.stderr().trim().lines().count(),
        1,
        "{}",
        again.stderr()
    );
    assert!(
        again.stderr().contains("3 subscribers rows"),
        "{}",
        again.stderr()
    );

    // Back to SQLite: the same again.
    let r = Project::new();
    assert_all_copied(&copy(&r, &pg_url, &r.database_url()));
    assert_eq!(listing(&r), listing(&p));

    // New rows on PostgreSQL continue after the copied ids.
    runtime().block_on(async {
        let store = Store::open(&pg_url).await.unwrap();
        let now = Utc::now();
        let prepared = Prepared {
            subject: "Next".into(),
            html: String::new(),
            text: String::new(),
            kind: EmailKind::Post,
        };
        let (id, _) = store.create_campaign(&prepared, &[], now).await.unwrap();
        assert_eq!(id, 3);
        let mut r = Record::new("test", Kind::Soft, "full");
        r.subscriber_id = Some(2);
        store
            .record_bounce("b3", &r, &BouncePolicy::default(), now)
            .await
            .unwrap();
        let log = store.bounces(None).await.unwrap();
        assert_eq!(log.iter().map(|b| b.id).collect::<Vec<_>>(), [1, 2, 3]);
        store.close().await;
    });
}

#[test]
fn copies_sqlite_to_sqlite_with_text_output() {
    let p = populated();
    let q = Project::new();
    let out = p.run(&[
        "db",
        "copy",
        "--from",
        &p.database_url(),
        "--to",
        &q.database_url(),
    ]);
    out.ok();
    let text = out.stdout();
    assert!(text.contains("(sqlite) to"), "{text}");
    for (table, n) in ROWS {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(*table))
            .unwrap_or_else(|| panic!("{table} missing: {text}"));
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            [*table, &n.to_string(), &n.to_string()]
        );
    }
    assert_eq!(listing(&q), listing(&p));
    let show = |p: &Project| {
        let out = p.run(&["subscribers", "show", "xia.enabled@example.com", "--json"]);
        out.ok();
        out.stdout()
    };
    assert_eq!(show(&q), show(&p));
    // Into itself: refused, it holds rows.
    p.run(&[
        "db",
        "copy",
        "--from",
        &q.database_url(),
        "--to",
        &p.database_url(),
    ])
    .fails_with_code(1, "refusing to copy");
}

#[test]
fn refuses_a_source_that_does_not_exist() {
    let p = Project::new();
    let missing = format!("sqlite://{}", p.path().join("nope.db").display());
    let to = format!("sqlite://{}", p.path().join("to.db").display());
    p.run(&["db", "copy", "--from", &missing, "--to", &to])
        .fails_with_code(1, "nope.db");
    assert!(!p.path().join("nope.db").exists());
}

#[test]
fn copies_more_than_a_batch() {
    let p = Project::new();
    let mut csv = String::from("email,name\n");
    for i in 0..1201 {
        csv.push_str(&format!("reader{i}@example.com,Reader {i}\n"));
    }
    p.write("many.csv", csv);
    p.run(&["subscribers", "import", "many.csv", "--confirmed"])
        .ok();
    let q = Project::new();
    let counts = copy(&q, &p.database_url(), &q.database_url());
    assert_eq!(counts[0], ("subscribers".to_string(), 1201, 1201));
    assert_eq!(listing(&q), listing(&p));
    let Some(pg) = PgDb::create() else { return };
    let mut r = Project::new();
    r.db = Some(pg);
    let counts = copy(&r, &q.database_url(), &r.database_url());
    assert_eq!(counts[0], ("subscribers".to_string(), 1201, 1201));
    assert_eq!(listing(&r), listing(&p));
}
