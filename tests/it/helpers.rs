//! The one support module of the integration tests: a temporary project
//! and the real binary (`Project`, `Run`, `run_with_timeout`), PostgreSQL
//! databases of their own, and, in `helpers/`, the servers, clients and
//! fixtures the suites share. Tests import from here, never from a sibling
//! test module.

pub mod app;
pub mod bounces;
pub mod feeds;
pub mod http;
pub mod net;
pub mod procs;
pub mod readers;
pub mod sending;
pub mod server;
pub mod sites;
pub mod smtp;
pub mod smtp_script;
pub mod wait;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const CONFIG: &str = r#"
[newsletter]
title = "Test Notes"
from = "Test Notes <news@example.com>"
base_url = "https://example.com/blog"
public_url = "http://127.0.0.1:9"
postal_address = "1 Test Street, Testville"
"#;

/// A temporary Gazette project: a folder with gazette.toml and posts/.
pub struct Project {
    pub dir: tempfile::TempDir,
    /// When set, the project keeps its data in this PostgreSQL database
    /// (`GAZETTE_DATABASE_URL`) instead of the default SQLite file.
    pub db: Option<PgDb>,
}

impl Project {
    pub fn new() -> Self {
        Self::with_config(CONFIG)
    }

    pub fn with_config(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gazette.toml"), config).unwrap();
        std::fs::create_dir(dir.path().join("posts")).unwrap();
        Project { dir, db: None }
    }

    /// The same project on a PostgreSQL database of its own; `None` (the
    /// test is skipped) without a test server.
    pub fn on_postgres(mut self) -> Option<Self> {
        self.db = Some(PgDb::create()?);
        Some(self)
    }

    /// The project on `backend` ("sqlite" or "postgres"); `None` when
    /// PostgreSQL is asked for and no test server is configured.
    pub fn on(self, backend: &str) -> Option<Self> {
        match backend {
            "postgres" => self.on_postgres(),
            _ => Some(self),
        }
    }

    /// The database URL the project's commands use.
    pub fn database_url(&self) -> String {
        match &self.db {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}", self.path().join("gazette.db").display()),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Append `toml` (whole sections) to gazette.toml.
    pub fn add_config(&self, toml: &str) {
        let path = self.path().join("gazette.toml");
        let mut config = std::fs::read_to_string(&path).unwrap();
        config.push('\n');
        config.push_str(toml);
        std::fs::write(path, config).unwrap();
    }

    pub fn post(&self, name: &str, title: &str, date: &str, body: &str) {
        self.write(
            &format!("posts/{name}.md"),
            format!("+++\ntitle = \"{title}\"\ndate = {date}\n+++\n{body}"),
        );
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gazette"));
        c.current_dir(self.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("GAZETTE_") {
                c.env_remove(k);
            }
        }
        c.env("GAZETTE_NOW", "2026-11-23T12:00:00Z");
        // Tests run in parallel: no fixed admin port.
        c.env("GAZETTE_ADMIN_LISTEN", "127.0.0.1:0");
        if let Some(db) = &self.db {
            c.env("GAZETTE_DATABASE_URL", &db.url);
        }
        c
    }

    /// Start the binary in the background, output discarded.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.cmd()
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Run the binary to completion; a run longer than `RUN_TIMEOUT` is
    /// killed and fails the test (a hang must never stall the suite).
    pub fn run(&self, args: &[&str]) -> Run {
        run_with_timeout(self.cmd().args(args), RUN_TIMEOUT)
    }
}

/// The longest a single command of the binary may take in a test.
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `cmd.output()`, killed (and the test failed) after `limit`.
pub fn run_with_timeout(cmd: &mut Command, limit: std::time::Duration) -> Run {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Run(Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    })
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code(),
            0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    /// Exit 1 with one clear line and never a panic or backtrace.
    #[track_caller]
    pub fn fails_with(&self, needle: &str) -> &Self {
        self.fails_with_code(1, needle)
    }

