//! Opening, migrating, adding and counting: the store's first steps.

use gazette::audience::{Status, SubscriberEmail};
use gazette::store::Store;

use super::both;

both!(opens_migrated_and_empty, |store: Store| async move {
    store.ping().await.unwrap();
    let counts = store.counts().await.unwrap();
    assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
    // Migrating again applies nothing.
    assert_eq!(store.migrate().await.unwrap(), 0);
});

both!(get_and_count_by_status, |store: Store| async move {
    let email = SubscriberEmail::parse("Ada@Example.com").unwrap();
    assert!(store.get(&email).await.unwrap().is_none());
    assert!(!store.is_suppressed(&email).await.unwrap());
    let mut seen = Vec::new();
    store
        .for_each(Some(Status::Active), |s| {
            seen.push(s.email);
            Ok(())
        })
        .await
        .unwrap();
    assert!(seen.is_empty());
});

/// A PostgreSQL server that refuses: one line, exit 75 (try again later);
/// a database that does not exist or a bad URL: one line, exit 1; the
/// password never shown.
#[test]
fn postgres_connection_errors_are_one_line_with_the_right_exit_code() {
    let p = crate::helpers::Project::new();
    let port = crate::helpers::net::free_port();
    let refused = format!("postgres://root:hunter2@127.0.0.1:{port}/x");
    let out = p.run(&["--database-url", &refused, "subscribers", "count"]);
    out.fails_with_code(75, "opening database postgres://root:***@127.0.0.1");
    assert!(!out.stderr().contains("hunter2"));
    let out = p.run(&[
        "--database-url",
        "postgres://root@[bad",
        "subscribers",
        "count",
    ]);
    out.fails_with_code(1, "not a valid PostgreSQL URL");
    let Some(db) = crate::helpers::PgDb::create() else {
        return;
    };
    let mut missing = url::Url::parse(&db.url).unwrap();
    missing.set_path("/gazette_no_such_database");
    let out = p.run(&["--database-url", missing.as_str(), "subscribers", "count"]);
    out.fails_with_code(1, "does not exist");
    // And a real one works, migrated on first use.
    p.run(&["--database-url", &db.url, "subscribers", "count"])
        .ok();
}
