//! The story of a scan, for reports: when the traffic came, hour by hour, and how each
//! campaign grew and hangs together. Kept only when asked for ([`Engine::with_story`]).
//!
//! Per account the engine then keeps its exchanges per hour, run-length and delta encoded
//! (a few bytes per hour in which the account was active), and what its requests targeted.
//!
//! [`Engine::with_story`]: crate::Engine::with_story

use std::collections::BTreeMap;

use foldhash::HashMap;

use serde::{Deserialize, Serialize};

use crate::account::AccountState;
use crate::config::Limits;
use crate::content::{Capabilities, ContentSignals};
use crate::keys::Key;
use crate::time::{EventTime, MICROS_PER_DAY, MICROS_PER_HOUR};
use crate::verdict::Verdict;

/// At most this many buckets in a timeline: longer logs are drawn in wider buckets.
pub const MAX_BUCKETS: usize = 2_000;
/// At most this many keys of each kind are drawn in a campaign's network: those most of
/// its accounts hold.
pub const KEYS_PER_KIND: usize = 6;
/// At most this many holders of each drawn key are drawn (an even sample of them).
pub const HOLDERS_PER_KEY: usize = 6;

/// One account's activity: exchanges per hour, and what its requests targeted.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AccountActivity {
    /// The hour (since the Unix epoch) being counted, and its count so far.
    hour: i64,
    count: u32,
    /// The hour of the last run in `runs`.
    flushed: i64,
    /// Earlier (hour, count) runs: zigzag varint of the hour's distance from the run
    /// before, then varint of the count.
    runs: Vec<u8>,
    /// Exchanges targeting software, agentic, maths and long-horizon work.
    capabilities: [u32; 4],
}

impl AccountActivity {
    /// Counts one exchange at `ts`.
    pub fn observe(&mut self, ts: EventTime, content: &ContentSignals) {
        let hour = ts.as_unix_micros().div_euclid(MICROS_PER_HOUR);
        if self.count > 0 && hour != self.hour {
            push_varint(&mut self.runs, zigzag(self.hour - self.flushed));
            push_varint(&mut self.runs, u64::from(self.count));
            self.flushed = self.hour;
            self.count = 0;
        }
        if self.count == 0 {
            self.hour = hour;
        }
        self.count += 1;
        for (n, flag) in self.capabilities.iter_mut().zip(CAPABILITIES) {
            *n += u32::from(content.capabilities.contains(flag));
        }
    }

    /// The account's exchanges per hour (hour since the Unix epoch, count), in the order
    /// they were first seen.
    pub fn hours(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        let mut bytes = self.runs.as_slice();
        let mut hour = 0i64;
        let flushed = std::iter::from_fn(move || {
            let delta = unzigzag(take_varint(&mut bytes)?);
            let count = take_varint(&mut bytes)? as u32;
            hour += delta;
            Some((hour, count))
        });
        flushed.chain((self.count > 0).then_some((self.hour, self.count)))
    }
}

const CAPABILITIES: [Capabilities; 4] = [
    Capabilities::SOFTWARE,
    Capabilities::AGENTIC,
    Capabilities::MATHS,
    Capabilities::LONG_HORIZON,
];

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Exchanges per bucket of time: bucket `k` covers the `bucket_hours` hours from
/// `start + k * bucket_hours`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Start of the first bucket.
    pub start: Option<EventTime>,
    /// Hours per bucket.
    pub bucket_hours: u32,
    /// Exchanges per bucket.
    pub counts: Vec<u64>,
}

impl Timeline {
    /// An empty timeline covering the hours `first..=last` (since the Unix epoch) in at
    /// most [`MAX_BUCKETS`] buckets.
    pub fn covering(first: i64, last: i64) -> Self {
        let hours = (last - first + 1).max(1) as u64;
        let bucket_hours = hours.div_ceil(MAX_BUCKETS as u64).max(1);
        Self {
            start: EventTime::from_unix_micros(first * MICROS_PER_HOUR),
            bucket_hours: bucket_hours as u32,
            counts: vec![0; hours.div_ceil(bucket_hours) as usize],
        }
    }

    /// An empty timeline over the same buckets.
    pub fn like(other: &Timeline) -> Self {
        Self {
            start: other.start,
            bucket_hours: other.bucket_hours,
            counts: vec![0; other.counts.len()],
        }
    }

