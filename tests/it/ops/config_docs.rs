//! The configuration keys agree in three places: docs/configuration.md
//! documents them,
//! `gazette init` writes them (commented, with defaults), and the code
//! reads them. And values that once passed and then did harm are refused
//! at start by the real binary, in one line naming where they came from.

use std::collections::BTreeSet;

use crate::helpers::{run_with_timeout, Project, CONFIG, RUN_TIMEOUT};

/// `section.key` of every `key = value` line (commented or not) in a TOML
/// text; `[section]` and `# [section]` lines open sections.
fn keys(toml: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut out = BTreeSet::new();
    for line in toml.lines() {
        let t = line.trim().trim_start_matches('#').trim();
        if t.starts_with('[') && t.contains(']') {
            section = t[1..t.find(']').unwrap()].trim().to_string();
            continue;
        }
        let Some((key, _)) = t.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !section.is_empty()
            && !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            out.insert(format!("{section}.{key}"));
        }
    }
    out
}

/// The first ```toml block of docs/configuration.md (the reference the
/// README links to).
fn readme_keys() -> BTreeSet<String> {
    let section = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let start = section.find("```toml").expect("a ```toml block") + 7;
    let end = start + section[start..].find("```").unwrap();
    keys(&section[start..end])
}

#[test]
fn readme_init_and_code_agree_on_every_key() {
    let documented = readme_keys();
    let written = keys(gazette::commands::init::CONFIG_TEMPLATE);
    assert!(documented.len() > 30, "{documented:?}");
    let not_written: Vec<_> = documented.difference(&written).collect();
    let not_documented: Vec<_> = written.difference(&documented).collect();
    assert!(
        not_written.is_empty(),
        "in docs/configuration.md but not written by `gazette init`: {not_written:?}"
    );
    assert!(
        not_documented.is_empty(),
        "written by `gazette init` but not in docs/configuration.md: {not_documented:?}"
    );

    // Every documented key is one the code reads: an unknown key would be
    // refused as "unknown field" (a wrong value type is fine here).
    let p = Project::new();
    for key in &documented {
        let (section, name) = key.split_once('.').unwrap();
        let cfg = if section == "newsletter" {
            CONFIG.replace("[newsletter]\n", &format!("[newsletter]\n{name} = 12345\n"))
        } else {
            format!("{CONFIG}\n[{section}]\n{name} = 12345\n")
        };
        std::fs::write(p.path().join("gazette.toml"), cfg).unwrap();
        let out = p.run(&["posts", "list"]);
        assert!(
            !out.stderr().contains("unknown field"),
            "{key}: {}",
            out.stderr()
        );
    }
}

#[test]
fn init_writes_a_config_that_loads() {
    let p = Project::new();
    let dir = p.path().join("fresh");
    p.run(&["init", dir.to_str().unwrap()]).ok();
    let out = p.run(&[
        "--config",
        dir.join("gazette.toml").to_str().unwrap(),
        "posts",
        "check",
    ]);
    out.ok();
}

/// A CRLF env file left `\r` at the end of GAZETTE_DATABASE_URL: a new,
/// empty database `gazette.db\r` was created and used.
#[test]
fn a_control_character_in_a_url_or_path_is_refused_and_nothing_is_created() {
    let p = Project::new();
    p.write("list.csv", "email\nann@example.org\n");
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    let names = || -> BTreeSet<String> {
        std::fs::read_dir(p.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let before = names();
    for (var, value) in [
        ("GAZETTE_DATABASE_URL", "sqlite://gazette.db\r"),
        ("GAZETTE_DATABASE_URL", "sqlite://gazette.db\n"),
        ("GAZETTE_SMTP_URL", "smtp://127.0.0.1:25\r"),
        ("GAZETTE_WEBHOOK_MAILGUN_KEY", "key-0123456789\r"),
        ("GAZETTE_WEBHOOK_SES_TOPIC", "arn:aws:sns:us-east-1:1:t\r"),
        ("GAZETTE_SMTP_PASSWORD", "hunter2\r"),
    ] {
        let out = run_with_timeout(
            p.cmd().env(var, value).args(["subscribers", "list"]),
            RUN_TIMEOUT,
        );
        out.fails_with(&format!("{var}: contains a "));
        assert_eq!(out.stderr().lines().count(), 1, "{}", out.stderr());
    }
    let out = p.run(&[
        "--database-url",
        "sqlite://other.db\r",
        "subscribers",
        "list",
    ]);
    out.fails_with("--database-url: contains a carriage return");
    assert_eq!(names(), before, "no database file was created");
    // From the file: the key and its line.
    std::fs::write(
        p.path().join("gazette.toml"),
        format!("{CONFIG}[paths]\nposts = \"posts\\r\"\n"),
    )
    .unwrap();
    let line = CONFIG.lines().count() + 2;
    p.run(&["posts", "list"]).fails_with(&format!(
        "gazette.toml:{line}: paths.posts: contains a carriage return"
    ));
}

/// `rate = 1e-20` passed validation and every sender then panicked (exit
/// 101, the campaign left `sending`).
#[test]
fn an_smtp_rate_out_of_range_is_refused_before_sending() {
    let p = Project::new();
    p.post("one", "One", "2026-11-20", "Body.\n");
    p.write("list.csv", "email\nann@example.org\n");
    p.run(&["subscribers", "import", "list.csv", "--confirmed"])
        .ok();
    for rate in ["1e-20", "-2.0", "nan"] {
        std::fs::write(
            p.path().join("gazette.toml"),
            format!("{CONFIG}[smtp]\nrate = {rate}\n"),
        )
        .unwrap();
        let line = CONFIG.lines().count() + 2;
        let out = p.run(&["send", "post", "one", "--yes"]);
        out.fails_with(&format!("gazette.toml:{line}: smtp.rate: "));
        assert!(
            out.stderr().contains("must be 0 (no limit) or between"),
            "{}",
            out.stderr()
        );
    }
    std::fs::write(p.path().join("gazette.toml"), CONFIG).unwrap();
    let out = p.run(&["campaigns", "list", "--json"]);
    assert!(!out.ok().stdout().contains("sending"), "{}", out.stdout());
}
