//! What every handler shares: the service's state, the error answer (a status and a
//! JSON body), and asking the engine thread.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::auth::Failures;
use crate::board::Board;
use crate::config::ServeConfig;
use crate::decide::Decider;
use crate::live::Command;
use crate::metrics::Metrics;
use crate::sessions::Sessions;

/// What every handler shares.
pub struct AppState {
    /// The `[serve]` section.
    pub config: ServeConfig,
    /// What decisions read.
    pub board: Arc<Board>,
    /// Takes decisions.
    pub decider: Decider,
    /// The metrics.
    pub metrics: Metrics,
    /// The engine thread.
    pub engine: mpsc::Sender<Command>,
    /// The dashboard's sessions.
    pub sessions: Sessions,
    /// Turns to decode an ingest body: at most `max_concurrent_decodes` at once.
    pub decodes: tokio::sync::Semaphore,
    /// Turns to read a guardrail body larger than a `/v1/check` body may be: at most
    /// `max_concurrent_decodes` at once.
    pub guardrail_reads: tokio::sync::Semaphore,
    /// Failed authentications, per address.
    pub failures: Failures,
}

/// The state as handlers hold it.
pub type Shared = Arc<AppState>;

/// An error answer: a status and a JSON body, and when to try again if it is worth it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
    retry_after: Option<u64>,
}

/// Seconds a caller is told to wait while the engine replays the store.
const REPLAY_RETRY_SECONDS: u64 = 5;

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
            retry_after: None,
        }
    }

    /// An error about records of a body, listing each record's location and reason
    /// (`rejects`).
    pub(crate) fn with_rejects(
        status: StatusCode,
        message: impl Into<String>,
        rejects: Vec<serde_json::Value>,
    ) -> Self {
        Self {
            status,
            body: json!({ "error": message.into(), "rejects": rejects }),
            retry_after: None,
        }
    }

    /// The same error, telling the caller to try again in `seconds`.
    pub(crate) fn retry_after(self, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..self
        }
    }

    /// The engine is still replaying the store: nothing is taken in or changed until it
    /// is done, so a caller's retry is never applied twice.
    pub(crate) fn replaying() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "replaying the store; try again shortly",
        )
        .retry_after(REPLAY_RETRY_SECONDS)
    }

    /// A body over its limit, the setting named `setting`.
    pub(crate) fn body_too_large(setting: &str, limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {setting} ({limit} bytes)"),
        )
    }

    /// A request head over `max_head_bytes`: `what` (its target, or its headers) is.
    pub(crate) fn head_too_large(status: StatusCode, what: &str, limit: usize) -> Self {
        Self::new(
            status,
            format!("{what} over max_head_bytes ({limit} bytes)"),
        )
    }

    /// A body that did not arrive within `body_timeout_seconds`.
    pub(crate) fn slow_body(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {} s", timeout.as_secs()),
        )
    }

    /// A body the client stopped sending.
    pub(crate) fn unreadable_body() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "the body could not be read")
    }

    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine is stopping; try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        r
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        Self::new(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(r.status(), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        Self::new(r.status(), r.body_text())
    }
}

/// The answer to an address that failed to authenticate too often: 429, and when to try
/// again.
pub(crate) fn too_many_failures(retry_after: u64) -> Response {
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed authentications from this address; try again in {retry_after} s"),
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
    r
}

/// Sends `command` to the engine thread and waits for its answer.
pub(crate) async fn ask<T>(
    s: &AppState,
    command: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, ApiError> {
    if !s.board.is_ready() {
        return Err(ApiError::replaying());
    }
    let (tx, rx) = oneshot::channel();
    s.engine
        .send(command(tx))
        .await
        .map_err(|_| ApiError::unavailable())?;
    rx.await.map_err(|_| ApiError::unavailable())
}
