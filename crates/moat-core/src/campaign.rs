//! Campaign evidence: what a cluster of linked accounts shows together, beyond what each
//! member shows alone.

use foldhash::{HashMap, HashSet};

use crate::account::AccountState;
use crate::config::DetectConfig;
use crate::firing::{Scope, profile_findings};
use crate::keys::KeyKind;
use crate::likeness::Population;
use crate::linker::Links;
use crate::profile::Profile;
use crate::rates::SignalRates;
use crate::signal::{Findings, SIGNALS, Signal};
use crate::sketch::Moments;
use crate::time::MICROS_PER_DAY;

/// Weight from which a signal of alike accounts is corroborated by their number.
const STRONG_SIGNAL: f32 = 0.15;

/// A cluster of linked accounts and the evidence against it.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Campaign {
    /// The cluster's root account (its earliest).
    pub root: u32,
    /// The signals the cluster shows.
    pub findings: Findings,
    /// The partners whose indicators its members carried, as bits (the provenance of
    /// `partner_intel`).
    pub partners: u32,
    /// How many members it had when assessed...
    pub members: u32,
    /// ...and, per signal, how many of them fired it on their own.
    pub firing_alone: [u32; SIGNALS],
}

/// How a cluster's accounts came together.
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    /// Tied by rare keys they share; per cluster root, how many members hold a linking
    /// template or system prompt ([`template_holders`]).
    Keys(&'a HashMap<u32, u32>),
    /// Grouped because they behave and ask alike ([`likeness`](crate::likeness)), judged
    /// against the population they were compared in.
    Likeness(&'a Population),
}

/// Reads the evidence of one cluster; `rates` says which signals each member fires on
/// its own.
pub fn assess(
    root: u32,
    members: &[u32],
    accounts: &[AccountState],
    route: Route,
    config: &DetectConfig,
    rates: &SignalRates,
) -> Campaign {
    let w = &config.weights;
    let l = &config.limits;
    let profiles: Vec<Profile> = members
        .iter()
        .map(|&m| accounts[m as usize].profile(&config.limits))
        .collect();
    let mut profile = Profile::default();
    for p in &profiles {
        profile.merge(p);
    }
    let mut own = profile_findings(&profile, Scope::Group, config);
    let mut findings = Findings::default();
    let size = members.len() as f64;
    // The signals the members' pooled traffic shows strongly enough to matter alone,
    // strongest first: the only kind a group's likeness and size may corroborate.
    let mut strongest: Vec<Signal> = Signal::ALL
        .into_iter()
        .filter(|&s| own.weight(s) >= f64::from(STRONG_SIGNAL))
        .collect();
    strongest.sort_by(|a, b| own.weight(*b).total_cmp(&own.weight(*a)));
    let strong = !strongest.is_empty();
    let least = match route {
        Route::Keys(_) => l.min_cluster,
        Route::Likeness(_) => config.likeness.min_members,
    } as usize;
    if members.len() >= least {
        if let Route::Keys(_) = route {
            findings.fire(Signal::LinkedAccounts, w.get(Signal::LinkedAccounts), size);
        }
        // Keyed clusters have the sign-up wave for this; alike accounts share no sign-up.
        // New accounts are common among customers too: a group counts as opened for the
        // job only when so many of its accounts are new that accounts drawn from the
        // population at random would seldom be.
        let new = f64::from(profile.new_accounts) / size;
        if let Route::Likeness(population) = route
            && new >= l.new_accounts_share
            && at_least_by_chance(
                profile.new_accounts,
                members.len() as u32,
                population.new_accounts,
            ) <= l.new_accounts_chance
        {
            findings.fire(Signal::NewAccounts, w.get(Signal::NewAccounts), new);
        }
        // Accounts aged or bought beforehand do not look new, but they are put to work
        // when the job starts: later than the population's accounts, and together.
        if let Route::Likeness(population) = route {
            let first_uses: Vec<i64> = profiles
                .iter()
                .filter_map(|p| p.span.map(|(first, _)| first))
                .collect();
            if let Some(late) = population.arrivals.late_start(&first_uses)
                && late.chance <= l.late_start_chance
            {
                findings.fire(Signal::LateStart, w.get(Signal::LateStart), late.lag);
            }
        }

        // An operation harvests answers one request at a time, where customers follow up
        // on what they were told. The likeness search already groups accounts by how
        // often they follow up, so this is no test of chance: it tells a group harvesting
        // from a crowd of customers asking alike, where most customers who show what the
        // group shows converse; and only where the group shows a strong signal for it to
        // corroborate (one-shot developers alike in their weak signals are not watched
        // for it).
        if let Route::Likeness(population) = route
            && strong
            && population
                .follow_ups
                .one_shot_share(&strongest, members)
                .is_some_and(|p| p.share <= l.no_follow_ups_population)
        {
            let seasoned = profiles.iter().filter(|p| p.exchanges >= l.min_exchanges);
            let (seen, never) = seasoned.fold((0u32, 0u32), |(seen, never), p| {
                (seen + 1, never + u32::from(p.earlier_turns == 0))
            });
            let share = f64::from(never) / f64::from(seen.max(1));
            if seen as usize >= least && share >= l.no_follow_ups_share {
                findings.fire(Signal::NoFollowUps, w.get(Signal::NoFollowUps), share);
            }
        }

        // Accounts run by one operation work every day they exist; independent customers
        // who happen to share a tool or a benchmark come and go. Only the first are
        // corroborating samples of one behaviour.
        let (alive, active) = members.iter().fold((0u64, 0u64), |(al, ac), &m| {
            let (alive, active) = accounts[m as usize].active_days();
            (al + u64::from(alive), ac + u64::from(active))
        });
        let steady = if alive == 0 {
            0.0
        } else {
            active as f64 / alive as f64
        };
        if steady >= l.coordinated_activity_share {
            if matches!(route, Route::Keys(_))
                && members.len() >= config.linking.corroborating_accounts as usize
            {
                own.corroborate(2);
                findings.corroborate(2);
            }
            findings.fire(
                Signal::CoordinatedActivity,
                w.get(Signal::CoordinatedActivity),
                steady,
            );
        }

        let mut created: Vec<i64> = members
            .iter()
            .filter_map(|&m| accounts[m as usize].created_at())
            .map(|t| t.as_unix_micros())
            .collect();
        created.sort_unstable();
        let mut densest = 0;
        let mut start = 0;
        for end in 0..created.len() {
            while created[end] - created[start] > MICROS_PER_DAY {
                start += 1;
            }
            densest = densest.max(end - start + 1);
        }
        let wave = densest as f64 / size;
        // Accounts grouped for their likeness share nothing else: a few of them opened
        // on one day may be chance, so their wave must be a cluster's size on its own.
        let wave_counts = matches!(route, Route::Keys(_)) || densest >= l.min_cluster as usize;
        if created.len() * 2 >= members.len() && wave >= l.signup_wave_share && wave_counts {
            findings.fire(Signal::SignupWave, w.get(Signal::SignupWave), wave);
        }

        let holders = match route {
            Route::Keys(holders) => holders.get(&root).copied().unwrap_or(0) as f64,
            Route::Likeness(_) => 0.0,
        };
        if holders / size >= l.shared_template_share {
            findings.fire(
                Signal::SharedTemplate,
                w.get(Signal::SharedTemplate),
                holders / size,
            );
        }

        let mut rates = Moments::default();
        for p in &profiles {
            if p.exchanges >= l.min_exchanges {
                rates.add(p.exchanges as f64 / p.span_days().max(1.0));
            }
        }
        if rates.n as usize >= l.min_cluster as usize
            && rates.n as f64 >= size / 2.0
            && let Some(cv) = rates.variation()
            && cv <= l.load_balance_variation
        {
            findings.fire(Signal::LoadBalanced, w.get(Signal::LoadBalanced), cv);
        }

        let movers = profile.early_movers as f64 / size;
        if movers >= l.model_move_share {
            findings.fire(
                Signal::SynchronisedModelMove,
                w.get(Signal::SynchronisedModelMove),
                movers,
            );
        }
    }
    if let Route::Likeness(_) = route
        && members.len() >= least
        && strong
        && OPERATION_TRAITS.iter().any(|&t| findings.weight(t) > 0.0)
    {
        // Customers are alike too: being alike is evidence only of a group that also
        // shows an operation's trait, and a signal strong enough to matter alone.
        findings.fire(Signal::AlikeAccounts, w.get(Signal::AlikeAccounts), size);
        // Each member shows its signals on its own, sharing nothing with the others: the
        // more of them show one profile, the less it can be chance. But customers alike
        // in what they ask (power users who want the steps, tutors) are alike too: only a
        // group that also shows an operation's trait is counted so. And only signals
        // strong enough to matter alone are counted again: a crowd of alike developers all
        // sending long requests is still a crowd of developers. An operation that shows
        // both kinds of trait (accounts opened or put to work for the job, and answers
        // harvested without following up) is counted once more: a cohort of customers
        // who joined together still converses, and a crowd of one-shot developers was not
        // opened for the job.
        let times = members.len() / (l.min_cluster.max(2) as usize);
        let opened = OPENING_TRAITS.iter().any(|&t| findings.weight(t) > 0.0);
        let harvesting = findings.weight(Signal::NoFollowUps) > 0.0;
        let both = i32::from(opened && harvesting);
        own.corroborate_strong(2 + times.max(1).ilog2().min(2) as i32 + both, STRONG_SIGNAL);
    }
    own.merge(&findings);
    let mut firing_alone = [0; SIGNALS];
    for (count, signal) in firing_alone.iter_mut().zip(Signal::ALL) {
        *count = members.iter().filter(|&&m| rates.fires(m, signal)).count() as u32;
    }
    Campaign {
        root,
        findings: own,
        partners: members
            .iter()
            .fold(0, |bits, &m| bits | accounts[m as usize].partners()),
        members: members.len() as u32,
        firing_alone,
    }
}

/// The chance that at least `k` of `n` accounts drawn at random are new, when a share
/// `p` of all accounts is (the upper tail of the binomial distribution), summed in logs.
fn at_least_by_chance(k: u32, n: u32, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    let (n, odds) = (f64::from(n), (p / (1.0 - p)).ln());
    // ln P(X = i), from i = 0 up.
    let mut ln_pmf = n * (1.0 - p).ln();
    let mut terms = Vec::new();
    for i in 0..n as u32 {
        if i >= k {
            terms.push(ln_pmf);
        }
        let i = f64::from(i);
        ln_pmf += ((n - i) / (i + 1.0)).ln() + odds;
    }
    terms.push(ln_pmf);
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln())
        .min(0.0)
        .exp()
}

