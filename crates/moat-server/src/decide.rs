//! Decisions: allow, throttle, challenge or block one request about to be sent, from the
//! account's published verdict, its campaign's, the keys of blocked campaigns, manual
//! decisions, and GCRA rate budgets per account and per campaign.
//!
//! Budgets are spent by the exchanges the gateway forwarded (ingested, with the ingest
//! token), never by asking for a decision: whoever may ask about an account cannot spend
//! its budget and have a customer throttled.

use std::cell::OnceCell;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use moat_core::blocklist::ExchangeKeys;
use moat_core::config::Limits;
use moat_core::requests::CarriedRequests;
use moat_core::{
    AccountInfo, Blocklist, Client, CompactString, ContentSignals, EventTime, Exchange, Request,
    RequestKinds, Verdict, analyse,
};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::board::{Board, Target};
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
    on_carried: Action,
    /// What a request's kinds are read with ([`RequestKinds`]).
    limits: Limits,
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
    /// A decider over `board` with the budgets and actions of `config`, reading requests
    /// with the engine's `limits`.
    pub fn new(board: Arc<Board>, config: &ServeConfig, limits: &Limits) -> Self {
        let Budget {
            account_per_minute,
            account_burst,
            campaign_per_minute,
            campaign_burst,
        } = config.budget;
        Self {
            board,
            on_watch: config.on_watch,
            on_carried: config.on_carried,
            limits: limits.clone(),
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
        let exchange = request.into_exchange();
        // What the request's text says, read once, and only if a step needs it.
        let content = OnceCell::new();
        let published = self.board.account(&exchange.account_id);
        let score = published.as_ref().map_or(0.0, |p| p.score);
        let campaign = published.as_ref().and_then(|p| p.campaign.clone());
        let reference = self.reference(&exchange.account_id);
        let decision = |action, reasons: Vec<String>| Decision {
            action,
            score,
            campaign_id: campaign.as_deref().map(str::to_owned),
            reasons,
            reference: reference.clone(),
        };
        let manual = self
            .board
            .override_for(Target::Account(&exchange.account_id))
            .or_else(|| {
                campaign
                    .as_deref()
                    .and_then(|c| self.board.override_for(Target::Campaign(c)))
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
        let carried = published.as_ref().and_then(|p| p.carried.clone());
        match (published.as_ref().map(|p| p.verdict), carried.as_deref()) {
            (Some(Verdict::Block), _) => return decision(Action::Block, signals()),
            // A carrier's customers go through (the last arm); its campaign's requests do not.
            (Some(Verdict::Watch), Some(carried))
                if self.is_campaigns(carried, &exchange, &content) =>
            {
                return decision(
                    self.on_carried,
                    vec!["the request counts as its carried campaign's".into()],
                );
            }
            (Some(Verdict::Watch), None) if self.on_watch != Action::Allow => {
                return decision(self.on_watch, signals());
            }
            _ => {}
        }
        let account_key = xxh3_64(exchange.account_id.as_bytes());
        if let Some(id) = self.blocked_campaign_of(&exchange, &content) {
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

    /// Whether the request of `exchange` (its text read into `content` if not yet) counts
    /// as the carried campaign's that `carried` tells apart.
    fn is_campaigns(
        &self,
        carried: &CarriedRequests,
        exchange: &Exchange,
        content: &OnceCell<ContentSignals>,
    ) -> bool {
        let content = content.get_or_init(|| analyse(&exchange.request));
        carried.is_campaigns(&RequestKinds::of(exchange, content, &self.limits))
    }

    /// The blocked campaign whose keys the request of `exchange` carries (its text read
    /// into `content` if not yet), worth a full link.
    fn blocked_campaign_of(
        &self,
        exchange: &Exchange,
        content: &OnceCell<ContentSignals>,
    ) -> Option<Arc<str>> {
        let blocked = self.board.blocked();
        let strength = blocked.strength.as_ref()?;
        if blocked.blocklist.is_empty() {
            return None;
        }
        let content = content.get_or_init(|| analyse(&exchange.request));
        let mut keys = ExchangeKeys::new();
        Blocklist::exchange_keys(exchange, content, &mut keys);
        let root = blocked.blocklist.matching(&keys, strength)?;
        blocked.ids.get(&root).cloned()
    }
}

#[cfg(test)]
mod tests {
    use moat_core::likeness::DIMS;
    use moat_core::{AccountVerdict, Message, Role};

    use super::*;

    fn request(account: &str, prompt: &str, tools: Option<u32>) -> CheckRequest {
        CheckRequest {
            account_id: account.into(),
            request: Request {
                messages: vec![Message {
                    role: Role::User,
                    content: prompt.into(),
                }],
                tools,
                ..Request::default()
            },
            ..CheckRequest::default()
        }
    }

    #[test]
    fn a_carriers_campaign_requests_are_stopped_and_its_customers_pass() {
        // The campaign asks for reasoning in 90 % of its requests and offers tools in 80 %;
        // it is 30 % of the reseller's traffic, whose customers do either in 5 %.
        let (mut campaign, mut customers) = ([0.0; DIMS], [0.0; DIMS]);
        (campaign[0], campaign[5]) = (0.9, 0.8);
        (customers[0], customers[5]) = (0.05, 0.05);
        let reseller: [f32; DIMS] = std::array::from_fn(|d| 0.3 * campaign[d] + 0.7 * customers[d]);
        let carried = CarriedRequests::new(&campaign, &reseller, 0.3, 0.5);
        let board = Arc::new(Board::new());
        board.publish(vec![
            AccountVerdict {
                account_id: "reseller".into(),
                verdict: Verdict::Watch,
                campaign_id: Some("campaign-1".into()),
                carried: Some(carried),
                ..AccountVerdict::default()
            },
            AccountVerdict {
                account_id: "watched".into(),
                verdict: Verdict::Watch,
                ..AccountVerdict::default()
            },
        ]);
        let config = ServeConfig::default();
        let decider = Decider::new(board, &config, &Limits::default());
        let harvest = "Solve this and show your reasoning step by step: 3x + 7 = 22.";
        let ordinary = "Write a short thank-you note to my neighbour for the flowers.";
        let action =
            |account, prompt, tools| decider.decide(request(account, prompt, tools)).action;
        assert_eq!(action("reseller", harvest, Some(4)), config.on_carried);
        assert_eq!(action("reseller", ordinary, None), Action::Allow);
        // An account on watch that carries no campaign is answered as `on_watch` says.
        assert_eq!(action("watched", ordinary, None), config.on_watch);
    }
}
