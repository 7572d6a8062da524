//! Send-time safety (issue 27): throttling that adapts to a server that
//! says "too fast", the circuit breaker, the canary. The real binary
//! against the scripted SMTP server (`smtp_script`) on 127.0.0.1.

use std::collections::HashMap;
use std::time::Duration;

use crate::helpers::on_both;
use crate::helpers::procs::run_within;
use crate::helpers::sending::{campaign, project, project_on};
use crate::smtp_script::{Rules, ScriptedSmtp};

/// Amazon SES at an account's rate of 50 a second: 400 recipients at the
/// default settings (4 connections, 5 attempts) all arrive, nobody fails,
/// and after the first "454 Throttling failure" few attempts are refused.
#[test]
fn a_server_that_says_too_fast_slows_the_run_down_and_nobody_fails() {
    let p = project(400, "");
    let smtp = ScriptedSmtp::start_with(Rules {
        per_second: Some(50),
        ..Default::default()
    });
    let args = ["--smtp-url", &smtp.url(), "send", "digest", "--yes"];
    let (out, took) = run_within(&p, &args, Duration::from_secs(120));
    out.ok();
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "done", "{c}");
    assert_eq!(c["sent"].as_u64(), Some(400), "{c}");
    assert_eq!(c["failed"].as_u64(), Some(0), "{c}");
    let accepted: HashMap<String, usize> =
        smtp.accepted()
            .into_iter()
            .fold(HashMap::new(), |mut m, a| {
                *m.entry(a.to).or_default() += 1;
                m
            });
    assert_eq!(accepted.len(), 400, "everyone got it");
    let attempts = smtp.attempts().len();
    let refused = smtp.throttled();
    assert!(
        refused >= 1,
        "the server never said too fast: the test tests nothing"
    );
    assert!(
        ((refused - 1) as f64) < 0.05 * attempts as f64,
        "{refused} of {attempts} attempts refused"
    );
    let rate = c["settled_rate"].as_f64().expect("settled_rate");
    assert!(rate > 0.0 && rate <= 50.0, "{c}");
    let err = out.stderr();
    assert!(err.contains("settled at"), "{err}");
    assert!(err.contains("4.7.0 Throttling failure"), "{err}");
    let show = p.run(&["campaigns", "show", "1"]).stdout();
    assert!(show.contains("settled at:"), "{show}");
    eprintln!("400 at 50/s: {took:?}, {refused} of {attempts} refused, settled at {rate} msg/s");
}

/// A server that refuses one recipient in ten with 550 5.1.1: 400
/// recipients, `[send] max_bounce_rate` at its default (5 %).
fn bouncing(n: usize) -> (crate::helpers::Project, ScriptedSmtp) {
    bouncing_on("sqlite", n).expect("SQLite is always there")
}

fn bouncing_on(backend: &str, n: usize) -> Option<(crate::helpers::Project, ScriptedSmtp)> {
    let p = project_on(backend, n, "")?;
    let replies = (0..n)
        .filter(|i| i % 10 == 3)
        .map(|i| {
            let to = format!("user{i}@example.org");
            (to, "550 5.1.1 No such user here".to_string())
        })
        .collect();
    Some((p, ScriptedSmtp::start(replies)))
}