/// What a group of alike accounts shows, beyond its members' own signals, when it is an
/// operation rather than customers alike: accounts opened for the job, opened together, put
/// to work together after the rest, or harvesting answers without ever following up.
const OPERATION_TRAITS: [Signal; 4] = [
    Signal::NewAccounts,
    Signal::SignupWave,
    Signal::LateStart,
    Signal::NoFollowUps,
];

/// The operation's traits that tell accounts opened or put to work for the job.
const OPENING_TRAITS: [Signal; 3] = [Signal::NewAccounts, Signal::SignupWave, Signal::LateStart];

/// Per cluster root, how many members hold at least one linking template or system
/// prompt key: accounts tied to the others by what they send, not only by where from.
pub fn template_holders(links: &Links) -> HashMap<u32, u32> {
    let mut holders: HashSet<u32> = HashSet::default();
    for s in &links.shared {
        if matches!(s.key.kind(), KeyKind::Template | KeyKind::SystemPrompt) {
            holders.extend(s.members);
        }
    }
    let mut per_root: HashMap<u32, u32> = HashMap::default();
    for m in holders {
        *per_root.entry(links.root[&m]).or_default() += 1;
    }
    per_root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ModelNews;
    use crate::analysed::Analysed;
    use crate::exchange::{AccountInfo, Exchange, Request};
    use crate::time::EventTime;

    /// `n` accounts of a dozen exchanges each, the `k`-th opened `opened(k)` µs into 2026.
    fn accounts(n: usize, opened: impl Fn(usize) -> i64) -> Vec<AccountState> {
        let start = 1_767_225_600_000_000; // 2026-01-01
        let limits = DetectConfig::default().limits;
        (0..n)
            .map(|k| {
                let mut state = AccountState::default();
                for x in 0..12 {
                    let e = Analysed::of(Exchange {
                        ts: EventTime::from_unix_micros(
                            start + 40 * MICROS_PER_DAY + x * 60_000_000,
                        )
                        .unwrap(),
                        account_id: format!("a{k}").into(),
                        account: AccountInfo {
                            created_at: EventTime::from_unix_micros(start + opened(k)),
                            ..AccountInfo::default()
                        },
                        request: Request {
                            prompt: Some(format!("Question {x} of account {k}")),
                            ..Request::default()
                        },
                        ..Exchange::default()
                    });
                    let news = ModelNews { early_move: false };
                    state.observe(e.exchange(), e.content(), e.carried(), news, &limits);
                }
                state
            })
            .collect()
    }

    #[test]
    fn accounts_opened_within_a_day_are_a_wave_and_spread_ones_are_not() {
        let config = DetectConfig::default();
        let (rates, holders) = (SignalRates::default(), HashMap::default());
        let members: Vec<u32> = (0..6).collect();
        let assess = |accounts: &[AccountState]| {
            assess(
                0,
                &members,
                accounts,
                Route::Keys(&holders),
                &config,
                &rates,
            )
        };
        let wave = assess(&accounts(6, |k| k as i64 * 3_600_000_000));
        assert!(wave.findings.weight(Signal::SignupWave) > 0.0);
        assert!(wave.findings.weight(Signal::LinkedAccounts) > 0.0);
        assert_eq!(wave.members, 6);
        let spread = assess(&accounts(6, |k| k as i64 * 5 * MICROS_PER_DAY));
        assert_eq!(spread.findings.weight(Signal::SignupWave), 0.0);
        assert!(spread.findings.score() < wave.findings.score());
    }

    #[test]
    fn the_chance_of_so_many_new_accounts_is_the_binomial_tail() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.max(1e-300);
        assert_eq!(at_least_by_chance(0, 10, 0.1), 1.0);
        assert!(close(at_least_by_chance(5, 5, 0.5), 1.0 / 32.0));
        assert!(close(at_least_by_chance(1, 1, 0.2), 0.2));
        // 1 - P(0) - P(1) - P(2) of ten accounts a tenth of which are new.
        let head: f64 =
            0.9f64.powi(10) + 10.0 * 0.1 * 0.9f64.powi(9) + 45.0 * 0.01 * 0.9f64.powi(8);
        assert!(close(at_least_by_chance(3, 10, 0.1), 1.0 - head));
        // A thousand accounts, all new, where one in six is: no chance at all, and no
        // overflow on the way.
        let tiny = at_least_by_chance(1000, 1000, 1.0 / 6.0);
        assert!((0.0..1e-300).contains(&tiny), "{tiny}");
        // Half of a group new where half of everyone is: nothing unusual.
        assert!(at_least_by_chance(50, 100, 0.5) > 0.5);
    }
}
