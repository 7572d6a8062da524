//! Synchronous rejections and VERP, end to end: campaigns through the real
//! binary against a scripted SMTP server on 127.0.0.1.

use std::collections::HashMap;

use crate::helpers::bounces::gz;
use crate::helpers::Project;
use crate::smtp_script::ScriptedSmtp;

const HARD: [&str; 3] = [
    "gone1@example.org",
    "gone2@example.org",
    "gone3@example.org",
];
const FULL: &str = "full@example.org";
const FINE: [&str; 2] = ["fine1@example.org", "fine2@example.org"];

fn project() -> Project {
    let p = Project::with_config(&format!(
        "{}\n[smtp]\nretry_delay = \"100ms\"\n\n[bounces]\naddress = \"bounces@example.com\"\n",
        crate::helpers::CONFIG.replace("http://127.0.0.1:9", "https://news.example.com")
    ));
    for i in 1..=4 {
        p.post(
            &format!("2026-11-1{i}-post-{i}"),
            &format!("Post {i}"),
            &format!("2026-11-1{i}"),
            "Hello.\n",
        );
    }
    let mut csv = String::from("email\n");
    for e in HARD.iter().chain([FULL].iter()).chain(FINE.iter()) {
        csv.push_str(e);
        csv.push('\n');
    }
    p.write("list.csv", csv);
    gz(&p, &["subscribers", "import", "list.csv", "--confirmed"]).ok();
    p
}

fn server() -> ScriptedSmtp {
    let mut replies = HashMap::new();
    for h in HARD {
        replies.insert(
            h.to_string(),
            "550 5.1.1 <x>: Recipient address rejected: User unknown".to_string(),
        );
    }
    replies.insert(FULL.to_string(), "552 5.2.2 Mailbox full".to_string());
    ScriptedSmtp::start(replies)
}

fn statuses(p: &Project) -> HashMap<String, String> {
    let out = gz(p, &["subscribers", "list", "--json"]);
    out.ok();
    let list: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["email"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn send(p: &Project, smtp: &ScriptedSmtp, n: u32) -> serde_json::Value {
    let slug = format!("post-{n}");
    gz(
        p,
        &["--smtp-url", &smtp.url(), "send", "post", &slug, "--yes"],
    )
    .ok();
    let out = gz(p, &["campaigns", "show", &n.to_string(), "--json"]);
    out.ok();
    serde_json::from_str(&out.stdout()).unwrap()
}

#[test]
fn rejections_bounce_subscribers_and_later_campaigns_leave_them_out() {
    let p = project();
    let smtp = server();
    let first = send(&p, &smtp, 1);
    assert_eq!(first["total"], 6);
    let st = statuses(&p);
    for h in HARD {
        assert_eq!(st[h], "bounced", "{h} after 550 5.1.1");
    }
    assert_eq!(st[FULL], "active", "one soft bounce");
    // VERP: every message went out from its own bounces+{id} address,
    // the id being the random part of its Message-ID.
    let accepted = smtp.accepted();
    assert_eq!(accepted.len(), 2);
    let mut tokens = Vec::new();
    for a in &accepted {
        let token = a
            .from
            .strip_prefix("bounces+")
            .and_then(|t| t.strip_suffix("@example.com"))
            .unwrap_or_else(|| panic!("envelope sender {}", a.from));
        assert_eq!(token.len(), 32);
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(
            a.data
                .contains(&format!("Message-ID: <{token}@example.com>")),
            "{}",
            a.data
        );
        tokens.push(token.to_string());
    }
    assert_ne!(tokens[0], tokens[1]);

    // `campaigns show` counts them.
    assert_eq!(first["bounces"]["hard"], 3, "{first}");
    assert_eq!(first["bounces"]["soft"], 1);
    assert_eq!(first["bounces"]["complaints"], 0);
    let text = gz(&p, &["campaigns", "show", "1"]);
    assert!(text
        .ok()
        .stdout()
        .contains("bounces: 3 hard, 1 soft, 0 blocked; complaints: 0"));

    let second = send(&p, &smtp, 2);
    assert_eq!(second["total"], 3, "the three bounced are left out");
    assert_eq!(statuses(&p)[FULL], "active", "two soft bounces");
    send(&p, &smtp, 3);
    assert_eq!(
        statuses(&p)[FULL],
        "bounced",
        "third soft bounce within soft_window"
    );
    let fourth = send(&p, &smtp, 4);
    assert_eq!(fourth["total"], 2, "exactly the bounced are left out");
    let mut tried: HashMap<String, usize> = HashMap::new();
    for (_, rcpt) in smtp.attempts() {
        *tried.entry(rcpt).or_default() += 1;
    }
    for h in HARD {
        assert_eq!(tried[h], 1, "{h} is never mailed again");
    }
    assert_eq!(tried[FULL], 3);
    assert_eq!(tried[FINE[0]], 4);

    // The log: 3 hard + 3 soft, each tied to its campaign.
    let log = gz(&p, &["bounces", "list", "--json"]);
    log.ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&log.stdout()).unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows.iter().filter(|r| r["kind"] == "hard").count(), 3);
    assert!(rows
        .iter()
        .all(|r| r["source"] == "smtp" && r["campaign"].is_i64() && r["time"].is_string()));
    assert_eq!(
        rows.iter().find(|r| r["kind"] == "soft").unwrap()["status"],
        "5.2.2"
    );

    verp_attributes_an_asynchronous_bounce(&p, &accepted);

    // /metrics counts bounces per campaign.
    let db = format!("sqlite://{}", p.path().join("gazette.db").display());
    let metrics = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = gazette::store::Store::open(&db).await.unwrap();
        gazette::web::admin::metrics_text(&store).await.unwrap()
    });
    assert!(
        metrics.contains("gazette_bounces_total{campaign=\"1\",kind=\"hard\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gazette_bounces_total{campaign=\"3\",kind=\"soft\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gazette_complaints_total{campaign=\"1\"} 0"),
        "{metrics}"
    );
}

