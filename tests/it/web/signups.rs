//! Bot-proof sign-ups over real HTTP on 127.0.0.1, the confirmation
//! emails read back from the outbox: the signed, time-stamped token, the
//! honeypot, the one-more-click page, the proof of work, one confirmation
//! per `confirm_interval`, `return_url`, `GET /subscribe/token` and its
//! CORS, and `gazette form`. The browser's side is in `signups_browser.rs`.

use std::time::{Duration, Instant};

use chrono::Utc;
use gazette::audience::signup::{Kind, SignupKey};
use gazette::audience::Status;

use crate::helpers::{Project, CONFIG};
use crate::http::{self, Response};
use crate::web::{spawn_app, App};

/// A token signed with the server's own key, handed out `secs` ago.
fn minted(key: &SignupKey, secs: i64) -> String {
    key.issue(Kind::Form, Utc::now() - chrono::Duration::seconds(secs))
}

fn form(app: &App, body: &str) -> Response {
    http::post_form(app.addr, "/subscribe", body)
}

/// The value of the hidden `token` field of a page.
fn token_in(page: &str) -> String {
    let at = page
        .find("name=\"token\" value=\"")
        .unwrap_or_else(|| panic!("no token field in:\n{page}"))
        + "name=\"token\" value=\"".len();
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

/// The success page with the address taken out: what every answer that
/// counts as a success must equal.
fn anonymous(r: &Response, email: &str) -> (u16, String) {
    (r.status, r.body.replace(email, "ADDRESS"))
}

/// One kind of bot: its `i`th post.
type Bot = Box<dyn Fn(usize) -> Response + Send + Sync>;

#[test]
fn a_thousand_bot_posts_of_each_kind_send_no_email() {
    // The rate limit off: what is measured here is the token's rules.
    let app = spawn_app("[web]\nsubscribe_limit = 0\nmin_fill_time = \"2s\"\n");
    let key = app.signup_key();
    // A person: a token handed out long enough ago, used once.
    let person = minted(&key, 30);
    let r = form(&app, &format!("email=person%40example.org&token={person}"));
    let success = anonymous(&r, "person@example.org");
    assert_eq!(success.0, 200, "{}", r.body);
    assert!(success.1.contains("Check your inbox"), "{}", success.1);
    app.wait_for_email(1);

    const N: usize = 1000;
    let addr = app.addr;
    let started = Instant::now();
    let kinds: Vec<(&str, Bot)> = vec![
        (
            "no token",
            Box::new(move |i| {
                http::post_form(addr, "/subscribe", &format!("email=nt{i}%40example.org"))
            }),
        ),
        (
            "forged token",
            Box::new(move |i| {
                let now = Utc::now().timestamp_millis() - 60_000;
                let forged = format!("{now}.f.{:032x}.{:032x}", i, i * 7919);
                http::post_form(
                    addr,
                    "/subscribe",
                    &format!("email=fo{i}%40example.org&token={forged}"),
                )
            }),
        ),
        ("expired token", {
            let expired = minted(&key, 2 * 86400);
            Box::new(move |i| {
                http::post_form(
                    addr,
                    "/subscribe",
                    &format!("email=ex{i}%40example.org&token={expired}"),
                )
            })
        }),
        (
            "too young",
            Box::new(move |i| http::subscribe(addr, &format!("email=ty{i}%40example.org"))),
        ),
        ("honeypot filled", {
            let tokens: Vec<String> = (0..N).map(|_| minted(&key, 30)).collect();
            Box::new(move |i| {
                let body = format!(
                    "email=hp{i}%40example.org&website=https%3A%2F%2Fspam.example&token={}",
                    tokens[i]
                );
                http::post_form(addr, "/subscribe", &body)
            })
        }),
        (
            "replayed token",
            Box::new(move |i| {
                let body = format!("email=rp{i}%40example.org&token={person}");
                http::post_form(addr, "/subscribe", &body)
            }),
        ),
        (
            "JSON without a token",
            Box::new(move |i| {
                http::post_json(
                    addr,
                    "/subscribe",
                    &format!(r#"{{"email": "js{i}@example.org"}}"#),
                )
            }),
        ),
    ];
    let kinds = std::sync::Arc::new(kinds);
    let handles: Vec<_> = (0..kinds.len())
        .map(|k| {
            let kinds = kinds.clone();
            std::thread::spawn(move || {
                (0..N)
                    .map(|i| (i, kinds[k].1(i)))
                    .map(|(i, r)| {
                        let (status, body) = (r.status, r.body);
                        (i, status, body)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for (k, h) in handles.into_iter().enumerate() {
        let (name, _) = &kinds[k];
        for (i, status, body) in h.join().unwrap() {
            match *name {
                // Asked for one more click, with a fresh token.
                "no token" | "forged token" | "expired token" => {
                    assert_eq!(status, 200, "{name}: {body}");
                    assert!(body.contains("One more click"), "{name}: {body}");
                    assert!(token_in(&body).contains(".c."), "{name}");
                }
                "JSON without a token" => {
                    assert_eq!(status, 400, "{name}: {body}");
                    assert!(body.contains("/subscribe/token"), "{name}: {body}");
                }
                // The same answer as a success.
                _ => {
                    let prefix = &format!("{}{i}@example.org", short(name));
                    let r = (status, body.replace(prefix.as_str(), "ADDRESS"));
                    assert_eq!(r, success, "{name} #{i}");
                }
            }
        }
    }
    let took = started.elapsed();
    eprintln!(
        "{} bot posts in {took:?} ({:.0}/s)",
        N * kinds.len(),
        (N * kinds.len()) as f64 / took.as_secs_f64()
    );
    // A person after the bots: their email comes; the bots' never did.
    let r = http::post_form(
        app.addr,
        "/subscribe",
        &format!("email=after%40example.org&token={}", minted(&key, 30)),
    );
    assert_eq!(r.status, 200);
    let last = app.wait_for_email(2);
    assert!(last.contains("after@example.org"), "{last}");
    assert_eq!(app.outbox_files().len(), 2);
    assert_eq!(app.count(), 2, "only the two people are stored");
}

fn short(kind: &str) -> &'static str {
    match kind {
        "too young" => "ty",
        "honeypot filled" => "hp",
        _ => "rp",
    }
}

#[test]
fn a_post_without_a_token_gets_one_more_click_which_subscribes() {
    let app = spawn_app("");
    // A form posted from a page without the token (a static blog's form
    // without scripts): nothing stored, a page whose form has a token.
    let r = form(&app, "email=Ann%40example.org&name=%3Cb%3EAnn%3C%2Fb%3E");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("One more click"), "{}", r.body);
    assert!(r.body.contains("value=\"Ann@example.org\""), "{}", r.body);
    assert!(r.body.contains("&lt;b&gt;Ann"), "escaped: {}", r.body);
    assert!(r.body.contains("aria-hidden=\"true\""), "{}", r.body);
    assert!(r.body.contains("tabindex=\"-1\""), "{}", r.body);
    assert_eq!(app.count(), 0);
    // Its one button: the page's own fields, posted back.
    let t = token_in(&r.body);
    let again = form(
        &app,
        &format!("email=Ann%40example.org&name=Ann&website=&token={t}"),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.contains("Check your inbox"), "{}", again.body);
    app.wait_for_email(1);
    assert_eq!(app.status_of("ann@example.org"), Some(Status::Pending));
    // The index page carries a token and the honeypot, with the CSP as
    // ever (no script without the proof of work).
    let index = http::get(app.addr, "/");
    assert!(token_in(&index.body).contains(".f."));
    assert!(index.body.contains("name=\"website\""));
    assert!(!index.body.contains("<script"));
    let csp = index.header("content-security-policy").unwrap();
    assert_eq!(csp, gazette::web::headers::CSP);
}

#[test]
fn the_token_endpoint_answers_json_with_cors_for_the_blog_only() {
    let app = spawn_app("[web]\nmin_fill_time = \"4s\"\n");
    let get = |origin: Option<&str>| {
        let mut h = vec![("Accept", "application/json")];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        http::request(app.addr, "GET", "/subscribe/token", &h, b"")
    };
    let r = get(Some("https://example.com"));
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["min_fill_time_ms"], 4000);
    assert_eq!(v["pow_bits"], 0);
    assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));
    let token = v["token"].as_str().unwrap();
    // It names nobody: time, kind, random nonce, MAC.
    assert_eq!(token.split('.').count(), 4, "{token}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://example.com")
    );
    assert_eq!(r.header("vary"), Some("Origin"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for other in [Some("https://evil.example"), Some("null"), None] {
        let r = get(other);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), None, "{other:?}");
    }
    assert_ne!(get(None).json()["token"], v["token"]);
    // JSON with the token subscribes, as the form does, once old enough.
    let key = app.signup_key();
    let body = format!(
        r#"{{"email": "j@example.org", "token": "{}"}}"#,
        minted(&key, 5)
    );
    let r = http::post_json(app.addr, "/subscribe", &body);
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    app.wait_for_email(1);
    // Without one: 400, saying where tokens come from, nothing stored.
    let r = http::post_json(app.addr, "/subscribe", r#"{"email": "k@example.org"}"#);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json()["token_url"],
        "https://news.example.com/subscribe/token"
    );
    assert_eq!(app.status_of("k@example.org"), None);
}

#[test]
fn one_confirmation_per_address_per_confirm_interval() {
    let app = spawn_app("[web]\nconfirm_interval = \"2s\"\nsubscribe_limit = 0\n");
    let first = http::subscribe(app.addr, "email=twice%40example.org");
    app.wait_for_email(1);
    let second = http::subscribe(app.addr, "email=twice%40example.org");
    assert_eq!((first.status, first.body), (second.status, second.body));
    // A person, later, for a marker: still one email for `twice`.
    http::subscribe(app.addr, "email=marker%40example.org");
    app.wait_for_email(2);
    let count_twice = || {
        app.outbox_files()
            .iter()
            .filter(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .contains("To: twice@example.org")
            })
            .count()
    };
    assert_eq!(count_twice(), 1);
    // Once the interval has passed, the next request sends another.
    std::thread::sleep(Duration::from_millis(2100));
    http::subscribe(app.addr, "email=twice%40example.org");
    app.wait_for_email(3);
    assert_eq!(count_twice(), 2);
}

#[test]
fn return_url_sends_forms_back_to_the_blog() {
    let app = spawn_app("[web]\nreturn_url = \"https://example.com/blog/thanks/\"\n");
    let r = http::subscribe(app.addr, "email=r%40example.org");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("https://example.com/blog/thanks/")
    );
    app.wait_for_email(1);
    // A bot's post gets the same redirect; JSON clients their JSON.
    let key = app.signup_key();
    let bot = form(
        &app,
        &format!(
            "email=bot%40example.org&website=x&token={}",
            minted(&key, 30)
        ),
    );
    assert_eq!(
        (bot.status, bot.header("location")),
        (303, Some("https://example.com/blog/thanks/"))
    );
    let r = http::subscribe_json(app.addr, r#"{"email": "j@example.org"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    // The form page may redirect there after its post.
    let csp = http::get(app.addr, "/")
        .header("content-security-policy")
        .unwrap()
        .to_string();
    assert!(
        csp.contains("form-action 'self' https://example.com;"),
        "{csp}"
    );
    // Nothing in a request chooses where to go.
    let r = http::post_form(
        app.addr,
        "/subscribe",
        &http::with_token(
            app.addr,
            "email=s%40example.org&return_url=https%3A%2F%2Fevil.example",
        ),
    );
    assert_eq!(
        r.header("location"),
        Some("https://example.com/blog/thanks/")
    );
}

#[test]
fn bad_form_settings_are_one_line_naming_the_key() {
    let p = Project::new();
    for (value, needle) in [
        (
            "return_url = \"https://evil.example/thanks\"",
            "web.return_url",
        ),
        ("return_url = \"javascript:alert(1)\"", "web.return_url"),
        (
            "return_url = \"https://u:p@example.com/\"",
            "web.return_url",
        ),
        ("min_fill_time = \"soon\"", "web.min_fill_time"),
        ("confirm_interval = \"0s\"", "web.confirm_interval"),
        ("subscribe_pow = \"yes\"", "subscribe_pow"),
    ] {
        p.write("gazette.toml", format!("{CONFIG}\n[web]\n{value}\n"));
        let out = p.run(&["posts", "list"]);
        out.fails_with(needle);
        let err = out.stderr();
        assert_eq!(err.trim().lines().count(), 1, "{value}: {err}");
        if needle.starts_with("web.") {
            assert!(err.contains("gazette.toml:10: web."), "{value}: {err}");
        }
    }
    // On Gazette's own origin is fine too.
    p.write(
        "gazette.toml",
        format!("{CONFIG}\n[web]\nreturn_url = \"http://127.0.0.1:9/thanks\"\n"),
    );
    p.run(&["posts", "list"]).ok();
}

#[test]
fn proof_of_work_when_asked_for() {
    let app = spawn_app("[web]\nsubscribe_pow = true\nsubscribe_limit = 0\n");
    let index = http::get(app.addr, "/");
    assert!(
        index
            .body
            .contains("<script src=\"subscribe/pow.js\" defer></script>"),
        "{}",
        index.body
    );
    assert!(index.body.contains("data-gazette-pow"));
    let csp = index.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let js = http::get(app.addr, "/subscribe/pow.js");
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.body.contains("var BITS = 18;"), "{}", &js.body[..400]);
    assert_eq!(
        http::get(app.addr, "/subscribe/token").json()["pow_bits"],
        18
    );
    // A valid token without the work: one more click (it needs the script).
    let t = http::signup_token(app.addr);
    let r = form(&app, &format!("email=p%40example.org&token={t}"));
    assert!(r.body.contains("One more click"), "{}", r.body);
    assert!(r.body.contains("<noscript>"), "{}", r.body);
    // Wrong work: the answer of a success, nothing stored.
    let r = form(&app, &format!("email=p%40example.org&token={t}&pow=1"));
    assert!(r.body.contains("Check your inbox"), "{}", r.body);
    // The work as pow.js does it: ten digits counted up.
    let t = http::signup_token(app.addr);
    let pow = (0u64..)
        .map(|n| format!("{n:010}"))
        .find(|n| gazette::audience::signup::pow_ok(&t, n))
        .unwrap();
    let r = form(&app, &format!("email=w%40example.org&token={t}&pow={pow}"));
    assert!(r.body.contains("Check your inbox"), "{}", r.body);
    let mail = app.wait_for_email(1);
    assert!(mail.contains("w@example.org"), "{mail}");
    assert_eq!(app.status_of("p@example.org"), None);
}

