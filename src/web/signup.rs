//! The subscribe form and what keeps bots out of it without a CAPTCHA
//! service (docs/web.md, "Bots"): `GET /` (the form), `POST /subscribe`,
//! `GET /subscribe/token` (a token for a form elsewhere, or a JSON
//! client) and `GET /subscribe/pow.js` (the proof of work's script).
//!
//! A post proceeds only with a token this server signed, at least
//! `[web] min_fill_time` old, used once, with the honeypot empty (and,
//! with `subscribe_pow`, the work done). Without a valid token it gets a
//! page asking for one more click (whose form carries a fresh token); a
//! filled honeypot, a token too young or used before, or a wrong proof of
//! work get the same answer as a success, and nothing is stored or sent.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tera::Context;

use super::{client_ip, internal, page, reply, wants_json, AppState};
use crate::audience::signup::{self, Kind, Verdict, HONEYPOT_FIELD, POW_FIELD, TOKEN_FIELD};
use crate::audience::{Source, SubscriberEmail};

/// The proof of work's script, served as `/subscribe/pow.js`.
pub const POW_JS: &str = include_str!("pow.js");

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route("/subscribe", post(subscribe))
        .route("/subscribe/token", get(token))
        .route("/subscribe/pow.js", get(pow_js))
}

/// The context of a form: a fresh token, and whether it needs the work.
fn form_context(state: &AppState, kind: Kind) -> Context {
    let mut ctx = Context::new();
    ctx.insert("token", &state.signup.issue(kind, chrono::Utc::now()));
    ctx.insert("pow", &state.optin.settings.web.subscribe_pow);
    ctx
}

/// A page with a form: its CSP also lets the page load `pow.js` (with
/// `subscribe_pow`) and lets the form's answer redirect to `return_url`.
fn form_page(state: &AppState, status: StatusCode, name: &str, ctx: &Context) -> Response {
    let mut res = page(state, status, name, ctx);
    let web = &state.optin.settings.web;
    let csp = super::headers::form_csp(
        web.subscribe_pow,
        web.return_url.as_deref().map(crate::config::origin_of),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

async fn index(State(state): State<Arc<AppState>>) -> Response {
    let ctx = form_context(&state, Kind::Form);
    form_page(&state, StatusCode::OK, "index.html", &ctx)
}

#[derive(Deserialize, Default)]
struct SubscribeBody {
    email: Option<String>,
    name: Option<String>,
    token: Option<String>,
    website: Option<String>,
    pow: Option<String>,
}

/// The form or JSON body of `POST /subscribe`.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<SubscribeBody, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"));
    }
    let mut b = SubscribeBody::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        let v = Some(v.into_owned());
        match &*k {
            "email" => b.email = v,
            "name" => b.name = v,
            TOKEN_FIELD => b.token = v,
            HONEYPOT_FIELD => b.website = v,
            POW_FIELD => b.pow = v,
            _ => {}
        }
    }
    Ok(b)
}

fn too_many(state: &AppState, headers: &HeaderMap, retry_after: u64) -> Response {
    let mut r = reply(
        state,
        headers,
        StatusCode::TOO_MANY_REQUESTS,
        &state.say("too_many_heading", &[]),
        &state.say("too_many", &[]),
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&retry_after.to_string()).expect("digits"),
    );
    r
}

/// What the checks made of a post.
enum Gate {
    /// A person: subscribe.
    Person,
    /// A bot: answer as a success, do nothing.
    Bot,
    /// No valid token (or no work where it is needed): one more click.
    Again,
}

/// The checks that need no database: the token, the honeypot, the work.
/// A person's token comes back with its nonce, which is used afterwards.
fn gate(state: &AppState, b: &SubscribeBody) -> (Gate, Option<String>) {
    let web = &state.optin.settings.web;
    let token = b.token.as_deref().unwrap_or("").trim();
    let verdict = state
        .signup
        .check(token, chrono::Utc::now(), web.min_fill_time);
    let pow = b.pow.as_deref().unwrap_or("").trim();
    if verdict == Verdict::Invalid || (web.subscribe_pow && pow.is_empty()) {
        return (Gate::Again, None);
    }
    let honeypot = b.website.as_deref().is_some_and(|w| !w.is_empty());
    let worked = !web.subscribe_pow || signup::pow_ok(token, pow);
    match verdict {
        Verdict::Valid { nonce } if !honeypot && worked => (Gate::Person, Some(nonce)),
        _ => (Gate::Bot, None),
    }
}

