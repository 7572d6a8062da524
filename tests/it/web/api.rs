//! The admin API over real HTTP on 127.0.0.1: the token (missing, wrong,
//! unset on the server), every endpoint with its error statuses, answers
//! that match the OpenAPI document's schemas, and a document that lists
//! exactly the routes the router serves.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gazette::config;
use gazette::store::Store;
use serde_json::{json, Value};

use crate::helpers::app::wire;
use crate::helpers::Project;

pub(crate) const TOKEN: &str = "test-token-0123456789abcdef";

pub(crate) struct Api {
    pub(crate) admin: SocketAddr,
    /// The public listener (the links in emails).
    pub(crate) web: SocketAddr,
    pub(crate) store: Store,
    pub(crate) project: Project,
    pub(crate) _rt: tokio::runtime::Runtime,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: String,
    /// The body: JSON, or a string when it is not JSON (CSV).
    pub(crate) json: Value,
}

/// One request with a timeout on every socket operation (a hung server
/// fails the test).
pub(crate) fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    call_with(addr, method, path, token, body, "application/json")
}

/// `call` with a body of another media type (`text/csv`).
pub(crate) fn call_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    media: &str,
) -> Answer {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str(&format!("Content-Type: {media}\r\n"));
    }
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = if rest.is_empty() {
        Value::Null
    } else if !head
        .to_lowercase()
        .contains("content-type: application/json")
    {
        Value::String(rest.to_string())
    } else {
        serde_json::from_str(rest).unwrap_or_else(|e| panic!("{method} {path}: {e}: {rest}"))
    };
    Answer {
        status,
        headers: head.to_lowercase(),
        json,
    }
}

