//! `/api/v1/subscribers`: list, show with history, add (with or without
//! double opt-in), edit name and attributes, erase.

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};

use super::errors::{Body, Id, Page, Params};
use super::{Api, ApiError};
use crate::audience::{format_time, Source, Status, Subscriber, SubscriberEmail};
use crate::ops::subscribers::PrefsChange;
use crate::optin::Outcome;
use crate::store::directory::Edited;

/// A subscriber as the API shows it.
#[derive(Serialize)]
pub struct ApiSubscriber {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub status: Status,
    pub source: String,
    pub attributes: Value,
    pub created_at: String,
    pub confirmed_at: Option<String>,
    pub unsubscribed_at: Option<String>,
    /// The reader's choice: each, digest or both (`null`: the newsletter's
    /// `[publish] mode`).
    pub frequency: Option<&'static str>,
    /// The reader's topics (empty: every post).
    pub topics: Vec<String>,
}

impl From<Subscriber> for ApiSubscriber {
    fn from(s: Subscriber) -> Self {
        ApiSubscriber {
            id: s.id,
            email: s.email,
            name: s.name,
            status: s.status,
            source: s.source,
            attributes: s.attributes,
            created_at: format_time(&s.created_at),
            confirmed_at: s.confirmed_at.as_ref().map(format_time),
            unsubscribed_at: s.unsubscribed_at.as_ref().map(format_time),
            frequency: s.frequency.map(|f| f.as_str()),
            topics: s.topics,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    q: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

pub async fn list(
    State(api): State<Arc<Api>>,
    Params(p): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let status = match p.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Status::from_str(s).map_err(|_| {
            ApiError::bad_request(format!(
                "status {s:?} is not one of pending, active, unsubscribed, bounced, complained"
            ))
        })?),
        None => None,
    };
    let at = Page::of(p.page, p.per_page)?;
    let found = api
        .store
        .search(status, p.q.as_deref(), at.per_page, at.offset)
        .await?;
    let subs: Vec<ApiSubscriber> = found.subscribers.into_iter().map(Into::into).collect();
    Ok(Json(json!({
        "subscribers": subs,
        "total": found.total,
        "page": at.page,
        "per_page": at.per_page,
    })))
}

async fn by_id(api: &Api, id: i64) -> Result<Subscriber, ApiError> {
    api.store
        .subscriber_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no subscriber {id}")))
}

pub async fn show(State(api): State<Arc<Api>>, Id(id): Id) -> Result<Json<Value>, ApiError> {
    let sub = by_id(&api, id).await?;
    let email = SubscriberEmail::parse(&sub.email).map_err(ApiError::invalid)?;
    let person = api
        .store
        .person(&email)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no subscriber {id}")))?;
    let deliveries: Vec<Value> = person
        .deliveries
        .iter()
        .map(|d| {
            json!({
                "campaign_id": d.campaign_id,
                "kind": d.kind,
                "subject": d.subject,
                "status": d.status,
                "attempts": d.attempts,
                "sent_at": d.sent_at,
                "message_id": d.message_id,
                "last_reply": d.last_reply,
                "campaign_created_at": d.campaign_created_at,
            })
        })
        .collect();
    Ok(Json(json!({
        "subscriber": ApiSubscriber::from(person.subscriber),
        "confirm_sent_at": person.confirm_sent_at.as_ref().map(format_time),
        "confirm_expires_at": person.confirm_expires_at.as_ref().map(format_time),
        "erased_before": person.erased_before,
        "deliveries": deliveries,
        "linked": person.linked,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriber {
    email: String,
    name: Option<String>,
    /// Active at once, no confirmation email.
    #[serde(default)]
    confirmed: bool,
    attributes: Option<Map<String, Value>>,
}

/// Names go into the To: header and greetings: one line, capped as the
/// subscribe form, imports and `subscribers add` cap them.
fn clean_name(name: &str) -> Result<Option<String>, ApiError> {
    let n = crate::audience::cap_name(name.to_string());
    Ok(Some(n.trim().to_string()).filter(|n| !n.is_empty()))
}

fn check_attributes(a: &Map<String, Value>) -> Result<(), ApiError> {
    if Value::Object(a.clone()).to_string().len() > 16 * 1024 {
        return Err(ApiError::invalid("attributes: at most 16 KiB of JSON"));
    }
    Ok(())
}

pub async fn create(
    State(api): State<Arc<Api>>,
    Body(new): Body<NewSubscriber>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email =
        SubscriberEmail::parse(&new.email).map_err(|m| ApiError::invalid(format!("email: {m}")))?;
    let name = match new.name.as_deref() {
        Some(n) => clean_name(n)?,
        None => None,
    };
    if let Some(a) = &new.attributes {
        check_attributes(a)?;
    }
    if let Some(s) = api.store.get(&email).await? {
        return Err(ApiError::conflict(format!(
            "{email} is already on the list as subscriber {} ({})",
            s.id,
            s.status.as_str()
        )));
    }
    let now = Utc::now();
    let outcome = crate::ops::subscribers::add(
        &api.optin,
        &email,
        name.as_deref(),
        new.confirmed,
        Source::Api,
        now,
    )
    .await?;
    let mut sub = api
        .store
        .get(&email)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{email} vanished while being added")))?;
    if let Some(a) = &new.attributes {
        match api.store.edit_subscriber(sub.id, None, Some(a)).await? {
            Edited::Done(s) => sub = s,
            Edited::NotFound => {}
            Edited::TooLarge(m) => return Err(ApiError::invalid(m)),
        }
    }
    let outcome = match outcome {
        Outcome::Activated | Outcome::AlreadyActive => "active",
        Outcome::ConfirmationSent => "confirmation_sent",
        Outcome::RecentlySent => "confirmation_recently_sent",
        Outcome::OptedOut(_) => "opted_out",
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({"subscriber": ApiSubscriber::from(sub), "outcome": outcome})),
    ))
}

/// `"name": null` clears the name; an absent `name` leaves it.
fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberPatch {
    #[serde(default, deserialize_with = "double_option")]
    name: Option<Option<String>>,
    attributes: Option<Map<String, Value>>,
    /// each, digest or both; `null`: back to the newsletter's default.
    #[serde(default, deserialize_with = "double_option")]
    frequency: Option<Option<String>>,
    /// Topics of `[topics]`; `[]`: every post.
    topics: Option<Vec<String>>,
}

pub async fn update(
    State(api): State<Arc<Api>>,
    Id(id): Id,
    Body(p): Body<SubscriberPatch>,
) -> Result<Json<ApiSubscriber>, ApiError> {
    let name = match &p.name {
        Some(Some(n)) => Some(clean_name(n)?),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(a) = &p.attributes {
        check_attributes(a)?;
    }
    let change = PrefsChange {
        frequency: p.frequency.clone(),
        topics: p.topics.clone(),
    };
    let prefs_change = change.frequency.is_some() || change.topics.is_some();
    // Every field is checked before anything changes.
    let prefs = if prefs_change {
        let current = api.store.preferences(by_id(&api, id).await?.id).await?;
        let names = ("frequency", "topics");
        Some(crate::ops::subscribers::apply_preferences(
            &api.settings,
            current,
            &change,
            names,
        )?)
    } else {
        None
    };
    let name = name.as_ref().map(|n| n.as_deref());
    let mut sub = match api
        .store
        .edit_subscriber(id, name, p.attributes.as_ref())
        .await?
    {
        Edited::Done(sub) => sub,
        Edited::NotFound => return Err(ApiError::not_found(format!("no subscriber {id}"))),
        // Per subscriber, after merging: repeated edits cannot grow past it.
        Edited::TooLarge(m) => return Err(ApiError::invalid(m)),
    };
    if let Some(prefs) = prefs {
        api.store.set_preferences(id, &prefs).await?;
        sub.frequency = prefs.frequency;
        sub.topics = prefs.topics;
    }
    Ok(Json(sub.into()))
}

pub async fn erase(State(api): State<Arc<Api>>, Id(id): Id) -> Result<Json<Value>, ApiError> {
    let sub = by_id(&api, id).await?;
    let email = SubscriberEmail::parse(&sub.email).map_err(ApiError::invalid)?;
    let erased = api.store.erase(&email, Utc::now()).await?;
    Ok(Json(json!({"id": id, "erased": erased})))
}
