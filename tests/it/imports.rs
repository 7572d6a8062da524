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
        text.contains("mine.csv: unknown format: generic columns"),
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