on_both!(hard_bounces_above_the_limit_pause_the_send_until_a_forced_resume);
fn hard_bounces_above_the_limit_pause_the_send_until_a_forced_resume(backend: &str) {
    let Some((p, smtp)) = bouncing_on(backend, 400) else {
        return;
    };
    let url = smtp.url();
    let args = ["--smtp-url", &url, "send", "digest", "--yes"];
    let (out, _) = run_within(&p, &args, Duration::from_secs(60));
    out.fails_with_code(
        75,
        "campaign 1 paused by the circuit breaker: hard bounces at",
    );
    assert!(out.stderr().contains("--force"), "{}", out.stderr());
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "paused", "{c}");
    let why = c["breaker"].as_str().expect("the reason is stored");
    assert!(why.contains("above [send] max_bounce_rate 5.0%"), "{why}");
    let tried = c["sent"].as_u64().unwrap() + c["failed"].as_u64().unwrap();
    assert!(tried < 200, "stopped soon after the sample of 100: {c}");
    assert_eq!(
        smtp.attempts().len() as u64,
        tried,
        "nothing sent after the stop"
    );
    let show = p.run(&["campaigns", "show", "1"]).ok().stdout();
    assert!(
        show.contains("paused by the circuit breaker: hard bounces"),
        "{show}"
    );
    let status = p.run(&["status"]).ok().stdout();
    assert!(status.contains("paused by the circuit breaker"), "{status}");
    // The worker leaves it alone, and so does a resume without --force.
    let resume = ["--smtp-url", &url, "campaigns", "resume", "1"];
    p.run(&resume)
        .fails_with("paused by the circuit breaker")
        .fails_with("gazette campaigns resume 1 --force");
    assert_eq!(campaign(&p, 1)["status"], "paused");
    // /metrics names it.
    const TOKEN: &str = "0123456789abcdef-admin";
    {
        let s = crate::helpers::server::serve(&p, &[("GAZETTE_ADMIN_TOKEN", TOKEN)]);
        let auth = format!("Bearer {TOKEN}");
        let m = crate::http::request(s.admin, "GET", "/metrics", &[("Authorization", &auth)], b"");
        assert_eq!(m.status, 200, "{}", m.body);
        assert!(
            m.body.contains(
                "gazette_campaign_paused_by_breaker{campaign=\"1\",reason=\"hard bounces at"
            ),
            "{}",
            m.body
        );
    }
    let forced = ["--smtp-url", &url, "campaigns", "resume", "1", "--force"];
    let (out, _) = run_within(&p, &forced, Duration::from_secs(60));
    out.ok();
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "done", "{c}");
    assert_eq!(c["failed"].as_u64(), Some(40), "{c}");
    assert_eq!(c["sent"].as_u64(), Some(360), "{c}");
    assert!(c["breaker"].is_null(), "{c}");
    assert_eq!(smtp.accepted().len(), 360, "each good address once");
}

/// Under the limit nothing stops: 4 in 400 hard bounces (1 %).
#[test]
fn hard_bounces_under_the_limit_do_not_stop_the_send() {
    let p = project(400, "");
    let replies = (0..4)
        .map(|i| {
            (
                format!("user{}@example.org", i * 100),
                "550 5.1.1 No such user".into(),
            )
        })
        .collect();
    let smtp = ScriptedSmtp::start(replies);
    let args = ["--smtp-url", &smtp.url(), "send", "digest", "--yes"];
    run_within(&p, &args, Duration::from_secs(60)).0.ok();
    let c = campaign(&p, 1);
    assert_eq!(
        (c["status"].as_str(), c["sent"].as_u64()),
        (Some("done"), Some(396)),
        "{c}"
    );
}

/// The worker's sends obey the same rule: a scheduled campaign paused by
/// the breaker stays paused (the worker does not retry it).
#[test]
fn the_workers_sends_obey_the_breaker() {
    let (p, smtp) = bouncing(400);
    // Three seconds after the helpers' `GAZETTE_NOW` (each process's
    // clock starts there).
    let at = "2026-11-23T12:00:03+00:00";
    p.run(&["send", "digest", "--at", at, "--yes"]).ok();
    // Passes every 100 ms, so that a few of them take little time.
    p.add_config("[worker]\npoll_interval = \"100ms\"\n");
    let worker = crate::helpers::sending::watched_worker(&p, &smtp.url());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let c = loop {
        let c = campaign(&p, 1);
        if c["status"] == "paused" || std::time::Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Passes of the worker after the pause: it does not retry.
    worker.wait_passes(3);
    let later = campaign(&p, 1);
    drop(worker);
    assert_eq!(c["status"], "paused", "{c}");
    assert!(
        c["breaker"]
            .as_str()
            .is_some_and(|w| w.contains("hard bounces")),
        "{c}"
    );
    assert_eq!(
        later["status"], "paused",
        "the worker left it paused: {later}"
    );
    assert_eq!(later["sent"], c["sent"], "{later}");
}

/// 200 recipients, one in two refused with 550 5.1.1 (a list imported
/// with a bad column), a canary waiting `canary_wait` = 1 s.
fn half_bouncing(extra: &str) -> (crate::helpers::Project, ScriptedSmtp) {
    half_bouncing_on("sqlite", extra).expect("SQLite is always there")
}

fn half_bouncing_on(backend: &str, extra: &str) -> Option<(crate::helpers::Project, ScriptedSmtp)> {
    let p = project_on(
        backend,
        200,
        &format!("[send]\ncanary_wait = \"1s\"\n{extra}"),
    )?;
    let replies = (0..200)
        .filter(|i| i % 2 == 1)
        .map(|i| {
            (
                format!("user{i}@example.org"),
                "550 5.1.1 No such user".to_string(),
            )
        })
        .collect();
    Some((p, ScriptedSmtp::start(replies)))
}

on_both!(a_canary_that_bounces_pauses_before_the_rest_and_a_forced_resume_completes_it);
fn a_canary_that_bounces_pauses_before_the_rest_and_a_forced_resume_completes_it(backend: &str) {
    let Some((p, smtp)) = half_bouncing_on(backend, "") else {
        return;
    };
    let url = smtp.url();
    let args = [
        "--smtp-url",
        &url,
        "send",
        "digest",
        "--yes",
        "--canary",
        "20",
    ];
    let (out, _) = run_within(&p, &args, Duration::from_secs(60));
    out.fails_with_code(75, "paused by the circuit breaker: canary: hard bounces at");
    assert_eq!(smtp.attempts().len(), 20, "only the canary was tried");
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "paused", "{c}");
    assert_eq!(c["canary"]["size"].as_i64(), Some(20), "{c}");
    assert_eq!(c["canary"]["held"].as_i64(), Some(180), "{c}");
    assert_eq!(c["pending"].as_i64(), Some(180), "{c}");
    assert!(
        c["breaker"].as_str().unwrap().starts_with("canary: "),
        "{c}"
    );
    // The worker does not take it up; a plain resume is refused.
    p.run(&["--smtp-url", &url, "campaigns", "resume", "1"])
        .fails_with("--force");
    assert_eq!(smtp.attempts().len(), 20);
    let forced = ["--smtp-url", &url, "campaigns", "resume", "1", "--force"];
    run_within(&p, &forced, Duration::from_secs(60)).0.ok();
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "done", "{c}");
    assert_eq!(
        (c["sent"].as_i64(), c["failed"].as_i64()),
        (Some(100), Some(100)),
        "{c}"
    );
    assert_eq!(c["canary"]["held"].as_i64(), Some(0), "{c}");
    assert_eq!(smtp.attempts().len(), 200, "each address tried once");
}

