//! The HTTP API: ingest, decisions (`/v1/check` and LiteLLM's Generic Guardrail API),
//! queries, admin actions, health and metrics. Every error is a JSON object with an
//! `error` field saying what was wrong.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use moat_core::{AccountVerdict, CampaignReport, CompactString, Record, Report, analyse};
use moat_io::{BodyLimits, Format, decode_body};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::app::{ApiError, AppState, Shared, ask, too_many_failures};
use crate::board::Target;
use crate::dashboard;
use crate::decide::CheckRequest;
use crate::guardrail;
use crate::listen::BodyLimit;
use crate::live::{Command, Ingested};
use crate::store::{AuditEntry, Override, OverrideAction, StoredExchange, StoredRecord};

/// How many rejected records an ingest error lists.
const MAX_LISTED_REJECTS: usize = 100;

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

/// Fully ready: the engine has replayed the store and takes in new records.
async fn ready(State(s): State<Shared>) -> Response {
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
async fn ready_for_decisions(State(s): State<Shared>) -> Response {
    if s.board.decisions_ready() {
        Json(json!({ "status": "ready", "replayed": s.board.is_ready() })).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "opening the store")
            .retry_after(1)
            .into_response()
    }
}

async fn metrics(State(s): State<Shared>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
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

#[derive(Serialize)]
struct IngestAnswer {
    ingested: usize,
    exchanges: u64,
    /// Present (and true) when an ingest with the same idempotency key was stored
    /// already: the records were not taken in again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

/// The longest idempotency key taken.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The caller's `Idempotency-Key`, if any: at most 200 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_IDEMPOTENCY_KEY
        || !bytes.iter().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// The query of an ingest: the format of the body, when it cannot be told from its first
/// records.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestQuery {
    #[serde(default)]
    format: Option<String>,
}

async fn ingest(
    State(s): State<Shared>,
    query: Result<Query<IngestQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestAnswer>, ApiError> {
    let Query(query) = query?;
    if !s.board.is_ready() {
        return Err(ApiError::replaying());
    }
    let key = idempotency_key(&headers)?;
    let format = match query.format.as_deref() {
        None => Format::Auto,
        Some("parquet") => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Parquet is read from files (moat scan), not over HTTP",
            ));
        }
        Some(name) => name
            .parse::<Format>()
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?,
    };
    let body = body?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "the body is empty"));
    }
    let records = decode(&s, body, format).await?;
    if records.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no records in the body",
        ));
    }
    let ingested = records.len();
    let done = commit(&s, records, key).await?;
    Ok(Json(IngestAnswer {
        ingested,
        exchanges: done.exchanges,
        duplicate: done.duplicate,
    }))
}

/// OTLP/HTTP with JSON encoding, as an OpenTelemetry Collector's `otlphttp` exporter sends
/// it (`encoding: json`): spans with `gen_ai.*` attributes are exchanges, other spans are
/// skipped. Answers an empty `ExportTraceServiceResponse`.
async fn otlp_traces(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "OTLP/HTTP is accepted JSON-encoded (application/json): set encoding: json",
        ));
    }
    let key = idempotency_key(&headers)?;
    let records = decode(&s, body?, Format::Otlp).await?;
    if !records.is_empty() {
        commit(&s, records, key).await?;
    }
    Ok(Json(json!({})))
}

