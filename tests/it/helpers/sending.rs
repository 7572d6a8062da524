//! The sending fixture of the fault, crash and fleet suites: a project
//! with `n` confirmed subscribers at concurrency 4, sends through the test
//! SMTP server, and the checks that nothing was lost.

use std::collections::HashMap;
use std::process::Child;
use std::time::Duration;

use super::procs::{spawn, Watched};
use super::smtp::{Script, SmtpServer};
use super::Project;

/// `concurrency + OUTCOME_CHANNEL + OUTCOME_BATCH` at concurrency 4 (README).
pub const DUPLICATE_BOUND: usize = gazette::delivery::queue::duplicate_bound(4);

pub fn project(n: usize, extra: &str) -> Project {
    project_on("sqlite", n, extra).expect("SQLite is always there")
}

/// `project` on `backend` ("sqlite" or "postgres"); `None` (skipped) when
/// PostgreSQL is asked for and no test server is configured.
pub fn project_on(backend: &str, n: usize, extra: &str) -> Option<Project> {
    let p = Project::with_config(&format!(
        "{}\n[smtp]\nconcurrency = 4\nretry_delay = \"100ms\"\n{extra}\n",
        crate::helpers::CONFIG
    ))
    .on(backend)?;
    p.post("first", "First", "2026-11-20", "Hello.\n");
    let mut csv = String::with_capacity(n * 30);
    csv.push_str("email\n");
    for i in 0..n {
        csv.push_str(&format!("user{i}@example.org\n"));
    }
    p.write("list.csv", csv);
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    Some(p)
}

/// `gazette worker` in the background, sending through `url`.
pub fn worker(p: &Project, url: &str) -> Child {
    spawn(p, &["--smtp-url", url, "worker", "--listen", "127.0.0.1:0"])
}

/// `worker`, its passes counted (`Watched`).
pub fn watched_worker(p: &Project, url: &str) -> Watched {
    Watched::spawn(p, &["--smtp-url", url, "worker", "--listen", "127.0.0.1:0"])
}

/// A server that takes `ms` milliseconds per message.
pub fn slow_smtp(ms: u64) -> SmtpServer {
    SmtpServer::start(Script {
        delay: Duration::from_millis(ms),
        ..Default::default()
    })
}

/// `gazette send digest --yes` in the background, once `first` messages
/// have arrived.
pub fn sending(p: &Project, smtp: &SmtpServer, first: usize) -> Child {
    let child = spawn(p, &["--smtp-url", &smtp.url(), "send", "digest", "--yes"]);
    smtp.wait_for(first);
    child
}

pub fn campaign(p: &Project, id: i64) -> serde_json::Value {
    let out = p.run(&["campaigns", "show", &id.to_string(), "--json"]);
    out.ok();
    serde_json::from_str(&out.stdout()).unwrap()
}

/// Everyone got the campaign; the database counts what arrived; returns
/// the number of duplicates.
#[track_caller]
pub fn all_delivered(p: &Project, id: i64, smtp: &SmtpServer, n: usize) -> usize {
    let per: HashMap<String, usize> = smtp.per_recipient();
    for i in 0..n {
        assert!(
            per.contains_key(&format!("user{i}@example.org")),
            "user{i} never received it"
        );
    }
    assert_eq!(per.len(), n, "messages to addresses nobody asked for");
    let c = campaign(p, id);
    assert_eq!(c["status"], "done", "{c}");
    assert_eq!(c["sent"].as_u64(), Some(n as u64), "{c}");
    assert_eq!(c["pending"].as_u64(), Some(0), "{c}");
    let dups = smtp.received().len() - n;
    assert!(dups <= DUPLICATE_BOUND, "{dups} duplicates");
    dups
}
