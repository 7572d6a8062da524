//! Imports of real export forms (tests/fixtures/imports/) through the real
//! binary: each tool's states are kept, only subscribed rows become active.

use serde_json::Value;

use crate::helpers::Project;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/imports");

fn fixture(p: &Project, name: &str) -> String {
    let src = std::path::Path::new(FIXTURES).join(name);
    std::fs::copy(&src, p.path().join(name)).unwrap();
    name.to_string()
}

/// `subscribers import FILE --confirmed --json`, which must succeed.
fn import_json(p: &Project, file: &str, extra: &[&str]) -> Value {
    let mut args = vec!["subscribers", "import", file, "--confirmed", "--json"];
    args.extend_from_slice(extra);
    let out = p.run(&args);
    out.ok();
    serde_json::from_str(&out.stdout()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout()))
}

/// The addresses `subscribers list --status S` shows.
fn listed(p: &Project, status: &str) -> Vec<String> {
    let out = p.run(&["subscribers", "list", "--status", status, "--json"]);
    out.ok();
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    let mut emails: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["email"].as_str().unwrap().to_string())
        .collect();
    emails.sort();
    emails
}

fn counts(r: &Value) -> [u64; 7] {
    [
        "active",
        "pending",
        "unsubscribed",
        "bounced",
        "complained",
        "skipped",
        "invalid",
    ]
    .map(|k| r[k].as_u64().unwrap_or_else(|| panic!("no {k} in {r}")))
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Each state's addresses after importing one tool's fixture.
struct Expect<'a> {
    file: &'a str,
    format: &'a str,
    counts: [u64; 7],
    active: &'a [&'a str],
    pending: &'a [&'a str],
    unsubscribed: &'a [&'a str],
    bounced: &'a [&'a str],
    complained: &'a [&'a str],
}

fn check(e: Expect<'_>) {
    let p = Project::new();
    let file = fixture(&p, e.file);
    let r = import_json(&p, &file, &[]);
    assert_eq!(r["format"], e.format, "{r}");
    assert_eq!(counts(&r), e.counts, "{}: {r}", e.file);
    for (status, want) in [
        ("active", e.active),
        ("pending", e.pending),
        ("unsubscribed", e.unsubscribed),
        ("bounced", e.bounced),
        ("complained", e.complained),
    ] {
        assert_eq!(listed(&p, status), sorted(want), "{} {status}", e.file);
    }
    // Importing the same export again changes nothing.
    let again = import_json(&p, &file, &[]);
    assert_eq!(again["unchanged"], r["valid"], "{again}");
    assert_eq!(counts(&again), e.counts, "{again}");
}

