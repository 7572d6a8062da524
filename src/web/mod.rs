//! The web endpoints. On the public listener: subscribe (`signup`, with its
//! bot rules; the embeddable form's pieces in `embed`), confirm (a page
//! whose button POSTs: a GET changes nothing), unsubscribe (RFC 8058
//! one-click included), healthz (this file); a reader's
//! preferences (`preferences`); the archive of sent issues and its feed
//! (`archive`, `xml`); the signed delivery webhooks of email providers
//! (`webhooks`). HTML or JSON by `Accept`. Operator endpoints (`/metrics`,
//! the admin API in `api`) live on the admin listener (`admin`), behind
//! one token check (`auth`). Around them: the security headers (`headers`),
//! connection limits and timeouts (`listen`, `conns`), trusted proxies
//! (`proxies`) and rate limits (`ratelimit`).

pub mod admin;
pub mod api;
pub mod archive;
pub mod auth;
pub mod clicks;
pub mod conns;
pub mod dashboard;
pub mod embed;
pub mod headers;
pub mod listen;
pub mod preferences;
pub mod proxies;
pub mod ratelimit;
pub mod signup;
pub mod test_sends;
pub mod webhooks;
pub mod xml;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tera::Context;

use crate::audience::signup::SignupKey;
use crate::optin::Optin;
use crate::render::{self, Templates};
use crate::store::Confirmed;
use ratelimit::RateLimiter;

/// Request bodies larger than this get 413.
pub const MAX_BODY: usize = 16 * 1024;

pub struct AppState {
    pub optin: Optin,
    pub templates: Arc<Templates>,
    pub limiter: Arc<RateLimiter>,
    /// Subscriptions being processed in the background.
    pub jobs: Arc<tokio::sync::Semaphore>,
    /// The sentences of `[newsletter] language` (`say`).
    pub messages: crate::render::i18n::Messages,
    /// Signs and checks the subscribe form's tokens.
    pub signup: SignupKey,
}

/// Subscriptions processed at the same time; more requests wait.
pub const MAX_JOBS: usize = 64;

impl AppState {
    pub fn new(
        optin: Optin,
        templates: Arc<Templates>,
        limiter: Arc<RateLimiter>,
        signup: SignupKey,
    ) -> Self {
        let lang = &optin.settings.newsletter.reading.language;
        // `app::bind_web` checked the catalogue; English is built in.
        let messages = (templates.messages(lang))
            .or_else(|_| templates.messages("en"))
            .expect("the built-in English catalogue");
        AppState {
            signup,
            messages,
            optin,
            templates,
            limiter,
            jobs: Arc::new(tokio::sync::Semaphore::new(MAX_JOBS)),
        }
    }
}

impl AppState {
    /// Sentence `key` of the catalogue, `{title}` and `values` filled in.
    pub fn say(&self, key: &str, values: &[(&str, &str)]) -> String {
        let title = &self.optin.settings.newsletter.title;
        let mut all = vec![("title", title.as_str())];
        all.extend_from_slice(values);
        self.messages.fill(key, &all)
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(signup::routes())
        .route("/confirm/{token}", get(confirm_page).post(confirm))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/healthz", get(healthz))
        .merge(preferences::routes())
        .merge(test_sends::routes())
        .merge(archive::routes())
        .merge(clicks::routes())
        .merge(webhooks::routes(&state.optin.settings))
        .fallback(nowhere)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(too_large))
        .layer(axum::middleware::from_fn(headers::add))
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let timeout = state.optin.settings.web.request_timeout;
    let trusted = state.optin.settings.web.trusted_proxies.clone();
    let st = state.clone();
    let refusal: listen::Refusal = Arc::new(move |headers: &HeaderMap| {
        let heading = st.say("too_many_heading", &[]);
        let message = st.say("too_many_connections", &[]);
        reply(
            &st,
            headers,
            StatusCode::SERVICE_UNAVAILABLE,
            &heading,
            &message,
        )
    });
    listen::serve(
        listener,
        router(state),
        timeout,
        (trusted, refusal),
        shutdown,
    )
    .await
}

/// The admin listener and its state, when `[web] admin_listen` is set.
pub type AdminBinding = (tokio::net::TcpListener, Arc<admin::AdminState>);

/// Serve the public router on `listener` and, when bound, the admin router
/// on its own listener, until `shutdown` resolves.
pub async fn serve_all(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    admin: Option<AdminBinding>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let timeout = state.optin.settings.web.request_timeout;
    let trusted = state.optin.settings.web.trusted_proxies.clone();
    let admin = async {
        match admin {
            Some((l, st)) => admin::serve(l, st, timeout, trusted, stopped(rx.clone())).await,
            None => Ok(()),
        }
    };
    let jobs = state.jobs.clone();
    tokio::try_join!(serve(listener, state, stopped(rx.clone())), admin)?;
    // Subscriptions answered but still in the background finish first.
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        jobs.acquire_many(MAX_JOBS as u32),
    )
    .await;
    Ok(())
}

/// Middleware: a 413 (axum's plain text from an extractor) in JSON, like
/// every other error, when the client asked for JSON.
async fn too_large(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let json = wants_json(req.headers());
    let res = next.run(req).await;
    if !json || res.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return res;
    }
    let error = serde_json::json!({ "error": "request body too large" });
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(error)).into_response()
}

pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/json") && !accept.contains("text/html") {
        return true;
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ct.starts_with("application/json") && !accept.contains("text/html")
}

