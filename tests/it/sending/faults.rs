//! The fault-injection suite (issue 11): the real binary against a
//! scriptable faulty SMTP server, at least 200 recipients at concurrency 4
//! per fault. Each test bounds the command's time, checks that nothing is
//! lost, that the database's counts equal what the server received, and
//! that duplicates stay within the documented bound.

use std::time::{Duration, Instant};

use crate::helpers::{on_both, Project, Run};
use crate::smtp::{Script, SmtpServer};

#[allow(unused_imports)]
pub use crate::helpers::net::free_addr as free_port;
#[allow(unused_imports)]
pub use crate::helpers::procs::{finish_within, run_within, sigterm, spawn};
use crate::helpers::sending::watched_worker;
#[allow(unused_imports)]
pub use crate::helpers::sending::{
    all_delivered, campaign, project, project_on, sending, slow_smtp, worker, DUPLICATE_BOUND,
};
use crate::helpers::wait::wait_until;

fn send(p: &Project, url: &str, limit: Duration) -> (Run, Duration) {
    run_within(p, &["--smtp-url", url, "send", "digest", "--yes"], limit)
}

on_both!(unreachable_or_silent_server_pauses_with_75_at_any_audience_size);
fn unreachable_or_silent_server_pauses_with_75_at_any_audience_size(backend: &str) {
    let refused = format!("smtp://{}", free_port());
    let tarpit = SmtpServer::start(Script {
        tarpit: true,
        ..Default::default()
    });
    for n in [16, 50, 200, 5000] {
        let Some(p) = project_on(backend, n, "timeout = \"1s\"") else {
            return;
        };
        for (i, url) in [&refused, &tarpit.url()].into_iter().enumerate() {
            let args = [
                "--smtp-url",
                url,
                "send",
                "post",
                "first",
                "--yes",
                "--force",
            ];
            let (out, took) = run_within(&p, &args, Duration::from_secs(30));
            let id = i as i64 + 1;
            out.fails_later_with(&format!("campaign {id} paused"));
            let err = out.stderr();
            assert!(err.contains(url.trim_start_matches("smtp://")), "{err}");
            let why = if i == 0 {
                "connection refused"
            } else {
                "no greeting"
            };
            assert!(err.to_lowercase().contains(why), "{err}");
            // One timeout (1 s) for the connections, then a second at most.
            assert!(took < Duration::from_secs(8), "{n}: took {took:?}");
            eprintln!("{n} recipients, {url}: exit 75 after {took:?}");
            let c = campaign(&p, id);
            assert_eq!(c["status"], "paused", "{n}: {c}");
            assert_eq!(c["sent"].as_u64(), Some(0));
            assert_eq!(c["pending"].as_u64(), Some(n as u64));
            assert!(c["retry_at"].is_string(), "{c}");
            let show = p.run(&["campaigns", "show", &id.to_string()]);
            assert!(show.stdout().contains("next try:"), "{}", show.stdout());
            let status = p.run(&["status"]);
            assert!(
                status.stdout().contains("the worker retries at"),
                "{}",
                status.stdout()
            );
            assert!(c["last_error"]
                .as_str()
                .unwrap()
                .contains(url.trim_start_matches("smtp://")));
        }
    }
    assert!(tarpit.received().is_empty());
}

on_both!(drop_after_the_final_dot_is_resent_within_the_bound);
fn drop_after_the_final_dot_is_resent_within_the_bound(backend: &str) {
    let smtp = SmtpServer::start(Script {
        drop_after_dot_every: 25,
        ..Default::default()
    });
    let Some(p) = project_on(backend, 200, "") else {
        return;
    };
    let (out, _) = send(&p, &smtp.url(), Duration::from_secs(60));
    out.ok();
    let dups = all_delivered(&p, 1, &smtp, 200);
    // Each ambiguous delivery is sent again once: counted, resent, bounded.
    assert!((1..=10).contains(&dups), "{dups} duplicates");
}

