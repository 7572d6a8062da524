//! For readers: the welcome email, preferences, the archive and its feed,
//! over real HTTP on 127.0.0.1 with a real SQLite file and the outbox.

use gazette::audience::Status;

use crate::http;
use crate::web::{spawn_app, App};

/// The path of the first `https://news.example.com{prefix}…` link.
pub fn link(email: &str, prefix: &str) -> String {
    let full = format!("https://news.example.com{prefix}");
    let start = email
        .find(&full)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{email}"));
    let rest = &email[start + "https://news.example.com".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "./:-_".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Subscribe on the page and open the confirmation link; returns its path.
pub fn subscribe_and_confirm(app: &App, email: &str, n: usize) -> String {
    let r = http::post_form(app.addr, "/subscribe", &format!("email={email}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let mail = app.wait_for_email(n);
    let confirm = link(&mail, "/confirm/");
    let r = http::get(app.addr, &confirm);
    assert_eq!(r.status, 200, "{}", r.body);
    confirm
}

#[test]
fn confirming_twice_sends_one_welcome_email() {
    let app = spawn_app("");
    let confirm = subscribe_and_confirm(&app, "ann%40example.org", 1);
    assert_eq!(app.status_of("ann@example.org"), Some(Status::Active));
    let welcome = app.wait_for_email(2);
    assert!(
        welcome.contains("Subject: Welcome to Test Notes"),
        "{welcome}"
    );
    assert!(welcome.contains("List-Unsubscribe: <https://news.example.com/unsubscribe/"));
    let prefs = link(&welcome, "/preferences/");
    let token = app.unsub_token("ann@example.org");
    assert_eq!(prefs, format!("/preferences/{token}"));
    // The same link again, and a new subscription confirmed again: no second welcome.
    assert_eq!(http::get(app.addr, &confirm).status, 404);
    let r = http::post_form(app.addr, "/subscribe", "email=ann%40example.org");
    assert_eq!(r.status, 200);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(app.outbox_files().len(), 2, "one confirmation, one welcome");
    // The flag is taken: nothing claims a second welcome for this person.
    let e = gazette::audience::SubscriberEmail::parse("ann@example.org").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let again = rt.block_on(async {
        let sub = app.store.get(&e).await.unwrap().unwrap();
        app.store
            .claim_welcome(sub.id, chrono::Utc::now())
            .await
            .unwrap()
    });
    assert!(!again);
}

#[test]
fn welcome_can_be_switched_off_and_given_a_subject() {
    let app = spawn_app("[welcome]\nenabled = false\n");
    subscribe_and_confirm(&app, "bo%40example.org", 1);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(app.outbox_files().len(), 1);

    let app = spawn_app("[welcome]\nsubject = \"Hello from {{ newsletter.title }}!\"\n");
    subscribe_and_confirm(&app, "cy%40example.org", 1);
    let welcome = app.wait_for_email(2);
    assert!(
        welcome.contains("Subject: Hello from Test Notes!"),
        "{welcome}"
    );
}
