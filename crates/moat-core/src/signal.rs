//! The signals: named pieces of evidence, each with a weight, read off a
//! [`Profile`](crate::profile::Profile) (one account's, or a cluster's merged) and off a
//! cluster's structure.
//!
//! Scores combine as a noisy-OR: `score = 1 - Π (1 - weight)` over the signals that fired,
//! so every signal's share of a verdict is its weight and no single weak signal can block.

use serde::{Deserialize, Serialize};

/// How far a signal reads: one account's own traffic and facts (as well as a cluster's
/// merged ones), or how a cluster's accounts relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    Account,
    Cluster,
}

/// The table of signals: per row, its doc, its variant, its name (in `accounts.csv`,
/// reports and `[detect.weights]`), its default weight, how far it reads and what it
/// says of the value it measured. A new signal is one row here and the place where it
/// fires.
macro_rules! signals {
    ($(
        $(#[doc = $doc:expr])*
        $variant:ident $name:ident: $weight:expr, $reads:ident, |$value:ident| $says:expr;
    )*) => {
        /// A named piece of evidence.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Signal {
            $($(#[doc = $doc])* $variant,)*
        }

        /// How many signals there are.
        pub const SIGNALS: usize = [$(Signal::$variant),*].len();

        impl Signal {
            /// Every signal, in a fixed order.
            pub const ALL: [Signal; SIGNALS] = [$(Signal::$variant),*];

            /// The name used in `accounts.csv`, reports and the configuration.
            pub fn name(self) -> &'static str {
                match self {
                    $(Signal::$variant => stringify!($name),)*
                }
            }

            /// Whether the signal is read off one account's own traffic and facts (as
            /// well as off a cluster's merged ones), rather than off how a cluster's
            /// accounts relate.
            pub fn of_account(self) -> bool {
                match self {
                    $(Signal::$variant => Reads::$reads == Reads::Account,)*
                }
            }

            /// What the signal saw, in words, given the value it measured.
            pub fn describe(self, value: f64) -> String {
                match self {
                    $(Signal::$variant => {
                        let $value = value;
                        $says
                    })*
                }
            }
        }

        /// The weight of each signal, named as in `accounts.csv`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Weights {
            $(
                #[doc = concat!("Weight of `", stringify!($name), "`.")]
                pub $name: f64,
            )*
        }

        impl Default for Weights {
            fn default() -> Self {
                Self { $($name: $weight,)* }
            }
        }

        impl Weights {
            /// The weight of `signal`.
            pub fn get(&self, signal: Signal) -> f64 {
                match signal {
                    $(Signal::$variant => self.$name,)*
                }
            }
        }
    };
}

/// A share as evidence words give it: whole percent.
fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

