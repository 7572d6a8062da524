//! The public web endpoints: subscribe, confirm (a page whose button
//! POSTs: a GET changes nothing), unsubscribe (RFC 8058
//! one-click included) and healthz. HTML or JSON by `Accept`. Nothing
//! else: operator endpoints (`/metrics`) live on the admin listener
//! (`admin.rs`). Every response carries the security headers
//! (`headers.rs`).

pub mod admin;
pub mod api;
pub mod archive;
pub mod clicks;
pub mod conns;
pub mod dashboard;
pub mod headers;
pub mod listen;
pub mod preferences;
pub mod proxies;
pub mod ratelimit;
pub mod webhooks;
pub mod xml;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tera::Context;

use crate::audience::{Source, SubscriberEmail};
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
}

/// Subscriptions processed at the same time; more requests wait.
pub const MAX_JOBS: usize = 64;

impl AppState {
    pub fn new(optin: Optin, templates: Arc<Templates>, limiter: Arc<RateLimiter>) -> Self {
        let lang = &optin.settings.newsletter.reading.language;
        // `app::bind_web` checked the catalogue; English is built in.
        let messages = (templates.messages(lang))
            .or_else(|_| templates.messages("en"))
            .expect("the built-in English catalogue");
        AppState {
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
        .route("/", get(index))
        .route("/subscribe", post(subscribe))
        .route("/confirm/{token}", get(confirm_page).post(confirm))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/healthz", get(healthz))
        .merge(preferences::routes())
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

fn internal(state: &AppState, headers: &HeaderMap, e: crate::Error) -> Response {
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
        &state.say("bad_request", &[]),
        &state.say("not_found", &[]),
    )
}

async fn index(State(state): State<Arc<AppState>>) -> Response {
    page(&state, StatusCode::OK, "index.html", &Context::new())
}

#[derive(Deserialize)]
struct SubscribeBody {
    email: Option<String>,
    name: Option<String>,
}

fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    proxies::client_ip(
        peer.ip(),
        headers,
        &state.optin.settings.web.trusted_proxies,
    )
}

/// The form or JSON body of `POST /subscribe`.
fn parse_subscribe_body(headers: &HeaderMap, body: &[u8]) -> Result<SubscribeBody, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"));
    }
    let mut b = SubscribeBody {
        email: None,
        name: None,
    };
    for (k, v) in url::form_urlencoded::parse(body) {
        match &*k {
            "email" => b.email = Some(v.into_owned()),
            "name" => b.name = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(b)
}

async fn subscribe(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = client_ip(&state, &headers, peer);
    if let Err(retry_after) = state.limiter.check(ip) {
        let mut r = reply(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &state.say("too_many_heading", &[]),
            &state.say("too_many", &[]),
        );
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&retry_after.to_string()).expect("digits"),
        );
        return r;
    }
    let parsed = parse_subscribe_body(&headers, &body);
    let body = match parsed {
        Ok(b) => b,
        Err(m) => {
            return reply(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                &state.say("bad_request", &[]),
                &m,
            )
        }
    };
    let email = match SubscriberEmail::parse(body.email.as_deref().unwrap_or("")) {
        Ok(e) => e,
        Err(m) => return bad_address(&state, &headers, body.email.as_deref(), m),
    };
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let name = name.map(|n| n.chars().take(200).collect::<String>());
    // Answer before the work, the same answer whatever the address's state
    // (new, pending, active, opted out): neither the page nor its timing
    // tells who subscribes. The work (and the confirmation email) runs in
    // the background, at most `MAX_JOBS` at a time.
    let Ok(permit) = state.jobs.clone().acquire_owned().await else {
        return internal(&state, &headers, crate::Error::msg("shutting down"));
    };
    let st = state.clone();
    let address = email.clone();
    tokio::spawn(async move {
        let _permit = permit;
        // Let the answer leave before the work competes with it for a core.
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        let now = chrono::Utc::now();
        let optin = &st.optin;
        let result = optin
            .subscribe(&address, name.as_deref(), false, Source::Web, now, false)
            .await;
        if let Err(e) = result {
            tracing::error!("subscribe: {e}");
        }
    });
    reply(
        &state,
        &headers,
        StatusCode::OK,
        &state.say("check_inbox_heading", &[]),
        &state.say("check_inbox", &[("email", email.as_str())]),
    )
}

/// An address that is not one: JSON clients get the detail; readers a
/// sentence in their language.
fn bad_address(state: &AppState, headers: &HeaderMap, given: Option<&str>, m: String) -> Response {
    let message = if wants_json(headers) {
        m
    } else {
        state.say("invalid_address", &[("address", given.unwrap_or(""))])
    };
    let heading = state.say("check_address", &[]);
    reply(
        state,
        headers,
        StatusCode::UNPROCESSABLE_ENTITY,
        &heading,
        &message,
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
