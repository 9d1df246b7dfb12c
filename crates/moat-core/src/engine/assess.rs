//! The round's assessment: the evidence of each cluster of linked accounts and each group
//! of alike accounts, who joins which campaign, and which accounts carry a blocked
//! campaign's traffic among their customers'.

use foldhash::{HashMap, HashSet};

use crate::account::AccountState;
use crate::arrivals::Arrivals;
use crate::campaign::{self, Campaign};
use crate::follow_ups::{self, FollowUps};
use crate::likeness;
use crate::linker;
use crate::share;

use super::report::ORIGIN;
use super::round::Assessment;
use super::{CarriedCampaign, Engine};

/// Rounds between two readings of the population's units for the likeness search.
const POPULATION_EVERY_ROUNDS: u64 = 24;

impl Engine {
    /// Reads the evidence of every cluster of linked accounts and every group of alike
    /// accounts large enough to count, again where its members or their states changed,
    /// and which accounts join which campaign's evidence. Alike groups are as `searched`
    /// this round, or kept from the last search.
    pub(super) fn assess(&mut self, links: &mut linker::Links, searched: bool) -> Assessment {
        let holders = campaign::template_holders(links);
        let min = (self.config.limits.min_cluster as usize).max(2);
        let mut out = Assessment::default();
        // The campaign rooted at `root` as the last round assessed it when `unchanged`,
        // else assessed again (and counted as reassessed).
        let (last, accounts, config, rates) =
            (&self.campaigns, &self.accounts, &self.config, &self.rates);
        let reassessed = &mut out.reassessed;
        let mut kept_or_assessed = |root, members: &[u32], route, unchanged: bool| match last
            .get(&root)
            .filter(|_| unchanged)
        {
            Some(c) => *c,
            None => {
                reassessed.insert(root);
                campaign::assess(root, members, accounts, route, config, rates)
            }
        };
        for (root, members) in std::mem::take(&mut links.clusters) {
            if members.len() < min {
                continue;
            }
            let holding = holders.get(&root).copied().unwrap_or(0);
            let unchanged = self.clusters.get(&root).is_some_and(|(before, held)| {
                *held == holding
                    && *before == members
                    && members.iter().all(|&m| !self.is_dirty[m as usize])
            });
            let c = kept_or_assessed(root, &members, campaign::Route::Keys(&holders), unchanged);
            out.campaigns.insert(root, c);
            out.clusters.insert(root, (members, holding));
        }
        out.joined = links
            .root
            .iter()
            .filter(|&(i, root)| out.campaigns.contains_key(root) && links.fit[i] >= 1.0)
            .map(|(&i, &root)| (i, root))
            .collect();
        let mut alike_roots = HashSet::default();
        // Alike groups are found only in the population's units.
        let alike = match &self.population {
            Some((_, population)) => self.alike.iter().map(|g| (g, population)).collect(),
            None => Vec::new(),
        };
        for (group, population) in alike {
            let Some(root) = alike_root(
                &self.accounts,
                &self.alike_roots,
                &group.members,
                &out.campaigns,
            ) else {
                continue;
            };
            alike_roots.insert(root);
            // Between two searches a group keeps its members: while none of them changed,
            // its evidence has not either.
            let unchanged = !searched && group.members.iter().all(|&m| !self.is_dirty[m as usize]);
            let c = kept_or_assessed(
                root,
                &group.members,
                campaign::Route::Likeness(population),
                unchanged,
            );
            out.campaigns.insert(root, c);
            for &m in &group.members {
                out.joined.entry(m).or_insert(root);
            }
        }
        self.alike_roots = alike_roots;
        (out.carriers, out.carried_campaigns) = if searched {
            self.find_carriers(&out)
        } else {
            (self.carriers.clone(), self.carried_campaigns.clone())
        };
        out
    }

