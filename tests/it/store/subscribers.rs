//! Store tests (both backends): subscribers: adding, the opt-in flow,
//! the directory, one person's data and its erasure, imports.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use gazette::audience::{Source, Status, SubscriberEmail};
use gazette::store::{Added, Confirmed, ImportRow, ImportStats, Store};
use serde_json::{json, Map, Value};

use super::both;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn email(s: &str) -> SubscriberEmail {
    SubscriberEmail::parse(s).unwrap()
}

async fn add(store: &Store, addr: &str, name: Option<&str>, active: bool) -> i64 {
    store
        .add(&email(addr), name, active, Source::Cli, now())
        .await
        .unwrap()
        .subscriber()
        .id
}

async fn status(store: &Store, addr: &str) -> Option<Status> {
    store.get(&email(addr)).await.unwrap().map(|s| s.status)
}

both!(add_keeps_an_existing_row, |store: Store| async move {
    let first = store
        .add(
            &email("Ada@Example.com"),
            Some("Ada"),
            false,
            Source::Cli,
            now(),
        )
        .await
        .unwrap();
    assert!(matches!(first, Added::Created(_)), "{first:?}");
    let s = first.subscriber();
    assert_eq!(
        (s.email.as_str(), s.status),
        ("Ada@example.com", Status::Pending)
    );
    assert_eq!(s.created_at, now());
    assert!(s.unsub_token.contains('.'), "{}", s.unsub_token);
    let again = store
        .add(
            &email("ada@example.com"),
            Some("Other"),
            true,
            Source::Cli,
            now(),
        )
        .await
        .unwrap();
    assert!(matches!(again, Added::Existing(_)), "{again:?}");
    assert_eq!(again.subscriber().name.as_deref(), Some("Ada"));
    assert_eq!(again.subscriber().status, Status::Pending);
    let active = store
        .add(&email("bo@example.com"), None, true, Source::Cli, now())
        .await
        .unwrap();
    assert_eq!(active.subscriber().confirmed_at, Some(now()));
});

both!(unsubscribe_by_token, |store: Store| async move {
    let id = add(&store, "ada@example.com", None, true).await;
    let token = store
        .get(&email("ada@example.com"))
        .await
        .unwrap()
        .unwrap()
        .unsub_token;
    let found = store.by_unsubscribe_token(&token).await.unwrap().unwrap();
    assert_eq!(found.id, id);
    assert!(store
        .by_unsubscribe_token(&format!("{token}0"))
        .await
        .unwrap()
        .is_none());
    assert!(store.by_unsubscribe_token("junk").await.unwrap().is_none());
    store.unsubscribe(id, now()).await.unwrap();
    store.unsubscribe(id, now()).await.unwrap();
    let s = store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(s.status, Status::Unsubscribed);
    assert_eq!(s.unsubscribed_at, Some(now()));
});

both!(
    web_subscription_then_confirmation,
    |store: Store| async move {
        let day = Duration::from_secs(86400);
        let minute = Duration::from_secs(60);
        let web = store
            .subscribe_web(&email("ada@example.com"), Some("Ada"), now(), day, minute)
            .await
            .unwrap();
        assert!(web.created);
        assert_eq!(web.confirm_name.as_deref(), Some("Ada"));
        let token = web.token.unwrap();
        // Again at once: the same answer, but no new token (too soon).
        let again = store
            .subscribe_web(&email("ada@example.com"), Some("Eve"), now(), day, minute)
            .await
            .unwrap();
        assert!(!again.created);
        assert!(again.token.is_none());
        assert!(again.confirm_name.is_none());
        assert_eq!(
            store.confirm(&token, now()).await.unwrap(),
            Confirmed::Activated("ada@example.com".into())
        );
        let s = store.get(&email("ada@example.com")).await.unwrap().unwrap();
        assert_eq!((s.status, s.name.as_deref()), (Status::Active, Some("Ada")));
        assert_eq!(s.confirmed_at, Some(now()));
        // Used once.
        assert_eq!(
            store.confirm(&token, now()).await.unwrap(),
            Confirmed::Unknown
        );
        assert_eq!(
            store.confirm("junk", now()).await.unwrap(),
            Confirmed::Unknown
        );

        // A link used after its time.
        let late = store
            .subscribe_web(&email("bo@example.com"), None, now(), day, minute)
            .await
            .unwrap();
        let later = now() + chrono::Duration::days(2);
        assert_eq!(
            store.confirm(&late.token.unwrap(), later).await.unwrap(),
            Confirmed::Expired
        );
    }
);