#[test]
fn a_clean_canary_waits_then_sends_the_rest_and_a_small_audience_has_none() {
    let p = project(200, "[send]\ncanary_wait = \"2s\"\n");
    let smtp = ScriptedSmtp::start(HashMap::new());
    let url = smtp.url();
    let args = [
        "--smtp-url",
        &url,
        "send",
        "digest",
        "--yes",
        "--canary",
        "20",
    ];
    let (out, took) = run_within(&p, &args, Duration::from_secs(60));
    out.ok();
    assert!(
        took >= Duration::from_secs(2),
        "waited canary_wait: {took:?}"
    );
    let err = out.stderr();
    assert!(
        err.contains("canary: 20 of 200 recipients chosen at random first"),
        "{err}"
    );
    assert!(
        err.contains("canary of 20 passed the limits; sending the other 180"),
        "{err}"
    );
    let c = campaign(&p, 1);
    assert_eq!(
        (c["status"].as_str(), c["sent"].as_i64()),
        (Some("done"), Some(200)),
        "{c}"
    );
    assert_eq!(smtp.accepted().len(), 200);
    // 200 is less than ten times a canary of 21: no canary.
    p.post("second", "Second", "2026-11-21", "Again.\n");
    let args = [
        "--smtp-url",
        &url,
        "send",
        "post",
        "second",
        "--yes",
        "--canary",
        "21",
    ];
    let (out, took) = run_within(&p, &args, Duration::from_secs(60));
    out.ok();
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(campaign(&p, 2)["canary"]["size"].is_null());
}

