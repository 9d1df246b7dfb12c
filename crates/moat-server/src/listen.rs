//! Accepting connections within bounds. The people moat refuses can reach its ports, so a
//! connection costs them what it costs moat:
//!
//! - at most `max_connections` are open at once on each port; past it, new ones wait in the
//!   kernel's queue while the open ones (a gateway's pool of kept-alive connections among
//!   them) are served as before;
//! - one address holds at most `max_connections_per_address` of them; past it, its new
//!   connections are closed at once;
//! - a connection that has not sent a whole request head within `header_timeout_seconds`
//!   of starting to wait for one is closed: one trickling its headers, and one left idle
//!   between requests;
//! - a request head over `max_head_bytes` is answered 414 (its target) or 431 (its
//!   headers) with a JSON error ([`bounded_head`]); the HTTP layer below holds heads of up
//!   to four times as much, so that they reach it;
//! - a request body must have arrived whole within `body_timeout_seconds` ([`whole_body`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::Service;

use crate::app::{ApiError, AppState};
use crate::slots::{Slot, Slots};

/// How long open connections may take to finish once the server is told to stop.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` within the bounds of `state`'s configuration until `stop`
/// turns true, then lets the open connections finish their requests (for at most
/// [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) {
    let header_timeout = Duration::from_secs(state.config.header_timeout_seconds.max(1));
    let head_buffer = state
        .config
        .max_head_bytes
        .saturating_mul(4)
        .max(MIN_HEAD_BUFFER);
    let slots = Slots::new(
        state.config.max_connections,
        state.config.max_connections_per_address,
    );
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &slots, &state) => accepted,
            _ = stopped(&mut stop) => break,
        };
        let Some((stream, addr, slot)) = accepted else {
            continue;
        };
        state.metrics.connection(1);
        let (router, state, mut stop) = (router.clone(), state.clone(), stop.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(addr));
                let mut router = router.clone();
                async move { router.call(request.map(Body::new)).await }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(head_buffer);
            let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            state.metrics.connection(-1);
            drop(slot);
        });
    }
    slots.drained(DRAIN).await;
}

/// Accepts the next connection once a slot is free; `None` when it came from an address
/// that holds its share of the slots already (it is closed) or could not be accepted.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Slots>,
    state: &AppState,
) -> Option<(TcpStream, SocketAddr, Slot)> {
    let free = slots.free().await;
    let (stream, addr) = match listener.accept().await {
        Ok(accepted) => accepted,
        Err(e) => {
            // Out of file descriptors, most often: wait for some to be freed.
            tracing::warn!("cannot accept a connection: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            return None;
        }
    };
    let Some(slot) = slots.take(addr.ip(), free) else {
        state.metrics.refused_connection();
        return None;
    };
    let _ = stream.set_nodelay(true);
    Some((stream, addr, slot))
}

/// The connections of the gRPC port, within the same bounds as the HTTP port's
/// (`max_connections`, `max_connections_per_address`), for tonic to serve.
pub fn grpc_incoming(
    listener: TcpListener,
    state: Arc<AppState>,
) -> impl futures_util::Stream<Item = std::io::Result<Bounded>> {
    let slots = Slots::new(
        state.config.max_connections,
        state.config.max_connections_per_address,
    );
    futures_util::stream::unfold(
        (listener, slots, state),
        |(listener, slots, state)| async move {
            loop {
                if let Some((stream, _, slot)) = accept(&listener, &slots, &state).await {
                    let first = Duration::from_secs(state.config.header_timeout_seconds.max(1));
                    let bounded = Bounded {
                        stream,
                        _slot: slot,
                        mute: Some(Box::pin(tokio::time::sleep(first))),
                    };
                    return Some((Ok(bounded), (listener, slots, state)));
                }
            }
        },
    )
}

/// A connection of the gRPC port, holding its slot while it is open, and closed if its
/// first bytes do not come within `header_timeout_seconds` (from then on, HTTP/2 pings
/// tell a live peer from a dead or silent one: `grpc_keepalive_seconds`).
#[derive(Debug)]
pub struct Bounded {
    stream: TcpStream,
    _slot: Slot,
    /// When the connection is closed if it has sent nothing yet.
    mute: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl tonic::transport::server::Connected for Bounded {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl tokio::io::AsyncRead for Bounded {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = std::pin::Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.mute = None;
        }
        let too_late = read.is_pending()
            && self
                .mute
                .as_mut()
                .is_some_and(|mute| mute.as_mut().poll(cx).is_ready());
        if too_late {
            return std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no request within header_timeout_seconds",
            )));
        }
        read
    }
}

impl tokio::io::AsyncWrite for Bounded {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The least buffer the HTTP layer accepts for a request head.
const MIN_HEAD_BUFFER: usize = 8192;

/// Answers a request whose head is over `max_head_bytes` with a JSON error: 414 when its
/// target alone is, else 431.
pub async fn bounded_head(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let limit = state.config.max_head_bytes;
    let uri = request.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if target > limit {
        return ApiError::head_too_large(StatusCode::URI_TOO_LONG, "the request target is", limit)
            .into_response();
    }
    if target + headers > limit {
        return ApiError::head_too_large(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request head is",
            limit,
        )
        .into_response();
    }
    next.run(request).await
}

/// Completes once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

/// Which limit a route's bodies are held to.
#[derive(Debug, Clone, Copy)]
pub enum BodyLimit {
    /// `max_body_bytes`.
    Any,
    /// `max_check_body_bytes`.
    Check,
}

/// Reads a request's whole body within `body_timeout_seconds`, before the handler sees it:
/// a body trickled in a byte at a time is answered 408 and its connection freed. Bodies
/// over their limit are answered 413 here, as the handlers would.
pub async fn whole_body(
    State((state, kind)): State<(Arc<AppState>, BodyLimit)>,
    request: Request,
    next: Next,
) -> Result<Response, Infallible> {
    let (parts, body) = request.into_parts();
    let (setting, limit) = match kind {
        BodyLimit::Any => ("max_body_bytes", state.config.max_body_bytes),
        BodyLimit::Check => ("max_check_body_bytes", state.config.max_check_body_bytes),
    };
    let timeout = Duration::from_secs(state.config.body_timeout_seconds.max(1));
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_over_limit(&e) => {
            return Ok(ApiError::body_too_large(setting, limit).into_response());
        }
        Ok(Err(_)) => return Ok(ApiError::unreadable_body().into_response()),
        Err(_) => {
            state.metrics.slow_body();
            return Ok(ApiError::slow_body(timeout).into_response());
        }
    };
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// Whether reading a body failed because it was over its limit (not because the client
/// went away).
fn is_over_limit(e: &axum::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}
