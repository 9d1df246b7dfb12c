//! The round, in five stages: judge again the accounts that changed, link them by the
//! keys they share, assess the clusters and alike groups, score the accounts, and publish
//! what is blocked.

use foldhash::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::campaign::Campaign;
use crate::firing::{Scope, profile_findings};
use crate::likeness;
use crate::linker;
use crate::signal::Signal;
use crate::time::EventTime;
use crate::verdict::Verdict;

use super::{CarriedCampaign, Engine};

/// Time the engine spent in its linking rounds, by stage (wall clock; the verdicts never
/// depend on it).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundCosts {
    /// Judging the accounts that changed on their own and re-indexing their keys.
    pub judge: Duration,
    /// Linking: which shared keys link which accounts, and the clusters.
    pub link: Duration,
    /// Reading each cluster's evidence.
    pub assess: Duration,
    /// Scoring the accounts that changed or whose campaign did, and the blocklist.
    pub score: Duration,
}

/// What a round's assessment found: the campaigns, and who is in them.
#[derive(Default)]
pub(super) struct Assessment {
    /// The campaigns, by root account.
    pub(super) campaigns: HashMap<u32, Campaign>,
    /// The clusters of linked accounts large enough to count, by root account: their
    /// members and how many of them hold a linking template.
    pub(super) clusters: HashMap<u32, (Vec<u32>, u32)>,
    /// The accounts that join a campaign's evidence, with the campaign's root.
    pub(super) joined: HashMap<u32, u32>,
    /// The accounts that carry a blocked campaign's traffic among other senders', with the
    /// campaign's root and share.
    pub(super) carriers: HashMap<u32, (u32, f32)>,
    /// Each campaign carried, by root.
    pub(super) carried_campaigns: HashMap<u32, CarriedCampaign>,
    /// The campaigns assessed again this round (the others kept their evidence).
    pub(super) reassessed: HashSet<u32>,
}

impl Engine {
    /// One round, in five stages: judge again the accounts that changed, link them by the
    /// keys they share, assess the clusters and alike groups whose members or their states
    /// changed, score again the accounts that changed or whose campaign did, and publish
    /// what is blocked. Verdicts are taken at `ts`. An account that did not change, in a
    /// campaign whose evidence did not, would score the same: it is left as it is.
    pub(super) fn round(&mut self, ts: i64) {
        self.rounds += 1;
        let started = Instant::now();
        let (dirty, searched) = self.judge();
        let judged = Instant::now();
        // The round's links borrow the index: it is lent to them, and back after.
        let mut index = std::mem::take(&mut self.index);
        let mut links = index.link(&self.config);
        let linked = Instant::now();
        let assessment = self.assess(&mut links, searched);
        let assessed = Instant::now();
        self.score(dirty, &assessment, ts);
        self.publish(&links, assessment);
        drop(links);
        self.index = index;
        let costs = &mut self.costs;
        costs.judge += judged - started;
        costs.link += linked - judged;
        costs.assess += assessed - linked;
        costs.score += assessed.elapsed();
    }

    /// Judges again each account read since the last round, on its own: its score,
    /// fingerprint and keys; and, every `every_rounds` rounds, searches the groups of
    /// alike accounts. Returns the accounts judged, and whether it searched.
    fn judge(&mut self) -> (Vec<u32>, bool) {
        let limits = &self.config.limits;
        let dirty = std::mem::take(&mut self.dirty);
        let mut keys = Vec::new();
        for &i in &dirty {
            let account = &self.accounts[i as usize];
            let profile = account.profile(limits);
            let findings = profile_findings(&profile, Scope::Account, &self.config);
            self.rates.judge(i, &findings);
            let score = findings.score();
            self.own_scores[i as usize] = score as f32;
            self.fingerprints[i as usize] = likeness::fingerprint(&profile, account.active_days());
            let judged = linker::Judged {
                judged: profile.exchanges >= limits.min_exchanges,
                suspicious: score >= self.config.linking.suspicion,
            };
            keys.clear();
            account.keys(|k| keys.push(k.raw()));
            keys.sort_unstable();
            keys.dedup();
            self.index.update(i, &keys, judged);
        }
        let every = u64::from(self.config.likeness.every_rounds.max(1));
        let searched = self.rounds % every == 1 % every;
        if searched {
            self.alike = self.alike_groups();
        } else {
            self.join_alike_groups(&dirty);
        }
        (dirty, searched)
    }

