//! Admin actions (manual block or allow of an account or a campaign) and the audit log.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use crate::app::{ApiError, AppState, Shared, ask};
use crate::board::Target;
use crate::live::Command;
use crate::store::{AuditEntry, Override, OverrideAction};

use super::queries::default_limit;

/// The operator who authenticated an admin request: a named operator of
/// `[serve.operators]`, or `admin` for the admin token.
#[derive(Debug, Clone)]
pub(crate) struct Operator(pub(crate) Arc<str>);

/// An admin action.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdminAction {
    /// What to do.
    action: Verb,
    /// Why: required, it goes to the audit log.
    reason: String,
    /// A note of the caller's own, kept beside the operator who authenticated (a ticket,
    /// the tool that sent it). `actor` is taken as a note too.
    #[serde(default, alias = "actor")]
    note: Option<String>,
}

/// What an admin action does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Verb {
    /// Always block it.
    Block,
    /// Always allow it, whatever the engine says.
    Allow,
    /// Back to the engine's verdict.
    Clear,
}

impl Verb {
    /// The manual decision it leaves on the target, if any.
    fn decision(self) -> Option<OverrideAction> {
        match self {
            Self::Block => Some(OverrideAction::Block),
            Self::Allow => Some(OverrideAction::Allow),
            Self::Clear => None,
        }
    }

    /// Its name, as the audit log gives it.
    fn name(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Allow => "allow",
            Self::Clear => "clear",
        }
    }
}

pub(super) async fn admin_account(
    State(s): State<Shared>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
    body: Result<Json<AdminAction>, JsonRejection>,
) -> Result<Json<AuditEntry>, ApiError> {
    take_action(&s, &operator, Target::Account(&id), body?.0).await
}

pub(super) async fn admin_campaign(
    State(s): State<Shared>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
    body: Result<Json<AdminAction>, JsonRejection>,
) -> Result<Json<AuditEntry>, ApiError> {
    take_action(&s, &operator, Target::Campaign(&id), body?.0).await
}

/// The longest reason an admin action may give, in characters: it is kept in the audit
/// log and shown with every decision on the account.
pub(super) const MAX_REASON_CHARS: usize = 1000;

/// The longest note an admin action may carry, in characters.
pub(super) const MAX_NOTE_CHARS: usize = 100;

pub(super) async fn take_action(
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
    let kind = action.action.decision();
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
        action: action.action.name().to_owned(),
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
pub(super) struct AuditPage {
    #[serde(default)]
    from: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

pub(super) async fn audit(
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
