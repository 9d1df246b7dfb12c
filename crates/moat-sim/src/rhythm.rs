//! When traffic happens: daily and weekly rhythms, and arrival times drawn from them.

use rand::Rng;
use rand_distr::{Distribution, Exp};

pub use moat_core::time::{
    MICROS_PER_DAY as DAY, MICROS_PER_HOUR as HOUR, MICROS_PER_MINUTE as MINUTE,
};

/// A daily and weekly activity profile, in the sender's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rhythm {
    /// A person's own time: mornings to late evenings, a little less at weekends.
    Personal,
    /// Office hours on weekdays.
    Work,
    /// A student's day: late mornings to past midnight, weekends too.
    Student,
    /// The end users of an application across nearby time zones: smooth, never zero.
    EndUsers,
    /// Round the clock, every day alike (machines).
    Flat,
}

const PERSONAL: [f64; 24] = [
    0.12, 0.06, 0.03, 0.02, 0.02, 0.04, 0.12, 0.35, 0.6, 0.8, 0.9, 0.95, 0.9, 0.95, 1.0, 0.95, 0.9,
    0.85, 0.85, 0.95, 1.0, 0.9, 0.6, 0.3,
];
const WORK: [f64; 24] = [
    0.01, 0.01, 0.0, 0.0, 0.0, 0.01, 0.03, 0.15, 0.6, 0.95, 1.0, 1.0, 0.7, 0.9, 1.0, 1.0, 0.95,
    0.7, 0.35, 0.2, 0.15, 0.1, 0.05, 0.02,
];
const STUDENT: [f64; 24] = [
    0.5, 0.3, 0.15, 0.05, 0.02, 0.02, 0.03, 0.08, 0.2, 0.4, 0.6, 0.7, 0.7, 0.75, 0.8, 0.85, 0.85,
    0.8, 0.8, 0.9, 1.0, 1.0, 0.95, 0.8,
];
const END_USERS: [f64; 24] = [
    0.35, 0.25, 0.2, 0.18, 0.18, 0.22, 0.35, 0.55, 0.75, 0.9, 0.95, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95,
    0.95, 0.95, 1.0, 0.95, 0.85, 0.65, 0.45,
];

impl Rhythm {
    /// Relative activity (0 to 1) at local hour `hour` of a day `weekend` or not.
    fn weight(self, hour: usize, weekend: bool) -> f64 {
        let (table, weekend_factor) = match self {
            Rhythm::Personal => (&PERSONAL, 0.8),
            Rhythm::Work => (&WORK, 0.1),
            Rhythm::Student => (&STUDENT, 0.9),
            Rhythm::EndUsers => (&END_USERS, 0.9),
            Rhythm::Flat => return 1.0,
        };
        table[hour % 24] * if weekend { weekend_factor } else { 1.0 }
    }

    /// Relative activity at event time `t` (µs since the epoch) for a sender at `utc_offset`.
    pub fn at(self, t: i64, utc_offset: f64) -> f64 {
        let local = t + (utc_offset * HOUR as f64) as i64;
        let day = local.div_euclid(DAY);
        // 1970-01-01 was a Thursday: days 2 and 3 of each week (counting from it) are the weekend.
        let weekend = matches!(day.rem_euclid(7), 2 | 3);
        let hour = (local.rem_euclid(DAY) / HOUR) as usize;
        self.weight(hour, weekend)
    }
}

/// The next arrival after `now` of a process running at `per_day` on average at its busiest
/// (scaled by the rhythm's weight at each moment): thinning of a Poisson process.
pub fn next_arrival<R: Rng>(
    rng: &mut R,
    now: i64,
    per_day: f64,
    rhythm: Rhythm,
    utc_offset: f64,
) -> i64 {
    let per_us = (per_day / DAY as f64).max(1e-15);
    let exp = Exp::new(per_us).expect("a positive rate");
    let mut t = now;
    for _ in 0..10_000 {
        t += (exp.sample(rng) as i64).max(1);
        if rng.random::<f64>() < rhythm.at(t, utc_offset) {
            return t;
        }
    }
    t
}

/// A pause of about `median_secs` seconds (log-normal, spread `sigma`), in microseconds.
pub fn pause<R: Rng>(rng: &mut R, median_secs: f64, sigma: f64) -> i64 {
    let z: f64 = rand_distr::StandardNormal.sample(rng);
    ((median_secs * (sigma * z).exp()) * 1e6) as i64 + 200_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn work_rhythm_sleeps_at_night_and_at_weekends() {
        // 2026-03-02 was a Monday.
        let monday = 1_772_409_600_000_000i64;
        assert!(Rhythm::Work.at(monday + 10 * HOUR, 0.0) > 0.9);
        assert!(Rhythm::Work.at(monday + 3 * HOUR, 0.0) < 0.01);
        assert!(Rhythm::Work.at(monday + 5 * DAY + 10 * HOUR, 0.0) < 0.2);
        assert_eq!(Rhythm::Flat.at(monday + 3 * HOUR, 0.0), 1.0);
        // 10:00 in Tokyo is 01:00 UTC.
        assert!(Rhythm::Work.at(monday + HOUR, 9.0) > 0.9);
    }

    #[test]
    fn arrivals_follow_the_rate() {
        let mut rng = SmallRng::seed_from_u64(1);
        let (mut t, mut n) = (0i64, 0);
        while t < 100 * DAY {
            t = next_arrival(&mut rng, t, 50.0, Rhythm::Flat, 0.0);
            n += 1;
        }
        assert!((4500..5500).contains(&n), "{n}");
    }
}
