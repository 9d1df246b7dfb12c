//! The detection settings: signal weights, the limits at which signals fire, how keys link
//! accounts, and the verdict thresholds. Every field has a default; `moat.toml`'s
//! `[detect]` section overrides any of them.

use serde::{Deserialize, Serialize};

use crate::clock::ClockConfig;
use crate::keys::KeyKind;
use crate::signal::{Signal, Weights};

/// Everything the engine can be tuned by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Score from which an account is watched.
    pub watch: f64,
    /// Score from which an account is blocked.
    pub block: f64,
    /// Event-time minutes between two rounds of linking and scoring.
    pub link_every_minutes: u32,
    /// What each signal adds to a score, in [0, 1].
    pub weights: Weights,
    /// Where signals fire.
    pub limits: Limits,
    /// How shared keys link accounts.
    pub linking: Linking,
    /// How timestamps far from the stream's time are read.
    pub clock: ClockConfig,
    /// How alike accounts are grouped, the second way into a campaign.
    pub likeness: LikenessConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            watch: 0.5,
            block: 0.8,
            link_every_minutes: 60,
            weights: Weights::default(),
            limits: Limits::default(),
            linking: Linking::default(),
            clock: ClockConfig::default(),
            likeness: LikenessConfig::default(),
        }
    }
}

impl DetectConfig {
    /// Checks the values are in range; says which one is not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0 < self.watch && self.watch <= self.block && self.block <= 1.0) {
            return Err(ConfigError(format!(
                "detect: need 0 < watch <= block <= 1, got watch = {} and block = {}",
                self.watch, self.block
            )));
        }
        if !(0.5..=1.0).contains(&self.limits.carried_min_probability) {
            return Err(ConfigError(format!(
                "detect.limits.carried_min_probability must be in [0.5, 1], got {}",
                self.limits.carried_min_probability
            )));
        }
        if !(1..=23).contains(&self.limits.quiet_hours) {
            return Err(ConfigError(format!(
                "detect.limits.quiet_hours must be from 1 to 23, got {}",
                self.limits.quiet_hours
            )));
        }
        if self.link_every_minutes == 0 {
            return Err(ConfigError(
                "detect.link_every_minutes must be at least 1".into(),
            ));
        }
        for signal in Signal::ALL {
            let w = self.weights.get(signal);
            if !(0.0..=1.0).contains(&w) {
                return Err(ConfigError(format!(
                    "detect.weights.{} must be in [0, 1], got {w}",
                    signal.name()
                )));
            }
        }
        Ok(())
    }
}

