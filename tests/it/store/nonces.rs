//! Store tests (both backends): webhook nonces (src/store/webhooks.rs).

use chrono::{Duration, TimeZone, Utc};
use gazette::store::webhooks::NonceUse;

use super::both;

both!(
    a_nonce_is_used_once_and_forgotten_after_the_window,
    |store| async move {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let keep = std::time::Duration::from_secs(600);
        let used = |nonce: &'static str, digest: &'static str, at| {
            let store = store.clone();
            async move {
                store
                    .use_webhook_nonce("mailgun", nonce, digest, at, keep)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(used("t1", "body-a", t0).await, NonceUse::Fresh);
        assert_eq!(
            used("t1", "body-a", t0 + Duration::seconds(5)).await,
            NonceUse::Repeat
        );
        assert_eq!(
            used("t1", "body-b", t0 + Duration::seconds(6)).await,
            NonceUse::Conflict
        );
        // Another provider's nonces are its own.
        assert_eq!(
            store
                .use_webhook_nonce("ses", "t1", "body-b", t0, keep)
                .await
                .unwrap(),
            NonceUse::Fresh
        );
        // Still remembered at the end of the window, forgotten after it.
        assert_eq!(
            used("t1", "body-b", t0 + Duration::seconds(600)).await,
            NonceUse::Conflict
        );
        assert_eq!(
            used("t2", "x", t0 + Duration::seconds(601)).await,
            NonceUse::Fresh
        );
        assert_eq!(
            used("t1", "body-b", t0 + Duration::seconds(602)).await,
            NonceUse::Fresh
        );
    }
);