    /// The accounts that carry many senders' traffic ([`AccountState::carries_many`]),
    /// outside every campaign, of which a blocked campaign's requests make up at least
    /// `carrier_min_share` ([`share`]), with the campaign they carry most of; and the
    /// measures of each campaign carried, as read (its median member's).
    fn find_carriers(
        &self,
        out: &Assessment,
    ) -> (HashMap<u32, (u32, f32)>, HashMap<u32, CarriedCampaign>) {
        let mut found = HashMap::default();
        let mut models = HashMap::default();
        let Some((_, population)) = &self.population else {
            return (found, models);
        };
        let limits = &self.config.limits;
        let candidates: Vec<u32> = (0..self.accounts.len() as u32)
            .filter(|i| {
                let a = &self.accounts[*i as usize];
                // A carrier stays one when its campaign's requests come to outnumber its
                // customers' so far that its traffic looks like one sender's.
                a.exchange_count() >= limits.carrier_min_exchanges
                    && !out.joined.contains_key(i)
                    && (a.carries_many() || self.carriers.contains_key(i))
            })
            .collect();
        if candidates.is_empty() {
            return (found, models);
        }
        // With peers, a carrier's customers are read from theirs; without, from the
        // population's average customer, which a reseller's are not, and its share must
        // clear twice the bar.
        let peers = candidates.len() >= share::MIN_CARRIERS;
        let min_share = limits.carrier_min_share * if peers { 1.0 } else { 2.0 };
        let prints: Vec<likeness::Fingerprint> = candidates
            .iter()
            .filter(|_| peers)
            .map(|&i| population.standard(&self.fingerprints[i as usize]))
            .collect();
        let mut members: HashMap<u32, Vec<u32>> = HashMap::default();
        for (&i, &root) in &out.joined {
            if out
                .campaigns
                .get(&root)
                .is_some_and(|c| c.findings.score() >= self.config.block)
            {
                members.entry(root).or_default().push(i);
            }
        }
        let mut roots: Vec<u32> = members.keys().copied().collect();
        roots.sort_unstable();
        for root in roots {
            let Some(centre) = self.campaign_centre(population, &members[&root]) else {
                continue;
            };
            // Its client sends every sender's requests one way: only what they ask tells
            // the campaign's from its customers'.
            let measures = likeness::mixes_by_sender;
            let customers = if peers {
                share::carriers_customers(&prints, &centre, measures)
            } else {
                ORIGIN
            };
            for &i in &candidates {
                let Some(s) = self.share_of(population, i, &centre, &customers, measures) else {
                    continue;
                };
                let best = found.get(&i).map_or(0.0, |&(_, e): &(u32, f32)| e);
                if s.low >= min_share && s.estimate as f32 > best {
                    found.insert(i, (root, s.estimate as f32));
                }
            }
            let carried = CarriedCampaign {
                measures: population.raw(&centre),
                customers,
            };
            models.insert(root, carried);
        }
        models.retain(|root, _| found.values().any(|(r, _)| r == root));
        (found, models)
    }

    /// The groups of accounts that behave and ask alike, among those whose own evidence
    /// makes them worth comparing ([`likeness`]). The population's units are read again
    /// every [`POPULATION_EVERY_ROUNDS`] rounds: they move slowly.
    pub(super) fn alike_groups(&mut self) -> Vec<likeness::AlikeGroup> {
        let stale = self
            .population
            .as_ref()
            .is_none_or(|(at, _)| self.rounds >= at + POPULATION_EVERY_ROUNDS);
        if stale {
            self.population = self.read_population().map(|p| (self.rounds, p));
        }
        let Some((_, population)) = &self.population else {
            return Vec::new();
        };
        let config = &self.config.likeness;
        let n = self.accounts.len();
        let candidates: Vec<likeness::Candidate> = (0..n as u32)
            .filter(|&i| self.founds(i))
            .map(|i| self.candidate(i, population))
            .collect();
        let min = (config.min_members as usize).max(2);
        if candidates.len() < min {
            return Vec::new();
        }
        // Accounts an operation dilutes with filler, or seen a few times only, still carry
        // its fingerprint: they may join a group its other accounts found.
        let joiners: Vec<likeness::Candidate> = (0..n as u32)
            .filter(|&i| {
                self.accounts[i as usize].exchange_count() >= config.join_min_exchanges
                    && !self.founds(i)
            })
            .map(|i| self.candidate(i, population))
            .collect();
        likeness::groups(&candidates, &joiners, population, config, min)
    }