/// Why a detection configuration was refused: the setting and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Where each signal fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Exchanges needed before content and request-shape signals are read.
    pub min_exchanges: u32,
    /// Exchanges needed before timing signals are read (they also need two days).
    pub min_exchanges_for_rhythm: u32,
    /// Share of exchanges asking for reasoning.
    pub reasoning_share: f64,
    /// Share of exchanges asking for grading.
    pub grading_share: f64,
    /// Share of exchanges targeting code, agents, maths or long tasks.
    pub capability_share: f64,
    /// Mean similarity of consecutive prompts (0 to 1).
    pub template_similarity: f64,
    /// Share of one-shot exchanges.
    pub single_turn_share: f64,
    /// Share of exchanges in the quietest `quiet_hours` hours of the day...
    pub quiet_hours_share: f64,
    /// ...and how many hours those are.
    pub quiet_hours: u32,
    /// Largest coefficient of variation of the intervals that counts as machine-regular...
    pub cadence_variation: f64,
    /// ...read once this many intervals were seen (or `min_exchanges_for_rhythm`, if
    /// fewer).
    pub cadence_min_intervals: u32,
    /// Share of exchanges that must say their temperature for `constant_temperature` to
    /// read it.
    pub temperature_known_share: f64,
    /// Share of a profile's accounts that must show an account's fact (young, opened
    /// through a programme, matching partners' indicators) for its signal to fire.
    pub account_fact_share: f64,
    /// `max_tokens` from which a request counts as asking for a huge answer.
    pub large_max_tokens: u64,
    /// Share of heavy requests (a huge `max_tokens`, or extended thinking on).
    pub heavy_requests_share: f64,
    /// Output over input tokens.
    pub output_ratio: f64,
    /// Days between opening and first use under which an account counts as young.
    pub young_days: f64,
    /// Days between opening and first use under which an account counts as new to the
    /// provider (for groups: opened for the job rather than a customer of long standing).
    pub new_account_days: f64,
    /// Share of a group's accounts that must be new for `new_accounts` to fire...
    pub new_accounts_share: f64,
    /// ...and the largest chance that as many of as many accounts drawn from the
    /// population at random would be new.
    pub new_accounts_chance: f64,
    /// The largest chance that accounts drawn from the population at random came into
    /// use as much later than the population as a group's did (`late_start`).
    pub late_start_chance: f64,
    /// Share of a group's accounts (of those seen `min_exchanges` times) that must never
    /// have sent an earlier turn for `no_follow_ups` to fire...
    pub no_follow_ups_share: f64,
    /// ...and the largest share of the population's accounts like them (firing the
    /// group's strong signals on their own) that never did: where most such customers
    /// send one-shot requests, never following up says nothing.
    pub no_follow_ups_population: f64,
    /// Share of accounts that moved to a new model within a day of its release.
    pub model_move_share: f64,
    /// Share of unverified accounts (among those whose verification is known).
    pub unverified_share: f64,
    /// Share of a cluster's accounts opened within one day.
    pub signup_wave_share: f64,
    /// Share of a cluster's accounts that hold the cluster's template.
    pub shared_template_share: f64,
    /// Largest coefficient of variation of exchanges per active day across a cluster.
    pub load_balance_variation: f64,
    /// Share of the days they exist on which a cluster's accounts are active, for them to
    /// count as acting together (and their shared evidence to be corroborated).
    pub coordinated_activity_share: f64,
    /// Accounts a cluster needs before its structure is evidence.
    pub min_cluster: u32,
    /// Exchanges an account carrying many senders' traffic needs before it is compared
    /// with the blocked campaigns (`carries_campaign`)...
    pub carrier_min_exchanges: u32,
    /// ...and the share of its traffic a campaign must make up, at the lower end of the
    /// estimate's 90 % interval, for the account to be put on watch with it (twice this
    /// where too few such accounts are seen to read their customers from).
    pub carrier_min_share: f64,
    /// On such an account, the probability from which a request counts as its campaign's
    /// ([`requests`](crate::requests)): stopped by `moat serve` while the account's other
    /// requests go through.
    pub carried_min_probability: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_exchanges: 5,
            min_exchanges_for_rhythm: 40,
            reasoning_share: 0.4,
            grading_share: 0.3,
            capability_share: 0.8,
            template_similarity: 0.35,
            single_turn_share: 0.95,
            quiet_hours_share: 0.12,
            quiet_hours: 6,
            cadence_variation: 0.5,
            cadence_min_intervals: 20,
            temperature_known_share: 0.9,
            account_fact_share: 0.5,
            large_max_tokens: 8000,
            heavy_requests_share: 0.8,
            output_ratio: 20.0,
            young_days: 3.0,
            new_account_days: 60.0,
            new_accounts_share: 0.5,
            new_accounts_chance: 0.001,
            late_start_chance: 0.001,
            no_follow_ups_share: 0.9,
            no_follow_ups_population: 0.5,
            model_move_share: 0.3,
            unverified_share: 0.8,
            signup_wave_share: 0.5,
            shared_template_share: 0.5,
            load_balance_variation: 0.4,
            coordinated_activity_share: 0.6,
            min_cluster: 5,
            carrier_min_exchanges: 200,
            carrier_min_share: 0.05,
            carried_min_probability: 0.5,
        }
    }
}

/// How keys link accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Linking {
    /// Per key kind, the most accounts that may share a key for it to link them while they
    /// are too new to judge (used only for kinds of strength 1: a card, an address). Once
    /// judged, holders link only when nearly all of them are suspicious.
    pub rare: KindTable,
    /// Per key kind, how much one shared key says that two accounts have one operator.
    /// An account takes its cluster's evidence when its shared keys add up to 1.
    pub strength: KindTable,
    /// Score from which an account counts as suspicious on its own, for linking.
    pub suspicion: f64,
    /// Share of a key's judged holders that must be suspicious for it to link them.
    pub suspicious_share: f64,
    /// Clusters with at least this many accounts acting together (coordinated activity)
    /// count their merged content and request signals twice (weight `1 - (1 - w)^2`): a
    /// behaviour seen across that many accounts of one operation is far less likely to be
    /// chance than in one.
    pub corroborating_accounts: u32,
}