impl Api {
    /// The production wiring (`app::bind_admin`) on an ephemeral port, with
    /// settings loaded as the binary loads them, the token from the
    /// environment the settings read.
    pub(crate) fn start(project: Project, token: Option<&str>) -> Api {
        let path = project.path().join("gazette.toml");
        let mut env = HashMap::new();
        if let Some(t) = token {
            env.insert("GAZETTE_ADMIN_TOKEN".to_string(), t.to_string());
        }
        env.insert(
            "GAZETTE_ADMIN_LISTEN".to_string(),
            "127.0.0.1:0".to_string(),
        );
        let settings = config::load(&path, &env, &Default::default()).unwrap();
        assert_eq!(settings.web.admin_token.is_some(), token.is_some());
        let w = wire(&settings);
        Api {
            admin: w.admin.expect("the admin listener"),
            web: w.addr,
            store: w.store,
            project,
            _rt: w.rt,
        }
    }

    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        call(
            self.admin,
            method,
            &format!("/api/v1{path}"),
            Some(TOKEN),
            body,
        )
    }

    pub(crate) fn outbox(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.project.path().join("outbox"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

pub(crate) fn project() -> Project {
    let p = Project::new();
    p.post("one", "One", "2026-11-20", "First post.");
    p.post("two", "Two", "2026-11-21", "Second post.");
    p
}

/// The top-level required properties of schema `name` are all in `v`.
pub(crate) fn conforms(doc: &Value, name: &str, v: &Value) {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    for key in schema["required"].as_array().unwrap() {
        let key = key.as_str().unwrap();
        assert!(v.get(key).is_some(), "{name} lacks {key}: {v}");
    }
    let extra: Vec<&String> = v
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| schema["properties"].get(k.as_str()).is_none())
        .collect();
    assert!(extra.is_empty(), "{name} has undocumented fields {extra:?}");
}

#[test]
fn requests_without_the_right_token_are_refused() {
    let api = Api::start(project(), Some(TOKEN));
    for token in [None, Some("wrong"), Some("")] {
        let a = call(api.admin, "GET", "/api/v1/subscribers", token, None);
        assert_eq!(a.status, 401, "{token:?}");
        assert_eq!(a.json["error"]["code"], "unauthorized");
        assert!(a.headers.contains("www-authenticate: bearer"));
    }
    // Unknown paths too: nothing about the API without the token.
    let a = call(api.admin, "GET", "/api/v1/nothing", None, None);
    assert_eq!(a.status, 401);
    let a = call(api.admin, "GET", "/api/v1/nothing", Some(TOKEN), None);
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let a = call(api.admin, "PUT", "/api/v1/subscribers", Some(TOKEN), None);
    assert_eq!(a.status, 405);
    assert_eq!(a.json["error"]["code"], "method_not_allowed");

    // Without GAZETTE_ADMIN_TOKEN on the server, the API is off.
    let open = Api::start(project(), None);
    let a = call(open.admin, "GET", "/api/v1/subscribers", Some(TOKEN), None);
    assert_eq!(a.status, 401);
    assert!(a.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("GAZETTE_ADMIN_TOKEN"));
}

#[test]
fn subscribers_are_listed_added_edited_and_erased() {
    let api = Api::start(project(), Some(TOKEN));
    let doc = api.call("GET", "/openapi.json", None).json;
    let a = api.call("POST", "/subscribers", Some(r#"{"email": "Ann@Example.org", "name": "Ann", "confirmed": true, "attributes": {"city": "Oslo"}}"#));
    assert_eq!(a.status, 201, "{}", a.json);
    conforms(&doc, "Created", &a.json);
    conforms(&doc, "Subscriber", &a.json["subscriber"]);
    assert_eq!(a.json["outcome"], "active");
    assert_eq!(a.json["subscriber"]["attributes"]["city"], "Oslo");
    let ann = a.json["subscriber"]["id"].as_i64().unwrap();

    // Double opt-in: pending, and the confirmation email goes out.
    let b = api.call(
        "POST",
        "/subscribers",
        Some(r#"{"email": "bob@example.org"}"#),
    );
    assert_eq!(
        (b.status, b.json["outcome"].as_str()),
        (201, Some("confirmation_sent"))
    );
    assert_eq!(b.json["subscriber"]["status"], "pending");
    let mails = api.outbox();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("To: bob@example.org"), "{}", mails[0]);
    let bob = b.json["subscriber"]["id"].as_i64().unwrap();

    for (body, status, code) in [
        (r#"{"email": "ann@example.org"}"#, 409, "conflict"),
        (r#"{"email": "not an address"}"#, 422, "invalid"),
        (
            r#"{"email": "c@example.org", "frequency": "weekly"}"#,
            422,
            "invalid",
        ),
        (r#"{"name": "No address"}"#, 422, "invalid"),
        (r#"{"email": "#, 400, "bad_request"),
    ] {
        let a = api.call("POST", "/subscribers", Some(body));
        assert_eq!(
            (a.status, a.json["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {}",
            a.json
        );
    }

    // List: filters and paging.
    let all = api.call("GET", "/subscribers", None);
    conforms(&doc, "SubscriberPage", &all.json);
    assert_eq!(all.json["total"], 2);
    let active = api.call("GET", "/subscribers?status=active", None).json;
    assert_eq!(active["total"], 1);
    assert_eq!(active["subscribers"][0]["email"], "Ann@example.org");
    let q = api.call("GET", "/subscribers?q=BOB", None).json;
    assert_eq!(
        (q["total"].as_i64(), q["subscribers"][0]["id"].as_i64()),
        (Some(1), Some(bob))
    );
    let page2 = api.call("GET", "/subscribers?per_page=1&page=2", None).json;
    assert_eq!(page2["subscribers"].as_array().unwrap().len(), 1);
    assert_eq!(page2["subscribers"][0]["id"], bob);
    // `%` and `_` are text, not wildcards.
    assert_eq!(api.call("GET", "/subscribers?q=%25", None).json["total"], 0);
    for bad in [
        "?status=gone",
        "?page=0",
        "?per_page=5000",
        "?page=x",
        "?sort=id",
    ] {
        let a = api.call("GET", &format!("/subscribers{bad}"), None);
        assert_eq!(
            (a.status, a.json["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }

    // One, with its history.
    let one = api.call("GET", &format!("/subscribers/{ann}"), None);
    assert_eq!(one.status, 200);
    conforms(&doc, "SubscriberDetail", &one.json);
    assert_eq!(one.json["subscriber"]["name"], "Ann");
    let pending = api.call("GET", &format!("/subscribers/{bob}"), None).json;
    assert!(pending["confirm_sent_at"].is_string(), "{pending}");
    assert_eq!(api.call("GET", "/subscribers/999", None).status, 404);
    assert_eq!(api.call("GET", "/subscribers/abc", None).status, 400);

    // Edit: the name is one header-safe line; attributes merge, null removes.
    let e = api.call(
        "PATCH",
        &format!("/subscribers/{ann}"),
        Some("{\"name\": \"Ann\\r\\nBcc: evil@example.net\", \"attributes\": {\"plan\": \"pro\"}}"),
    );
    assert_eq!(e.status, 200, "{}", e.json);
    conforms(&doc, "Subscriber", &e.json);
    assert!(!e.json["name"].as_str().unwrap().contains('\n'));
    assert_eq!(e.json["attributes"], json!({"city": "Oslo", "plan": "pro"}));
    let e = api
        .call(
            "PATCH",
            &format!("/subscribers/{ann}"),
            Some(r#"{"name": null, "attributes": {"city": null}}"#),
        )
        .json;
    assert_eq!(
        (e["name"].clone(), e["attributes"].clone()),
        (Value::Null, json!({"plan": "pro"}))
    );
    let e = api.call(
        "PATCH",
        &format!("/subscribers/{ann}"),
        Some(r#"{"topics": ["Rust"], "frequency": "digest"}"#),
    );
    assert_eq!(e.status, 200, "{}", e.json);
    assert_eq!(
        (e.json["topics"].clone(), e.json["frequency"].clone()),
        (json!(["rust"]), json!("digest"))
    );
    assert_eq!(
        api.call("PATCH", "/subscribers/999", Some("{}")).status,
        404
    );

    // Erase: gone, and not added back by an operator.
    let d = api.call("DELETE", &format!("/subscribers/{ann}"), None);
    assert_eq!(d.status, 200);
    conforms(&doc, "Erased", &d.json);
    assert_eq!(d.json["erased"], true);
    assert_eq!(
        api.call("GET", &format!("/subscribers/{ann}"), None).status,
        404
    );
    assert_eq!(
        api.call("DELETE", &format!("/subscribers/{ann}"), None)
            .status,
        404
    );
    let again = api.call(
        "POST",
        "/subscribers",
        Some(r#"{"email": "ann@example.org", "confirmed": true}"#),
    );
    assert_eq!(again.status, 409);
    assert!(again.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("erased"));
    // An unsubscribed address is not made active by an operator either.
    api.project
        .run(&["subscribers", "unsubscribe", "bob@example.org"])
        .ok();
    let list = api
        .call("GET", "/subscribers?status=unsubscribed", None)
        .json;
    assert_eq!(list["total"], 1);
}

#[test]
fn campaigns_posts_and_worker_status() {
    let p = project();
    p.write("list.csv", "email\na@example.org\nb@example.org\n");
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    p.run(&["send", "post", "one", "--yes"]).ok();
    p.run(&["send", "post", "two", "--at", "2026-12-01 09:00", "--yes"])
        .ok();
    let api = Api::start(p, Some(TOKEN));
    let doc = api.call("GET", "/openapi.json", None).json;
    assert_eq!(api.outbox().len(), 2);

    let list = api.call("GET", "/campaigns", None);
    conforms(&doc, "CampaignList", &list.json);
    let cs = list.json["campaigns"].as_array().unwrap();
    assert_eq!(cs.len(), 2);
    conforms(&doc, "Campaign", &cs[0]);
    assert_eq!(
        (cs[0]["status"].as_str(), cs[0]["sent"].as_i64()),
        (Some("done"), Some(2))
    );
    assert_eq!(cs[1]["status"], "scheduled");
    assert!(cs[1]["scheduled_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-12-01T09:00:00"));
    assert_eq!(api.call("GET", "/campaigns/2", None).json["id"], 2);
    assert_eq!(api.call("GET", "/campaigns/99", None).status, 404);
    assert_eq!(api.call("GET", "/campaigns/x", None).status, 400);

    // Posts and their send state.
    let posts = api.call("GET", "/posts", None).json;
    conforms(&doc, "PostList", &posts);
    let by_slug = |s: &str| {
        posts["posts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["slug"] == s)
            .unwrap()
            .clone()
    };
    conforms(&doc, "Post", &by_slug("one"));
    assert_eq!(by_slug("one")["send_state"], "sent");
    assert_eq!(by_slug("one")["post_campaigns"][0]["campaign_id"], 1);
    assert_eq!(by_slug("two")["send_state"], "sending");

    // A subscriber's history lists the campaign that reached them.
    let a = api.call("GET", "/subscribers?q=a%40example.org", None).json;
    let id = a["subscribers"][0]["id"].as_i64().unwrap();
    let h = api.call("GET", &format!("/subscribers/{id}"), None).json;
    assert_eq!(h["deliveries"][0]["campaign_id"], 1, "{h}");
    assert_eq!(h["deliveries"][0]["status"], "sent");

    // The worker's status, as `gazette status --json`.
    let w = api.call("GET", "/worker", None).json;
    conforms(&doc, "WorkerStatus", &w);
    assert_eq!(w["campaigns_scheduled"][0]["id"], 2);

    // Controls: a finished campaign is not paused; a scheduled one is cancelled once.
    let a = api.call("POST", "/campaigns/1/pause", None);
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    assert!(a.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("is done and cannot be paused"));
    let c = api.call("POST", "/campaigns/2/cancel", None);
    assert_eq!(
        (c.status, c.json["status"].as_str()),
        (200, Some("cancelled"))
    );
    assert_eq!(api.call("POST", "/campaigns/2/cancel", None).status, 409);
    assert_eq!(api.call("POST", "/campaigns/2/resume", None).status, 409);
    assert_eq!(api.call("POST", "/campaigns/99/cancel", None).status, 404);

    // Pause and resume a campaign that waits for a worker.
    let id = api._rt.block_on(async {
        let prepared = api
            .store
            .campaign_prepared::<gazette::render::Prepared>(1)
            .await
            .unwrap();
        api.store
            .create_campaign(&prepared, &[], chrono::Utc::now())
            .await
            .unwrap()
            .0
    });
    let pz = api.call("POST", &format!("/campaigns/{id}/pause"), None);
    assert_eq!(
        (pz.status, pz.json["status"].as_str()),
        (200, Some("paused"))
    );
    let r = api.call("POST", &format!("/campaigns/{id}/resume"), None);
    assert_eq!((r.status, r.json["status"].as_str()), (200, Some("queued")));

    // A test of campaign 1's email to one address.
    let t = api.call(
        "POST",
        "/campaigns/1/test",
        Some(r#"{"email": "editor@example.org"}"#),
    );
    assert_eq!(t.status, 200, "{}", t.json);
    conforms(&doc, "TestSent", &t.json);
    let mails = api.outbox();
    assert_eq!(mails.len(), 3);
    assert!(
        mails
            .iter()
            .any(|m| m.contains("To: editor@example.org") && m.contains("Subject: Test Notes: One")),
        "{mails:?}"
    );
    assert_eq!(
        api.call("POST", "/campaigns/1/test", Some(r#"{"email": "nope"}"#))
            .status,
        422
    );
    assert_eq!(
        api.call("POST", "/campaigns/1/test", Some("{}")).status,
        422
    );
    assert_eq!(
        api.call(
            "POST",
            "/campaigns/99/test",
            Some(r#"{"email": "e@example.org"}"#)
        )
        .status,
        404
    );
}

#[test]
fn a_test_send_the_server_refuses_is_a_502() {
    let p = Project::with_config(&format!(
        "{}\n[smtp]\nurl = \"smtp://127.0.0.1:1\"\n",
        crate::helpers::CONFIG
    ));
    p.post("one", "One", "2026-11-20", "First post.");
    p.run(&["send", "post", "one", "--at", "2026-12-01 09:00", "--yes"])
        .ok();
    let api = Api::start(p, Some(TOKEN));
    let t = api.call(
        "POST",
        "/campaigns/1/test",
        Some(r#"{"email": "editor@example.org"}"#),
    );
    assert_eq!(
        (t.status, t.json["error"]["code"].as_str()),
        (502, Some("send_failed")),
        "{}",
        t.json
    );
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_served() {
    let api = Api::start(project(), Some(TOKEN));
    let doc = api.call("GET", "/openapi.json", None).json;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
            // Every schema it names exists.
            let text = op.to_string();
            for part in text.split("#/components/schemas/").skip(1) {
                let name = part.split('"').next().unwrap();
                assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
            }
            // The router answers it (not the fallbacks for unknown routes).
            let concrete = path.replace("{id}", "999999").replace("/api/v1", "");
            let body = op.get("requestBody").map(|_| "{}");
            let a = api.call(&method.to_uppercase(), &concrete, body);
            assert!(
                a.status != 405
                    && a.json["error"]["message"]
                        .as_str()
                        .is_none_or(|m| !m.starts_with("no endpoint")),
                "{method} {path}: {} {}",
                a.status,
                a.json
            );
        }
    }
    let expected: BTreeSet<String> = [
        "GET /api/v1/subscribers",
        "POST /api/v1/subscribers",
        "POST /api/v1/subscribers/import",
        "GET /api/v1/subscribers/export",
        "GET /api/v1/bounces",
        "POST /api/v1/campaigns",
        "GET /api/v1/subscribers/{id}",
        "PATCH /api/v1/subscribers/{id}",
        "DELETE /api/v1/subscribers/{id}",
        "GET /api/v1/campaigns",
        "GET /api/v1/campaigns/{id}",
        "POST /api/v1/campaigns/{id}/pause",
        "POST /api/v1/campaigns/{id}/resume",
        "POST /api/v1/campaigns/{id}/cancel",
        "POST /api/v1/campaigns/{id}/test",
        "GET /api/v1/posts",
        "GET /api/v1/worker",
        "GET /api/v1/openapi.json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, expected);
    // And the router serves nothing else: a neighbouring method is refused.
    for (method, path) in [
        ("DELETE", "/campaigns/1"),
        ("POST", "/posts"),
        ("PUT", "/subscribers/1"),
        ("GET", "/campaigns/1/pause"),
    ] {
        assert_eq!(api.call(method, path, None).status, 405, "{method} {path}");
    }
}

#[test]
fn a_test_send_to_someone_who_left_is_refused() {
    let p = project();
    p.run(&["send", "post", "one", "--at", "2026-12-01 09:00", "--yes"])
        .ok();
    p.run(&["subscribers", "add", "left@example.org", "--confirmed"])
        .ok();
    p.run(&["subscribers", "unsubscribe", "left@example.org"])
        .ok();
    p.run(&["subscribers", "add", "gone@example.org", "--confirmed"])
        .ok();
    p.run(&["subscribers", "remove", "gone@example.org"]).ok();
    let api = Api::start(p, Some(TOKEN));
    for addr in ["left@example.org", "gone@example.org"] {
        let t = api.call(
            "POST",
            "/campaigns/1/test",
            Some(&format!(r#"{{"email": "{addr}"}}"#)),
        );
        assert_eq!(t.status, 409, "{addr}: {}", t.json);
    }
    assert!(api.outbox().is_empty(), "{:?}", api.outbox());
}
