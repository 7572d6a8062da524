//! Security headers on every response, public and admin alike.

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The pages need no script, no frame, no plugin and no third-party
/// anything: only their own inline `<style>`, images, and forms posted back
/// to Gazette.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The headers every response carries.
pub fn all() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        // Confirmation and unsubscribe URLs carry tokens: never pass them on.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        // Pages with tokens or personal data are not for shared caches
        // (a handler that set its own, the public feed, keeps it).
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// Middleware: add the headers to whatever the handler (or an extractor
/// rejecting the request) answered.
pub async fn add(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    for (name, value) in all() {
        if name == header::CACHE_CONTROL && h.contains_key(&name) {
            continue;
        }
        h.insert(name, value);
    }
    res
}
