//! Telling a campaign's requests from the customers' on an account that carries both (a
//! reseller or relay, [`share`](crate::share)). Each request shows some of the kinds of
//! request a campaign's share is read in (a reasoning ask, tools, a system prompt, a topic
//! bucket…). The campaign's median member makes each kind at one rate; the account's
//! customers make it at the rate left of the account's once the campaign's part is taken
//! out. Starting from the account's estimated campaign share, each kind the request shows
//! or does not show moves the odds that it is the campaign's by the ratio of the two rates
//! (a naive Bayes classifier over the request's kinds).
//!
//! The campaign's filler, ordinary requests it mixes in, mostly reads as a customer's:
//! what is told apart is the part of its traffic that is what it came for.

use crate::likeness::{DIMS, Fingerprint, request_measures};
use crate::profile::RequestKinds;

/// Rates are read within these bounds: no single kind of request is proof either way.
const RATE_BOUNDS: (f32, f32) = (0.02, 0.98);
/// Shares are read within these bounds, for the same reason.
const SHARE_BOUNDS: (f64, f64) = (0.01, 0.99);
/// What the sum of the kinds' log-likelihood ratios is weighed at: the kinds are not
/// independent (a reasoning ask and a maths topic come together), and counting each in
/// full would make the classifier surer than it is.
const DEPENDENCE: f64 = 0.5;

/// How one account's carried campaign's requests differ from its customers', kind by kind.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CarriedRequests {
    /// The log odds of a request being the campaign's before it is read: from the
    /// account's estimated campaign share.
    prior: f64,
    /// Per measure, the log of the campaign's rate over the customers', for a request that
    /// shows the kind (0 for measures a single request cannot show).
    shown: Fingerprint,
    /// Likewise for a request that does not show it.
    not_shown: Fingerprint,
    /// The probability from which a request counts as the campaign's.
    min_probability: f64,
}

impl CarriedRequests {
    /// The model of the campaign whose median member's fingerprint is `campaign`, on an
    /// account whose fingerprint is `account` and whose estimated campaign share is `share`
    /// (fingerprints as read, not standardised); a request counts as the campaign's from
    /// `min_probability`.
    pub fn new(
        campaign: &Fingerprint,
        account: &Fingerprint,
        share: f64,
        min_probability: f64,
    ) -> Self {
        let share = share.clamp(SHARE_BOUNDS.0, SHARE_BOUNDS.1);
        let mut shown = [0.0; DIMS];
        let mut not_shown = [0.0; DIMS];
        let shows_any = request_measures(&RequestKinds {
            topics: u16::MAX,
            ..RequestKinds::default()
        });
        let s = share as f32;
        for d in (0..DIMS).filter(|&d| shows_any[d].is_some()) {
            let c = campaign[d].clamp(RATE_BOUNDS.0, RATE_BOUNDS.1);
            let customers = (account[d] - s * campaign[d]) / (1.0 - s);
            let p = customers.clamp(RATE_BOUNDS.0, RATE_BOUNDS.1);
            shown[d] = (c / p).ln();
            not_shown[d] = ((1.0 - c) / (1.0 - p)).ln();
        }
        Self {
            prior: (share / (1.0 - share)).ln(),
            shown,
            not_shown,
            min_probability,
        }
    }

    /// The probability that a request of `kinds` is the campaign's.
    pub fn probability(&self, kinds: &RequestKinds) -> f64 {
        let evidence: f64 = request_measures(kinds)
            .iter()
            .enumerate()
            .filter_map(|(d, m)| {
                m.map(|shows| {
                    f64::from(if shows {
                        self.shown[d]
                    } else {
                        self.not_shown[d]
                    })
                })
            })
            .sum();
        let log_odds = self.prior + DEPENDENCE * evidence;
        1.0 / (1.0 + (-log_odds).exp())
    }

    /// Whether a request of `kinds` counts as the campaign's.
    pub fn is_campaigns(&self, kinds: &RequestKinds) -> bool {
        self.probability(kinds) >= self.min_probability
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reseller whose traffic is 40 % a campaign's that asks for reasoning in 80 % of its
    /// requests and offers tools in 60 %, and 60 % customers' who do each in 5 %.
    fn reseller(share: f64) -> CarriedRequests {
        let mut campaign = [0.1; DIMS];
        let mut customers = [0.1; DIMS];
        campaign[0] = 0.8;
        customers[0] = 0.05;
        campaign[5] = 0.6;
        customers[5] = 0.05;
        let account: Fingerprint = std::array::from_fn(|d| 0.4 * campaign[d] + 0.6 * customers[d]);
        CarriedRequests::new(&campaign, &account, share, 0.5)
    }

    #[test]
    fn what_the_campaign_asks_for_is_told_from_what_customers_ask() {
        let harvest = RequestKinds {
            reasoning: true,
            tools: true,
            ..RequestKinds::default()
        };
        let ordinary = RequestKinds::default();
        let m = reseller(0.4);
        assert!(m.probability(&harvest) > 0.9);
        assert!(m.probability(&ordinary) < 0.2);
        assert!(m.is_campaigns(&harvest) && !m.is_campaigns(&ordinary));
        // A larger share estimated moves the odds towards the campaign.
        assert!(reseller(0.6).probability(&ordinary) > m.probability(&ordinary));
    }

    #[test]
    fn customers_like_the_campaign_leave_the_share_as_it_is() {
        let same = CarriedRequests::new(&[0.3; DIMS], &[0.3; DIMS], 0.4, 0.5);
        let kinds = RequestKinds {
            reasoning: true,
            topics: 0b101,
            ..RequestKinds::default()
        };
        assert!((same.probability(&kinds) - 0.4).abs() < 1e-6);
        assert!(!same.is_campaigns(&kinds));
    }

    #[test]
    fn rates_of_zero_and_one_give_finite_odds() {
        let mut campaign = [0.0; DIMS];
        campaign[0] = 1.0;
        let m = CarriedRequests::new(&campaign, &[0.0; DIMS], 0.5, 0.5);
        let p = m.probability(&RequestKinds::default());
        assert!(p.is_finite() && p > 0.0 && p < 0.5);
        let m = CarriedRequests::new(&campaign, &campaign, 1.0, 0.5);
        assert!(m.probability(&RequestKinds::default()).is_finite());
    }
}
