//! `/api/v1/campaigns`, `/api/v1/posts` and `/api/v1/worker`: the same
//! operations as `gazette campaigns`, `posts` and `status`, through `ops`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{Body, Id};
use super::{Api, ApiError};
use crate::audience::SubscriberEmail;
use crate::ops;
use crate::store::campaigns::CampaignInfo;

pub async fn list(State(api): State<Arc<Api>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"campaigns": api.store.campaigns().await?})))
}

pub async fn show(State(api): State<Arc<Api>>, Id(id): Id) -> Result<Json<CampaignInfo>, ApiError> {
    Ok(Json(ops::campaigns::get(&api.store, id).await?))
}

pub async fn pause(
    State(api): State<Arc<Api>>,
    Id(id): Id,
) -> Result<Json<CampaignInfo>, ApiError> {
    Ok(Json(
        ops::campaigns::pause(&api.store, id, Utc::now()).await?,
    ))
}

pub async fn resume(
    State(api): State<Arc<Api>>,
    Id(id): Id,
) -> Result<Json<CampaignInfo>, ApiError> {
    Ok(Json(
        ops::campaigns::resume_by_worker(&api.store, id, Utc::now()).await?,
    ))
}

pub async fn cancel(
    State(api): State<Arc<Api>>,
    Id(id): Id,
) -> Result<Json<CampaignInfo>, ApiError> {
    let (_, after) = ops::campaigns::cancel(&api.store, id, Utc::now()).await?;
    Ok(Json(after))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSend {
    email: String,
}

pub async fn test_send(
    State(api): State<Arc<Api>>,
    Id(id): Id,
    Body(t): Body<TestSend>,
) -> Result<Json<Value>, ApiError> {
    let email =
        SubscriberEmail::parse(&t.email).map_err(|m| ApiError::invalid(format!("email: {m}")))?;
    ops::campaigns::get(&api.store, id).await?;
    let prepared = api.store.campaign_prepared(id).await?;
    let mailer = &api.optin.mailer;
    ops::campaigns::test_send(&api.settings, &api.store, mailer, &prepared, &email).await?;
    Ok(Json(json!({
        "campaign_id": id,
        "sent_to": email.to_string(),
        "through": mailer.describe(),
    })))
}

fn catalog(api: &Api) -> crate::content::Catalog {
    crate::content::catalog(&api.settings)
}

pub async fn posts(State(api): State<Arc<Api>>) -> Result<Json<Value>, ApiError> {
    let catalog = catalog(&api);
    let states = ops::posts::states(&api.store, &catalog.posts, Utc::now()).await?;
    let errors: Vec<String> = catalog.errors.iter().map(|e| e.to_string()).collect();
    Ok(Json(json!({"posts": states, "errors": errors})))
}

pub async fn worker(State(api): State<Arc<Api>>) -> Result<Json<Value>, ApiError> {
    let catalog = catalog(&api);
    let report = ops::status::report(&api.settings, &api.store, &catalog.posts, Utc::now()).await?;
    Ok(Json(serde_json::to_value(report).map_err(|e| {
        ApiError::from(crate::error::Error::msg(e.to_string()))
    })?))
}