    /// Exit 75 (EX_TEMPFAIL: try again later) with one clear line.
    #[track_caller]
    pub fn fails_later_with(&self, needle: &str) -> &Self {
        self.fails_with_code(75, needle)
    }

    #[track_caller]
    pub fn fails_with_code(&self, code: i32, needle: &str) -> &Self {
        let err = self.stderr();
        assert_eq!(
            self.code(),
            code,
            "stdout:\n{}\nstderr:\n{err}",
            self.stdout()
        );
        assert!(
            err.contains(needle),
            "expected {needle:?} in stderr:\n{err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
        self
    }
}

/// A suite whose tool or service is missing: skipped with a SKIPPED line on
/// a plain `cargo test`, a failure under GAZETTE_REQUIRE_ALL (set by
/// scripts/test.sh and CI, which install everything first).
pub fn skip_or_fail(what: &str, fix: &str) {
    assert!(
        std::env::var_os("GAZETTE_REQUIRE_ALL").is_none(),
        "{what}: {fix}"
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\nSKIPPED: {what} ({fix})\n");
}

/// `Command::output` with the suite's timeout: a hung process is killed
/// and fails the test.
pub trait OutputWithin {
    fn output_within(&mut self) -> Output;
}

impl OutputWithin for Command {
    fn output_within(&mut self) -> Output {
        run_with_timeout(self, RUN_TIMEOUT).0
    }
}

/// A PostgreSQL database of its own for one test (tests run in parallel),
/// created on the server `GAZETTE_TEST_POSTGRES_URL` names and dropped when
/// the value goes away.
pub struct PgDb {
    pub url: String,
    name: String,
    admin: String,
}

impl PgDb {
    /// A new empty database, or `None` (after a SKIPPED line; a failure
    /// under GAZETTE_REQUIRE_ALL) when no server is configured.
    pub fn create() -> Option<PgDb> {
        let Ok(admin) = std::env::var("GAZETTE_TEST_POSTGRES_URL") else {
            skip_or_fail(
                "PostgreSQL tests",
                "set GAZETTE_TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/postgres",
            );
            return None;
        };
        let name = format!("gazette_test_{}", random_suffix());
        pg_admin(&admin, &format!("CREATE DATABASE {name}"));
        let mut url = url::Url::parse(&admin).expect("GAZETTE_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(PgDb {
            url: url.to_string(),
            name,
            admin,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        pg_admin(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    hex::encode(b)
}

/// One statement on the admin database, on a runtime of its own (callers
/// may or may not be inside one), within 30 seconds.
fn pg_admin(admin: &str, sql: &str) {
    let (admin, sql) = (admin.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::{Connection, Executor};
            let go = async {
                let mut c = sqlx::PgConnection::connect(&admin).await?;
                c.execute(sqlx::AssertSqlSafe(sql.as_str())).await?;
                c.close().await
            };
            tokio::time::timeout(std::time::Duration::from_secs(30), go)
                .await
                .expect("PostgreSQL admin statement timed out")
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        })
    })
    .join()
    .unwrap();
}

/// `on_both!(name)` after `fn name(backend: &str)`: the test on SQLite and
/// on PostgreSQL, as `name::sqlite` and `name::postgres`.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name("sqlite")
            }
            #[test]
            fn postgres() {
                super::$name("postgres")
            }
        }
    };
}
pub(crate) use on_both;

/// A SQLite database `g.db` in `dir`, migrated only as far as the
/// migrations named before `upto` (e.g. "0050"): the state an older Gazette
/// left, for migration tests. Its URL and an open connection.
pub async fn sqlite_migrated_before(dir: &Path, upto: &str) -> (String, sqlx::SqliteConnection) {
    use sqlx::Connection;
    let old = dir.join("old-migrations");
    std::fs::create_dir(&old).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.as_str() < upto {
            std::fs::copy(e.path(), old.join(&name)).unwrap();
        }
    }
    let url = format!("sqlite://{}?mode=rwc", dir.join("g.db").display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&mut c)
        .await
        .unwrap();
    (url, c)
}
