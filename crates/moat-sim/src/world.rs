//! The simulated world: its accounts, the campaigns' shared state, and the ground truth.

use std::collections::HashMap;
use std::sync::Arc;

use compact_str::CompactString;
use moat_core::{AccountInfo, EventTime};
use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand_distr::{Distribution, LogNormal};

use crate::identity::{
    CLIENTS, CLOUD_ASNS, Identity, bulk_domain, card, company_domain, country, mix, opaque_id,
    public_ipv4,
};
use crate::rhythm::{DAY, HOUR, MINUTE};
use crate::scenario::Models;
use crate::text::{Corpus, Focus};

/// What an account really is: a row of `truth.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthRow {
    /// The account.
    pub account_id: String,
    /// `benign`, `hydra` (a campaign's own account), or `mixed` (a reseller carrying a
    /// campaign's traffic beside its customers').
    pub label: &'static str,
    /// The population group (`individual`, `enterprise:ORG`, `university:DOMAIN`, ...) or
    /// the campaign (`hydra:ID`).
    pub group: String,
    /// The share of the account's exchanges that are its campaign's: 1 for a campaign's own
    /// account, the share made so far for a reseller carrying one, none for a customer.
    pub campaign_share: Option<f64>,
}

/// A campaign's state shared by all its account slots.
#[derive(Debug)]
pub(crate) struct CampaignState {
    pub index: usize,
    pub id: String,
    pub seed: u64,
    pub focus: Focus,
    pub per_day: f64,
    pub start: i64,
    pub end: i64,
    pub proxy_pool: u64,
    pub proxy_seed: u64,
    pub cards: u64,
    pub unique_cards: bool,
    pub unique_ips: bool,
    pub varied_clients: bool,
    pub slow_signups: bool,
    pub aged_accounts: bool,
    pub channels: Vec<String>,
    pub waves: Vec<i64>,
    pub edu_domains: Vec<String>,
    pub lifetime: i64,
    pub filler: f64,
    pub paraphrase: f64,
    pub human_timing: bool,
    pub open_wording: bool,
    pub active_day_share: f64,
    pub volume_sigma: f64,
    pub ordinary_requests: bool,
    pub switch_at: Option<i64>,
    pub switch_share: f64,
    pub client: (&'static str, &'static str),
    /// The last cell of the task space handed out ([`CampaignState::next_cell`]).
    pub cell: u64,
}

impl CampaignState {
    /// The next cell of the campaign's sweep of its task space.
    pub fn next_cell(&mut self) -> u64 {
        self.cell += 1;
        self.cell
    }
}

/// Everything actors share.
pub(crate) struct World {
    pub seed: u64,
    /// Seeds the campaigns (see [`SimOptions::operator_seed`](crate::SimOptions)).
    pub operator_seed: u64,
    pub models: Models,
    pub campaigns: Vec<CampaignState>,
    pub corpus: Option<Arc<Corpus>>,
    pub truth: Vec<TruthRow>,
    /// Resellers carrying a campaign: their row of the truth, and their campaign's and all
    /// exchanges so far.
    mixed: HashMap<CompactString, (usize, [u64; 2])>,
    requests: u64,
    accounts: u64,
}

/// Counts scaled, never below `floor` when the unscaled count is positive.
pub(crate) fn scaled(count: f64, scale: f64, floor: f64) -> u64 {
    if count <= 0.0 {
        return 0;
    }
    (count * scale).round().max(floor) as u64
}

pub(crate) fn lognormal_with_mean<R: Rng>(rng: &mut R, mean: f64, sigma: f64) -> f64 {
    let mu = mean.max(1e-9).ln() - sigma * sigma / 2.0;
    LogNormal::new(mu, sigma).expect("valid").sample(rng)
}

impl World {
    /// A world with no campaigns and no accounts yet.
    pub fn new(seed: u64, operator_seed: u64, models: Models, corpus: Option<Arc<Corpus>>) -> Self {
        Self {
            seed,
            operator_seed,
            models,
            campaigns: Vec::new(),
            corpus,
            truth: Vec::new(),
            mixed: HashMap::new(),
            requests: 0,
            accounts: 0,
        }
    }

