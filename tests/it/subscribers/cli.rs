//! Subscribers through the real binary and a real SQLite file.

use crate::helpers::Project;

fn export(p: &Project) -> String {
    let out = p.run(&["subscribers", "export"]);
    out.ok();
    out.stdout()
}

fn list_json(p: &Project) -> Vec<serde_json::Value> {
    let out = p.run(&["subscribers", "list", "--json"]);
    out.ok();
    serde_json::from_str::<serde_json::Value>(&out.stdout())
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn status_of(p: &Project, email: &str) -> String {
    list_json(p)
        .into_iter()
        .find(|s| s["email"].as_str().unwrap().eq_ignore_ascii_case(email))
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "absent".into())
}

#[test]
fn add_unsubscribe_remove_list_count() {
    let p = Project::new();
    p.run(&["db", "migrate"]).ok();
    let out = p.run(&["subscribers", "add", " Ann@EXAMPLE.com ", "--name", "Ann"]);
    out.ok();
    assert!(
        out.stdout().contains("pending; confirmation email sent"),
        "{}",
        out.stdout()
    );
    let eml: Vec<_> = std::fs::read_dir(p.path().join("outbox"))
        .unwrap()
        .collect();
    assert_eq!(eml.len(), 1, "the confirmation email is in the outbox");
    p.run(&["subscribers", "add", "bob@example.com", "--confirmed"])
        .ok();
    p.run(&["subscribers", "add", "nope"])
        .fails_with("not a valid email address");

    let list = list_json(&p);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["email"], "Ann@example.com");
    assert_eq!(list[0]["name"], "Ann");
    assert_eq!(list[0]["status"], "pending");
    for key in ["email", "name", "status", "created_at"] {
        assert!(list.iter().all(|s| s.get(key).is_some()), "{key}");
    }
    let active = p.run(&["subscribers", "list", "--status", "active", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&active.stdout())
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    p.run(&["subscribers", "unsubscribe", "BOB@example.com"])
        .ok();
    assert_eq!(status_of(&p, "bob@example.com"), "unsubscribed");
    p.run(&["subscribers", "unsubscribe", "bob@example.com"])
        .ok();
    // An operator cannot force an opted-out address back.
    p.run(&["subscribers", "add", "bob@example.com", "--confirmed"])
        .fails_with("is unsubscribed");

    let count = p.run(&["subscribers", "count", "--json"]);
    count.ok();
    let c: serde_json::Value = serde_json::from_str(&count.stdout()).unwrap();
    assert_eq!(
        (
            c["pending"].as_i64(),
            c["unsubscribed"].as_i64(),
            c["total"].as_i64()
        ),
        (Some(1), Some(1), Some(2))
    );

    p.run(&["subscribers", "remove", "ann@example.com"]).ok();
    assert_eq!(status_of(&p, "ann@example.com"), "absent");
    // The personal data is gone from the database files, not just hidden.
    for f in ["gazette.db", "gazette.db-wal"] {
        let bytes = std::fs::read(p.path().join(f)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        assert!(
            !text.contains("ann@example.com"),
            "{f} still holds the erased address"
        );
    }
    // The erased address is never re-added by an import.
    p.write("again.csv", "email,name\nann@example.com,Ann\n");
    let out = p.run(&["subscribers", "import", "again.csv", "--confirmed"]);
    out.ok();
    assert!(out.stdout().contains("1 skipped"), "{}", out.stdout());
    assert_eq!(status_of(&p, "ann@example.com"), "absent");
}

#[test]
fn imports_common_export_formats_with_bad_rows() {
    let p = Project::new();
    // Mailchimp: BOM, CRLF, Email Address / First Name / Last Name.
    p.write(
        "mailchimp.csv",
        "\u{feff}Email Address,First Name,Last Name,MEMBER_RATING\r\nann@example.com,Ann,Lee,2\r\nnot-an-email,X,Y,1\r\nANN@EXAMPLE.COM,,,3\r\n",
    );
    let out = p.run(&["subscribers", "import", "mailchimp.csv", "--confirmed"]);
    out.fails_with("mailchimp.csv:3: \"not-an-email\" is not a valid email address");
    assert!(
        out.stdout().contains("2 valid rows: 1 new"),
        "{}",
        out.stdout()
    );
    let list = list_json(&p);
    assert_eq!(list.len(), 1, "duplicates in another case merge");
    assert_eq!(list[0]["name"], "Ann Lee");
    assert_eq!(list[0]["attributes"]["MEMBER_RATING"], "3");
    assert_eq!(list[0]["status"], "active");

    // Substack: email plus other columns kept as attributes.
    p.write(
        "substack.csv",
        "email,active_subscription,created_at\nsub@example.com,false,2026-01-02T03:04:05Z\n",
    );
    p.run(&["subscribers", "import", "substack.csv"]).ok();
    let s = list_json(&p)
        .into_iter()
        .find(|s| s["email"] == "sub@example.com")
        .unwrap();
    assert_eq!(
        s["status"], "pending",
        "without --confirmed imports are pending"
    );
    assert_eq!(s["attributes"]["active_subscription"], "false");
    assert_eq!(s["created_at"], "2026-01-02T03:04:05Z");

    // Buttondown: email and subscriber_type.
    p.write(
        "buttondown.csv",
        "email,subscriber_type,notes\nbd@example.com,unsubscribed,left\nbd2@example.com,regular,\n",
    );
    p.run(&["subscribers", "import", "buttondown.csv", "--confirmed"])
        .ok();
    assert_eq!(status_of(&p, "bd@example.com"), "unsubscribed");
    assert_eq!(status_of(&p, "bd2@example.com"), "active");

    // listmonk: email,name,attributes with quoted commas and newlines.
    p.write(
        "listmonk.csv",
        "email,name,attributes\nlm@example.com,\"Lee, Ann\",\"{\"\"city\"\": \"\"Oslo\"\"}\"\nlm2@example.com,\"Two\nLines\",\nbad@,\"x\",\n",
    );
    let out = p.run(&["subscribers", "import", "listmonk.csv", "--confirmed"]);
    out.fails_with("listmonk.csv:5:");
    let lm = list_json(&p)
        .into_iter()
        .find(|s| s["email"] == "lm@example.com")
        .unwrap();
    assert_eq!(lm["name"], "Lee, Ann");
    assert_eq!(lm["attributes"]["city"], "Oslo");
    assert_eq!(status_of(&p, "lm2@example.com"), "active");

    // Plain email,name.
    p.write("plain.csv", "email,name\nplain@example.com,Plain\n");
    p.run(&["subscribers", "import", "plain.csv"]).ok();
    assert_eq!(status_of(&p, "plain@example.com"), "pending");

    // No email column at all.
    p.write("nocol.csv", "name,city\nA,B\n");
    p.run(&["subscribers", "import", "nocol.csv"])
        .fails_with("nocol.csv: line 1: no email column");
}

#[test]
fn reimport_changes_nothing_and_opted_out_stay_out() {
    let p = Project::new();
    p.write("list.csv", "email,name\na@example.com,A\nb@example.com,B\n");
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    p.run(&["subscribers", "unsubscribe", "b@example.com"]).ok();
    let before = export(&p);
    let out = p.run(&["subscribers", "import", "list.csv", "--confirmed"]);
    out.ok();
    assert!(
        out.stdout().contains("0 new, 0 updated, 2 unchanged"),
        "{}",
        out.stdout()
    );
    assert_eq!(export(&p), before);
    assert_eq!(status_of(&p, "b@example.com"), "unsubscribed");

    // A dry run reports and changes nothing.
    p.write("more.csv", "email\nnew@example.com\n");
    let out = p.run(&[
        "subscribers",
        "import",
        "more.csv",
        "--confirmed",
        "--dry-run",
    ]);
    out.ok();
    assert!(
        out.stdout().contains("dry run") && out.stdout().contains("1 new"),
        "{}",
        out.stdout()
    );
    assert_eq!(export(&p), before);
}

#[test]
fn export_then_import_round_trips() {
    let p = Project::new();
    p.write(
        "list.csv",
        "email,name,city\na@example.com,\"Lee, A\",Oslo\nb@example.com,,\nc@example.com,Cé \"Q\",Rome\n",
    );
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    p.run(&["subscribers", "add", "p@example.com"]).ok();
    p.run(&["subscribers", "unsubscribe", "b@example.com"]).ok();
    p.run(&["subscribers", "export", "-o", "backup.csv"]).ok();
    let first = std::fs::read_to_string(p.path().join("backup.csv")).unwrap();
    assert!(first.starts_with("email,name,status,created_at"));

    let q = Project::new();
    std::fs::copy(p.path().join("backup.csv"), q.path().join("backup.csv")).unwrap();
    q.run(&["subscribers", "import", "backup.csv"]).ok();
    assert_eq!(export(&q), first);
}