signals! {
    /// Requests ask the model to write out its reasoning (or turn extended thinking on).
    ReasoningAsks reasoning_asks: 0.3, Account,
        |value| format!("{} of exchanges ask for written-out reasoning", pct(value));
    /// Requests use the model as a grader or reward model.
    GradingAsks grading_asks: 0.3, Account,
        |value| format!("{} of exchanges ask the model to grade", pct(value));
    /// Requests concentrate on the capabilities campaigns target (code, agents, maths).
    CapabilityFocus capability_focus: 0.1, Account,
        |value| format!("{} of exchanges target code, agents or maths", pct(value));
    /// Consecutive prompts are cut from one template.
    TemplateReuse template_reuse: 0.15, Account,
        |value| format!("consecutive prompts are {} alike (template shingles)", pct(value));
    /// Nearly every exchange is a one-shot request, never a conversation.
    SingleTurn single_turn: 0.1, Account,
        |value| format!("{} of exchanges are one-shot", pct(value));
    /// Activity goes on through every hour of the day: nobody sleeps.
    NoSleep no_sleep: 0.3, Account,
        |value| format!("{} of exchanges fall in the quietest six hours of the day", pct(value));
    /// Requests come at machine-regular intervals.
    RegularCadence regular_cadence: 0.15, Account,
        |value| format!("intervals between requests vary by only {} of their mean", pct(value));
    /// Nearly every request asks for a huge answer (`max_tokens` near the ceiling, or
    /// extended thinking on).
    HeavyRequests heavy_requests: 0.05, Account,
        |value| format!(
            "{} of requests ask for huge answers (max_tokens or extended thinking)",
            pct(value)
        );
    /// The same sampling temperature on every request.
    ConstantTemperature constant_temperature: 0.05, Account,
        |value| format!("one temperature ({value:.2}) on every request");
    /// Answers far longer than the questions, at volume.
    LongOutputs long_outputs: 0.05, Account,
        |value| format!("answers are {value:.1}x as long as the prompts");
    /// Moved to a newly released model within a day of its release.
    EarlyModelMove early_model_move: 0.1, Account,
        |value| format!(
            "{} of accounts moved to a new model within a day of its release",
            pct(value)
        );
    /// The account was opened days or hours before its first use.
    YoungAccount young_account: 0.1, Account,
        |value| format!("{} of accounts were first used within days of being opened", pct(value));
    /// Opened through an education, research or startup programme.
    ProgramSignup program_signup: 0.05, Account,
        |value| format!(
            "{} of accounts opened through education, research or startup programmes",
            pct(value)
        );
    /// Identity or organisation verification not passed.
    Unverified unverified: 0.05, Account,
        |value| format!("{} of accounts unverified", pct(value));
    /// Linked to other accounts by rare shared keys.
    LinkedAccounts linked_accounts: 0.1, Cluster,
        |value| format!("{value:.0} accounts linked by shared keys");
    /// The linked accounts were opened in one burst.
    SignupWave signup_wave: 0.2, Cluster,
        |value| format!("{} of the linked accounts opened within one day", pct(value));
    /// The linked accounts send prompts cut from the same templates.
    SharedTemplate shared_template: 0.3, Cluster,
        |value| format!(
            "{} of the linked accounts share prompt templates with the others",
            pct(value)
        );
    /// Volume spread evenly across the linked accounts.
    LoadBalanced load_balanced: 0.2, Cluster,
        |value| format!(
            "volume per account varies by only {} across the linked accounts",
            pct(value)
        );
    /// The linked accounts are active on nearly every day they exist, together.
    CoordinatedActivity coordinated_activity: 0.1, Cluster,
        |value| format!("the linked accounts are active on {} of the days they exist", pct(value));
    /// The linked accounts moved to a new model together.
    SynchronisedModelMove synchronised_model_move: 0.2, Cluster,
        |value| format!(
            "{} of the linked accounts moved to a new model within a day of its release",
            pct(value)
        );
    /// Accounts that share no key behave and ask far more alike than the population's
    /// accounts do with one another.
    AlikeAccounts alike_accounts: 0.3, Cluster,
        |value| format!(
            "{value:.0} accounts behave and ask alike, far closer to one another than to the population's other accounts"
        );
    /// Most of the accounts were opened shortly before their first use: opened for the
    /// job, not customers of long standing.
    NewAccounts new_accounts: 0.1, Cluster,
        |value| format!(
            "{} of the accounts were opened shortly before their first use",
            pct(value)
        );
    /// The accounts came into use later than the population's accounts did, together:
    /// put to work for a job, however long ago they were opened.
    LateStart late_start: 0.1, Cluster,
        |value| format!(
            "the accounts came into use together, later than the population's: at one point the share of them in use trailed all accounts' by {:.0} points",
            value * 100.0
        );
    /// Nearly none of the accounts' exchanges follows up on an earlier turn, where most of
    /// the population's accounts that show the same strong signals do: answers harvested
    /// one request at a time, not a conversation.
    NoFollowUps no_follow_ups: 0.1, Cluster,
        |value| format!(
            "{} of the accounts never followed up on an answer, where most of the population's accounts like them did",
            pct(value)
        );
    /// The account shares keys with a campaign already blocked.
    LinkedToBlockedCampaign linked_to_blocked_campaign: 1.0, Cluster,
        |value| format!("shares keys worth {value:.1} links with a blocked campaign");
    /// The account carries many unrelated senders' traffic (system prompts, clients,
    /// addresses) and a known campaign's requests are a clear part of it: a reseller or
    /// relay the campaign runs through. It puts the account on watch with the campaign,
    /// never blocks it by itself: its other senders are customers.
    CarriesCampaign carries_campaign: 0.5, Cluster,
        |value| format!(
            "carries many senders' traffic, of which about {} is a blocked campaign's",
            pct(value)
        );
    /// The account's first exchanges carry a partner's indicators of a campaign (two kinds
    /// or more: its card, addresses, templates...).
    PartnerIntel partner_intel: 0.6, Account,
        |value| format!(
            "{} of accounts carry two or more kinds of a partner's indicators of a campaign",
            pct(value)
        );
}

/// The signals that fired for one account or cluster: a weight and a measured value each.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Findings {
    weights: [f32; SIGNALS],
    values: [f32; SIGNALS],
}

impl Findings {
    /// Records that `signal` fired with `weight`, having measured `value`.
    pub fn fire(&mut self, signal: Signal, weight: f64, value: f64) {
        let i = signal as usize;
        if weight as f32 > self.weights[i] {
            self.weights[i] = weight as f32;
            self.values[i] = value as f32;
        }
    }

    /// Keeps, per signal of how a cluster's accounts relate (not of one account's own
    /// traffic or facts), the stronger of `self` and `other`.
    pub fn merge_relations(&mut self, other: &Findings) {
        self.merge_where(other, |s| !s.of_account());
    }