    pub fn next_request(&mut self) -> u64 {
        self.requests += 1;
        self.requests
    }

    pub fn new_account_id(&mut self) -> CompactString {
        self.accounts += 1;
        opaque_id("acct", self.seed, self.accounts)
    }

    pub fn record(&mut self, account_id: &str, label: &'static str, group: String) {
        let campaign_share = match label {
            "hydra" => Some(1.0),
            "mixed" => {
                self.mixed
                    .insert(account_id.into(), (self.truth.len(), [0, 0]));
                Some(0.0)
            }
            _ => None,
        };
        self.truth.push(TruthRow {
            account_id: account_id.to_owned(),
            label,
            group,
            campaign_share,
        });
    }

    /// Counts an exchange of a reseller carrying a campaign, the campaign's or its own
    /// customers', in the account's true campaign share.
    pub fn count_mixed(&mut self, account_id: &str, campaign: bool) {
        if self.mixed.is_empty() {
            return;
        }
        if let Some((row, [carried, all])) = self.mixed.get_mut(account_id) {
            *carried += u64::from(campaign);
            *all += 1;
            self.truth[*row].campaign_share = Some(*carried as f64 / *all as f64);
        }
    }

    /// A fresh account for slot `slot` of campaign `c` (its `generation`-th), at `now`.
    pub fn campaign_identity(
        &mut self,
        c: usize,
        slot: u64,
        generation: u32,
        now: i64,
        rng: &mut SmallRng,
    ) -> Identity {
        let account_id = self.new_account_id();
        let state = &self.campaigns[c];
        let created_at = if state.aged_accounts {
            now.min(state.start) - rng.random_range(0..700 * DAY)
        } else if generation > 0 {
            if state.slow_signups {
                now - rng.random_range(DAY..20 * DAY)
            } else {
                now - rng.random_range(5 * MINUTE..6 * HOUR)
            }
        } else if state.slow_signups {
            state.start - rng.random_range(3 * DAY..60 * DAY)
        } else {
            let wave = *state.waves.choose(rng).unwrap_or(&state.start);
            wave + rng.random_range(0..2 * HOUR)
        };
        let channel = state
            .channels
            .choose(rng)
            .cloned()
            .unwrap_or_else(|| "self_serve".to_owned());
        let email_domain = if channel == "education" && !state.edu_domains.is_empty() {
            state.edu_domains.choose(rng).cloned().unwrap_or_default()
        } else if state.slow_signups && rng.random_bool(0.3) {
            company_domain(rng.random(), slot)
        } else {
            bulk_domain(rng)
        };
        let payment = if state.unique_cards {
            card(self.seed ^ 0xfeed, mix(slot, generation as u64) ^ c as u64)
        } else {
            card(state.seed, rng.random_range(0..state.cards.max(1)))
        };
        let home = country(rng);
        let (ip, asn) = if state.unique_ips {
            (
                public_ipv4(mix(state.seed ^ 0x1e5, mix(slot, generation as u64))),
                home.isps[rng.random_range(0..home.isps.len())],
            )
        } else {
            (public_ipv4(state.proxy_seed), CLOUD_ASNS[0])
        };
        let (user_agent, tls) = if state.varied_clients {
            *CLIENTS.choose(rng).unwrap_or(&CLIENTS[0])
        } else {
            state.client
        };
        let group = format!("hydra:{}", state.id);
        let identity = Identity {
            api_key_id: key_id(&account_id).into(),
            account_id: account_id.clone(),
            org_id: None,
            account: AccountInfo {
                created_at: EventTime::from_unix_micros(created_at),
                signup_channel: Some(channel.into()),
                email_domain: Some(email_domain.into()),
                payment_fingerprint: Some(payment),
                verified: Some(rng.random_bool(0.05)),
            },
            ip,
            hosts: 1,
            asn,
            country: home.code,
            utc_offset: home.utc_offset,
            user_agent,
            tls,
        };
        self.record(&account_id, "hydra", group);
        identity
    }
}

/// The id of the key an account sends with, derived from the account's.
pub(crate) fn key_id(account_id: &str) -> String {
    format!(
        "key_{}",
        account_id
            .trim_start_matches("acct_")
            .get(..8)
            .unwrap_or(account_id)
    )
}
