//! Control characters in the values that name places, refused before any
//! of them is used: a CR left by a file saved with Windows line endings
//! (`GAZETTE_DATABASE_URL=sqlite://gazette.db\r`) once created and used a
//! new, empty database `gazette.db\r`. One loop per origin (environment,
//! flags, file), each error naming the variable, flag or key. And the
//! range of `[smtp] rate`, the one float of the settings.

use std::collections::HashMap;
use std::path::Path;

use super::keys::Locator;
use super::Overrides;
use crate::error::{Error, Result};

/// Environment variables holding a URL, a path, a listen address, or a
/// secret or name no control character belongs in (a CR left there made
/// every webhook answer 401 or every login fail, with no word why). The
/// admin token is trimmed instead; the SendGrid key is base64, whose
/// line breaks are trimmed where it is read.
const ENV: &[&str] = &[
    "GAZETTE_CONFIG",
    "GAZETTE_DATABASE_URL",
    "GAZETTE_SMTP_URL",
    "GAZETTE_ADMIN_LISTEN",
    "GAZETTE_WEBHOOK_SES_CERT",
    "GAZETTE_WEBHOOK_SES_TOPIC",
    "GAZETTE_WEBHOOK_MAILGUN_KEY",
    "GAZETTE_WEBHOOK_POSTMARK_USER",
    "GAZETTE_WEBHOOK_POSTMARK_PASSWORD",
    "GAZETTE_SMTP_PASSWORD",
    "GAZETTE_BOUNCES_PASSWORD",
    "GAZETTE_FEED_URL",
];

/// Keys of the file that are free text, where a line break or a tab may be
/// meant (`*`: every key of the section). Every other string in the file
/// (URLs, paths, addresses, names, durations…) is checked.
const FREE_TEXT: &[(&str, &str)] = &[
    ("newsletter", "title"),
    ("newsletter", "postal_address"),
    ("welcome", "subject"),
    ("digest", "subject"),
    ("topics", "*"),
];

/// Why `value` is refused: its first control character, named (the value
/// itself is never repeated: it may be a URL with a secret in it).
pub(super) fn control(value: &str) -> Option<String> {
    let c = value.chars().find(|c| c.is_control())?;
    let what = match c {
        '\r' => "a carriage return (\\r; a file saved with Windows line endings leaves one)".into(),
        '\n' => "a line feed (\\n)".into(),
        '\t' => "a tab".into(),
        c => format!("the control character U+{:04X}", c as u32),
    };
    Some(format!("contains {what}: remove it"))
}

/// `--config PATH` or `GAZETTE_CONFIG`, before the file is opened.
pub(super) fn config_path(path: &Path, env: &HashMap<String, String>) -> Result<()> {
    let shown = path.to_string_lossy();
    let Some(m) = control(&shown) else {
        return Ok(());
    };
    let name = match env.get("GAZETTE_CONFIG") {
        Some(e) if Path::new(e) == path => "GAZETTE_CONFIG",
        _ => "--config",
    };
    Err(Error::msg(format!("{name}: {m}")))
}

/// Every URL and path from the environment, the flags and the file.
pub(super) fn refuse_control(
    loc: &Locator<'_>,
    env: &HashMap<String, String>,
    flags: &Overrides,
) -> Result<()> {
    for name in ENV {
        if let Some(m) = env.get(*name).and_then(|v| control(v)) {
            return Err(Error::msg(format!("{name}: {m}")));
        }
    }
    let flags = [
        ("--database-url", &flags.database_url),
        ("--smtp-url", &flags.smtp_url),
    ];
    for (flag, value) in flags {
        if let Some(m) = value.as_deref().and_then(control) {
            return Err(Error::msg(format!("{flag}: {m}")));
        }
    }
    // The text parsed as the file was: a table of sections.
    let Ok(doc) = toml::from_str::<toml::Table>(loc.text) else {
        return Ok(());
    };
    for (section, keys) in &doc {
        let Some(keys) = keys.as_table() else {
            continue;
        };
        for (key, value) in keys {
            let free = FREE_TEXT
                .iter()
                .any(|(s, k)| s == section && (*k == "*" || k == key));
            if free {
                continue;
            }
            if let Some(m) = strings(value).into_iter().find_map(control) {
                return Err(loc.at(section, key, m));
            }
        }
    }
    Ok(())
}

/// The strings of a value (itself, or those of an array or table).
fn strings(value: &toml::Value) -> Vec<&str> {
    match value {
        toml::Value::String(s) => vec![s.as_str()],
        toml::Value::Array(a) => a.iter().flat_map(strings).collect(),
        toml::Value::Table(t) => t.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Messages per second: 0 (no limit) or within `MIN_RATE..=MAX_RATE`.
/// Below, the pause between two messages outgrows any clock (`1e-20`
/// passed and then panicked every sender).
pub(super) fn check_rate(r: f64) -> std::result::Result<f64, String> {
    const MIN_RATE: f64 = 0.001;
    const MAX_RATE: f64 = 1_000_000.0;
    let range =
        format!("must be 0 (no limit) or between {MIN_RATE} and {MAX_RATE} messages per second");
    if !r.is_finite() {
        return Err(format!(
            "{r} is not a number of messages per second: {range}"
        ));
    }
    if r < 0.0 {
        return Err(format!("{r} is negative: {range}"));
    }
    if r < MIN_RATE {
        return Err(format!(
            "{r} is out of range: {range} (below {MIN_RATE}, more than 16 minutes \
             between two messages)"
        ));
    }
    if r > MAX_RATE {
        return Err(format!(
            "{r} is out of range: {range} (above {MAX_RATE}, it limits nothing: use 0)"
        ));
    }
    Ok(r)
}
