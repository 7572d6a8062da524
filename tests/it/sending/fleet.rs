//! Several workers sharing one database (issue 16): the real binary, three
//! `gazette worker` processes on one campaign with one killed mid-way, and
//! two workers racing for one digest period. Each test runs on SQLite and
//! on PostgreSQL (`NAME::sqlite`, `NAME::postgres`).

use std::process::Child;
use std::time::{Duration, Instant};

use crate::helpers::procs::{finish_within, sigterm};
use crate::helpers::sending::{project_on, watched_worker, worker, DUPLICATE_BOUND};
use crate::helpers::{on_both, OutputWithin, Project};
use crate::smtp::{Script, SmtpServer};

fn campaigns(p: &Project) -> Vec<serde_json::Value> {
    let out = p.run(&["campaigns", "list", "--json"]).ok().stdout();
    serde_json::from_str(&out).unwrap()
}

/// Wait (at most `limit`) until campaign `id` is done; its JSON.
#[track_caller]
fn wait_done(p: &Project, id: i64, limit: Duration) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let c = campaigns(p).into_iter().find(|c| c["id"] == id);
        if let Some(c) = c.filter(|c| c["status"] == "done") {
            return c;
        }
        assert!(Instant::now() < deadline, "campaign {id} not done in time");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The last "campaign 1: N sent" a worker logged.
fn sent_by(log: &str) -> usize {
    log.lines()
        .filter_map(|l| l.split("campaign 1: ").nth(1))
        .filter_map(|rest| rest.split(" sent").next()?.trim().parse().ok())
        .next_back()
        .unwrap_or(0)
}

on_both!(three_workers_share_one_campaign_and_survive_a_kill);
fn three_workers_share_one_campaign_and_survive_a_kill(backend: &str) {
    const N: usize = 20_000;
    let extra = "[worker]\npoll_interval = \"200ms\"";
    let Some(p) = project_on(backend, N, extra) else {
        return;
    };
    let smtp = SmtpServer::start(Script::default());
    // Scheduled by a CLI pinned a day earlier, for a time already past for
    // the workers' clock (the helper's `GAZETTE_NOW`, 2026-11-23 12:00):
    // all three see it at once and share it.
    let out = p
        .cmd()
        .env("GAZETTE_NOW", "2026-11-22T12:00:00Z")
        .args(["send", "post", "first", "--at", "2026-11-23 09:00", "--yes"])
        .output_within();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut workers: Vec<Child> = (0..3).map(|_| worker(&p, &smtp.url())).collect();
    smtp.wait_for(N / 4);
    let mut killed = workers.remove(0);
    killed.kill().unwrap(); // SIGKILL, mid-campaign
    killed.wait().unwrap();
    let c = wait_done(&p, 1, Duration::from_secs(240));
    let received = smtp.count();
    let per = smtp.per_recipient();
    assert_eq!(per.len(), N, "every recipient got the message");
    assert_eq!(c["sent"].as_u64(), Some(N as u64), "{c}");
    assert_eq!(
        (c["failed"].as_u64(), c["pending"].as_u64()),
        (Some(0), Some(0))
    );
    let mut logs = Vec::new();
    for w in workers {
        sigterm(&w);
        let (out, _) = finish_within(w, Duration::from_secs(30));
        logs.push(out.ok().stderr());
    }
    // Only the killed process's unrecorded messages can go out twice, and
    // those of a survivor that stalled past its leases on this loaded
    // machine (it says so and stops): the bound holds per interruption.
    let lapsed = logs
        .iter()
        .filter(|l| l.contains("could not renew its leases"))
        .count();
    assert!(
        received - N <= DUPLICATE_BOUND * (1 + lapsed),
        "{} duplicates, {lapsed} lapsed",
        received - N
    );
    let shares: Vec<usize> = logs.iter().map(|l| sent_by(l)).collect();
    assert!(
        shares.iter().all(|&n| n > 0),
        "both survivors sent: {shares:?}\n{logs:?}"
    );
    // A survivor that waited while the other emptied the queue says the
    // campaign is done, not paused.
    assert!(
        logs.iter().all(|l| !l.contains("campaign 1 paused")),
        "{logs:?}"
    );
}

on_both!(two_workers_send_one_digest_per_period);
fn two_workers_send_one_digest_per_period(backend: &str) {
    let extra = "[worker]\npoll_interval = \"100ms\"\n[digest]\nschedule = \"0 9 * * MON\"\nfirst_window_days = 30";
    let Some(p) = project_on(backend, 50, extra) else {
        return;
    };
    // The workers' first start was a week ago: the period of Monday
    // 2026-11-23 09:00 (the pinned now is 12:00 that day) is due, once.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = gazette::store::Store::open(&p.database_url())
            .await
            .unwrap();
        store
            .state_init("digest_baseline", "2026-11-16T00:00:00.000000Z")
            .await
            .unwrap();
        store.close().await;
    });
    let smtp = SmtpServer::start(Script {
        delay: Duration::from_millis(5),
        ..Default::default()
    });
    let a = watched_worker(&p, &smtp.url());
    let b = watched_worker(&p, &smtp.url());
    let c = wait_done(&p, 1, Duration::from_secs(60));
    assert_eq!(c["kind"], "digest");
    // Several more polls of both workers: nothing else starts.
    a.wait_passes(3);
    b.wait_passes(3);
    let all = campaigns(&p);
    assert_eq!(all.len(), 1, "one digest for the period: {all:?}");
    let per = smtp.per_recipient();
    assert_eq!(per.len(), 50);
    assert!(per.values().all(|&n| n == 1), "nobody got it twice");
    for w in [a, b] {
        w.stop(Duration::from_secs(30)).0.ok();
    }
}

// Issue 24, item 7: a claim took 500 deliveries whatever the audience, so
// a second worker helped only with campaigns above 500 recipients. The
// lease is now sized to the audience and the live workers: two workers
// share a campaign of 100.
on_both!(two_workers_share_a_campaign_of_a_hundred);
fn two_workers_share_a_campaign_of_a_hundred(backend: &str) {
    const N: usize = 100;
    let extra = "[worker]\npoll_interval = \"100ms\"";
    let Some(p) = project_on(backend, N, extra) else {
        return;
    };
    // 50 ms a message: one worker alone would need over a second.
    let smtp = SmtpServer::start(Script {
        delay: Duration::from_millis(50),
        ..Default::default()
    });
    let out = p
        .cmd()
        .env("GAZETTE_NOW", "2026-11-22T12:00:00Z")
        .args(["send", "post", "first", "--at", "2026-11-23 09:00", "--yes"])
        .output_within();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let workers: Vec<Child> = (0..2).map(|_| worker(&p, &smtp.url())).collect();
    let c = wait_done(&p, 1, Duration::from_secs(60));
    assert_eq!(c["sent"].as_u64(), Some(N as u64), "{c}");
    let mut logs = Vec::new();
    for w in workers {
        sigterm(&w);
        let (out, _) = finish_within(w, Duration::from_secs(30));
        logs.push(out.ok().stderr());
    }
    let shares: Vec<usize> = logs.iter().map(|l| sent_by(l)).collect();
    assert!(
        shares.iter().all(|&n| n > 0),
        "both workers sent: {shares:?}\n{logs:?}"
    );
    assert_eq!(shares.iter().sum::<usize>(), N, "{shares:?}");
    let per = smtp.per_recipient();
    assert_eq!(per.len(), N);
    assert!(per.values().all(|&n| n == 1), "nobody got it twice");
}
