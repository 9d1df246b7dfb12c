//! One account's verdict as it stands, with the signals behind it, and the decisions on
//! the requests of accounts that carry a campaign among their customers.

use crate::campaign::Campaign;
use crate::content;
use crate::exchange::Exchange;
use crate::firing::{Scope, profile_findings};
use crate::intel;
use crate::profile::RequestKinds;
use crate::requests::CarriedRequests;
use crate::signal::{Findings, Signal};
use crate::verdict::{AccountVerdict, Verdict, reported};

use super::Engine;

impl Engine {
    /// For an account that carries a blocked campaign's traffic among its customers', as
    /// of the last search: whether the request of `e`, whose text read as `content`, is
    /// more likely the campaign's than a customer's ([`requests`](crate::requests)). `None` for any other
    /// account.
    pub fn carried_request(&self, e: &Exchange, content: &content::ContentSignals) -> Option<bool> {
        let &i = self.ids.get(e.account_id.as_str())?;
        let requests = self.carried_requests(i)?;
        Some(requests.is_campaigns(&RequestKinds::of(e, content, &self.config.limits)))
    }

    /// How account `i`'s carried campaign's requests differ from its customers', if it
    /// carries one.
    fn carried_requests(&self, i: u32) -> Option<CarriedRequests> {
        let &(root, share) = self.carriers.get(&i)?;
        Some(CarriedRequests::new(
            &self.carried_campaigns.get(&root)?.measures,
            &self.fingerprints[i as usize],
            f64::from(share),
            self.config.limits.carried_min_probability,
        ))
    }

    /// The verdict of one account as it stands, if the account was seen.
    pub fn verdict(&self, account_id: &str) -> Option<AccountVerdict> {
        self.ids.get(account_id).map(|&i| self.account_verdict(i))
    }

    /// The verdicts of the accounts whose decision changed since the last call (empty
    /// unless [`Engine::record_changes`] was called).
    pub fn take_changes(&mut self) -> Vec<AccountVerdict> {
        let Some(changes) = &mut self.changes else {
            return Vec::new();
        };
        let changed = std::mem::take(&mut changes.accounts);
        for &i in &changed {
            changes.listed[i as usize] = false;
        }
        changed
            .into_iter()
            .map(|i| self.account_verdict(i))
            .collect()
    }

    /// The campaign account `i` is reported in: its cluster, when the cluster's evidence
    /// reaches `watch` or one of its accounts was blocked (a cluster of ordinary accounts
    /// is not a campaign).
    pub(super) fn reported_campaign(&self, i: u32) -> Option<u32> {
        self.accounts[i as usize].decision.campaign.filter(|&root| {
            self.with_blocks.contains(&root)
                || self
                    .campaign_findings(root)
                    .is_some_and(|f| f.score() >= self.config.watch)
        })
    }

    /// The verdict of account `i` as it stands, with the signals behind it: those its own
    /// traffic and facts fire, and its campaign's of how the campaign's accounts relate (a
    /// campaign's merged traffic and facts are its own, not each member's: a reseller
    /// carrying it is not young or unverified because the campaign's accounts are).
    pub(super) fn account_verdict(&self, i: u32) -> AccountVerdict {
        let state = &self.accounts[i as usize];
        let d = &state.decision;
        let mut findings = profile_findings(
            &state.profile(&self.config.limits),
            Scope::Account,
            &self.config,
        );
        let carried = self.carriers.get(&i);
        if let Some(c) = d
            .campaign
            .filter(|_| carried.is_none())
            .and_then(|r| self.campaign_findings(r))
        {
            findings.merge_relations(&c);
        }
        if let Some(&(_, share)) = carried {
            findings.fire(
                Signal::CarriesCampaign,
                self.config.weights.get(Signal::CarriesCampaign),
                f64::from(share),
            );
        }
        if d.verdict == Verdict::Block
            && d.campaign.is_some()
            && findings.weight(Signal::LinkedToBlockedCampaign) == 0.0
            && findings.score() < self.config.block
        {
            findings.fire(
                Signal::LinkedToBlockedCampaign,
                self.config.weights.get(Signal::LinkedToBlockedCampaign),
                1.0,
            );
        }
        AccountVerdict {
            account_id: self.names[i as usize].to_string(),
            verdict: d.verdict,
            score: reported(f64::from(d.score).clamp(0.0, 1.0)),
            campaign_id: self.reported_campaign(i).map(|r| self.campaign_id(r)),
            flagged_at: d.flagged_at,
            exchanges: u64::from(state.exchange_count()),
            signals: findings
                .fired()
                .into_iter()
                .map(|(s, _, _)| s.name().to_owned())
                .collect(),
            partners: intel::partner_names(&self.partners, state.partners()),
            campaign_share: None,
            carried: self.carried_requests(i),
        }
    }

    /// The evidence of the campaign rooted at `root`: from the last round, or from the last
    /// round in which it was blocked.
    pub(super) fn campaign_findings(&self, root: u32) -> Option<Findings> {
        self.assessed(root).map(|c| c.findings)
    }

    /// The campaign rooted at `root` as last assessed, or as when it was last blocked.
    pub(super) fn assessed(&self, root: u32) -> Option<&Campaign> {
        self.campaigns
            .get(&root)
            .or_else(|| self.blocked_campaigns.get(&root))
    }
}
