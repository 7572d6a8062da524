//! `/preferences/{token}`: a reader chooses how often (each post, the
//! digest, or both) and which topics. The unsubscribe token is the key
//! (compared in constant time by the store); saving is a POST answered
//! with the same page and a notice. No JavaScript.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tera::Context;

use super::{internal, page, reply, unknown_link, AppState};
use crate::audience::prefs::{Frequency, Preferences};
use crate::audience::Subscriber;
use crate::delivery::selections::default_frequency;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/preferences/{token}", get(show).post(save))
}

#[derive(Serialize)]
struct TopicView<'a> {
    tag: &'a str,
    label: &'a str,
    checked: bool,
}

fn render(
    state: &AppState,
    sub: &Subscriber,
    token: &str,
    prefs: &Preferences,
    notice: Option<&str>,
) -> Response {
    let settings = &state.optin.settings;
    let frequency = prefs
        .frequency
        .unwrap_or_else(|| default_frequency(settings.publish));
    let topics: Vec<TopicView<'_>> = settings
        .readers
        .topics
        .iter()
        .map(|(tag, label)| TopicView {
            tag,
            label,
            checked: prefs.topics.contains(tag),
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("email", &sub.email);
    ctx.insert("action", token);
    ctx.insert("frequency", frequency.as_str());
    ctx.insert("topics", &topics);
    ctx.insert("notice", &notice);
    ctx.insert("status", sub.status.as_str());
    ctx.insert(
        "unsubscribe_url",
        &crate::render::slots::unsubscribe_url(&settings.newsletter, token),
    );
    page(state, StatusCode::OK, "preferences.html", &ctx)
}

async fn show(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    if let Some(r) =
        super::test_sends::answer(&state, &headers, &token, "unknown_preferences").await
    {
        return r;
    }
    let store = &state.optin.store;
    let sub = match store.by_unsubscribe_token(&token).await {
        Ok(Some(sub)) => sub,
        Ok(None) => return unknown_link(&state, &headers, "unknown_preferences"),
        Err(e) => return internal(&state, &headers, e),
    };
    match store.preferences(sub.id).await {
        Ok(prefs) => render(&state, &sub, &token, &prefs, None),
        Err(e) => internal(&state, &headers, e),
    }
}

async fn save(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(r) =
        super::test_sends::answer(&state, &headers, &token, "unknown_preferences").await
    {
        return r;
    }
    let store = &state.optin.store;
    let sub = match store.by_unsubscribe_token(&token).await {
        Ok(Some(sub)) => sub,
        Ok(None) => return unknown_link(&state, &headers, "unknown_preferences"),
        Err(e) => return internal(&state, &headers, e),
    };
    let prefs = match parse(&state, &body) {
        Ok(p) => p,
        Err(unknown) => {
            let topic: String = unknown.chars().take(40).collect();
            return reply(
                &state,
                &headers,
                StatusCode::UNPROCESSABLE_ENTITY,
                &state.say("bad_request", &[]),
                &state.say("unknown_topic", &[("topic", &topic)]),
            );
        }
    };
    if prefs.frequency.is_none() {
        return reply(
            &state,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            &state.say("choose_frequency_heading", &[]),
            &state.say("choose_frequency", &[]),
        );
    }
    if let Err(e) = store.set_preferences(sub.id, &prefs).await {
        return internal(&state, &headers, e);
    }
    render(
        &state,
        &sub,
        &token,
        &prefs,
        Some(&state.say("preferences_saved", &[])),
    )
}

/// The form's choices; a topic this newsletter does not have is refused
/// (`Err` names it) rather than silently dropped.
fn parse(state: &AppState, body: &[u8]) -> Result<Preferences, String> {
    let known = &state.optin.settings.readers.topics;
    let mut prefs = Preferences::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        match &*k {
            "frequency" => prefs.frequency = Frequency::parse(&v).ok(),
            "topics" => {
                let t = v.trim().to_lowercase();
                if t.is_empty() {
                    continue;
                }
                if !known.iter().any(|(k, _)| *k == t) {
                    return Err(v.trim().to_string());
                }
                if !prefs.topics.contains(&t) {
                    prefs.topics.push(t);
                }
            }
            _ => {}
        }
    }
    Ok(prefs)
}
