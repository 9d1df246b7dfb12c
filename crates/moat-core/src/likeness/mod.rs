//! Likeness: the second way into a campaign. An operator's pipeline stamps one behaviour
//! and one task list on all its accounts, whatever each account's address, card or
//! wording. So accounts are also grouped by how alike they are: a fixed-size
//! [`Fingerprint`] per account (shares of its requests by kind, its rhythm, volume and
//! facts, and what its prompts are about), compared in units of the population's own
//! spread, and linked when two accounts are far closer than two accounts drawn from the
//! population at random usually are.
//!
//! The search stays near-linear in accounts: fingerprints are hashed into buckets by random
//! projections (Euclidean locality-sensitive hashing, several bands), and only accounts that
//! share a bucket are compared, each with a bounded number of its bucket's members.

use crate::arrivals::Arrivals;
use crate::config::LikenessConfig;
use crate::content::TOPIC_BUCKETS;
use crate::follow_ups::FollowUps;
use crate::profile::{Profile, RequestKinds};

mod groups;
mod lsh;

pub use groups::{AlikeGroup, Candidate, groups, join};

/// Behavioural measures in a fingerprint.
const BEHAVIOUR: usize = 13;

/// Numbers in a fingerprint: the behavioural measures, then the topic buckets.
pub const DIMS: usize = BEHAVIOUR + TOPIC_BUCKETS;

/// The smallest spread a measure is divided by: below it, accounts differ by noise.
const SPREAD_FLOOR: f32 = 0.1;

/// The share of a distance that what the prompts are about makes up.
const TOPIC_SHARE: f32 = 0.35;

/// Behavioural measures that are shares of an account's exchanges (the first ones).
const SHARES: usize = 9;

/// The measure of an account's exchanges per active day.
const VOLUME: usize = SHARES;

/// The measure of an account's mean sampling temperature (halved: 0 to 1).
const TEMPERATURE: usize = SHARES + 2;

/// How much further than its members an account seen few times may lie from a group's
/// centre and join it.
const MAX_WIDEN: f32 = 1.5;

/// How many accounts the population's spread and distances are read from, at most.
pub const SAMPLE: usize = 4000;

/// Whether measure `d` of a fingerprint is a share of the account's exchanges (of a kind of
/// request, or on a topic): the measures in which a mixture of two accounts' traffic lies
/// between theirs, in proportion.
pub fn mixes(d: usize) -> bool {
    d < SHARES || (BEHAVIOUR..DIMS).contains(&d)
}

/// The measures of how a request is sent (one-shot, with a system prompt, with earlier
/// turns) rather than what it asks: on an account that carries many senders, its client
/// sets them for every sender alike.
const HOW_SENT: [usize; 3] = [3, 7, 8];

/// Whether measure `d` mixes ([`mixes`]) and says what a request asks, whoever sent it:
/// the measures a share of traffic is read from on an account that carries many senders,
/// whose customers' requests all go out one way (one-shot, with a system prompt) however
/// unlike the campaign's they are.
pub fn mixes_by_sender(d: usize) -> bool {
    mixes(d) && !HOW_SENT.contains(&d)
}

/// What an account's traffic looks like, as numbers of about 0 to 1.
pub type Fingerprint = [f32; DIMS];

/// The measures of a fingerprint one request shows, each as whether the request is of
/// that kind; `None` for the measures one request cannot show (whether it was one-shot, and
/// the account's volume, answer length, temperature and verification).
pub fn request_measures(k: &RequestKinds) -> [Option<bool>; DIMS] {
    let mut m = [None; DIMS];
    let shown = [
        (0, k.reasoning),
        (1, k.grading),
        (2, k.targeted),
        (4, k.heavy),
        (5, k.tools),
        (6, k.reasoning_mode),
        (7, k.with_system),
        (8, k.earlier_turns),
    ];
    for (d, shows) in shown {
        m[d] = Some(shows);
    }
    for t in 0..TOPIC_BUCKETS {
        m[BEHAVIOUR + t] = Some(k.topic(t));
    }
    m
}

