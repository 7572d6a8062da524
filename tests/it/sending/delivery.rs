//! Campaigns through the real binary against an in-process SMTP server.

use std::time::{Duration, Instant};

use crate::helpers::Project;
use crate::http::decode_qp;
use crate::smtp::{Script, SmtpServer};

fn project_with(n: usize, smtp_extra: &str) -> Project {
    let p = Project::with_config(&format!(
        "{}\n[smtp]\nretry_delay = \"100ms\"\n{smtp_extra}\n",
        crate::helpers::CONFIG.replace("http://127.0.0.1:9", "https://news.example.com")
    ));
    p.post(
        "2026-11-20-first",
        "First post",
        "2026-11-20",
        "Hello [there](there/).\n",
    );
    p.write(
        "posts/second.md",
        "---\ntitle: Second\ndate: 2026-11-22\nsummary: Two.\n---\nBody two.\n",
    );
    let mut csv = String::from("email,name\n");
    for i in 0..n {
        csv.push_str(&format!("user{i}@example.org,User {i}\n"));
    }
    p.write("list.csv", csv);
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    p
}

fn campaign(p: &Project, id: i64) -> serde_json::Value {
    let out = p.run(&["campaigns", "show", &id.to_string(), "--json"]);
    out.ok();
    serde_json::from_str(&out.stdout()).unwrap()
}