    /// Adds `count` exchanges in `hour` (since the Unix epoch); hours outside are ignored.
    pub fn add(&mut self, hour: i64, count: u64) {
        let Some(start) = self.start else { return };
        let offset = hour - start.as_unix_micros().div_euclid(MICROS_PER_HOUR);
        if offset < 0 {
            return;
        }
        let bucket = (offset / i64::from(self.bucket_hours.max(1))) as usize;
        if let Some(c) = self.counts.get_mut(bucket) {
            *c += count;
        }
    }
}

/// What a campaign's requests targeted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CapabilityMix {
    /// Exchanges of the campaign.
    pub exchanges: u64,
    /// Exchanges targeting software engineering.
    pub software: u64,
    /// Exchanges targeting agentic work (tools, plans, actions).
    pub agentic: u64,
    /// Exchanges targeting mathematics and formal reasoning.
    pub maths: u64,
    /// Exchanges targeting long-horizon, multi-step tasks.
    pub long_horizon: u64,
    /// Exchanges asking for written-out reasoning.
    pub reasoning: u64,
    /// Exchanges asking the model to grade.
    pub grading: u64,
}

impl CapabilityMix {
    /// Adds one account's counts.
    pub fn add(
        &mut self,
        activity: &AccountActivity,
        exchanges: u32,
        reasoning: u32,
        grading: u32,
    ) {
        let [software, agentic, maths, long_horizon] = activity.capabilities.map(u64::from);
        self.exchanges += u64::from(exchanges);
        self.software += software;
        self.agentic += agentic;
        self.maths += maths;
        self.long_horizon += long_horizon;
        self.reasoning += u64::from(reasoning);
        self.grading += u64::from(grading);
    }
}

/// One account drawn in a campaign's network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The account.
    pub account_id: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its score.
    pub score: f64,
}

/// One shared key drawn in a campaign's network (never its value: keys are kept as
/// hashes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyNode {
    /// The kind of key ([`KeyKind::name`](crate::keys::KeyKind::name)).
    pub kind: String,
    /// How many of the campaign's accounts hold it.
    pub holders: u64,
}

/// A drawn account holding a drawn key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// Index of the account in the nodes.
    pub account: u32,
    /// Index of the key in the keys.
    pub key: u32,
}

/// How many keys of one kind the campaign's accounts share, and how many accounts hold one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedKind {
    /// The kind of key ([`KeyKind::name`](crate::keys::KeyKind::name)).
    pub kind: String,
    /// Distinct keys of this kind held by two or more of the campaign's accounts.
    pub keys: u64,
    /// The campaign's accounts holding at least one of them.
    pub accounts: u64,
}

/// The structure of a campaign: the keys most of its accounts share, [`KEYS_PER_KIND`] of
/// each kind at most, and up to [`HOLDERS_PER_KEY`] of the accounts holding each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// The accounts drawn.
    pub nodes: Vec<Node>,
    /// The keys drawn, by kind, most held first.
    pub keys: Vec<KeyNode>,
    /// Every drawn account's hold on every drawn key.
    pub edges: Vec<Edge>,
    /// Over all the campaign's accounts, the shared keys by kind.
    pub kinds: Vec<SharedKind>,
    /// The campaign's accounts, drawn or not.
    pub accounts: u64,
}

/// The story of one campaign.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignStory {
    /// The campaign's id, as in the report.
    pub id: String,
    /// The campaign's exchanges over time (same buckets as [`Story::all`]).
    pub timeline: Timeline,
    /// Accounts opened per day: (day's start, accounts), in order; accounts whose opening
    /// is unknown are left out.
    pub created: Vec<(EventTime, u64)>,
    /// Accounts whose opening is unknown.
    pub created_unknown: u64,
    /// What its requests targeted.
    pub mix: CapabilityMix,
    /// Exchanges made by its accounts before each was blocked (all of them, for accounts
    /// never blocked).
    pub before_block: u64,
    /// Exchanges made by its accounts after they were blocked (what a live deployment
    /// would have refused).
    pub after_block: u64,
    /// Its accounts and the keys that tie them.
    pub network: Network,
}

/// The story of a scan: the traffic over time and one story per reported campaign.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Story {
    /// Every exchange over time.
    pub all: Timeline,
    /// One story per reported campaign, in the report's order.
    pub campaigns: Vec<CampaignStory>,
}

impl Story {
    /// The story of the campaign with `id`, if it has one.
    pub fn campaign(&self, id: &str) -> Option<&CampaignStory> {
        self.campaigns.iter().find(|c| c.id == id)
    }
}

