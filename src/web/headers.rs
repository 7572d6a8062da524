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

/// The CSP of a page with the subscribe form: [`CSP`], plus the proof of
/// work's script from Gazette itself (`subscribe_pow`), plus the origin
/// of `[web] return_url`, where the form's answer redirects (a redirect
/// after a form's post is held to `form-action`).
pub fn form_csp(pow: bool, return_origin: Option<String>) -> String {
    let mut csp = CSP.replace(
        "form-action 'self'",
        &match return_origin {
            Some(o) => format!("form-action 'self' {o}"),
            None => "form-action 'self'".into(),
        },
    );
    if pow {
        csp = csp.replace(
            "default-src 'none';",
            "default-src 'none'; script-src 'self';",
        );
    }
    csp
}

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
        // A form page's own CSP (`form_csp`) stays.
        let own = [header::CACHE_CONTROL, header::CONTENT_SECURITY_POLICY];
        if own.contains(&name) && h.contains_key(&name) {
            continue;
        }
        h.insert(name, value);
    }
    res
}
