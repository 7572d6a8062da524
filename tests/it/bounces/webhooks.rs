//! Provider webhooks over real HTTP on 127.0.0.1: each provider's
//! documented sample changes the subscriber; a bad or missing signature is
//! refused with 401 and changes nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use gazette::audience::{Source, SubscriberEmail};
use gazette::config;
use gazette::store::Store;
use gazette::web;

const MAILGUN_KEY: &str = "key-test-0123456789abcdef";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ses-bounces";

struct App {
    addr: SocketAddr,
    db_url: String,
    store: Store,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// The real router on an ephemeral port, webhook secrets in its environment.
fn spawn(subscribers: &[&str]) -> App {
    spawn_with(subscribers, true)
}

fn spawn_with(subscribers: &[&str], secrets: bool) -> App {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}\n[database]\nurl = \"sqlite://{}\"\n",
        crate::helpers::CONFIG.replace("http://127.0.0.1:9", "https://news.example.com"),
        dir.path().join("gazette.db").display()
    );
    let path = dir.path().join("gazette.toml");
    std::fs::write(&path, cfg).unwrap();
    let env: HashMap<String, String> = [
        ("GAZETTE_WEBHOOK_POSTMARK_USER", "postmark"),
        ("GAZETTE_WEBHOOK_POSTMARK_PASSWORD", "s3cret-pw"),
        ("GAZETTE_WEBHOOK_MAILGUN_KEY", MAILGUN_KEY),
        ("GAZETTE_WEBHOOK_SES_TOPIC", TOPIC),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([
        (
            "GAZETTE_WEBHOOK_SENDGRID_KEY".to_string(),
            String::from_utf8(read("sendgrid-test-pub.b64")).unwrap(),
        ),
        (
            "GAZETTE_WEBHOOK_SES_CERT".to_string(),
            fixture("sns-test-cert.pem").display().to_string(),
        ),
    ])
    .filter(|_| secrets)
    .collect();
    let settings = config::load(&path, &env, &Default::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, store) = rt.block_on(async {
        let store = Store::open(&settings.database_url).await.unwrap();
        for s in subscribers {
            let e = SubscriberEmail::parse(s).unwrap();
            store
                .add(&e, None, true, Source::Cli, chrono::Utc::now())
                .await
                .unwrap();
        }
        // The production wiring, as `serve` and `worker` use it.
        let (listener, addr, state) =
            gazette::app::bind_web(&settings, store.clone(), Some("127.0.0.1:0".into()))
                .await
                .unwrap();
        tokio::spawn(web::serve(listener, state, std::future::pending()));
        (addr, store)
    });
    App {
        addr,
        db_url: settings.database_url.clone(),
        store,
        rt,
        _dir: dir,
    }
}

impl App {
    fn status(&self, email: &str) -> String {
        let e = SubscriberEmail::parse(email).unwrap();
        let s = self.rt.block_on(self.store.get(&e)).unwrap().unwrap();
        s.status.as_str().to_string()
    }

    fn bounce_rows(&self) -> usize {
        self.rt.block_on(self.store.bounces(None)).unwrap().len()
    }

    /// POST with a 10 s timeout; (status, body).
    fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = raw
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

#[test]
fn postmark_basic_auth_bounce_and_complaint() {
    let app = spawn(&["john@example.com", "jane@example.com"]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let good = format!("Basic {}", b64.encode("postmark:s3cret-pw"));
    let bad = format!("Basic {}", b64.encode("postmark:wrong"));
    let bounce = read("postmark-bounce.json");
    assert_eq!(app.post("/webhooks/postmark", &[], &bounce).0, 401);
    assert_eq!(
        app.post("/webhooks/postmark", &[("Authorization", &bad)], &bounce)
            .0,
        401
    );
    assert_eq!(app.status("john@example.com"), "active");
    assert_eq!(app.bounce_rows(), 0, "a refused request changes nothing");
    let (code, body) = app.post("/webhooks/postmark", &[("Authorization", &good)], &bounce);
    assert_eq!(
        (code, body.contains("\"recorded\":1")),
        (200, true),
        "{body}"
    );
    assert_eq!(app.status("john@example.com"), "bounced");
    let spam = read("postmark-spam-complaint.json");
    assert_eq!(
        app.post("/webhooks/postmark", &[("Authorization", &good)], &spam)
            .0,
        200
    );
    assert_eq!(app.status("jane@example.com"), "complained");
    // The same event again records nothing new.
    app.post("/webhooks/postmark", &[("Authorization", &good)], &bounce);
    assert_eq!(app.bounce_rows(), 2);
}

/// Now, in Unix seconds.
fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A sample re-signed with the test key as Mailgun signs: now, and a token
/// of its own (Mailgun's tokens are unique; the two samples share one).
fn mailgun_signed(name: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&read(name)).unwrap();
    mailgun_sign(&mut v, unix_now(), &format!("token-{name}"));
    serde_json::to_vec(&v).unwrap()
}

fn mailgun_sign(v: &mut serde_json::Value, ts: i64, token: &str) {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, MAILGUN_KEY.as_bytes());
    let sig = ring::hmac::sign(&key, format!("{ts}{token}").as_bytes());
    v["signature"]["timestamp"] = ts.to_string().into();
    v["signature"]["token"] = token.into();
    v["signature"]["signature"] = hex::encode(sig.as_ref()).into();
}

