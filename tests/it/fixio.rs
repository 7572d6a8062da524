//! Defects found by QA in the subscriber, import, bounce-input and send
//! paths: test sends to people who left, IDN identities, the export/import
//! round trip, unbounded inputs, import report counts and closed pipes.

use crate::helpers::Project;

fn outbox_len(p: &Project) -> usize {
    std::fs::read_dir(p.path().join("outbox"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_test_send_never_goes_to_someone_who_left() {
    let p = Project::new();
    p.post("one", "One", "2026-11-20", "First post.");
    p.write(
        "list.csv",
        "email,status\nu@example.org,unsubscribed\nb@example.org,bounced\nc@example.org,complained\na@example.org,active\n",
    );
    p.run(&["subscribers", "import", "list.csv"]).ok();
    p.run(&["subscribers", "add", "gone@example.org", "--confirmed"])
        .ok();
    p.run(&["subscribers", "remove", "gone@example.org"]).ok();
    p.run(&["subscribers", "add", "pend@example.org"]).ok();
    let before = outbox_len(&p);
    for (addr, why) in [
        ("u@example.org", "unsubscribed"),
        ("B@Example.org", "bounced"),
        ("c@example.org", "complained"),
        ("gone@example.org", "removed"),
    ] {
        for kind in [&["send", "post", "one"][..], &["send", "digest"][..]] {
            let mut args = kind.to_vec();
            args.extend(["--to", addr]);
            let out = p.run(&args);
            out.fails_with(why);
            assert_eq!(out.stderr().trim().lines().count(), 1, "{}", out.stderr());
        }
    }
    assert_eq!(outbox_len(&p), before, "nothing was sent");
    for addr in ["me@example.net", "a@example.org", "pend@example.org"] {
        p.run(&["send", "post", "one", "--to", addr]).ok();
    }
    assert_eq!(outbox_len(&p), before + 3);
}

#[test]
fn a_default_export_imports_back_with_its_opt_outs() {
    let p = Project::new();
    p.write(
        "list.csv",
        "email,name,status\n+f5@example.com,=Eve,unsubscribed\nok@example.com,Ok,active\n",
    );
    p.run(&["subscribers", "import", "list.csv"]).ok();
    let out = p.run(&["subscribers", "export", "-o", "out.csv"]);
    out.ok();
    let csv = std::fs::read_to_string(p.path().join("out.csv")).unwrap();
    assert!(csv.contains("'+f5@example.com,'=Eve"), "{csv}");
    let q = Project::new();
    q.write("out.csv", &csv);
    q.run(&["subscribers", "import", "out.csv", "--confirmed"])
        .ok();
    let list = q.run(&["subscribers", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
    let f5 = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "+f5@example.com")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(f5["status"], "unsubscribed");
    assert_eq!(f5["name"], "=Eve");
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn imported_dates_out_of_range_and_non_object_metadata_are_invalid_rows() {
    let p = Project::new();
    p.write(
        "list.csv",
        "email,created_at\nold@example.com,0001-01-01\nfar@example.com,9999-12-31\nok@example.com,2020-05-01\n",
    );
    let out = p.run(&["subscribers", "import", "list.csv"]);
    out.fails_with("list.csv:2:");
    assert!(out.stderr().contains("list.csv:3:"), "{}", out.stderr());
    assert!(out.stderr().contains("out of range"), "{}", out.stderr());
    let list = p.run(&["subscribers", "list"]).stdout();
    assert!(
        list.contains("ok@example.com") && !list.contains("old@"),
        "{list}"
    );
    let q = Project::new();
    q.write(
        "buttondown.csv",
        "email,subscriber_type,metadata\nm@example.com,regular,\"[1,2]\"\nn@example.com,regular,\"{\"\"a\"\":1}\"\n",
    );
    let out = q.run(&["subscribers", "import", "buttondown.csv"]);
    out.fails_with("buttondown.csv:2: metadata is not a JSON object");
    let list = q.run(&["subscribers", "list"]).stdout();
    assert!(
        list.contains("n@example.com") && !list.contains("m@example.com"),
        "{list}"
    );
}

/// Run `args` with stdout read for 10 bytes and then closed, as `| head
/// -c10` does: exit 0, nothing on stderr.
fn closed_pipe(p: &Project, args: &[&str]) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = p
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut buf).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not end after its stdout was closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success() && err.is_empty(),
        "{args:?}: {status}: {err}"
    );
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let p = Project::new();
    let mut csv = String::from("email,name\n");
    for i in 0..3000 {
        csv.push_str(&format!("reader{i}@example.org,Reader Number {i}\n"));
    }
    p.write("list.csv", csv);
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    closed_pipe(&p, &["subscribers", "export"]);
    closed_pipe(&p, &["subscribers", "list", "--json"]);
    closed_pipe(&p, &["subscribers", "list"]);
}

#[test]
fn import_and_bounces_refuse_devices_and_fifos() {
    let p = Project::new();
    let fifo = p.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for path in ["/dev/zero", "fifo"] {
        p.run(&["subscribers", "import", path])
            .fails_with(&format!("{path}: not a regular file"));
        p.run(&["bounces", "scan", path])
            .fails_with(&format!("{path}: not a regular file"));
        p.run(&["bounces", "process", path])
            .fails_with(&format!("{path}: not a regular file"));
    }
}

#[test]
fn an_overlong_csv_line_is_an_invalid_row() {
    use std::io::Write;
    let p = Project::new();
    let path = p.path().join("list.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"email,name\nok@example.com,Ok\nlong@example.com,")
        .unwrap();
    f.write_all(&vec![b'x'; 3 << 20]).unwrap();
    f.write_all(b"\nafter@example.com,After\n").unwrap();
    drop(f);
    let out = p.run(&["subscribers", "import", "list.csv", "--confirmed"]);
    out.fails_with("list.csv:3: line longer than 2 MB");
    let list = p.run(&["subscribers", "list"]).stdout();
    assert!(
        list.contains("ok@example.com")
            && list.contains("after@example.com")
            && !list.contains("long@"),
        "{list}"
    );
}

#[test]
fn a_unicode_domain_and_its_punycode_are_one_identity() {
    let p = Project::new();
    p.post("one", "One", "2026-11-20", "First post.");
    p.run(&["subscribers", "add", "jörg@Bücher.example", "--confirmed"])
        .ok();
    p.run(&["subscribers", "unsubscribe", "jörg@xn--bcher-kva.example"])
        .ok();
    p.write("again.csv", "email\njörg@xn--bcher-kva.example\n");
    p.run(&["subscribers", "import", "again.csv", "--confirmed"])
        .ok();
    let list = p.run(&["subscribers", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0]["email"], "jörg@xn--bcher-kva.example");
    assert_eq!(rows[0]["status"], "unsubscribed");
    // Erased under one form, blocked under the other.
    p.run(&["subscribers", "add", "eve@bücher.example", "--confirmed"])
        .ok();
    p.run(&["subscribers", "remove", "eve@xn--bcher-kva.example"])
        .ok();
    p.run(&["send", "digest", "--to", "eve@bücher.example"])
        .fails_with("removed");
}

/// Migration 0050: rows stored with a Unicode domain get the ASCII form;
/// a duplicate added under the ASCII form takes the opt-out of the first;
/// suppressions hashed from the old key still block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idn_migration_rekeys_old_rows() {
    use gazette::audience::SubscriberEmail;
    use gazette::store::Store;
    use sha2::Digest;
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let (url, mut c) = crate::helpers::sqlite_migrated_before(dir.path(), "0050").await;
    let erased = hex::encode(sha2::Sha256::digest("eve@bücher.example".as_bytes()));
    for sql in [
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, unsub_verifier, unsubscribed_at) VALUES (1, 'Jörg@Bücher.example', 'jörg@bücher.example', 'unsubscribed', 'cli', '2026-01-01T00:00:00Z', 'v', '2026-02-01T00:00:00Z')",
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, unsub_verifier) VALUES (2, 'jörg@xn--bcher-kva.example', 'jörg@xn--bcher-kva.example', 'active', 'import', '2026-03-01T00:00:00Z', 'v')",
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, unsub_verifier) VALUES (3, 'anna@café.example', 'anna@café.example', 'active', 'cli', '2026-01-01T00:00:00Z', 'v')",
        "INSERT INTO subscribers (id, email, email_key, status, source, created_at, unsub_verifier) VALUES (4, 'plain@example.org', 'plain@example.org', 'active', 'cli', '2026-01-01T00:00:00Z', 'v')",
    ] {
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
    sqlx::query("INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?1, 'removed', '2026-01-01T00:00:00Z')")
        .bind(&erased)
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();

    let store = Store::open(&url).await.unwrap();
    let get = |s: &str| SubscriberEmail::parse(s).unwrap();
    let anna = store.get(&get("Anna@Café.example")).await.unwrap().unwrap();
    assert_eq!(anna.email, "anna@xn--caf-dma.example");
    let jorg = store
        .get(&get("jörg@bücher.example"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(jorg.status.as_str(), "unsubscribed");
    assert!(store
        .get(&get("plain@example.org"))
        .await
        .unwrap()
        .is_some());
    assert!(store
        .is_suppressed(&get("eve@xn--bcher-kva.example"))
        .await
        .unwrap());
    assert!(store
        .is_suppressed(&get("eve@bücher.example"))
        .await
        .unwrap());
    assert!(!store
        .is_suppressed(&get("anna@café.example"))
        .await
        .unwrap());
    store.close().await;
    // Once: the marker is gone, a second open changes nothing.
    let store = Store::open(&url).await.unwrap();
    let counts = store.counts().await.unwrap();
    assert!(
        counts.contains(&(gazette::audience::Status::Active, 2)),
        "{counts:?}"
    );
    store.close().await;
}

#[test]
fn duplicates_in_one_file_are_counted_once_in_their_final_state() {
    let p = Project::new();
    p.write(
        "dups.csv",
        "email,status\nd1@example.com,unsubscribed\nD1@example.com,active\nd2@example.com,\nd2@example.com,active\nd3@example.com,active\n",
    );
    let out = p.run(&["subscribers", "import", "dups.csv", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(
        (&v["active"], &v["pending"], &v["unsubscribed"]),
        (&2.into(), &0.into(), &1.into()),
        "{v}"
    );
    // The same into a list that already holds them (the SQL path).
    p.write(
        "again.csv",
        "email,status\nd3@example.com,unsubscribed\nd3@example.com,active\nd4@example.com,\nd4@example.com,\n",
    );
    let out = p.run(&["subscribers", "import", "again.csv", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(
        (&v["active"], &v["pending"], &v["unsubscribed"]),
        (&0.into(), &1.into(), &1.into()),
        "{v}"
    );
}

#[test]
fn bounce_scans_to_a_closed_pipe_end_quietly() {
    let p = Project::new();
    let mut mbox = String::new();
    for i in 0..2000 {
        mbox.push_str(&format!(
            "From a@example.com Mon Jan  1 00:00:00 2024\nFrom: a{i}@example.com\nSubject: note {i}\n\nhello\n\n"
        ));
    }
    p.write("box", mbox);
    closed_pipe(&p, &["bounces", "scan", "box"]);
    closed_pipe(&p, &["bounces", "scan", "--json", "box"]);
}
