//! The links of a test send (`send --to`, `POST /api/v1/campaigns/{id}/test`)
//! to an address that is not on the list: its unsubscribe and preferences
//! links answer "this was a test send" and change nothing; its "View in
//! browser" link (for any test send) opens the email as sent.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{internal, reply, unknown_link, AppState};
use crate::ops::campaigns::TEST_TOKEN_PREFIX;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/archive/test/{token}", get(view))
}

/// The test send's email as a web page (the reader's own links left out).
async fn view(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    if !token.starts_with(TEST_TOKEN_PREFIX) {
        return unknown_link(&state, &headers, "unknown_test_send");
    }
    match state
        .optin
        .store
        .test_send(&token, chrono::Utc::now())
        .await
    {
        Ok(Some(t)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            t.html,
        )
            .into_response(),
        Ok(None) => unknown_link(&state, &headers, "unknown_test_send"),
        Err(e) => internal(&state, &headers, e),
    }
}

/// The answer to a test send's unsubscribe or preferences link (GET or
/// POST: a mail client's one-click POST changes nothing either), or
/// `None` when `token` is a reader's.
pub(super) async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    unknown: &str,
) -> Option<Response> {
    if !token.starts_with(TEST_TOKEN_PREFIX) {
        return None;
    }
    Some(
        match state.optin.store.test_send(token, chrono::Utc::now()).await {
            Ok(Some(t)) => reply(
                state,
                headers,
                StatusCode::OK,
                &state.say("test_send_heading", &[]),
                &state.say("test_send_links", &[("email", &t.email)]),
            ),
            Ok(None) => unknown_link(state, headers, unknown),
            Err(e) => internal(state, headers, e),
        },
    )
}