#[test]
fn mailgun_hmac_failed_and_complained() {
    let app = spawn(&["alice@example.com", "bob@example.com"]);
    // The documented samples carry Mailgun's own signature: not ours.
    assert_eq!(
        app.post(
            "/webhooks/mailgun",
            &[],
            &read("mailgun-failed-permanent.json")
        )
        .0,
        401
    );
    assert_eq!(app.status("alice@example.com"), "active");
    let mut tampered: serde_json::Value =
        serde_json::from_slice(&mailgun_signed("mailgun-failed-permanent.json")).unwrap();
    tampered["event-data"]["recipient"] = "bob@example.com".into();
    tampered["signature"]["token"] = "another-token".into();
    assert_eq!(
        app.post(
            "/webhooks/mailgun",
            &[],
            &serde_json::to_vec(&tampered).unwrap()
        )
        .0,
        401
    );
    assert_eq!(app.bounce_rows(), 0);
    assert_eq!(
        app.post(
            "/webhooks/mailgun",
            &[],
            &mailgun_signed("mailgun-failed-permanent.json")
        )
        .0,
        200
    );
    assert_eq!(app.status("alice@example.com"), "bounced");
    assert_eq!(
        app.post(
            "/webhooks/mailgun",
            &[],
            &mailgun_signed("mailgun-complained.json")
        )
        .0,
        200
    );
    assert_eq!(app.status("bob@example.com"), "complained");
}

/// SendGrid's signature (base64 ECDSA P-256) of `ts` + `body`, made with
/// the test key.
fn sendgrid_signature(ts: &str, body: &[u8]) -> String {
    let rng = ring::rand::SystemRandom::new();
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &read("sendgrid-test-key.pk8"),
        &rng,
    )
    .unwrap();
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(body);
    base64::engine::general_purpose::STANDARD.encode(key.sign(&rng, &signed).unwrap())
}

#[test]
fn sendgrid_signed_events() {
    let app = spawn(&["example@test.com", "other@test.com"]);
    let body = read("sendgrid-events.json");
    let ts = unix_now().to_string();
    let sig = sendgrid_signature(&ts, &body);
    let headers = [
        ("X-Twilio-Email-Event-Webhook-Signature", sig.as_str()),
        ("X-Twilio-Email-Event-Webhook-Timestamp", ts.as_str()),
    ];
    assert_eq!(app.post("/webhooks/sendgrid", &[], &body).0, 401);
    let next_second = (unix_now() + 1).to_string();
    let other_ts = [
        headers[0],
        (
            "X-Twilio-Email-Event-Webhook-Timestamp",
            next_second.as_str(),
        ),
    ];
    assert_eq!(app.post("/webhooks/sendgrid", &other_ts, &body).0, 401);
    let mut changed = body.clone();
    changed[10] ^= 1;
    assert_eq!(app.post("/webhooks/sendgrid", &headers, &changed).0, 401);
    assert_eq!(app.bounce_rows(), 0);
    let (code, reply) = app.post("/webhooks/sendgrid", &headers, &body);
    assert_eq!(code, 200, "{reply}");
    assert!(
        reply.contains("\"recorded\":2"),
        "processed and deferred are no bounces: {reply}"
    );
    assert_eq!(app.status("example@test.com"), "bounced");
    assert_eq!(app.status("other@test.com"), "complained");
}

