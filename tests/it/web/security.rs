//! The security promises, each tried the way an attacker would: the real
//! `gazette` binary, real HTTP on 127.0.0.1, a real SQLite file.

use crate::helpers::OutputWithin;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::helpers::Project;
use crate::http::{self, Response};

#[allow(unused_imports)]
pub use crate::helpers::net::free_addr;
#[allow(unused_imports)]
pub use crate::helpers::server::{serve, start, Server};

/// A project whose subscribe form may be posted at once (`[web]
/// min_fill_time = "0s"`): its tests post with a fresh token each time
/// (`http::subscribe`).
pub fn fast_form_project() -> Project {
    Project::with_config(&format!(
        "{}\n[web]\nmin_fill_time = \"0s\"\n",
        crate::helpers::CONFIG
    ))
}

fn subscriber_json(p: &Project, email: &str) -> serde_json::Value {
    let out = p.run(&["subscribers", "list", "--json"]);
    out.ok();
    let all: Vec<serde_json::Value> = serde_json::from_str(&out.stdout()).unwrap();
    all.into_iter()
        .find(|s| s["email"].as_str() == Some(email))
        .unwrap_or_else(|| panic!("{email} not in {}", out.stdout()))
}

/// The email in the project's outbox that contains `needle` (waiting up to
/// 10 s), decoded.
fn outbox_email(p: &Project, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files: Vec<_> = std::fs::read_dir(p.path().join("outbox"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        for f in files {
            let mail = http::decode_qp(&std::fs::read_to_string(f).unwrap_or_default());
            if mail.contains(needle) {
                return mail;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no email with {needle:?} in the outbox"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until the background subscriptions answered before this call are
/// done: the server drains them when it stops (the event); then a new one
/// serves the same project.
fn settle(p: &Project, mut s: Server) -> Server {
    assert!(s.stop().success());
    serve(p, &[])
}

fn confirm_path(mail: &str) -> String {
    let start = mail.find("/confirm/").expect("a confirmation link");
    let rest = &mail[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '/'))
        .unwrap();
    rest[..end].to_string()
}

#[test]
fn a_web_request_never_changes_an_existing_subscriber() {
    let p = fast_form_project();
    p.run(&["subscribers", "add", "victim@example.org", "--confirmed"])
        .ok();
    p.run(&["subscribers", "add", "waiting@example.org"]).ok();
    let s = serve(&p, &[]);
    let evil = "email=victim%40example.org&name=Your+account+is+suspended%2C+visit+evil.example";
    assert_eq!(http::subscribe(s.addr, evil).status, 200);
    let evil = "email=waiting%40example.org&name=Your+account+is+suspended";
    assert_eq!(http::subscribe(s.addr, evil).status, 200);
    // Subscriptions are processed after the answer: let them finish.
    let s = settle(&p, s);
    assert_eq!(
        subscriber_json(&p, "victim@example.org")["name"],
        serde_json::Value::Null
    );
    assert_eq!(
        subscriber_json(&p, "waiting@example.org")["name"],
        serde_json::Value::Null
    );

    // A new address: the name waits for the confirmation of that very
    // subscription, then becomes the subscriber's.
    let r = http::subscribe(s.addr, "email=new%40example.org&name=Nia+New");
    assert_eq!(r.status, 200);
    outbox_email(&p, "new@example.org");
    assert_eq!(
        subscriber_json(&p, "new@example.org")["name"],
        serde_json::Value::Null
    );
    // The confirmation goes to the bare address: the name is unproven, and
    // must not reach the address owner's To: line or greeting.
    let mail = outbox_email(&p, "new@example.org");
    assert!(mail.contains("To: new@example.org"), "{mail}");
    assert!(!mail.contains("Nia New"), "{mail}");
    // Someone else asking for the same address changes nothing.
    let r = http::subscribe(s.addr, "email=new%40example.org&name=Mallory");
    assert_eq!(r.status, 200);
    let s = settle(&p, s);
    assert_eq!(
        http::post_form(s.addr, &confirm_path(&mail), "").status,
        200
    );
    let sub = subscriber_json(&p, "new@example.org");
    assert_eq!(
        (sub["status"].as_str(), sub["name"].as_str()),
        (Some("active"), Some("Nia New"))
    );
}

#[test]
fn bounced_and_complained_addresses_get_nothing_from_the_web() {
    let p = fast_form_project();
    p.write(
        "gone.csv",
        "email,status\nbnc@example.org,bounced\ncomp@example.org,complained\nleft@example.org,unsubscribed\n",
    );
    p.run(&["subscribers", "import", "gone.csv", "--confirmed"])
        .ok();
    let s = serve(&p, &[]);
    for who in ["bnc", "comp", "left"] {
        let r = http::subscribe(s.addr, &format!("email={who}%40example.org"));
        assert_eq!(r.status, 200, "{who}");
    }
    settle(&p, s);
    let outbox: Vec<String> = std::fs::read_dir(p.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let to = |who: &str| {
        outbox
            .iter()
            .filter(|m| m.contains(&format!("To: {who}@example.org")))
            .count()
    };
    assert_eq!(
        (to("bnc"), to("comp")),
        (0, 0),
        "a web request mailed a bounced or complained address"
    );
    // Someone who unsubscribed may come back, with double opt-in.
    assert_eq!(to("left"), 1);
    assert_eq!(subscriber_json(&p, "bnc@example.org")["status"], "bounced");
    assert_eq!(
        subscriber_json(&p, "comp@example.org")["status"],
        "complained"
    );
}

fn get_auth(addr: SocketAddr, path: &str, auth: Option<&str>) -> Response {
    let mut h = vec![];
    if let Some(a) = auth {
        h.push(("Authorization", a));
    }
    http::request(addr, "GET", path, &h, b"")
}

#[test]
fn metrics_live_on_the_admin_listener_only() {
    let p = fast_form_project();
    let s = serve(&p, &[]);
    assert_eq!(http::get(s.addr, "/metrics").status, 404);
    let h = http::get(s.addr, "/healthz");
    assert_eq!((h.status, h.body.as_str()), (200, "ok\n"));
    let before = get_auth(s.admin, "/metrics", None);
    assert_eq!(before.status, 200, "{}", before.body);
    assert!(before
        .body
        .contains("gazette_subscribers{status=\"pending\"} 0"));
    http::subscribe(s.addr, "email=m%40example.org");
    outbox_email(&p, "m@example.org");
    let after = get_auth(s.admin, "/metrics", None);
    assert!(after
        .body
        .contains("gazette_subscribers{status=\"pending\"} 1"));
    drop(s);

    // With a token, nothing without it.
    let s = serve(&p, &[("GAZETTE_ADMIN_TOKEN", "s3cret-token")]);
    assert_eq!(get_auth(s.admin, "/metrics", None).status, 401);
    assert_eq!(
        get_auth(s.admin, "/metrics", Some("Bearer wrong")).status,
        401
    );
    assert_eq!(
        get_auth(s.admin, "/metrics", Some("s3cret-token")).status,
        401
    );
    let ok = get_auth(s.admin, "/metrics", Some("Bearer s3cret-token"));
    assert_eq!(ok.status, 200);
    assert!(ok.body.contains("gazette_queue_depth"));
    drop(s);

    // The worker serves the same two listeners.
    let w = start(&p, "worker", &[("GAZETTE_ADMIN_TOKEN", "w-token")]);
    assert_eq!(http::get(w.addr, "/metrics").status, 404);
    assert_eq!(get_auth(w.admin, "/metrics", None).status, 401);
    let ok = get_auth(w.admin, "/metrics", Some("Bearer w-token"));
    assert!(
        ok.body
            .contains("gazette_subscribers{status=\"pending\"} 1"),
        "{}",
        ok.body
    );
    drop(w);

    // Beyond loopback, no token: refuse to start.
    let out = p
        .cmd()
        .args(["serve", "--listen", &free_addr().to_string()])
        .env(
            "GAZETTE_ADMIN_LISTEN",
            format!("0.0.0.0:{}", free_addr().port()),
        )
        .output_within();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("GAZETTE_ADMIN_TOKEN"), "{err}");
}

#[test]
fn tokens_do_not_reveal_row_ids_and_old_links_work_in_their_exact_form() {
    let p = fast_form_project();
    let s = serve(&p, &[]);
    for i in 0..3 {
        http::subscribe(s.addr, &format!("email=t{i}%40example.org"));
    }
    // Each subscription is processed in the background: wait for all three.
    outbox_email(&p, "t0@example.org");
    outbox_email(&p, "t1@example.org");
    let mail = outbox_email(&p, "t2@example.org");
    let token = confirm_path(&mail)
        .trim_start_matches("/confirm/")
        .to_string();
    let (selector, verifier) = token.split_once('.').unwrap();
    assert_eq!(selector.len(), 18, "a 72-bit random selector: {token}");
    assert!(selector.bytes().all(|b| b.is_ascii_hexdigit()));

    // Links already sent carry the row id in hex: they keep working, but
    // only in that exact form.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("sqlite://{}", p.path().join("gazette.db").display());
    let sub = rt.block_on(async {
        let store = gazette::store::Store::open(&url).await.unwrap();
        let e = gazette::audience::SubscriberEmail::parse("t1@example.org").unwrap();
        store.get(&e).await.unwrap().unwrap()
    });
    let unsub_verifier = sub.unsub_token.split_once('.').unwrap().1;
    assert_ne!(unsub_verifier, verifier);
    let legacy = format!("/unsubscribe/{:x}.{unsub_verifier}", sub.id);
    let padded = format!("/unsubscribe/0{:x}.{unsub_verifier}", sub.id);
    let upper = format!("/unsubscribe/{:X}.{}", sub.id + 10, unsub_verifier);
    assert_eq!(http::get(s.addr, &padded).status, 404, "zero-padded alias");
    assert_eq!(http::get(s.addr, &upper).status, 404);
    let page = http::get(s.addr, &legacy);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("t1@example.org"));
    let current = http::get(s.addr, &format!("/unsubscribe/{}", sub.unsub_token));
    assert_eq!(current.status, 200);

    // Rows from an import and from the CLI get random selectors too.
    p.write("more.csv", "email\nimported@example.org\n");
    p.run(&["subscribers", "import", "more.csv", "--confirmed"])
        .ok();
    p.run(&["subscribers", "add", "cli@example.org", "--confirmed"])
        .ok();
    let tokens: Vec<String> = rt.block_on(async {
        let store = gazette::store::Store::open(&url).await.unwrap();
        let mut out = vec![];
        for a in ["imported@example.org", "cli@example.org"] {
            let e = gazette::audience::SubscriberEmail::parse(a).unwrap();
            out.push(store.get(&e).await.unwrap().unwrap().unsub_token);
        }
        out
    });
    for t in &tokens {
        assert_eq!(t.split_once('.').unwrap().0.len(), 18, "{t}");
        assert_eq!(http::get(s.addr, &format!("/unsubscribe/{t}")).status, 200);
    }
}

#[test]
fn smtp_credentials_never_travel_in_clear() {
    let p = fast_form_project();
    let run = |url: &str, password: Option<&str>| {
        let mut c = p.cmd();
        c.args(["subscribers", "count"])
            .env("GAZETTE_SMTP_URL", url);
        if let Some(pw) = password {
            c.env("GAZETTE_SMTP_PASSWORD", pw);
        }
        crate::helpers::run_with_timeout(&mut c, crate::helpers::RUN_TIMEOUT)
    };
    run("smtp://alice@mail.example.com:587", Some("secret")).fails_with(
        "mail.example.com:587: refusing to send the password over an unencrypted connection",
    );
    run(
        "smtp://alice@mail.example.com:587?tls=opportunistic",
        Some("secret"),
    )
    .fails_with("unencrypted connection");
    let r = run(
        "smtp://alice:secret@mail.example.com:587?tls=required",
        None,
    );
    r.fails_with("GAZETTE_SMTP_PASSWORD");
    assert!(!r.stderr().contains("secret"), "{}", r.stderr());
    run(
        "smtp://alice@mail.example.com:587?tls=required",
        Some("secret"),
    )
    .ok();
    run("smtps://alice@mail.example.com", Some("secret")).ok();
    run(
        "smtp://alice@mail.example.com:25?insecure_auth=true",
        Some("secret"),
    )
    .ok();
    run("smtp://alice@127.0.0.1:2525", Some("secret")).ok();
    run("smtp://alice@localhost:2525", Some("secret")).ok();
    run("smtp://alice@[::1]:2525", Some("secret")).ok();
    run("smtp://alice@127.0.0.1.example.com:25", Some("secret"))
        .fails_with("unencrypted connection");
    run("smtp://mail.example.com:25", None).ok();
}

#[test]
fn exports_defuse_spreadsheet_formulas_unless_raw() {
    let p = fast_form_project();
    for (email, name) in [
        (
            "f1@example.org",
            "=HYPERLINK(\"http://evil.example\",\"x\")",
        ),
        ("f2@example.org", "+1+cmd"),
        ("f3@example.org", "-2+3"),
        ("f4@example.org", "@SUM(A1)"),
        ("f5@example.org", "Plain Name"),
    ] {
        p.run(&[
            "subscribers",
            "add",
            email,
            &format!("--name={name}"),
            "--confirmed",
        ])
        .ok();
    }
    let out = p.run(&["subscribers", "export"]);
    let csv = out.ok().stdout();
    assert!(
        csv.contains(r#""'=HYPERLINK(""http://evil.example"",""x"")""#),
        "{csv}"
    );
    assert!(csv.contains(",'+1+cmd,"), "{csv}");
    assert!(csv.contains(",'-2+3,"), "{csv}");
    assert!(csv.contains(",'@SUM(A1),"), "{csv}");
    assert!(csv.contains(",Plain Name,"), "{csv}");
    let out = p.run(&["subscribers", "export", "--raw"]);
    let raw = out.ok().stdout();
    assert!(
        raw.contains(r#""=HYPERLINK(""http://evil.example"",""x"")""#),
        "{raw}"
    );
    assert!(raw.contains(",+1+cmd,") && !raw.contains('\''), "{raw}");
}

#[test]
fn front_matter_urls_are_http_and_dates_sane() {
    let p = fast_form_project();
    p.write(
        "posts/js.md",
        "---\ntitle: JS\ndate: 2026-01-01\nurl: \"javascript:alert(8)\"\n---\nBody\n",
    );
    p.write(
        "posts/old.md",
        "---\ntitle: Old\n\ndate: -0001-01-01\n---\nBody\n",
    );
    p.write(
        "posts/ok.md",
        "---\ntitle: Fine\ndate: 2026-01-02\nurl: /fine/\n---\nBody\n",
    );
    let r = p.run(&["posts", "check"]);
    r.fails_with("posts/js.md:4: `url` \"javascript:alert(8)\" must be an http(s) URL");
    r.fails_with("posts/old.md:4: date -0001-01-01 is out of range");
    let list = p.run(&["posts", "list", "--json"]);
    assert!(list.stdout().contains("Fine"), "{}", list.stdout());
    assert!(!list.stdout().contains("javascript"), "{}", list.stdout());
}

fn assert_security_headers(r: &Response, what: &str) {
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
}

#[test]
fn every_response_carries_the_security_headers() {
    let p = fast_form_project();
    let s = serve(&p, &[("GAZETTE_ADMIN_TOKEN", "t")]);
    let big = format!("email=a%40example.org&name={}", "x".repeat(20 * 1024));
    let cases = [
        ("index", http::get(s.addr, "/")),
        ("healthz", http::get(s.addr, "/healthz")),
        ("not found", http::get(s.addr, "/nope")),
        (
            "subscribe",
            http::subscribe(s.addr, "email=h%40example.org"),
        ),
        ("invalid", http::subscribe(s.addr, "email=nope")),
        ("too big", http::post_form(s.addr, "/subscribe", &big)),
        ("json", http::post_json(s.addr, "/subscribe", "{")),
        ("token", http::get(s.addr, "/subscribe/token")),
        ("pow.js", http::get(s.addr, "/subscribe/pow.js")),
        (
            "no token",
            http::post_form(s.addr, "/subscribe", "email=h%40example.org"),
        ),
        ("confirm", http::get(s.addr, "/confirm/0123")),
        ("unsubscribe", http::get(s.addr, "/unsubscribe/x.y")),
    ];
    for (what, r) in &cases {
        assert_security_headers(r, what);
    }
    assert_eq!(cases[5].1.status, 413);
    assert_security_headers(&get_auth(s.admin, "/metrics", None), "admin 401");
    assert_security_headers(&get_auth(s.admin, "/metrics", Some("Bearer t")), "admin");
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let p = Project::with_config(&format!(
        "{}\n[web]\nmin_fill_time = \"0s\"\nsubscribe_limit = 2\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\"]\n",
        crate::helpers::CONFIG
    ));
    let s = serve(&p, &[]);
    let from = |xff: &str, e: &str| {
        http::request(
            s.addr,
            "POST",
            "/subscribe",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Forwarded-For", xff),
            ],
            http::with_token(s.addr, &format!("email={e}%40example.org")).as_bytes(),
        )
        .status
    };
    // 127.0.0.1 is not a trusted proxy here: each client picking its own
    // address changes nothing.
    assert_eq!(from("203.0.113.1", "x1"), 200);
    assert_eq!(from("203.0.113.2", "x2"), 200);
    assert_eq!(from("203.0.113.3", "x3"), 429);
}

#[test]
fn the_rate_limiter_stays_fast_with_many_clients() {
    // 150,000 client addresses in a minute, then the time per request.
    let handle = std::thread::spawn(|| {
        let l = gazette::web::ratelimit::RateLimiter::new(10);
        let ip = |i: u32| std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        let time = |from: u32| {
            let t = Instant::now();
            for i in from..from + 20_000 {
                let _ = l.check(ip(i));
            }
            t.elapsed()
        };
        let empty = time(0);
        for i in 20_000..150_000 {
            let _ = l.check(ip(i));
        }
        let full = time(150_000);
        (empty, full)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "20,000 checks took over a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (empty, full) = handle.join().unwrap();
    assert!(
        full < empty * 5 + Duration::from_millis(50),
        "with 150,000 clients: {full:?} for 20,000 checks, {empty:?} when empty"
    );
}
