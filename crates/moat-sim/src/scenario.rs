//! Scenarios: the traffic to simulate, as data (TOML). Every key has a default, so a file
//! says only what differs; built-in scenarios ship inside moat.

use serde::{Deserialize, Serialize};

use crate::text::Focus;

/// A whole simulation: a benign population, the models it uses, and campaigns hidden in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name.
    pub name: String,
    /// What the scenario shows, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// When the simulated traffic starts (RFC 3339).
    #[serde(default = "default_start")]
    pub start: String,
    /// How many days it lasts.
    #[serde(default = "default_days")]
    pub days: f64,
    /// The benign customer base.
    #[serde(default)]
    pub population: Population,
    /// The models on offer.
    #[serde(default)]
    pub models: Models,
    /// The campaigns hidden in the traffic.
    #[serde(default, rename = "campaign")]
    pub campaigns: Vec<CampaignSpec>,
}

fn default_start() -> String {
    "2026-03-02T00:00:00Z".to_owned()
}

fn default_days() -> f64 {
    60.0
}

/// The benign customer base. Counts are at scale 1 and multiply by `--scale`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Population {
    /// Benign accounts.
    pub accounts: f64,
    /// Shares of the accounts by kind (normalised to sum 1).
    pub mix: Mix,
    /// Mean exchanges a day of an individual (a heavy-tailed spread around it).
    pub individual_rate: f64,
    /// Smallest and largest enterprise team, in accounts at scale 1.
    pub enterprise_team: [f64; 2],
    /// Smallest and largest university, in accounts at scale 1.
    pub university: [f64; 2],
}

impl Default for Population {
    fn default() -> Self {
        Self {
            accounts: 1_000_000.0,
            mix: Mix::default(),
            individual_rate: 0.5,
            enterprise_team: [10.0, 300.0],
            university: [300.0, 3000.0],
        }
    }
}

/// Shares of the benign accounts by kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mix {
    /// People using the API from their own scripts and apps.
    pub individual: f64,
    /// Developers and their coding agents: tool use, long sessions, work hours.
    pub developer: f64,
    /// Power users: hard questions with extended thinking on, huge `max_tokens`, and often
    /// an ask to show the steps.
    pub power_user: f64,
    /// Application backends: one product system prompt, many end users, 24/7.
    pub app_backend: f64,
    /// Members of enterprise teams sharing an org, a NAT, a card and an e-mail domain.
    pub enterprise: f64,
    /// Students signed up through education programmes, behind campus NATs.
    pub university: f64,
    /// Evaluation harnesses: a benchmark of templated prompts in a burst.
    pub eval_harness: f64,
    /// Scheduled automation: the same job every few minutes, day and night.
    pub automation: f64,
    /// Resellers serving many end users through one account.
    pub reseller: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            individual: 0.7175,
            developer: 0.12,
            power_user: 0.03,
            app_backend: 0.0015,
            enterprise: 0.07,
            university: 0.06,
            eval_harness: 0.0006,
            automation: 0.0001,
            reseller: 0.0003,
        }
    }
}

/// The models on offer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Models {
    /// The flagship most traffic goes to.
    pub current: String,
    /// Older or smaller models some traffic goes to.
    pub others: Vec<String>,
    /// A model released during the scenario, if any.
    pub new_model: Option<String>,
    /// The day (from the start) the new model is released.
    pub release_day: f64,
}

impl Default for Models {
    fn default() -> Self {
        Self {
            current: "frontier-2".to_owned(),
            others: vec!["frontier-mini-2".to_owned(), "frontier-1".to_owned()],
            new_model: Some("frontier-3".to_owned()),
            release_day: 30.0,
        }
    }
}

