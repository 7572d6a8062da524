//! `/admin/readers`: search by address (or name); `/admin/readers/{id}`:
//! one person's record as `gazette subscribers show` gives it; reactivate
//! and remove behind a confirmation page whose button POSTs with the
//! session's CSRF token. They do what the CLI does: reactivation is for
//! bounced or complained addresses only (an unsubscribed reader comes back
//! only by subscribing again), removal erases the person's data and keeps
//! the address blocked from imports.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use chrono::Utc;
use serde_json::{json, Value};

use super::session::Session;
use super::{check_csrf, paging, Dashboard};
use crate::audience::{format_time, Status, Subscriber, SubscriberEmail};

/// Readers per page of a search.
pub const PER_PAGE: i64 = 50;

pub(super) async fn list(
    State(dash): State<Arc<Dashboard>>,
    Extension(session): Extension<Session>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let q = query
        .get("q")
        .map(|q| q.trim().to_string())
        .unwrap_or_default();
    let (page, offset) = paging(&query, PER_PAGE);
    let found = dash
        .store
        .search(
            None,
            Some(&q).filter(|q| !q.is_empty()).map(String::as_str),
            PER_PAGE,
            offset,
        )
        .await;
    let found = match found {
        Ok(f) => f,
        Err(e) => return dash.failed(Some(&session), e),
    };
    let readers: Vec<Value> = found.subscribers.iter().map(line).collect();
    let mut ctx = dash.context("readers", Some(&session));
    ctx.insert("q", &q);
    ctx.insert("readers", &readers);
    ctx.insert("total", &found.total);
    ctx.insert("page", &page);
    ctx.insert("pages", &((found.total + PER_PAGE - 1) / PER_PAGE).max(1));
    dash.render(StatusCode::OK, "readers.html", &ctx)
}

fn line(s: &Subscriber) -> Value {
    json!({
        "id": s.id,
        "email": s.email,
        "name": s.name,
        "status": s.status.as_str(),
        "created_at": format_time(&s.created_at),
    })
}

/// What an operator may do to a reader in `status`.
fn can_reactivate(status: Status) -> bool {
    matches!(status, Status::Bounced | Status::Complained)
}

async fn find(dash: &Dashboard, id: &str) -> crate::error::Result<Option<Subscriber>> {
    match id.parse::<i64>() {
        Ok(id) => dash.store.subscriber_by_id(id).await,
        Err(_) => Ok(None),
    }
}

fn not_found(dash: &Dashboard, session: &Session) -> Response {
    dash.message(
        StatusCode::NOT_FOUND,
        Some(session),
        &dash.say("dash_not_found_heading", &[]),
        &dash.say("dash_no_reader", &[]),
        "/admin/readers",
    )
}

pub(super) async fn one(
    State(dash): State<Arc<Dashboard>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let person = async {
        let Some(s) = find(&dash, &id).await? else {
            return Ok(None);
        };
        let Ok(email) = SubscriberEmail::parse(&s.email) else {
            return Ok(None);
        };
        dash.store.person(&email).await
    };
    let p = match person.await {
        Ok(Some(p)) => p,
        Ok(None) => return not_found(&dash, &session),
        Err(e) => return dash.failed(Some(&session), e),
    };
    let s = &p.subscriber;
    let t = |d: &Option<chrono::DateTime<Utc>>| d.as_ref().map(format_time);
    let deliveries: Vec<Value> = p
        .deliveries
        .iter()
        .map(|d| {
            json!({
                "campaign": d.campaign_id, "kind": d.kind, "subject": d.subject,
                "status": d.status, "attempts": d.attempts, "sent_at": d.sent_at,
                "last_reply": d.last_reply,
            })
        })
        .collect();
    let stored: Vec<(String, String)> = p
        .stored
        .iter()
        .map(|(k, v)| (k.clone(), shown(v)))
        .collect();
    type Rows = Vec<Vec<(String, String)>>;
    let linked: Vec<(String, Rows)> = p
        .linked
        .iter()
        .map(|(table, rows)| {
            let rows = rows
                .iter()
                .map(|r| r.iter().map(|(k, v)| (k.clone(), shown(v))).collect())
                .collect();
            (table.clone(), rows)
        })
        .collect();
    let mut ctx = dash.context("readers", Some(&session));
    ctx.insert("r", &line(s));
    ctx.insert("confirmed_at", &t(&s.confirmed_at));
    ctx.insert("unsubscribed_at", &t(&s.unsubscribed_at));
    ctx.insert("source", &s.source);
    ctx.insert("attributes", &s.attributes.to_string());
    ctx.insert("confirm_sent_at", &t(&p.confirm_sent_at));
    ctx.insert("confirm_expires_at", &t(&p.confirm_expires_at));
    ctx.insert("erased_before", &p.erased_before);
    ctx.insert("stored", &stored);
    ctx.insert("deliveries", &deliveries);
    ctx.insert("linked", &linked);
    ctx.insert("can_reactivate", &can_reactivate(s.status));
    dash.render(StatusCode::OK, "reader.html", &ctx)
}

