//! One post: the front matter as written (`RawPost`, every field as given,
//! unknown keys kept in `extra`) validated into a `Post`. Every error
//! names the file and the line of the key it is about.

use std::path::Path;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::frontmatter::{self, Split};
use super::{markdown, Post};
use crate::error::{Error, Result};
use crate::util::text::{collapse_whitespace, line_of_offset, slugify};
use crate::util::time::parse_date;

/// The front matter as written. Values stay untyped so that a wrong type
/// is reported with the key's name and line rather than serde's words.
#[derive(Debug, Default, Deserialize)]
struct RawPost {
    title: Option<Value>,
    date: Option<Value>,
    summary: Option<Value>,
    description: Option<Value>,
    excerpt: Option<Value>,
    slug: Option<Value>,
    url: Option<Value>,
    tags: Option<Value>,
    draft: Option<Value>,
    /// Zola's `[extra]` table: its keys become extra keys too.
    #[serde(rename = "extra")]
    zola_extra: Option<Value>,
    /// Everything else, for templates (`post.extra.KEY`), Zola's
    /// `[taxonomies]` included.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// Errors located at the key they are about.
struct Keys<'a> {
    path: &'a Path,
    split: &'a Split<'a>,
}

impl Keys<'_> {
    fn err(&self, key: &str, msg: impl Into<String>) -> Error {
        let line = frontmatter::key_line(self.split, key).unwrap_or(1);
        Error::at(self.path, line, msg)
    }

    fn string(&self, key: &str, v: Option<Value>) -> Result<Option<String>> {
        match v {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(key, format!("`{key}` must be a string"))),
        }
    }
}

/// Years a post's date may have.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// Parse a post from its text (`path` is used for errors and the slug).
pub fn parse_post(path: &Path, text: &str, base_url: &str) -> Result<Post> {
    let split = frontmatter::split(path, text)?;
    let map = frontmatter::parse(path, &split)?;
    let raw: RawPost = serde_json::from_value(Value::Object(map))
        .map_err(|e| Error::at(path, split.front_line, format!("invalid front matter: {e}")))?;
    let keys = Keys {
        path,
        split: &split,
    };
    let title = match keys.string("title", raw.title)? {
        Some(s) if !s.trim().is_empty() => s.trim().to_string(),
        Some(_) => return Err(keys.err("title", "`title` must not be empty")),
        None => return Err(Error::at(path, 1, "missing required field `title`")),
    };
    let (date, date_only) = date(&keys, raw.date)?;
    let mut summary = None;
    for (key, v) in [
        ("summary", raw.summary),
        ("description", raw.description),
        ("excerpt", raw.excerpt),
    ] {
        if let Some(s) = keys.string(key, v)? {
            summary.get_or_insert_with(|| collapse_whitespace(&s));
        }
    }
    let slug = slug(&keys, raw.slug)?;
    let url = url(&keys, raw.url, base_url, &slug)?;
    let mut extra = raw.extra;
    let tags = tags(&keys, raw.tags, &extra)?;
    let draft = match raw.draft {
        Some(Value::Bool(b)) => b,
        None => false,
        Some(_) => return Err(keys.err("draft", "`draft` must be true or false")),
    };
    if let Some(Value::Object(zola)) = raw.zola_extra {
        for (k, v) in zola {
            extra.entry(k).or_insert(v);
        }
    }
    if extra.get("raw_html").is_some_and(|v| !v.is_boolean()) {
        return Err(keys.err("raw_html", "`raw_html` must be true or false"));
    }
    let body = split.body.to_string();
    check_nesting(path, text, &body)?;
    let summary = summary.unwrap_or_else(|| markdown::summary(&super::shortcodes::strip(&body)));
    Ok(Post {
        path: path.to_path_buf(),
        title,
        date,
        date_only,
        summary,
        slug,
        url,
        tags,
        draft,
        extra,
        body,
        format: super::BodyFormat::Markdown,
    })
}