impl Default for Linking {
    fn default() -> Self {
        Self {
            rare: KindTable {
                payment: 50.0,
                email_domain: 50.0,
                signup_hour: 0.0,
                ip: 20.0,
                prefix: 20.0,
                client: 0.0,
                system_prompt: 20.0,
                template: 5.0,
            },
            strength: KindTable {
                payment: 1.0,
                email_domain: 0.5,
                signup_hour: 0.3,
                ip: 1.0,
                prefix: 0.3,
                client: 0.2,
                system_prompt: 0.5,
                template: 0.5,
            },
            suspicion: 0.35,
            suspicious_share: 0.8,
            corroborating_accounts: 20,
        }
    }
}

/// How alike accounts are grouped ([`likeness`](crate::likeness)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LikenessConfig {
    /// Own score from which an account is compared with others for likeness.
    pub min_score: f64,
    /// Exchanges an account needs before its fingerprint is compared.
    pub min_exchanges: u32,
    /// Accounts a group of alike accounts (or an island) needs before it is judged. Such a
    /// group counts as an operation only when so many of its accounts are new that chance
    /// would seldom make them so (`new_accounts_chance`), which a small group passes only
    /// where new accounts are rare.
    pub min_members: u32,
    /// Exchanges from which an account that is not suspicious enough, or not seen enough,
    /// to found a group may still join one, when it lies within the group's reach.
    pub join_min_exchanges: u32,
    /// Two accounts are alike when closer than this share of pairs of accounts drawn from
    /// the population at random...
    pub stranger_quantile: f64,
    /// ...and closer than this, in the population's units.
    pub max_distance: f64,
    /// Bands of the similarity search: more finds more alike pairs, at more cost.
    pub bands: u32,
    /// Random projections per band: more makes buckets finer.
    pub projections: u32,
    /// Members of a bucket each account is compared with.
    pub peers: u32,
    /// Rounds between two searches (the groups found are judged again, and accounts that
    /// fit them join them, every round).
    pub every_rounds: u32,
    /// An island (accounts that stand apart from all others) is sought among accounts
    /// linked within this multiple of the alike distance...
    pub island_reach: f64,
    /// ...and holds when no other account lies within this multiple of its longest link
    /// of any of its members.
    pub island_margin: f64,
}

impl Default for LikenessConfig {
    fn default() -> Self {
        Self {
            min_score: 0.25,
            min_exchanges: 5,
            min_members: 4,
            join_min_exchanges: 3,
            stranger_quantile: 0.05,
            max_distance: 0.9,
            bands: 12,
            projections: 4,
            peers: 8,
            every_rounds: 4,
            island_reach: 2.0,
            island_margin: 1.2,
        }
    }
}

/// One number per key kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindTable {
    /// Payment fingerprints.
    pub payment: f64,
    /// Non-personal e-mail domains.
    pub email_domain: f64,
    /// Sign-up hours.
    pub signup_hour: f64,
    /// Client addresses.
    pub ip: f64,
    /// Client networks.
    pub prefix: f64,
    /// Client software.
    pub client: f64,
    /// System prompts.
    pub system_prompt: f64,
    /// Template bands.
    pub template: f64,
}

impl KindTable {
    /// The number for `kind`.
    pub fn get(&self, kind: KeyKind) -> f64 {
        match kind {
            KeyKind::Payment => self.payment,
            KeyKind::EmailDomain => self.email_domain,
            KeyKind::SignupHour => self.signup_hour,
            KeyKind::Ip => self.ip,
            KeyKind::Prefix => self.prefix,
            KeyKind::Client => self.client,
            KeyKind::SystemPrompt => self.system_prompt,
            KeyKind::Template => self.template,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_partial_files_fill_in() {
        DetectConfig::default().validate().unwrap();
        let c: DetectConfig =
            serde_json::from_str(r#"{"block": 0.9, "weights": {"no_sleep": 0.5}}"#).unwrap();
        assert_eq!(c.block, 0.9);
        assert_eq!(c.weights.no_sleep, 0.5);
        assert_eq!(c.weights.reasoning_asks, Weights::default().reasoning_asks);
        assert!(serde_json::from_str::<DetectConfig>(r#"{"weights": {"nosleep": 1}}"#).is_err());
        let bad = DetectConfig {
            watch: 0.9,
            block: 0.5,
            ..DetectConfig::default()
        };
        assert!(bad.validate().unwrap_err().0.contains("watch"));
    }
}
