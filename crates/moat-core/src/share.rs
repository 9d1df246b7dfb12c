//! Campaign share: the estimated fraction of an account's exchanges that belong to its
//! campaign. A reseller or relay carries a campaign's requests beside its own customers',
//! so its traffic is a mixture: its shares of requests by kind and by topic lie between its
//! campaign's and the population's, as far towards the campaign's as the campaign's part
//! of its traffic. Read in the population's units (where the population's centre is the
//! origin and every measure counts by how much it sets accounts apart), the estimate is the
//! projection of the account's measures onto its campaign's, with an interval from how far
//! the account's measures stray from that line.
//!
//! The campaign's measures are the per-member median, which no single member (a reseller
//! holding most of the campaign's exchanges among them) can move. A campaign's own account
//! sits at about 1, its filler included, since its campaign's median member carries the
//! same filler.

use crate::likeness::{DIMS, Fingerprint};

/// Half-width of the interval in standard errors (a two-sided 90 % interval).
const Z_90: f64 = 1.645;
/// The least spread, in the population's units, a campaign's measures must have from the
/// population's centre for a share to be read off them: below it, the campaign looks like
/// its customers and any mixture looks like both.
const MIN_CONTRAST: f32 = 0.5;

/// An account's estimated campaign share, with a 90 % interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CampaignShare {
    /// The estimate, in [0, 1].
    pub estimate: f64,
    /// The interval's lower end, in [0, 1].
    pub low: f64,
    /// The interval's upper end, in [0, 1].
    pub high: f64,
}

/// Fewest accounts that carry many senders from which their customers' measures are read
/// ([`carriers_customers`]).
pub const MIN_CARRIERS: usize = 8;

/// The measures of the customers of accounts that carry many senders (resellers, relays;
/// `carriers`, standardised, at least [`MIN_CARRIERS`] of them): per measure, the median
/// over the quarter of them least like the `campaign`. A reseller's customers are
/// developers and apps more than the population's average customer is: read from the
/// population's centre, a reseller carrying none of a campaign that asks for code looks
/// like one carrying a fifth of it. Its peers that carry least of the campaign show where
/// such customers lie. Where every carrier carries some of it, shares are read above the
/// least of them (too low, never too high).
pub fn carriers_customers(
    carriers: &[Fingerprint],
    campaign: &Fingerprint,
    measures: fn(usize) -> bool,
) -> Fingerprint {
    let mut customers = [0.0; DIMS];
    let along = |a: &Fingerprint| -> f64 {
        (0..DIMS)
            .filter(|&d| measures(d))
            .map(|d| f64::from(a[d]) * f64::from(campaign[d]))
            .sum()
    };
    let mut least: Vec<(f64, &Fingerprint)> = carriers.iter().map(|a| (along(a), a)).collect();
    least.sort_by(|x, y| x.0.total_cmp(&y.0));
    least.truncate((carriers.len() / 4).max(1));
    let mut column = Vec::with_capacity(least.len());
    for (d, c) in customers
        .iter_mut()
        .enumerate()
        .filter(|(d, _)| measures(*d))
    {
        column.clear();
        column.extend(least.iter().map(|(_, a)| a[d]));
        column.sort_by(f32::total_cmp);
        *c = column[column.len() / 2];
    }
    customers
}

/// `a - b`, measure by measure.
pub fn difference(a: &Fingerprint, b: &Fingerprint) -> Fingerprint {
    std::array::from_fn(|d| a[d] - b[d])
}

/// Members a campaign needs for its median to stand for it: with fewer, an account would
/// largely be measured against itself.
pub const MIN_MEMBERS: usize = 3;

/// The campaign's measures: per measure, the median of its members' standardised
/// fingerprints. `None` with fewer than [`MIN_MEMBERS`] members.
pub fn campaign_centre(members: &[Fingerprint]) -> Option<Fingerprint> {
    if members.len() < MIN_MEMBERS {
        return None;
    }
    let mut centre = [0.0; DIMS];
    let mut column = Vec::with_capacity(members.len());
    for (d, c) in centre.iter_mut().enumerate() {
        column.clear();
        column.extend(members.iter().map(|m| m[d]));
        column.sort_by(f32::total_cmp);
        let mid = column.len() / 2;
        *c = if column.len() % 2 == 1 {
            column[mid]
        } else {
            (column[mid - 1] + column[mid]) / 2.0
        };
    }
    Some(centre)
}

