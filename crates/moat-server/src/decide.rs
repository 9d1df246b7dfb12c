//! Decisions: allow, throttle, challenge or block one request about to be sent, from the
//! account's published verdict, its campaign's, the keys of blocked campaigns, manual
//! decisions, and GCRA rate budgets per account and per campaign.
//!
//! Budgets are spent by the exchanges the gateway forwarded (ingested, with the ingest
//! token), never by asking for a decision: whoever may ask about an account cannot spend
//! its budget and have a customer throttled.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use moat_core::blocklist::ExchangeKeys;
use moat_core::{
    AccountInfo, Blocklist, Client, CompactString, EventTime, Exchange, Request, Verdict, analyse,
};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::board::Board;
use crate::config::{Action, Budget, ServeConfig};
use crate::store::OverrideAction;

/// A request about to be sent, as a gateway describes it: the fields of an exchange v1
/// record that are known before the model answers. Unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckRequest {
    /// The billing account.
    pub account_id: CompactString,
    /// When the request arrived (default: now).
    #[serde(default)]
    pub ts: Option<EventTime>,
    /// Which key of the account is used.
    #[serde(default)]
    pub api_key_id: Option<CompactString>,
    /// The model asked for.
    #[serde(default)]
    pub model: Option<CompactString>,
    /// Where the request comes from.
    #[serde(default)]
    pub client: Client,
    /// What is known of the account.
    #[serde(default)]
    pub account: AccountInfo,
    /// What is asked.
    #[serde(default)]
    pub request: Request,
}

impl CheckRequest {
    fn into_exchange(self) -> Exchange {
        Exchange {
            ts: self.ts.unwrap_or_else(crate::wall_clock),
            account_id: self.account_id,
            api_key_id: self.api_key_id,
            model: self.model,
            client: self.client,
            account: self.account,
            request: self.request,
            ..Exchange::default()
        }
    }
}

/// The answer to a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do with the request.
    pub action: Action,
    /// The account's risk score, in [0, 1].
    pub score: f64,
    /// The campaign the account is part of, if any.
    pub campaign_id: Option<String>,
    /// Why, as signal names and short phrases.
    pub reasons: Vec<String>,
    /// An opaque reference to the decision's account, for support: the admin API shows the
    /// same reference beside the account, and nothing else can be read from it.
    pub reference: String,
}

impl Decision {
    /// What a gateway is told: everything when `explain`, else the action and the
    /// reference only.
    pub fn for_gateway(&self, explain: bool) -> serde_json::Value {
        if explain {
            serde_json::to_value(self).unwrap_or_default()
        } else {
            serde_json::json!({ "action": self.action, "reference": self.reference })
        }
    }
}

/// Takes decisions from the board.
pub struct Decider {
    board: Arc<Board>,
    on_watch: Action,
    accounts: Option<DefaultKeyedRateLimiter<u64>>,
    campaigns: Option<DefaultKeyedRateLimiter<u64>>,
    /// Accounts (by key) whose forwarded exchanges spent their budget, until when.
    spent_accounts: DashMap<u64, Instant>,
    /// Campaigns (by key) likewise.
    spent_campaigns: DashMap<u64, Instant>,
    /// The key of references: from the admin token, so they stay the same across restarts
    /// and cannot be made by anyone without it.
    reference_key: u64,
}

