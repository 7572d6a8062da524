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
