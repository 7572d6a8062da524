//! The listeners' accept loop, public and admin alike: at most
//! [`MAX_CONNECTIONS`] connections at once and `conns::PER_CLIENT` per
//! client address, the slowest shed to make room (`conns.rs`);
//! `[web] request_timeout` to send a request's headers (idle keep-alive
//! connections close after it too) and as long again for its body (then
//! 408 and the connection closes). `axum::serve` has none of these: slow
//! clients (slowloris) could hold every socket.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use super::conns::{Phase, Refused, Registry, Slot, Tracked};
use crate::util::net::Cidr;

pub use super::conns::MAX_CONNECTIONS;

/// Refused connections answered (503) at the same time; more are closed
/// at once, so that a client cannot hold sockets by being refused.
const REFUSING: usize = 64;

/// Serve `app` on `listener` until `shutdown` resolves, then let the
/// requests in progress finish. Handlers see the peer as
/// `ConnectInfo<SocketAddr>`. Connections from `trusted` proxies are
/// counted only against the listener's cap, not per client; a client that
/// holds all it may gets `refusal`'s answer.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    timeout: Duration,
    (trusted, refusal): (Vec<Cidr>, Refusal),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = Registry::new(trusted);
    let refusing = Arc::new(tokio::sync::Semaphore::new(REFUSING));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            s = admit(&registry, peer) => s,
        };
        let Some(slot) = slot else {
            // At most `REFUSING` answers at once; past them, just close.
            if let Ok(permit) = refusing.clone().try_acquire_owned() {
                let refusal = refusal.clone();
                tokio::spawn(async move {
                    refuse(stream, peer, refusal).await;
                    drop(permit);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(connection(stream, peer, app, timeout, stop, slot));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection gives its slot back when it has closed.
    while !registry.is_empty() {
        tokio::select! {
            _ = registry.freed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    Ok(())
}

/// A place for a connection from `peer`: at once, or once the listener
/// has one free; `None` when its client holds all it may.
async fn admit(registry: &Arc<Registry>, peer: SocketAddr) -> Option<Slot> {
    loop {
        match registry.admit(peer.ip()) {
            Ok(slot) => return Some(slot),
            Err(Refused::Client) => return None,
            Err(Refused::Full) => {
                // Every connection is busy with a request: wait for one to
                // end, or to turn idle (then it can be shed).
                tokio::select! {
                    _ = registry.freed.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}

/// What a client that holds all the connections it may gets, from its
/// request's headers: the site's own page (or JSON); sent with 503,
/// `Retry-After` and the security headers.
pub type Refusal = Arc<dyn Fn(&HeaderMap) -> Response + Send + Sync>;

/// Answer the one request of a connection whose client holds
/// `conns::PER_CLIENT` busy connections with 503, then close it; a second
/// at most to send the request's headers.
async fn refuse(stream: tokio::net::TcpStream, peer: SocketAddr, refusal: Refusal) {
    tracing::debug!("connection from {peer}: its client holds too many");
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut res = refusal(req.headers());
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let h = res.headers_mut();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        for (name, value) in super::headers::all() {
            h.insert(name, value);
        }
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(1))
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
    slot: Slot,
) {
    let phase = slot.phase.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        let phase = phase.clone();
        async move { Ok::<_, std::convert::Infallible>(call(app, req, peer, timeout, phase).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("connection from {peer}: {e}");
            }
            return;
        }
        _ = slot.shed.notified() => {
            tracing::debug!("connection from {peer}: shed (the slowest while full)");
            return;
        }
        _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

/// One request: its body must arrive within `timeout` of its headers.
async fn call(
    mut app: Router,
    req: Request<Incoming>,
    peer: SocketAddr,
    timeout: Duration,
    phase: Arc<Phase>,
) -> Response {
    phase.busy();
    let res = answer(&mut app, req, peer, timeout).await;
    // Once the answer is out, the connection waits for the next request.
    res.map(|body| Tracked::wrap(body, phase))
}

async fn answer(
    app: &mut Router,
    req: Request<Incoming>,
    peer: SocketAddr,
    timeout: Duration,
) -> Response {
    use tower_service::Service;
    let late = Arc::new(AtomicBool::new(false));
    let deadline = tokio::time::Instant::now() + timeout;
    let (mut parts, body) = req.into_parts();
    let json = super::wants_json(&parts.headers);
    parts.extensions.insert(ConnectInfo(peer));
    let flag = late.clone();
    let chunks = futures_util::stream::unfold(Some(Body::new(body).into_data_stream()), move |s| {
        let flag = flag.clone();
        async move {
            let mut s = s?;
            match tokio::time::timeout_at(deadline, s.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(s))),
                Ok(None) => None,
                Err(_) => {
                    flag.store(true, Ordering::Relaxed);
                    Some((Err(axum::Error::new("request body timed out")), None))
                }
            }
        }
    });
    let req = Request::from_parts(parts, Body::from_stream(chunks));
    let res = match app.call(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    if !late.load(Ordering::Relaxed) {
        return res;
    }
    let message = "request body timed out";
    let mut r = if json {
        let error = serde_json::json!({ "error": message });
        (StatusCode::REQUEST_TIMEOUT, axum::Json(error)).into_response()
    } else {
        (StatusCode::REQUEST_TIMEOUT, format!("{message}\n")).into_response()
    };
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    for (name, value) in super::headers::all() {
        r.headers_mut().insert(name, value);
    }
    r
}