both!(
    confirmation_claims_and_activation,
    |store: Store| async move {
        let (day, hour) = (Duration::from_secs(86400), Duration::from_secs(3600));
        let id = add(&store, "ada@example.com", None, false).await;
        let token = store
            .claim_confirmation(id, now(), day, hour)
            .await
            .unwrap()
            .expect("a first claim");
        assert!(store
            .claim_confirmation(id, now(), day, hour)
            .await
            .unwrap()
            .is_none());
        store.release_confirmation(id).await.unwrap();
        assert!(store
            .claim_confirmation(id, now(), day, hour)
            .await
            .unwrap()
            .is_some());
        // The older token no longer confirms.
        assert_eq!(
            store.confirm(&token, now()).await.unwrap(),
            Confirmed::Unknown
        );
        store
            .activate(id, &email("ada@example.com"), now())
            .await
            .unwrap();
        assert_eq!(
            status(&store, "ada@example.com").await,
            Some(Status::Active)
        );
        // Active: nothing more to confirm.
        assert!(store
            .claim_confirmation(id, now(), day, Duration::ZERO)
            .await
            .unwrap()
            .is_none());
    }
);

both!(
    search_is_case_insensitive_and_paged,
    |store: Store| async move {
        add(&store, "ada@example.com", Some("Ada Lovelace"), true).await;
        add(&store, "bo@example.org", Some("Bo ÅSTRÖM"), false).await;
        add(&store, "cy_x@example.com", None, true).await;
        add(&store, "cyax@example.com", None, true).await;
        let emails = |p: &gazette::store::directory::Page| {
            p.subscribers
                .iter()
                .map(|s| s.email.clone())
                .collect::<Vec<_>>()
        };
        let all = store.search(None, None, 10, 0).await.unwrap();
        assert_eq!(all.total, 4);
        assert_eq!(emails(&all)[0], "ada@example.com", "oldest first");
        let p = store.search(None, Some("LOVELACE"), 10, 0).await.unwrap();
        assert_eq!(emails(&p), ["ada@example.com"]);
        let p = store
            .search(None, Some("EXAMPLE.ORG"), 10, 0)
            .await
            .unwrap();
        assert_eq!(emails(&p), ["bo@example.org"]);
        let p = store.search(None, Some("bo "), 10, 0).await.unwrap();
        assert_eq!(emails(&p), ["bo@example.org"]);
        // `_` is a character, not a wildcard.
        let p = store.search(None, Some("cy_"), 10, 0).await.unwrap();
        assert_eq!(emails(&p), ["cy_x@example.com"]);
        let p = store
            .search(Some(Status::Active), Some("example"), 1, 1)
            .await
            .unwrap();
        assert_eq!(
            (p.total, emails(&p)),
            (3, vec!["cy_x@example.com".to_string()])
        );
        let none = store
            .search(Some(Status::Bounced), None, 10, 0)
            .await
            .unwrap();
        assert_eq!((none.total, none.subscribers.len()), (0, 0));
    }
);

