//! The web archive (`[archive] enabled = true`): `/archive` lists sent
//! campaigns newest first, paged; `/archive/{id}/{slug}` shows one email as
//! a page without anything personal; `/feed.xml` is an Atom feed (RFC 4287)
//! of the same issues.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tera::Context;

use super::xml::escape_text;
use super::{internal, page, reply, AppState};
use crate::render::slots::archive_url;
use crate::store::ArchiveEntry;

/// How many issues the feed carries.
const FEED_ENTRIES: i64 = 50;

/// The highest `?page=` there can be.
const MAX_PAGE: i64 = 1_000_000;

/// How long feed readers and caches may keep the feed without asking.
const FEED_CACHE: &str = "public, max-age=300";

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/archive", get(list))
        .route("/archive/{id}", get(issue_without_slug))
        .route("/archive/{id}/{slug}", get(issue))
        .route("/feed.xml", get(feed))
}

fn enabled(state: &AppState) -> bool {
    state.optin.settings.newsletter.reading.archive
}

/// The site's 404 page (or JSON error): an unknown path or issue.
pub(super) fn not_found(state: &AppState, headers: &HeaderMap) -> Response {
    reply(
        state,
        headers,
        StatusCode::NOT_FOUND,
        &state.say("not_found_heading", &[]),
        &state.say("not_found", &[]),
    )
}

/// The `page` of `/archive?page=N` (1 when absent), or what was given
/// instead of one number from 1 to [`MAX_PAGE`].
fn page_number(query: Option<&str>) -> Result<i64, String> {
    let given: Vec<String> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "page")
        .map(|(_, v)| v.into_owned())
        .collect();
    match given.as_slice() {
        [] => Ok(1),
        [one] => (one.parse::<i64>().ok())
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| one.clone()),
        many => Err(many.join(", ")),
    }
}

#[derive(Serialize)]
struct EntryView {
    url: String,
    subject: String,
    summary: String,
    date: String,
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !enabled(&state) {
        return not_found(&state, &headers);
    }
    let n = match page_number(query.as_deref()) {
        Ok(n) => n,
        Err(given) => {
            let given: String = given.chars().take(40).collect();
            return reply(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                &state.say("bad_request", &[]),
                &state.say("bad_page", &[("page", &given)]),
            );
        }
    };
    let per = state.optin.settings.readers.archive_per_page as i64;
    let (entries, total) = match state.optin.store.archive((n - 1) * per, per).await {
        Ok(r) => r,
        Err(e) => return internal(&state, &headers, e),
    };
    if n > 1 && entries.is_empty() {
        return not_found(&state, &headers);
    }
    let public = &state.optin.settings.newsletter.public_url;
    let views: Vec<EntryView> = entries
        .iter()
        .map(|e| EntryView {
            url: archive_url(public, e.id, &e.subject),
            subject: e.subject.clone(),
            summary: e.summary.clone(),
            date: state.messages.date(&e.sent_at),
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("entries", &views);
    ctx.insert("page", &n);
    let newer = (n > 1).then(|| format!("{public}/archive?page={}", n - 1));
    let older = (n * per < total).then(|| format!("{public}/archive?page={}", n + 1));
    ctx.insert("newer", &newer);
    ctx.insert("older", &older);
    page(&state, StatusCode::OK, "archive.html", &ctx)
}

/// `/archive/{id}`: the issue's address lacks its slug; send the reader
/// to the whole one.
async fn issue_without_slug(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    issue(state, headers, Path((id, String::new()))).await
}

/// One issue; an address with another slug than its subject's (a changed
/// subject, a mistyped or made-up slug) redirects to the right one.
async fn issue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, slug)): Path<(String, String)>,
) -> Response {
    let given = id;
    let id = (given.bytes().all(|b| b.is_ascii_digit()))
        .then(|| given.parse::<i64>().ok())
        .flatten()
        .filter(|_| enabled(&state));
    let Some(id) = id else {
        return not_found(&state, &headers);
    };
    let (entry, prepared) = match state
        .optin
        .store
        .archived::<crate::render::Prepared>(id)
        .await
    {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(&state, &headers),
        Err(e) => return internal(&state, &headers, e),
    };
    let url = archive_url(
        &state.optin.settings.newsletter.public_url,
        id,
        &entry.subject,
    );
    let right = url.rsplit('/').next().unwrap_or_default();
    if slug != right || given != id.to_string() {
        // A subject in other letters than ASCII: the Location percent-encoded.
        let location = url::Url::parse(&url).map_or(url.clone(), String::from);
        if let Ok(location) = HeaderValue::from_str(&location) {
            return (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        // Issues sent before posts were sanitised may hold a refresh.
        crate::content::sanitize::without_http_equiv(&prepared.public_html()).into_owned(),
    )
        .into_response()
}

/// The feed, with validators: a reader polling it gets 304 while nothing
/// changed, and caches may keep it a few minutes.
async fn feed(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !enabled(&state) {
        return not_found(&state, &headers);
    }
    let entries = match state.optin.store.archive(0, FEED_ENTRIES).await {
        Ok((entries, _)) => entries,
        Err(e) => return internal(&state, &headers, e),
    };
    let body = atom(&state, &entries);
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..32]
    );
    let modified = entries.iter().map(|e| e.sent_at).max();
    let mut validators = vec![
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, FEED_CACHE.to_string()),
    ];
    if let Some(m) = modified {
        validators.push((header::LAST_MODIFIED, http_date(m)));
    }
    let mut res = if unchanged(&headers, &etag, modified) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
            body,
        )
            .into_response()
    };
    for (name, value) in validators {
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(name, v);
        }
    }
    res
}

/// An HTTP date (RFC 9110): `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Whether the client's copy is current (RFC 9110 section 13.1):
/// `If-None-Match` decides when given, else `If-Modified-Since`.
fn unchanged(headers: &HeaderMap, etag: &str, modified: Option<DateTime<Utc>>) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(tags) = text(header::IF_NONE_MATCH) {
        return tags
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag);
    }
    let since = text(header::IF_MODIFIED_SINCE).and_then(|s| DateTime::parse_from_rfc2822(s).ok());
    match (since, modified) {
        (Some(since), Some(m)) => m.timestamp() <= since.timestamp(),
        _ => false,
    }
}

/// The Atom document (RFC 4287): absolute links, one entry per issue.
fn atom(state: &AppState, entries: &[ArchiveEntry]) -> String {
    let nl = &state.optin.settings.newsletter;
    let public = &nl.public_url;
    let author = nl.from.name.as_deref().unwrap_or(&nl.title);
    let updated = entries
        .iter()
        .map(|e| e.sent_at)
        .max()
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>{}</title>\n<id>{}/feed.xml</id>\n<updated>{updated}</updated>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{}/feed.xml\"/>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{}/archive\"/>\n\
         <author><name>{}</name></author>\n",
        escape_text(&nl.title),
        escape_text(public),
        escape_text(public),
        escape_text(public),
        escape_text(author),
    );
    for e in entries {
        let url = escape_text(&archive_url(public, e.id, &e.subject));
        let at = e.sent_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        out.push_str(&format!(
            "<entry>\n<title>{}</title>\n<id>{url}</id>\n<link rel=\"alternate\" type=\"text/html\" href=\"{url}\"/>\n\
             <updated>{at}</updated>\n<published>{at}</published>\n<summary>{}</summary>\n</entry>\n",
            escape_text(&e.subject),
            escape_text(if e.summary.is_empty() { &e.subject } else { &e.summary }),
        ));
    }
    out.push_str("</feed>\n");
    out
}
