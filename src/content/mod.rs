//! Posts: Markdown files under `posts/` with TOML or YAML front matter,
//! parsed into a raw map and converted into a fully valid `Post`.

pub mod frontmatter;
pub mod markdown;
mod sanity;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use url::Url;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Scheduled,
    Published,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Scheduled => "scheduled",
            Status::Published => "published",
        }
    }
}

/// A fully validated post.
#[derive(Debug, Clone)]
pub struct Post {
    pub path: PathBuf,
    pub title: String,
    pub date: DateTime<FixedOffset>,
    /// The front matter gave a date without a time.
    pub date_only: bool,
    /// Plain text.
    pub summary: String,
    pub slug: String,
    /// Absolute URL of the post on the blog.
    pub url: String,
    pub tags: Vec<String>,
    pub draft: bool,
    /// Front-matter keys Gazette does not know, for templates.
    pub extra: Map<String, Value>,
    /// The Markdown body.
    pub body: String,
}

impl Post {
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        if self.draft {
            Status::Draft
        } else if self.date.with_timezone(&Utc) > now {
            Status::Scheduled
        } else {
            Status::Published
        }
    }

    pub fn is_published(&self, now: DateTime<Utc>) -> bool {
        self.status(now) == Status::Published
    }

    /// The body as HTML, with relative links made absolute.
    pub fn html(&self) -> String {
        let base = Url::parse(&self.url).expect("post URL validated on load");
        markdown::to_html(&self.body, &base)
    }

    /// The date as written (`YYYY-MM-DD` or RFC 3339).
    pub fn date_string(&self) -> String {
        if self.date_only {
            self.date.format("%Y-%m-%d").to_string()
        } else {
            self.date.to_rfc3339()
        }
    }

    /// A human date, e.g. "March 5, 2026".
    pub fn date_display(&self) -> String {
        self.date.format("%B %-d, %Y").to_string()
    }
}

/// All posts of a folder: the valid ones and the errors of the others.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Newest first.
    pub posts: Vec<Post>,
    pub errors: Vec<Error>,
}

impl Catalog {
    pub fn find(&self, slug: &str) -> Option<&Post> {
        self.posts.iter().find(|p| p.slug == slug)
    }

    /// Published posts with `since <= date < until`, newest first.
    pub fn window(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<&Post> {
        self.posts
            .iter()
            .filter(|p| p.is_published(now))
            .filter(|p| {
                let d = p.date.with_timezone(&Utc);
                d >= since && d < until
            })
            .collect()
    }
}

/// Load every Markdown file under `dir`. A bad post never hides the others.
pub fn load_dir(dir: &Path, base_url: &str) -> Catalog {
    let mut catalog = Catalog::default();
    let mut files = Vec::new();
    if let Err(e) = collect_files(dir, &mut files) {
        catalog.errors.push(e);
        return catalog;
    }
    files.sort();
    for path in files {
        match load_file(&path, base_url) {
            Ok(post) => catalog.posts.push(post),
            Err(e) => catalog.errors.push(e),
        }
    }
    reject_duplicate_slugs(&mut catalog);
    catalog
        .posts
        .sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.slug.cmp(&b.slug)));
    catalog
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "_index.md" {
            continue;
        }
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ft.is_dir() {
            collect_files(&path, out)?;
        } else if name.ends_with(".md") || name.ends_with(".markdown") {
            out.push(path);
        }
    }
    Ok(())
}

fn reject_duplicate_slugs(catalog: &mut Catalog) {
    let mut by_slug: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in catalog.posts.iter().enumerate() {
        by_slug.entry(p.slug.as_str()).or_default().push(i);
    }
    let mut bad: Vec<usize> = Vec::new();
    for idx in by_slug.values().filter(|v| v.len() > 1) {
        for &i in idx {
            let others: Vec<String> = idx
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| catalog.posts[j].path.display().to_string())
                .collect();
            let p = &catalog.posts[i];
            catalog.errors.push(Error::at(
                &p.path,
                1,
                format!(
                    "duplicate slug {:?} (also used by {})",
                    p.slug,
                    others.join(", ")
                ),
            ));
            bad.push(i);
        }
    }
    bad.sort_unstable();
    for i in bad.into_iter().rev() {
        catalog.posts.remove(i);
    }
}

