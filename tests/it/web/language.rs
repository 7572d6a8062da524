//! Any language: `[newsletter] language = "de"` leaves no English sentence
//! in the pages and emails Gazette produces, and no user-visible sentence
//! is left in the Rust code of the web pages and rendering.

use crate::helpers::app::spawn_app_with;
use crate::helpers::readers::{link, subscribe_and_confirm};

/// Words that only English text has (checked on the visible text, links,
/// addresses and the newsletter's own title and address removed).
const ENGLISH: &[&str] = &[
    "the ",
    " you",
    "You ",
    "your",
    "Your",
    "ubscri",
    "Preferences",
    "Read ",
    "Confirm",
    "confirm",
    "Welcome",
    "Thank",
    "archive",
    "Archive",
    "new post",
    " link",
    "Please",
    "This ",
    "Something",
    "email",
    "Email",
    "Nothing",
    "Check",
    "Choose",
    "How often",
    "Both",
    "Save",
    "Topics",
    "from ",
    "View in",
];

fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let body = html.split("</head>").last().unwrap_or(html);
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace()
        .filter(|w| !w.contains("http") && !w.contains('@'))
        .collect::<Vec<_>>()
        .join(" ")
        .replace("Test Notes", "")
        .replace("1 Test Street, Testville", "")
}

fn assert_german(what: &str, text: &str) {
    let text = visible(text);
    for word in ENGLISH {
        assert!(!text.contains(word), "{what}: English {word:?} in:\n{text}");
    }
}

/// The Subject and the body of a decoded email.
fn email_text(mail: &str) -> String {
    let subject = mail
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("");
    let subject = decode_subject(subject);
    let body = mail.split_once("\r\n\r\n").map_or(mail, |(_, b)| b);
    let body: String = body
        .lines()
        .filter(|l| !l.starts_with("Content-") && !l.starts_with("--") && !l.starts_with("MIME"))
        .collect::<Vec<_>>()
        .join("\n");
    format!("{subject}\n{body}")
}

/// `=?utf-8?b?...?=` words of a header, decoded.
fn decode_subject(s: &str) -> String {
    let mut out = String::new();
    for w in s.split_whitespace() {
        if let Some(b) = w
            .strip_prefix("=?utf-8?b?")
            .and_then(|w| w.strip_suffix("?="))
        {
            let mut cmd = std::process::Command::new("python3");
            cmd.args([
                "-c",
                "import base64,sys;print(base64.b64decode(sys.argv[1]).decode())",
                b,
            ]);
            out.push_str(
                crate::helpers::run_with_timeout(&mut cmd, std::time::Duration::from_secs(30))
                    .stdout()
                    .trim(),
            );
        } else {
            out.push_str(w);
            out.push(' ');
        }
    }
    out
}

#[test]
fn a_german_configuration_leaves_no_english_sentence() {
    let base =
        crate::helpers::CONFIG.replace("[newsletter]\n", "[newsletter]\nlanguage = \"de\"\n");
    let app = spawn_app_with(
        &base,
        "[archive]\nenabled = true\n[topics]\nrust = \"Rust\"\n",
    );
    let get = |p: &str| crate::http::get(app.addr, p);
    let index = get("/");
    assert!(index.body.contains("<html lang=\"de\">"));
    assert_german("subscribe page", &index.body);
    let r = crate::http::subscribe(app.addr, "email=x");
    assert_eq!(r.status, 422);
    assert_german("bad address page", &r.body);

    subscribe_and_confirm(&app, "lea%40example.org", 1);
    let confirm = app.wait_for_email(1);
    assert!(confirm.contains("<html lang=\"de\">"));
    assert_german("confirmation email", &email_text(&confirm));
    let welcome = app.wait_for_email(2);
    assert_german("welcome email", &email_text(&welcome));
    assert!(
        email_text(&welcome).contains("Willkommen bei Test Notes"),
        "{welcome}"
    );

    let prefs = link(&welcome, "/preferences/");
    assert_german("preferences page", &get(&prefs).body);
    let saved = crate::http::post_form(app.addr, &prefs, "frequency=both&topics=rust");
    assert!(saved.body.contains("Ihre Einstellungen sind gespeichert."));
    assert_german("preferences saved", &saved.body);
    let unsub = link(&welcome, "/unsubscribe/");
    assert_german("unsubscribe page", &get(&unsub).body);
    for path in [
        "/confirm/nope.nope",
        "/unsubscribe/nope.nope",
        "/preferences/nope.nope",
        "/archive/9/x",
    ] {
        assert_german(path, &get(path).body);
    }

    let id = crate::helpers::readers::sent_campaign_dated(
        &app,
        "Eins",
        "Zusammenfassung.",
        "2026-03-05",
    );
    let archive = get("/archive");
    assert_german("archive", &archive.body);
    let issue = get(&format!("/archive/{id}/test-notes-eins"));
    assert!(issue.body.contains("5. März 2026"), "{}", issue.body);
    assert_german("post email", &issue.body.replace("Hello readers.", ""));
    let r = crate::http::post_form(app.addr, &unsub, "List-Unsubscribe=One-Click");
    assert_german("unsubscribed page", &r.body);
}

/// String literals in `src/web` and `src/render` that read like a sentence
/// to a reader: the catalogue is the place for them. Log lines, errors for
/// operators and machine-facing endpoints (admin, webhooks) are not for
/// readers.
#[test]
fn no_reader_facing_sentence_in_the_rust_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for dir in ["web", "render"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() || ["admin.rs", "webhooks.rs", "headers.rs"].contains(&name.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (n, line) in code.lines().enumerate() {
                let t = line.trim();
                if t.starts_with("//")
                    || t.contains("tracing::")
                    || t.contains("Error::")
                    || t.ends_with("// not shown to readers")
                {
                    continue;
                }
                for lit in t.split('"').skip(1).step_by(2) {
                    let words: Vec<&str> = lit.split_whitespace().collect();
                    let sentence = words.len() >= 3
                        && words[0].chars().next().is_some_and(char::is_uppercase)
                        && words
                            .iter()
                            .all(|w| w.chars().all(|c| c.is_alphabetic() || ".,!?'".contains(c)));
                    if sentence {
                        found.push(format!("src/{dir}/{name}:{}: {lit:?}", n + 1));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "sentences for readers belong in templates/i18n/*.toml:\n{}",
        found.join("\n")
    );
}
