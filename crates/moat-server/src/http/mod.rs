//! The HTTP API: ingest, decisions (`/v1/check` and LiteLLM's Generic Guardrail API),
//! queries, admin actions, health and metrics. Every error is a JSON object with an
//! `error` field saying what was wrong.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::app::{ApiError, AppState, Shared, too_many_failures};
use crate::dashboard;
use crate::listen::BodyLimit;

mod admin;
mod decisions;
mod health;
mod ingest;
mod queries;

use admin::{Operator, admin_account, admin_campaign, audit};
use decisions::{check, guardrail_check};
use health::{metrics, ready, ready_for_decisions};
use ingest::{ingest, otlp_traces};
use queries::{account, campaign, campaigns};

/// The router, with `state`'s limits and access rules.
pub fn router(state: Shared) -> Router {
    // Bodies are read whole, within their time, once the caller has shown its right to send
    // one: an anonymous caller never makes moat buffer a body.
    let limit =
        |kind| middleware::from_fn_with_state((state.clone(), kind), crate::listen::whole_body);
    let whole_body = limit(BodyLimit::Any);
    let decisions =
        Router::new()
            .route("/v1/check", post(check).layer(limit(BodyLimit::Check)))
            .route(
                "/beta/litellm_basic_guardrail_api",
                post(guardrail_check).layer(whole_body.clone()).layer(
                    middleware::from_fn_with_state(state.clone(), require_guardrail),
                ),
            )
            .layer(middleware::from_fn_with_state(
                state.clone(),
                require_checker,
            ));
    let ingest = Router::new()
        .route("/v1/exchanges", post(ingest))
        .route("/v1/traces", post(otlp_traces))
        .layer(whole_body.clone())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_ingest,
        ));
    let admin = Router::new()
        .route("/v1/accounts/{id}", get(account))
        .route("/v1/campaigns", get(campaigns))
        .route("/v1/campaigns/{id}", get(campaign))
        .route("/v1/admin/accounts/{id}", post(admin_account))
        .route("/v1/admin/campaigns/{id}", post(admin_campaign))
        .route("/v1/admin/audit", get(audit))
        .layer(whole_body)
        .layer(middleware::from_fn_with_state(state.clone(), require_admin));
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .route("/readyz/decisions", get(ready_for_decisions))
        .route("/metrics", get(metrics))
        .merge(decisions)
        .merge(ingest)
        .merge(admin)
        .merge(dashboard::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::listen::bounded_head,
        ))
        .with_state(state)
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    value
        .strip_prefix(b"Bearer ")
        .or_else(|| value.strip_prefix(b"bearer "))
}

fn token_matches(given: Option<&[u8]>, expected: Option<&String>) -> bool {
    match (given, expected) {
        (Some(given), Some(expected)) => bool::from(given.ct_eq(expected.as_bytes())),
        _ => false,
    }
}

fn unauthorized() -> Response {
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "a valid bearer token is required (Authorization: Bearer <token>)",
    )
    .into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("valid"));
    r
}

/// Runs `next` if `admitted` says the request authenticated, counting a failure of `peer`
/// if not; an address that failed too often is refused before its token is looked at.
async fn authenticated(
    s: &AppState,
    peer: SocketAddr,
    request: Request,
    next: Next,
    admitted: impl FnOnce(&mut Request) -> bool,
    refused: fn() -> Response,
) -> Response {
    let mut request = request;
    if let Some(retry_after) = s.failures.locked(peer.ip()) {
        return too_many_failures(retry_after);
    }
    if admitted(&mut request) {
        return next.run(request).await;
    }
    s.failures.failed(peer.ip(), request.uri().path());
    s.metrics.auth_failed();
    refused()
}

/// An operator's token (the admin token's or a named operator's) as a bearer token, or a
/// dashboard session; the request carries the [`Operator`] who authenticated.
async fn require_admin(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let admitted = |request: &mut Request| {
        let headers = request.headers();
        let operator = bearer(headers)
            .and_then(|given| s.config.operator_for(given))
            .map(Arc::from)
            .or_else(|| s.sessions.operator(headers));
        match operator {
            Some(name) => {
                request.extensions_mut().insert(Operator(name));
                true
            }
            None => false,
        }
    };
    authenticated(&s, peer, request, next, admitted, unauthorized).await
}

/// The ingest token, or an operator's.
async fn require_ingest(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let admitted = |request: &mut Request| {
        let given = bearer(request.headers());
        token_matches(given, s.config.ingest_token.as_ref())
            || given.is_some_and(|given| s.config.operator_for(given).is_some())
    };
    authenticated(&s, peer, request, next, admitted, unauthorized).await
}

/// The guardrail token in `x-api-key`, where one is set.
async fn require_guardrail(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = s.config.guardrail_token.as_ref() else {
        return next.run(request).await;
    };
    let admitted = |request: &mut Request| {
        token_matches(
            request.headers().get("x-api-key").map(|v| v.as_bytes()),
            Some(expected),
        )
    };
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a valid x-api-key header is required",
        )
        .into_response()
    };
    authenticated(&s, peer, request, next, admitted, refused).await
}

async fn require_checker(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if s.config.may_check(peer.ip()) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} may not ask for decisions (serve.check_from)", peer.ip()),
        )
        .into_response()
    }
}
