//! Fetching the feed like a good citizen, and its last good copy.
//!
//! http(s): a `User-Agent` naming Gazette and its version, conditional GET
//! (`If-None-Match` / `If-Modified-Since` from the last answer; a 304 costs
//! nothing), gzip, at most 5 redirects, the whole fetch within `[source]
//! timeout`, the body within `[source] max_size`; rustls over the system's
//! roots. `file://` URLs and paths are read from disk.
//!
//! The cache (`.gazette-feed.json` beside the configuration) holds the
//! validators and every item ever read, newest version first: an item that
//! disappears from the feed is kept (a later digest or the archive still
//! has it). A failed fetch changes nothing in it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::feed::{self, FeedItem};
use crate::config::{FeedLocation, FeedSource};
use crate::error::{Error, Result};

pub const USER_AGENT: &str = concat!(
    "Gazette/",
    env!("CARGO_PKG_VERSION"),
    " (newsletter feed reader)"
);

/// At most this many redirects are followed.
pub const MAX_REDIRECTS: usize = 5;

/// Items no longer in the feed are kept (a feed lists only its newest
/// posts) up to this many items in all, newest first; those in the copy
/// just read are always kept. Bounds the cache a years-old blog rewrites
/// at every poll.
pub const MAX_KEPT: usize = 500;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cache {
    /// The feed these validators belong to.
    pub feed: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// When the feed was last read successfully (a 304 included).
    pub fetched: Option<DateTime<Utc>>,
    /// Every item ever read, by id; newest date first.
    pub items: Vec<FeedItem>,
    /// The bad items of the last copy read.
    pub errors: Vec<String>,
}

impl Cache {
    /// The cache of `src`; empty when there is none yet (or it is
    /// unreadable: the next fetch rewrites it).
    pub fn read(src: &FeedSource) -> Cache {
        let Ok(bytes) = std::fs::read(&src.cache) else {
            return Cache::default();
        };
        match serde_json::from_slice::<Cache>(&bytes) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    "{}: unreadable feed cache, ignored: {e}",
                    src.cache.display()
                );
                Cache::default()
            }
        }
    }

    fn write(&self, src: &FeedSource) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("serialisable");
        crate::util::fs::write_atomic(&src.cache, &bytes).map_err(|e| Error::io(&src.cache, e))
    }

    /// Take in a new copy's items: new ones added, changed ones replaced
    /// (never sent again: the worker knows them by slug), missing ones kept.
    fn merge(&mut self, items: Vec<FeedItem>) {
        let current: std::collections::HashSet<String> =
            items.iter().map(|i| i.id.clone()).collect();
        for mut it in items {
            match self.items.iter_mut().find(|o| o.id == it.id) {
                // The same item: its slug (which posts were sent are
                // remembered by) stays what it was when first read, so a
                // blog that changes its permalinks is not mailed again.
                Some(old) => {
                    it.slug = std::mem::take(&mut old.slug);
                    *old = it;
                }
                // Another item with this slug ("Weekly notes" again, a
                // link without a path): a slug of its own, so that neither
                // is dropped as a duplicate.
                None => {
                    if self.items.iter().any(|o| o.slug == it.slug) {
                        use sha2::Digest;
                        let h = hex::encode(sha2::Sha256::digest(it.id.as_bytes()));
                        it.slug = format!("{}-{}", it.slug, &h[..8]);
                    }
                    self.items.push(it)
                }
            }
        }
        self.items
            .sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.slug.cmp(&b.slug)));
        if self.items.len() > MAX_KEPT {
            let mut rank = 0;
            self.items.retain(|i| {
                rank += 1;
                rank <= MAX_KEPT || current.contains(&i.id)
            });
        }
    }
}

/// What a fetch found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// A new copy, with this many items (and `bad` items in error).
    Updated { items: usize, bad: usize },
    /// 304 Not Modified.
    NotModified,
}

/// Fetch the feed and update the cache. `Err` is one line naming the
/// feed; the cache then stays as it was.
pub async fn refresh(src: &FeedSource) -> Result<Fetched> {
    let name = src.location.to_string();
    let mut validators = Cache::read(src);
    if validators.feed != name {
        // Another feed than the validators were for.
        validators.etag = None;
        validators.last_modified = None;
    }
    let (bytes, base) = match &src.location {
        FeedLocation::File(path) => {
            let bytes = crate::util::fs::read_regular(path, src.max_size)
                .map_err(|e| Error::io(path, e))?;
            let base = std::path::absolute(path)
                .ok()
                .and_then(|p| Url::from_file_path(p).ok())
                .ok_or_else(|| Error::file(path, "not a usable file path"))?;
            (bytes, base)
        }
        FeedLocation::Http(url) => match get(src, url, &validators).await? {
            None => {
                let mut cache = Cache::read(src);
                cache.fetched = Some(Utc::now());
                cache.write(src)?;
                return Ok(Fetched::NotModified);
            }
            Some(got) => {
                validators.etag = got.etag;
                validators.last_modified = got.last_modified;
                (got.bytes, got.url)
            }
        },
    };
    let (items, errors) = feed::parse(&bytes, &base, &name).map_err(Error::msg)?;
    let n = items.len();
    let bad = errors.len();
    // Read again: another process (a command beside the worker) may have
    // written it during the fetch; its items are kept too.
    let mut cache = Cache::read(src);
    cache.feed = name;
    cache.etag = validators.etag;
    cache.last_modified = validators.last_modified;
    cache.merge(items);
    cache.errors = errors;
    cache.fetched = Some(Utc::now());
    cache.write(src)?;
    Ok(Fetched::Updated { items: n, bad })
}

