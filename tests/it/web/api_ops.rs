//! The admin API does what the CLI does (issue 27): campaigns sent in the
//! background with the worker's safety (canary), imports and exports of
//! the CLI's formats, the bounce log, preferences; an export -> import
//! round trip that keeps every column; test sends whose links work; and
//! the OpenAPI document checked by an independent validator.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{Project, CONFIG};
use crate::http;
use crate::web::api::{call_with, conforms, project, Api, TOKEN};

/// Poll campaign `id` until `done` (or fail after 30 s).
fn wait_done(api: &Api, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = api.call("GET", &format!("/campaigns/{id}"), None).json;
        if c["status"] == "done" {
            return c;
        }
        assert!(Instant::now() < deadline, "campaign {id} not done: {c}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn import_list(p: &Project, n: usize) {
    let mut csv = String::from("email\n");
    for i in 0..n {
        csv.push_str(&format!("r{i}@example.org\n"));
    }
    p.write("list.csv", csv);
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
}

#[test]
fn a_post_is_sent_through_the_api_in_the_background() {
    let p = project();
    import_list(&p, 3);
    let api = Api::start(p, Some(TOKEN));
    let doc = api.call("GET", "/openapi.json", None).json;

    // The dry run: the report, nothing sent or stored.
    let d = api.call(
        "POST",
        "/campaigns",
        Some(r#"{"post": "one", "dry_run": true}"#),
    );
    assert_eq!(d.status, 200, "{}", d.json);
    conforms(&doc, "DryRun", &d.json);
    assert_eq!(d.json["recipients"], 3);
    assert_eq!(d.json["posts"], json!(["one"]));
    assert!(d.json["since_last"].is_null(), "{}", d.json);
    assert!(api.outbox().is_empty());
    assert_eq!(
        api.call("GET", "/campaigns", None).json["campaigns"],
        json!([])
    );

    let a = api.call("POST", "/campaigns", Some(r#"{"post": "one"}"#));
    assert_eq!(a.status, 202, "{}", a.json);
    conforms(&doc, "CampaignStarted", &a.json);
    let id = a.json["id"].as_i64().unwrap();
    assert!(a
        .headers
        .contains(&format!("location: /api/v1/campaigns/{id}")));
    let c = wait_done(&api, id);
    assert_eq!(
        (c["sent"].as_i64(), c["total"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(api.outbox().len(), 3);

    // As the CLI: a post already sent is refused, unless forced.
    let again = api.call("POST", "/campaigns", Some(r#"{"post": "one"}"#));
    assert_eq!(again.status, 409, "{}", again.json);
    assert!(again.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("\"force\": true"));
    // The dry run now shows what changed since that campaign.
    let d = api.call(
        "POST",
        "/campaigns",
        Some(r#"{"post": "one", "dry_run": true}"#),
    );
    assert_eq!(d.json["since_last"]["campaign_id"], id, "{}", d.json);
    let forced = api.call(
        "POST",
        "/campaigns",
        Some(r#"{"post": "one", "force": true}"#),
    );
    assert_eq!(forced.status, 202, "{}", forced.json);
    wait_done(&api, forced.json["id"].as_i64().unwrap());
    assert_eq!(api.outbox().len(), 6);

    // Scheduled: waits for the worker.
    let s = api.call(
        "POST",
        "/campaigns",
        Some(r#"{"post": "two", "at": "2099-01-01T09:00:00+01:00"}"#),
    );
    assert_eq!(
        (s.status, s.json["status"].as_str()),
        (202, Some("scheduled")),
        "{}",
        s.json
    );
    assert!(s.json["scheduled_at"]
        .as_str()
        .unwrap()
        .starts_with("2099-01-01T08:00:00"));

    // Errors name the field.
    for (body, status, needle) in [
        (r#"{"post": "nope"}"#, 404, "no post with slug"),
        (r#"{}"#, 422, "post, digest"),
        (r#"{"post": "one", "digest": {}}"#, 422, "post, digest"),
        (r#"{"post": "two", "at": "tomorrow"}"#, 422, "at:"),
        (
            r#"{"post": "two", "at": "2001-01-01T00:00:00Z"}"#,
            422,
            "at:",
        ),
        (
            r#"{"post": "two", "at": "2099-01-01T00:00:00Z", "canary": 5}"#,
            422,
            "canary:",
        ),
        (r#"{"digest": {"since": "soon"}}"#, 422, "digest.since"),
        (r#"{"post": "two", "colour": "red"}"#, 422, "colour"),
        (r#"{"post": "#, 400, ""),
    ] {
        let a = api.call("POST", "/campaigns", Some(body));
        assert_eq!(a.status, status, "{body}: {}", a.json);
        let m = a.json["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains(needle), "{body}: {m}");
    }
    assert_eq!(api.outbox().len(), 6);
}

#[test]
fn a_digest_through_the_api_and_nothing_new_after_it() {
    let p = project();
    import_list(&p, 2);
    let api = Api::start(p, Some(TOKEN));
    let w = r#"{"digest": {"since": "2026-11-01", "until": "2026-11-30"}}"#;
    let a = api.call("POST", "/campaigns", Some(w));
    assert_eq!(a.status, 202, "{}", a.json);
    let c = wait_done(&api, a.json["id"].as_i64().unwrap());
    assert_eq!(c["kind"], "digest");
    assert_eq!(c["posts"].as_array().unwrap().len(), 2, "{c}");
    let none = api.call(
        "POST",
        "/campaigns",
        Some(r#"{"digest": {"since": "2026-10-01", "until": "2026-10-30"}}"#),
    );
    assert_eq!(
        (none.status, none.json["error"]["code"].as_str()),
        (422, Some("nothing_to_send")),
        "{}",
        none.json
    );
    // The same posts again: refused, unless forced.
    assert_eq!(api.call("POST", "/campaigns", Some(w)).status, 409);
    let f = r#"{"digest": {"since": "2026-11-01", "until": "2026-11-30", "force": true}}"#;
    let forced = api.call("POST", "/campaigns", Some(f));
    assert_eq!(forced.status, 202, "{}", forced.json);
    wait_done(&api, forced.json["id"].as_i64().unwrap());
    assert_eq!(api.outbox().len(), 4);
}

#[test]
fn an_api_campaign_keeps_the_canary_of_its_request() {
    let p = Project::with_config(&format!("{CONFIG}\n[send]\ncanary_wait = \"1s\"\n"));
    p.post("one", "One", "2026-11-20", "First post.");
    import_list(&p, 30);
    let api = Api::start(p, Some(TOKEN));
    let a = api.call(
        "POST",
        "/campaigns",
        Some(r#"{"post": "one", "canary": 3}"#),
    );
    assert_eq!(a.status, 202, "{}", a.json);
    let id = a.json["id"].as_i64().unwrap();
    let c = wait_done(&api, id);
    assert_eq!(c["sent"], 30, "{c}");
    let canary = api._rt.block_on(api.store.canary(id)).unwrap();
    assert_eq!(canary.size, Some(3), "the canary went first");
}

#[test]
fn subscribers_are_imported_exported_and_their_bounces_listed() {
    let p = Project::with_config(&format!(
        "{CONFIG}\n[topics]\nrust = \"Rust\"\ngo = \"Go\"\n"
    ));
    let api = Api::start(p, Some(TOKEN));
    let doc = api.call("GET", "/openapi.json", None).json;
    let csv = "email,name,city\nann@example.org,Ann,Oslo\nbob@example.org,,\nnot-an-address,,\n";
    let post = |query: &str, body: &str| {
        call_with(
            api.admin,
            "POST",
            &format!("/api/v1/subscribers/import{query}"),
            Some(TOKEN),
            Some(body),
            "text/csv",
        )
    };
    let dry = post("?confirmed=true&dry_run=true", csv);
    assert_eq!(dry.status, 200, "{}", dry.json);
    conforms(&doc, "ImportReport", &dry.json);
    assert_eq!(
        (dry.json["dry_run"].as_bool(), dry.json["new"].as_u64()),
        (Some(true), Some(2))
    );
    assert_eq!(api.call("GET", "/subscribers", None).json["total"], 0);
    let r = post("?confirmed=true", csv);
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        (
            r.json["new"].as_u64(),
            r.json["active"].as_u64(),
            r.json["invalid"].as_u64()
        ),
        (Some(2), Some(2), Some(1)),
        "{}",
        r.json
    );
    assert_eq!(r.json["errors"][0]["line"], 4);
    assert_eq!(r.json["format"], "generic");
    // Another tool's export, recognised by its columns as the CLI does.
    let mc = "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,LEID,EUID\ncat@example.org,Cat,Lee,2,2024-01-01 10:00:00,2024-01-01 10:01:00,1,abc\n";
    let m = post("", mc);
    assert_eq!(
        (m.status, m.json["format"].as_str()),
        (200, Some("mailchimp")),
        "{}",
        m.json
    );
    for (q, body, status) in [
        ("", "", 422),
        ("", "name\nx\n", 422),
        ("?confirmed=maybe", csv, 400),
        ("?colour=red", csv, 400),
    ] {
        assert_eq!(post(q, body).status, status, "{q} {body:?}");
    }

    // Added through the API: source api. Preferences through PATCH.
    let d = api.call(
        "POST",
        "/subscribers",
        Some(r#"{"email": "dee@example.org", "confirmed": true}"#),
    );
    assert_eq!(d.json["subscriber"]["source"], "api", "{}", d.json);
    let dee = d.json["subscriber"]["id"].as_i64().unwrap();
    let e = api.call(
        "PATCH",
        &format!("/subscribers/{dee}"),
        Some(r#"{"frequency": "each", "topics": ["go", "rust"]}"#),
    );
    assert_eq!(e.status, 200, "{}", e.json);
    for (body, needle) in [
        (r#"{"frequency": "weekly"}"#, "frequency:"),
        (r#"{"topics": ["cooking"]}"#, "topics:"),
        (r#"{"topics": "rust"}"#, "topics"),
    ] {
        let a = api.call("PATCH", &format!("/subscribers/{dee}"), Some(body));
        assert_eq!(a.status, 422, "{body}: {}", a.json);
        assert!(
            a.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{}",
            a.json
        );
    }
    let back = api.call(
        "PATCH",
        &format!("/subscribers/{dee}"),
        Some(r#"{"frequency": null}"#),
    );
    assert_eq!(
        (back.json["frequency"].clone(), back.json["topics"].clone()),
        (Value::Null, json!(["go", "rust"]))
    );

    // The export: the CLI's CSV, every column, with the status filter.
    let x = api.call("GET", "/subscribers/export?status=active", None);
    assert_eq!(x.status, 200);
    assert!(
        x.headers.contains("content-type: text/csv"),
        "{}",
        x.headers
    );
    let text = x.json.as_str().unwrap().to_string();
    assert!(text.starts_with("email,name,status,created_at,confirmed_at,unsubscribed_at,source,attributes,frequency,topics\r\n"), "{text}");
    assert!(
        text.contains("dee@example.org,,active,") && text.contains(",api,,,\"go,rust\"\r\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    api.project
        .run(&[
            "subscribers",
            "export",
            "-o",
            "cli.csv",
            "--status",
            "active",
        ])
        .ok();
    let cli = std::fs::read_to_string(api.project.path().join("cli.csv")).unwrap();
    assert_eq!(cli, text, "the API's export is the CLI's");
    assert_eq!(
        api.call("GET", "/subscribers/export?status=gone", None)
            .status,
        400
    );

    // The bounce log, paged.
    let empty = api.call("GET", "/bounces", None);
    assert_eq!(empty.status, 200);
    conforms(&doc, "BouncePage", &empty.json);
    assert_eq!(empty.json["total"], 0);
    let corpus = crate::bounces::corpus();
    let hard = "userunknown@example.co.jp";
    post(
        "?confirmed=true",
        &format!("email\n{hard}\nuser@example.com\n"),
    );
    api.project
        .run(&[
            "bounces",
            "process",
            corpus.join("postfix-01.eml").to_str().unwrap(),
            corpus.join("arf-01.eml").to_str().unwrap(),
        ])
        .ok();
    let all = api.call("GET", "/bounces", None).json;
    assert_eq!(all["total"], 2, "{all}");
    conforms(&doc, "Bounce", &all["bounces"][0]);
    let kinds: Vec<&str> = all["bounces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"hard") && kinds.contains(&"complaint"),
        "{kinds:?}"
    );
    let page = api.call("GET", "/bounces?per_page=1&page=2", None).json;
    assert_eq!(page["bounces"].as_array().unwrap().len(), 1);
    assert_eq!(page["bounces"][0]["id"], all["bounces"][1]["id"]);
    assert_eq!(
        api.call("GET", "/bounces?since=2999-01-01", None).json["total"],
        0
    );
    for bad in ["?since=soon", "?page=0", "?per_page=0"] {
        assert_eq!(
            api.call("GET", &format!("/bounces{bad}"), None).status,
            400,
            "{bad}"
        );
    }
}

#[test]
fn an_export_imported_elsewhere_keeps_every_column() {
    let p = Project::with_config(&format!(
        "{CONFIG}\n[topics]\nrust = \"Rust\"\ngo = \"Go\"\n"
    ));
    p.write(
        "list.csv",
        "email,name,city\na@example.org,\"Lee, A\",Oslo\nb@example.org,,\nc@example.org,Cé \"Q\",Rome\n",
    );
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    p.run(&["subscribers", "add", "p@example.org"]).ok();
    p.run(&["subscribers", "unsubscribe", "b@example.org"]).ok();
    p.run(&[
        "subscribers",
        "set",
        "a@example.org",
        "--frequency",
        "digest",
        "--topics",
        "rust,go",
    ])
    .ok();
    p.run(&["subscribers", "set", "c@example.org", "--frequency", "each"])
        .ok();
    let source = Api::start(p, Some(TOKEN));
    source.call(
        "POST",
        "/subscribers",
        Some(r#"{"email": "api@example.org", "confirmed": true, "attributes": {"plan": "pro"}}"#),
    );
    let first = source
        .call("GET", "/subscribers/export", None)
        .json
        .as_str()
        .unwrap()
        .to_string();
    assert!(first.contains(",digest,\"rust,go\"\r\n"), "{first}");
    assert!(
        first.contains(",api,\"{\"\"plan\"\":\"\"pro\"\"}\",,\r\n"),
        "{first}"
    );

    // Through the API into an empty installation...
    let q = Project::with_config(&format!(
        "{CONFIG}\n[topics]\nrust = \"Rust\"\ngo = \"Go\"\n"
    ));
    let target = Api::start(q, Some(TOKEN));
    let r = call_with(
        target.admin,
        "POST",
        "/api/v1/subscribers/import",
        Some(TOKEN),
        Some(&first),
        "text/csv",
    );
    assert_eq!(
        (r.status, r.json["new"].as_u64()),
        (200, Some(5)),
        "{}",
        r.json
    );
    let second = target
        .call("GET", "/subscribers/export", None)
        .json
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(second, first);
    // ... and through the CLI into another.
    let z = Project::with_config(&format!(
        "{CONFIG}\n[topics]\nrust = \"Rust\"\ngo = \"Go\"\n"
    ));
    z.write("backup.csv", &first);
    z.run(&["subscribers", "import", "backup.csv"]).ok();
    let out = z.run(&["subscribers", "export"]);
    assert_eq!(out.ok().stdout(), first);
    // The preferences are preferences again, not attributes.
    let list = z.run(&["subscribers", "list", "--json"]);
    assert!(
        !list.ok().stdout().contains("frequency"),
        "{}",
        list.stdout()
    );
}

/// The links of the text part of an email (quoted-printable decoded).
fn links(mail: &str) -> Vec<String> {
    let text = http::decode_qp(mail);
    text.split_whitespace()
        .filter(|w| w.starts_with("http://127.0.0.1:9/"))
        .map(|w| {
            w.trim_end_matches(['"', '>', '<'])
                .replace("http://127.0.0.1:9", "")
        })
        .collect()
}

fn get(api: &Api, path: &str) -> http::Response {
    http::request(api.web, "GET", path, &[("Accept", "text/html")], b"")
}

#[test]
fn test_sends_have_links_that_work() {
    let p = Project::with_config(&format!("{CONFIG}\n[archive]\nenabled = true\n"));
    p.post("one", "One", "2026-11-20", "First post.");
    p.run(&["subscribers", "add", "sub@example.org", "--confirmed"])
        .ok();
    let api = Api::start(p, Some(TOKEN));
    // A preview has no empty "View in browser" line.
    let preview = api
        .project
        .run(&["preview", "post", "one", "--format", "text"]);
    assert!(
        !preview.ok().stdout().contains("View in browser"),
        "{}",
        preview.stdout()
    );

    // To an address that is not on the list.
    api.project
        .run(&["send", "post", "one", "--to", "editor@example.org"])
        .ok();
    let mail = api.outbox().pop().unwrap();
    assert!(
        !mail.contains("/test\r\n") && !mail.contains("unsubscribe/test\""),
        "{mail}"
    );
    let found = links(&mail);
    let view = found
        .iter()
        .find(|l| l.starts_with("/archive/test/"))
        .unwrap_or_else(|| panic!("{found:?}"));
    let page = get(&api, view);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("First post."), "{}", page.body);
    let unsub = found
        .iter()
        .find(|l| l.starts_with("/unsubscribe/"))
        .unwrap();
    let prefs = found
        .iter()
        .find(|l| l.starts_with("/preferences/"))
        .unwrap();
    for path in [unsub, prefs] {
        let r = get(&api, path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(
            r.body.contains("test") && r.body.contains("editor@example.org"),
            "{}",
            r.body
        );
    }
    // A mail client's one-click POST changes nothing either.
    let one_click = http::request(
        api.web,
        "POST",
        unsub,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"List-Unsubscribe=One-Click",
    );
    assert_eq!(one_click.status, 200);
    assert_eq!(api.call("GET", "/subscribers", None).json["total"], 1);
    // A made-up test token is an unknown link.
    assert_eq!(
        get(&api, "/unsubscribe/test-0123456789abcdef0123456789abcdef").status,
        404
    );
    assert_eq!(
        get(&api, "/archive/test/test-0123456789abcdef0123456789abcdef").status,
        404
    );

    // To a subscriber: their own links.
    api.project
        .run(&["send", "post", "one", "--to", "sub@example.org"])
        .ok();
    let mail = api
        .outbox()
        .into_iter()
        .find(|m| m.contains("To: sub@example.org"))
        .unwrap();
    let found = links(&mail);
    let unsub = found
        .iter()
        .find(|l| l.starts_with("/unsubscribe/"))
        .unwrap();
    assert!(!unsub.contains("test-"), "{unsub}");
    let page = get(&api, unsub);
    assert!(
        page.status == 200 && page.body.contains("sub@example.org"),
        "{}",
        page.body
    );
    assert!(
        get(
            &api,
            found
                .iter()
                .find(|l| l.starts_with("/archive/test/"))
                .unwrap()
        )
        .status
            == 200
    );
}

#[test]
fn the_openapi_document_passes_an_independent_validator() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        crate::helpers::skip_or_fail(
            "openapi-spec-validator",
            "run scripts/setup/openapi.sh (pip install openapi-spec-validator)",
        );
        return;
    }
    let api = Api::start(project(), Some(TOKEN));
    let doc = api.call("GET", "/openapi.json", None).json;
    let file = api.project.write("openapi.json", doc.to_string());
    let mut cmd = std::process::Command::new("python3");
    cmd.args([
        "-c",
        "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
        file.to_str().unwrap(),
    ]);
    let out = crate::helpers::run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.stdout().contains("valid"),
        "{}{}",
        out.stdout(),
        out.stderr()
    );
}

/// The real binary: `serve` and `worker` both run what the API starts.
#[test]
fn serve_and_worker_send_what_the_api_starts() {
    for (command, slug) in [("serve", "one"), ("worker", "two")] {
        let p = project();
        import_list(&p, 2);
        let s = crate::security::start(&p, command, &[("GAZETTE_ADMIN_TOKEN", TOKEN)]);
        let body = format!(r#"{{"post": "{slug}", "force": true}}"#);
        let a = crate::web::api::call(
            s.admin,
            "POST",
            "/api/v1/campaigns",
            Some(TOKEN),
            Some(&body),
        );
        assert_eq!(a.status, 202, "{command}: {}", a.json);
        let id = a.json["id"].as_i64().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let path = format!("/api/v1/campaigns/{id}");
            let c = crate::web::api::call(s.admin, "GET", &path, Some(TOKEN), None).json;
            if c["status"] == "done" {
                assert_eq!(c["sent"], 2, "{command}: {c}");
                break;
            }
            assert!(Instant::now() < deadline, "{command}: not done: {c}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mails = std::fs::read_dir(p.path().join("outbox")).unwrap().count();
        assert_eq!(mails, 2, "{command}");
    }
}
