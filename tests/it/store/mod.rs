//! The store's suite, run against both backends: every test here exists
//! twice, as `NAME::sqlite` (a real SQLite file) and `NAME::postgres` (a
//! database of its own on the server `GAZETTE_TEST_POSTGRES_URL` names;
//! skipped with a SKIPPED line without it, never under scripts/test.sh),
//! so that the two backends cannot drift apart.

use std::future::Future;
use std::time::Duration;

use gazette::store::Store;

use crate::helpers::PgDb;

mod basics;
mod claims;
mod idn;
mod locks;
mod nonces;
mod queue;
mod readers;
mod records;
mod signups;
mod stats;
mod subscribers;

/// A fresh, migrated store on `backend`, and what keeps it alive.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDb>,
}

impl TestStore {
    pub async fn new(backend: &str) -> Option<TestStore> {
        let (url, dir, pg) = match backend {
            "postgres" => {
                let pg = PgDb::create()?;
                (pg.url.clone(), None, Some(pg))
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("gazette.db").display());
                (url, Some(dir), None)
            }
        };
        let store = Store::open(&url).await.expect("opening the test store");
        Some(TestStore {
            store,
            url,
            _dir: dir,
            _pg: pg,
        })
    }
}

/// Run `test` against a fresh store on `backend`, failing after a minute.
pub async fn on<F, Fut>(backend: &str, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(t) = TestStore::new(backend).await else {
        return;
    };
    let store = t.store.clone();
    tokio::time::timeout(Duration::from_secs(60), test(store))
        .await
        .expect("store test timed out");
    t.store.close().await;
}

/// `both!(name, |store| async move { ... })`: the test on SQLite and on
/// PostgreSQL, as `name::sqlite` and `name::postgres`.
macro_rules! both {
    ($name:ident, $test:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::store::on("sqlite", $test).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::store::on("postgres", $test).await
            }
        }
    };
}
pub(crate) use both;

/// Merge `rows` into an import the way `subscribers import` does: batches
/// of `IMPORT_BATCH` sent over a channel to `Import::merge_from`.
pub async fn merge(
    import: &mut gazette::store::Import,
    rows: &[gazette::store::ImportRow],
    now: chrono::DateTime<chrono::Utc>,
) -> gazette::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let batches: Vec<Vec<gazette::store::ImportRow>> = rows
        .chunks(gazette::store::IMPORT_BATCH)
        .map(<[gazette::store::ImportRow]>::to_vec)
        .collect();
    let send = async move {
        for batch in batches {
            // The receiver is gone only when the merge failed: its error says why.
            let _ = tx.send(batch).await;
        }
    };
    let (_, merged) = tokio::join!(send, import.merge_from(&mut rx, now));
    merged
}