/// Tells the story of a scan: `accounts` and `activity` by account index, `names` their
/// ids, `campaigns` each reported campaign's id and members, `span` the first and last
/// event time read (µs), `limits` the engine's.
pub(crate) fn tell(
    accounts: &[AccountState],
    names: &[Box<str>],
    activity: &[AccountActivity],
    campaigns: &[(&str, &[u32])],
    span: Option<(i64, i64)>,
    limits: &Limits,
) -> Story {
    let Some((first, last)) = span else {
        return Story::default();
    };
    let mut all = Timeline::covering(
        first.div_euclid(MICROS_PER_HOUR),
        last.div_euclid(MICROS_PER_HOUR),
    );
    for a in activity {
        for (hour, count) in a.hours() {
            all.add(hour, u64::from(count));
        }
    }
    let campaigns = campaigns
        .iter()
        .map(|&(id, members)| campaign_story(id, members, accounts, names, activity, &all, limits))
        .collect();
    Story { all, campaigns }
}

fn campaign_story(
    id: &str,
    members: &[u32],
    accounts: &[AccountState],
    names: &[Box<str>],
    activity: &[AccountActivity],
    all: &Timeline,
    limits: &Limits,
) -> CampaignStory {
    let mut story = CampaignStory {
        id: id.to_owned(),
        timeline: Timeline::like(all),
        ..CampaignStory::default()
    };
    let mut created: BTreeMap<i64, u64> = BTreeMap::new();
    for &m in members {
        let state = &accounts[m as usize];
        let profile = state.profile(limits);
        if let Some(a) = activity.get(m as usize) {
            for (hour, count) in a.hours() {
                story.timeline.add(hour, u64::from(count));
            }
            story
                .mix
                .add(a, profile.exchanges, profile.reasoning, profile.grading);
        }
        match state.created_at() {
            Some(t) => {
                *created
                    .entry(t.as_unix_micros().div_euclid(MICROS_PER_DAY))
                    .or_default() += 1
            }
            None => story.created_unknown += 1,
        }
        let before = state.decision.before_block.min(state.exchange_count());
        story.before_block += u64::from(before);
        story.after_block += u64::from(state.exchange_count() - before);
    }
    story.created = created
        .into_iter()
        .filter_map(|(day, n)| Some((EventTime::from_unix_micros(day * MICROS_PER_DAY)?, n)))
        .collect();
    story.network = network(members, accounts, names);
    story
}