on_both!(reply_421_mid_session_reconnects_and_loses_nothing);
fn reply_421_mid_session_reconnects_and_loses_nothing(backend: &str) {
    let smtp = SmtpServer::start(Script {
        reply_421_every: 30,
        ..Default::default()
    });
    let Some(p) = project_on(backend, 200, "") else {
        return;
    };
    let (out, _) = send(&p, &smtp.url(), Duration::from_secs(60));
    out.ok();
    assert_eq!(all_delivered(&p, 1, &smtp, 200), 0, "421 is not ambiguous");
    assert!(smtp.state.lock().unwrap().connections > 4);
}

on_both!(reply_452_is_retried_later);
fn reply_452_is_retried_later(backend: &str) {
    let smtp = SmtpServer::start(Script {
        reply_452_every: 20,
        ..Default::default()
    });
    let Some(p) = project_on(backend, 200, "") else {
        return;
    };
    let (out, _) = send(&p, &smtp.url(), Duration::from_secs(60));
    out.ok();
    assert_eq!(all_delivered(&p, 1, &smtp, 200), 0);
    let attempts = smtp.state.lock().unwrap().rcpt_attempts.clone();
    assert!(attempts.values().any(|&a| a >= 2), "some were retried");
}

on_both!(reset_in_the_middle_of_data_is_resent_once);
fn reset_in_the_middle_of_data_is_resent_once(backend: &str) {
    let smtp = SmtpServer::start(Script {
        reset_mid_data_every: 25,
        ..Default::default()
    });
    let Some(p) = project_on(backend, 200, "") else {
        return;
    };
    let (out, _) = send(&p, &smtp.url(), Duration::from_secs(60));
    out.ok();
    assert_eq!(all_delivered(&p, 1, &smtp, 200), 0, "nothing arrived twice");
}

on_both!(replies_slower_than_the_timeout_pause_then_resume_within_the_bound);
fn replies_slower_than_the_timeout_pause_then_resume_within_the_bound(backend: &str) {
    // Some slow replies: those messages are resent, the campaign finishes.
    let smtp = SmtpServer::start(Script {
        slow_every: 40,
        slow_reply: Duration::from_millis(1500),
        ..Default::default()
    });
    let Some(p) = project_on(backend, 200, "timeout = \"1s\"") else {
        return;
    };
    let (out, _) = send(&p, &smtp.url(), Duration::from_secs(60));
    out.ok();
    let dups = all_delivered(&p, 1, &smtp, 200);
    assert!((1..=5).contains(&dups), "{dups}");

    // Every reply slow: the server is as good as down. Pause in bounded
    // time, exit 75; resume once it is fast again.
    let smtp = SmtpServer::start(Script {
        slow_every: 1,
        slow_reply: Duration::from_secs(3),
        ..Default::default()
    });
    let Some(p) = project_on(backend, 200, "timeout = \"1s\"") else {
        return;
    };
    let (out, took) = send(&p, &smtp.url(), Duration::from_secs(30));
    out.fails_later_with("campaign 1 paused");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let c = campaign(&p, 1);
    assert_eq!(
        (c["status"].as_str(), c["sent"].as_u64()),
        (Some("paused"), Some(0))
    );
    // Two late replies per connection stop it; one more may be in flight.
    let late = smtp.received().len();
    assert!(late <= 12, "{late} messages before the pause");
    smtp.set(|s| s.slow_every = 0);
    let args = ["--smtp-url", &smtp.url(), "campaigns", "resume", "1"];
    run_within(&p, &args, Duration::from_secs(60)).0.ok();
    all_delivered(&p, 1, &smtp, 200);
}