/// A distillation campaign. Counts are at scale 1: accounts scale (with a floor, so a
/// small campaign stays a campaign), per-account rates do not.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// Its id in `truth.csv` (`hydra:ID`).
    pub id: String,
    /// What it harvests.
    pub focus: Focus,
    /// Exchanges over the whole campaign.
    pub exchanges: f64,
    /// Accounts running at once.
    pub accounts: f64,
    /// The day (from the start) it begins.
    #[serde(default = "default_campaign_start")]
    pub start_day: f64,
    /// How many days it runs.
    pub days: f64,
    /// Proxy addresses it spreads requests over (0: each account keeps one address).
    #[serde(default)]
    pub proxy_ips: f64,
    /// Payment fingerprints shared by its accounts (0: one card per account).
    #[serde(default)]
    pub cards: u32,
    /// Sign-up channels its accounts come through.
    #[serde(default = "default_channels")]
    pub signup_channels: Vec<String>,
    /// How many waves its accounts sign up in.
    #[serde(default = "default_waves")]
    pub signup_waves: u32,
    /// Days an account lives before it is banned or dropped and replaced at once (0: never).
    #[serde(default)]
    pub account_lifetime_days: f64,
    /// Share of its exchanges sent through resellers, mixed with their customers' traffic.
    #[serde(default)]
    pub resold_share: f64,
    /// The reseller networks that carry its resold share.
    #[serde(default)]
    pub resale: Resale,
    /// Share of its traffic moved to the new model within a day of its release.
    #[serde(default)]
    pub model_switch_share: f64,
    /// How hard it tries not to be seen.
    #[serde(default)]
    pub evasion: Evasion,
}

fn default_campaign_start() -> f64 {
    7.0
}

fn default_channels() -> Vec<String> {
    vec!["self_serve".to_owned()]
}

fn default_waves() -> u32 {
    3
}

/// The reseller networks that carry a campaign's resold share: each network runs several
/// accounts that resell access, sends from its own pool of egress addresses, and mixes the
/// campaign's requests with its own customers'.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Resale {
    /// Reseller networks.
    pub networks: u32,
    /// Reseller accounts per network at scale 1 (scaled, at least one).
    pub accounts: f64,
    /// Range of the share of a reseller account's traffic that is its own customers'
    /// (each account draws one).
    pub customer_share: [f64; 2],
    /// Range of the number of egress addresses a network sends from (each draws one).
    pub egress_ips: [u32; 2],
    /// Share of the campaign's days over which its resold accounts come into use, so that
    /// the campaign's share of a reseller's traffic grows over time (0: all at the start).
    pub ramp: f64,
}

impl Default for Resale {
    fn default() -> Self {
        Self {
            networks: 1,
            accounts: 1.0,
            customer_share: [0.4, 0.8],
            egress_ips: [1, 1],
            ramp: 0.0,
        }
    }
}

/// Evasion knobs of a campaign; all off by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Evasion {
    /// Share (0 to 1) of template wording each account changes: 0 keeps the campaign's house
    /// wording on every account; above 0 each account words its templates its own way and
    /// rewords that share of its requests afresh.
    pub paraphrase: f64,
    /// Send in human-like sessions during waking hours instead of round the clock.
    pub human_timing: bool,
    /// Give each account an address of its own (residential, not shared).
    pub unique_ips: bool,
    /// Give each account a card of its own.
    pub unique_cards: bool,
    /// Share (0 to 1) of requests that are ordinary benign-looking prompts.
    pub filler: f64,
    /// Multiplies each account's rate (below 1 to throttle); 0 means 1.
    pub throttle: f64,
    /// Use varied client SDKs and TLS fingerprints, as the population does.
    pub varied_clients: bool,
    /// Sign accounts up spread over weeks before the campaign instead of in waves.
    pub slow_signups: bool,
    /// Run the campaign through aged accounts (bought from their owners, or opened long
    /// before): each opened as long before its use as customers' accounts are, up to about
    /// two years.
    pub aged_accounts: bool,
    /// No house wording at all: tasks written as people write theirs (or drawn from
    /// `--prompts`), asks composed afresh per request from an open vocabulary (some in other
    /// languages, some in the system prompt), a system prompt of each account's own.
    pub open_wording: bool,
    /// Share (0 to 1) of its days on which an account is active; 0 means every day.
    pub active_day_share: f64,
    /// Spread (log-normal sigma) of volume across accounts; 0 means all alike.
    pub volume_sigma: f64,
    /// Request settings (`max_tokens`, temperature, the reasoning switch) chosen as a
    /// developer's are, not the campaign's own.
    pub ordinary_requests: bool,
}

/// A built-in scenario's name and TOML text.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("population", include_str!("../scenarios/population.toml")),
    ("hydra-150k", include_str!("../scenarios/hydra-150k.toml")),
    ("hydra-3m", include_str!("../scenarios/hydra-3m.toml")),
    ("hydra-13m", include_str!("../scenarios/hydra-13m.toml")),
    ("hydra-29m", include_str!("../scenarios/hydra-29m.toml")),
    (
        "evasive-150k",
        include_str!("../scenarios/evasive-150k.toml"),
    ),
    ("evasive-3m", include_str!("../scenarios/evasive-3m.toml")),
    ("evasive-13m", include_str!("../scenarios/evasive-13m.toml")),
    ("evasive-29m", include_str!("../scenarios/evasive-29m.toml")),
    ("covert-150k", include_str!("../scenarios/covert-150k.toml")),
    ("covert-3m", include_str!("../scenarios/covert-3m.toml")),
    ("covert-29m", include_str!("../scenarios/covert-29m.toml")),
    (
        "covert-aged-3m",
        include_str!("../scenarios/covert-aged-3m.toml"),
    ),
    (
        "covert-standing-3m",
        include_str!("../scenarios/covert-standing-3m.toml"),
    ),
    ("resold-3m", include_str!("../scenarios/resold-3m.toml")),
];

