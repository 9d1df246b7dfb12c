//! The live dashboard at `/`: the report's views over the engine as it stands, refreshed
//! as traffic flows, with the admin actions. It sits behind the admin token: signing in
//! with it opens a session kept in an HttpOnly, SameSite=Strict cookie.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use moat_report::{ManualDecision, ReportData};
use serde::Deserialize;

use crate::app::{ApiError, AppState, Shared, ask, too_many_failures};
use crate::board::Target;
use crate::live::{Command, View};
use crate::sessions::{COOKIE, SESSION_LIFETIME};
use crate::store::OverrideAction;

/// The dashboard's routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(page))
        .route("/dashboard/content", get(content))
        .route("/dashboard/sign-in", post(sign_in))
        .route("/dashboard/sign-out", post(sign_out))
        .layer(axum::middleware::map_response(guarded))
}

/// What a browser may do with the dashboard's pages: run their own inline script and
/// styles and ask moat itself, nothing else; never frame them, sniff their type, send
/// their address on, or keep them in a cache.
const CONTENT_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; img-src data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

async fn guarded(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}

async fn page(State(s): State<Shared>, headers: HeaderMap) -> Result<Response, ApiError> {
    if !s.sessions.admits(&headers) {
        return Ok(Html(moat_report::sign_in_page(false)).into_response());
    }
    let view = ask(&s, |reply| Command::Dashboard { reply }).await?;
    Ok(Html(render(view, manual(&s), moat_report::dashboard_page).await?).into_response())
}

/// What the page already shows: the view taken after this many exchanges, and the
/// manual decisions of this version ([`moat_report::manual_version`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shown {
    #[serde(default)]
    exchanges: Option<u64>,
    #[serde(default)]
    manual: Option<String>,
}

async fn content(
    State(s): State<Shared>,
    headers: HeaderMap,
    shown: Result<Query<Shown>, QueryRejection>,
) -> Result<Response, ApiError> {
    if !s.sessions.admits(&headers) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign in at /dashboard",
        ));
    }
    let Query(shown) = shown?;
    let view = ask(&s, |reply| Command::Dashboard { reply }).await?;
    let manual = manual(&s);
    if shown.exchanges == Some(view.report.summary.exchanges)
        && shown.manual.as_deref() == Some(moat_report::manual_version(&manual).as_str())
    {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let html = render(view, manual, moat_report::dashboard_content).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}

/// The manual decisions standing, as the dashboard shows them.
fn manual(s: &AppState) -> Vec<ManualDecision> {
    s.board
        .overrides()
        .into_iter()
        .filter_map(|(stored, d)| {
            let target = Target::parse(&stored)?;
            Some(ManualDecision {
                kind: target.kind().to_owned(),
                id: target.id().to_owned(),
                action: match d.action {
                    OverrideAction::Block => "block",
                    OverrideAction::Allow => "allow",
                }
                .to_owned(),
                reason: d.reason,
                actor: d.actor,
                at: d.at,
            })
        })
        .collect()
}

/// Draws a view with `draw` and the manual decisions, off the async threads.
async fn render(
    view: Arc<View>,
    manual: Vec<ManualDecision>,
    draw: fn(&ReportData) -> String,
) -> Result<String, ApiError> {
    let (watch, block) = view.thresholds;
    let source = match view.report.summary.last_seen {
        Some(t) => format!("live engine · traffic up to {t}"),
        None => "live engine · no traffic yet".to_owned(),
    };
    tokio::task::spawn_blocking(move || {
        draw(&ReportData {
            source,
            report: &view.report,
            accounts: &view.accounts,
            story: &view.story,
            watch,
            block,
            truth: None,
            manual: &manual,
        })
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if let Some(retry_after) = s.failures.locked(peer.ip()) {
        return too_many_failures(retry_after);
    }
    let Some(operator) = s.config.operator_for(form.token.as_bytes()) else {
        s.failures.failed(peer.ip(), "/dashboard/sign-in");
        s.metrics.auth_failed();
        return (
            StatusCode::UNAUTHORIZED,
            Html(moat_report::sign_in_page(true)),
        )
            .into_response();
    };
    // Behind a proxy that ends TLS, the browser must send the cookie back over TLS only.
    let secure = if over_tls(&headers) { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        s.sessions.open(operator),
        SESSION_LIFETIME.as_secs()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/dashboard")).into_response()
}

/// Whether the proxy in front says the browser reached it over TLS (`X-Forwarded-Proto` or
/// `Forwarded: proto=https`). A client that claims so over plain HTTP only keeps its own
/// cookie from coming back.
fn over_tls(headers: &HeaderMap) -> bool {
    let says = |name: &str, https: fn(&str) -> bool| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(https)
    };
    says("x-forwarded-proto", |v| {
        v.split(',').any(|p| p.trim().eq_ignore_ascii_case("https"))
    }) || says("forwarded", |v| {
        v.split([';', ','])
            .any(|p| p.trim().eq_ignore_ascii_case("proto=https"))
    })
}

async fn sign_out(State(s): State<Shared>, headers: HeaderMap) -> Response {
    s.sessions.close(&headers);
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/dashboard")).into_response()
}
