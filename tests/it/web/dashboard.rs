//! The dashboard over real HTTP on the admin listener (a real SQLite file):
//! no page without a session, the session cookie's flags, no POST without
//! the CSRF token, every page for an empty database, the growth chart's
//! data points against the database, a reader found, reactivated (only
//! when the CLI would) and removed behind a confirmation.

use std::net::SocketAddr;

use chrono::{Duration, Utc};
use gazette::audience::{Source, Status, SubscriberEmail};

use crate::helpers::CONFIG;
use crate::http;
use crate::web::{spawn_app, spawn_app_full, spawn_app_with_token, App};

pub const TOKEN: &str = "dashboard-token-0123456789";

/// A browser's share of the work: the session cookie, sent back.
pub struct Client {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
}

impl Client {
    pub fn get(&self, path: &str) -> http::Response {
        let cookie = self.cookie.clone().unwrap_or_default();
        let h = [("Cookie", cookie.as_str())];
        http::request(
            self.addr,
            "GET",
            path,
            &h[..self.cookie.is_some() as usize],
            b"",
        )
    }

    pub fn post(&self, path: &str, body: &str) -> http::Response {
        let cookie = self.cookie.clone().unwrap_or_default();
        let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if self.cookie.is_some() {
            h.push(("Cookie", cookie.as_str()));
        }
        http::request(self.addr, "POST", path, &h, body.as_bytes())
    }
}

/// The `value` of the hidden `csrf` field of a page.
pub fn csrf(body: &str) -> String {
    let at = body
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in {body}"))
        + "name=\"csrf\" value=\"".len();
    body[at..at + body[at..].find('"').unwrap()].to_string()
}

/// `name=value` of a `Set-Cookie` header for `name`.
fn set_cookie<'a>(r: &'a http::Response, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// Signed in on `app`'s admin listener with the admin token.
pub fn signed_in(app: &App) -> Client {
    let addr = app.admin.expect("the admin listener");
    let mut c = Client { addr, cookie: None };
    let form = c.get("/admin/login");
    assert_eq!(form.status, 200, "{}", form.body);
    let login = set_cookie(&form, "gazette_login").unwrap();
    c.cookie = Some(login.split(';').next().unwrap().to_string());
    let r = c.post(
        "/admin/login",
        &format!("csrf={}&token={TOKEN}", csrf(&form.body)),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let session = set_cookie(&r, "gazette_session").unwrap();
    c.cookie = Some(session.split(';').next().unwrap().to_string());
    c
}

const PAGES: &[&str] = &[
    "/admin/",
    "/admin/campaigns",
    "/admin/readers",
    "/admin/readers?q=nobody",
    "/admin/health",
];

#[test]
fn the_dashboard_refuses_without_a_session() {
    let app = spawn_app_with_token("", TOKEN);
    let anon = Client {
        addr: app.admin.unwrap(),
        cookie: None,
    };
    for page in PAGES
        .iter()
        .chain(&["/admin/campaigns/1", "/admin/readers/1"])
    {
        let r = anon.get(page);
        assert_eq!(r.status, 303, "{page}");
        assert_eq!(r.header("location"), Some("/admin/login"), "{page}");
        assert!(!r.body.contains("data-series"), "{page}");
    }
    let forged = Client {
        addr: app.admin.unwrap(),
        cookie: Some(format!("gazette_session={TOKEN}")),
    };
    assert_eq!(forged.get("/admin/").status, 303, "the token is no session");
    for post in ["/admin/logout", "/admin/readers/1/remove"] {
        assert_eq!(anon.post(post, "csrf=x").status, 403, "{post}");
    }
    // The bearer token of the API is not a way in either.
    let h = [("Authorization", "Bearer dashboard-token-0123456789")];
    let r = http::request(app.admin.unwrap(), "GET", "/admin/", &h, b"");
    assert_eq!(r.status, 303);

    // Without GAZETTE_ADMIN_TOKEN nobody can sign in.
    let closed = spawn_app("");
    let c = Client {
        addr: closed.admin.unwrap(),
        cookie: None,
    };
    let r = c.get("/admin/login");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("GAZETTE_ADMIN_TOKEN"), "{}", r.body);
    assert_eq!(c.post("/admin/login", "token=&csrf=").status, 403);
    assert_eq!(c.get("/admin/").status, 403);
}

