//! What the decision path reads without waiting for the engine: each account's last
//! published verdict, the keys of blocked campaigns, the manual decisions, and counts.
//! The engine thread writes it after every batch; request handlers only read it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use moat_core::config::KindTable;
use moat_core::requests::CarriedRequests;
use moat_core::{AccountVerdict, Blocklist, DetectConfig, Verdict};

use crate::store::{BlockedKeys, Override};

/// What a manual decision is about: an account or a campaign, by id. Stored and listed as
/// `account:<id>` or `campaign:<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The account of this id.
    Account(&'a str),
    /// The campaign of this id.
    Campaign(&'a str),
}

impl Target<'_> {
    /// The kind (`account` or `campaign`) and the id of a stored target, if it is one.
    pub fn parse(stored: &str) -> Option<Target<'_>> {
        match stored.split_once(':')? {
            ("account", id) => Some(Target::Account(id)),
            ("campaign", id) => Some(Target::Campaign(id)),
            _ => None,
        }
    }

    /// `account` or `campaign`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Account(_) => "account",
            Target::Campaign(_) => "campaign",
        }
    }

    /// The account's or campaign's id.
    pub fn id(&self) -> &str {
        match self {
            Target::Account(id) | Target::Campaign(id) => id,
        }
    }
}

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

/// An account's verdict as published for decisions.
#[derive(Debug, Clone)]
pub struct Published {
    /// The engine's verdict.
    pub verdict: Verdict,
    /// The engine's score.
    pub score: f64,
    /// The campaign the account is reported in.
    pub campaign: Option<Arc<str>>,
    /// The signals behind the verdict.
    pub signals: Arc<[String]>,
    /// For an account that carries a campaign among its customers: what tells the
    /// campaign's requests from theirs.
    pub carried: Option<Arc<CarriedRequests>>,
}

/// The keys of blocked campaigns, as the last round left them.
#[derive(Debug, Default)]
pub struct BlockedCampaigns {
    /// The keys.
    pub blocklist: Blocklist,
    /// Campaign ids by root account.
    pub ids: HashMap<u32, Arc<str>>,
    /// How much each kind of key is worth as a link.
    pub strength: Option<KindTable>,
}

impl BlockedCampaigns {
    /// The blocked campaigns of `keys`, matched with the link strengths of `config`.
    pub fn stored(keys: BlockedKeys, config: &DetectConfig) -> Self {
        Self {
            blocklist: keys.blocklist,
            ids: keys
                .campaigns
                .into_iter()
                .map(|(root, id)| (root, Arc::from(id)))
                .collect(),
            strength: Some(config.linking.strength.clone()),
        }
    }
}

/// The shared state of the decision path.
pub struct Board {
    accounts: DashMap<Box<str>, Published>,
    blocked: ArcSwap<BlockedCampaigns>,
    overrides: DashMap<String, Override>,
    ready: AtomicBool,
    decisions_ready: AtomicBool,
    /// At the last start: exchanges restored from the engine's snapshot, and exchanges
    /// replayed from the records stored after it.
    started: (AtomicU64, AtomicU64),
    exchanges: AtomicU64,
    /// Accounts the engine has seen.
    seen: AtomicU64,
    /// Exchanges read at the stream's time because they lay too far ahead of it.
    clamped: AtomicU64,
    campaigns: AtomicU64,
    /// Event time of the latest exchange, in microseconds (`i64::MIN`: none yet).
    latest: AtomicI64,
}

impl Default for Board {
    fn default() -> Self {
        Self::new()
    }
}

impl Board {
    /// An empty board, not ready.
    pub fn new() -> Self {
        Self {
            accounts: DashMap::new(),
            blocked: ArcSwap::default(),
            overrides: DashMap::new(),
            ready: AtomicBool::new(false),
            decisions_ready: AtomicBool::new(false),
            started: (AtomicU64::new(0), AtomicU64::new(0)),
            exchanges: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            campaigns: AtomicU64::new(0),
            latest: AtomicI64::new(i64::MIN),
        }
    }

    /// Publishes verdicts.
    pub fn publish(&self, verdicts: Vec<AccountVerdict>) {
        for v in verdicts {
            self.accounts.insert(
                v.account_id.into_boxed_str(),
                Published {
                    verdict: v.verdict,
                    score: v.score,
                    campaign: v.campaign_id.map(Arc::from),
                    signals: v.signals.into(),
                    carried: v.carried.map(Arc::new),
                },
            );
        }
    }