on_both!(a_stalling_server_fails_nobody_even_with_one_attempt);
fn a_stalling_server_fails_nobody_even_with_one_attempt(backend: &str) {
    // Greets, then never answers: with max_attempts = 1 every recipient
    // used to be marked failed and the send reported done (exit 0).
    let smtp = SmtpServer::start(Script {
        slow_every: 1,
        slow_reply: Duration::from_secs(3),
        ..Default::default()
    });
    let Some(p) = project_on(backend, 200, "timeout = \"1s\"\nmax_attempts = 1") else {
        return;
    };
    let (out, _) = send(&p, &smtp.url(), Duration::from_secs(30));
    out.fails_later_with("campaign 1 paused");
    let c = campaign(&p, 1);
    assert_eq!(
        (c["status"].as_str(), c["failed"].as_u64()),
        (Some("paused"), Some(0))
    );
    smtp.set(|s| s.slow_every = 0);
    let args = ["--smtp-url", &smtp.url(), "campaigns", "resume", "1"];
    run_within(&p, &args, Duration::from_secs(60)).0.ok();
    all_delivered(&p, 1, &smtp, 200);
}

on_both!(worker_finishes_by_itself_when_the_server_recovers);
fn worker_finishes_by_itself_when_the_server_recovers(backend: &str) {
    let addr = free_port();
    let url = format!("smtp://{addr}");
    let Some(p) = project_on(
        backend,
        200,
        "timeout = \"1s\"\n[worker]\nunreachable_retry = \"300ms\"\npoll_interval = \"100ms\"",
    ) else {
        return;
    };
    let (out, _) = send(&p, &url, Duration::from_secs(30));
    out.fails_later_with("campaign 1 paused");
    let worker = watched_worker(&p, &url);
    // Down for a while: the worker keeps trying with backoff.
    wait_until("a third try", Duration::from_secs(30), || {
        worker.log().contains("campaign 1: retrying (try 3)")
    });
    let c = campaign(&p, 1);
    // Paused between tries, `sending` during one.
    assert!(c["status"] == "paused" || c["status"] == "sending", "{c}");
    assert_eq!(c["sent"].as_u64(), Some(0));
    let smtp = SmtpServer::serve(
        std::net::TcpListener::bind(addr).unwrap(),
        Script::default(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while campaign(&p, 1)["status"] != "done" {
        assert!(Instant::now() < deadline, "the worker never finished it");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (out, _) = worker.stop(Duration::from_secs(20));
    out.ok();
    assert_eq!(all_delivered(&p, 1, &smtp, 200), 0);
    let log = out.stderr();
    assert!(log.contains("campaign 1: retrying (try 2)"), "{log}");
    assert!(log.contains("campaign 1: retrying (try 3)"), "{log}");
}

on_both!(pause_and_cancel_stop_a_running_pass);
fn pause_and_cancel_stop_a_running_pass(backend: &str) {
    let smtp = slow_smtp(20);
    let Some(p) = project_on(backend, 400, "") else {
        return;
    };
    let send = sending(&p, &smtp, 20);
    p.run(&["campaigns", "pause", "1"]).ok();
    let paused_at = Instant::now();
    let (out, _) = finish_within(send, Duration::from_secs(10));
    // Noticed within a second (the heartbeat), then the messages in flight.
    assert!(paused_at.elapsed() < Duration::from_secs(8));
    out.fails_with("campaign 1 paused");
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "paused");
    assert_eq!(c["sent"].as_u64().unwrap() as usize, smtp.received().len());

    // The worker does not retry a campaign paused by hand; resumed by
    // hand, it runs in the worker until cancelled.
    p.add_config("[worker]\npoll_interval = \"100ms\"\n");
    let worker = watched_worker(&p, &smtp.url());
    worker.wait_passes(3);
    assert_eq!(campaign(&p, 1)["status"], "paused");
    let before = smtp.received().len();
    // Slower, so that the cancel lands mid-run even on a loaded machine.
    smtp.set(|s| s.delay = Duration::from_millis(60));
    let args = ["--smtp-url", &smtp.url(), "campaigns", "resume", "1"];
    let resume = spawn(&p, &args);
    smtp.wait_for(before + 20);
    p.run(&["campaigns", "cancel", "1"]).ok();
    let (out, _) = finish_within(resume, Duration::from_secs(10));
    out.fails_with("campaign 1 was cancelled");
    // The worker may help with the campaign (claims are a share of the
    // audience) and notices the cancel within its heartbeat, a second, as
    // the foreground run noticed the pause: wait for its run to end. A pass
    // begun after the cancel starts no new run.
    worker.wait_passes(2);
    if worker.log().contains("campaign 1: resuming") {
        wait_until("the worker's run to end", Duration::from_secs(30), || {
            worker.log().contains("campaign 1 was cancelled")
        });
    }
    let settled = smtp.received().len();
    worker.wait_passes(1);
    assert_eq!(smtp.received().len(), settled, "nothing sent after cancel");
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["sent"].as_u64().unwrap() as usize, settled);
    assert!(settled < 400);
    worker.stop(Duration::from_secs(20)).0.ok();
    assert!(smtp.per_recipient().values().all(|&c| c == 1));
}

on_both!(the_worker_takes_over_a_killed_send_and_obeys_cancel);
fn the_worker_takes_over_a_killed_send_and_obeys_cancel(backend: &str) {
    let smtp = slow_smtp(40);
    let Some(p) = project_on(backend, 400, "[worker]\npoll_interval = \"200ms\"") else {
        return;
    };
    let url = smtp.url();
    let mut send = sending(&p, &smtp, 20);
    send.kill().unwrap(); // SIGKILL: the campaign stays `sending`
    send.wait().unwrap();
    let worker = watched_worker(&p, &url);
    // The dead process's claim is taken over at once, not after the lease.
    let killed_at = smtp.received().len();
    let t = Instant::now();
    smtp.wait_for(killed_at + 20);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    p.run(&["campaigns", "cancel", "1"]).ok();
    // Its run ends (within a heartbeat) after the messages in flight.
    wait_until("the worker's run to end", Duration::from_secs(30), || {
        worker.log().contains("campaign 1 was cancelled")
    });
    let settled = smtp.received().len();
    worker.wait_passes(1);
    assert_eq!(smtp.received().len(), settled, "nothing sent after cancel");
    assert!(settled < 400 + DUPLICATE_BOUND);
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "cancelled");
    let distinct = smtp.per_recipient().len();
    assert!(distinct < 400, "cancelled too late to test anything");
    // What the killed process sent but never recorded is either sent
    // again (a duplicate) or still pending: both within the bound.
    let sent = c["sent"].as_u64().unwrap() as usize;
    assert!(
        sent <= distinct && distinct - sent <= DUPLICATE_BOUND,
        "{sent} {distinct}"
    );
    assert!(settled - distinct <= DUPLICATE_BOUND);
    let (out, _) = worker.stop(Duration::from_secs(20));
    out.ok();
    let log = out.stderr();
    assert!(log.contains("campaign 1 was cancelled"), "{log}");
    assert!(
        log.contains("campaign 1: took over the claim of process"),
        "{log}"
    );
}