/// The fingerprint of an account's profile: what the operator of a campaign stamps on all
/// its accounts (the kinds and shapes of their requests, their volume, what they ask
/// about), not what changes with an account's age. `active` is (days alive, days active)
/// of the last 64.
pub fn fingerprint(p: &Profile, active: (u32, u32)) -> Fingerprint {
    let n = p.exchanges.max(1) as f32;
    let share = |count: u32| count as f32 / n;
    let mut f = [0.0; DIMS];
    let active_days = active.1.max(1) as f32;
    let out_per_exchange = if p.tokens_known > 0 {
        p.tokens_out as f32 / p.tokens_known as f32
    } else {
        0.0
    };
    let behaviour: [f32; BEHAVIOUR] = [
        share(p.reasoning),
        share(p.grading),
        share(p.targeted),
        share(p.single_turn),
        share(p.heavy_requests),
        share(p.tools),
        share(p.reasoning_mode),
        share(p.with_system),
        share(p.earlier_turns),
        volume_measure(n / active_days),
        ((1.0 + out_per_exchange).log10() / 4.0).min(1.5),
        (p.temperature.mean() as f32 / 2.0).clamp(0.0, 1.0),
        p.unverified.min(1) as f32,
    ];
    f[..BEHAVIOUR].copy_from_slice(&behaviour);
    for (slot, &count) in f[BEHAVIOUR..].iter_mut().zip(&p.topics) {
        *slot = share(count);
    }
    f
}

/// The population's centre and spread per measure, and how far apart two of its accounts
/// drawn at random usually are.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Population {
    centre: Fingerprint,
    /// Per measure: one over its spread, times the measure's share of the distance.
    scale: Fingerprint,
    /// The median distance between two accounts drawn at random.
    pub strangers: f32,
    /// The distance below which two accounts count as alike.
    pub cut: f32,
    /// The share of the sampled accounts (of those whose opening is known) opened shortly
    /// before their first use (`new_account_days`).
    pub new_accounts: f64,
    /// When the sampled accounts came into use.
    pub arrivals: Arrivals,
    /// Which signals the sampled accounts fire, and which never sent an earlier turn.
    pub follow_ups: FollowUps,
}

impl Population {
    /// Reads the population off `sample` (fingerprints of accounts judged so far), of which
    /// a share `new_accounts` are new, which came into use at `arrivals`, and which follow
    /// up as `follow_ups` says.
    pub fn of(
        sample: &[Fingerprint],
        new_accounts: f64,
        arrivals: Arrivals,
        follow_ups: FollowUps,
        config: &LikenessConfig,
    ) -> Option<Self> {
        if sample.len() < 50 {
            return None;
        }
        let n = sample.len() as f32;
        let mut centre = [0.0; DIMS];
        for f in sample {
            for (c, x) in centre.iter_mut().zip(f) {
                *c += x / n;
            }
        }
        let mut scale = [0.0; DIMS];
        for (d, s) in scale.iter_mut().enumerate() {
            let var = sample
                .iter()
                .map(|f| (f[d] - centre[d]).powi(2))
                .sum::<f32>()
                / n;
            let part = if d < BEHAVIOUR {
                (1.0 - TOPIC_SHARE) / BEHAVIOUR as f32
            } else {
                TOPIC_SHARE / TOPIC_BUCKETS as f32
            };
            *s = part.sqrt() / var.sqrt().max(SPREAD_FLOOR);
        }
        let mut population = Population {
            centre,
            scale,
            strangers: 0.0,
            cut: 0.0,
            new_accounts,
            arrivals,
            follow_ups,
        };
        let m = sample.len();
        let mut distances: Vec<f32> = (0..m.min(2000))
            .map(|i| {
                let j = (i * 7919 + m / 2 + 1) % m;
                let (a, b) = (
                    population.standard(&sample[i]),
                    population.standard(&sample[j]),
                );
                distance(&a, &b)
            })
            .filter(|d| *d > 0.0)
            .collect();
        distances.sort_by(f32::total_cmp);
        let at = |q: f64| distances[((distances.len() - 1) as f64 * q) as usize];
        if distances.is_empty() {
            return None;
        }
        population.strangers = at(0.5);
        population.cut = at(config.stranger_quantile).min(config.max_distance as f32);
        Some(population)
    }

