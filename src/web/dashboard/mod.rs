//! The dashboard on the admin listener: `/admin/` (overview),
//! `/admin/campaigns`, `/admin/readers`, `/admin/health`, behind a sign-in
//! with the admin token (`/admin/login`, form field `token`;
//! `/admin/logout`). Server-rendered HTML with inline SVG charts
//! (`svg`), no script; every POST form carries the session's CSRF token.
//! Its sentences are in the catalogue of `[newsletter] language`.
//!
//! - `session`: sessions, cookies and CSRF tokens;
//! - `overview`, `campaigns`, `readers`, `health`: the pages;
//! - `svg`: the charts.

mod campaigns;
mod health;
mod overview;
mod readers;
pub mod session;
pub mod svg;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use tera::{Context, Tera};

use crate::config::{AdminToken, Settings};
use crate::error::{Error, Result};
use crate::render::i18n::Messages;
use crate::render::Templates;
use crate::store::Store;
use session::{Session, Sessions};

/// What the dashboard's handlers share.
pub struct Dashboard {
    pub store: Store,
    pub settings: Arc<Settings>,
    /// `GAZETTE_ADMIN_TOKEN`: without one the dashboard stays closed.
    pub token: Option<AdminToken>,
    pub sessions: Sessions,
    tera: Tera,
    messages: Messages,
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../templates/dashboard/base.html"),
    ),
    (
        "login.html",
        include_str!("../../../templates/dashboard/login.html"),
    ),
    (
        "message.html",
        include_str!("../../../templates/dashboard/message.html"),
    ),
    (
        "overview.html",
        include_str!("../../../templates/dashboard/overview.html"),
    ),
    (
        "campaigns.html",
        include_str!("../../../templates/dashboard/campaigns.html"),
    ),
    (
        "campaign.html",
        include_str!("../../../templates/dashboard/campaign.html"),
    ),
    (
        "readers.html",
        include_str!("../../../templates/dashboard/readers.html"),
    ),
    (
        "reader.html",
        include_str!("../../../templates/dashboard/reader.html"),
    ),
    (
        "confirm.html",
        include_str!("../../../templates/dashboard/confirm.html"),
    ),
    (
        "health.html",
        include_str!("../../../templates/dashboard/health.html"),
    ),
];

impl Dashboard {
    /// The dashboard for `settings`, its sentences in `[newsletter]
    /// language` (the catalogue of `templates/i18n/`).
    pub fn new(settings: &Settings, store: Store) -> Result<Dashboard> {
        let templates = Templates::load(Some(&settings.templates_dir))?;
        let messages = templates.messages(&settings.newsletter.reading.language)?;
        let mut tera = Tera::default();
        tera.register_filter("day", cut(10));
        tera.register_filter("minute", cut(16));
        tera.register_filter("urlenc", urlenc);
        tera.add_raw_templates(TEMPLATES.to_vec())
            .map_err(|e| Error::msg(format!("dashboard templates: {e}")))?;
        Ok(Dashboard {
            store,
            settings: Arc::new(settings.clone()),
            token: settings.web.admin_token.clone(),
            sessions: Sessions::default(),
            tera,
            messages,
        })
    }

    /// The session cookie gets `Secure` when readers reach Gazette over https.
    fn secure(&self) -> bool {
        self.settings.newsletter.public_url.starts_with("https://")
    }

    /// Sentence `key` with `{name}` values filled in.
    pub(crate) fn say(&self, key: &str, values: &[(&str, &str)]) -> String {
        self.messages.fill(key, values)
    }

    /// The context every page has: the catalogue (`t`), `lang`, the page
    /// (`nav`) and the session's CSRF token.
    fn context(&self, nav: &str, session: Option<&Session>) -> Context {
        let mut ctx = Context::new();
        ctx.insert("t", &self.messages.context(&self.settings.newsletter.title));
        ctx.insert("lang", &self.messages.lang());
        ctx.insert("title", &self.settings.newsletter.title);
        ctx.insert("nav", nav);
        ctx.insert("csrf", &session.map(|s| s.csrf.as_str()).unwrap_or(""));
        ctx.insert("signed_in", &session.is_some());
        ctx
    }

    fn render(&self, status: StatusCode, name: &str, ctx: &Context) -> Response {
        match self.tera.render(name, ctx) {
            Ok(html) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(e) => {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg = format!("{msg}: {s}");
                    src = s.source();
                }
                tracing::error!("dashboard {name}: {msg}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
            }
        }
    }

    /// A page with a heading, a sentence and a link onwards.
    fn message(
        &self,
        status: StatusCode,
        session: Option<&Session>,
        heading: &str,
        text: &str,
        back: &str,
    ) -> Response {
        let mut ctx = self.context("", session);
        ctx.insert("heading", heading);
        ctx.insert("message", text);
        ctx.insert("back", back);
        self.render(status, "message.html", &ctx)
    }

    /// A database error: logged, and a page that says so.
    fn failed(&self, session: Option<&Session>, e: Error) -> Response {
        tracing::error!("dashboard: {e}");
        self.message(
            StatusCode::SERVICE_UNAVAILABLE,
            session,
            &self.say("dash_error_heading", &[]),
            &self.say("dash_error", &[]),
            "/admin/",
        )
    }
}

/// A Tera filter: the first `n` characters of a time (`YYYY-MM-DD`, or
/// `YYYY-MM-DD HH:MM`).
fn cut(n: usize) -> impl tera::Filter {
    move |v: &tera::Value, _: &HashMap<String, tera::Value>| {
        let s = v.as_str().unwrap_or_default();
        let s: String = s.chars().take(n).collect();
        Ok(tera::Value::String(s.replace('T', " ")))
    }
}

