//! Where a key is in the configuration file, for errors that name its
//! line ([`Locator`]), and the value shapes several sections share.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::util::time::parse_duration;

/// Finds the line of a key in the configuration text, for errors.
pub(super) struct Locator<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Locator<'_> {
    /// `path:line: section.key: msg`, at the line of `key` in `[section]`.
    pub fn at(&self, section: &str, key: &str, msg: impl std::fmt::Display) -> Error {
        Error::at(
            self.path,
            key_line(self.text, section, key),
            format!("{section}.{key}: {msg}"),
        )
    }

    /// A required key that is absent: the line of its section.
    pub fn missing(&self, section: &str, key: &str) -> Error {
        Error::at(
            self.path,
            key_line(self.text, section, ""),
            format!("{section}.{key}: missing (required)"),
        )
    }

    /// An error about a value that came from `origin`: the file's key, or an
    /// environment variable or flag (named instead of a line).
    pub(super) fn origin(
        &self,
        origin: Origin,
        section: &str,
        key: &str,
        msg: impl std::fmt::Display,
    ) -> Error {
        match origin {
            Origin::File => self.at(section, key, msg),
            Origin::Named(name) => Error::msg(format!("{name}: {msg}")),
        }
    }

    /// A duration key within `min..=max`.
    pub fn duration(
        &self,
        section: &str,
        key: &str,
        value: Option<&str>,
        default: &str,
        (min, max): (Duration, Duration),
    ) -> Result<Duration> {
        let d = parse_duration(value.unwrap_or(default)).map_err(|m| self.at(section, key, m))?;
        if d < min || d > max {
            return Err(self.at(
                section,
                key,
                format!("must be between {} and {}", show(min), show(max)),
            ));
        }
        Ok(d)
    }

    /// A count key within `min..=max`.
    pub fn count(
        &self,
        section: &str,
        key: &str,
        value: Option<u32>,
        default: u32,
        (min, max): (u32, u32),
    ) -> Result<u32> {
        let n = value.unwrap_or(default);
        if n < min || n > max {
            return Err(self.at(section, key, format!("must be between {min} and {max}")));
        }
        Ok(n)
    }
}

#[derive(Clone, Copy)]
pub(super) enum Origin {
    File,
    Named(&'static str),
}

fn show(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Line of `key = ` inside `[section]` in a TOML text (the section's line
/// when `key` is empty; 1 when not found).
pub(super) fn key_line(text: &str, section: &str, key: &str) -> usize {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if current == section && key.is_empty() {
                return i + 1;
            }
            continue;
        }
        if current == section && !key.is_empty() {
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return i + 1;
                }
            }
        }
    }
    1
}

/// A size: a number of bytes or a string such as "5MB".
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawSize {
    Bytes(u64),
    Text(String),
}