#[test]
fn signing_in_sets_a_session_cookie_with_the_flags() {
    let app = spawn_app_with_token("", TOKEN);
    let mut c = Client {
        addr: app.admin.unwrap(),
        cookie: None,
    };
    let form = c.get("/admin/login");
    assert!(form.body.contains("name=\"token\""), "{}", form.body);
    for (h, v) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(form.header(h), Some(v), "{h}");
    }
    let csp = form.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let login = set_cookie(&form, "gazette_login").unwrap().to_string();
    let token = csrf(&form.body);

    // No CSRF token (or another one): refused before the token is looked at.
    c.cookie = Some(login.split(';').next().unwrap().to_string());
    let r = c.post("/admin/login", &format!("token={TOKEN}"));
    assert_eq!(r.status, 403);
    assert!(set_cookie(&r, "gazette_session").is_none());
    let r = c.post("/admin/login", &format!("token={TOKEN}&csrf=0{token}"));
    assert_eq!(r.status, 403);
    // A wrong token.
    let r = c.post("/admin/login", &format!("token=wrong&csrf={token}"));
    assert_eq!(r.status, 401);
    assert!(set_cookie(&r, "gazette_session").is_none());

    let r = c.post("/admin/login", &format!("token={TOKEN}&csrf={token}"));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/admin/"));
    let cookie = set_cookie(&r, "gazette_session").unwrap();
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("gazette_session=");
    assert_eq!(id.len(), 64);
    assert!(
        !cookie.contains(TOKEN),
        "the cookie is not the token: {cookie}"
    );
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=",
        "Secure",
    ] {
        assert!(cookie.contains(flag), "{flag}: {cookie}");
    }
    // Signed in: every page; and signed out with the form's token.
    c.cookie = Some(format!("gazette_session={id}"));
    let home = c.get("/admin/");
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(!home.body.contains("<script"), "no script");
    let r = c.post("/admin/logout", "");
    assert_eq!(r.status, 403, "no CSRF token, no sign-out");
    assert_eq!(c.get("/admin/").status, 200);
    let r = c.post("/admin/logout", &format!("csrf={}", csrf(&home.body)));
    assert_eq!(r.status, 303);
    assert!(set_cookie(&r, "gazette_session")
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(c.get("/admin/").status, 303, "the session is gone");

    // Over http (public_url not https) the cookie is not `Secure`.
    let plain = spawn_app_full(
        &CONFIG.replace("127.0.0.1:9", "127.0.0.1:7"),
        "",
        Some(TOKEN),
    );
    let r = signed_in_response(&plain);
    let cookie = set_cookie(&r, "gazette_session").unwrap();
    assert!(
        cookie.contains("HttpOnly") && !cookie.contains("Secure"),
        "{cookie}"
    );
}

/// The answer to a good sign-in on `app`.
fn signed_in_response(app: &App) -> http::Response {
    let mut c = Client {
        addr: app.admin.unwrap(),
        cookie: None,
    };
    let form = c.get("/admin/login");
    let login = set_cookie(&form, "gazette_login").unwrap();
    c.cookie = Some(login.split(';').next().unwrap().to_string());
    c.post(
        "/admin/login",
        &format!("csrf={}&token={TOKEN}", csrf(&form.body)),
    )
}

#[test]
fn every_page_answers_for_an_empty_database() {
    let app = spawn_app_with_token("", TOKEN);
    let c = signed_in(&app);
    for page in PAGES {
        let r = c.get(page);
        assert_eq!(r.status, 200, "{page}: {}", r.body);
        assert!(r.body.contains("<nav>"), "{page}");
    }
    let home = c.get("/admin/");
    assert_eq!(home.body.matches("data-series=").count(), 52 * 4);
    assert!(home.body.contains("id=\"active\">0<"), "{}", home.body);
    assert_eq!(c.get("/admin/campaigns/99").status, 404);
    assert_eq!(c.get("/admin/readers/99").status, 404);
    assert_eq!(c.get("/admin/readers/abc").status, 404);
}

/// `data-value` of the point of `series` at `label` in a page's SVG.
pub fn point(body: &str, series: &str, label: &str) -> String {
    let key = format!("data-series=\"{series}\" data-label=\"{label}\" data-value=\"");
    let at = body
        .find(&key)
        .unwrap_or_else(|| panic!("no {series} point at {label}"))
        + key.len();
    body[at..at + body[at..].find('"').unwrap()].to_string()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// `n` readers added (and confirmed) at `at`; their ids.
fn readers(app: &App, prefix: &str, n: usize, at: chrono::DateTime<Utc>) -> Vec<i64> {
    block_on(async {
        let mut ids = Vec::new();
        for i in 0..n {
            let e = SubscriberEmail::parse(&format!("{prefix}{i}@example.org")).unwrap();
            let added = app
                .store
                .add(&e, None, true, Source::Cli, at)
                .await
                .unwrap();
            ids.push(added.subscriber().id);
        }
        ids
    })
}

/// Run SQL on the app's SQLite file (what other processes would write).
fn sql(app: &App, statements: &[&str]) {
    block_on(async {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&app.settings.database_url)
            .await
            .unwrap();
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&mut db)
                .await
                .unwrap();
        }
    })
}