    /// The published verdict of `account`.
    pub fn account(&self, account: &str) -> Option<Published> {
        self.accounts.get(account).map(|p| p.clone())
    }

    /// How many accounts the engine has seen (those without a published verdict yet
    /// included).
    pub fn accounts(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Replaces the blocked campaigns.
    pub fn set_blocked(&self, blocked: BlockedCampaigns) {
        self.blocked.store(Arc::new(blocked));
    }

    /// The blocked campaigns.
    pub fn blocked(&self) -> Arc<BlockedCampaigns> {
        self.blocked.load_full()
    }

    /// Sets or clears the manual decision on `target` (`account:<id>`, `campaign:<id>`).
    pub fn set_override(&self, target: &str, decision: Option<Override>) {
        match decision {
            Some(d) => {
                self.overrides.insert(target.to_owned(), d);
            }
            None => {
                self.overrides.remove(target);
            }
        }
    }

    /// The manual decision on `target`.
    pub fn override_of(&self, target: &str) -> Option<Override> {
        self.overrides.get(target).map(|d| d.clone())
    }

    /// Every manual decision standing, by target, in target order.
    pub fn overrides(&self) -> Vec<(String, Override)> {
        let mut all: Vec<(String, Override)> = self
            .overrides
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The manual decision on `target`, if any.
    pub fn override_for(&self, target: Target) -> Option<Override> {
        if self.overrides.is_empty() {
            return None;
        }
        self.override_of(&target.to_string())
    }

    /// Marks the stored verdicts and manual decisions published: decisions are right.
    pub fn set_decisions_ready(&self) {
        self.decisions_ready.store(true, Ordering::Release);
    }

    /// Whether decisions are taken on the stored verdicts and manual decisions.
    pub fn decisions_ready(&self) -> bool {
        self.decisions_ready.load(Ordering::Acquire)
    }

    /// Marks the engine caught up with the store, having restored `restored` exchanges
    /// from its snapshot and replayed `replayed` stored after it.
    pub fn set_ready(&self, restored: u64, replayed: u64) {
        self.started.0.store(restored, Ordering::Relaxed);
        self.started.1.store(replayed, Ordering::Relaxed);
        self.ready.store(true, Ordering::Release);
    }

    /// At the last start: exchanges restored from the engine's snapshot, and exchanges
    /// replayed from the records stored after it.
    pub fn started(&self) -> (u64, u64) {
        (
            self.started.0.load(Ordering::Relaxed),
            self.started.1.load(Ordering::Relaxed),
        )
    }

    /// Whether the engine has replayed the store.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Records the engine's counts.
    pub fn set_counts(&self, counts: Counts) {
        let Counts {
            exchanges,
            accounts,
            clamped,
            campaigns,
            latest_micros,
        } = counts;
        self.exchanges.store(exchanges, Ordering::Relaxed);
        self.seen.store(accounts, Ordering::Relaxed);
        self.clamped.store(clamped, Ordering::Relaxed);
        self.campaigns.store(campaigns, Ordering::Relaxed);
        if let Some(t) = latest_micros {
            self.latest.store(t, Ordering::Relaxed);
        }
    }

    /// Exchanges the engine has read.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// Exchanges read at the stream's time because they lay too far ahead of it.
    pub fn clamped(&self) -> u64 {
        self.clamped.load(Ordering::Relaxed)
    }

    /// Campaigns found in the last round.
    pub fn campaigns(&self) -> u64 {
        self.campaigns.load(Ordering::Relaxed)
    }

    /// Event time of the latest exchange read, in microseconds since the epoch.
    pub fn latest_micros(&self) -> Option<i64> {
        Some(self.latest.load(Ordering::Relaxed)).filter(|&t| t != i64::MIN)
    }
}

/// The engine's counts, as [`Board::set_counts`] takes them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Exchanges read.
    pub exchanges: u64,
    /// Accounts seen.
    pub accounts: u64,
    /// Exchanges read at the stream's time because they lay too far ahead of it.
    pub clamped: u64,
    /// Campaigns found in the last round.
    pub campaigns: u64,
    /// Event time of the latest exchange read, in microseconds since the epoch.
    pub latest_micros: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_stored_as_kind_and_id_and_read_back() {
        for target in [Target::Account("acct:1"), Target::Campaign("campaign-9")] {
            let stored = target.to_string();
            assert_eq!(Target::parse(&stored), Some(target));
        }
        assert_eq!(Target::Account("a").to_string(), "account:a");
        assert_eq!(Target::parse("team:x"), None);
        assert_eq!(Target::parse("account"), None);
    }
}