/// A server offering PIPELINING (with `script`'s faults), `n` subscribers
/// (`extra` in `[smtp]`), and `gazette send digest` through it, which
/// succeeds; returns the server, the project and how long the send took.
fn pipelined_send(script: Script, n: usize, extra: &str) -> (SmtpServer, Project, Duration) {
    let smtp = SmtpServer::start(Script {
        pipelining: true,
        ..script
    });
    let p = project(n, extra);
    let (out, took) = send(&p, &smtp.url(), Duration::from_secs(60));
    out.ok();
    (smtp, p, took)
}

#[test]
fn pipelined_sessions_lose_nothing_through_421_452_rejections_and_drops() {
    // A server offering PIPELINING: MAIL FROM, RCPT TO and DATA go in one
    // write; every fault still ends as on a server without it.
    let (smtp, p, _) = pipelined_send(
        Script {
            reply_421_every: 30,
            reply_452_every: 20,
            drop_after_dot_every: 25,
            reset_mid_data_every: 35,
            ..Default::default()
        },
        200,
        "",
    );
    let dups = all_delivered(&p, 1, &smtp, 200);
    assert!(dups <= 10, "{dups} duplicates");
    let st = smtp.state.lock().unwrap();
    assert!(
        st.pipelined >= 200,
        "pipelined {} of {}",
        st.pipelined,
        st.mail_count
    );
    // Most faults hit a message whose next transaction was opened behind
    // it (its commands in the same write as the content).
    assert!(
        st.chained > 0,
        "chained {} of {}",
        st.chained,
        st.data_count
    );
    assert!(st.connections > 4);
}