/// A stored value as text (strings without quotes).
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// The page asking to confirm `action` (reactivate, remove).
pub(super) async fn confirm(
    State(dash): State<Arc<Dashboard>>,
    Extension(session): Extension<Session>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let s = match find(&dash, &id).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(&dash, &session),
        Err(e) => return dash.failed(Some(&session), e),
    };
    let question = match action.as_str() {
        "remove" => "dash_remove_question",
        "reactivate" if can_reactivate(s.status) => "dash_reactivate_question",
        "reactivate" => return cannot_reactivate(&dash, &session, &s),
        _ => return not_found(&dash, &session),
    };
    let mut ctx = dash.context("readers", Some(&session));
    ctx.insert("r", &line(&s));
    ctx.insert("action", &action);
    ctx.insert(
        "question",
        &dash.say(
            question,
            &[("email", &s.email), ("status", s.status.as_str())],
        ),
    );
    dash.render(StatusCode::OK, "confirm.html", &ctx)
}

fn cannot_reactivate(dash: &Dashboard, session: &Session, s: &Subscriber) -> Response {
    dash.message(
        StatusCode::CONFLICT,
        Some(session),
        &dash.say("dash_reactivate", &[]),
        &dash.say(
            "dash_cannot_reactivate",
            &[("email", &s.email), ("status", s.status.as_str())],
        ),
        &format!("/admin/readers/{}", s.id),
    )
}

/// The confirmed action, POSTed with the session's CSRF token.
pub(super) async fn act(
    State(dash): State<Arc<Dashboard>>,
    Extension(session): Extension<Session>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = check_csrf(&dash, &session, &form) {
        return refused;
    }
    let s = match find(&dash, &id).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(&dash, &session),
        Err(e) => return dash.failed(Some(&session), e),
    };
    let Ok(email) = SubscriberEmail::parse(&s.email) else {
        return not_found(&dash, &session);
    };
    let now = Utc::now();
    let (done, back) = match action.as_str() {
        "reactivate" if can_reactivate(s.status) => {
            match dash.store.reactivate(&email, now).await {
                Ok(_) => ("dash_reactivated", format!("/admin/readers/{}", s.id)),
                Err(e) => return dash.failed(Some(&session), e),
            }
        }
        "reactivate" => return cannot_reactivate(&dash, &session, &s),
        "remove" => match dash.store.erase(&email, now).await {
            Ok(_) => ("dash_removed", "/admin/readers".to_string()),
            Err(e) => return dash.failed(Some(&session), e),
        },
        _ => return not_found(&dash, &session),
    };
    dash.message(
        StatusCode::OK,
        Some(&session),
        &dash.say("dash_done_heading", &[]),
        &dash.say(done, &[("email", &s.email)]),
        &back,
    )
}