#[test]
fn the_growth_chart_holds_the_numbers_of_the_database() {
    let app = spawn_app_with_token("", TOKEN);
    let now = Utc::now();
    let this_week = gazette::store::stats::week_start(now).to_string();
    let three_ago = gazette::store::stats::week_start(now - Duration::weeks(3)).to_string();
    let old = readers(&app, "old", 4, now - Duration::weeks(3));
    let new = readers(&app, "new", 2, now);
    block_on(app.store.unsubscribe(old[0], now)).unwrap();
    let t = gazette::store::ts(now);
    sql(
        &app,
        &[
            &format!("UPDATE subscribers SET status = 'bounced', unsubscribed_at = '{t}' WHERE id = {}", old[1]),
            &format!("UPDATE subscribers SET status = 'complained', unsubscribed_at = '{t}' WHERE id = {}", new[0]),
        ],
    );
    let c = signed_in(&app);
    let home = c.get("/admin/");
    assert_eq!(home.status, 200);
    let weeks = block_on(app.store.growth(52, now)).unwrap();
    assert_eq!(weeks.len(), 52);
    for w in &weeks {
        for (series, n) in [
            ("confirmations", w.confirmations),
            ("unsubscribes", w.unsubscribes),
            ("bounces", w.bounces),
            ("complaints", w.complaints),
        ] {
            assert_eq!(
                point(&home.body, series, &w.week),
                n.to_string(),
                "{series} {}",
                w.week
            );
        }
    }
    // And those are the rows written above.
    assert_eq!(point(&home.body, "confirmations", &three_ago), "4");
    assert_eq!(point(&home.body, "confirmations", &this_week), "2");
    assert_eq!(point(&home.body, "unsubscribes", &this_week), "1");
    assert_eq!(point(&home.body, "bounces", &this_week), "1");
    assert_eq!(point(&home.body, "complaints", &this_week), "1");
    assert!(home.body.contains("id=\"active\">3<"), "6 added, 3 left");
}

#[test]
fn a_reader_is_found_reactivated_only_as_the_cli_would_and_removed() {
    let app = spawn_app_with_token("", TOKEN);
    let now = Utc::now();
    let ids = readers(&app, "ann", 3, now);
    block_on(app.store.unsubscribe(ids[0], now)).unwrap();
    sql(
        &app,
        &[&format!(
            "UPDATE subscribers SET status = 'bounced' WHERE id = {}",
            ids[1]
        )],
    );
    let c = signed_in(&app);

    let found = c.get("/admin/readers?q=ANN1%40example");
    assert_eq!(found.status, 200);
    assert!(found.body.contains("ann1@example.org"), "{}", found.body);
    assert!(!found.body.contains("ann0@example.org"));
    let page = c.get(&format!("/admin/readers/{}", ids[1]));
    assert!(
        page.body.contains("id=\"status\">bounced<"),
        "{}",
        page.body
    );
    assert!(page.body.contains("/reactivate\""));

    // An unsubscribed reader is not reactivated (nobody who left gets mail).
    let left = c.get(&format!("/admin/readers/{}", ids[0]));
    assert!(!left.body.contains("/reactivate\""), "no button");
    let r = c.get(&format!("/admin/readers/{}/reactivate", ids[0]));
    assert_eq!(r.status, 409);
    let r = c.post(
        &format!("/admin/readers/{}/reactivate", ids[0]),
        &format!("csrf={}", csrf(&left.body)),
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        app.status_of("ann0@example.org"),
        Some(Status::Unsubscribed)
    );

    // A bounced one is, after the confirmation page, with the CSRF token.
    let ask = c.get(&format!("/admin/readers/{}/reactivate", ids[1]));
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("ann1@example.org"));
    assert_eq!(
        app.status_of("ann1@example.org"),
        Some(Status::Bounced),
        "a GET changes nothing"
    );
    let r = c.post(
        &format!("/admin/readers/{}/reactivate", ids[1]),
        "csrf=nope",
    );
    assert_eq!(r.status, 403);
    assert_eq!(app.status_of("ann1@example.org"), Some(Status::Bounced));
    let r = c.post(
        &format!("/admin/readers/{}/reactivate", ids[1]),
        &format!("csrf={}", csrf(&ask.body)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.status_of("ann1@example.org"), Some(Status::Active));

    // Removed: erased, and blocked from imports as `subscribers remove` does.
    let ask = c.get(&format!("/admin/readers/{}/remove", ids[2]));
    let r = c.post(&format!("/admin/readers/{}/remove", ids[2]), "");
    assert_eq!(r.status, 403, "no CSRF token");
    assert_eq!(app.status_of("ann2@example.org"), Some(Status::Active));
    let r = c.post(
        &format!("/admin/readers/{}/remove", ids[2]),
        &format!("csrf={}", csrf(&ask.body)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.status_of("ann2@example.org"), None);
    let e = SubscriberEmail::parse("ann2@example.org").unwrap();
    assert!(block_on(app.store.is_suppressed(&e)).unwrap());
    assert_eq!(c.get(&format!("/admin/readers/{}", ids[2])).status, 404);
}

#[test]
fn the_pages_are_in_german_with_language_de() {
    let de = CONFIG.replace("[newsletter]\n", "[newsletter]\nlanguage = \"de\"\n");
    let app = spawn_app_full(&de, "", Some(TOKEN));
    let c = signed_in(&app);
    for (page, words) in [
        ("/admin/", "Wachstum pro Woche"),
        ("/admin/campaigns", "Noch keine Kampagne."),
        ("/admin/readers", "Adresse oder Name"),
        ("/admin/health", "Blockierte Antworten nach Domain"),
    ] {
        let r = c.get(page);
        assert_eq!(r.status, 200, "{page}");
        assert!(r.body.contains(words), "{page}: {}", r.body);
        assert!(r.body.contains("lang=\"de\""), "{page}");
    }
}
