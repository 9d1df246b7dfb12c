//! Decisions: `/v1/check` and LiteLLM's Generic Guardrail API, answered from the board.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;

use crate::app::{ApiError, Shared};
use crate::decide::CheckRequest;
use crate::guardrail;

pub(super) async fn check(
    State(s): State<Shared>,
    body: Result<Json<CheckRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(request) = body?;
    if request.account_id.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "account_id is empty",
        ));
    }
    let started = Instant::now();
    let decision = s.decider.decide(request);
    s.metrics.decided(
        "check",
        decision.action.as_str(),
        started.elapsed().as_secs_f64(),
    );
    Ok(Json(decision.for_gateway(s.config.explain_decisions)))
}

pub(super) async fn guardrail_check(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<guardrail::GuardrailResponse>, ApiError> {
    if !is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a body of Content-Type: application/json",
        ));
    }
    let body = body?;
    let check = if body.len() <= s.config.max_check_body_bytes {
        read_guardrail(&body)?
    } else {
        // A long conversation is read on a blocking thread, a few at once, so that it never
        // holds up the decisions answered on the server's own threads.
        let _turn = s
            .guardrail_reads
            .acquire()
            .await
            .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
        tokio::task::spawn_blocking(move || read_guardrail(&body))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "reading failed"))??
    };
    let started = Instant::now();
    let Some(check) = check else {
        return Ok(Json(guardrail::GuardrailResponse::none()));
    };
    let decision = s.decider.decide(check);
    s.metrics.decided(
        "guardrail",
        decision.action.as_str(),
        started.elapsed().as_secs_f64(),
    );
    Ok(Json(guardrail::GuardrailResponse::of(
        &decision,
        s.config.explain_decisions,
    )))
}

/// Whether `headers` say the body is JSON.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The check a guardrail request's body stands for, if any.
pub(super) fn read_guardrail(body: &[u8]) -> Result<Option<CheckRequest>, ApiError> {
    let Json(request) = Json::<guardrail::GuardrailRequest>::from_bytes(body)?;
    Ok(request.into_check())
}