    /// Between two searches, gives the accounts of `judged` outside every alike group to the
    /// group they fit, as the search would: an account that comes in while its campaign is
    /// known joins it within the round, not at the next search.
    pub(super) fn join_alike_groups(&mut self, judged: &[u32]) {
        let Some((_, population)) = &self.population else {
            return;
        };
        if self.alike.is_empty() {
            return;
        }
        let grouped: HashSet<u32> = self
            .alike
            .iter()
            .flat_map(|g| &g.members)
            .copied()
            .collect();
        let min_exchanges = self.config.likeness.join_min_exchanges;
        let joiners: Vec<likeness::Candidate> = judged
            .iter()
            .filter(|&&i| {
                !grouped.contains(&i) && self.accounts[i as usize].exchange_count() >= min_exchanges
            })
            .map(|&i| self.candidate(i, population))
            .collect();
        if joiners.is_empty() {
            return;
        }
        let founders: Vec<Vec<likeness::Candidate>> = self
            .alike
            .iter()
            .map(|g| {
                g.members
                    .iter()
                    .filter(|&&m| self.founds(m))
                    .map(|&m| self.candidate(m, population))
                    .collect()
            })
            .collect();
        likeness::join(&mut self.alike, &founders, &joiners, population);
    }

    /// Whether account `i` is seen enough, and suspicious enough on its own, to found a
    /// group of alike accounts.
    fn founds(&self, i: u32) -> bool {
        let config = &self.config.likeness;
        self.accounts[i as usize].exchange_count() >= config.min_exchanges
            && f64::from(self.own_scores[i as usize]) >= config.min_score
    }

    /// Account `i` as the likeness search compares it, in `population`'s units.
    fn candidate(&self, i: u32, population: &likeness::Population) -> likeness::Candidate {
        likeness::Candidate {
            account: i,
            exchanges: self.accounts[i as usize].exchange_count(),
            z: population.standard(&self.fingerprints[i as usize]),
        }
    }

    /// The population's units, read off a sample of the accounts seen enough.
    fn read_population(&self) -> Option<likeness::Population> {
        let config = &self.config.likeness;
        let n = self.accounts.len();
        let stride = (n / likeness::SAMPLE).max(1);
        let sampled: Vec<usize> = (0..n)
            .step_by(stride)
            .filter(|&i| self.accounts[i].exchange_count() >= config.min_exchanges)
            .collect();
        let sample: Vec<likeness::Fingerprint> =
            sampled.iter().map(|&i| self.fingerprints[i]).collect();
        let (mut known, mut new) = (0u32, 0u32);
        let mut first_uses = Vec::with_capacity(sampled.len());
        let mut follow_ups = Vec::with_capacity(sampled.len());
        for &i in &sampled {
            let account = &self.accounts[i];
            let profile = account.profile(&self.config.limits);
            if account.created_at().is_some() {
                known += 1;
                new += profile.new_accounts;
            }
            first_uses.extend(profile.span.map(|(first, _)| first));
            follow_ups.push(follow_ups::Sampled {
                account: i as u32,
                signals: self.rates.signals(i as u32),
                one_shot: profile.earlier_turns == 0,
            });
        }
        let new_accounts = f64::from(new) / f64::from(known.max(1));
        let arrivals = Arrivals::new(first_uses);
        let follow_ups = FollowUps::new(follow_ups);
        likeness::Population::of(&sample, new_accounts, arrivals, follow_ups, config)
    }
}

/// The root a group of alike accounts goes by: the root of the last round's group most
/// of its members were in, if that is free, else its first member not already a
/// campaign's root.
fn alike_root(
    accounts: &[AccountState],
    previous: &HashSet<u32>,
    members: &[u32],
    taken: &HashMap<u32, Campaign>,
) -> Option<u32> {
    let mut before: HashMap<u32, u32> = HashMap::default();
    for &m in members {
        if let Some(root) = accounts[m as usize].decision.campaign
            && previous.contains(&root)
        {
            *before.entry(root).or_default() += 1;
        }
    }
    let kept = before
        .into_iter()
        .filter(|(root, _)| !taken.contains_key(root))
        .max_by_key(|&(root, count)| (count, std::cmp::Reverse(root)))
        .map(|(root, _)| root);
    kept.or_else(|| members.iter().copied().find(|m| !taken.contains_key(m)))
}