async fn subscribe(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = client_ip(&state, &headers, peer);
    if let Err(retry_after) = state.limiter.check(ip) {
        return too_many(&state, &headers, retry_after);
    }
    let body = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(m) => {
            let heading = state.say("bad_request", &[]);
            return reply(&state, &headers, StatusCode::BAD_REQUEST, &heading, &m);
        }
    };
    let (verdict, nonce) = gate(&state, &body);
    if let Gate::Again = verdict {
        return again(&state, &headers, &body);
    }
    let email = match SubscriberEmail::parse(body.email.as_deref().unwrap_or("")) {
        Ok(e) => e,
        Err(m) => return bad_address(&state, &headers, body.email.as_deref(), m),
    };
    let Some(nonce) = nonce else {
        return success(&state, &headers, &email);
    };
    // Used once: the same token again (a replay, or a second press of the
    // button) gets the same answer, and nothing more happens.
    let keep = signup::TOKEN_TTL + std::time::Duration::from_secs(60);
    let store = &state.optin.store;
    match store
        .use_signup_token(&nonce, chrono::Utc::now(), keep)
        .await
    {
        Ok(true) => {}
        Ok(false) => return success(&state, &headers, &email),
        Err(e) => return internal(&state, &headers, e),
    }
    let name = (body.name.as_deref().map(str::trim))
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(200).collect::<String>());
    // Answer before the work, the same answer whatever the address's state
    // (new, pending, active, opted out): neither the page nor its timing
    // tells who subscribes. The work (and the confirmation email) runs in
    // the background, at most `MAX_JOBS` at a time.
    let Ok(permit) = state.jobs.clone().acquire_owned().await else {
        return internal(&state, &headers, crate::error::Error::msg("shutting down"));
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
    success(&state, &headers, &email)
}

/// The answer to a subscription, a person's or a bot's alike: "check your
/// inbox", or with `[web] return_url` a redirect there (forms only).
fn success(state: &AppState, headers: &HeaderMap, email: &SubscriberEmail) -> Response {
    if let (Some(url), false) = (&state.optin.settings.web.return_url, wants_json(headers)) {
        if let Ok(v) = HeaderValue::from_str(url) {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response();
        }
    }
    reply(
        state,
        headers,
        StatusCode::OK,
        &state.say("check_inbox_heading", &[]),
        &state.say("check_inbox", &[("email", email.as_str())]),
    )
}

/// A post without a valid token: nothing stored or sent. A form gets a
/// page asking for one more click, its fields filled in and a fresh token
/// in it (so the form works without JavaScript); JSON a 400 saying where
/// tokens come from.
fn again(state: &AppState, headers: &HeaderMap, b: &SubscribeBody) -> Response {
    if wants_json(headers) {
        let public = &state.optin.settings.newsletter.public_url;
        let body = serde_json::json!({
            "error": "a sign-up token is needed: GET /subscribe/token, then POST it as \"token\" (docs/web.md)",
            "token_url": format!("{public}/subscribe/token"),
        });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let mut ctx = form_context(state, Kind::Click);
    let email: String = b.email.as_deref().unwrap_or("").chars().take(254).collect();
    let name: String = b.name.as_deref().unwrap_or("").chars().take(200).collect();
    ctx.insert("email", email.trim());
    ctx.insert("name", name.trim());
    form_page(state, StatusCode::OK, "again.html", &ctx)
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

/// `GET /subscribe/token`: a fresh token for a form on the blog (the
/// embed's script asks with CORS from `base_url`'s origin) or a JSON
/// client. It names nobody; it is good once, from `min_fill_time` after
/// now until a day after.
async fn token(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let now = chrono::Utc::now();
    let web = &state.optin.settings.web;
    let token = state.signup.issue(Kind::Form, now);
    let expires = now + chrono::Duration::from_std(signup::TOKEN_TTL).unwrap_or_default();
    let body = serde_json::json!({
        "token": token,
        "min_fill_time_ms": web.min_fill_time.as_millis() as u64,
        "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "pow_bits": if web.subscribe_pow { signup::POW_BITS } else { 0 },
    });
    let mut res = (StatusCode::OK, axum::Json(body)).into_response();
    let blog = crate::config::origin_of(&state.optin.settings.newsletter.base_url);
    let h = res.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    let from_blog = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| o == blog);
    if from_blog {
        if let Ok(v) = HeaderValue::from_str(&blog) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
    }
    res
}

/// `GET /subscribe/pow.js`: the proof of work's script (the same for
/// everyone, cacheable).
async fn pow_js() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        POW_JS.replace("__BITS__", &signup::POW_BITS.to_string()),
    )
        .into_response()
}