/// An SNS envelope around `message`, signed with the test key.
fn sns(kind: &str, message: &str, version: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut m = serde_json::json!({
        "Type": kind,
        "MessageId": format!("msg-{}", message.len()),
        "TopicArn": TOPIC,
        "Message": message,
        "Timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "SignatureVersion": version,
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
    });
    for (k, v) in extra {
        m[*k] = (*v).into();
    }
    sns_sign(&mut m);
    serde_json::to_vec(&m).unwrap()
}

/// Sign an SNS envelope with the test key: SignatureVersion 2
/// (SHA256withRSA) with ring, 1 (SHA1withRSA) with the `openssl` command,
/// since ring signs no SHA-1.
fn sns_sign(m: &mut serde_json::Value) {
    let kind = m["Type"].as_str().unwrap().to_string();
    let fields: &[&str] = if kind == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut text = String::new();
    for f in fields {
        if let Some(v) = m[*f].as_str() {
            text.push_str(&format!("{f}\n{v}\n"));
        }
    }
    let sig = if m["SignatureVersion"] == "1" {
        openssl_sha1_sign(text.as_bytes())
    } else {
        let key = ring::signature::RsaKeyPair::from_pkcs8(&read("sns-test-key.pk8")).unwrap();
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            text.as_bytes(),
            &mut sig,
        )
        .unwrap();
        sig
    };
    m["Signature"] = base64::engine::general_purpose::STANDARD.encode(sig).into();
}

/// `openssl dgst -sha1 -sign` with the SNS test key (PKCS#8 DER).
fn openssl_sha1_sign(data: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (key, input) = (dir.path().join("key.pem"), dir.path().join("in"));
    std::fs::write(&input, data).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("the openssl command signs SignatureVersion 1");
        assert!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let der = fixture("sns-test-key.pk8");
    run(&[
        "pkey".as_ref(),
        "-inform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        der.as_os_str(),
        "-out".as_ref(),
        key.as_os_str(),
    ]);
    run(&[
        "dgst".as_ref(),
        "-sha1".as_ref(),
        "-sign".as_ref(),
        key.as_os_str(),
        input.as_os_str(),
    ])
}

/// A one-shot HTTP server standing in for SNS's SubscribeURL.
fn confirm_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(Mutex::new(Vec::new()));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let _ = r.read_line(&mut line);
            h.lock().unwrap().push(line.trim().to_string());
            let mut w = s;
            let _ =
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (addr, hits)
}

#[test]
fn ses_through_sns_signed_subscription_bounce_and_complaint() {
    let app = spawn(&[
        "jane@example.com",
        "richard@example.com",
        "mary@example.com",
    ]);
    let (confirm, hits) = confirm_server();
    let url = format!("http://{confirm}/?Action=ConfirmSubscription&Token=abc");
    let sub = sns(
        "SubscriptionConfirmation",
        "You have chosen to subscribe",
        "2",
        &[("SubscribeURL", &url), ("Token", "abc")],
    );
    let (code, body) = app.post(
        "/webhooks/ses",
        &[("x-amz-sns-message-type", "SubscriptionConfirmation")],
        &sub,
    );
    assert_eq!((code, body.trim()), (200, "subscribed"));
    assert_eq!(hits.lock().unwrap().len(), 1);
    assert!(hits.lock().unwrap()[0].contains("Token=abc"));

    let bounce_msg = String::from_utf8(read("ses-bounce-message.json")).unwrap();
    // SignatureVersion 1 (SHA1withRSA): the fixture's envelope, re-signed
    // now (a signature is good for five minutes).
    let mut v1: serde_json::Value =
        serde_json::from_slice(&read("ses-bounce-sns-v1.json")).unwrap();
    v1["Timestamp"] = chrono::Utc::now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .into();
    sns_sign(&mut v1);
    let bounce = serde_json::to_vec(&v1).unwrap();
    // Any change to a signed field breaks the signature.
    let mut forged: serde_json::Value = serde_json::from_slice(&bounce).unwrap();
    forged["Message"] = bounce_msg.replace("jane@", "mary@").trim().into();
    assert_eq!(
        app.post("/webhooks/ses", &[], &serde_json::to_vec(&forged).unwrap())
            .0,
        401
    );
    let mut other_topic: serde_json::Value = serde_json::from_slice(&bounce).unwrap();
    other_topic["TopicArn"] = "arn:aws:sns:us-east-1:999999999999:someone-else".into();
    assert_eq!(
        app.post(
            "/webhooks/ses",
            &[],
            &serde_json::to_vec(&other_topic).unwrap()
        )
        .0,
        401
    );
    assert_eq!(app.bounce_rows(), 0);
    assert_eq!(app.status("mary@example.com"), "active");

    assert_eq!(app.post("/webhooks/ses", &[], &bounce).0, 200);
    assert_eq!(app.status("jane@example.com"), "bounced");
    let complaint_msg = String::from_utf8(read("ses-complaint-message.json")).unwrap();
    let complaint = sns("Notification", complaint_msg.trim(), "2", &[]);
    assert_eq!(app.post("/webhooks/ses", &[], &complaint).0, 200);
    assert_eq!(app.status("richard@example.com"), "complained");
    assert_eq!(app.status("mary@example.com"), "active");
}