    /// The fingerprint whose standard form ([`Population::standard`]) is `z`.
    pub fn raw(&self, z: &Fingerprint) -> Fingerprint {
        let mut f = [0.0; DIMS];
        for d in 0..DIMS {
            f[d] = self.centre[d] + z[d] / self.scale[d];
        }
        f
    }

    /// How much chance moves each measure of a fingerprint read off `exchanges` exchanges,
    /// in the population's units: per measure that is a share ([`mixes`]), the variance of
    /// a share `p` of `exchanges` draws, `p (1 - p) / exchanges`, scaled; zero for the rest.
    pub fn sampling_variance(&self, f: &Fingerprint, exchanges: u32) -> Fingerprint {
        let n = exchanges.max(1) as f32;
        std::array::from_fn(|d| {
            if mixes(d) {
                let p = f[d].clamp(0.0, 1.0);
                // At least one draw's worth either way: a share seen as 0 of 5 may be 1 of 6.
                let p = p.max(0.5 / n).min(1.0 - 0.5 / n);
                self.scale[d].powi(2) * p * (1.0 - p) / n
            } else {
                0.0
            }
        })
    }

    /// The population's centre: its sampled accounts' mean fingerprint.
    pub fn centre(&self) -> &Fingerprint {
        &self.centre
    }

    /// A fingerprint in the population's units: Euclidean distance between two of them is
    /// the distance [`Population::cut`] is read in.
    pub fn standard(&self, f: &Fingerprint) -> Fingerprint {
        let mut z = [0.0; DIMS];
        for d in 0..DIMS {
            z[d] = (f[d] - self.centre[d]) * self.scale[d];
        }
        z
    }
}

/// The Euclidean distance between two standardised fingerprints.
pub fn distance(a: &Fingerprint, b: &Fingerprint) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Whether measure `d` of a fingerprint is a share of the account's exchanges.
fn is_share(d: usize) -> bool {
    !(SHARES..BEHAVIOUR).contains(&d)
}

