//! How often the population's accounts follow up on an answer, among those that show what
//! a group shows. An operation harvests answers one request at a time; customers come back
//! to what they were told. But whether never following up is unusual depends on who does
//! it: app backends send one-shot requests by the million, while people who ask for
//! worked reasoning mostly ask again about it. So a group is compared with the
//! population's accounts that fire its strong signals on their own, where there are
//! enough of them to read a share from, and with the whole population where there are
//! not.

use crate::signal::Signal;

/// A sample of the population's accounts: which signals each fires on its own, and
/// whether it never followed up.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FollowUps {
    /// The sampled accounts, in order of account.
    accounts: Vec<Sampled>,
}

/// One sampled account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sampled {
    /// The account (an index into the engine's).
    pub account: u32,
    /// The signals it fires on its own (bit `1 << signal`).
    pub signals: u32,
    /// Whether it never sent an earlier turn.
    pub one_shot: bool,
}

/// Accounts a share is read from, at least, before the whole sample is used instead.
pub const MIN_PEERS: usize = 20;

/// The population's share of accounts that never followed up, and whom it was read from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneShotShare {
    /// The share (0 to 1).
    pub share: f64,
    /// How many of the group's signals the accounts it was read from all fire (0: the
    /// whole sample).
    pub signals: usize,
}

impl FollowUps {
    /// The sample (signals as [`SignalRates::signals`](crate::rates::SignalRates::signals)
    /// gives them).
    pub fn new(mut accounts: Vec<Sampled>) -> Self {
        accounts.sort_unstable_by_key(|s| s.account);
        Self { accounts }
    }

    /// The share of the sampled accounts outside the group of `members` that
    /// never followed up, among those that fire all of `signals` (strongest first): the
    /// weakest are left out, one at a time, until at least [`MIN_PEERS`] accounts fire the
    /// rest; then the whole sample. `None` when no account outside the group was sampled.
    pub fn one_shot_share(&self, signals: &[Signal], members: &[u32]) -> Option<OneShotShare> {
        let mut members = members.to_vec();
        members.sort_unstable();
        let outside: Vec<&Sampled> = self
            .accounts
            .iter()
            .filter(|s| members.binary_search(&s.account).is_err())
            .collect();
        if outside.is_empty() {
            return None;
        }
        for kept in (0..=signals.len()).rev() {
            let mask = signals[..kept]
                .iter()
                .fold(0u32, |bits, &s| bits | 1 << s as u32);
            let (peers, one_shot) = outside
                .iter()
                .filter(|s| s.signals & mask == mask)
                .fold((0usize, 0usize), |(n, k), s| {
                    (n + 1, k + usize::from(s.one_shot))
                });
            if peers >= MIN_PEERS || kept == 0 {
                return Some(OneShotShare {
                    share: one_shot as f64 / peers as f64,
                    signals: kept,
                });
            }
        }
        unreachable!("the whole sample is read when no signal is kept")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampled(account: u32, signals: &[Signal], one_shot: bool) -> Sampled {
        Sampled {
            account,
            signals: signals.iter().fold(0, |b, &s| b | 1 << s as u32),
            one_shot,
        }
    }

    #[test]
    fn a_group_is_compared_with_the_accounts_that_show_what_it_shows() {
        // Backends: one-shot, heavy. People who ask for reasoning: they follow up.
        let mut sample: Vec<Sampled> = (0..300)
            .map(|i| sampled(i, &[Signal::HeavyRequests], true))
            .collect();
        sample.extend((300..330).map(|i| sampled(i, &[Signal::ReasoningAsks], i % 10 == 0)));
        // The group itself, sampled too: one-shot, asking for reasoning.
        let group: Vec<u32> = (400..440).collect();
        sample.extend(
            group
                .iter()
                .map(|&i| sampled(i, &[Signal::ReasoningAsks], true)),
        );
        let f = FollowUps::new(sample);
        let asking = f.one_shot_share(&[Signal::ReasoningAsks], &group).unwrap();
        assert_eq!(asking.signals, 1);
        assert!((asking.share - 0.1).abs() < 1e-9, "{asking:?}");
        // Too few accounts fire both: read from those that fire the stronger one.
        let both = f
            .one_shot_share(&[Signal::ReasoningAsks, Signal::HeavyRequests], &group)
            .unwrap();
        assert_eq!(both, asking);
        // No account grades: the whole sample but the group, mostly one-shot.
        let grading = f.one_shot_share(&[Signal::GradingAsks], &group).unwrap();
        assert_eq!(grading.signals, 0);
        assert!((grading.share - 303.0 / 330.0).abs() < 1e-9, "{grading:?}");
        assert_eq!(FollowUps::default().one_shot_share(&[], &[]), None);
    }
}