#[test]
fn unconfigured_providers_have_no_endpoint() {
    let app = spawn_with(&[], false);
    for p in ["ses", "postmark", "mailgun", "sendgrid"] {
        assert_eq!(
            app.post(&format!("/webhooks/{p}"), &[], b"{}").0,
            404,
            "{p}"
        );
    }
}

/// The rows of the nonce table (what a replay is checked against).
fn nonce_rows(app: &App, provider: &str) -> i64 {
    app.rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&app.db_url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_nonces WHERE provider = $1")
            .bind(provider)
            .fetch_one(&pool)
            .await
            .unwrap()
    })
}

#[test]
fn a_captured_mailgun_signature_cannot_be_replayed() {
    let app = spawn(&["alice@example.com", "bob@example.com", "carol@example.com"]);
    // Signed in 2017: a valid HMAC, but stale.
    let mut old: serde_json::Value =
        serde_json::from_slice(&read("mailgun-failed-permanent.json")).unwrap();
    mailgun_sign(&mut old, 1_500_000_000, "old-token");
    let (code, _) = app.post("/webhooks/mailgun", &[], &serde_json::to_vec(&old).unwrap());
    assert_eq!(code, 401, "a signature from 2017");
    // Ten minutes ahead: refused as well.
    let mut ahead = old.clone();
    mailgun_sign(&mut ahead, unix_now() + 600, "future-token");
    let (code, _) = app.post(
        "/webhooks/mailgun",
        &[],
        &serde_json::to_vec(&ahead).unwrap(),
    );
    assert_eq!(code, 401, "a signature from the future");
    assert_eq!(app.bounce_rows(), 0);
    assert_eq!(app.status("alice@example.com"), "active");

    // A genuine, fresh event for alice.
    let mut real = old.clone();
    mailgun_sign(&mut real, unix_now(), "captured-token");
    let real = serde_json::to_vec(&real).unwrap();
    assert_eq!(app.post("/webhooks/mailgun", &[], &real).0, 200);
    assert_eq!(app.status("alice@example.com"), "bounced");
    assert_eq!(app.bounce_rows(), 1);

    // The captured signature with another event and address: refused.
    let mut forged: serde_json::Value = serde_json::from_slice(&real).unwrap();
    forged["event-data"]["recipient"] = "bob@example.com".into();
    forged["event-data"]["event"] = "complained".into();
    forged["event-data"]["id"] = "another-event".into();
    let (code, _) = app.post(
        "/webhooks/mailgun",
        &[],
        &serde_json::to_vec(&forged).unwrap(),
    );
    assert_eq!(code, 401, "the signature is bound to its first body");
    let mut forged = forged.clone();
    forged["event-data"]["recipient"] = "carol@example.com".into();
    forged["event-data"]["event"] = "failed".into();
    let (code, _) = app.post(
        "/webhooks/mailgun",
        &[],
        &serde_json::to_vec(&forged).unwrap(),
    );
    assert_eq!(code, 401);
    assert_eq!(app.status("bob@example.com"), "active");
    assert_eq!(app.status("carol@example.com"), "active");

    // The same request again (a retry): applied again, nothing new.
    let (code, body) = app.post("/webhooks/mailgun", &[], &real);
    assert_eq!(code, 200);
    assert!(body.contains("\"recorded\":0"), "{body}");
    assert_eq!(app.bounce_rows(), 1);
    assert_eq!(nonce_rows(&app, "mailgun"), 1, "one token remembered");
}

