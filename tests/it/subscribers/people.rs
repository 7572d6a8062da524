//! Each person's data: `subscribers show` tells everything kept,
//! `subscribers remove` erases it (deliveries keep counts, not the person),
//! and only the person can bring an erased address back.

use crate::helpers::OutputWithin;
use serde_json::Value;

use crate::helpers::Project;
use crate::smtp::{Script, SmtpServer};

fn show(p: &Project, email: &str) -> Value {
    let out = p.run(&["subscribers", "show", email, "--json"]);
    out.ok();
    serde_json::from_str(&out.stdout()).unwrap()
}

/// The deliveries table as stored: (subscriber_id, status, message_id, last_reply).
type DeliveryRow = (Option<i64>, String, Option<String>, Option<String>);

fn deliveries(p: &Project) -> Vec<DeliveryRow> {
    let url = format!("sqlite://{}", p.path().join("gazette.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT subscriber_id, status, message_id, last_reply FROM deliveries ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows
    })
}

fn bounce_rows(p: &Project) -> i64 {
    let url = format!("sqlite://{}", p.path().join("gazette.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bounces")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    })
}

fn db_text(p: &Project) -> String {
    let mut all = String::new();
    for f in ["gazette.db", "gazette.db-wal"] {
        let bytes = std::fs::read(p.path().join(f)).unwrap_or_default();
        all.push_str(&String::from_utf8_lossy(&bytes).to_lowercase());
    }
    all
}

#[test]
fn show_tells_everything_and_remove_erases_it() {
    let p = Project::new();
    p.write(
        "list.csv",
        "email,name,city\nkeep@example.com,Keep,Oslo\ngone@example.com,Gone Person,Rome\nrefused@example.com,Refused,Paris\n",
    );
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    p.post("hello", "Hello world", "2026-11-01", "Body text.");
    let smtp = SmtpServer::start(Script {
        reject: vec!["refused@example.com".into()],
        ..Default::default()
    });
    p.run(&["--smtp-url", &smtp.url(), "send", "post", "hello", "--yes"])
        .ok();

    let gone = show(&p, "gone@example.com");
    assert_eq!(gone["name"], "Gone Person");
    assert_eq!(gone["status"], "active");
    assert_eq!(gone["attributes"]["city"], "Rome");
    assert_eq!(gone["source"], "import");
    assert!(gone["subscribed"]["how"]
        .as_str()
        .unwrap()
        .contains("imported"));
    assert!(gone["confirmed"]["at"].is_string());
    assert!(gone["left"].is_null());
    let d = &gone["deliveries"][0];
    assert_eq!(d["campaign_id"], 1);
    assert_eq!(d["kind"], "post");
    assert_eq!(d["subject"], "Test Notes: Hello world");
    assert_eq!(d["status"], "sent");
    assert!(
        d["sent_at"].is_string() && d["message_id"].is_string(),
        "{d}"
    );
    let refused = show(&p, "refused@example.com");
    let d = &refused["deliveries"][0];
    assert_eq!(d["status"], "failed");
    assert!(d["last_reply"].as_str().unwrap().contains("550"), "{d}");
    // The 550 5.1.1 is a hard bounce in the bounce log.
    assert_eq!(refused["status"], "bounced", "{refused}");
    let b = &refused["bounces"][0];
    assert_eq!(
        (b["kind"].as_str(), b["campaign_id"].as_i64()),
        (Some("hard"), Some(1)),
        "{refused}"
    );
    assert_eq!(refused["row"]["status"], "bounced");
    assert!(refused["row"].get("unsub_verifier").is_none(), "no secrets");
    let text = p.run(&["subscribers", "show", "gone@example.com"]);
    text.ok();
    assert!(text
        .stdout()
        .contains("campaign 1 (post, \"Test Notes: Hello world\""));
    assert!(text.stdout().contains("bounces:"), "{}", text.stdout());
    let message_id = gone["deliveries"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_string();

    let before = deliveries(&p);
    assert_eq!(before.len(), 3);
    for email in ["gone@example.com", "refused@example.com"] {
        p.run(&["subscribers", "remove", email]).ok();
        let out = p.run(&["subscribers", "show", email, "--json"]);
        out.ok();
        let v: Value = serde_json::from_str(&out.stdout()).unwrap();
        assert_eq!(v["erased"], true, "{v}");
        assert!(v["kept"].as_str().unwrap().contains("hash"), "{v}");
    }
    // Deliveries keep their counts, not the person.
    let after = deliveries(&p);
    assert_eq!(after.len(), 3);
    let statuses: Vec<&str> = after.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "sent").count(), 2);
    assert_eq!(statuses.iter().filter(|s| **s == "failed").count(), 1);
    let person_fields = after
        .iter()
        .filter(|d| d.0.is_some() || d.2.is_some() || d.3.is_some())
        .count();
    assert_eq!(
        person_fields, 1,
        "only keep@'s delivery still names its person: {after:?}"
    );
    let out = p.run(&["campaigns", "show", "1", "--json"]);
    let c: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(
        (c["sent"].as_i64(), c["failed"].as_i64()),
        (Some(2), Some(1)),
        "{c}"
    );
    // Gone from the files, not just hidden.
    let text = db_text(&p);
    for secret in [
        "gone@example.com",
        "gone person",
        "refused@example.com",
        "no such user",
    ] {
        assert!(
            !text.contains(secret),
            "the database still holds {secret:?}"
        );
    }
    assert!(
        !text.contains(&message_id.to_lowercase()),
        "the Message-ID is kept"
    );
    assert_eq!(bounce_rows(&p), 0, "the bounce log forgets the person");
    assert!(show(&p, "keep@example.com")["deliveries"][0]["message_id"].is_string());
}