/// Why a scenario could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Neither a built-in name nor a readable file.
    #[error("no built-in scenario {0:?} and no such file (built-in: {names})", names = BUILT_IN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))]
    Unknown(String),
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The TOML is not a scenario.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file or built-in name.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Scenario {
    /// A built-in scenario by name, or a scenario file by path.
    pub fn load(name_or_path: &str) -> Result<Self, ScenarioError> {
        if let Some((name, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(text, name);
        }
        let path = std::path::Path::new(name_or_path);
        if !path.exists() {
            return Err(ScenarioError::Unknown(name_or_path.to_owned()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: name_or_path.to_owned(),
            source,
        })?;
        Self::parse(&text, name_or_path)
    }

    /// Reads a scenario from TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let invalid = |reason: String| ScenarioError::Invalid {
            path: origin.to_owned(),
            reason,
        };
        let scenario: Scenario = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        scenario.validate().map_err(invalid)?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), String> {
        moat_core::EventTime::parse_rfc3339(&self.start).map_err(|e| format!("start: {e}"))?;
        if !(self.days > 0.0 && self.days <= 3650.0) {
            return Err("days must be between 0 and 3650".to_owned());
        }
        if self.population.accounts < 0.0 {
            return Err("population.accounts must not be negative".to_owned());
        }
        for c in &self.campaigns {
            let what = |field: &str| format!("campaign {}: {field}", c.id);
            if c.accounts < 1.0 || c.exchanges < 1.0 || c.days <= 0.0 {
                return Err(what(
                    "accounts and exchanges must be at least 1, days above 0",
                ));
            }
            for (share, name) in [
                (c.resold_share, "resold_share"),
                (c.model_switch_share, "model_switch_share"),
                (c.evasion.paraphrase, "evasion.paraphrase"),
                (c.evasion.filler, "evasion.filler"),
                (c.evasion.active_day_share, "evasion.active_day_share"),
            ] {
                if !(0.0..=1.0).contains(&share) {
                    return Err(what(&format!("{name} must be between 0 and 1")));
                }
            }
            let r = &c.resale;
            if r.networks == 0 || r.networks > 1000 || r.accounts.is_nan() || r.accounts < 1.0 {
                return Err(what(
                    "resale.networks must be 1 to 1000 and resale.accounts at least 1",
                ));
            }
            let [low, high] = r.customer_share;
            if !(0.0 <= low && low <= high && high < 1.0) {
                return Err(what(
                    "resale.customer_share must be a range within 0 to 1 (below 1)",
                ));
            }
            let [low, high] = r.egress_ips;
            if !(1 <= low && low <= high && high <= 65_000) {
                return Err(what("resale.egress_ips must be a range within 1 to 65000"));
            }
            if !(0.0..=1.0).contains(&r.ramp) {
                return Err(what("resale.ramp must be between 0 and 1"));
            }
            if !(0.0..=4.0).contains(&c.evasion.volume_sigma) {
                return Err(what("evasion.volume_sigma must be between 0 and 4"));
            }
            if c.evasion.throttle < 0.0 {
                return Err(what("evasion.throttle must not be negative"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_scenario_parses() {
        for (name, _) in BUILT_IN {
            let s = Scenario::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&s.name, name);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Scenario::load("no-such-scenario").unwrap_err().to_string();
        assert!(e.contains("hydra-29m"), "{e}");
        let e = Scenario::parse("name = \"x\"\ndayz = 3\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.toml") && e.contains("dayz"), "{e}");
        let bad = "name = \"x\"\n[[campaign]]\nid = \"c\"\nfocus = \"agentic\"\nexchanges = 10\naccounts = 2\ndays = 1\nresold_share = 2\n";
        let e = Scenario::parse(bad, "f.toml").unwrap_err().to_string();
        assert!(e.contains("resold_share"), "{e}");
    }
}