/// The accounts of a campaign and the keys two or more of them hold.
fn network(members: &[u32], accounts: &[AccountState], names: &[Box<str>]) -> Network {
    let mut held: Vec<(Key, u32)> = Vec::new();
    for (position, &m) in members.iter().enumerate() {
        accounts[m as usize].keys(|k| held.push((k, position as u32)));
    }
    held.sort_unstable_by_key(|&(k, p)| (k.kind(), k, p));
    held.dedup();

    let mut net = Network {
        accounts: members.len() as u64,
        ..Network::default()
    };
    // Member position → node, for the accounts drawn.
    let mut node_of: HashMap<u32, u32> = HashMap::default();
    let mut drawn_keys: HashMap<Key, u32> = HashMap::default();
    let mut holding = vec![false; members.len()];
    for same_kind in held.chunk_by(|x, y| x.0.kind() == y.0.kind()) {
        let kind = same_kind[0].0.kind();
        holding.iter_mut().for_each(|h| *h = false);
        let mut shared: Vec<&[(Key, u32)]> = same_kind
            .chunk_by(|x, y| x.0 == y.0)
            .filter(|h| h.len() >= 2)
            .collect();
        if shared.is_empty() {
            continue;
        }
        for holders in &shared {
            holders
                .iter()
                .for_each(|&(_, p)| holding[p as usize] = true);
        }
        net.kinds.push(SharedKind {
            kind: kind.name().to_owned(),
            keys: shared.len() as u64,
            accounts: holding.iter().filter(|&&h| h).count() as u64,
        });
        // The most held keys of the kind, each with an even sample of its holders.
        shared.sort_by_key(|h| std::cmp::Reverse(h.len()));
        for holders in shared.into_iter().take(KEYS_PER_KIND) {
            drawn_keys.insert(holders[0].0, net.keys.len() as u32);
            net.keys.push(KeyNode {
                kind: kind.name().to_owned(),
                holders: holders.len() as u64,
            });
            let sampled = holders.len().min(HOLDERS_PER_KEY);
            for k in 0..sampled {
                let position = holders[k * holders.len() / sampled].1;
                node_of.entry(position).or_insert_with(|| {
                    let m = members[position as usize];
                    let d = &accounts[m as usize].decision;
                    net.nodes.push(Node {
                        account_id: names[m as usize].to_string(),
                        verdict: d.verdict,
                        score: f64::from(d.score).clamp(0.0, 1.0),
                    });
                    net.nodes.len() as u32 - 1
                });
            }
        }
    }
    // Every hold of a drawn account on a drawn key: the ties between the hubs show.
    for (key, position) in held {
        if let (Some(&key), Some(&account)) = (drawn_keys.get(&key), node_of.get(&position)) {
            net.edges.push(Edge { account, key });
        }
    }
    net
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ModelNews;
    use crate::exchange::Exchange;
    use crate::keys::Carried;

    #[test]
    fn a_network_draws_the_most_shared_keys_of_each_kind_and_a_few_holders_each() {
        // Twenty accounts pay with one card; each uses one of eight addresses.
        let mut accounts: Vec<AccountState> = Vec::new();
        for i in 0..20u8 {
            let mut e = Exchange {
                ts: at(490_000),
                ..Exchange::default()
            };
            e.client.ip = Some(format!("198.51.100.{}", i % 8).parse().unwrap());
            e.account.payment_fingerprint = Some("pm_shared".into());
            let content = crate::content::analyse(&e.request);
            let carried = Carried::of(&e, &content);
            let mut a = AccountState::default();
            let news = ModelNews { early_move: false };
            a.observe(&e, &content, &carried, news, &Limits::default());
            accounts.push(a);
        }
        let members: Vec<u32> = (0..20).collect();
        let names: Vec<Box<str>> = (0..20).map(|i| format!("acct-{i}").into()).collect();
        let net = network(&members, &accounts, &names);

        let kind = |k: &str| net.kinds.iter().find(|s| s.kind == k).unwrap();
        assert_eq!((kind("ip").keys, kind("ip").accounts), (8, 20));
        assert_eq!((kind("payment").keys, kind("payment").accounts), (1, 20));
        let drawn = |k: &str| -> Vec<u64> {
            net.keys
                .iter()
                .filter(|n| n.kind == k)
                .map(|n| n.holders)
                .collect()
        };
        assert_eq!(drawn("payment"), [20]);
        assert_eq!(drawn("ip"), [3, 3, 3, 3, 2, 2], "the most held first");
        assert!(
            net.nodes.len() <= 7 * HOLDERS_PER_KEY,
            "{}",
            net.nodes.len()
        );
        // Every drawn account is tied to the card it shares, not only to the key it
        // was drawn for.
        let card = net.keys.iter().position(|n| n.kind == "payment").unwrap() as u32;
        for account in 0..net.nodes.len() as u32 {
            assert!(net.edges.contains(&Edge { account, key: card }));
        }
        assert!(net.edges.iter().all(|e| (e.key as usize) < net.keys.len()));
        assert_eq!(net.accounts, 20);
    }

    fn at(hour: i64) -> EventTime {
        EventTime::from_unix_micros(hour * MICROS_PER_HOUR + 17).unwrap()
    }

    #[test]
    fn hours_round_trip_in_order_with_gaps_and_returns() {
        let mut a = AccountActivity::default();
        let content = crate::content::analyse(&crate::exchange::Request::default());
        let hours = [
            490_000, 490_000, 490_001, 490_007, 490_007, 490_007, 489_990, 490_100,
        ];
        for h in hours {
            a.observe(at(h), &content);
        }
        let got: Vec<(i64, u32)> = a.hours().collect();
        assert_eq!(
            got,
            vec![
                (490_000, 2),
                (490_001, 1),
                (490_007, 3),
                (489_990, 1),
                (490_100, 1)
            ]
        );
    }

    #[test]
    fn varints_survive_extremes() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            1 << 40,
            -(1 << 40),
            i64::MAX / 2,
            i64::MIN / 2,
        ] {
            let mut buf = Vec::new();
            push_varint(&mut buf, zigzag(v));
            let mut s = buf.as_slice();
            assert_eq!(unzigzag(take_varint(&mut s).unwrap()), v);
            assert!(s.is_empty());
        }
    }

    #[test]
    fn long_spans_use_wider_buckets() {
        let t = Timeline::covering(0, 24 * 365 - 1);
        assert!(t.counts.len() <= MAX_BUCKETS);
        assert_eq!(t.bucket_hours, 5);
        let mut t = Timeline::covering(100, 147);
        assert_eq!((t.bucket_hours, t.counts.len()), (1, 48));
        t.add(100, 2);
        t.add(147, 1);
        t.add(148, 9);
        t.add(99, 9);
        assert_eq!((t.counts[0], t.counts[47]), (2, 1));
        assert_eq!(t.counts.iter().sum::<u64>(), 3);
    }
}