/// An asynchronous bounce whose report names nobody we know (the address
/// was forwarded) is still attributed through VERP.
fn verp_attributes_an_asynchronous_bounce(p: &Project, accepted: &[crate::smtp_script::Accepted]) {
    let fine = accepted.iter().find(|a| a.to == FINE[0]).unwrap();
    p.write(
        "returned.eml",
        format!(
            "From: MAILER-DAEMON@mx.example.net\r\nTo: {}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\
             Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; forwarded-alias@elsewhere.example\r\n\
             Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n--b--\r\n",
            fine.from
        ),
    );
    let scan = gz(p, &["bounces", "scan", "--json", "returned.eml"]);
    scan.ok();
    let rec: serde_json::Value = serde_json::from_str(&scan.stdout()).unwrap();
    assert_eq!(rec[0]["kind"], "hard");
    assert!(
        rec[0]["campaign_id"].is_i64() && rec[0]["subscriber_id"].is_i64(),
        "{rec}"
    );
    gz(p, &["bounces", "process", "returned.eml"]).ok();
    assert_eq!(statuses(p)[FINE[0]], "bounced");
    assert_eq!(statuses(p)[FINE[1]], "active");
}

#[test]
fn without_a_bounce_address_the_envelope_sender_is_the_from_address() {
    let p = Project::with_config(
        &crate::helpers::CONFIG.replace("http://127.0.0.1:9", "https://news.example.com"),
    );
    p.post("2026-11-11-post-1", "Post 1", "2026-11-11", "Hello.\n");
    p.write("list.csv", "email\nfine1@example.org\n");
    gz(&p, &["subscribers", "import", "list.csv", "--confirmed"]).ok();
    let smtp = server();
    gz(
        &p,
        &["--smtp-url", &smtp.url(), "send", "post", "post-1", "--yes"],
    )
    .ok();
    let accepted = smtp.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].from, "news@example.com");
}