    /// Keeps, per signal, the stronger of `self` and `other`.
    pub fn merge(&mut self, other: &Findings) {
        self.merge_where(other, |_| true);
    }

    fn merge_where(&mut self, other: &Findings, keep: impl Fn(Signal) -> bool) {
        for signal in Signal::ALL.into_iter().filter(|&s| keep(s)) {
            let i = signal as usize;
            if other.weights[i] > self.weights[i] {
                self.weights[i] = other.weights[i];
                self.values[i] = other.values[i];
            }
        }
    }

    /// Counts every signal that fired `times` over, as if seen in that many independent
    /// samples: each weight `w` becomes `1 - (1 - w)^times`.
    pub fn corroborate(&mut self, times: i32) {
        for w in &mut self.weights {
            *w = 1.0 - (1.0 - *w).powi(times);
        }
    }

    /// [`Findings::corroborate`] for the signals that fired with at least `min_weight`
    /// only: weak signals many ordinary accounts show together stay weak.
    pub fn corroborate_strong(&mut self, times: i32, min_weight: f32) {
        for w in &mut self.weights {
            if *w >= min_weight {
                *w = 1.0 - (1.0 - *w).powi(times);
            }
        }
    }

    /// The weight `signal` fired with (0 if it did not).
    pub fn weight(&self, signal: Signal) -> f64 {
        self.weights[signal as usize] as f64
    }

    /// The noisy-OR of the weights, in [0, 1].
    pub fn score(&self) -> f64 {
        1.0 - self
            .weights
            .iter()
            .map(|&w| 1.0 - (w as f64).clamp(0.0, 1.0))
            .product::<f64>()
    }

    /// The signals that fired, strongest first: `(signal, weight, value)`.
    pub fn fired(&self) -> Vec<(Signal, f64, f64)> {
        let mut fired: Vec<_> = Signal::ALL
            .iter()
            .filter(|s| self.weights[**s as usize] > 0.0)
            .map(|&s| {
                (
                    s,
                    self.weights[s as usize] as f64,
                    self.values[s as usize] as f64,
                )
            })
            .collect();
        fired.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_is_the_noisy_or_of_the_strongest_weight_per_signal() {
        let mut f = Findings::default();
        assert_eq!(f.score(), 0.0);
        f.fire(Signal::ReasoningAsks, 0.5, 0.9);
        f.fire(Signal::SingleTurn, 0.5, 1.0);
        assert!((f.score() - 0.75).abs() < 1e-6);
        // A weaker firing of the same signal changes nothing, a stronger one replaces it.
        f.fire(Signal::ReasoningAsks, 0.2, 0.1);
        assert_eq!(f.weight(Signal::ReasoningAsks), 0.5);
        f.fire(Signal::ReasoningAsks, 0.6, 0.8);
        assert!((f.weight(Signal::ReasoningAsks) - 0.6).abs() < 1e-6);
        assert!((f.score() - 0.8).abs() < 1e-6);
        let fired = f.fired();
        assert_eq!(fired[0].0, Signal::ReasoningAsks, "strongest first");
        assert!((fired[0].2 - 0.8).abs() < 1e-6, "with its value");
    }

    #[test]
    fn relations_merge_without_the_accounts_own_signals() {
        let mut campaign = Findings::default();
        campaign.fire(Signal::Unverified, 0.4, 1.0);
        campaign.fire(Signal::SharedTemplate, 0.3, 0.9);
        let mut account = Findings::default();
        account.merge_relations(&campaign);
        assert_eq!(account.weight(Signal::Unverified), 0.0);
        assert!(account.weight(Signal::SharedTemplate) > 0.0);
        account.merge(&campaign);
        assert!(account.weight(Signal::Unverified) > 0.0);
    }

    #[test]
    fn corroboration_counts_strong_signals_as_seen_again() {
        let mut f = Findings::default();
        f.fire(Signal::ReasoningAsks, 0.5, 1.0);
        f.fire(Signal::NoSleep, 0.1, 0.2);
        f.corroborate_strong(2, 0.3);
        assert!((f.weight(Signal::ReasoningAsks) - 0.75).abs() < 1e-6);
        assert!(
            (f.weight(Signal::NoSleep) - 0.1).abs() < 1e-6,
            "weak stays weak"
        );
        f.corroborate(2);
        assert!((f.weight(Signal::NoSleep) - 0.19).abs() < 1e-6);
    }

    #[test]
    fn the_table_names_each_signal_once_with_a_weight_in_range() {
        let names: std::collections::HashSet<&str> = Signal::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), Signal::ALL.len());
        let w = Weights::default();
        for s in Signal::ALL {
            assert!((0.0..=1.0).contains(&w.get(s)), "{}", s.name());
            assert!(!s.describe(0.5).is_empty(), "{}", s.name());
        }
    }
}