/// A Tera filter: a query string value.
fn urlenc(v: &tera::Value, _: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let s = v.as_str().unwrap_or_default();
    Ok(tera::Value::String(
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect(),
    ))
}

/// The dashboard's routes, for the admin router. At start, the numbers of
/// finished campaigns not yet kept are computed in the background.
pub fn router<S: Clone + Send + Sync + 'static>(dash: Arc<Dashboard>) -> Router<S> {
    let store = dash.store.clone();
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            if let Err(e) = store.keep_finished_counts().await {
                tracing::warn!("dashboard: counting finished campaigns: {e}");
            }
        });
    }
    let signed_in = Router::new()
        .route("/admin/", get(overview::page))
        .route("/admin/campaigns", get(campaigns::list))
        .route("/admin/campaigns/{id}", get(campaigns::one))
        .route("/admin/readers", get(readers::list))
        .route("/admin/readers/{id}", get(readers::one))
        .route(
            "/admin/readers/{id}/{action}",
            get(readers::confirm).post(readers::act),
        )
        .route("/admin/health", get(health::page))
        .route("/admin/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(
            dash.clone(),
            require_session,
        ));
    Router::new()
        .route("/admin", get(|| async { see_other("/admin/") }))
        .route("/admin/login", get(login_page).post(login))
        .merge(signed_in)
        .with_state(dash)
}

/// 303 to `to`.
pub(crate) fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_str(to).expect("a path"));
    r
}

/// Middleware: the signed-in pages need a live session (a GET without one
/// is sent to the sign-in; anything else is refused), and a POST the
/// session's CSRF token (checked by the handler, which has the form).
async fn require_session(
    State(dash): State<Arc<Dashboard>>,
    mut req: Request,
    next: Next,
) -> Response {
    if dash.token.is_none() {
        return closed(&dash);
    }
    match dash.sessions.get(req.headers()) {
        Some(s) => {
            req.extensions_mut().insert(s);
            next.run(req).await
        }
        None if req.method() == Method::GET || req.method() == Method::HEAD => {
            see_other("/admin/login")
        }
        None => dash.message(
            StatusCode::FORBIDDEN,
            None,
            &dash.say("dash_signed_out_heading", &[]),
            &dash.say("dash_signed_out", &[]),
            "/admin/login",
        ),
    }
}

/// Without `GAZETTE_ADMIN_TOKEN` nobody can sign in.
fn closed(dash: &Dashboard) -> Response {
    dash.message(
        StatusCode::FORBIDDEN,
        None,
        &dash.say("dash_closed_heading", &[]),
        &dash.say("dash_closed", &[]),
        "",
    )
}

/// Whether a POSTed form carries the session's CSRF token; a refusal
/// page when not.
fn check_csrf(
    dash: &Dashboard,
    session: &Session,
    form: &HashMap<String, String>,
) -> Option<Response> {
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    if session::same_token(&session.csrf, given) {
        return None;
    }
    Some(dash.message(
        StatusCode::FORBIDDEN,
        Some(session),
        &dash.say("dash_csrf_heading", &[]),
        &dash.say("dash_csrf", &[]),
        "/admin/",
    ))
}

async fn login_page(State(dash): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if dash.token.is_none() {
        return closed(&dash);
    }
    if dash.sessions.get(&headers).is_some() {
        return see_other("/admin/");
    }
    login_form(&dash, StatusCode::OK, None)
}

/// The sign-in form with a fresh CSRF token, also set as its own cookie.
fn login_form(dash: &Dashboard, status: StatusCode, error: Option<String>) -> Response {
    let csrf = crate::util::ids::random_hex(32);
    let mut ctx = dash.context("login", None);
    ctx.insert("login_csrf", &csrf);
    ctx.insert("error", &error);
    let mut r = dash.render(status, "login.html", &ctx);
    let cookie = session::set_cookie(
        session::LOGIN_COOKIE,
        Some(&csrf),
        dash.secure(),
        std::time::Duration::from_secs(3600),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie"),
    );
    r
}

async fn login(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(token) = &dash.token else {
        return closed(&dash);
    };
    let expected = session::cookie(&headers, session::LOGIN_COOKIE).unwrap_or_default();
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    if !session::same_token(&expected, given) {
        let why = dash.say("dash_csrf", &[]);
        return login_form(&dash, StatusCode::FORBIDDEN, Some(why));
    }
    let offered = form.get("token").map(String::as_str).unwrap_or("");
    if !token.matches(offered.trim()) {
        tracing::warn!("dashboard: a sign-in with a wrong token");
        let why = dash.say("dash_wrong_token", &[]);
        return login_form(&dash, StatusCode::UNAUTHORIZED, Some(why));
    }
    let (id, _) = dash.sessions.create();
    let mut r = see_other("/admin/");
    for cookie in [
        session::set_cookie(
            session::COOKIE,
            Some(&id),
            dash.secure(),
            session::SESSION_TTL,
        ),
        session::set_cookie(
            session::LOGIN_COOKIE,
            None,
            dash.secure(),
            session::SESSION_TTL,
        ),
    ] {
        r.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("cookie"),
        );
    }
    r
}

async fn logout(
    State(dash): State<Arc<Dashboard>>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = check_csrf(&dash, &session, &form) {
        return refused;
    }
    dash.sessions.remove(&headers);
    let mut r = see_other("/admin/login");
    let cookie = session::set_cookie(session::COOKIE, None, dash.secure(), session::SESSION_TTL);
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie"),
    );
    r
}

/// `?page=N` (from 1), and the offset of `per` items per page.
pub(crate) fn paging(query: &HashMap<String, String>, per: i64) -> (i64, i64) {
    let page = query
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=1_000_000).contains(p))
        .unwrap_or(1);
    (page, (page - 1) * per)
}