#[test]
fn gazette_form_prints_the_snippet() {
    let p = Project::new();
    let minimal = p.run(&["form"]).ok().stdout();
    for needle in [
        "action=\"http://127.0.0.1:9/subscribe\"",
        "name=\"email\" type=\"email\" required",
        "name=\"token\" value=\"\"",
        "aria-hidden=\"true\"",
        "tabindex=\"-1\" autocomplete=\"off\"",
        "left:-10000px",
        "fetch(\"http://127.0.0.1:9/subscribe/token\"",
    ] {
        assert!(minimal.contains(needle), "{needle}:\n{minimal}");
    }
    assert!(!minimal.contains("name=\"name\""));
    assert!(!minimal.contains("pow.js"));
    let card = p.run(&["form", "--style", "card"]).ok().stdout();
    assert!(card.contains("<div class=\"gazette-card\">"), "{card}");
    assert!(card.contains("<h2>Subscribe to Test Notes</h2>"), "{card}");
    assert!(card.contains("name=\"name\""), "{card}");
    p.write(
        "gazette.toml",
        format!("{CONFIG}\n[web]\nsubscribe_pow = true\n"),
    );
    let pow = p.run(&["form"]).ok().stdout();
    assert!(pow.contains("<script src=\"http://127.0.0.1:9/subscribe/pow.js\" async>"));
    assert!(pow.contains("data-gazette-pow"));
    p.run(&["form", "--style", "fancy"])
        .fails_with_code(2, "fancy");
}

#[test]
fn the_documented_snippet_is_what_gazette_form_prints() {
    let p = Project::with_config(
        &CONFIG
            .replace("Test Notes", "My Newsletter")
            .replace("http://127.0.0.1:9", "https://news.example.com"),
    );
    let printed = p.run(&["form"]).ok().stdout();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/web.md")).unwrap();
    let start = doc.find("```html\n").expect("the snippet in docs/web.md") + 8;
    let end = start + doc[start..].find("```").unwrap();
    assert_eq!(
        printed,
        &doc[start..end],
        "docs/web.md shows another snippet"
    );
}
