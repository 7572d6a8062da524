//! The web archive (`[archive] enabled = true`): `/archive` lists sent
//! campaigns newest first, paged; `/archive/{id}/{slug}` shows one email as
//! a page without anything personal; `/feed.xml` is an Atom feed (RFC 4287)
//! of the same issues.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use tera::Context;

use super::{internal, page, reply, AppState};
use crate::render::escape_html;
use crate::render::slots::archive_url;
use crate::store::ArchiveEntry;

/// How many issues the feed carries.
const FEED_ENTRIES: i64 = 50;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/archive", get(list))
        .route("/archive/{id}/{slug}", get(issue))
        .route("/feed.xml", get(feed))
}

fn enabled(state: &AppState) -> bool {
    state.optin.settings.newsletter.reading.archive
}

fn not_found(state: &AppState, headers: &HeaderMap) -> Response {
    reply(
        state,
        headers,
        StatusCode::NOT_FOUND,
        &state.say("not_found_heading", &[]),
        &state.say("not_found", &[]),
    )
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
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
    Query(q): Query<PageQuery>,
) -> Response {
    if !enabled(&state) {
        return not_found(&state, &headers);
    }
    let per = state.optin.settings.readers.archive_per_page as i64;
    let n = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let (entries, total) = match state.optin.store.archive((n - 1) * per, per).await {
        Ok(r) => r,
        Err(e) => return internal(&state, &headers, e),
    };
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

async fn issue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, _slug)): Path<(String, String)>,
) -> Response {
    let Some(id) = id.parse::<i64>().ok().filter(|_| enabled(&state)) else {
        return not_found(&state, &headers);
    };
    match state.optin.store.archived(id).await {
        Ok(Some((_, prepared))) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            prepared.public_html(),
        )
            .into_response(),
        Ok(None) => not_found(&state, &headers),
        Err(e) => internal(&state, &headers, e),
    }
}

async fn feed(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !enabled(&state) {
        return not_found(&state, &headers);
    }
    match state.optin.store.archive(0, FEED_ENTRIES).await {
        Ok((entries, _)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
            atom(&state, &entries),
        )
            .into_response(),
        Err(e) => internal(&state, &headers, e),
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
        escape_html(&nl.title),
        escape_html(public),
        escape_html(public),
        escape_html(public),
        escape_html(author),
    );
    for e in entries {
        let url = escape_html(&archive_url(public, e.id, &e.subject));
        let at = e.sent_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        out.push_str(&format!(
            "<entry>\n<title>{}</title>\n<id>{url}</id>\n<link rel=\"alternate\" type=\"text/html\" href=\"{url}\"/>\n\
             <updated>{at}</updated>\n<published>{at}</published>\n<summary>{}</summary>\n</entry>\n",
            escape_html(&e.subject),
            escape_html(if e.summary.is_empty() { &e.subject } else { &e.summary }),
        ));
    }
    out.push_str("</feed>\n");
    out
}
