//! The listeners' accept loop, public and admin alike: at most
//! [`MAX_CONNECTIONS`] connections at once (more wait in the kernel's
//! queue), `[web] request_timeout` to send a request's headers (idle
//! keep-alive connections close after it too) and as long again for its
//! body (then 408 and the connection closes). `axum::serve` has none of
//! these: slow clients (slowloris) could hold every socket.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Semaphore};

/// Connections one listener serves at the same time.
pub const MAX_CONNECTIONS: usize = 512;

/// Serve `app` on `listener` until `shutdown` resolves, then let the
/// requests in progress finish. Handlers see the peer as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = slots.clone().acquire_owned() => p.expect("never closed"),
        };
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
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(stream, peer, app, timeout, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection gives its slot back when it has closed.
    let _ = slots.acquire_many(MAX_CONNECTIONS as u32).await;
    Ok(())
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(call(app, req, peer, timeout).await) }
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