both!(update_name_and_attributes, |store: Store| async move {
    let id = add(&store, "ada@example.com", Some("Ada"), true).await;
    let mut attrs = Map::new();
    attrs.insert("city".into(), json!("Oslo"));
    attrs.insert("n".into(), json!(3));
    let s = store
        .update_subscriber(id, None, Some(&attrs))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.attributes, json!({"city": "Oslo", "n": 3}));
    assert_eq!(s.name.as_deref(), Some("Ada"));
    let mut change = Map::new();
    change.insert("city".into(), Value::Null);
    change.insert("plan".into(), json!("pro"));
    let s = store
        .update_subscriber(id, Some(None), Some(&change))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.attributes, json!({"n": 3, "plan": "pro"}));
    assert_eq!(s.name, None);
    assert!(store
        .update_subscriber(id + 100, Some(Some("X")), None)
        .await
        .unwrap()
        .is_none());
    assert!(store.subscriber_by_id(id + 100).await.unwrap().is_none());
});

both!(
    person_shows_everything_and_erase_removes_it,
    |store: Store| async move {
        let ada = email("ada@example.com");
        let id = add(&store, "ada@example.com", Some("Ada"), false).await;
        store
            .claim_confirmation(id, now(), Duration::from_secs(3600), Duration::ZERO)
            .await
            .unwrap();
        let p = store.person(&ada).await.unwrap().unwrap();
        assert_eq!(p.subscriber.id, id);
        assert_eq!(p.confirm_sent_at, Some(now()));
        assert_eq!(
            p.confirm_expires_at,
            Some(now() + chrono::Duration::hours(1))
        );
        assert_eq!(p.stored["email"], "ada@example.com");
        assert_eq!(p.stored["id"], json!(id));
        assert_eq!(p.stored["attributes"], "{}");
        assert_eq!(p.stored["created_at"], "2026-03-01T12:00:00.000000Z");
        assert_eq!(p.stored["confirmed_at"], Value::Null);
        assert!(!p.stored.contains_key("unsub_verifier"));
        assert!(!p.stored.contains_key("confirm_hash"));
        assert!(p.deliveries.is_empty());
        assert!(!p.erased_before);
        // The tables that point at a subscriber, found in each schema.
        // (`subscriber_aliases`: the links of rows merged into this one.)
        assert_eq!(
            p.linked.keys().collect::<Vec<_>>(),
            ["bounces", "subscriber_aliases"]
        );

        assert!(store.erase(&ada, now()).await.unwrap());
        assert!(store.person(&ada).await.unwrap().is_none());
        assert!(store.get(&ada).await.unwrap().is_none());
        assert!(store.is_suppressed(&ada).await.unwrap());
        assert!(!store.erase(&ada, now()).await.unwrap());
        // Back through the web: the earlier erasure shows.
        store
            .subscribe_web(&ada, None, now(), Duration::from_secs(60), Duration::ZERO)
            .await
            .unwrap();
        assert!(store.person(&ada).await.unwrap().unwrap().erased_before);
    }
);

fn row(addr: &str, status: Status, attrs: Value) -> ImportRow {
    let e = email(addr);
    ImportRow {
        line: 1,
        key: e.key(),
        email: e,
        name: None,
        status,
        source: Source::Import,
        attributes: attrs.as_object().cloned().unwrap_or_default(),
        created_at: None,
        confirmed_at: None,
        unsubscribed_at: None,
    }
}

async fn import(store: &Store, rows: &[ImportRow], dry_run: bool) -> ImportStats {
    let mut i = store.begin_import().await.unwrap();
    super::merge(&mut i, rows, now()).await.unwrap();
    i.finish(dry_run).await.unwrap()
}

