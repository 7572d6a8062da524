//! `GET /c/{campaign}/{link}` on the public listener: the counted links of
//! a campaign's email (`[tracking] clicks`). The same URL for every reader,
//! so it counts a click on that link of that issue and nothing about who
//! clicked: no cookie, no address, no IP, no log line. Known links answer
//! 302 to the URL the campaign had; anything else 404 (never a redirect to
//! a URL taken from the request).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/c/{campaign}/{link}", get(click))
}

/// A link number as written in a URL: digits only (no sign, no spaces).
fn number(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

async fn click(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path((campaign, link)): Path<(String, String)>,
) -> Response {
    let (Some(campaign), Some(link)) = (number(&campaign), number(&link)) else {
        return super::archive::not_found(&state, &headers);
    };
    // A HEAD (a link checker) is answered, not counted; with `[tracking]
    // clicks` turned off, links already sent still lead where they did.
    let count = method == Method::GET && state.optin.settings.newsletter.reading.track_clicks;
    match state.optin.store.click(campaign, link, count).await {
        Ok(Some(url)) => match HeaderValue::from_str(&url) {
            Ok(location) => {
                let mut r = StatusCode::FOUND.into_response();
                r.headers_mut().insert(header::LOCATION, location);
                r
            }
            Err(_) => super::archive::not_found(&state, &headers),
        },
        Ok(None) => super::archive::not_found(&state, &headers),
        Err(e) => super::internal(&state, &headers, e),
    }
}