#[test]
fn an_erased_address_is_not_added_again_by_an_operator() {
    let p = Project::new();
    p.run(&["subscribers", "add", "ann@example.com", "--confirmed"])
        .ok();
    p.run(&["subscribers", "remove", "ann@example.com"]).ok();
    p.run(&["subscribers", "add", "ann@example.com", "--confirmed"])
        .fails_with("was erased");
    p.run(&["subscribers", "add", "ANN@example.com"])
        .fails_with("was erased");
    p.write("again.csv", "email\nann@example.com\n");
    let out = p.run(&[
        "subscribers",
        "import",
        "again.csv",
        "--confirmed",
        "--json",
    ]);
    out.ok();
    let r: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(
        (r["skipped"].as_u64(), r["active"].as_u64()),
        (Some(1), Some(0))
    );
    let list = p.run(&["subscribers", "list", "--json"]);
    assert_eq!(list.stdout().trim(), "[]");
    // An address never on the list can be blocked too, and is then refused.
    p.run(&["subscribers", "show", "never@example.com"])
        .fails_with("nothing is kept");
    p.run(&["subscribers", "remove", "never@example.com"]).ok();
    p.run(&["subscribers", "add", "never@example.com", "--confirmed"])
        .fails_with("was erased");
}

#[test]
fn an_erased_person_can_come_back_through_the_web() {
    let app = crate::helpers::app::spawn_app("");
    // The real binary on the same database: add, then erase.
    let config = app.outbox.parent().unwrap().join("gazette.toml");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gazette"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .output_within();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cli(&["subscribers", "add", "back@example.org", "--confirmed"]);
    cli(&["subscribers", "remove", "back@example.org"]);
    assert_eq!(app.status_of("back@example.org"), None);
    let r = crate::http::subscribe(app.addr, "email=back%40example.org");
    assert_eq!(r.status, 200, "{}", r.body);
    let mail = app.wait_for_email(1);
    assert!(
        mail.contains("entered on the subscribe page"),
        "web sign-ups say so: {mail}"
    );
    assert!(!mail.contains("was added to the list"), "{mail}");
    let start = mail.find("https://news.example.com/confirm/").unwrap();
    let link: String = mail[start + "https://news.example.com".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-'))
        .collect();
    assert_eq!(crate::http::post_form(app.addr, &link, "").status, 200);
    assert_eq!(
        app.status_of("back@example.org"),
        Some(gazette::audience::Status::Active)
    );
}

#[test]
fn quoted_local_parts_are_refused_on_the_web() {
    let app = crate::helpers::app::spawn_app("");
    let r = crate::http::subscribe(app.addr, "email=%22a%40b%22%40example.com");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(app.count(), 0);
}

#[test]
fn the_confirmation_email_says_how_the_address_came() {
    let p = Project::new();
    p.run(&["subscribers", "add", "cli@example.com"]).ok();
    let eml = std::fs::read_dir(p.path().join("outbox"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = crate::http::decode_qp(&std::fs::read_to_string(eml).unwrap());
    assert!(
        text.contains("your address was added to the list of Test Notes"),
        "{text}"
    );
    assert!(!text.contains("subscribe page"), "{text}");
    assert!(!text.contains("Someone, hopefully you, asked"), "{text}");
    p.run(&["subscribers", "add", "\"a@b\"@example.com"])
        .fails_with("not a valid email address");
}
