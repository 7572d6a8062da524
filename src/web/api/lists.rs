//! `/api/v1/subscribers/import`, `/api/v1/subscribers/export` and
//! `/api/v1/bounces`: what `gazette subscribers import|export` and
//! `gazette bounces list` do, through `ops::import` and the store.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{Page, Params};
use super::{Api, ApiError};
use crate::audience::Status;
use crate::error::Error;

/// The largest CSV body `POST /subscribers/import` takes; a larger list
/// goes through `gazette subscribers import`.
pub const MAX_IMPORT_BODY: usize = 64 << 20;

/// A yes/no query parameter: `true`/`false`, `1`/`0`, `yes`/`no`.
fn flag(name: &str, v: Option<&str>) -> Result<bool, ApiError> {
    match v.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("false") | Some("0") | Some("no") => Ok(false),
        Some("true") | Some("1") | Some("yes") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name}: {other:?} is not true or false"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    confirmed: Option<String>,
    dry_run: Option<String>,
    welcome: Option<String>,
}

pub async fn import(
    State(api): State<Arc<Api>>,
    Params(p): Params<ImportParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let opts = crate::ops::import::Options {
        confirmed: flag("confirmed", p.confirmed.as_deref())?,
        dry_run: flag("dry_run", p.dry_run.as_deref())?,
        welcome: flag("welcome", p.welcome.as_deref())?,
    };
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the CSV is over {} MiB: import it with `gazette subscribers import`",
                MAX_IMPORT_BODY >> 20
            ),
        ),
        _ => ApiError::bad_request(e.body_text()),
    })?;
    if body.is_empty() {
        return Err(ApiError::invalid(
            "the body is empty: send the CSV as the body",
        ));
    }
    let input = std::io::Cursor::new(body);
    let ignore = Box::new(|_: &crate::audience::import::BadRow| {});
    // The SQLite merge holds the database's C handles across its awaits
    // (not `Send`): it runs on this thread, which tokio lets block.
    let store = &api.store;
    let (report, stats) = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(crate::ops::import::import(
            store,
            input,
            "request body",
            &opts,
            ignore,
            Utc::now(),
        ))
    })?;
    if !opts.dry_run {
        let optin = || Ok(api.optin.clone());
        let prefs = stats.with_preferences > 0;
        let after =
            crate::ops::import::after_import(&api.settings, &api.store, opts.welcome, prefs, optin)
                .await?;
        for (email, problem) in after.problems {
            tracing::warn!("import: {email}: {problem} (kept as an attribute)");
        }
    }
    let report = serde_json::to_value(report).map_err(|e| Error::msg(e.to_string()))?;
    Ok(Json(report))
}

fn status_param(s: Option<&str>) -> Result<Option<Status>, ApiError> {
    match s.filter(|s| !s.is_empty()) {
        Some(s) => Status::from_str(s).map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "status {s:?} is not one of pending, active, unsubscribed, bounced, complained"
            ))
        }),
        None => Ok(None),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    status: Option<String>,
    raw: Option<String>,
}

pub async fn export(
    State(api): State<Arc<Api>>,
    Params(p): Params<ExportParams>,
) -> Result<Response, ApiError> {
    let status = status_param(p.status.as_deref())?;
    let raw = flag("raw", p.raw.as_deref())?;
    let csv = crate::ops::import::export(&api.store, status, raw, Vec::new(), |e| {
        Error::msg(format!("writing CSV: {e}"))
    })
    .await?;
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"subscribers.csv\"",
        ),
    ];
    Ok((headers, csv).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BounceParams {
    since: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

pub async fn bounces(
    State(api): State<Arc<Api>>,
    Params(p): Params<BounceParams>,
) -> Result<Json<Value>, ApiError> {
    let since = match p.since.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            crate::util::time::parse_date(s)
                .map(|(d, _)| d.with_timezone(&Utc))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "since: {s:?} is not a date (YYYY-MM-DD or RFC 3339)"
                    ))
                })?,
        ),
        None => None,
    };
    let at = Page::of(p.page, p.per_page)?;
    let (rows, total) = api.store.bounce_page(since, at.per_page, at.offset).await?;
    Ok(Json(json!({
        "bounces": rows,
        "total": total,
        "page": at.page,
        "per_page": at.per_page,
    })))
}