/// Decodes a body on a blocking thread: each exchange's text is analysed, then dropped
/// unless prompts are kept. Any rejected record refuses the whole body.
async fn decode(s: &AppState, body: Bytes, format: Format) -> Result<Vec<StoredRecord>, ApiError> {
    let keep_text = s.config.store_prompts;
    let limits = BodyLimits {
        max_bytes: s.config.max_decoded_bytes,
        max_records: s.config.max_records_per_body,
        max_rejects: MAX_LISTED_REJECTS,
    };
    let _turn = s
        .decodes
        .acquire()
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
    let decoded = tokio::task::spawn_blocking(move || {
        let decoded = decode_body(&body, format, "body", limits)?;
        let rejects = decoded.rejects;
        let records: Vec<StoredRecord> = decoded
            .records
            .into_iter()
            .map(|record| match record {
                Record::Exchange(mut exchange) => {
                    let content = analyse(&exchange.request);
                    if !keep_text {
                        exchange.drop_text();
                    }
                    StoredRecord::Exchange(StoredExchange { exchange, content })
                }
                Record::Account(account) => StoredRecord::Account(account),
            })
            .collect();
        Ok((records, rejects, decoded.rejects_cut))
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "decoding failed"))?;
    let (records, rejects, cut) = decoded.map_err(|e: moat_io::BodyTooLarge| {
        s.metrics.too_large();
        tracing::warn!("ingest refused: {e}");
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{e}; nothing was ingested: send smaller bodies"),
        )
    })?;
    if rejects.is_empty() {
        return refuse_future(s, records);
    }
    s.metrics.ingest(0, rejects.len() as u64);
    tracing::warn!(
        "ingest refused: {} record(s) could not be read, first: {}",
        rejects.len(),
        rejects[0]
    );
    let listed: Vec<_> = rejects
        .iter()
        .take(MAX_LISTED_REJECTS)
        .map(|r| {
            // The readers speak to the command line; over HTTP the format is a query.
            let reason = r.reason.replace("--format", "?format=");
            json!({ "location": r.location.to_string(), "reason": reason })
        })
        .collect();
    Err(ApiError::with_rejects(
        StatusCode::BAD_REQUEST,
        format!(
            "{}{} record(s) could not be read; nothing was ingested",
            if cut { "at least " } else { "" },
            rejects.len()
        ),
        listed,
    ))
}

/// Refuses a body holding an exchange stamped further ahead of the server's clock than
/// `max_clock_skew_seconds`: a logger whose clock is wrong must not move the engine's time.
fn refuse_future(s: &AppState, records: Vec<StoredRecord>) -> Result<Vec<StoredRecord>, ApiError> {
    let skew = s.config.max_clock_skew_seconds;
    let limit = crate::wall_clock().as_unix_micros().saturating_add(
        i64::try_from(skew)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000),
    );
    let future: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            matches!(r, StoredRecord::Exchange(x) if x.exchange.ts.as_unix_micros() > limit)
        })
        .map(|(n, _)| n)
        .collect();
    if future.is_empty() {
        return Ok(records);
    }
    s.metrics.future(future.len() as u64);
    s.metrics.ingest(0, future.len() as u64);
    tracing::warn!(
        "ingest refused: {} exchange(s) stamped more than {skew} s ahead of the server's clock",
        future.len()
    );
    let reason = format!("the timestamp is more than {skew} s ahead of the server's clock");
    let listed: Vec<_> = future
        .iter()
        .take(MAX_LISTED_REJECTS)
        .map(|n| json!({ "location": format!("record {}", n + 1), "reason": reason }))
        .collect();
    Err(ApiError::with_rejects(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "{} exchange(s) are dated in the future (check the sender's clock); nothing was ingested",
            future.len()
        ),
        listed,
    ))
}

/// Hands records to the engine thread and waits until they are durable (or found to be a
/// retry of an ingest stored under the same idempotency `key`).
async fn commit(
    s: &AppState,
    records: Vec<StoredRecord>,
    key: Option<String>,
) -> Result<Ingested, ApiError> {
    let ingested = records.len() as u64;
    let accounts: Vec<CompactString> = records
        .iter()
        .filter_map(|r| match r {
            StoredRecord::Exchange(e) => Some(e.exchange.account_id.clone()),
            StoredRecord::Account(_) => None,
        })
        .collect();
    let done = ask(s, |reply| Command::Ingest {
        records,
        key,
        reply,
    })
    .await?
    .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    if done.duplicate {
        s.metrics.duplicate();
    } else {
        s.metrics.ingest(ingested, 0);
        for account in &accounts {
            s.decider.spend(account);
        }
    }
    Ok(done)
}