#[test]
fn sendgrid_and_ses_signatures_are_fresh_and_used_once() {
    let app = spawn(&["example@test.com", "other@test.com", "jane@example.com"]);
    // SendGrid: a valid signature over a timestamp of 2001.
    let body = read("sendgrid-events.json");
    let ts = "1000000000";
    let sig = sendgrid_signature(ts, &body);
    let stale = [
        ("X-Twilio-Email-Event-Webhook-Signature", sig.as_str()),
        ("X-Twilio-Email-Event-Webhook-Timestamp", ts),
    ];
    assert_eq!(app.post("/webhooks/sendgrid", &stale, &body).0, 401);
    assert_eq!(app.status("example@test.com"), "active");
    let now = unix_now().to_string();
    let sig = sendgrid_signature(&now, &body);
    let fresh = [
        ("X-Twilio-Email-Event-Webhook-Signature", sig.as_str()),
        ("X-Twilio-Email-Event-Webhook-Timestamp", now.as_str()),
    ];
    assert_eq!(app.post("/webhooks/sendgrid", &fresh, &body).0, 200);
    let (code, reply) = app.post("/webhooks/sendgrid", &fresh, &body);
    assert_eq!(
        (code, reply.contains("\"recorded\":0")),
        (200, true),
        "{reply}"
    );
    assert_eq!(app.bounce_rows(), 2);

    // SES: a correctly signed notification from 2016 is refused.
    let msg = String::from_utf8(read("ses-bounce-message.json")).unwrap();
    let mut old: serde_json::Value =
        serde_json::from_slice(&sns("Notification", msg.trim(), "2", &[])).unwrap();
    old["Timestamp"] = "2016-01-27T14:59:38.237Z".into();
    sns_sign(&mut old);
    let old = serde_json::to_vec(&old).unwrap();
    assert_eq!(app.post("/webhooks/ses", &[], &old).0, 401);
    assert_eq!(app.status("jane@example.com"), "active");
    // Fresh: applied once; the same message again changes nothing.
    let fresh = sns("Notification", msg.trim(), "2", &[]);
    assert_eq!(app.post("/webhooks/ses", &[], &fresh).0, 200);
    assert_eq!(app.status("jane@example.com"), "bounced");
    let (code, reply) = app.post("/webhooks/ses", &[], &fresh);
    assert_eq!(
        (code, reply.contains("\"recorded\":0")),
        (200, true),
        "{reply}"
    );
    assert_eq!(app.bounce_rows(), 3);
}

#[test]
fn a_provider_s_own_suppression_is_not_a_new_hard_bounce() {
    let app = spawn(&["jane@example.com", "alice@example.com"]);
    // SES: not sent, the address is on SES's suppression list.
    let msg = String::from_utf8(read("ses-bounce-message.json"))
        .unwrap()
        .replace("\"General\"", "\"Suppressed\"");
    assert!(msg.contains("Suppressed"));
    assert_eq!(
        app.post(
            "/webhooks/ses",
            &[],
            &sns("Notification", msg.trim(), "2", &[])
        )
        .0,
        200
    );
    assert_eq!(app.status("jane@example.com"), "active");
    // Mailgun: dropped by its suppression list (reason suppress-bounce).
    let mut v: serde_json::Value =
        serde_json::from_slice(&read("mailgun-failed-permanent.json")).unwrap();
    v["event-data"]["reason"] = "suppress-bounce".into();
    mailgun_sign(&mut v, unix_now(), "suppressed-token");
    assert_eq!(
        app.post("/webhooks/mailgun", &[], &serde_json::to_vec(&v).unwrap())
            .0,
        200
    );
    assert_eq!(app.status("alice@example.com"), "active");
    let rows = app.rt.block_on(app.store.bounces(None)).unwrap();
    assert_eq!(rows.len(), 2, "both logged");
    assert!(
        rows.iter()
            .all(|r| r.kind == "soft" && r.reason == "suppressed"),
        "{rows:?}"
    );
}
