use super::*;
use std::time::Duration;

const MINIMAL: &str = r#"
[newsletter]
title = "Notes"
from = "Ann <news@example.com>"
base_url = "https://example.com/blog/"
postal_address = "1 Main St"
"#;

fn load_str(text: &str, env: &[(&str, &str)], flags: Overrides) -> Result<Settings> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gazette.toml");
    std::fs::write(&path, text).unwrap();
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(&path, &env, &flags)
}

#[test]
fn minimal_config_gets_defaults() {
    let s = load_str(MINIMAL, &[], Overrides::default()).unwrap();
    assert_eq!(s.newsletter.base_url, "https://example.com/blog");
    assert_eq!(s.newsletter.public_url, "http://127.0.0.1:8080");
    assert!(s.database_url.ends_with("gazette.db"));
    assert!(s.smtp.url.is_none());
    assert_eq!(s.smtp.concurrency, 4);
    assert_eq!(s.newsletter.list_id, "notes.example.com");
}

#[test]
fn flags_beat_env_beat_file() {
    let text = format!("{MINIMAL}\n[smtp]\nurl = \"smtp://file:25\"\n");
    let s = load_str(&text, &[], Overrides::default()).unwrap();
    assert_eq!(s.smtp.url.as_deref(), Some("smtp://file:25"));
    let s = load_str(
        &text,
        &[("GAZETTE_SMTP_URL", "smtp://env:25")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(s.smtp.url.as_deref(), Some("smtp://env:25"));
    let flags = Overrides {
        smtp_url: Some("smtp://flag:25".into()),
        ..Default::default()
    };
    let s = load_str(&text, &[("GAZETTE_SMTP_URL", "smtp://env:25")], flags).unwrap();
    assert_eq!(s.smtp.url.as_deref(), Some("smtp://flag:25"));
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = format!("{MINIMAL}\n[smtp]\nurll = \"x\"\n");
    let e = load_str(&text, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("gazette.toml:9:"), "{e}");
    assert!(e.contains("urll"), "{e}");
}

#[test]
fn invalid_value_names_line_and_key() {
    let text = MINIMAL.replace("Ann <news@example.com>", "not an address");
    let e = load_str(&text, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("gazette.toml:4: newsletter.from:"), "{e}");
}

#[test]
fn missing_required_key() {
    let text = MINIMAL.replace("title = \"Notes\"\n", "");
    let e = load_str(&text, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("newsletter.title: missing"), "{e}");
}

#[test]
fn missing_file_is_clear() {
    let e = load(
        Path::new("/nonexistent/gazette.toml"),
        &HashMap::new(),
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("/nonexistent/gazette.toml: configuration file not found"),
        "{e}"
    );
}

#[test]
fn durations_and_counts_are_range_checked_with_their_line() {
    for (section, key, value) in [
        ("smtp", "timeout", "\"0s\""),
        ("web", "confirm_ttl", "\"0s\""),
        ("web", "confirm_ttl", "\"100000000000d\""),
        ("smtp", "max_attempts", "0"),
        ("smtp", "concurrency", "0"),
        ("worker", "poll_interval", "\"1ms\""),
        ("digest", "first_window_days", "0"),
    ] {
        let text = format!("{MINIMAL}\n[{section}]\n{key} = {value}\n");
        let e = load_str(&text, &[], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("gazette.toml:9: {section}.{key}:")),
            "{section}.{key} = {value}: {e}"
        );
    }
    let text = format!("{MINIMAL}\n[smtp]\ntimeout = \"2s\"\n");
    let s = load_str(&text, &[], Overrides::default()).unwrap();
    assert_eq!(s.smtp.timeout, Duration::from_secs(2));
}

#[test]
fn smtp_url_and_listen_errors_name_their_line_or_variable() {
    let text = format!("{MINIMAL}\n[smtp]\nurl = \"smtp://x?tls=maybe\"\n");
    let e = load_str(&text, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("gazette.toml:9: smtp.url:"), "{e}");
    let e = load_str(
        MINIMAL,
        &[("GAZETTE_SMTP_URL", "http://x")],
        Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("GAZETTE_SMTP_URL: "), "{e}");
    let text = format!("{MINIMAL}\n[web]\nlisten = \"nowhere\"\n");
    let e = load_str(&text, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("gazette.toml:9: web.listen:"), "{e}");
}

#[test]
fn post_size_cap() {
    let s = load_str(MINIMAL, &[], Overrides::default()).unwrap();
    assert_eq!(s.max_post_size, 5 << 20);
    let text = format!("{MINIMAL}\n[paths]\nmax_post_size = \"64KB\"\n");
    assert_eq!(
        load_str(&text, &[], Overrides::default())
            .unwrap()
            .max_post_size,
        64 << 10
    );
    let text = format!("{MINIMAL}\n[paths]\nmax_post_size = \"huge\"\n");
    let e = load_str(&text, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("gazette.toml:9: paths.max_post_size:"), "{e}");
}

#[test]
fn an_empty_admin_listen_turns_the_admin_listener_off() {
    let s = load_str(MINIMAL, &[], Overrides::default()).unwrap();
    assert_eq!(s.web.admin_listen.as_deref(), Some("127.0.0.1:8081"));
    let s = load_str(
        MINIMAL,
        &[("GAZETTE_ADMIN_LISTEN", "")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(s.web.admin_listen, None);
    let text = format!("{MINIMAL}\n[web]\nadmin_listen = \"\"\n");
    assert_eq!(
        load_str(&text, &[], Overrides::default())
            .unwrap()
            .web
            .admin_listen,
        None
    );
    let s = load_str(
        MINIMAL,
        &[("GAZETTE_ADMIN_LISTEN", "127.0.0.1:9")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(s.web.admin_listen.as_deref(), Some("127.0.0.1:9"));
}

#[test]
fn wrong_types_name_their_key_and_urls_stay_clean() {
    let text = format!("{MINIMAL}\n[smtp]\nconcurrency = -1\n");
    let e = load_str(&text, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("gazette.toml:9: smtp.concurrency: "), "{e}");
    let text = MINIMAL.replace(
        "postal_address",
        "public_url = \"http://evil.example/\\\"><script>\"\npostal_address",
    );
    let e = load_str(&text, &[], Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("newsletter.public_url:"), "{e}");
}