/// Read and validate one post file.
pub fn load_file(path: &Path, base_url: &str) -> Result<Post> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..valid]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Error::at(path, line, "not valid UTF-8 (posts must be UTF-8 text)")
    })?;
    parse_post(path, &text, base_url)
}

/// Parse a post from its text (`path` is used for errors and the slug).
pub fn parse_post(path: &Path, text: &str, base_url: &str) -> Result<Post> {
    let split = frontmatter::split(path, text)?;
    let mut map = frontmatter::parse(path, &split)?;
    let line = |key: &str| frontmatter::key_line(&split, key).unwrap_or(1);
    let err = |key: &str, msg: String| Error::at(path, line(key), msg);

    let title = match map.remove("title") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::String(_)) => return Err(err("title", "`title` must not be empty".into())),
        Some(_) => return Err(err("title", "`title` must be a string".into())),
        None => return Err(Error::at(path, 1, "missing required field `title`")),
    };
    let (date, date_only) = match map.remove("date") {
        Some(Value::String(s)) => parse_date(&s).ok_or_else(|| {
            err(
                "date",
                format!("invalid date {s:?}: expected YYYY-MM-DD or an RFC 3339 date-time"),
            )
        })?,
        Some(other) => {
            return Err(err(
                "date",
                format!("invalid date {other}: expected YYYY-MM-DD or an RFC 3339 date-time"),
            ))
        }
        None => return Err(Error::at(path, 1, "missing required field `date`")),
    };

    let mut summary = None;
    for key in ["summary", "description", "excerpt"] {
        match map.remove(key) {
            Some(Value::String(s)) if summary.is_none() => {
                summary = Some(markdown::collapse_whitespace(&s))
            }
            Some(Value::String(_)) | None => {}
            Some(_) => return Err(err(key, format!("`{key}` must be a string"))),
        }
    }

    let slug = match map.remove("slug") {
        Some(Value::String(s)) => {
            let slug = slugify(&s);
            if slug.is_empty() {
                return Err(err(
                    "slug",
                    format!("`slug` {s:?} has no letters or digits"),
                ));
            }
            slug
        }
        Some(_) => return Err(err("slug", "`slug` must be a string".into())),
        None => {
            let slug = slug_from_path(path);
            if slug.is_empty() {
                return Err(Error::at(
                    path,
                    1,
                    "cannot derive a slug from the file name; set `slug` in the front matter",
                ));
            }
            slug
        }
    };

    let url = match map.remove("url") {
        Some(Value::String(s)) => {
            let base = Url::parse(&format!("{base_url}/"))
                .map_err(|e| err("url", format!("invalid base_url: {e}")))?;
            base.join(s.trim())
                .map_err(|e| err("url", format!("invalid `url` {s:?}: {e}")))?
                .to_string()
        }
        Some(_) => return Err(err("url", "`url` must be a string".into())),
        None => format!("{base_url}/{slug}/"),
    };
    Url::parse(&url).map_err(|e| err("url", format!("invalid post URL {url:?}: {e}")))?;
    sanity::check(&url, &date).map_err(|(key, m)| err(key, m))?;

    let mut tags = match map.remove("tags") {
        Some(v) => {
            string_list(&v).ok_or_else(|| err("tags", "`tags` must be a list of strings".into()))?
        }
        None => Vec::new(),
    };
    // Zola keeps tags under [taxonomies].
    if tags.is_empty() {
        if let Some(Value::Object(t)) = map.get("taxonomies") {
            if let Some(list) = t.get("tags").and_then(string_list) {
                tags = list;
            }
        }
    }
    let draft = match map.remove("draft") {
        Some(Value::Bool(b)) => b,
        None => false,
        Some(_) => return Err(err("draft", "`draft` must be true or false".into())),
    };
    // Zola's [extra] table: its keys are extra keys too.
    if let Some(Value::Object(extra)) = map.remove("extra") {
        for (k, v) in extra {
            map.entry(k).or_insert(v);
        }
    }

    let body = split.body.to_string();
    let summary = summary.unwrap_or_else(|| markdown::summary(&body));
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
        extra: map,
        body,
    })
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

/// Parse `YYYY-MM-DD`, RFC 3339, or the forms Jekyll and TOML local
/// date-times use (`YYYY-MM-DD HH:MM[:SS] [+ZZZZ]`, no offset = UTC).
pub fn parse_date(s: &str) -> Option<(DateTime<FixedOffset>, bool)> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let dt = d.and_hms_opt(0, 0, 0)?;
        return Some((Utc.from_utc_datetime(&dt).fixed_offset(), true));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some((dt, false));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some((dt, false));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some((Utc.from_utc_datetime(&dt).fixed_offset(), false));
        }
    }
    None
}

