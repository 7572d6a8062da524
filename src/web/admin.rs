//! The operators' listener (`[web] admin_listen`, default 127.0.0.1:8081):
//! `/metrics`, the API (`/api/v1`), the dashboard (`/admin/`, its own
//! sign-in), and every operator endpoint to come (add its route to
//! [`router`]). Off the public listener, so nothing here can be used to
//! count or probe subscribers from the outside.
//!
//! With `GAZETTE_ADMIN_TOKEN` set, every request needs
//! `Authorization: Bearer TOKEN` (the scheme in any case, the token compared
//! in constant time). A blank token is refused; beyond loopback a token of
//! at least [`MIN_TOKEN_LEN`] characters is required: Gazette refuses to
//! start otherwise.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::auth::Refused;
use crate::store::Store;

pub use crate::config::AdminToken;

pub struct AdminState {
    pub store: Store,
    pub token: Option<AdminToken>,
    /// The admin API at `/api/v1` (`None`: not served).
    pub api: Option<Arc<super::api::Api>>,
    /// The dashboard at `/admin/` (`None`: not served).
    pub dashboard: Option<Arc<super::dashboard::Dashboard>>,
}

/// The shortest token accepted on a listener reachable beyond loopback.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why an admin listener may not start: a blank token, or reachable beyond
/// loopback with no token or a short one.
pub fn check_exposure(local: SocketAddr, token: Option<&AdminToken>) -> Result<(), String> {
    let strength = token.map(AdminToken::strength);
    if strength == Some(0) {
        return Err(
            "GAZETTE_ADMIN_TOKEN is blank: unset it or set a random token \
             (e.g. `openssl rand -hex 32`)"
                .to_string(),
        );
    }
    if local.ip().is_loopback() {
        return Ok(());
    }
    match strength {
        None => Err(format!(
            "[web] admin_listen {local} is reachable beyond this host: set GAZETTE_ADMIN_TOKEN \
             (or listen on 127.0.0.1)"
        )),
        Some(n) if n < MIN_TOKEN_LEN => Err(format!(
            "GAZETTE_ADMIN_TOKEN has {n} characters: [web] admin_listen {local} is reachable \
             beyond this host, so it needs at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)"
        )),
        Some(_) => Ok(()),
    }
}

pub fn router(state: Arc<AdminState>) -> Router {
    let r = Router::new()
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), authorize));
    // The API checks the token itself and answers in JSON.
    let r = match &state.api {
        Some(api) => r.nest(super::api::PREFIX, super::api::router(api.clone())),
        None => r,
    };
    // The dashboard signs its users in itself (a session cookie).
    let r = match &state.dashboard {
        Some(d) => r.merge(super::dashboard::router(d.clone())),
        None => r,
    };
    r.layer(middleware::from_fn(super::headers::add))
        .with_state(state)
}

/// Serve the admin router on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AdminState>,
    timeout: std::time::Duration,
    trusted: Vec<crate::util::net::Cidr>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let refusal: super::listen::Refusal = Arc::new(|_: &axum::http::HeaderMap| {
        let error = serde_json::json!({ "error": {
            "code": "too_many_connections",
            "message": "too many connections from this address; try again in a moment",
        }});
        axum::Json(error).into_response()
    });
    super::listen::serve(
        listener,
        router(state),
        timeout,
        (trusted, refusal),
        shutdown,
    )
    .await
}

async fn authorize(State(state): State<Arc<AdminState>>, req: Request, next: Next) -> Response {
    match super::auth::authorize(state.token.as_ref(), req.headers()) {
        // No token configured: `/metrics` is open (on loopback only, see
        // `check_exposure`).
        Ok(()) | Err(Refused::Off) => next.run(req).await,
        Err(_) => super::auth::unauthorized("unauthorized\n".into_response()),
    }
}

/// Prometheus text format, read from the database at each scrape (so the
/// figures survive restarts and cover every process using the database).
async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    match metrics_text(&state.store).await {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("metrics: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

pub async fn metrics_text(store: &Store) -> crate::error::Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let deliveries = store.delivery_counts().await?;
    for (name, status, help) in [
        (
            "gazette_messages_sent_total",
            "sent",
            "Messages accepted by the SMTP server (or written to the outbox).",
        ),
        (
            "gazette_messages_failed_total",
            "failed",
            "Messages that failed for good.",
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for kind in ["post", "digest"] {
            let n: i64 = deliveries
                .iter()
                .filter(|(k, s, _)| k == kind && s == status)
                .map(|(_, _, n)| n)
                .sum();
            let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {n}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP gazette_queue_depth Deliveries waiting in campaigns that are sending.\n# TYPE gazette_queue_depth gauge\ngazette_queue_depth {}",
        store.queue_depth().await?
    );
    let _ = writeln!(
        out,
        "# HELP gazette_subscribers Subscribers by status.\n# TYPE gazette_subscribers gauge"
    );
    for (status, n) in store.counts().await? {
        let _ = writeln!(
            out,
            "gazette_subscribers{{status=\"{}\"}} {n}",
            status.as_str()
        );
    }
    let last = store
        .last_digest_sent()
        .await?
        .map(|t| t.timestamp())
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "# HELP gazette_last_digest_timestamp_seconds When the last digest campaign finished (0: never).\n# TYPE gazette_last_digest_timestamp_seconds gauge\ngazette_last_digest_timestamp_seconds {last}"
    );
    let clicks = store.clicks_by_kind().await?;
    let _ = writeln!(
        out,
        "# HELP gazette_link_clicks_total Clicks on counted links (per campaign and link, never per reader).\n# TYPE gazette_link_clicks_total counter"
    );
    for kind in ["post", "digest"] {
        let n: i64 = clicks
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| n)
            .sum();
        let _ = writeln!(out, "gazette_link_clicks_total{{kind=\"{kind}\"}} {n}");
    }
    out.push_str(&crate::ops::bounces::metrics(store).await?);
    out.push_str(&crate::ops::campaigns::breaker_metrics(store).await?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> AdminToken {
        AdminToken::new(s.to_string())
    }

    #[test]
    fn exposure_needs_a_long_token_beyond_loopback() {
        let lo: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        let all: SocketAddr = "0.0.0.0:8081".parse().unwrap();
        assert!(check_exposure(lo, None).is_ok());
        assert!(check_exposure(lo, Some(&token("short"))).is_ok());
        assert!(check_exposure(lo, Some(&token("  "))).is_err());
        assert!(check_exposure(all, None).is_err());
        assert!(check_exposure(all, Some(&token("fifteen-chars-x"))).is_err());
        assert!(check_exposure(all, Some(&token("sixteen-chars-xy"))).is_ok());
    }
}