fn limiter(per_minute: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<u64>> {
    let rate = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Some(RateLimiter::keyed(
        Quota::per_minute(rate).allow_burst(burst),
    ))
}

impl Decider {
    /// A decider over `board` with the budgets and actions of `config`.
    pub fn new(board: Arc<Board>, config: &ServeConfig) -> Self {
        let Budget {
            account_per_minute,
            account_burst,
            campaign_per_minute,
            campaign_burst,
        } = config.budget;
        Self {
            board,
            on_watch: config.on_watch,
            accounts: limiter(account_per_minute, account_burst),
            campaigns: limiter(campaign_per_minute, campaign_burst),
            spent_accounts: DashMap::new(),
            spent_campaigns: DashMap::new(),
            reference_key: xxh3_64(config.admin_token.as_deref().unwrap_or_default().as_bytes()),
        }
    }

    /// The opaque reference of decisions on `account`.
    pub fn reference(&self, account: &str) -> String {
        format!(
            "ref-{:016x}",
            xxh3_64_with_seed(account.as_bytes(), self.reference_key)
        )
    }

    /// Forgets budget state of accounts and campaigns that are back to a full budget.
    pub fn forget_idle(&self) {
        for l in [&self.accounts, &self.campaigns].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let now = Instant::now();
        for spent in [&self.spent_accounts, &self.spent_campaigns] {
            spent.retain(|_, until| *until > now);
        }
    }

    /// Spends the budgets of the account (and its campaign, if it has one) that made one
    /// exchange the gateway forwarded; one spent is marked until it allows another.
    pub fn spend(&self, account: &str) {
        let spend = |limiter: &Option<DefaultKeyedRateLimiter<u64>>,
                     spent: &DashMap<u64, Instant>,
                     key: u64| {
            if let Some(limiter) = limiter
                && let Err(not_until) = limiter.check_key(&key)
            {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                spent.insert(key, Instant::now() + wait);
            }
        };
        spend(
            &self.accounts,
            &self.spent_accounts,
            xxh3_64(account.as_bytes()),
        );
        if self.campaigns.is_some()
            && let Some(campaign) = self.board.account(account).and_then(|p| p.campaign.clone())
        {
            spend(
                &self.campaigns,
                &self.spent_campaigns,
                xxh3_64(campaign.as_bytes()),
            );
        }
    }

    /// Whether `key`'s budget is marked spent in `spent`.
    fn is_spent(spent: &DashMap<u64, Instant>, key: u64) -> bool {
        spent.get(&key).is_some_and(|until| *until > Instant::now())
    }

    /// Decides on one request.
    pub fn decide(&self, request: CheckRequest) -> Decision {
        let published = self.board.account(&request.account_id);
        let score = published.as_ref().map_or(0.0, |p| p.score);
        let campaign = published.as_ref().and_then(|p| p.campaign.clone());
        let reference = self.reference(&request.account_id);
        let decision = |action, reasons: Vec<String>| Decision {
            action,
            score,
            campaign_id: campaign.as_deref().map(str::to_owned),
            reasons,
            reference: reference.clone(),
        };
        let manual = self
            .board
            .override_for("account", &request.account_id)
            .or_else(|| {
                campaign
                    .as_deref()
                    .and_then(|c| self.board.override_for("campaign", c))
            });
        if let Some(m) = manual {
            let action = match m.action {
                OverrideAction::Block => Action::Block,
                OverrideAction::Allow => Action::Allow,
            };
            return decision(action, vec![format!("manual: {}", m.reason)]);
        }
        let signals = || {
            published
                .as_ref()
                .map_or(Vec::new(), |p| p.signals.to_vec())
        };
        match published.as_ref().map(|p| p.verdict) {
            Some(Verdict::Block) => return decision(Action::Block, signals()),
            Some(Verdict::Watch) if self.on_watch != Action::Allow => {
                return decision(self.on_watch, signals());
            }
            _ => {}
        }
        let account_key = xxh3_64(request.account_id.as_bytes());
        if let Some(id) = self.blocked_campaign_of(request) {
            return Decision {
                action: Action::Block,
                score: 1.0,
                reasons: vec![format!("carries the keys of blocked campaign {id}")],
                campaign_id: Some(id.to_string()),
                reference: reference.clone(),
            };
        }
        if Self::is_spent(&self.spent_accounts, account_key) {
            return decision(Action::Throttle, vec!["account rate budget spent".into()]);
        }
        if let Some(c) = &campaign
            && Self::is_spent(&self.spent_campaigns, xxh3_64(c.as_bytes()))
        {
            return decision(Action::Throttle, vec!["campaign rate budget spent".into()]);
        }
        decision(Action::Allow, signals())
    }

    /// The blocked campaign whose keys the request carries, worth a full link.
    fn blocked_campaign_of(&self, request: CheckRequest) -> Option<Arc<str>> {
        let blocked = self.board.blocked();
        let strength = blocked.strength.as_ref()?;
        if blocked.blocklist.is_empty() {
            return None;
        }
        let exchange = request.into_exchange();
        let content = analyse(&exchange.request);
        let mut keys = ExchangeKeys::new();
        Blocklist::exchange_keys(&exchange, &content, &mut keys);
        let root = blocked.blocklist.matching(&keys, strength)?;
        blocked.ids.get(&root).cloned()
    }
}
