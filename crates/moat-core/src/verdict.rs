//! Verdicts and campaign reports: what moat concludes, with the evidence for it.

use serde::{Deserialize, Serialize};

use crate::time::EventTime;

/// What to do with an account.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing to act on.
    #[default]
    Allow,
    /// Suspicious: keep looking, do not block.
    Watch,
    /// Part of a campaign, or abusive on its own: stop it.
    Block,
}

impl Verdict {
    /// The name used in files and APIs: `allow`, `watch` or `block`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Watch => "watch",
            Verdict::Block => "block",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The end state of one account after a scan: a row of `accounts.csv`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountVerdict {
    /// The account, as in the input.
    pub account_id: String,
    /// The verdict at the end of the input.
    pub verdict: Verdict,
    /// The final risk score, in [0, 1].
    pub score: f64,
    /// The campaign the account was put in, if any.
    pub campaign_id: Option<String>,
    /// The event time at which the account was first given [`Verdict::Block`], if ever.
    pub flagged_at: Option<EventTime>,
    /// How many exchanges of the account were read.
    pub exchanges: u64,
    /// The names of the signals that drove the verdict.
    pub signals: Vec<String>,
    /// The estimated share of the account's exchanges that are its campaign's, with its
    /// interval, where it is in a campaign whose traffic stands apart enough to tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_share: Option<crate::share::CampaignShare>,
    /// For an account that carries a blocked campaign's traffic among its customers': what
    /// tells the campaign's requests from theirs; not part of `accounts.csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried: Option<crate::requests::CarriedRequests>,
    /// The partners whose indicators of a campaign the account's first exchanges carried
    /// (the provenance of `partner_intel`); not part of `accounts.csv`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<String>,
}

/// A score or weight as reports give it: rounded to six decimals, so that a number kept as
/// `f32` does not show the noise of its binary form (`0.10000000149011612` for 0.1).
pub fn reported(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// One piece of evidence: a signal, how much it weighed, and what it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The signal's name.
    pub signal: String,
    /// Its contribution to the score.
    pub weight: f64,
    /// What it saw, in words a person reads (never raw prompt text).
    pub detail: String,
    /// What the campaign is compared with: for a signal read off each account's own
    /// traffic and facts, the share of all accounts seen whose own traffic fires it; for
    /// `new_accounts`, the share of all accounts that are new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population_share: Option<f64>,
}

/// A campaign: a cluster of linked accounts and the evidence against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignReport {
    /// The campaign's id, as in `accounts.csv`.
    pub id: String,
    /// How many accounts it holds.
    pub accounts: u64,
    /// How many exchanges its accounts made.
    pub exchanges: u64,
    /// Event time of its first exchange.
    pub first_seen: EventTime,
    /// Event time of its last exchange.
    pub last_seen: EventTime,
    /// The campaign's risk score, in [0, 1].
    pub score: f64,
    /// The evidence, strongest first.
    pub evidence: Vec<Evidence>,
    /// Its accounts that carry other traffic beside the campaign's (resellers, relays):
    /// those whose campaign share is below [`CARRIER_SHARE`] even at the upper end of its
    /// interval, most exchanges first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carriers: Vec<Carrier>,
}

/// The campaign share below which a campaign's account counts as carrying other traffic
/// beside the campaign's, when the upper end of its interval lies below it: a campaign's own
/// accounts scatter about 1 by ±0.1 or so, and a few seen only a few times lie lower still.
pub const CARRIER_SHARE: f64 = 0.6;

/// An account that carries a campaign's traffic beside other traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Carrier {
    /// The account.
    pub account_id: String,
    /// Its exchanges, the campaign's and the rest.
    pub exchanges: u64,
    /// The estimated share of them that are the campaign's, with its 90 % interval.
    pub campaign_share: crate::share::CampaignShare,
}

/// Totals of a scan, for the top of a report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScanSummary {
    /// Exchanges read.
    pub exchanges: u64,
    /// Accounts seen.
    pub accounts: u64,
    /// Accounts whose verdict at the end is `block`.
    pub accounts_blocked: u64,
    /// Accounts whose verdict at the end is `watch`.
    pub accounts_watched: u64,
    /// Campaigns found.
    pub campaigns: u64,
    /// Records rejected by the readers.
    pub records_rejected: u64,
    /// Event time of the first exchange read.
    pub first_seen: Option<EventTime>,
    /// Event time of the last exchange read.
    pub last_seen: Option<EventTime>,
}

/// The whole of `report.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Report {
    /// Totals.
    pub summary: ScanSummary,
    /// The campaigns found, highest score first.
    pub campaigns: Vec<CampaignReport>,
}
