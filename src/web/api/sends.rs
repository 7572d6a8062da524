//! `POST /api/v1/campaigns`: what `gazette send post|digest` does
//! (`ops::send`), the campaign then run in the background by the process
//! serving the API (`ops::runs`), as the worker runs its own.

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{extract::State, Json};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::errors::Body;
use super::{Api, ApiError, PREFIX};
use crate::ops::send::{Drafted, Names, Target};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    /// One post, by slug.
    post: Option<String>,
    /// A digest.
    digest: Option<DigestSpec>,
    /// RFC 3339: scheduled for then.
    at: Option<String>,
    /// Canary size for this campaign (0: none), instead of `[send] canary`.
    canary: Option<u64>,
    #[serde(default)]
    dry_run: bool,
    /// A post already sent is sent again.
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DigestSpec {
    since: Option<String>,
    until: Option<String>,
    /// Posts earlier digests carried are sent again.
    #[serde(default)]
    force: bool,
}

const NAMES: Names = Names {
    since: "digest.since",
    until: "digest.until",
    force: "\"force\": true",
};

fn parse_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let at = DateTime::parse_from_rfc3339(s.trim())
        .map_err(|_| {
            ApiError::invalid(format!(
                "at: {s:?} is not an RFC 3339 time (such as \"2026-12-01T09:00:00+01:00\")"
            ))
        })?
        .with_timezone(&Utc);
    if at <= now {
        return Err(ApiError::invalid(format!("at: {s} is not in the future")));
    }
    Ok(at)
}

/// The request's target, and whether a repeat is forced.
fn target(c: &NewCampaign) -> Result<(Target, bool), ApiError> {
    match (&c.post, &c.digest) {
        (Some(slug), None) => Ok((Target::Post(slug.clone()), c.force)),
        (None, Some(d)) => Ok((
            Target::Digest {
                since: d.since.clone(),
                until: d.until.clone(),
            },
            d.force || c.force,
        )),
        _ => Err(ApiError::invalid(
            "post, digest: give exactly one ({\"post\": \"SLUG\"} or {\"digest\": {}})",
        )),
    }
}

fn nothing(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "nothing_to_send", message)
}

pub async fn create(
    State(api): State<Arc<Api>>,
    Body(c): Body<NewCampaign>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let (target, force) = target(&c)?;
    let at = c.at.as_deref().map(|s| parse_at(s, now)).transpose()?;
    if at.is_some() && c.canary.is_some() {
        return Err(ApiError::invalid(
            "canary: not with \"at\" (a scheduled campaign has [send] canary when it starts)",
        ));
    }
    let settings = &api.settings;
    let catalog = crate::content::catalog(settings);
    let req = crate::ops::send::Request {
        target,
        force,
        checks: !c.dry_run,
        names: NAMES,
    };
    let drafted = crate::ops::send::draft(settings, &api.store, &catalog, now, &req).await?;
    let draft = match drafted {
        Drafted::Ready(d) => d,
        Drafted::NothingNew { since } => {
            return Err(nothing(format!(
                "no new published posts since {}: no digest sent",
                since.format("%Y-%m-%d %H:%M UTC")
            )))
        }
    };
    if c.dry_run {
        let (report, _) = crate::ops::send::dry_run(settings, &api.store, &draft).await?;
        return Ok(Json(report).into_response());
    }
    let Some(started) = crate::ops::send::start(settings, &api.store, &draft, at).await? else {
        return Err(nothing(
            "no active subscriber wants this email: nothing sent".into(),
        ));
    };
    if !started.scheduled {
        (api.runs)
            .spawn_with(started.id, started.total, c.canary)
            .await;
    }
    let campaign = crate::ops::campaigns::get(&api.store, started.id).await?;
    let body = json!({
        "id": started.id,
        "status": campaign.status,
        "total": started.total,
        "scheduled_at": campaign.scheduled_at,
    });
    let mut r = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{PREFIX}/campaigns/{}", started.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}
