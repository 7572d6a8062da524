//! The configuration keys agree in three places: the README documents them,
//! `gazette init` writes them (commented, with defaults), and the code
//! reads them.

use std::collections::BTreeSet;

use crate::helpers::{Project, CONFIG};

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

/// The ```toml block of the README's "## Configuration" section.
fn readme_keys() -> BTreeSet<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme
        .find("\n## Configuration")
        .expect("README has ## Configuration")..];
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
        "in the README but not written by `gazette init`: {not_written:?}"
    );
    assert!(
        not_documented.is_empty(),
        "written by `gazette init` but not in the README: {not_documented:?}"
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
