//! Ingest: `POST /v1/exchanges` and `POST /v1/traces`, decoded off the engine thread, with
//! idempotency keys, and acknowledged once durably committed.

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use moat_core::{AnalysedRecord, CompactString};
use moat_io::{BodyLimits, Format, decode_body};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::{ApiError, AppState, Shared, ask};
use crate::live::{Command, Ingested};

use super::decisions::is_json;

/// How many rejected records an ingest error lists.
pub(super) const MAX_LISTED_REJECTS: usize = 100;

#[derive(Serialize)]
pub(super) struct IngestAnswer {
    ingested: usize,
    exchanges: u64,
    /// Present (and true) when an ingest with the same idempotency key was stored
    /// already: the records were not taken in again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

/// The longest idempotency key taken.
pub(super) const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The caller's `Idempotency-Key`, if any: at most 200 visible ASCII characters.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
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
pub(super) struct IngestQuery {
    #[serde(default)]
    format: Option<String>,
}

pub(super) async fn ingest(
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
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?,
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
pub(super) async fn otlp_traces(
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
pub(super) async fn decode(
    s: &AppState,
    body: Bytes,
    format: Format,
) -> Result<Vec<AnalysedRecord>, ApiError> {
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
        let records: Vec<AnalysedRecord> = decoded
            .records
            .into_iter()
            .map(|record| {
                let mut record = AnalysedRecord::of(record);
                if let AnalysedRecord::Exchange(a) = &mut record
                    && !keep_text
                {
                    a.drop_text();
                }
                record
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
pub(super) fn refuse_future(
    s: &AppState,
    records: Vec<AnalysedRecord>,
) -> Result<Vec<AnalysedRecord>, ApiError> {
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
            matches!(r, AnalysedRecord::Exchange(x) if x.exchange().ts.as_unix_micros() > limit)
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
pub(super) async fn commit(
    s: &AppState,
    records: Vec<AnalysedRecord>,
    key: Option<String>,
) -> Result<Ingested, ApiError> {
    let ingested = records.len() as u64;
    let accounts: Vec<CompactString> = records
        .iter()
        .filter_map(|r| match r {
            AnalysedRecord::Exchange(e) => Some(e.exchange().account_id.clone()),
            AnalysedRecord::Account(_) => None,
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