/// The volume measure of `per_day` exchanges per active day.
fn volume_measure(per_day: f32) -> f32 {
    ((1.0 + per_day).log10() / 3.0).min(1.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(base: &Fingerprint, seed: u64, noise: f32) -> Fingerprint {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut f = *base;
        for x in &mut f {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *x += ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * noise;
        }
        f
    }

    /// Strangers spread evenly over every measure are farther apart than real customers:
    /// the cut is read at a lower quantile here, to keep it well inside their spread.
    fn config() -> LikenessConfig {
        LikenessConfig {
            stranger_quantile: 0.01,
            max_distance: 0.6,
            ..LikenessConfig::default()
        }
    }

    /// Two thousand strangers spread over every measure, and the population they make.
    fn strangers(config: &LikenessConfig) -> (Vec<Fingerprint>, Population) {
        let strangers: Vec<Fingerprint> = (0..2000).map(|i| noisy(&[0.5; DIMS], i, 1.0)).collect();
        let population = Population::of(
            &strangers,
            0.1,
            Arrivals::default(),
            FollowUps::default(),
            config,
        )
        .unwrap();
        (strangers, population)
    }

    #[test]
    fn alike_accounts_group_and_strangers_do_not() {
        let config = config();
        let (strangers, population) = strangers(&config);
        assert!(
            population.cut < population.strangers / 2.0,
            "{population:?}"
        );
        // Thirty accounts of one operation: one profile, a little noise each.
        let operation = noisy(&[0.5; DIMS], 99_999, 1.6);
        let candidate = |account: u32, f: &Fingerprint, exchanges: u32| Candidate {
            account,
            exchanges,
            z: population.standard(f),
        };
        let mut candidates: Vec<Candidate> = (0..30)
            .map(|i| candidate(i, &noisy(&operation, 10_000 + i as u64, 0.08), 100))
            .collect();
        candidates.extend(
            strangers[..300]
                .iter()
                .enumerate()
                .map(|(i, f)| candidate(100 + i as u32, f, 100)),
        );
        let found = groups(&candidates, &[], &population, &config, 5);
        assert_eq!(found.len(), 1, "{found:?}");
        let members = &found[0].members;
        assert!(members.len() >= 27, "{} of 30 grouped", members.len());
        assert!(members.iter().all(|&m| m < 30), "{members:?}");
    }

    #[test]
    fn accounts_spread_too_wide_to_be_alike_are_a_group_when_no_one_else_is_near_them() {
        let config = config();
        let (strangers, population) = strangers(&config);
        let cut = population.cut;
        // Eight accounts, each `cut` times 1.13 from every other (too far to be alike),
        // once far from every stranger and once among them.
        let spread = |account: u32, around: Fingerprint| {
            let mut z = around;
            z[account as usize % 8] += 0.8 * cut;
            Candidate {
                account,
                exchanges: 100,
                z,
            }
        };
        let far = [10.0 * cut; DIMS];
        let among = population.standard(&[0.5; DIMS]);
        let mut candidates: Vec<Candidate> = (0..8).map(|i| spread(i, far)).collect();
        candidates.extend((8..16).map(|i| spread(i, among)));
        candidates.extend(strangers[..300].iter().enumerate().map(|(i, f)| Candidate {
            account: 100 + i as u32,
            exchanges: 100,
            z: population.standard(f),
        }));
        let found = groups(&candidates, &[], &population, &config, 5);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].members, (0..8).collect::<Vec<u32>>());
        let alike_only = LikenessConfig {
            island_reach: 1.0,
            ..config
        };
        assert!(groups(&candidates, &[], &population, &alike_only, 5).is_empty());
    }

    #[test]
    fn an_island_takes_in_the_few_accounts_near_it_but_not_a_crowd() {
        let config = config();
        let (strangers, population) = strangers(&config);
        let cut = population.cut;
        let at = |account: u32, z: Fingerprint| Candidate {
            account,
            exchanges: 100,
            z,
        };
        // Eight accounts far from everyone, each 1.13 cuts from every other.
        let far = [10.0 * cut; DIMS];
        let spread = |i: u32| {
            let mut z = far;
            z[i as usize] += 0.8 * cut;
            z
        };
        let island: Vec<Candidate> = (0..8).map(|i| at(i, spread(i))).collect();
        // Accounts of the operation too little suspicious to found a group: each lies
        // 1.3 cuts from one member, within 1.2 times the island's longest link.
        let beside = |account: u32, member: u32, measure: usize| {
            let mut z = spread(member);
            z[measure] += 1.3 * cut;
            at(account, z)
        };
        let strangers: Vec<Candidate> = strangers[..300]
            .iter()
            .enumerate()
            .map(|(i, f)| at(1000 + i as u32, population.standard(f)))
            .collect();
        let mut joiners = vec![beside(100, 0, 20), beside(101, 3, 21)];
        joiners.extend(strangers.iter().copied());
        let found = groups(&island, &joiners, &population, &config, 5);
        assert_eq!(found.len(), 1, "{found:?}");
        let mut taken: Vec<u32> = (0..8).collect();
        taken.extend([100, 101]);
        assert_eq!(found[0].members, taken);
        // Five such accounts are a crowd the island stands among, not an island.
        joiners.extend((0..3).map(|k| beside(102 + k, 5, 22 + k as usize)));
        assert!(groups(&island, &joiners, &population, &config, 5).is_empty());
    }

    #[test]
    fn an_account_seen_a_few_times_joins_when_its_exchanges_are_in_the_group_proportions() {
        let config = config();
        // Strangers seldom do what the operation does (shares near 0.1).
        let shares_at = |f: Fingerprint, at: f32, spread: f32, seed: u64| {
            let noise = noisy(&[0.0; DIMS], seed, spread);
            let mut f = f;
            for d in (0..DIMS).filter(|&d| is_share(d)) {
                f[d] = (at + noise[d]).clamp(0.0, 1.0);
            }
            f
        };
        let strangers: Vec<Fingerprint> = (0..2000)
            .map(|i| shares_at(noisy(&[0.5; DIMS], i, 1.0), 0.1, 0.3, 5_000 + i))
            .collect();
        let population = Population::of(
            &strangers,
            0.1,
            Arrivals::default(),
            FollowUps::default(),
            &config,
        )
        .unwrap();
        let candidate = |account: u32, f: &Fingerprint, exchanges: u32| Candidate {
            account,
            exchanges,
            z: population.standard(f),
        };
        // Thirty accounts of 100 exchanges each, half of which do what the operation does.
        let operation = [0.5; DIMS];
        let members: Vec<Candidate> = (0..30)
            .map(|i| {
                let f = shares_at(operation, 0.5, 0.17, 10_000 + i as u64);
                candidate(i, &f, 100)
            })
            .collect();
        // Two exchanges of the operation's (each share 0, a half or 1, as two exchanges
        // drawn from it fall; at most two a day), and two ordinary ones.
        let mut alike = operation;
        for d in (0..DIMS).filter(|&d| is_share(d)) {
            alike[d] = [0.0, 1.0, 0.5, 0.5][d % 4];
        }
        let mut ordinary = shares_at(operation, 0.0, 0.0, 0);
        alike[VOLUME] = volume_measure(2.0);
        ordinary[VOLUME] = volume_measure(2.0);
        let joiners = [candidate(100, &alike, 2), candidate(101, &ordinary, 2)];
        let found = groups(&members, &joiners, &population, &config, 5);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].members.contains(&100), "{:?}", found[0].members);
        assert!(!found[0].members.contains(&101), "{:?}", found[0].members);
        // Between two searches, the same accounts coming in join the group found, or not,
        // as the search would have them; one already a member is not added twice.
        let mut kept = vec![AlikeGroup {
            members: (0..30).collect(),
            distance: found[0].distance,
        }];
        let with_member = [joiners[0], joiners[1], members[3]];
        join(
            &mut kept,
            std::slice::from_ref(&members),
            &with_member,
            &population,
        );
        assert_eq!(kept[0].members, found[0].members);
        // A group without founders takes no one.
        let mut founderless = vec![AlikeGroup {
            members: (0..30).collect(),
            distance: 0.0,
        }];
        join(&mut founderless, &[Vec::new()], &joiners, &population);
        assert_eq!(founderless[0].members.len(), 30);
    }

    #[test]
    fn a_request_shows_the_measures_of_a_fingerprint_it_alone_would_make() {
        let cases = [
            RequestKinds::default(),
            RequestKinds {
                reasoning: true,
                tools: true,
                with_system: true,
                topics: 0b1000_0000_0000_0101,
                ..RequestKinds::default()
            },
            RequestKinds {
                grading: true,
                targeted: true,
                heavy: true,
                reasoning_mode: true,
                earlier_turns: true,
                topics: 0b10,
                ..RequestKinds::default()
            },
        ];
        for kinds in cases {
            let mut p = Profile::default();
            p.count_exchange(crate::time::EventTime::from_unix_micros(0).unwrap());
            p.count_kinds(&kinds);
            let f = fingerprint(&p, (1, 1));
            let shown = request_measures(&kinds);
            for d in 0..DIMS {
                if let Some(shows) = shown[d] {
                    assert_eq!(f[d], f32::from(u8::from(shows)), "measure {d} of {kinds:?}");
                }
            }
            assert_eq!(shown.iter().flatten().count(), 8 + TOPIC_BUCKETS);
        }
    }
}