/// A page (or JSON document) with a status code.
fn reply(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    if wants_json(headers) {
        let body = if status.is_success() {
            serde_json::json!({ "status": "ok", "message": message })
        } else {
            serde_json::json!({ "error": message })
        };
        return (status, axum::Json(body)).into_response();
    }
    let mut ctx = Context::new();
    ctx.insert("heading", heading);
    ctx.insert("message", message);
    page(state, status, "message.html", &ctx)
}

fn page(state: &AppState, status: StatusCode, name: &str, ctx: &Context) -> Response {
    match render::render_page(
        &state.templates,
        &state.optin.settings.newsletter,
        name,
        ctx,
    ) {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("rendering web/{name}: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn internal(state: &AppState, headers: &HeaderMap, e: crate::error::Error) -> Response {
    tracing::error!("{e}");
    reply(
        state,
        headers,
        StatusCode::INTERNAL_SERVER_ERROR,
        &state.say("error_heading", &[]),
        &state.say("error", &[]),
    )
}

/// A path that does not exist: the site's own 404 page, in its language.
async fn nowhere(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    archive::not_found(&state, &headers)
}

/// A path that exists, asked with a method it does not take: the site's
/// own page (axum adds `Allow`).
async fn wrong_method(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    reply(
        &state,
        &headers,
        StatusCode::METHOD_NOT_ALLOWED,
        &state.say("wrong_method_heading", &[]),
        &state.say("wrong_method", &[]),
    )
}

fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    proxies::client_ip(
        peer.ip(),
        headers,
        &state.optin.settings.web.trusted_proxies,
    )
}

/// `GET /confirm/{token}` (and HEAD) changes nothing: mail scanners fetch
/// every link of an email, so a GET that confirmed would subscribe people
/// who never asked. A good link shows a page whose one button POSTs to the
/// same URL; an expired or unknown one the same answer as the POST.
async fn confirm_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    match state.optin.check(&token, chrono::Utc::now()).await {
        Ok(Confirmed::Activated(_)) if wants_json(&headers) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "status": "pending",
                "message": state.say("confirm_heading", &[]),
                // What confirms: a script that confirmed by GET learns how.
                "confirm": { "method": "POST" },
            })),
        )
            .into_response(),
        Ok(Confirmed::Activated(_)) => {
            let mut ctx = Context::new();
            ctx.insert("action", &token);
            page(&state, StatusCode::OK, "confirm.html", &ctx)
        }
        Ok(Confirmed::Expired) => expired(&state, &headers),
        Ok(Confirmed::Unknown) => unknown_link(&state, &headers, "unknown_confirm"),
        Err(e) => internal(&state, &headers, e),
    }
}

fn expired(state: &AppState, headers: &HeaderMap) -> Response {
    reply(
        state,
        headers,
        StatusCode::GONE,
        &state.say("expired_heading", &[]),
        &state.say("expired", &[]),
    )
}

/// `POST /confirm/{token}`: the button of the confirmation page.
async fn confirm(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    match state.optin.confirm(&token, chrono::Utc::now(), true).await {
        Ok(Confirmed::Activated(_)) => reply(
            &state,
            &headers,
            StatusCode::OK,
            &state.say("subscribed_heading", &[]),
            &state.say("subscribed", &[]),
        ),
        Ok(Confirmed::Expired) => expired(&state, &headers),
        Ok(Confirmed::Unknown) => unknown_link(&state, &headers, "unknown_confirm"),
        Err(e) => internal(&state, &headers, e),
    }
}

async fn unsubscribe_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    if let Some(r) = test_sends::answer(&state, &headers, &token, "unknown_unsubscribe").await {
        return r;
    }
    match state.optin.store.by_unsubscribe_token(&token).await {
        Ok(Some(sub)) => {
            if wants_json(&headers) {
                return (
                    StatusCode::OK,
                    axum::Json(serde_json::json!({ "status": sub.status.as_str() })),
                )
                    .into_response();
            }
            let mut ctx = Context::new();
            ctx.insert("email", &sub.email);
            ctx.insert("action", &token);
            page(&state, StatusCode::OK, "unsubscribe.html", &ctx)
        }
        Ok(None) => unknown_link(&state, &headers, "unknown_unsubscribe"),
        Err(e) => internal(&state, &headers, e),
    }
}

/// 404 for a link whose token matches nothing; `message` is the catalogue
/// key of what the page says (the same answer for every unknown token).
fn unknown_link(state: &AppState, headers: &HeaderMap, message: &str) -> Response {
    reply(
        state,
        headers,
        StatusCode::NOT_FOUND,
        &state.say("unknown_heading", &[]),
        &state.say(message, &[]),
    )
}

/// Unsubscribes at once. Accepts RFC 8058's `List-Unsubscribe=One-Click`
/// body with no cookie, session or CSRF token: mailbox providers call it.
async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    if let Some(r) = test_sends::answer(&state, &headers, &token, "unknown_unsubscribe").await {
        return r;
    }
    let store = &state.optin.store;
    let sub = match store.by_unsubscribe_token(&token).await {
        Ok(Some(sub)) => sub,
        Ok(None) => return unknown_link(&state, &headers, "unknown_unsubscribe"),
        Err(e) => return internal(&state, &headers, e),
    };
    if let Err(e) = store.unsubscribe(sub.id, chrono::Utc::now()).await {
        return internal(&state, &headers, e);
    }
    reply(
        &state,
        &headers,
        StatusCode::OK,
        &state.say("unsubscribed_heading", &[]),
        &state.say("unsubscribed", &[]),
    )
}

async fn healthz(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match state.optin.store.ping().await {
        Ok(()) if wants_json(&headers) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ok" })),
        )
            .into_response(),
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!("healthz: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "error": "database unavailable" })),
            )
                .into_response()
        }
    }
}