#[test]
fn mailchimp_subscribed_unsubscribed_and_cleaned_exports() {
    let p = Project::new();
    let sub = fixture(&p, "mailchimp_subscribed.csv");
    let unsub = fixture(&p, "mailchimp_unsubscribed.csv");
    let clean = fixture(&p, "mailchimp_cleaned.csv");
    let r = import_json(&p, &sub, &[]);
    assert_eq!(r["format_name"], "Mailchimp (subscribed export)");
    assert_eq!(counts(&r), [3, 0, 0, 0, 0, 0, 0]);
    let r = import_json(&p, &unsub, &[]);
    assert_eq!(r["format_name"], "Mailchimp (unsubscribed export)");
    assert_eq!(counts(&r), [0, 0, 2, 0, 2, 0, 0]);
    let r = import_json(&p, &clean, &[]);
    assert_eq!(r["format_name"], "Mailchimp (cleaned export)");
    assert_eq!(counts(&r), [0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(
        listed(&p, "active"),
        sorted(&[
            "ada.reader@example.com",
            "bo.single@example.com",
            "cy.tags@example.org"
        ])
    );
    assert_eq!(
        listed(&p, "unsubscribed"),
        sorted(&["dee.left@example.com", "ed.admin@example.com"])
    );
    assert_eq!(
        listed(&p, "complained"),
        sorted(&["flo.complaint@example.com", "gus.survey@example.com"])
    );
    assert_eq!(
        listed(&p, "bounced"),
        sorted(&["hal.gone@example.net", "ivy.full@example.net"])
    );
    // Original times, names, and the other columns as attributes.
    let out = p.run(&["subscribers", "show", "ada.reader@example.com", "--json"]);
    out.ok();
    let ada: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(ada["name"], "Ada Reader");
    assert_eq!(ada["created_at"], "2021-03-01T09:00:00Z");
    assert_eq!(ada["confirmed_at"], "2021-03-01T09:02:10Z");
    assert_eq!(ada["attributes"]["MEMBER_RATING"], "4");
    assert_eq!(ada["attributes"]["TAGS"], "\"Early readers\"");
    let out = p.run(&["subscribers", "show", "dee.left@example.com", "--json"]);
    let dee: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(dee["unsubscribed_at"], "2023-02-14T18:20:11Z");
    assert_eq!(dee["left"]["how"], "unsubscribed");
    // Someone who left is never made active by importing an older export.
    p.write(
        "old.csv",
        "Email Address,MEMBER_RATING\nflo.complaint@example.com,5\nhal.gone@example.net,5\n",
    );
    let r = import_json(&p, "old.csv", &[]);
    assert_eq!(counts(&r), [0, 0, 0, 1, 1, 0, 0], "{r}");
    assert_eq!(listed(&p, "active").len(), 3);
}

#[test]
fn mailchimp_non_subscribed_contacts_never_become_active() {
    // Same columns as the subscribed export; only the file name differs.
    let p = Project::new();
    let src = std::path::Path::new(FIXTURES).join("mailchimp_subscribed.csv");
    let name = "nonsubscribed_members_export_2f1a.csv";
    std::fs::copy(src, p.path().join(name)).unwrap();
    let r = import_json(&p, name, &[]);
    assert_eq!(
        r["format_name"],
        "Mailchimp (non-subscribed export: never opted in, kept pending)"
    );
    assert_eq!(counts(&r), [0, 3, 0, 0, 0, 0, 0], "{r}");
}

#[test]
fn substack_export() {
    check(Expect {
        file: "substack.csv",
        format: "substack",
        counts: [2, 0, 2, 0, 0, 0, 0],
        active: &["jo.free@example.com", "kai.paid@example.com"],
        pending: &[],
        // Substack writes one flag for every address it stopped mailing.
        unsubscribed: &["lu.disabled@example.com", "mo.bounced@example.org"],
        bounced: &[],
        complained: &[],
    });
}

#[test]
fn ghost_members_export() {
    check(Expect {
        file: "ghost_members.csv",
        format: "ghost",
        counts: [2, 0, 2, 0, 0, 0, 0],
        active: &["nia.member@example.com", "oz.paid@example.com"],
        pending: &[],
        unsubscribed: &["pat.off@example.com", "quin.spam@example.org"],
        bounced: &[],
        complained: &[],
    });
}

#[test]
fn buttondown_export() {
    check(Expect {
        file: "buttondown.csv",
        format: "buttondown",
        counts: [2, 1, 1, 1, 1, 0, 0],
        active: &["rae.regular@example.com", "sam.premium@example.com"],
        pending: &["tia.unactivated@example.com"],
        unsubscribed: &["uma.unsub@example.com"],
        bounced: &["vic.undeliverable@example.net"],
        complained: &["wes.complained@example.org"],
    });
}

#[test]
fn listmonk_export_has_no_invalid_rows() {
    check(Expect {
        file: "listmonk.csv",
        format: "listmonk",
        counts: [2, 0, 2, 0, 0, 0, 0],
        active: &["xia.enabled@example.com", "yan.also@example.com"],
        pending: &[],
        unsubscribed: &["zed.disabled@example.com", "ann.blocked@example.org"],
        bounced: &[],
        complained: &[],
    });
    let p = Project::new();
    let file = fixture(&p, "listmonk.csv");
    import_json(&p, &file, &[]);
    let out = p.run(&["subscribers", "show", "yan.also@example.com", "--json"]);
    let yan: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(yan["name"], "Lee, Yan");
    assert_eq!(yan["created_at"], "2024-01-03T10:00:00Z", "Go's +0530 IST");
    let out = p.run(&["subscribers", "show", "xia.enabled@example.com", "--json"]);
    let xia: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(xia["attributes"]["city"], "Oslo");
    assert_eq!(xia["attributes"]["plan"]["tier"], 2);
}

#[test]
fn kit_export() {
    check(Expect {
        file: "kit.csv",
        format: "kit",
        counts: [1, 1, 1, 1, 1, 0, 0],
        active: &["ben.active@example.com"],
        pending: &["cat.inactive@example.com"],
        unsubscribed: &["dan.cancelled@example.com"],
        bounced: &["eve.bounced@example.net"],
        complained: &["fay.complained@example.org"],
    });
}

#[test]
fn beehiiv_export() {
    check(Expect {
        file: "beehiiv.csv",
        format: "beehiiv",
        counts: [2, 1, 2, 1, 0, 0, 0],
        active: &["gil.active@example.com", "hana.premium@example.com"],
        pending: &["kim.pending@example.com"],
        unsubscribed: &["ike.inactive@example.com", "jan.left@example.com"],
        bounced: &["lev.invalid@example.net"],
        complained: &[],
    });
}

#[test]
fn without_confirmed_nobody_becomes_active() {
    let p = Project::new();
    let file = fixture(&p, "buttondown.csv");
    let out = p.run(&["subscribers", "import", &file, "--json"]);
    out.ok();
    let r: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(counts(&r), [0, 3, 1, 1, 1, 0, 0], "{r}");
    assert!(listed(&p, "active").is_empty());
    // The counts are of the state each address ends in: one already active
    // stays active, one that left stays out.
    p.write("plain.csv", "email\nrae.regular@example.com\n");
    p.run(&["subscribers", "import", "plain.csv", "--confirmed"])
        .ok();
    p.write("again.csv", "email,subscriber_type\nrae.regular@example.com,regular\numa.unsub@example.com,regular\nnew@example.com,regular\n");
    let out = p.run(&["subscribers", "import", "again.csv", "--json"]);
    let r: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(counts(&r), [1, 1, 1, 0, 0, 0, 0], "{r}");
}

#[test]
fn dry_run_reports_the_same_and_writes_nothing() {
    let p = Project::new();
    let file = fixture(&p, "kit.csv");
    p.run(&["db", "migrate"]).ok();
    let db = p.path().join("gazette.db");
    let before = std::fs::read(&db).unwrap();
    let dry = import_json(&p, &file, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&dry), [1, 1, 1, 1, 1, 0, 0]);
    let count = p.run(&["subscribers", "count", "--json"]);
    let c: Value = serde_json::from_str(&count.stdout()).unwrap();
    assert_eq!(c["total"], 0, "a dry run writes nothing");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    // The text report says the same, per format.
    let out = p.run(&["subscribers", "import", &file, "--confirmed", "--dry-run"]);
    out.ok();
    let text = out.stdout();
    assert!(text.contains("kit.csv: Kit (ConvertKit)"), "{text}");
    assert!(
        text.contains("dry run, nothing changed: 1 active, 1 pending, 1 unsubscribed, 1 bounced, 1 complained, 0 skipped (erased earlier), 0 invalid"),
        "{text}"
    );
    let real = import_json(&p, &file, &[]);
    assert_eq!(counts(&real), counts(&dry));
    assert_eq!(real["new"], dry["new"]);
}

#[test]
fn unknown_formats_fall_back_to_generic_columns_and_say_so() {
    let p = Project::new();
    p.write(
        "mine.csv",
        "E-mail,Full Name,Status,Town\na@example.com,A,unsubscribed,Oslo\nb@example.com,B,,Rome\nc@example.com,C,weird,Paris\n\"\"\"q@x\"\"@example.com\",Q,,\n",
    );
    let out = p.run(&["subscribers", "import", "mine.csv", "--confirmed"]);
    out.fails_with("mine.csv:4: unknown Status \"weird\"");
    out.fails_with("mine.csv:5: \"\\\"q@x\\\"@example.com\" is not a valid email address");
    let text = out.stdout();
    assert!(
        text.contains("mine.csv: generic CSV (email, name,"),
        "{text}"
    );
    assert!(
        text.contains("1 active, 0 pending, 1 unsubscribed, 0 bounced, 0 complained, 0 skipped (erased earlier), 2 invalid"),
        "{text}"
    );
}

#[test]
fn huge_imported_names_are_capped_and_headers_stay_short() {
    let p = Project::new();
    let name = "Zoë ".repeat(250_000);
    p.write("big.csv", format!("email,name\nbig@example.com,{name}\n"));
    p.run(&["subscribers", "import", "big.csv", "--confirmed"])
        .ok();
    let out = p.run(&["subscribers", "show", "big@example.com", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(
        v["name"].as_str().unwrap().chars().count(),
        199,
        "200, trailing space trimmed"
    );
    let long = "x".repeat(5000);
    p.run(&[
        "subscribers",
        "add",
        "cli@example.com",
        "--name",
        &long,
        "--confirmed",
    ])
    .ok();
    let out = p.run(&["subscribers", "show", "cli@example.com", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(
        v["name"].as_str().unwrap().len(),
        200,
        "the CLI caps names too"
    );
    p.post("hello", "Hello", "2026-11-01", "Body text.");
    p.run(&["send", "post", "hello", "--yes"]).ok();
    let mut all = String::new();
    for eml in std::fs::read_dir(p.path().join("outbox")).unwrap() {
        let text = std::fs::read_to_string(eml.unwrap().path()).unwrap();
        for line in text.split("\r\n") {
            assert!(line.len() <= 998, "a line of {} bytes", line.len());
        }
        all.push_str(&text);
    }
    assert!(all.contains("<big@example.com>") && all.contains("<cli@example.com>"));
}

/// `subscribers import FILE --confirmed --json`, which must fail (exit 1)
/// naming each of `problems` (`FILE:LINE: reason`) on standard error;
/// returns the report.
fn import_failing(p: &Project, file: &str, problems: &[&str]) -> Value {
    let out = p.run(&["subscribers", "import", file, "--confirmed", "--json"]);
    for problem in problems {
        out.fails_with(problem);
    }
    let errors = out.stderr();
    let reported = errors.lines().filter(|l| l.starts_with(file)).count();
    // One line per problem (and the summary, `error: FILE: …`).
    assert_eq!(reported, problems.len(), "{errors}");
    serde_json::from_str(&out.stdout()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout()))
}

fn total(p: &Project) -> u64 {
    let out = p.run(&["subscribers", "count", "--json"]);
    out.ok();
    let c: Value = serde_json::from_str(&out.stdout()).unwrap();
    c["total"].as_u64().unwrap()
}

#[test]
fn a_stray_quote_is_one_invalid_line_and_the_rows_after_it_are_imported() {
    // Once, it swallowed the next 100,000 rows into one name: "2 valid
    // rows, 0 invalid rows", exit 0.
    let p = Project::new();
    let rows = 100_000;
    let mut csv =
        String::from("email,name\nfirst@example.org,First\nvictim@example.org,\"unterminated\n");
    for i in 0..rows - 2 {
        csv.push_str(&format!("r{i}@example.com,Reader {i}\n"));
    }
    p.write("stray.csv", csv);
    let r = import_failing(&p, "stray.csv", &["stray.csv:3: unterminated quoted field"]);
    assert_eq!(
        (r["valid"].as_u64(), r["invalid"].as_u64()),
        (Some(rows - 1), Some(1)),
        "{r}"
    );
    assert_eq!(r["new"], rows - 1);
    assert_eq!(r["errors"][0]["line"], 3);
    assert_eq!(total(&p), rows - 1);
    let out = p.run(&[
        "subscribers",
        "show",
        &format!("r{}@example.com", rows - 3),
        "--json",
    ]);
    out.ok();
    let last: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(last["name"], format!("Reader {}", rows - 3));
    // A stray quote that a later quote would close is stray all the same.
    p.write(
        "pair.csv",
        "email,name\nx@example.org,\"oops\ny@example.org,\"Y\"\nz@example.org,Z\n",
    );
    let r = import_failing(&p, "pair.csv", &["pair.csv:2: unterminated quoted field"]);
    assert_eq!(
        (r["valid"].as_u64(), r["invalid"].as_u64()),
        (Some(2), Some(1)),
        "{r}"
    );
    let out = p.run(&["subscribers", "show", "y@example.org", "--json"]);
    out.ok();
}

#[test]
fn a_line_over_the_cap_with_a_quoted_field_is_one_invalid_line() {
    // Once, the rest of the line was cut with its closing quote, and the
    // next 101 rows vanished uncounted.
    let p = Project::new();
    let mut csv = format!(
        "email,name,note\na@example.org,A,x\nbig@example.org,B,\"{}\"\n",
        "n".repeat(2_500_000)
    );
    for i in 0..101 {
        csv.push_str(&format!("r{i}@example.com,\"R, {i}\",\"a\nb\"\n"));
    }
    p.write("long.csv", csv);
    let r = import_failing(&p, "long.csv", &["long.csv:3: line longer than 2 MB"]);
    assert_eq!(
        (r["valid"].as_u64(), r["invalid"].as_u64()),
        (Some(102), Some(1)),
        "{r}"
    );
    assert_eq!(total(&p), 102);
    let out = p.run(&["subscribers", "show", "r100@example.com", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["name"], "R, 100");
    assert_eq!(v["attributes"]["note"], "a\nb");
}

#[test]
fn an_imported_row_with_attributes_over_the_cap_is_invalid() {
    let p = Project::new();
    let big = "v".repeat(70_000);
    p.write(
        "attrs.csv",
        format!("email,city,notes\nok@example.org,Oslo,short\nbig@example.org,Rome,{big}\n"),
    );
    let r = import_failing(
        &p,
        "attrs.csv",
        &["attrs.csv:3: attributes would be 70026 bytes of JSON; a subscriber may have at most 64 KiB"],
    );
    assert_eq!(
        (r["valid"].as_u64(), r["invalid"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
}

/// The admin API (the production wiring, on an ephemeral port of
/// 127.0.0.1) of project `p`; answers `PATCH /subscribers/{id}` with its
/// status and body.
struct Admin {
    addr: std::net::SocketAddr,
    _rt: tokio::runtime::Runtime,
}

const TOKEN: &str = "imports-test-token-0123456789";

impl Admin {
    fn start(p: &Project) -> Admin {
        let mut env = std::collections::HashMap::new();
        env.insert("GAZETTE_ADMIN_TOKEN".to_string(), TOKEN.to_string());
        env.insert(
            "GAZETTE_ADMIN_LISTEN".to_string(),
            "127.0.0.1:0".to_string(),
        );
        env.insert("GAZETTE_DATABASE_URL".to_string(), p.database_url());
        let path = p.path().join("gazette.toml");
        let settings = gazette::config::load(&path, &env, &Default::default()).unwrap();
        let w = crate::helpers::app::wire(&settings);
        Admin {
            addr: w.admin.expect("the admin listener"),
            _rt: w.rt,
        }
    }

    /// One request, every socket operation under a timeout.
    fn patch(&self, id: i64, body: &str) -> (u16, Value) {
        use std::io::{Read, Write};
        use std::time::Duration;
        let mut s =
            std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let req = format!(
            "PATCH /api/v1/subscribers/{id} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(rest).unwrap_or(Value::Null))
    }
}

#[test]
fn attributes_are_capped_per_subscriber_so_an_export_always_imports_again() {
    for backend in ["sqlite", "postgres"] {
        attributes_capped_on(backend);
    }
}

fn attributes_capped_on(backend: &str) {
    // Once, repeated PATCHes (each under the 16 KiB body cap) grew a row's
    // attributes to 2.4 MB; re-importing `export --raw` lost 151 rows.
    let Some(p) = Project::new().on(backend) else {
        return;
    };
    p.write(
        "list.csv",
        "email,name\nann@example.org,Ann\nbo@example.org,\"Bo, \"\"B\"\"\"\n",
    );
    import_json(&p, "list.csv", &[]);
    let out = p.run(&["subscribers", "show", "ann@example.org", "--json"]);
    let id = serde_json::from_str::<Value>(&out.stdout()).unwrap()["row"]["id"]
        .as_i64()
        .unwrap();
    let admin = Admin::start(&p);
    // Quotes and backslashes: the export doubles quotes, JSON escapes both.
    let chunk = "q\"\\".repeat(3_000);
    let mut statuses = Vec::new();
    for k in 0..8 {
        let body = serde_json::json!({"attributes": {format!("k{k}"): chunk}}).to_string();
        assert!(body.len() < 16 * 1024);
        let (status, answer) = admin.patch(id, &body);
        if status != 200 {
            let m = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(m.contains("at most 64 KiB"), "{answer}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 422, 422, 422, 422]);
    // Removing one and adding a smaller one still works.
    let (status, _) = admin.patch(id, r#"{"attributes": {"k0": null, "small": 1}}"#);
    assert_eq!(status, 200);
    oversized_rows_can_still_be_trimmed(&p, &admin, backend);
    drop(admin);

    let out = p.run(&["subscribers", "export", "--raw", "--output", "all.csv"]);
    out.ok();
    let exported = std::fs::read_to_string(p.path().join("all.csv")).unwrap();
    assert!(exported.len() > 50_000, "{}", exported.len());
    let q = Project::new().on(backend).unwrap();
    q.write("all.csv", &exported);
    let r = import_json(&q, "all.csv", &[]);
    assert_eq!(
        (r["valid"].as_u64(), r["invalid"].as_u64()),
        (Some(2), Some(0)),
        "{r}"
    );
    let show = |who: &Project| {
        let out = who.run(&["subscribers", "show", "ann@example.org", "--json"]);
        serde_json::from_str::<Value>(&out.stdout()).unwrap()["attributes"].clone()
    };
    assert_eq!(show(&q), show(&p));
    assert_eq!(show(&q)["k3"], chunk);
}

/// A row stored over the cap before there was one (written here with SQL)
/// can still be renamed and trimmed; only growth is refused.
fn oversized_rows_can_still_be_trimmed(p: &Project, admin: &Admin, backend: &str) {
    let out = p.run(&["subscribers", "show", "bo@example.org", "--json"]);
    let id = serde_json::from_str::<Value>(&out.stdout()).unwrap()["row"]["id"]
        .as_i64()
        .unwrap();
    let big: serde_json::Map<String, Value> = (0..4)
        .map(|k| (format!("old{k}"), Value::String("x".repeat(30_000))))
        .collect();
    let json = Value::Object(big).to_string();
    let url = p.database_url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        if backend == "postgres" {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query("UPDATE subscribers SET attributes = $1::jsonb WHERE id = $2")
                .bind(&json)
                .bind(id)
                .execute(&mut c)
                .await
                .unwrap();
        } else {
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("UPDATE subscribers SET attributes = $1 WHERE id = $2")
                .bind(&json)
                .bind(id)
                .execute(&mut c)
                .await
                .unwrap();
        }
    });
    let (status, answer) = admin.patch(id, r#"{"name": "Bo"}"#);
    assert_eq!(status, 200, "a rename of an oversized row: {answer}");
    let (status, _) = admin.patch(id, r#"{"attributes": {"more": "y"}}"#);
    assert_eq!(status, 422, "growth past the cap");
    let (status, answer) = admin.patch(id, r#"{"attributes": {"old0": null}}"#);
    assert_eq!(status, 200, "trimming: {answer}");
    let (status, answer) = admin.patch(id, r#"{"attributes": {"old1": null, "new": 1}}"#);
    assert_eq!(status, 200, "under the cap again: {answer}");
}