/// `refresh` from code that may or may not run inside an async runtime
/// (the commands): on a thread of its own with its own runtime.
pub fn refresh_blocking(src: &FeedSource) -> Result<Fetched> {
    let src = src.clone();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::msg(format!("starting the async runtime: {e}")))?
            .block_on(refresh(&src))
    })
    .join()
    .unwrap_or_else(|_| Err(Error::msg("fetching the feed: the fetch thread failed")))
}

struct Got {
    bytes: Vec<u8>,
    /// The final URL (after redirects): relative links resolve against it.
    url: Url,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// GET with the cache's validators; `None`: 304 Not Modified.
async fn get(src: &FeedSource, url: &Url, cache: &Cache) -> Result<Option<Got>> {
    let fail = |m: String| Error::msg(format!("{url}: {m}"));
    let client = client(src.timeout).map_err(&fail)?;
    let mut req = client.get(url.clone());
    if let Some(e) = &cache.etag {
        req = req.header(reqwest::header::IF_NONE_MATCH, e);
    }
    if let Some(l) = &cache.last_modified {
        req = req.header(reqwest::header::IF_MODIFIED_SINCE, l);
    }
    let work = async {
        let mut resp = req.send().await.map_err(|e| fail(describe(&e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        let too_big = || {
            fail(format!(
                "the feed is larger than [source] max_size ({} bytes)",
                src.max_size
            ))
        };
        if resp.content_length().is_some_and(|n| n > src.max_size) {
            return Err(too_big());
        }
        let header = |h| {
            resp.headers()
                .get(h)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(String::from)
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let final_url = resp.url().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(describe(&e)))? {
            if bytes.len() as u64 + chunk.len() as u64 > src.max_size {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(Got {
            bytes,
            url: final_url,
            etag,
            last_modified,
        }))
    };
    // reqwest's own timeout covers the whole request; this is the belt
    // to its braces (a body trickling in forever).
    tokio::time::timeout(src.timeout + Duration::from_secs(1), work)
        .await
        .map_err(|_| fail(format!("no complete answer within {:?}", src.timeout)))?
}

/// The words of a reqwest error, on one line.
fn describe(e: &reqwest::Error) -> String {
    crate::util::http::describe(e, "fetch failed")
}

fn client(timeout: Duration) -> std::result::Result<reqwest::Client, String> {
    crate::util::http::client(USER_AGENT, MAX_REDIRECTS, timeout, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, slug: &str, url: &str) -> FeedItem {
        FeedItem {
            id: id.into(),
            title: "T".into(),
            date: chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap(),
            summary: String::new(),
            url: url.into(),
            slug: slug.into(),
            tags: Vec::new(),
            html: String::new(),
        }
    }

    #[test]
    fn an_item_keeps_its_first_slug_when_its_link_changes() {
        let mut cache = Cache::default();
        cache.merge(vec![item("tag:1", "123", "https://b.example/p/123")]);
        cache.merge(vec![item("tag:1", "my-post", "https://b.example/my-post/")]);
        assert_eq!(cache.items.len(), 1);
        assert_eq!(
            cache.items[0].slug, "123",
            "the slug sent posts are known by"
        );
        assert_eq!(
            cache.items[0].url, "https://b.example/my-post/",
            "the new link"
        );
    }

    #[test]
    fn items_with_one_slug_each_keep_one_of_their_own() {
        let mut cache = Cache::default();
        cache.merge(vec![item(
            "tag:1",
            "weekly-notes",
            "https://b.example/2025/notes/",
        )]);
        cache.merge(vec![
            item("tag:2", "weekly-notes", "https://b.example/2026/notes/"),
            item("tag:1", "weekly-notes", "https://b.example/2025/notes/"),
        ]);
        let mut slugs: Vec<&str> = cache.items.iter().map(|i| i.slug.as_str()).collect();
        slugs.sort();
        assert_eq!(slugs.len(), 2);
        assert_eq!(slugs[0], "weekly-notes", "the first keeps its slug");
        assert!(
            slugs[1].starts_with("weekly-notes-") && slugs[1].len() == 21,
            "{slugs:?}"
        );
    }

    #[test]
    fn items_gone_from_the_feed_are_kept_up_to_a_bound_newest_first() {
        let mut cache = Cache::default();
        let dated = |n: usize| {
            let mut i = item(&format!("tag:{n}"), &format!("p{n}"), "https://b.example/");
            i.date += chrono::Duration::days(n as i64);
            i
        };
        // A blog whose feed lists its ten newest posts, polled for years.
        for start in (0..MAX_KEPT + 200).step_by(10) {
            cache.merge((start..start + 10).map(dated).collect());
        }
        assert_eq!(cache.items.len(), MAX_KEPT);
        assert_eq!(cache.items[0].id, format!("tag:{}", MAX_KEPT + 199));
        // An old item the feed lists again is kept whatever its date.
        cache.merge(vec![dated(0)]);
        assert_eq!(cache.items.len(), MAX_KEPT + 1);
        assert!(cache.items.iter().any(|i| i.id == "tag:0"));
    }
}
