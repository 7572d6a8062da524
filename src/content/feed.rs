//! A blog's feed (RSS 2.0 with `content:encoded`, RSS 1.0, Atom 1.0, JSON
//! Feed 1.0/1.1, parsed by `feed-rs`) read into `FeedItem`s, each of which
//! becomes a `Post` exactly as a file does: title, date (published, else
//! updated), summary (plain text, else derived from the content), URL (the
//! item's link, resolved against the feed), tags (categories), slug (the
//! link's last path segment) and the body (the full content, else the
//! summary) as sanitised HTML. One bad item is an error naming it; the
//! others still count.

use std::path::PathBuf;

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use feed_rs::model::{Entry, Text};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use url::Url;

use super::{feed_html, markdown, BodyFormat, Post};
use crate::util::text::{collapse_whitespace, slugify};

/// One item of a feed, as kept in the feed cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedItem {
    /// The item's id (Atom `id`, RSS `guid`, JSON Feed `id`; else derived
    /// by feed-rs from its link and title).
    pub id: String,
    pub title: String,
    pub date: DateTime<FixedOffset>,
    pub summary: String,
    pub url: String,
    pub slug: String,
    pub tags: Vec<String>,
    /// Sanitised HTML, relative URLs already absolute.
    pub html: String,
}

impl FeedItem {
    /// The post this item is. `origin` names the feed (for `path`).
    pub fn to_post(&self, origin: &str) -> Post {
        Post {
            path: PathBuf::from(format!("{origin}#{}", self.slug)),
            title: self.title.clone(),
            date: self.date,
            date_only: false,
            summary: self.summary.clone(),
            slug: self.slug.clone(),
            url: self.url.clone(),
            tags: self.tags.clone(),
            draft: false,
            extra: Map::new(),
            body: self.html.clone(),
            format: BodyFormat::Html,
        }
    }
}

/// The items of a feed and the errors of its bad items; `Err` when the
/// document is no feed at all. `feed_url` is where it came from (relative
/// links are resolved against it), `name` names it in errors.
pub fn parse(
    bytes: &[u8],
    feed_url: &Url,
    name: &str,
) -> Result<(Vec<FeedItem>, Vec<String>), String> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url.as_str()))
        .build();
    let feed = parser
        .parse(bytes)
        .map_err(|e| format!("{name}: not a readable RSS, Atom or JSON feed: {e}"))?;
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (i, entry) in feed.entries.iter().enumerate() {
        match item(entry, feed_url) {
            Ok(it) => items.push(it),
            Err(m) => {
                let title = entry.title.as_ref().map(text_of).unwrap_or_default();
                let which = if title.is_empty() {
                    format!("item {}", i + 1)
                } else {
                    format!("item {} {title:?}", i + 1)
                };
                errors.push(format!("{name}: {which}: {m}"));
            }
        }
    }
    Ok((items, errors))
}

/// Years an item's date may have (as for files).
const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

fn item(e: &Entry, feed_url: &Url) -> Result<FeedItem, String> {
    let url = link(e, feed_url)?;
    let date = e
        .published
        .or(e.updated)
        .ok_or("no date (neither published nor updated)")?;
    if !YEARS.contains(&date.year()) {
        return Err(format!("date {} is out of range", date.format("%Y-%m-%d")));
    }
    // Relative URLs in the content: against `xml:base`, else the link.
    let base = e
        .base
        .as_deref()
        .and_then(|b| feed_url.join(b).ok())
        .unwrap_or_else(|| url.clone());
    let summary_html = e.summary.as_ref().map(html_of);
    let content_html = e
        .content
        .as_ref()
        .and_then(|c| {
            let body = c.body.as_deref()?;
            Some(match c.content_type.subty().as_str() {
                "plain" => escape_text(body),
                _ => body.to_string(),
            })
        })
        .filter(|h| !h.trim().is_empty());
    let raw = content_html
        .or_else(|| summary_html.clone())
        .unwrap_or_default();
    let html = feed_html::sanitize(&raw, &base);
    if markdown::too_deep(&html, markdown::MAX_NESTING).is_some() {
        return Err(format!(
            "content nested more than {} levels deep",
            markdown::MAX_NESTING
        ));
    }
    let summary = match e.summary.as_ref().map(text_of) {
        Some(s) if !s.is_empty() => s,
        _ => markdown::truncate_words(&feed_html::prose(&html), markdown::SUMMARY_CHARS),
    };
    let title = match e.title.as_ref().map(text_of) {
        Some(t) if !t.is_empty() => t,
        // Untitled posts (micro.blog, Mastodon-like): their first words.
        _ if !summary.is_empty() => markdown::truncate_words(&summary, 60),
        _ => return Err("no title and no text".into()),
    };
    let slug = slug_of(&url).unwrap_or_else(|| slugify(&title));
    if slug.is_empty() {
        return Err(format!("cannot derive a slug from its link {url}"));
    }
    let mut tags: Vec<String> = Vec::new();
    for c in &e.categories {
        let t = c.label.as_deref().unwrap_or(&c.term).trim().to_string();
        if !t.is_empty() && !tags.contains(&t) {
            tags.push(t);
        }
    }
    Ok(FeedItem {
        id: e.id.clone(),
        title,
        date: date.with_timezone(&Utc).fixed_offset(),
        summary,
        url: url.to_string(),
        slug,
        tags,
        html,
    })
}

/// The item's page: its `alternate` link (or first link without a
/// `rel`), resolved against the feed; http(s) only.
fn link(e: &Entry, feed_url: &Url) -> Result<Url, String> {
    let l = e
        .links
        .iter()
        .find(|l| l.rel.as_deref() == Some("alternate"))
        .or_else(|| e.links.iter().find(|l| l.rel.is_none()))
        .ok_or("no link")?;
    let u = feed_url
        .join(l.href.trim())
        .map_err(|err| format!("invalid link {:?}: {err}", l.href))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("link {:?} is not an http(s) URL", l.href));
    }
    Ok(u)
}

/// The slug of a link: its last path segment without an extension (or
/// the folder of an `index.html`), a leading date removed, made a slug.
fn slug_of(url: &Url) -> Option<String> {
    let segs: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let mut last = *segs.last()?;
    if last.starts_with("index.") {
        last = segs.get(segs.len().checked_sub(2)?)?;
    }
    let decoded = crate::util::net::percent_decode(last);
    let slug = super::slug_from_path(std::path::Path::new(&decoded));
    (!slug.is_empty()).then_some(slug)
}

/// A text construct as HTML (plain text escaped).
fn html_of(t: &Text) -> String {
    match t.content_type.subty().as_str() {
        "plain" => escape_text(&t.content),
        _ => t.content.clone(),
    }
}

/// A text construct as plain text (HTML tags dropped, entities decoded).
fn text_of(t: &Text) -> String {
    match t.content_type.subty().as_str() {
        "plain" => collapse_whitespace(&t.content),
        _ => feed_html::plain(&t.content),
    }
}

/// Plain text as HTML paragraphs.
fn escape_text(s: &str) -> String {
    s.split("\n\n")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let e = p
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            format!("<p>{e}</p>")
        })
        .collect()
}
