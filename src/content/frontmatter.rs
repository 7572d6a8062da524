//! Front matter: split the raw block off a post, parse it (TOML between
//! `+++` fences or YAML between `---` fences) into one uniform map.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::util::text::line_of_offset;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

/// The front matter of a file, split from its body.
#[derive(Debug)]
pub struct Split<'a> {
    pub format: Format,
    pub front: &'a str,
    /// 1-based line of the first front-matter line.
    pub front_line: usize,
    pub body: &'a str,
}

/// Split `text` into front matter and body.
pub fn split<'a>(path: &Path, text: &'a str) -> Result<Split<'a>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_end = text.find('\n').map(|i| i + 1).unwrap_or(text.len());
    let first = text[..first_end].trim_end();
    let (format, fence) = match first {
        "+++" => (Format::Toml, "+++"),
        "---" => (Format::Yaml, "---"),
        _ => return Err(Error::at(
            path,
            1,
            "missing front matter: the file must start with a `+++` (TOML) or `---` (YAML) line",
        )),
    };
    let mut offset = first_end;
    for line in text[first_end..].split_inclusive('\n') {
        let t = line.trim_end();
        if t == fence || (format == Format::Yaml && t == "...") {
            let body_start = offset + line.len();
            return Ok(Split {
                format,
                front: &text[first_end..offset],
                front_line: 2,
                body: &text[body_start..],
            });
        }
        offset += line.len();
    }
    Err(Error::at(
        path,
        1,
        format!("unterminated front matter: no closing `{fence}` line"),
    ))
}

/// Parse the front matter into a JSON-like map (dates become strings).
pub fn parse(path: &Path, split: &Split<'_>) -> Result<Map<String, Value>> {
    let value = match split.format {
        Format::Toml => {
            let table: toml::Table = toml::from_str(split.front).map_err(|e| {
                let line = e
                    .span()
                    .map(|s| line_of_offset(split.front, s.start))
                    .unwrap_or(1);
                Error::at(
                    path,
                    split.front_line + line - 1,
                    format!("invalid TOML front matter: {}", e.message().trim()),
                )
            })?;
            toml_to_json(toml::Value::Table(table))
        }
        Format::Yaml => {
            if split.front.trim().is_empty() {
                Value::Object(Map::new())
            } else {
                serde_saphyr::from_str::<Value>(split.front).map_err(|e| {
                    let line = e.location().map(|l| l.line() as usize).unwrap_or(1);
                    Error::at(
                        path,
                        split.front_line + line.max(1) - 1,
                        format!("invalid YAML front matter: {}", yaml_message(&e)),
                    )
                })?
            }
        }
    };
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(Error::at(
            path,
            split.front_line,
            "front matter must be a table of `key = value` (TOML) or `key: value` (YAML) pairs",
        )),
    }
}

fn yaml_message(e: &serde_saphyr::Error) -> String {
    // The Display form may carry a location and a snippet; keep the first line.
    // (its positions are relative to the front matter, so drop them).
    let s = e.to_string();
    let first = s.lines().next().unwrap_or("syntax error").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((_, msg)) => msg.to_string(),
        None => first.to_string(),
    }
}

fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

/// 1-based line (within the file) of `key` in the front matter, if present.
pub fn key_line(split: &Split<'_>, key: &str) -> Option<usize> {
    split.front.lines().enumerate().find_map(|(i, line)| {
        let rest = line.trim_start().strip_prefix(key)?;
        let rest = rest.trim_start();
        (rest.starts_with('=') || rest.starts_with(':')).then_some(split.front_line + i)
    })
}
