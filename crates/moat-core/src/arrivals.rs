//! When accounts came into use, against the population: a group of accounts that started
//! sending later than the population's accounts did, together, came in for a job. Aged or
//! bought accounts pass as customers of long standing by their opening date, but a
//! campaign still puts them to work when it starts.
//!
//! The test is a one-sided two-sample Kolmogorov–Smirnov test of the group's first uses
//! against a sample of the population's.

/// The first uses of a sample of the population's accounts, in order.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Arrivals {
    first_uses: Vec<i64>,
}

/// How much later than the population a group came into use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LateStart {
    /// The largest gap between the share of the population's accounts in use and the
    /// share of the group's, at any time (0 to 1; the Kolmogorov–Smirnov statistic `D+`).
    pub lag: f64,
    /// The chance that a group of as many accounts drawn from the population at random
    /// lags as much (asymptotic).
    pub chance: f64,
}

impl Arrivals {
    /// The population's first uses (event times, any order).
    pub fn new(mut first_uses: Vec<i64>) -> Self {
        first_uses.sort_unstable();
        Self { first_uses }
    }

    /// How much later than the population the accounts whose first uses are `group` came
    /// into use; `None` when either side is empty.
    pub fn late_start(&self, group: &[i64]) -> Option<LateStart> {
        let (n, m) = (self.first_uses.len(), group.len());
        if n == 0 || m == 0 {
            return None;
        }
        let mut group = group.to_vec();
        group.sort_unstable();
        // The gap F_population(t) - F_group(t) is largest at a population's first use,
        // counting every first use at or before it on both sides.
        let mut lag = 0.0f64;
        let mut in_group = 0;
        for (i, &t) in self.first_uses.iter().enumerate() {
            if self.first_uses.get(i + 1) == Some(&t) {
                continue;
            }
            while in_group < m && group[in_group] <= t {
                in_group += 1;
            }
            lag = lag.max((i + 1) as f64 / n as f64 - in_group as f64 / m as f64);
        }
        let (n, m) = (n as f64, m as f64);
        let chance = (-2.0 * lag * lag * n * m / (n + m)).exp().min(1.0);
        Some(LateStart { lag, chance })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = crate::time::MICROS_PER_DAY;

    #[test]
    fn a_group_that_came_in_after_everyone_lags_by_all_of_it() {
        let population = Arrivals::new((0..1000).map(|i| i * DAY / 100).collect());
        let late: Vec<i64> = (0..20).map(|i| 20 * DAY + i).collect();
        let l = population.late_start(&late).unwrap();
        assert!((l.lag - 1.0).abs() < 1e-12, "{l:?}");
        assert!(l.chance < 1e-15, "{l:?}");
    }

    #[test]
    fn a_group_drawn_like_the_population_does_not_lag() {
        let population = Arrivals::new((0..1000).map(|i| i * DAY / 100).collect());
        let alike: Vec<i64> = (0..50).map(|i| i * 20 * DAY / 100 + 3).collect();
        let l = population.late_start(&alike).unwrap();
        assert!(l.lag < 0.05, "{l:?}");
        assert!(l.chance > 0.5, "{l:?}");
        // A group that came in earlier than the population is not late at all.
        let early: Vec<i64> = (0..50).map(|i| -i).collect();
        assert_eq!(population.late_start(&early).unwrap().lag, 0.0);
    }

    #[test]
    fn nothing_to_compare_is_no_finding() {
        assert_eq!(Arrivals::default().late_start(&[1, 2]), None);
        assert_eq!(Arrivals::new(vec![1]).late_start(&[]), None);
    }

    proptest! {
        #[test]
        fn the_lag_is_a_share_and_the_chance_a_probability(
            population in prop::collection::vec(-1000i64..1000, 1..200),
            group in prop::collection::vec(-1000i64..1000, 1..50),
        ) {
            let l = Arrivals::new(population).late_start(&group).unwrap();
            prop_assert!((0.0..=1.0).contains(&l.lag));
            prop_assert!(l.chance > 0.0 && l.chance <= 1.0);
        }

        #[test]
        fn moving_the_group_later_never_lessens_its_lag(
            population in prop::collection::vec(-1000i64..1000, 1..200),
            group in prop::collection::vec(-1000i64..1000, 1..50),
            shift in 0i64..2000,
        ) {
            let arrivals = Arrivals::new(population);
            let later: Vec<i64> = group.iter().map(|t| t + shift).collect();
            prop_assert!(
                arrivals.late_start(&later).unwrap().lag
                    >= arrivals.late_start(&group).unwrap().lag - 1e-12
            );
        }
    }
}
