//! The admin HTTP API, `/api/v1` on the admin listener: JSON in and out,
//! `Authorization: Bearer $GAZETTE_ADMIN_TOKEN` on every request (the API
//! is off until the token is set), errors as
//! `{"error": {"code", "message"}}`.
//!
//! Every route is one row of [`ROUTES`]: the router is built from that
//! table and so is the OpenAPI document at `/api/v1/openapi.json`, so the
//! document lists exactly what the router serves.

mod campaigns;
mod errors;
mod lists;
mod openapi;
mod sends;
mod subscribers;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::{Json, Router};

pub use errors::ApiError;

use crate::config::{AdminToken, Settings};
use crate::optin::Optin;
use crate::store::Store;
use crate::web::auth::Refused;

/// The mount point on the admin listener.
pub const PREFIX: &str = "/api/v1";

/// What the API's handlers share.
pub struct Api {
    pub store: Store,
    pub settings: Arc<Settings>,
    /// The opt-in flow, with the confirmation email for addresses an
    /// operator added (as `subscribers add` sends it).
    pub optin: Optin,
    pub token: Option<AdminToken>,
    /// Runs the campaigns `POST /campaigns` starts, in the background.
    pub runs: Arc<crate::ops::runs::Campaigns>,
}

type Handler = fn() -> MethodRouter<Arc<Api>>;

/// One endpoint: what the router serves and what the OpenAPI document says.
pub struct Route {
    pub method: Method,
    /// Below [`PREFIX`], with `{name}` path parameters (axum's syntax and
    /// OpenAPI's).
    pub path: &'static str,
    pub summary: &'static str,
    /// Query parameters: (name, JSON type, description).
    pub query: &'static [(&'static str, &'static str, &'static str)],
    /// The request body's schema name in `openapi::schemas`, if any.
    pub body: Option<&'static str>,
    /// The success status and its body's schema name.
    pub ok: (u16, &'static str),
    /// Other success answers: (status, schema name) (a dry run's 200).
    pub more: &'static [(u16, &'static str)],
    /// The error statuses it answers with (401 is implied).
    pub errors: &'static [u16],
    handler: Handler,
}

const PAGING: &[(&str, &str, &str)] = &[
    (
        "status",
        "string",
        "Only subscribers in this state: pending, active, unsubscribed, bounced, complained",
    ),
    (
        "q",
        "string",
        "Only addresses or names containing this text (case-insensitive)",
    ),
    ("page", "integer", "Page number, from 1 (default 1)"),
    (
        "per_page",
        "integer",
        "Subscribers per page, 1 to 1000 (default 100)",
    ),
];

const IMPORT: &[(&str, &str, &str)] = &[
    (
        "confirmed",
        "boolean",
        "Rows the other tool held as subscribed (or, in a plain file, rows without a status) become active",
    ),
    (
        "dry_run",
        "boolean",
        "Report what would change, change nothing",
    ),
    (
        "welcome",
        "boolean",
        "Send the welcome email to every address the import makes active",
    ),
];

const EXPORT: &[(&str, &str, &str)] = &[
    (
        "status",
        "string",
        "Only subscribers in this state: pending, active, unsubscribed, bounced, complained",
    ),
    (
        "raw",
        "boolean",
        "Cells exactly as stored: no ' before values a spreadsheet would run as formulas",
    ),
];

const BOUNCES: &[(&str, &str, &str)] = &[
    (
        "since",
        "string",
        "Only rows at or after this date (YYYY-MM-DD or RFC 3339)",
    ),
    ("page", "integer", "Page number, from 1 (default 1)"),
    (
        "per_page",
        "integer",
        "Rows per page, 1 to 1000 (default 100)",
    ),
];