    /// Scores again the accounts judged this round and those whose campaign changed or
    /// whose evidence did: each on its own evidence merged with its campaign's, and takes
    /// their verdicts at `ts` (a block stands).
    pub(super) fn score(&mut self, dirty: Vec<u32>, assessment: &Assessment, ts: i64) {
        let Assessment {
            campaigns,
            joined,
            carriers,
            reassessed,
            ..
        } = assessment;
        let mut rescore = dirty;
        rescore.extend(
            carriers
                .iter()
                .filter(|&(i, c)| self.carriers.get(i) != Some(c))
                .map(|(&i, _)| i),
        );
        rescore.extend(self.carriers.keys().filter(|i| !carriers.contains_key(i)));
        rescore.extend(
            joined
                .iter()
                .filter(|&(i, root)| reassessed.contains(root) || self.joined.get(i) != Some(root))
                .map(|(&i, _)| i),
        );
        rescore.extend(self.joined.keys().filter(|i| !joined.contains_key(i)));
        rescore.sort_unstable();
        rescore.dedup();
        // A group of alike accounts blocked once, most of whose members stand blocked,
        // stays a campaign: an account that joins it later fits the evidence it was
        // blocked on, though the members' pooled shares have moved since. Per such group
        // now below the cut: its members, and how many of them are blocked.
        let lapsed = |root: &u32| {
            self.alike_roots.contains(root)
                && self.blocked_campaigns.contains_key(root)
                && campaigns
                    .get(root)
                    .is_some_and(|c| c.findings.score() < self.config.block)
        };
        let mut members: HashMap<u32, (u32, u32)> = HashMap::default();
        for (&i, root) in joined.iter().filter(|(_, root)| lapsed(root)) {
            let count = members.entry(*root).or_default();
            count.0 += 1;
            count.1 += u32::from(self.accounts[i as usize].decision.verdict == Verdict::Block);
        }
        let at = EventTime::from_unix_micros(ts).unwrap_or_default();
        for &i in &rescore {
            self.is_dirty[i as usize] = false;
            let account = &mut self.accounts[i as usize];
            let mut findings = profile_findings(
                &account.profile(&self.config.limits),
                Scope::Account,
                &self.config,
            );
            let joined = joined
                .get(&i)
                .and_then(|root| campaigns.get(root))
                .map(|c| match members.get(&c.root) {
                    Some(&(all, blocked)) if 2 * blocked > all => &self.blocked_campaigns[&c.root],
                    _ => c,
                });
            if let Some(c) = joined {
                findings.merge(&c.findings);
            }
            // A carrier is put on watch with the campaign it carries, never blocked for it:
            // its other senders are customers.
            let carried = carriers.get(&i).filter(|_| joined.is_none());
            let capped = carried.is_some() && findings.score() < self.config.block;
            if let Some(&(_, share)) = carried {
                findings.fire(
                    Signal::CarriesCampaign,
                    self.config.weights.get(Signal::CarriesCampaign),
                    f64::from(share),
                );
            }
            let mut score = findings.score();
            if capped {
                score = score.min(self.config.block - 1e-3);
            }
            let joined = joined.map(|c| c.root).or(carried.map(|&(root, _)| root));
            let d = &mut account.decision;
            let before = (d.verdict, d.campaign, d.score);
            if d.verdict == Verdict::Block {
                d.score = d.score.max(score as f32);
                // A blocked account follows its campaign to a new root, but not into a
                // cluster or group that would not block it: that is no campaign of its.
                if score >= self.config.block {
                    d.campaign = joined.or(d.campaign);
                }
            } else {
                d.score = score as f32;
                d.campaign = joined;
                d.verdict = if score >= self.config.block {
                    d.flagged_at = Some(at);
                    Verdict::Block
                } else if score >= self.config.watch {
                    Verdict::Watch
                } else {
                    Verdict::Allow
                };
            }
            if d.verdict == Verdict::Block {
                self.with_blocks.extend(d.campaign);
            }
            if before != (d.verdict, d.campaign, d.score)
                && let Some(changes) = &mut self.changes
            {
                changes.add(i);
            }
        }
    }

