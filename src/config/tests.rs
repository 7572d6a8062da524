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

fn load_err(text: &str, env: &[(&str, &str)], flags: Overrides) -> String {
    load_str(text, env, flags).unwrap_err().to_string()
}

#[test]
fn the_bounce_mailbox_password_is_never_sent_in_clear_beyond_loopback() {
    let with = |url: &str| {
        format!("{MINIMAL}\n[bounces]\naddress = \"bounces@example.com\"\nimap_url = \"{url}\"\n")
    };
    let pw = [("GAZETTE_BOUNCES_PASSWORD", "pw")];
    let e = load_err(
        &with("imap://user@mail.example.com/INBOX"),
        &pw,
        Overrides::default(),
    );
    assert!(e.contains("gazette.toml:10: bounces.imap_url: "), "{e}");
    assert!(
        e.contains("refusing to send the password over an unencrypted connection: use imaps:// or ?tls=required (or ?insecure_auth=true if you must)"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    let e = load_err(
        &with("imap://user@mail.example.com/INBOX?tls=maybe"),
        &pw,
        Overrides::default(),
    );
    assert!(e.contains("tls=maybe (expected required or none)"), "{e}");
    let e = load_err(
        &with("imap://user:secret@127.0.0.1/INBOX"),
        &pw,
        Overrides::default(),
    );
    assert!(e.contains("GAZETTE_BOUNCES_PASSWORD"), "{e}");
    assert!(!e.contains("secret"), "{e}");
    for (url, tls) in [
        ("imaps://user@mail.example.com/INBOX", ImapTls::Implicit),
        (
            "imap://user@mail.example.com/INBOX?tls=required",
            ImapTls::Required,
        ),
        (
            "imap://user@mail.example.com/INBOX?insecure_auth=true",
            ImapTls::None,
        ),
        ("imap://user@127.0.0.1:1143/INBOX", ImapTls::None),
        ("imap://user@[::1]:1143/INBOX", ImapTls::None),
        (
            "imap://user@localhost/INBOX?tls=required",
            ImapTls::Required,
        ),
    ] {
        let s = load_str(&with(url), &pw, Overrides::default()).unwrap();
        assert_eq!(s.bounces.imap_tls, tls, "{url}");
    }
}

#[test]
fn a_mailbox_without_verp_needs_an_explicit_opt_in() {
    let url = "imaps://user@mail.example.com/INBOX";
    let text = format!("{MINIMAL}\n[bounces]\nimap_url = \"{url}\"\n");
    let e = load_err(&text, &[], Overrides::default());
    assert!(e.contains("gazette.toml:9: bounces.imap_url: "), "{e}");
    assert!(e.contains("bounces.address"), "{e}");
    assert!(e.contains("allow_unverified_mailbox = true"), "{e}");
    let text = format!("{text}allow_unverified_mailbox = true\n");
    let s = load_str(&text, &[], Overrides::default()).unwrap();
    assert!(s.bounces.allow_unverified_mailbox);
    assert!(s.bounces.policy.address.is_none());
}

#[test]
fn control_characters_in_urls_and_paths_are_refused_naming_their_origin() {
    let cr = "contains a carriage return";
    for (name, value) in [
        ("GAZETTE_DATABASE_URL", "sqlite://gazette.db\r"),
        ("GAZETTE_SMTP_URL", "smtp://127.0.0.1:25\r\n"),
        ("GAZETTE_ADMIN_LISTEN", "127.0.0.1:8081\r"),
        ("GAZETTE_WEBHOOK_SES_CERT", "sns.pem\r"),
    ] {
        let e = load_err(MINIMAL, &[(name, value)], Overrides::default());
        assert!(e.starts_with(&format!("{name}: ")), "{e}");
        assert!(e.contains("control") || e.contains(cr), "{e}");
        assert!(!e.contains('\r') && !e.contains('\n'), "{e:?}");
    }
    let flags = Overrides {
        database_url: Some("sqlite://x.db\n".into()),
        ..Default::default()
    };
    let e = load_err(MINIMAL, &[], flags);
    assert!(e.starts_with("--database-url: contains a line feed"), "{e}");
    let flags = Overrides {
        smtp_url: Some("smtp://127.0.0.1:25\t".into()),
        ..Default::default()
    };
    let e = load_err(MINIMAL, &[], flags);
    assert!(e.starts_with("--smtp-url: contains a tab"), "{e}");
    for (section, key, value) in [
        ("database", "url", "sqlite://gazette.db\\r"),
        ("paths", "posts", "posts\\r"),
        ("paths", "outbox", "out\\u0000box"),
        ("bounces", "imap_url", "imaps://u@h/INBOX\\r"),
        ("web", "trusted_proxies", "[\"10.0.0.1\\r\"]"),
    ] {
        let v = if value.starts_with('[') {
            value.to_string()
        } else {
            format!("\"{value}\"")
        };
        let text = format!("{MINIMAL}\n[{section}]\n{key} = {v}\n");
        let e = load_err(&text, &[], Overrides::default());
        assert!(
            e.contains(&format!("gazette.toml:9: {section}.{key}: contains ")),
            "{section}.{key}: {e}"
        );
    }
    let text = MINIMAL.replace("https://example.com/blog/", "https://example.com/\\r");
    let e = load_err(&text, &[], Overrides::default());
    assert!(
        e.contains("newsletter.base_url: contains a carriage"),
        "{e}"
    );
    // Free text may hold a line break.
    let text = MINIMAL.replace("\"1 Main St\"", "\"1 Main St\\nTown\"");
    load_str(&text, &[], Overrides::default()).unwrap();
    // The configuration file's own path.
    let mut env = HashMap::new();
    env.insert("GAZETTE_CONFIG".to_string(), "gazette.toml\r".to_string());
    let e = load(Path::new("gazette.toml\r"), &env, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("GAZETTE_CONFIG: contains a carriage"), "{e}");
}

#[test]
fn smtp_rate_is_range_checked_with_the_reason() {
    for (value, why) in [
        ("1e-20", "out of range"),
        ("0.0000001", "more than 16 minutes"),
        ("-1.0", "negative"),
        ("nan", "not a number"),
        ("inf", "not a number"),
        ("1e300", "limits nothing"),
    ] {
        let text = format!("{MINIMAL}\n[smtp]\nrate = {value}\n");
        let e = load_err(&text, &[], Overrides::default());
        assert!(e.contains("gazette.toml:9: smtp.rate: "), "{value}: {e}");
        assert!(e.contains(why), "{value}: {e}");
        assert!(e.contains("must be 0 (no limit) or between"), "{e}");
    }
    for (value, rate) in [
        ("0.0", None),
        ("0.001", Some(0.001)),
        ("250.0", Some(250.0)),
    ] {
        let text = format!("{MINIMAL}\n[smtp]\nrate = {value}\n");
        let s = load_str(&text, &[], Overrides::default()).unwrap();
        assert_eq!(s.smtp.rate, rate, "{value}");
    }
}

#[test]
fn bounce_windows_are_bounded() {
    for (key, value) in [
        ("soft_window", "100000000d"),
        ("soft_window", "1s"),
        ("poll", "1000d"),
    ] {
        let text = format!("{MINIMAL}\n[bounces]\n{key} = \"{value}\"\n");
        let e = load_err(&text, &[], Overrides::default());
        assert!(
            e.contains(&format!("gazette.toml:9: bounces.{key}: must be between")),
            "{e}"
        );
    }
}

#[test]
fn the_admin_token_is_trimmed() {
    let s = load_str(
        MINIMAL,
        &[("GAZETTE_ADMIN_TOKEN", " 0123456789abcdef\r\n")],
        Overrides::default(),
    )
    .unwrap();
    let t = s.web.admin_token.unwrap();
    assert!(t.matches("0123456789abcdef"));
    assert!(!t.matches(" 0123456789abcdef\r\n"));
    assert_eq!(t.strength(), 16);
}