/// The worker's sends have the canary of `[send] canary` too.
#[test]
fn the_workers_sends_have_the_canary() {
    let (p, smtp) = half_bouncing("canary = 20\n");
    p.run(&[
        "send",
        "digest",
        "--at",
        "2026-11-23T12:00:03+00:00",
        "--yes",
    ])
    .ok();
    // Passes every 100 ms, so that a few of them take little time.
    p.add_config("[worker]\npoll_interval = \"100ms\"\n");
    let worker = crate::helpers::sending::watched_worker(&p, &smtp.url());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let c = loop {
        let c = campaign(&p, 1);
        if c["status"] == "paused" || std::time::Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    worker.wait_passes(3);
    drop(worker);
    assert_eq!(c["status"], "paused", "{c}");
    assert!(
        c["breaker"].as_str().unwrap().starts_with("canary: "),
        "{c}"
    );
    assert_eq!(smtp.attempts().len(), 20, "only the canary was tried");
}

/// An abuse report (ARF) from `to` about the message `data` it received.
fn complaint(to: &str, data: &str) -> String {
    format!(
        "From: <fbl@isp.example>\r\nTo: <abuse@example.org>\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"b-arf\"\r\n\r\n\
         --b-arf\r\nContent-Type: text/plain\r\n\r\nAn abuse report.\r\n\
         --b-arf\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\
         Original-Rcpt-To: <{to}>\r\n\r\n\
         --b-arf\r\nContent-Type: message/rfc822\r\n\r\n{data}\r\n--b-arf--\r\n"
    )
}

/// Three readers of a campaign of 2,000 complain while it runs (0.1 % of
/// the whole audience would be two): it pauses long before the end.
#[test]
fn a_complaint_spike_pauses_a_campaign_of_2000() {
    let p = project(2000, "rate = 200");
    let smtp = ScriptedSmtp::start(HashMap::new());
    let url = smtp.url();
    let send = crate::helpers::procs::spawn(&p, &["--smtp-url", &url, "send", "digest", "--yes"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while smtp.accepted().len() < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "the send did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let files: Vec<String> = smtp.accepted()[..3]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let file = format!("arf-{i}.eml");
            p.write(&file, complaint(&a.to, &a.data));
            file
        })
        .collect();
    let mut args = vec!["bounces", "process"];
    args.extend(files.iter().map(String::as_str));
    let processed = p.run(&args);
    processed.ok();
    let (out, _) = crate::helpers::procs::finish_within(send, Duration::from_secs(30));
    out.fails_with_code(75, "paused by the circuit breaker: complaints at");
    let c = campaign(&p, 1);
    assert_eq!(c["status"], "paused", "{c}");
    assert!(c["sent"].as_u64().unwrap() < 1000, "{c}");
    assert_eq!(c["bounces"]["complaints"].as_u64(), Some(3), "{c}");
    let why = c["breaker"].as_str().unwrap();
    assert!(
        why.contains("above [send] max_complaint_rate 0.10%"),
        "{why}"
    );
}

// `send --dry-run` says what changed since the last campaign that
// reached the audience, and warns of a growth above `growth_warning`.
on_both!(a_dry_run_shows_what_changed_since_the_last_campaign);
fn a_dry_run_shows_what_changed_since_the_last_campaign(backend: &str) {
    let Some(p) = project_on(backend, 100, "") else {
        return;
    };
    let smtp = ScriptedSmtp::start(HashMap::new());
    let url = smtp.url();
    let first = p.run(&["--smtp-url", &url, "send", "post", "first", "--yes"]);
    first.ok();
    let out = p.run(&["send", "post", "first", "--dry-run"]).ok().stdout();
    assert!(out.contains("readers added:   none"), "{out}");
    assert!(out.contains("subject: unchanged"), "{out}");
    assert!(out.contains("recipients: 100 (was 100, +0%)"), "{out}");
    assert!(!out.contains("warning"), "{out}");
    // After it (times to the microsecond, no clock to wait for): 30
    // imported, one unsubscribed, a template written.
    let csv: String = (0..30).map(|i| format!("new{i}@example.net\n")).collect();
    p.write("more.csv", format!("email\n{csv}"));
    p.run(&["subscribers", "import", "more.csv", "--confirmed"])
        .ok();
    p.run(&["subscribers", "unsubscribe", "user7@example.org"])
        .ok();
    let post_txt = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email/post.txt");
    let edited = std::fs::read_to_string(post_txt).unwrap() + "\n";
    p.write("templates/email/post.txt", edited);
    p.post("second", "Second", "2026-11-21", "Again.\n");
    let out = p
        .run(&["send", "post", "second", "--dry-run"])
        .ok()
        .stdout();
    assert!(out.contains("since campaign 1 (started "), "{out}");
    assert!(out.contains("readers added:   30 (import)"), "{out}");
    assert!(
        out.contains("readers removed: 1 unsubscribed (import)"),
        "{out}"
    );
    assert!(out.contains("templates changed: email/post.txt"), "{out}");
    assert!(out.contains("(was \"Test Notes: First\")"), "{out}");
    assert!(out.contains("recipients: 129 (was 100, +29%)"), "{out}");
    assert!(
        out.contains("warning: the audience grew by 29% since campaign 1"),
        "{out}"
    );
    assert_eq!(smtp.accepted().len(), 100, "a dry run sends nothing");
}

#[test]
fn a_bad_limit_is_one_line_naming_the_file_line_and_key() {
    for (section, key, value) in [
        ("send", "max_bounce_rate", "\"five\""),
        ("send", "max_complaint_rate", "\"150%\""),
        ("send", "canary_wait", "\"soon\""),
        ("bounces", "blocked_alert", "\"5\""),
    ] {
        let config = format!("{}\n[{section}]\n{key} = {value}\n", crate::helpers::CONFIG);
        let p = crate::helpers::Project::with_config(&config);
        let out = p.run(&["posts", "list"]);
        out.fails_with(&format!("gazette.toml:10: {section}.{key}: "));
        assert_eq!(out.stderr().trim().lines().count(), 1, "{}", out.stderr());
    }
}
