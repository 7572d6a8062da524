//! CHUNKING (RFC 3030) against the test server: where EHLO offers it,
//! each message goes as MAIL FROM, RCPT TO and `BDAT <size> LAST` with its
//! content as it is (no dot-stuffing, no final dot, no 354); under
//! PIPELINING the next message's MAIL FROM and RCPT TO ride behind the
//! content. Refusals of BDAT end as refusals of DATA do.

use std::collections::HashMap;
use std::time::Duration;

use crate::helpers::procs::run_within;
use crate::helpers::sending::{all_delivered, campaign, project};
use crate::helpers::Project;
use crate::smtp::{Script, SmtpServer};

/// `gazette send digest` through `smtp`, which succeeds (60 s at most).
fn send(p: &Project, smtp: &SmtpServer) {
    let (out, _) = run_within(
        p,
        &["--smtp-url", &smtp.url(), "send", "digest", "--yes"],
        Duration::from_secs(60),
    );
    out.ok();
}

/// A post whose text has lines that DATA would dot-stuff.
fn dotted(p: &Project) {
    p.post(
        "dots",
        "Dots",
        "2026-11-21",
        ".a line that starts with a dot\n..and one with two\n.\n\nAfter.\n",
    );
}

#[test]
fn chunking_sends_bdat_last_with_the_next_envelope_behind_it() {
    let smtp = SmtpServer::start(Script {
        pipelining: true,
        chunking: true,
        ..Default::default()
    });
    let p = project(120, "");
    dotted(&p);
    send(&p, &smtp);
    assert_eq!(all_delivered(&p, 1, &smtp, 120), 0);
    let st = smtp.state.lock().unwrap();
    // Every message by BDAT, none by DATA. The next message's MAIL FROM
    // and RCPT TO ride behind each content (one round trip a message);
    // never MAIL and RCPT ahead of BDAT in one write, which Postfix
    // answers in two parts, the second after a delayed ACK.
    assert_eq!(st.chunked, 120);
    assert_eq!(st.data_count, 120);
    assert_eq!(st.bdat_with_mail, 0);
    assert!(st.chained >= 60, "chained {} of 120", st.chained);
    assert!(st.connections <= 4, "{} sessions", st.connections);
    for m in &st.received {
        let raw = String::from_utf8(m.raw.clone()).expect("UTF-8 as rendered");
        // The content as rendered: no final dot, and a line that starts
        // with a dot not doubled (DATA would send it as "..a line").
        assert!(!raw.ends_with("\r\n.\r\n"), "{raw}");
        assert!(raw.contains("\r\n.a line that starts with a dot"), "{raw}");
        assert!(!raw.contains("\r\n..a line"), "dot-stuffed: {raw}");
        assert!(raw.starts_with(|c: char| c.is_ascii_alphabetic()), "{raw}");
    }
}

#[test]
fn chunking_without_pipelining_waits_for_each_command() {
    let smtp = SmtpServer::start(Script {
        chunking: true,
        ..Default::default()
    });
    let p = project(40, "");
    send(&p, &smtp);
    assert_eq!(all_delivered(&p, 1, &smtp, 40), 0);
    let st = smtp.state.lock().unwrap();
    assert_eq!(st.chunked, 40);
    assert_eq!(st.pipelined, 0);
    assert_eq!(st.chained, 0);
}

#[test]
fn refusals_of_bdat_fail_the_refused_and_retry_the_deferred() {
    let refused: Vec<String> = (0..200)
        .filter(|i| i % 40 == 7)
        .map(|i| format!("user{i}@example.org"))
        .collect();
    let deferred: Vec<String> = (0..200)
        .filter(|i| i % 25 == 11)
        .map(|i| format!("user{i}@example.org"))
        .collect();
    let mut replies: HashMap<String, (String, u32)> = HashMap::new();
    for r in &refused {
        replies.insert(r.clone(), ("554 5.6.0 Message refused".into(), 0));
    }
    for d in &deferred {
        replies.insert(d.clone(), ("451 4.3.0 Try again later".into(), 1));
    }
    let smtp = SmtpServer::start(Script {
        pipelining: true,
        chunking: true,
        bdat_reply: replies,
        ..Default::default()
    });
    let p = project(200, "[send]\nmax_bounce_rate = \"10%\"");
    send(&p, &smtp);
    let per = smtp.per_recipient();
    assert_eq!(per.len(), 200 - refused.len());
    assert!(refused.iter().all(|r| !per.contains_key(r)));
    assert!(deferred.iter().all(|d| per.get(d) == Some(&1)), "retried");
    assert!(per.values().all(|&n| n == 1), "nothing arrived twice");
    let c = campaign(&p, 1);
    assert_eq!(c["sent"].as_u64(), Some(200 - refused.len() as u64), "{c}");
    assert_eq!(c["failed"].as_u64(), Some(refused.len() as u64), "{c}");
    assert_eq!(smtp.state.lock().unwrap().chunked, 200 - refused.len());
}
