//! How common each signal is among the accounts seen: what a campaign's evidence is
//! compared with ("on their own: 96 % of its accounts, 0.4 % of all accounts").

use crate::signal::{Findings, SIGNALS, Signal};

/// Per signal, how many accounts fire it on their own traffic, kept up to date as each
/// account is judged again.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SignalRates {
    /// Accounts judged at least once.
    accounts: u32,
    /// Per signal, the accounts whose own findings fire it.
    firing: [u32; SIGNALS],
    /// Per account, the signals its own findings fired when last judged (one bit each),
    /// and [`JUDGED`] once it was judged.
    own: Vec<u32>,
}

/// The bit of an account judged at least once, above the signals' bits.
const JUDGED: u32 = 1 << 31;
const _: () = assert!(SIGNALS < 32, "one bit per signal, and one more, in a u32");

impl SignalRates {
    /// Records what account `i`'s own findings fire now.
    pub fn judge(&mut self, i: u32, findings: &Findings) {
        let i = i as usize;
        if i >= self.own.len() {
            self.own.resize(i + 1, 0);
        }
        let now = Signal::ALL
            .iter()
            .filter(|&&s| findings.weight(s) > 0.0)
            .fold(JUDGED, |bits, &s| bits | 1 << s as u32);
        let before = std::mem::replace(&mut self.own[i], now);
        if before & JUDGED == 0 {
            self.accounts += 1;
        }
        let mut changed = (before ^ now) & !JUDGED;
        while changed != 0 {
            let s = changed.trailing_zeros() as usize;
            if now & (1 << s) != 0 {
                self.firing[s] += 1;
            } else {
                self.firing[s] -= 1;
            }
            changed &= changed - 1;
        }
    }

    /// Whether account `i`'s own findings fired `signal` when last judged.
    pub fn fires(&self, i: u32, signal: Signal) -> bool {
        self.own
            .get(i as usize)
            .is_some_and(|bits| bits & (1 << signal as u32) != 0)
    }

    /// The signals account `i`'s own findings fired when last judged, one bit each
    /// (`1 << signal`).
    pub fn signals(&self, i: u32) -> u32 {
        self.own.get(i as usize).map_or(0, |bits| bits & !JUDGED)
    }

    /// The share of all accounts judged whose own findings fire `signal`; `None` before
    /// any account was judged.
    pub fn share(&self, signal: Signal) -> Option<f64> {
        (self.accounts > 0)
            .then(|| f64::from(self.firing[signal as usize]) / f64::from(self.accounts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firing(signals: &[Signal]) -> Findings {
        let mut f = Findings::default();
        for &s in signals {
            f.fire(s, 0.3, 1.0);
        }
        f
    }

    #[test]
    fn shares_follow_each_account_as_it_is_judged_again() {
        let mut rates = SignalRates::default();
        assert_eq!(rates.share(Signal::ReasoningAsks), None);
        rates.judge(0, &firing(&[Signal::ReasoningAsks, Signal::YoungAccount]));
        rates.judge(3, &firing(&[Signal::ReasoningAsks]));
        rates.judge(1, &firing(&[]));
        rates.judge(2, &firing(&[]));
        assert_eq!(rates.share(Signal::ReasoningAsks), Some(0.5));
        assert_eq!(rates.share(Signal::YoungAccount), Some(0.25));
        assert_eq!(rates.share(Signal::NoSleep), Some(0.0));
        // Judged again, an account counts once, with what it fires now.
        rates.judge(0, &firing(&[Signal::YoungAccount]));
        rates.judge(0, &firing(&[Signal::YoungAccount]));
        assert_eq!(rates.share(Signal::ReasoningAsks), Some(0.25));
        assert_eq!(rates.share(Signal::YoungAccount), Some(0.25));
        assert!(rates.fires(3, Signal::ReasoningAsks));
        assert!(!rates.fires(0, Signal::ReasoningAsks));
        assert!(!rates.fires(9, Signal::ReasoningAsks));
        assert_eq!(rates.signals(3), 1 << Signal::ReasoningAsks as u32);
        assert_eq!(rates.signals(9), 0);
    }
}
