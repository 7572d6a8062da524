//! Posts: Markdown files under `posts/` with TOML or YAML front matter,
//! parsed into a raw map and converted into a fully valid `Post`; and the
//! items of a blog's feed (`feed`, `feed_fetch`, `feed_html`).

pub mod feed;
pub mod feed_fetch;
pub mod feed_html;
pub mod frontmatter;
pub mod highlight;
mod load;
pub mod markdown;
mod post;
pub mod rich;
pub mod sanitize;
pub mod shortcodes;
#[cfg(test)]
mod tests;

pub use load::load_file;
pub use post::{parse_post, slug_from_path};

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use url::Url;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    Draft,
    Scheduled,
    Published,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Draft => "draft",
            PostStatus::Scheduled => "scheduled",
            PostStatus::Published => "published",
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
    /// The body: Markdown (a file), or sanitised HTML (a feed's item).
    pub body: String,
    pub format: BodyFormat,
}

/// What a post's body is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFormat {
    /// A file's Markdown.
    #[default]
    Markdown,
    /// A feed item's HTML, sanitised when it was read.
    Html,
}

impl Post {
    pub fn status(&self, now: DateTime<Utc>) -> PostStatus {
        if self.draft {
            PostStatus::Draft
        } else if self.date.with_timezone(&Utc) > now {
            PostStatus::Scheduled
        } else {
            PostStatus::Published
        }
    }

    pub fn is_published(&self, now: DateTime<Utc>) -> bool {
        self.status(now) == PostStatus::Published
    }

    /// The front matter says `raw_html = true`: the body's HTML goes into
    /// emails and the archive as written, unsanitised (trusted authors).
    pub fn raw_html(&self) -> bool {
        self.extra.get("raw_html") == Some(&Value::Bool(true))
    }

    /// The body as HTML, with relative links made absolute, sanitised
    /// (`sanitize`) unless `raw_html`.
    pub fn html(&self) -> String {
        self.html_within(usize::MAX).expect("no limit")
    }

    /// `html`, or `None` as soon as the Markdown's HTML passes `max` bytes
    /// (found before sanitising, without rendering the rest).
    pub fn html_within(&self, max: usize) -> Option<String> {
        let base = Url::parse(&self.url).expect("post URL validated on load");
        let html = self.rendered_within(&base, max)?;
        Some(if self.raw_html() {
            html
        } else {
            sanitize::sanitize(&html, &base)
        })
    }

    /// The body's HTML before sanitising (a feed item's is sanitised
    /// already), or `None` past `max` bytes.
    pub fn rendered_within(&self, base: &Url, max: usize) -> Option<String> {
        match self.format {
            BodyFormat::Markdown => markdown::to_html_within(&self.body, base, max),
            BodyFormat::Html => (self.body.len() <= max).then(|| self.body.clone()),
        }
    }

    /// The body as plain text, for the text/plain part.
    pub fn text(&self) -> String {
        let base = Url::parse(&self.url).expect("post URL validated on load");
        match self.format {
            BodyFormat::Markdown => markdown::to_text(&self.body, &base),
            BodyFormat::Html => feed_html::to_text(&self.body),
        }
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

    /// Posts with `since <= date < until` that are or will be published
    /// (drafts left out), newest first: what a digest of that window
    /// carries once the window has passed. For previews; sends use `window`.
    pub fn window_ahead(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<&Post> {
        self.posts
            .iter()
            .filter(|p| !p.draft)
            .filter(|p| {
                let d = p.date.with_timezone(&Utc);
                d >= since && d < until
            })
            .collect()
    }
}

/// Every post: the files under `[paths] posts` and, with `[source] feed`,
/// the items of the feed's last good copy (fetching it is
/// `feed_fetch::refresh`'s). A slug both give is a duplicate, as for two
/// files.
pub fn catalog(settings: &crate::config::Settings) -> Catalog {
    let mut catalog = load_dir(
        &settings.posts_dir,
        &settings.newsletter.base_url,
        settings.max_post_size,
    );
    if let Some(src) = &settings.feed {
        let cached = feed_fetch::Cache::read(src);
        let name = src.location.to_string();
        catalog
            .posts
            .extend(cached.items.iter().map(|i| i.to_post(&name)));
        catalog
            .errors
            .extend(cached.errors.into_iter().map(Error::msg));
        load::reject_duplicate_slugs(&mut catalog);
        catalog
            .posts
            .sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.slug.cmp(&b.slug)));
    }
    catalog
}

/// Load every Markdown file under `dir`. A bad post never hides the others;
/// files over `max_size` bytes and anything but regular files are refused.
pub fn load_dir(dir: &Path, base_url: &str, max_size: u64) -> Catalog {
    let mut catalog = Catalog::default();
    let mut files = Vec::new();
    if let Err(e) = load::collect_files(dir, &mut files) {
        catalog.errors.push(e);
        return catalog;
    }
    files.sort();
    for path in files {
        match load::load_file(&path, base_url, max_size) {
            Ok(post) => catalog.posts.push(post),
            Err(e) => catalog.errors.push(e),
        }
    }
    load::reject_duplicate_slugs(&mut catalog);
    catalog
        .posts
        .sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.slug.cmp(&b.slug)));
    catalog
}
