//! Store tests (both backends): sign-up tokens (src/store/signups.rs).

use chrono::{Duration, TimeZone, Utc};

use super::both;

both!(
    a_signup_token_is_used_once_and_forgotten_after_it_expired,
    |store| async move {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let keep = std::time::Duration::from_secs(86400);
        let used = |nonce: &'static str, at| {
            let store = store.clone();
            async move { store.use_signup_token(nonce, at, keep).await.unwrap() }
        };
        assert!(used("n1", t0).await);
        assert!(!used("n1", t0 + Duration::seconds(1)).await);
        assert!(used("n2", t0 + Duration::seconds(2)).await);
        // Remembered for the whole day, forgotten after it.
        assert!(!used("n1", t0 + Duration::seconds(86400)).await);
        assert!(used("n3", t0 + Duration::seconds(86401)).await);
        assert!(used("n1", t0 + Duration::seconds(86402)).await);
    }
);

both!(the_signup_key_is_made_once_and_shared, |store| async move {
    let first = store.signup_key(|| "a".repeat(64)).await.unwrap();
    assert_eq!(first, "a".repeat(64));
    // Another process of the fleet reads the same key back.
    let again = store.signup_key(|| "b".repeat(64)).await.unwrap();
    assert_eq!(again, first);
});