/// The share of an account's traffic (`account`, standardised) that is its campaign's
/// (`campaign`, from [`campaign_centre`]), read from the `measures` that mix linearly (shares
/// of exchanges: [`mixes`](crate::likeness::mixes), or
/// [`mixes_by_sender`](crate::likeness::mixes_by_sender) for an account found
/// only by what it carries); `noise` is how much chance moves each of the account's measures
/// ([`Population::sampling_variance`](crate::likeness::Population::sampling_variance)), which widens
/// the interval of an account seen a few times. `None` where the campaign's measures stand
/// too close to the population's centre to tell.
pub fn estimate(
    account: &Fingerprint,
    campaign: &Fingerprint,
    noise: &Fingerprint,
    measures: fn(usize) -> bool,
) -> Option<CampaignShare> {
    let dims = (0..DIMS).filter(|&d| measures(d));
    let (mut along, mut norm, mut k) = (0.0f64, 0.0f64, 0usize);
    for d in dims.clone() {
        along += f64::from(account[d]) * f64::from(campaign[d]);
        norm += f64::from(campaign[d]).powi(2);
        k += 1;
    }
    if norm.sqrt() < f64::from(MIN_CONTRAST) || k < 2 {
        return None;
    }
    let share = along / norm;
    let (mut residual, mut sampling) = (0.0f64, 0.0f64);
    for d in dims {
        let c = f64::from(campaign[d]);
        residual += (f64::from(account[d]) - share * c).powi(2);
        sampling += c * c * f64::from(noise[d]);
    }
    // The larger of what the account's own measures say of the fit, and what chance alone
    // would make of so few exchanges.
    let error = (residual / (k - 1) as f64 / norm)
        .max(sampling / (norm * norm))
        .sqrt();
    Some(CampaignShare {
        estimate: share.clamp(0.0, 1.0),
        low: (share - Z_90 * error).clamp(0.0, 1.0),
        high: (share + Z_90 * error).clamp(0.0, 1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::likeness;
    use proptest::prelude::*;

    fn campaign() -> Fingerprint {
        let mut c = [0.0; DIMS];
        for (d, x) in c.iter_mut().enumerate() {
            if likeness::mixes(d) {
                *x = if d % 3 == 0 { 2.0 } else { -0.5 };
            }
        }
        c
    }

    #[test]
    fn a_median_member_cannot_be_moved_by_one_member() {
        let c = campaign();
        let mut far = c;
        far[0] = 40.0;
        let centre = campaign_centre(&[c, c, far]).unwrap();
        assert_eq!(centre, c);
        assert!(campaign_centre(&[c, far]).is_none());
    }

    #[test]
    fn a_campaign_like_the_population_gives_no_share() {
        let flat = [0.01; DIMS];
        assert!(estimate(&flat, &flat, &[0.0; DIMS], likeness::mixes).is_none());
    }

    #[test]
    fn an_account_seen_a_few_times_gets_a_wider_interval() {
        let c = campaign();
        let exact = estimate(&c, &c, &[0.0; DIMS], likeness::mixes).unwrap();
        let few = estimate(&c, &c, &[0.2; DIMS], likeness::mixes).unwrap();
        assert_eq!(exact.estimate, few.estimate);
        assert!(few.low < exact.low);
    }

    #[test]
    fn a_carriers_share_is_read_from_what_its_requests_ask() {
        // A reseller carrying a fifth of a campaign's traffic, whose customers send every
        // request as the campaign does (one-shot, with a system prompt): read on every
        // mixing measure, its customers count as the campaign; read on what requests ask,
        // they do not.
        let c = campaign();
        let how_sent = |d: usize| likeness::mixes(d) && !likeness::mixes_by_sender(d);
        let account: Fingerprint =
            std::array::from_fn(|d| if how_sent(d) { c[d] } else { c[d] * 0.2 });
        let every = estimate(&account, &c, &[0.0; DIMS], likeness::mixes).unwrap();
        let asked = estimate(&account, &c, &[0.0; DIMS], likeness::mixes_by_sender).unwrap();
        assert!((asked.estimate - 0.2).abs() < 1e-4, "{asked:?}");
        assert!(every.estimate > 0.25, "{every:?}");
    }

    #[test]
    fn resellers_shares_are_read_against_their_peers_customers() {
        // Twelve resellers whose customers all lean towards what the campaign asks (a
        // third of the way from the population's centre), four carrying none of it.
        let c = campaign();
        let customers: Fingerprint = std::array::from_fn(|d| c[d] / 3.0 + 0.1 * (d % 2) as f32);
        let truth = [
            0.0, 0.0, 0.0, 0.0, 0.05, 0.1, 0.12, 0.15, 0.2, 0.3, 0.45, 0.7,
        ];
        let carriers: Vec<Fingerprint> = truth
            .iter()
            .map(|&s| std::array::from_fn(|d| (1.0 - s) * customers[d] + s * c[d]))
            .collect();
        let measures = likeness::mixes_by_sender;
        let found = carriers_customers(&carriers, &c, measures);
        for (&s, a) in truth.iter().zip(&carriers) {
            let read = estimate(
                &difference(a, &found),
                &difference(&c, &found),
                &[0.0; DIMS],
                measures,
            )
            .unwrap();
            assert!((read.estimate - f64::from(s)).abs() < 0.01, "{s}: {read:?}");
            // Read from the population's centre, a reseller carrying none of it looks like
            // one carrying a third.
            let naive = estimate(a, &c, &[0.0; DIMS], measures).unwrap();
            if s < 0.5 {
                assert!(naive.estimate - f64::from(s) > 0.15, "{s}: {naive:?}");
            }
        }
    }

    proptest! {
        /// An exact mixture of the campaign and the population's centre is read back, and
        /// its interval holds it.
        #[test]
        fn a_mixture_is_read_back(share in 0.0f64..=1.0) {
            let c = campaign();
            let account = c.map(|x| x * share as f32);
            let s = estimate(&account, &c, &[0.0; DIMS], likeness::mixes).unwrap();
            prop_assert!((s.estimate - share).abs() < 1e-4);
            prop_assert!(s.low <= s.estimate && s.estimate <= s.high);
        }

        /// Noise widens the interval; the estimate stays within [0, 1] whatever it is.
        #[test]
        fn any_account_gives_a_share_within_bounds(
            noise in proptest::collection::vec(-3.0f32..3.0, DIMS),
        ) {
            let c = campaign();
            let account: Fingerprint = std::array::from_fn(|d| c[d] * 0.5 + noise[d]);
            let s = estimate(&account, &c, &[0.0; DIMS], likeness::mixes).unwrap();
            prop_assert!((0.0..=1.0).contains(&s.low));
            prop_assert!(s.low <= s.estimate && s.estimate <= s.high && s.high <= 1.0);
        }
    }
}