/// A URL slug: lowercase letters and digits separated by single dashes.
pub fn slugify(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut dash = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.extend(c.to_lowercase());
        } else if c != '\'' && c != '’' {
            dash = true;
        }
    }
    out
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
    let stripped = if stem.len() > 11
        && NaiveDate::parse_from_str(&stem[..10], "%Y-%m-%d").is_ok()
        && matches!(stem.as_bytes()[10], b'-' | b'_')
    {
        &stem[11..]
    } else {
        stem
    };
    slugify(stripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://example.com/blog";

    fn parse(name: &str, text: &str) -> Result<Post> {
        parse_post(Path::new(name), text, BASE)
    }

    #[test]
    fn toml_front_matter_every_field() {
        let p = parse(
            "posts/2026-03-01-hello-world.md",
            "+++\ntitle = \"Hello\"\ndate = 2026-03-01\nsummary = \"Sum\"\ntags = [\"go\", \"rust\"]\ndraft = true\nseries = \"intro\"\n[extra]\nhero = \"a.png\"\n+++\nBody text.\n",
        )
        .unwrap();
        assert_eq!(p.title, "Hello");
        assert_eq!(p.slug, "hello-world");
        assert_eq!(p.date_string(), "2026-03-01");
        assert!(p.date_only);
        assert_eq!(p.summary, "Sum");
        assert_eq!(p.tags, vec!["go", "rust"]);
        assert!(p.draft);
        assert_eq!(p.url, "https://example.com/blog/hello-world/");
        assert_eq!(p.extra["series"], "intro");
        assert_eq!(p.extra["hero"], "a.png");
        assert_eq!(p.body, "Body text.\n");
    }

    #[test]
    fn toml_datetime_value() {
        let p = parse(
            "a.md",
            "+++\ntitle = \"T\"\ndate = 2026-03-01T10:30:00+02:00\n+++\n",
        )
        .unwrap();
        assert_eq!(p.date.to_rfc3339(), "2026-03-01T10:30:00+02:00");
        assert!(!p.date_only);
    }

    #[test]
    fn yaml_front_matter_every_field_and_aliases() {
        let p = parse(
            "posts/x.md",
            "---\ntitle: \"Yaml: post\"\ndate: 2026-03-02T08:00:00Z\ndescription: Desc here\nslug: Custom Slug\nurl: /elsewhere/page.html\ntags:\n  - a\n  - b\ndraft: false\nauthor: Ann\n---\nBody\n",
        )
        .unwrap();
        assert_eq!(p.title, "Yaml: post");
        assert_eq!(p.summary, "Desc here");
        assert_eq!(p.slug, "custom-slug");
        assert_eq!(p.url, "https://example.com/elsewhere/page.html");
        assert_eq!(p.tags, vec!["a", "b"]);
        assert!(!p.draft);
        assert_eq!(p.extra["author"], "Ann");
        let p = parse(
            "posts/y.md",
            "---\ntitle: T\ndate: 2026-03-02\nexcerpt: Ex\n---\n",
        )
        .unwrap();
        assert_eq!(p.summary, "Ex");
        assert_eq!(p.slug, "y");
    }

    #[test]
    fn absolute_url_in_front_matter_is_kept() {
        let p = parse(
            "a.md",
            "+++\ntitle = \"T\"\ndate = 2026-01-01\nurl = \"https://other.org/p\"\n+++\n",
        )
        .unwrap();
        assert_eq!(p.url, "https://other.org/p");
    }

    #[test]
    fn summary_fallback_from_body() {
        let p = parse(
            "a.md",
            "+++\ntitle = \"T\"\ndate = 2026-01-01\n+++\nIntro **bold**.\n\nMore.\n",
        )
        .unwrap();
        assert_eq!(p.summary, "Intro bold.");
    }

    #[test]
    fn missing_title_and_date() {
        let e = parse("p.md", "+++\ndate = 2026-01-01\n+++\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "p.md:1: missing required field `title`");
        let e = parse("p.md", "---\ntitle: T\n---\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "p.md:1: missing required field `date`");
    }

    #[test]
    fn invalid_date_names_its_line() {
        let e = parse("p.md", "+++\ntitle = \"T\"\ndate = \"yesterday\"\n+++\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.md:3: invalid date \"yesterday\""), "{e}");
        let e = parse("p.md", "---\ntitle: T\ndate: 2026-13-45\n---\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.md:3: invalid date"), "{e}");
    }

    #[test]
    fn unterminated_front_matter() {
        let e = parse("p.md", "+++\ntitle = \"T\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "p.md:1: unterminated front matter: no closing `+++` line"
        );
        let e = parse("p.md", "---\ntitle: T\n").unwrap_err().to_string();
        assert!(e.contains("unterminated"), "{e}");
    }

    #[test]
    fn invalid_toml_and_yaml_name_lines() {
        let e = parse(
            "p.md",
            "+++\ntitle = \"T\"\ndate = 2026-01-01\noops = = 3\n+++\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("p.md:4: invalid TOML front matter"), "{e}");
        let e = parse(
            "p.md",
            "---\ntitle: T\ndate: 2026-01-01\ntags: [a, b\n---\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("p.md:") && e.contains("invalid YAML front matter"),
            "{e}"
        );
    }

    #[test]
    fn no_front_matter() {
        let e = parse("p.md", "# Just markdown\n").unwrap_err().to_string();
        assert!(e.starts_with("p.md:1: missing front matter"), "{e}");
    }

    #[test]
    fn bom_is_accepted() {
        let p = parse(
            "a.md",
            "\u{feff}+++\ntitle = \"T\"\ndate = 2026-01-01\n+++\n",
        )
        .unwrap();
        assert_eq!(p.title, "T");
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Hello, World!  Again"), "hello-world-again");
        assert_eq!(slugify("Rust's C"), "rusts-c");
        assert_eq!(
            slug_from_path(Path::new("posts/2026-01-02-my-post.md")),
            "my-post"
        );
        assert_eq!(slug_from_path(Path::new("posts/My Post.md")), "my-post");
        assert_eq!(slug_from_path(Path::new("posts/bundle/index.md")), "bundle");
    }

    #[test]
    fn dates() {
        assert!(parse_date("2026-01-02").unwrap().1);
        assert!(parse_date("2026-01-02T03:04:05Z").is_some());
        assert!(parse_date("2026-01-02 03:04:05 +0200").is_some());
        assert!(parse_date("2026-01-02T03:04:05").is_some());
        assert!(parse_date("Jan 2").is_none());
    }

    #[test]
    fn status_draft_scheduled_published() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let p = parse("a.md", "+++\ntitle = \"T\"\ndate = 2026-07-01\n+++\n").unwrap();
        assert_eq!(p.status(now), Status::Scheduled);
        let p = parse("a.md", "+++\ntitle = \"T\"\ndate = 2026-05-01\n+++\n").unwrap();
        assert_eq!(p.status(now), Status::Published);
        let p = parse(
            "a.md",
            "+++\ntitle = \"T\"\ndate = 2026-05-01\ndraft = true\n+++\n",
        )
        .unwrap();
        assert_eq!(p.status(now), Status::Draft);
    }

    #[test]
    fn directory_loading_reports_bad_posts_and_duplicate_slugs() {
        let dir = tempfile::tempdir().unwrap();
        let w = |n: &str, t: &[u8]| std::fs::write(dir.path().join(n), t).unwrap();
        w(
            "a.md",
            b"+++\ntitle = \"A\"\ndate = 2026-01-01\nslug = \"same\"\n+++\n",
        );
        w(
            "b.md",
            b"+++\ntitle = \"B\"\ndate = 2026-01-02\nslug = \"same\"\n+++\n",
        );
        w("c.md", b"+++\ntitle = \"C\"\ndate = 2026-01-03\n+++\n");
        w(
            "bad.md",
            b"+++\ntitle = \"Bad\"\ndate = 2026-01-03\n+++\nok line\n\xff\xfe\n",
        );
        w("notes.txt", b"ignored");
        let cat = load_dir(dir.path(), BASE);
        assert_eq!(cat.posts.len(), 1);
        assert_eq!(cat.posts[0].slug, "c");
        let errs: Vec<String> = cat.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs.iter().any(|e| e.contains("bad.md:6: not valid UTF-8")),
            "{errs:?}"
        );
        assert_eq!(
            errs.iter()
                .filter(|e| e.contains("duplicate slug \"same\""))
                .count(),
            2
        );
    }
}