/// Every endpoint of the API.
pub static ROUTES: &[Route] = &[
    Route { method: Method::GET, path: "/subscribers", summary: "List subscribers, filtered and paged", query: PAGING, body: None, ok: (200, "SubscriberPage"), errors: &[400], more: &[], handler: || get(subscribers::list) },
    Route { method: Method::POST, path: "/subscribers", summary: "Add a subscriber: pending with a confirmation email (double opt-in), or active at once with \"confirmed\": true", query: &[], body: Some("NewSubscriber"), ok: (201, "Created"), errors: &[400, 409, 422], more: &[], handler: || post(subscribers::create) },
    Route { method: Method::POST, path: "/subscribers/import", summary: "Import subscribers from the CSV in the body (the formats `subscribers import` recognises); answers its --json report", query: IMPORT, body: Some("Csv"), ok: (200, "ImportReport"), more: &[], errors: &[400, 413, 422], handler: || post(lists::import).layer(DefaultBodyLimit::max(lists::MAX_IMPORT_BODY)) },
    Route { method: Method::GET, path: "/subscribers/export", summary: "Every subscriber as CSV (as `subscribers export`): every column the import reads back", query: EXPORT, body: None, ok: (200, "Csv"), more: &[], errors: &[400], handler: || get(lists::export) },
    Route { method: Method::GET, path: "/subscribers/{id}", summary: "One subscriber with everything kept about them: deliveries, bounces, confirmation", query: &[], body: None, ok: (200, "SubscriberDetail"), errors: &[400, 404], more: &[], handler: || get(subscribers::show) },
    Route { method: Method::PATCH, path: "/subscribers/{id}", summary: "Change the name, attributes (merged; a null value removes the attribute), frequency and topics", query: &[], body: Some("SubscriberPatch"), ok: (200, "Subscriber"), errors: &[400, 404, 422], more: &[], handler: || patch(subscribers::update) },
    Route { method: Method::DELETE, path: "/subscribers/{id}", summary: "Erase the subscriber's personal data (as `subscribers remove`); the address stays blocked from imports", query: &[], body: None, ok: (200, "Erased"), errors: &[400, 404], more: &[], handler: || delete(subscribers::erase) },
    Route { method: Method::GET, path: "/campaigns", summary: "List campaigns with their delivery counts", query: &[], body: None, ok: (200, "CampaignList"), errors: &[], more: &[], handler: || get(campaigns::list) },
    Route { method: Method::POST, path: "/campaigns", summary: "Send a post or a digest (as `gazette send`): 202 and the campaign runs in the background; scheduled with \"at\"; with \"dry_run\": true, 200 and the dry run's report, nothing sent", query: &[], body: Some("NewCampaign"), ok: (202, "CampaignStarted"), more: &[(200, "DryRun")], errors: &[400, 404, 409, 422], handler: || post(sends::create) },
    Route { method: Method::GET, path: "/campaigns/{id}", summary: "One campaign", query: &[], body: None, ok: (200, "Campaign"), errors: &[400, 404], more: &[], handler: || get(campaigns::show) },
    Route { method: Method::POST, path: "/campaigns/{id}/pause", summary: "Pause a campaign: its sender stops after the messages in flight", query: &[], body: None, ok: (200, "Campaign"), errors: &[400, 404, 409], more: &[], handler: || post(campaigns::pause) },
    Route { method: Method::POST, path: "/campaigns/{id}/resume", summary: "Hand a paused campaign back to the worker (status queued)", query: &[], body: None, ok: (200, "Campaign"), errors: &[400, 404, 409], more: &[], handler: || post(campaigns::resume) },
    Route { method: Method::POST, path: "/campaigns/{id}/cancel", summary: "Cancel a campaign (a scheduled one never starts)", query: &[], body: None, ok: (200, "Campaign"), errors: &[400, 404, 409], more: &[], handler: || post(campaigns::cancel) },
    Route { method: Method::POST, path: "/campaigns/{id}/test", summary: "Send the campaign's email to one address (not recorded as a delivery)", query: &[], body: Some("TestSend"), ok: (200, "TestSent"), errors: &[400, 404, 422, 502], more: &[], handler: || post(campaigns::test_send) },
    Route { method: Method::GET, path: "/posts", summary: "Every post with its send state and the campaigns that carried it", query: &[], body: None, ok: (200, "PostList"), errors: &[], more: &[], handler: || get(campaigns::posts) },
    Route { method: Method::GET, path: "/worker", summary: "What the worker will do next (as `gazette status --json`)", query: &[], body: None, ok: (200, "WorkerStatus"), errors: &[], more: &[], handler: || get(campaigns::worker) },
    Route { method: Method::GET, path: "/bounces", summary: "The bounce log (as `gazette bounces list`), oldest first, paged", query: BOUNCES, body: None, ok: (200, "BouncePage"), more: &[], errors: &[400], handler: || get(lists::bounces) },
    Route { method: Method::GET, path: "/openapi.json", summary: "This OpenAPI document", query: &[], body: None, ok: (200, "OpenApi"), errors: &[], more: &[], handler: || get(openapi_json) },
];

/// The API's router, to nest at [`PREFIX`] on the admin listener.
pub fn router<S>(api: Arc<Api>) -> Router<S> {
    let mut r: Router<Arc<Api>> = Router::new();
    for route in ROUTES {
        r = r.route(route.path, (route.handler)());
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(api.clone(), authorize))
        .with_state(api)
}

async fn openapi_json() -> Json<serde_json::Value> {
    Json(openapi::document())
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no endpoint {method} {uri}"))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{uri} does not answer {method}"),
    )
}

/// Every request needs the token; without one configured the API is off.
async fn authorize(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    let refused = match crate::web::auth::authorize(api.token.as_ref(), req.headers()) {
        Ok(()) => return next.run(req).await,
        Err(Refused::Off) => "the admin API is off: set GAZETTE_ADMIN_TOKEN on the server",
        Err(Refused::Missing) => "missing Authorization: Bearer token",
        Err(Refused::Wrong) => "wrong token",
    };
    let error = ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "unauthorized",
        refused,
    );
    crate::web::auth::unauthorized(error.into_response())
}
