//! Queries: one account's verdict, the campaigns, one campaign with its members.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use moat_core::{AccountVerdict, CampaignReport, Report};
use serde::{Deserialize, Serialize};

use crate::app::{ApiError, Shared, ask};
use crate::board::Target;
use crate::live::Command;
use crate::store::Override;

#[derive(Serialize)]
pub(super) struct AccountAnswer {
    #[serde(flatten)]
    verdict: AccountVerdict,
    /// The reference gateways are told of decisions on this account.
    reference: String,
    #[serde(rename = "override")]
    manual: Option<Override>,
}

pub(super) async fn account(
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

pub(super) async fn campaigns(State(s): State<Shared>) -> Result<Json<Report>, ApiError> {
    Ok(Json(ask(&s, |reply| Command::Report { reply }).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

pub(super) fn default_limit() -> usize {
    100
}

#[derive(Serialize)]
pub(super) struct CampaignAnswer {
    #[serde(flatten)]
    campaign: CampaignReport,
    #[serde(rename = "override")]
    manual: Option<Override>,
    members: Vec<AccountVerdict>,
    offset: usize,
}

pub(super) async fn campaign(
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