fn subscribers(p: &Project) -> Vec<serde_json::Value> {
    let out = p.run(&["subscribers", "list", "--json"]);
    serde_json::from_str::<serde_json::Value>(&out.stdout())
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn unfolded_headers(data: &str) -> String {
    data.split("\r\n\r\n").next().unwrap().replace("\r\n ", " ")
}

#[test]
fn digest_reaches_every_active_subscriber_with_list_headers() {
    let smtp = SmtpServer::start(Script::default());
    let p = project_with(5, "");
    p.run(&["subscribers", "unsubscribe", "user4@example.org"])
        .ok();
    let out = p.run(&["--smtp-url", &smtp.url(), "send", "digest", "--yes"]);
    out.ok();
    let got = smtp.received();
    assert_eq!(got.len(), 4, "{}", out.stderr());
    let per = smtp.per_recipient();
    for i in 0..4 {
        assert_eq!(per.get(&format!("user{i}@example.org")), Some(&1));
    }
    assert!(!per.contains_key("user4@example.org"));
    let c = campaign(&p, 1);
    assert_eq!(
        (
            c["status"].as_str(),
            c["sent"].as_i64(),
            c["pending"].as_i64(),
            c["kind"].as_str()
        ),
        (Some("done"), Some(4), Some(0), Some("digest"))
    );
    for key in [
        "id",
        "kind",
        "subject",
        "status",
        "total",
        "sent",
        "failed",
        "pending",
        "created_at",
    ] {
        assert!(c.get(key).is_some(), "{key}");
    }

    let m = got.iter().find(|m| m.to == ["user0@example.org"]).unwrap();
    assert_eq!(m.from, "news@example.com");
    let h = unfolded_headers(&m.data);
    for needle in [
        "From: \"Test Notes\" <news@example.com>",
        "To: \"User 0\" <user0@example.org>",
        "Subject: Test Notes: 2 new posts",
        "MIME-Version: 1.0",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "List-Id: Test Notes <test-notes.example.com>",
        "Precedence: bulk",
        "Content-Type: multipart/alternative",
    ] {
        assert!(h.contains(needle), "missing {needle:?} in\n{h}");
    }
    assert!(h.contains("Date: "));
    let mid = h.lines().find(|l| l.starts_with("Message-ID: <")).unwrap();
    assert!(mid.ends_with("@example.com>"), "{mid}");
    // The personal unsubscribe link works against the token of this subscriber.
    let unsub = h
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe: "))
        .unwrap();
    let token = unsub
        .trim_start_matches("List-Unsubscribe: <https://news.example.com/unsubscribe/")
        .trim_end_matches('>');
    assert!(token.contains('.') && token.len() > 32, "{unsub}");
    let body = decode_qp(&m.data);
    assert!(
        body.contains(&format!("https://news.example.com/unsubscribe/{token}")),
        "footer link"
    );
    assert!(body.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(body.contains("Content-Type: text/html; charset=utf-8"));
    assert!(body.contains("user0@example.org"));
    // Newest first, "Read more" links.
    let second = body
        .find("Read more: https://example.com/blog/second/")
        .unwrap();
    let first = body
        .find("Read more: https://example.com/blog/first/")
        .unwrap();
    assert!(second < first);

    // The same digest is not sent again.
    let again = p.run(&["--smtp-url", &smtp.url(), "send", "digest", "--yes"]);
    again.ok();
    assert!(
        again.stdout().contains("no digest sent"),
        "{}",
        again.stdout()
    );
    assert_eq!(smtp.received().len(), 4);
    // Preview shows what the next digest would carry: only newer posts.
    let preview = p.run(&["preview", "digest", "--format", "text"]);
    preview.ok();
    assert!(preview.stdout().is_empty() && preview.stderr().contains("nothing to preview"));
    p.post("third", "Third", "2026-11-23", "Three.");
    let preview = p.run(&["preview", "digest", "--format", "text"]);
    preview.ok();
    assert!(
        preview.stdout().contains("1 new post"),
        "{}",
        preview.stdout()
    );
    assert!(preview.stdout().contains("Third") && !preview.stdout().contains("Second"));
}

#[test]
fn message_equals_preview_but_for_recipient_fields() {
    let smtp = SmtpServer::start(Script::default());
    let p = project_with(1, "");
    p.run(&["--smtp-url", &smtp.url(), "send", "post", "first", "--yes"])
        .ok();
    let sent = decode_qp(&smtp.received()[0].data);
    let preview = decode_qp(
        &p.run(&["preview", "post", "first", "--format", "eml"])
            .stdout(),
    );
    let text_of = |eml: &str| {
        let start = eml.find("Content-Type: text/plain").unwrap();
        let rest = &eml[start..];
        let body_start = rest.find("\r\n\r\n").unwrap() + 4;
        let end = rest.find("\r\n--").unwrap();
        rest[body_start..end].to_string()
    };
    let token_url = |s: &str| {
        let i = s.find("https://news.example.com/unsubscribe/").unwrap();
        let end = s[i..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '"')
            .unwrap();
        s[i..i + end].to_string()
    };
    let sent_text = text_of(&sent);
    let preview_text = text_of(&preview)
        .replace("reader@example.com", "user0@example.org")
        .replace(&token_url(&preview), &token_url(&sent));
    assert_eq!(sent_text, preview_text);
}

#[test]
fn temporary_failures_are_retried_and_permanent_ones_are_not() {
    let mut script = Script::default();
    script.temp_fail.insert("user1@example.org".into(), 2);
    script.reject.push("user2@example.org".into());
    let smtp = SmtpServer::start(script);
    let p = project_with(4, "");
    let out = p.run(&["--smtp-url", &smtp.url(), "send", "post", "first", "--yes"]);
    out.ok();
    let per = smtp.per_recipient();
    assert_eq!(
        per.get("user1@example.org"),
        Some(&1),
        "451 retried, then delivered"
    );
    assert_eq!(per.get("user2@example.org"), None);
    let attempts = smtp.state.lock().unwrap().rcpt_attempts.clone();
    assert_eq!(attempts["user1@example.org"], 3);
    assert_eq!(attempts["user2@example.org"], 1, "a 5xx is never retried");
    let c = campaign(&p, 1);
    assert_eq!(
        (
            c["sent"].as_i64(),
            c["failed"].as_i64(),
            c["status"].as_str()
        ),
        (Some(3), Some(1), Some("done"))
    );
}

#[test]
fn dropped_connections_are_resumed_and_nothing_is_lost() {
    let script = Script {
        drop_at: vec![3, 7],
        ..Default::default()
    };
    let smtp = SmtpServer::start(script);
    let p = project_with(10, "concurrency = 2");
    p.run(&["--smtp-url", &smtp.url(), "send", "digest", "--yes"])
        .ok();
    let per = smtp.per_recipient();
    for i in 0..10 {
        assert_eq!(
            per.get(&format!("user{i}@example.org")),
            Some(&1),
            "user{i}"
        );
    }
    assert!(smtp.state.lock().unwrap().connections >= 3);
    assert_eq!(campaign(&p, 1)["sent"].as_i64(), Some(10));
}

#[test]
fn unreachable_server_pauses_and_marks_nothing_sent() {
    // A port with nobody listening (bound, then closed).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let p = project_with(3, "");
    let url = format!("smtp://{addr}");
    let out = p.run(&["--smtp-url", &url, "send", "digest", "--yes"]);
    // Issue 11: exit code 75 (EX_TEMPFAIL), naming the server and the error.
    out.fails_later_with("campaign 1 paused");
    assert!(out.stderr().contains("unreachable"), "{}", out.stderr());
    assert!(out.stderr().contains(&url), "{}", out.stderr());
    let c = campaign(&p, 1);
    assert_eq!(
        (
            c["status"].as_str(),
            c["sent"].as_i64(),
            c["pending"].as_i64()
        ),
        (Some("paused"), Some(0), Some(3))
    );
    // Once the server is back, resume finishes it.
    let listener = std::net::TcpListener::bind(addr).unwrap();
    let smtp = SmtpServer::serve(listener, Script::default());
    p.run(&["--smtp-url", &url, "campaigns", "resume", "1"])
        .ok();
    assert_eq!(smtp.received().len(), 3);
    assert_eq!(campaign(&p, 1)["status"], "done");
}

#[test]
fn killed_campaign_resumes_with_nobody_skipped() {
    let smtp = SmtpServer::start(Script {
        delay: Duration::from_millis(5),
        ..Default::default()
    });
    let n = 400;
    let p = project_with(n, "");
    let mut child = p.spawn(&["--smtp-url", &smtp.url(), "send", "digest", "--yes"]);
    smtp.wait_for(n / 3);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = smtp.received().len();
    assert!(before < n, "killed too late to test anything");
    // Issue 11: the claim of a dead process on this host is taken over at
    // once, so resume works on the first try.
    let started = Instant::now();
    p.run(&["--smtp-url", &smtp.url(), "campaigns", "resume", "1"])
        .ok();
    assert!(started.elapsed() < Duration::from_secs(20));
    let per = smtp.per_recipient();
    for i in 0..n {
        assert!(
            per.get(&format!("user{i}@example.org"))
                .is_some_and(|&c| c >= 1),
            "user{i} skipped"
        );
    }
    let duplicates: usize = per.values().map(|c| c - 1).sum();
    assert!(
        duplicates <= crate::faults::DUPLICATE_BOUND,
        "{duplicates} duplicates exceed the documented bound"
    );
    let c = campaign(&p, 1);
    assert_eq!(
        (c["status"].as_str(), c["sent"].as_i64()),
        (Some("done"), Some(n as i64))
    );
}

#[test]
fn unsubscribing_during_a_campaign_is_honoured() {
    let smtp = SmtpServer::start(Script {
        delay: Duration::from_millis(20),
        ..Default::default()
    });
    let n = 60;
    let p = project_with(n, "concurrency = 1");
    let mut child = p.spawn(&["--smtp-url", &smtp.url(), "send", "digest", "--yes"]);
    smtp.wait_for(1);
    p.run(&["subscribers", "unsubscribe", "user59@example.org"])
        .ok();
    assert!(child.wait().unwrap().success());
    assert!(!smtp.per_recipient().contains_key("user59@example.org"));
    let c = campaign(&p, 1);
    assert_eq!(
        (c["sent"].as_i64(), c["skipped"].as_i64()),
        (Some(n as i64 - 1), Some(1))
    );
    let _ = subscribers(&p);
}

#[test]
fn erasing_during_a_campaign_is_honoured() {
    let smtp = SmtpServer::start(Script {
        delay: Duration::from_millis(20),
        ..Default::default()
    });
    let n = 60;
    let p = project_with(n, "concurrency = 1");
    let mut child = p.spawn(&["--smtp-url", &smtp.url(), "send", "digest", "--yes"]);
    smtp.wait_for(1);
    p.run(&["subscribers", "remove", "user59@example.org"]).ok();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the send did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert!(
        !smtp.per_recipient().contains_key("user59@example.org"),
        "an erased address got the campaign"
    );
    let c = campaign(&p, 1);
    assert_eq!(c["sent"].as_i64(), Some(n as i64 - 1));
}

#[test]
fn dry_run_test_send_and_confirmation_rules() {
    let smtp = SmtpServer::start(Script::default());
    let p = project_with(2, "");
    let out = p.run(&[
        "--smtp-url",
        &smtp.url(),
        "send",
        "post",
        "first",
        "--dry-run",
    ]);
    out.ok();
    assert!(
        out.stdout().contains("to 2 active subscribers"),
        "{}",
        out.stdout()
    );
    assert!(smtp.received().is_empty());
    // No terminal and no --yes: refuse.
    p.run(&["--smtp-url", &smtp.url(), "send", "post", "first"])
        .fails_with("pass --yes");
    assert!(smtp.received().is_empty());
    // A test send goes to one address and is recorded nowhere.
    p.run(&[
        "--smtp-url",
        &smtp.url(),
        "send",
        "post",
        "first",
        "--to",
        "me@example.net",
    ])
    .ok();
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(smtp.received()[0].to, ["me@example.net"]);
    let list = p.run(&["campaigns", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list.stdout())
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Sent once; again only with --force.
    p.run(&["--smtp-url", &smtp.url(), "send", "post", "first", "--yes"])
        .ok();
    p.run(&["--smtp-url", &smtp.url(), "send", "post", "first", "--yes"])
        .fails_with("already sent");
    p.run(&[
        "--smtp-url",
        &smtp.url(),
        "send",
        "post",
        "first",
        "--yes",
        "--force",
    ])
    .ok();
    assert_eq!(smtp.received().len(), 5);
}

#[test]
fn outbox_is_the_default_without_smtp() {
    let p = project_with(3, "");
    let out = p.run(&["send", "digest", "--yes"]);
    out.ok();
    assert!(out.stdout().contains("outbox"), "{}", out.stdout());
    let files: Vec<_> = std::fs::read_dir(p.path().join("outbox"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 3);
}

#[test]
fn dkim_signature_covers_the_list_unsubscribe_headers() {
    let smtp = SmtpServer::start(Script::default());
    let p = project_with(1, "");
    let mut cfg = std::fs::read_to_string(p.path().join("gazette.toml")).unwrap();
    cfg.push_str("\n[dkim]\ndomain = \"example.com\"\nselector = \"news2026\"\nprivate_key_path = \"dkim.key\"\n");
    std::fs::write(p.path().join("gazette.toml"), &cfg).unwrap();
    // An Ed25519 key: the base64 of a 32-byte seed.
    p.write("dkim.key", "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n");
    p.run(&["--smtp-url", &smtp.url(), "send", "post", "first", "--yes"])
        .ok();
    let data = &smtp.received()[0].data;
    let h = unfolded_headers(data);
    let sig = h
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("dkim-signature:"))
        .unwrap_or_else(|| panic!("no DKIM-Signature in\n{h}"));
    let sig: String = sig.split_whitespace().collect();
    for needle in [
        "a=ed25519-sha256",
        "d=example.com",
        "s=news2026",
        "c=relaxed/relaxed",
    ] {
        assert!(sig.contains(needle), "{needle} missing in {sig}");
    }
    let signed = sig
        .split(';')
        .find_map(|t| t.strip_prefix("h="))
        .unwrap()
        .to_ascii_lowercase();
    let signed: Vec<&str> = signed.split(':').collect();
    for header in [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ] {
        assert!(signed.contains(&header), "{header} not signed: {signed:?}");
    }

    // A key that cannot be used is one clear error naming the file.
    p.write(
        "dkim.key",
        "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n",
    );
    p.run(&["send", "post", "first", "--dry-run"])
        .fails_with("dkim.key: not a usable DKIM key");
}

#[test]
fn templates_can_use_subscriber_attributes() {
    let smtp = SmtpServer::start(Script::default());
    let p = project_with(0, "");
    p.write(
        "attrs.csv",
        "email,name,city\nosl@example.org,O,Oslo\nnone@example.org,N,\n",
    );
    p.run(&["subscribers", "import", "attrs.csv", "--confirmed"])
        .ok();
    p.write(
        "templates/email/post.txt",
        "{% extends \"email/base.txt\" %}\n{% block content %}Greetings to {{ attribute(name=\"city\", default=\"everywhere\") }}!{% endblock content %}\n",
    );
    p.run(&["--smtp-url", &smtp.url(), "send", "post", "first", "--yes"])
        .ok();
    let body_for = |to: &str| {
        let m = smtp.received().into_iter().find(|m| m.to == [to]).unwrap();
        decode_qp(&m.data)
    };
    assert!(body_for("osl@example.org").contains("Greetings to Oslo!"));
    assert!(body_for("none@example.org").contains("Greetings to everywhere!"));
    // Preview shows the default.
    let out = p.run(&["preview", "post", "first", "--format", "text"]);
    assert!(
        out.stdout().contains("Greetings to everywhere!"),
        "{}",
        out.stdout()
    );
}
