//! The application in process: the production wiring (`app::bind_web`,
//! `app::bind_admin`, `web::serve_all`) on ephemeral ports of 127.0.0.1,
//! with its own runtime, for the web, reader, API and import suites.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gazette::audience::{Status, SubscriberEmail};
use gazette::store::Store;
use gazette::{app, config, web};
use tokio::sync::Semaphore;

use super::http::decode_qp;
use super::wait::{wait_for, wait_until};

/// The longest a test waits for the application's background work.
const LIMIT: Duration = Duration::from_secs(10);

/// The routers of `settings` served on ephemeral ports by a runtime of
/// their own (dropping `rt` stops them).
pub struct Wired {
    pub addr: SocketAddr,
    /// The admin listener, when the settings have one.
    pub admin: Option<SocketAddr>,
    pub store: Store,
    /// The public router's background-work permits.
    pub jobs: Arc<Semaphore>,
    pub rt: tokio::runtime::Runtime,
}

/// Serve `settings` the way `serve` and `worker` do (the `app` wiring).
pub fn wire(settings: &config::Settings) -> Wired {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, admin, store, jobs) = rt.block_on(async {
        let store = Store::open(&settings.database_url).await.unwrap();
        let (listener, addr, state) =
            app::bind_web(settings, store.clone(), Some("127.0.0.1:0".into()))
                .await
                .unwrap();
        let admin = app::bind_admin(settings, store.clone()).await.unwrap();
        let admin_addr = admin.as_ref().map(|(l, _)| l.local_addr().unwrap());
        let jobs = state.jobs.clone();
        tokio::spawn(web::serve_all(
            listener,
            state,
            admin,
            std::future::pending(),
        ));
        (addr, admin_addr, store, jobs)
    });
    Wired {
        addr,
        admin,
        store,
        jobs,
        rt,
    }
}

pub struct App {
    pub addr: SocketAddr,
    /// The admin listener (`/metrics`).
    pub admin: Option<SocketAddr>,
    pub store: Store,
    pub outbox: PathBuf,
    pub settings: config::Settings,
    /// The background work's permits (`web::MAX_JOBS` when idle).
    jobs: Arc<Semaphore>,
    _dir: tempfile::TempDir,
    pub _rt: tokio::runtime::Runtime,
}

/// Start the real router on an ephemeral port with its own database file.
pub fn spawn_app(extra_config: &str) -> App {
    spawn_app_with(super::CONFIG, extra_config)
}

/// `spawn_app` with another `[newsletter]` section (`base`).
pub fn spawn_app_with(base: &str, extra_config: &str) -> App {
    spawn_app_full(base, extra_config, None)
}

/// `spawn_app` with `GAZETTE_ADMIN_TOKEN` set to `token` (the dashboard's
/// sign-in and the API need one).
pub fn spawn_app_with_token(extra_config: &str, token: &str) -> App {
    spawn_app_full(super::CONFIG, extra_config, Some(token))
}

/// `spawn_app_with` and a token.
pub fn spawn_app_full(base: &str, extra_config: &str, token: Option<&str>) -> App {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}\n[database]\nurl = \"sqlite://{}\"\n{extra_config}",
        base.replace("http://127.0.0.1:9", "https://news.example.com"),
        dir.path().join("gazette.db").display()
    );
    let path = dir.path().join("gazette.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut settings = config::load(&path, &Default::default(), &Default::default()).unwrap();
    // Parallel tests: the admin listener on an ephemeral port too.
    settings.web.admin_listen = Some("127.0.0.1:0".into());
    settings.web.admin_token = token.map(|t| config::AdminToken::new(t.to_string()));
    // A test's form is filled at once: its token is good at once, unless
    // the test sets the fill time itself.
    if !extra_config.contains("min_fill_time") {
        settings.web.min_fill_time = Duration::ZERO;
    }
    let Wired {
        addr,
        admin,
        store,
        jobs,
        rt,
    } = wire(&settings);
    App {
        addr,
        admin,
        store,
        outbox: settings.outbox_dir.clone(),
        settings,
        jobs,
        _dir: dir,
        _rt: rt,
    }
}

impl App {
    /// The server's sign-up key, as stored: tests mint tokens with it
    /// (an expired one, one old enough without waiting).
    pub fn signup_key(&self) -> gazette::audience::signup::SignupKey {
        let hex = self
            ._rt
            .block_on(self.store.signup_key(|| unreachable!("the app made it")))
            .unwrap();
        gazette::audience::signup::SignupKey::from_hex(&hex).unwrap()
    }

    pub fn outbox_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.outbox)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Wait for the `n`th email in the outbox and return it decoded.
    pub fn wait_for_email(&self, n: usize) -> String {
        let files = wait_for(&format!("email #{n} in the outbox"), LIMIT, || {
            Some(self.outbox_files()).filter(|f| f.len() >= n)
        });
        decode_qp(&std::fs::read_to_string(&files[n - 1]).unwrap())
    }

    /// Wait until the background work of every request answered so far
    /// (a subscription's, with its email) is done: all of the router's
    /// job permits are free again.
    pub fn settled(&self) {
        wait_until("the background work", LIMIT, || {
            self.jobs.available_permits() == web::MAX_JOBS
        });
    }

    pub fn status_of(&self, email: &str) -> Option<Status> {
        let e = SubscriberEmail::parse(email).unwrap();
        self._rt
            .block_on(self.store.get(&e))
            .unwrap()
            .map(|s| s.status)
    }

    pub fn unsub_token(&self, email: &str) -> String {
        let e = SubscriberEmail::parse(email).unwrap();
        self._rt
            .block_on(self.store.get(&e))
            .unwrap()
            .unwrap()
            .unsub_token
    }

    pub fn count(&self) -> i64 {
        self._rt
            .block_on(self.store.counts())
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum()
    }
}