fn date(keys: &Keys<'_>, v: Option<Value>) -> Result<(DateTime<FixedOffset>, bool)> {
    let bad = |shown: String| {
        keys.err(
            "date",
            format!("invalid date {shown}: expected YYYY-MM-DD or an RFC 3339 date-time"),
        )
    };
    let (date, date_only) = match v {
        Some(Value::String(s)) => parse_date(&s).ok_or_else(|| bad(format!("{s:?}")))?,
        Some(other) => return Err(bad(other.to_string())),
        None => return Err(Error::at(keys.path, 1, "missing required field `date`")),
    };
    if !YEARS.contains(&date.year()) {
        return Err(keys.err(
            "date",
            format!(
                "date {} is out of range (years {} to {})",
                date.format("%Y-%m-%d"),
                YEARS.start(),
                YEARS.end()
            ),
        ));
    }
    Ok((date, date_only))
}

fn slug(keys: &Keys<'_>, v: Option<Value>) -> Result<String> {
    match keys.string("slug", v)? {
        Some(s) => {
            let slug = slugify(&s);
            if slug.is_empty() {
                return Err(keys.err("slug", format!("`slug` {s:?} has no letters or digits")));
            }
            Ok(slug)
        }
        None => {
            let slug = slug_from_path(keys.path);
            if slug.is_empty() {
                return Err(Error::at(
                    keys.path,
                    1,
                    "cannot derive a slug from the file name; set `slug` in the front matter",
                ));
            }
            Ok(slug)
        }
    }
}

/// The post's absolute URL: `url` resolved against `base_url` (http and
/// https only: the link goes into every email), else `{base_url}/{slug}/`.
fn url(keys: &Keys<'_>, v: Option<Value>, base_url: &str, slug: &str) -> Result<String> {
    let url = match keys.string("url", v)? {
        Some(s) => {
            let base = Url::parse(&format!("{base_url}/"))
                .map_err(|e| keys.err("url", format!("invalid base_url: {e}")))?;
            let joined = base
                .join(s.trim())
                .map_err(|e| keys.err("url", format!("invalid `url` {s:?}: {e}")))?;
            if !matches!(joined.scheme(), "http" | "https") {
                return Err(keys.err(
                    "url",
                    format!("`url` {s:?} must be an http(s) URL or a relative path"),
                ));
            }
            joined.to_string()
        }
        None => format!("{base_url}/{slug}/"),
    };
    Url::parse(&url).map_err(|e| keys.err("url", format!("invalid post URL {url:?}: {e}")))?;
    Ok(url)
}

/// `tags`, or Zola's `[taxonomies] tags` when `tags` is absent or empty.
fn tags(keys: &Keys<'_>, v: Option<Value>, extra: &Map<String, Value>) -> Result<Vec<String>> {
    let tags = match v {
        Some(v) => {
            string_list(&v).ok_or_else(|| keys.err("tags", "`tags` must be a list of strings"))?
        }
        None => Vec::new(),
    };
    if tags.is_empty() {
        if let Some(Value::Object(t)) = extra.get("taxonomies") {
            if let Some(list) = t.get("tags").and_then(string_list) {
                return Ok(list);
            }
        }
    }
    Ok(tags)
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        ),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(|s| s.trim().to_string()))
            .collect(),
        _ => None,
    }
}

/// Refuse bodies nested deeper than `markdown::MAX_NESTING` levels, at the
/// line where the limit is crossed.
fn check_nesting(path: &Path, text: &str, body: &str) -> Result<()> {
    match markdown::too_deep(body, markdown::MAX_NESTING) {
        None => Ok(()),
        Some(offset) => {
            let body_line = line_of_offset(text, text.len() - body.len());
            Err(Error::at(
                path,
                body_line + line_of_offset(body, offset) - 1,
                format!(
                    "nested more than {} levels deep (block quotes, lists or HTML elements)",
                    markdown::MAX_NESTING
                ),
            ))
        }
    }
}

/// The slug of a file: its stem (or folder name for `index.md`) with a
/// leading `YYYY-MM-DD-` removed, as Jekyll and Zola do.
pub fn slug_from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let stem = if stem == "index" {
        path.parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy())
            .unwrap_or_default()
    } else {
        stem
    };
    let stem: &str = &stem;
    let dated = stem
        .get(..10)
        .is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
        && matches!(stem.as_bytes().get(10), Some(b'-' | b'_'));
    let stripped = match stem.get(11..) {
        Some(rest) if dated && !rest.is_empty() => rest,
        _ => stem,
    };
    slugify(stripped)
}