async fn check(
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

async fn guardrail_check(
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
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The check a guardrail request's body stands for, if any.
fn read_guardrail(body: &[u8]) -> Result<Option<CheckRequest>, ApiError> {
    let Json(request) = Json::<guardrail::GuardrailRequest>::from_bytes(body)?;
    Ok(request.into_check())
}

#[derive(Serialize)]
struct AccountAnswer {
    #[serde(flatten)]
    verdict: AccountVerdict,
    /// The reference gateways are told of decisions on this account.
    reference: String,
    #[serde(rename = "override")]
    manual: Option<Override>,
}

async fn account(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<AccountAnswer>, ApiError> {
    let manual = s.board.override_for(Target::Account(&id));
    let reference = s.decider.reference(&id);
    let verdict = ask(&s, |reply| Command::Account { id, reply })
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such account"))?;
    Ok(Json(AccountAnswer {
        verdict,
        reference,
        manual,
    }))
}

async fn campaigns(State(s): State<Shared>) -> Result<Json<Report>, ApiError> {
    Ok(Json(ask(&s, |reply| Command::Report { reply }).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

#[derive(Serialize)]
struct CampaignAnswer {
    #[serde(flatten)]
    campaign: CampaignReport,
    #[serde(rename = "override")]
    manual: Option<Override>,
    members: Vec<AccountVerdict>,
    offset: usize,
}

async fn campaign(
    State(s): State<Shared>,
    Path(id): Path<String>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<CampaignAnswer>, ApiError> {
    let Query(page) = page?;
    let manual = s.board.override_for(Target::Campaign(&id));
    let (campaign, members) = ask(&s, |reply| Command::Campaign { id, reply })
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such campaign"))?;
    let members = members
        .into_iter()
        .skip(page.offset)
        .take(page.limit.min(10_000))
        .collect();
    Ok(Json(CampaignAnswer {
        campaign,
        manual,
        members,
        offset: page.offset,
    }))
}

/// The operator who authenticated an admin request: a named operator of
/// `[serve.operators]`, or `admin` for the admin token.
#[derive(Debug, Clone)]
pub(crate) struct Operator(pub(crate) Arc<str>);

/// An admin action.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminAction {
    /// `block`, `allow`, or `clear` (back to the engine's verdict).
    action: String,
    /// Why: required, it goes to the audit log.
    reason: String,
    /// A note of the caller's own, kept beside the operator who authenticated (a ticket,
    /// the tool that sent it). `actor` is taken as a note too.
    #[serde(default, alias = "actor")]
    note: Option<String>,
}

async fn admin_account(
    State(s): State<Shared>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
    body: Result<Json<AdminAction>, JsonRejection>,
) -> Result<Json<AuditEntry>, ApiError> {
    take_action(&s, &operator, Target::Account(&id), body?.0).await
}

async fn admin_campaign(
    State(s): State<Shared>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
    body: Result<Json<AdminAction>, JsonRejection>,
) -> Result<Json<AuditEntry>, ApiError> {
    take_action(&s, &operator, Target::Campaign(&id), body?.0).await
}

/// The longest reason an admin action may give, in characters: it is kept in the audit
/// log and shown with every decision on the account.
const MAX_REASON_CHARS: usize = 1000;
/// The longest note an admin action may carry, in characters.
const MAX_NOTE_CHARS: usize = 100;

async fn take_action(
    s: &AppState,
    operator: &Operator,
    target: Target<'_>,
    action: AdminAction,
) -> Result<Json<AuditEntry>, ApiError> {
    let reason = action.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason is required: it goes to the audit log",
        ));
    }
    let note = action
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let note_chars = note.as_ref().map_or(0, |n| n.chars().count());
    if reason.chars().count() > MAX_REASON_CHARS || note_chars > MAX_NOTE_CHARS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reason may have at most {MAX_REASON_CHARS} characters, note {MAX_NOTE_CHARS}"),
        ));
    }
    let kind = match action.action.as_str() {
        "block" => Some(OverrideAction::Block),
        "allow" => Some(OverrideAction::Allow),
        "clear" => None,
        other => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("action {other:?} is not block, allow or clear"),
            ));
        }
    };
    let actor = operator.0.to_string();
    let at = crate::wall_clock().to_string();
    let decision = kind.map(|action| Override {
        action,
        reason: reason.clone(),
        actor: actor.clone(),
        at: at.clone(),
    });
    let entry = AuditEntry {
        seq: 0,
        at,
        actor,
        note,
        action: action.action,
        target: target.to_string(),
        reason,
    };
    let logged = ask(s, |reply| Command::Override {
        target: target.to_string(),
        decision,
        entry,
        reply,
    })
    .await?
    .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    Ok(Json(logged))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditPage {
    #[serde(default)]
    from: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

async fn audit(
    State(s): State<Shared>,
    page: Result<Query<AuditPage>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let Query(page) = page?;
    let limit = page.limit.min(10_000);
    let entries = ask(s.as_ref(), |reply| Command::Audit {
        from: page.from,
        limit,
        reply,
    })
    .await?
    .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    Ok(Json(entries))
}