#[test]
fn pipelined_sessions_open_the_next_transaction_behind_each_message() {
    // One write and one round trip per message: the next message's MAIL
    // FROM, RCPT TO and DATA ride behind the final dot of the one before.
    let (smtp, p, _) = pipelined_send(Script::default(), 300, "");
    let dups = all_delivered(&p, 1, &smtp, 300);
    assert_eq!(dups, 0);
    let st = smtp.state.lock().unwrap();
    assert!(st.connections <= 4, "{} sessions", st.connections);
    // Each session's first message goes alone, and so does one the queue
    // had not handed over yet; most are chained.
    assert!(
        st.chained >= 150,
        "chained {} of {}",
        st.chained,
        st.data_count
    );
    // Every transaction opened was used: no content without a message.
    assert_eq!(st.data_count, 300);
    assert_eq!(st.mail_count, 300);
}

#[test]
fn a_server_deaf_behind_the_dot_costs_one_timeout_and_loses_nothing() {
    // The first chained message is accepted, then the connection goes
    // silent: that message counts as sent (never again), the next goes
    // alone on a new connection, and the run stops opening ahead.
    let (smtp, p, took) = pipelined_send(
        Script {
            deaf_after_chained_dot: true,
            ..Default::default()
        },
        100,
        "timeout = \"1s\"",
    );
    let dups = all_delivered(&p, 1, &smtp, 100);
    assert_eq!(dups, 0, "a 250 read before the silence is kept");
    // One timeout per sender at most, not one per message.
    assert!(took < Duration::from_secs(15), "{took:?}");
    let st = smtp.state.lock().unwrap();
    assert!(
        st.chained <= 4,
        "chained {} after the first silence",
        st.chained
    );
}

#[test]
fn a_paced_send_opens_no_transaction_ahead() {
    // With smtp.rate each message goes at its time, commands included.
    let (smtp, p, _) = pipelined_send(Script::default(), 20, "rate = 200");
    all_delivered(&p, 1, &smtp, 20);
    assert_eq!(smtp.state.lock().unwrap().chained, 0);
}

#[test]
fn pipelined_rejections_fail_only_the_rejected_and_keep_the_rest() {
    let rejected: Vec<String> = (0..200)
        .filter(|i| i % 17 == 3)
        .map(|i| format!("user{i}@example.org"))
        .collect();
    // 12 of 200 (6 %) are rejected: above the circuit breaker's default
    // 5 % of hard bounces, which this test is not about.
    let (smtp, p, _) = pipelined_send(
        Script {
            reject: rejected.clone(),
            ..Default::default()
        },
        200,
        "[send]\nmax_bounce_rate = \"10%\"",
    );
    let per = smtp.per_recipient();
    assert_eq!(per.len(), 200 - rejected.len());
    assert!(rejected.iter().all(|r| !per.contains_key(r)));
    assert!(per.values().all(|&n| n == 1), "nothing arrived twice");
    let c = campaign(&p, 1);
    assert_eq!(c["sent"].as_u64(), Some(200 - rejected.len() as u64), "{c}");
    assert_eq!(c["failed"].as_u64(), Some(rejected.len() as u64), "{c}");
}