    /// Keeps the round's campaigns for the next, and publishes the keys of the campaigns
    /// that block (a new account carrying one is blocked at once) and their evidence.
    fn publish(&mut self, links: &linker::Links, assessment: Assessment) {
        let Assessment {
            campaigns,
            clusters,
            joined,
            carriers,
            carried_campaigns,
            ..
        } = assessment;
        self.carriers = carriers;
        self.carried_campaigns = carried_campaigns;
        self.blocklist.clear();
        for s in &links.shared {
            let root = links.root[&s.members[0]];
            if campaigns
                .get(&root)
                .is_some_and(|c| c.findings.score() >= self.config.block)
            {
                self.blocklist.insert(s.key, root);
            }
        }
        for c in campaigns.values() {
            if c.findings.score() >= self.config.block {
                self.blocked_campaigns.insert(c.root, *c);
            }
        }
        self.joined = joined;
        self.clusters = clusters;
        self.campaigns = campaigns;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::exchange::{AccountInfo, Client, Exchange, Request};
    use crate::time::{EventTime, MICROS_PER_MINUTE};
    use crate::{Analysed, DetectConfig, Engine};

    impl Engine {
        /// Forgets what the next round could keep from the last: every cluster is
        /// assessed again and every account judged and scored again, from scratch.
        fn forget_round_cache(&mut self) {
            self.clusters.clear();
            for i in 0..self.accounts.len() as u32 {
                self.touch(i);
            }
        }
    }

    const WORDS: [&str; 12] = [
        "garden", "invoice", "poem", "recipe", "holiday", "bicycle", "letter", "budget", "sunset",
        "museum", "guitar", "tomato",
    ];

    /// Exchange `n` of a small world, sent by whom `pick` says: `operators` campaigns of
    /// `per_operator` accounts, each campaign's accounts sharing a card and a network and
    /// asking for the reasoning through one template; and customers of their own, asking
    /// varied questions.
    fn exchange(n: usize, pick: u64, operators: usize, per_operator: usize) -> Exchange {
        let t = 1_780_000_000_000_000 + n as i64 * 7 * MICROS_PER_MINUTE;
        let campaign_accounts = operators * per_operator;
        let who = (pick % (campaign_accounts as u64 * 2)) as usize;
        let word = |k: u64| WORDS[((pick >> (8 * k)) % WORDS.len() as u64) as usize];
        let mut e = Exchange {
            ts: EventTime::from_unix_micros(t).unwrap(),
            ..Exchange::default()
        };
        if who < campaign_accounts {
            let op = who / per_operator;
            e.account_id = format!("op{op}-{who}").into();
            e.client = Client {
                ip: Some(format!("198.51.{op}.{}", who % 3).parse().unwrap()),
                ..Client::default()
            };
            e.account = AccountInfo {
                payment_fingerprint: Some(format!("pm-op{op}").into()),
                verified: Some(false),
                ..AccountInfo::default()
            };
            e.request = Request {
                prompt: Some(format!(
                    "Task {n}: implement the {} module of a {} service. Reason through it step by step and show every step of your thinking.",
                    word(1),
                    word(2)
                )),
                max_tokens: Some(32_000),
                ..Request::default()
            };
        } else {
            e.account_id = format!("customer-{}", who - campaign_accounts).into();
            e.account = AccountInfo {
                payment_fingerprint: Some(format!("pm-c{who}").into()),
                verified: Some(true),
                ..AccountInfo::default()
            };
            e.request = Request {
                prompt: Some(format!("What rhymes with {} and {}?", word(1), word(3))),
                ..Request::default()
            };
        }
        e
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// A round keeps what did not change (a cluster's evidence, an account's score):
        /// its verdicts are those of rounds that keep nothing.
        #[test]
        fn rounds_that_keep_what_did_not_change_decide_as_rounds_from_scratch(
            picks in proptest::collection::vec(any::<u64>(), 600..1200),
            operators in 1usize..3,
            per_operator in 5usize..9,
            every_minutes in prop_oneof![Just(30u32), Just(60), Just(240)],
            every_rounds in 1u32..5,
        ) {
            let mut config = DetectConfig {
                link_every_minutes: every_minutes,
                ..DetectConfig::default()
            };
            config.likeness.every_rounds = every_rounds;
            let (mut kept, mut fresh) = (Engine::new(config.clone()), Engine::new(config));
            for (n, &pick) in picks.iter().enumerate() {
                let e = exchange(n, pick, operators, per_operator);
                let e = Analysed::of(e);
                kept.observe(&e);
                fresh.forget_round_cache();
                fresh.observe(&e);
            }
            let (kept, fresh) = (kept.finish(), fresh.finish());
            // The world is one where campaigns are found, not one where nothing happens.
            prop_assert!(kept.report.summary.accounts_blocked > 0);
            prop_assert_eq!(&kept.accounts, &fresh.accounts);
            prop_assert_eq!(&kept.report, &fresh.report);
        }
    }
}
