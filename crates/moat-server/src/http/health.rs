//! Health and metrics: readiness, readiness for decisions, Prometheus metrics.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::{ApiError, Shared};

/// Fully ready: the engine has replayed the store and takes in new records.
pub(super) async fn ready(State(s): State<Shared>) -> Response {
    if s.board.is_ready() {
        let (restored, replayed) = s.board.started();
        Json(json!({
            "status": "ready",
            "exchanges": s.board.exchanges(),
            "restored": restored,
            "replayed": replayed,
        }))
        .into_response()
    } else {
        ApiError::replaying().into_response()
    }
}

/// Ready for decisions: the stored verdicts and manual decisions are published, which
/// comes before the replay of the records.
pub(super) async fn ready_for_decisions(State(s): State<Shared>) -> Response {
    if s.board.decisions_ready() {
        Json(json!({ "status": "ready", "replayed": s.board.is_ready() })).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "opening the store")
            .retry_after(1)
            .into_response()
    }
}

pub(super) async fn metrics(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !s.config.may_read_metrics(peer.ip()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} may not read the metrics (serve.metrics_from)",
                peer.ip()
            ),
        )
        .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(&s.board),
    )
        .into_response()
}