both!(import_never_undoes_an_opt_out, |store: Store| async move {
    let out = add(&store, "out@example.com", None, true).await;
    store.unsubscribe(out, now()).await.unwrap();
    add(&store, "pend@example.com", Some("Pen"), false).await;
    add(&store, "act@example.com", None, true).await;
    add(&store, "gone@example.com", None, true).await;
    store
        .erase(&email("gone@example.com"), now())
        .await
        .unwrap();

    let mut named = row("pend@example.com", Status::Active, json!({"plan": "pro"}));
    named.name = Some("Penny".into());
    let rows = vec![
        row("OUT@example.com", Status::Active, json!({})),
        named,
        row("act@example.com", Status::Pending, json!({})),
        row("gone@example.com", Status::Active, json!({})),
        row("new@example.com", Status::Active, json!({"a": "1"})),
        row("bye@example.com", Status::Unsubscribed, json!({})),
    ];
    let stats = import(&store, &rows, false).await;
    assert_eq!(stats.suppressed, 1, "{stats:?}");
    assert_eq!(
        (stats.inserted, stats.updated, stats.unchanged),
        (2, 1, 2),
        "{stats:?}"
    );
    assert_eq!(stats.became(Status::Active), 3, "{stats:?}");
    assert_eq!(stats.became(Status::Unsubscribed), 2, "{stats:?}");
    assert_eq!(stats.became(Status::Pending), 0, "{stats:?}");
    assert_eq!(
        status(&store, "out@example.com").await,
        Some(Status::Unsubscribed)
    );
    assert_eq!(status(&store, "gone@example.com").await, None);
    assert_eq!(
        status(&store, "act@example.com").await,
        Some(Status::Active)
    );
    let pend = store
        .get(&email("pend@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pend.status, Status::Active);
    assert_eq!(pend.confirmed_at, Some(now()));
    assert_eq!(pend.name.as_deref(), Some("Penny"));
    assert_eq!(pend.attributes, json!({"plan": "pro"}));
    let bye = store.get(&email("bye@example.com")).await.unwrap().unwrap();
    assert_eq!(
        (bye.status, bye.unsubscribed_at),
        (Status::Unsubscribed, Some(now()))
    );
    assert!(store
        .get(&email("new@example.com"))
        .await
        .unwrap()
        .unwrap()
        .unsub_token
        .contains('.'));

    // The same file again changes nothing.
    let again = import(&store, &rows, false).await;
    assert_eq!(
        (again.inserted, again.updated, again.unchanged),
        (0, 0, 5),
        "{again:?}"
    );
    assert_eq!(again.suppressed, 1);
    // A bounce wins over an active row, and a dry run keeps nothing.
    let dry = import(
        &store,
        &[row("act@example.com", Status::Bounced, json!({}))],
        true,
    )
    .await;
    assert_eq!(
        (dry.updated, dry.became(Status::Bounced)),
        (1, 1),
        "{dry:?}"
    );
    assert_eq!(
        status(&store, "act@example.com").await,
        Some(Status::Active)
    );
});

both!(
    import_merges_attributes_like_json_patch,
    |store: Store| async move {
        let first = row(
            "ada@example.com",
            Status::Active,
            json!({"a": "1", "b": "2", "o": {"x": 1, "y": 2}}),
        );
        import(&store, &[first], false).await;
        let patch = row(
            "ada@example.com",
            Status::Active,
            json!({"b": null, "c": "3", "o": {"y": null, "z": 3}}),
        );
        let stats = import(&store, &[patch], false).await;
        assert_eq!(stats.updated, 1, "{stats:?}");
        let s = store.get(&email("ada@example.com")).await.unwrap().unwrap();
        assert_eq!(
            s.attributes,
            json!({"a": "1", "c": "3", "o": {"x": 1, "z": 3}})
        );
    }
);

both!(
    import_merges_an_address_given_twice,
    |store: Store| async move {
        add(&store, "old@example.com", None, false).await;
        let mut second = row("new@example.com", Status::Active, json!({"b": "2"}));
        second.name = Some("New".into());
        let rows = vec![
            row("new@example.com", Status::Pending, json!({"a": "1"})),
            row("old@example.com", Status::Active, json!({})),
            second,
            row("NEW@example.com", Status::Unsubscribed, json!({})),
            row("old@example.com", Status::Active, json!({})),
            row("same@example.com", Status::Active, json!({})),
            row("same@example.com", Status::Active, json!({})),
        ];
        let stats = import(&store, &rows, false).await;
        // One statement per batch on SQLite: each later copy merges into
        // what the earlier one left (unchanged when it changes nothing).
        assert_eq!(
            (stats.inserted, stats.updated, stats.unchanged),
            (2, 3, 2),
            "{stats:?}"
        );
        assert_eq!(stats.became(Status::Unsubscribed), 1, "{stats:?}");
        assert_eq!(stats.became(Status::Active), 2, "{stats:?}");
        let s = store.get(&email("new@example.com")).await.unwrap().unwrap();
        assert_eq!(s.status, Status::Unsubscribed);
        assert_eq!(s.name.as_deref(), Some("New"));
        assert_eq!(s.attributes, json!({"a": "1", "b": "2"}));
        assert_eq!(s.confirmed_at, Some(now()));
        assert_eq!(
            status(&store, "old@example.com").await,
            Some(Status::Active)
        );
    }
);

both!(import_across_batches, |store: Store| async move {
    let n = gazette::store::IMPORT_BATCH * 2 + 7;
    let rows: Vec<ImportRow> = (0..n)
        .map(|i| row(&format!("r{i}@example.com"), Status::Active, json!({})))
        .collect();
    let stats = import(&store, &rows, false).await;
    assert_eq!(stats.inserted, n as u64);
    assert_eq!(stats.became(Status::Active), n as u64);
    let counts = store.counts().await.unwrap();
    assert!(counts.contains(&(Status::Active, n as i64)), "{counts:?}");
    let mut pending = rows;
    for r in pending.iter_mut().take(10) {
        r.status = Status::Pending;
    }
    let stats = import(&store, &pending, false).await;
    assert_eq!(
        (stats.inserted, stats.updated, stats.unchanged),
        (0, 0, n as u64)
    );
    assert_eq!(stats.became(Status::Active), n as u64, "{stats:?}");
});

/// The real binary on PostgreSQL: import, show, remove, import again.
#[test]
fn cli_import_show_remove_on_postgres() {
    use crate::helpers::Project;
    let Some(p) = Project::new().on_postgres() else {
        return;
    };
    p.write(
        "list.csv",
        "email,name,city,status\nkeep@example.com,Keep,Oslo,\ngone@example.com,Gone Person,Rome,\nout@example.com,Out,Paris,unsubscribed\nKEEP@example.com,,Bergen,\n",
    );
    let out = p.run(&["subscribers", "import", "list.csv", "--confirmed", "--json"]);
    out.ok();
    let r: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(
        (
            r["new"].as_u64(),
            r["updated"].as_u64(),
            r["unchanged"].as_u64()
        ),
        (Some(3), Some(1), Some(0)),
        "{r}"
    );
    assert_eq!(
        (r["active"].as_u64(), r["unsubscribed"].as_u64()),
        (Some(2), Some(1)),
        "{r}"
    );

    let show = |email: &str| -> Value {
        let out = p.run(&["subscribers", "show", email, "--json"]);
        out.ok();
        serde_json::from_str(&out.stdout()).unwrap()
    };
    let keep = show("keep@example.com");
    assert_eq!(keep["name"], "Keep");
    assert_eq!(keep["status"], "active");
    assert_eq!(keep["attributes"]["city"], "Bergen");
    assert_eq!(keep["source"], "import");
    assert!(keep["row"].get("unsub_verifier").is_none(), "no secrets");
    assert_eq!(show("out@example.com")["status"], "unsubscribed");
    let text = p.run(&["subscribers", "show", "gone@example.com"]);
    text.ok();
    assert!(
        text.stdout().contains("gone@example.com"),
        "{}",
        text.stdout()
    );

    p.run(&["subscribers", "remove", "gone@example.com"]).ok();
    let gone = p.run(&["subscribers", "show", "gone@example.com"]);
    gone.ok();
    assert!(gone.stdout().contains("erased"), "{}", gone.stdout());
    p.write(
        "again.csv",
        "email,status\ngone@example.com,\nout@example.com,\n",
    );
    let out = p.run(&[
        "subscribers",
        "import",
        "again.csv",
        "--confirmed",
        "--json",
    ]);
    out.ok();
    let r: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(
        (
            r["skipped"].as_u64(),
            r["unsubscribed"].as_u64(),
            r["new"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{r}"
    );
    assert_eq!(show("out@example.com")["status"], "unsubscribed");
    p.run(&["subscribers", "add", "gone@example.com", "--confirmed"])
        .fails_with("was erased");
}

/// SQLite: the import sets aside the trigger that gives a selector to a
/// row inserted without one; after a commit, a dry run and an import given
/// up half-way it is back as it was, and it still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_puts_the_selector_trigger_back() {
    use sqlx::{Connection, Executor};
    let t = super::TestStore::new("sqlite").await.unwrap();
    let trigger = || async {
        let mut c = sqlx::SqliteConnection::connect(&t.url).await.unwrap();
        let sql: Option<String> = sqlx::query_scalar(
            "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'subscribers_selector_default'",
        )
        .fetch_optional(&mut c)
        .await
        .unwrap();
        sql
    };
    let before = trigger().await;
    assert!(before
        .as_deref()
        .is_some_and(|s| s.contains("NEW.selector IS NULL")));
    let rows: Vec<ImportRow> = (0..1200)
        .map(|i| row(&format!("r{i}@example.com"), Status::Active, json!({})))
        .collect();
    assert_eq!(import(&t.store, &rows, false).await.inserted, 1200);
    assert_eq!(trigger().await, before, "after a commit");
    let more = [row("dry@example.com", Status::Active, json!({}))];
    assert_eq!(import(&t.store, &more, true).await.inserted, 1);
    assert_eq!(trigger().await, before, "after a dry run");
    {
        let mut i = t.store.begin_import().await.unwrap();
        super::merge(&mut i, &more, now()).await.unwrap();
        // Given up: dropped without `finish`, rolled back.
    }
    let again = [row("after@example.com", Status::Active, json!({}))];
    assert_eq!(import(&t.store, &again, false).await.inserted, 1);
    assert_eq!(trigger().await, before, "after an import given up");
    let counts = t.store.counts().await.unwrap();
    assert!(counts.contains(&(Status::Active, 1201)), "{counts:?}");
    // A row inserted without a selector (by another program) gets one.
    let mut c = sqlx::SqliteConnection::connect(&t.url).await.unwrap();
    c.execute(
        "INSERT INTO subscribers (email, email_key, status, source, created_at, unsub_verifier)
         VALUES ('raw@example.com', 'raw@example.com', 'active', 'cli', '2026-03-01T12:00:00Z', 'v')",
    )
    .await
    .unwrap();
    let selector: Option<String> =
        sqlx::query_scalar("SELECT selector FROM subscribers WHERE email_key = 'raw@example.com'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(selector.map(|s| s.len()), Some(18));
    let missing: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM subscribers WHERE selector IS NULL")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(missing, 0, "every imported row has its selector");
    // The look for unwelcomed imported readers after each import reads
    // only them (migration 0080's partial index), not every active row.
    for sql in [
        "EXPLAIN QUERY PLAN UPDATE subscribers SET welcomed_at = 'x' WHERE status = 'active' AND source = 'import' AND welcomed_at IS NULL",
        "EXPLAIN QUERY PLAN SELECT email FROM subscribers WHERE status = 'active' AND source = 'import' AND welcomed_at IS NULL ORDER BY id",
    ] {
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sql).fetch_all(&mut c).await.unwrap();
        assert!(
            plan.iter().any(|p| p.3.contains("subscribers_unwelcomed")),
            "{plan:?}"
        );
    }
}
