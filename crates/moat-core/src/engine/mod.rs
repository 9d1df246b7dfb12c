//! The engine: reads exchanges in event-time order, keeps each account's state, and on a
//! cadence of event time links accounts, scores accounts and campaigns, and takes verdicts,
//! each stamped with the event time at which it was taken.

use foldhash::{HashMap, HashSet};

use crate::account::AccountState;
use crate::blocklist::Blocklist;
use crate::campaign::Campaign;
use crate::clock::{Placed, StreamClock};
use crate::config::DetectConfig;
use crate::intel::PartnerIntel;
use crate::likeness;
use crate::linker;
use crate::rates::SignalRates;
use crate::snapshot::{self, SnapshotError};
use crate::story::{AccountActivity, Story};
use crate::time::{EventTime, MICROS_PER_MINUTE};
use crate::verdict::{AccountVerdict, Report};

mod assess;
mod ingest;
mod report;
mod round;
mod verdicts;

pub use round::RoundCosts;

/// The detection engine. Deterministic: the same records in the same order give the same
/// verdicts, however they were read.
///
/// Its state, less its configuration and partners' indicators, is what a
/// [snapshot] holds.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Engine {
    #[serde(skip)]
    config: DetectConfig,
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    accounts: Vec<AccountState>,
    /// When each model was first seen.
    models: HashMap<Box<str>, i64>,
    first_ts: Option<i64>,
    /// The latest event time read.
    now: i64,
    /// The stream's event time, on which rounds fall due.
    clock: StreamClock,
    next_round: Option<i64>,
    /// Keys of blocked campaigns.
    blocklist: Blocklist,
    /// Who holds which link key, kept between rounds.
    index: linker::KeyIndex,
    /// Accounts read since the last round, to be judged again.
    dirty: Vec<u32>,
    /// Per account, its score on its own evidence when last judged.
    own_scores: Vec<f32>,
    /// How many accounts fire each signal on their own, what evidence is compared with.
    rates: SignalRates,
    /// Per account, its likeness fingerprint when last judged.
    fingerprints: Vec<likeness::Fingerprint>,
    is_dirty: Vec<bool>,
    /// The clusters assessed in the last round, by root account: their members and how
    /// many of them hold a linking template. A cluster found again with the same members
    /// and holders, none of whom changed, keeps its evidence.
    clusters: HashMap<u32, (Vec<u32>, u32)>,
    /// The accounts that joined a campaign's evidence in the last round (linked strongly
    /// enough), with the campaign's root account.
    joined: HashMap<u32, u32>,
    /// The campaigns of the last round, by root account.
    campaigns: HashMap<u32, Campaign>,
    /// Accounts carrying many senders' traffic of which a blocked campaign's makes up a
    /// clear part, as of the last search: the campaign's root, and its estimated share.
    carriers: HashMap<u32, (u32, f32)>,
    /// Each campaign carried by an account, by the campaign's root, as of the last search.
    carried_campaigns: HashMap<u32, CarriedCampaign>,
    /// The roots of the last round's groups of alike accounts: a group found again keeps
    /// its root, so a campaign keeps its id as its accounts come and go.
    alike_roots: HashSet<u32>,
    /// The groups of alike accounts last searched for, judged again in the rounds between
    /// two searches.
    alike: Vec<likeness::AlikeGroup>,
    /// The population's units the likeness search compares in, and the round they were
    /// read in.
    population: Option<(u64, likeness::Population)>,
    /// The last evidence of every campaign that had blocked accounts, by root account, so
    /// a campaign whose accounts are gone or merged into another is still reported.
    blocked_campaigns: HashMap<u32, Campaign>,
    /// Campaigns (by root account) that had an account blocked while in them.
    with_blocks: HashSet<u32>,
    /// Accounts whose decision may have changed since [`Engine::take_changes`], when
    /// changes are recorded.
    #[serde(skip)]
    changes: Option<Changes>,
    exchanges: u64,
    rounds: u64,
    /// Partners' indicators to check new accounts against, if any.
    #[serde(skip)]
    intel: Option<Box<dyn PartnerIntel>>,
    /// The partners' names, by their bit.
    partners: Vec<String>,
    /// Per account, its activity for the story of the scan, when a story is kept.
    activity: Option<Vec<AccountActivity>>,
    /// Time spent in linking rounds, by stage.
    #[serde(skip)]
    costs: RoundCosts,
}

/// A campaign carried by accounts that carry many senders' traffic.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct CarriedCampaign {
    /// Its measures (its median member's), as read.
    measures: likeness::Fingerprint,
    /// The measures of such accounts' customers, in the population's units
    /// ([`share::carriers_customers`](crate::share::carriers_customers)).
    customers: likeness::Fingerprint,
}

/// Accounts whose decision may have changed, each once.
#[derive(Default)]
struct Changes {
    accounts: Vec<u32>,
    listed: Vec<bool>,
}

impl Changes {
    pub(super) fn add(&mut self, i: u32) {
        if self.listed.len() <= i as usize {
            self.listed.resize(i as usize + 1, false);
        }
        if !std::mem::replace(&mut self.listed[i as usize], true) {
            self.accounts.push(i);
        }
    }
}

/// What a scan concludes: a verdict per account and the campaigns.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// One verdict per account, in order of first appearance.
    pub accounts: Vec<AccountVerdict>,
    /// Per account (same order), how many of its exchanges were read before it was blocked.
    pub before_block: Vec<u64>,
    /// The campaigns and the totals.
    pub report: Report,
    /// What a report draws, when the engine kept it ([`Engine::with_story`]).
    pub story: Option<Story>,
    /// Time the engine spent in its linking rounds, by stage.
    pub costs: RoundCosts,
}

impl Engine {
    /// An engine with `config` (check it with [`DetectConfig::validate`] first).
    pub fn new(config: DetectConfig) -> Self {
        Self {
            clock: StreamClock::new(&config.clock),
            config,
            ids: HashMap::default(),
            names: Vec::new(),
            accounts: Vec::new(),
            models: HashMap::default(),
            first_ts: None,
            now: i64::MIN,
            next_round: None,
            blocklist: Blocklist::default(),
            index: linker::KeyIndex::default(),
            dirty: Vec::new(),
            own_scores: Vec::new(),
            rates: SignalRates::default(),
            fingerprints: Vec::new(),
            is_dirty: Vec::new(),
            clusters: HashMap::default(),
            joined: HashMap::default(),
            campaigns: HashMap::default(),
            alike_roots: HashSet::default(),
            alike: Vec::new(),
            carriers: HashMap::default(),
            carried_campaigns: HashMap::default(),
            population: None,
            blocked_campaigns: HashMap::default(),
            with_blocks: HashSet::default(),
            changes: None,
            exchanges: 0,
            rounds: 0,
            intel: None,
            partners: Vec::new(),
            activity: None,
            costs: RoundCosts::default(),
        }
    }

    /// Keeps what a report draws (each account's exchanges per hour and what its requests
    /// targeted): [`Engine::story`] and [`Outcome::story`] are then available.
    pub fn with_story(mut self) -> Self {
        self.activity = Some(Vec::new());
        self
    }

    /// Checks the first exchanges of every account against partners' indicators (the
    /// `partner_intel` signal).
    pub fn with_intel(mut self, intel: Box<dyn PartnerIntel>) -> Self {
        self.partners = intel.partners();
        self.intel = Some(intel);
        self
    }

    /// The engine's state as a [snapshot]: what [`Engine::restore`] reads
    /// back under the same configuration and partners.
    pub fn save(&self) -> Result<Vec<u8>, SnapshotError> {
        snapshot::write(self, &self.config, &self.partners)
    }

    /// The engine a snapshot holds, as it stood when saved, to go on reading records from
    /// there: `config` and `partners` (the names of the partners whose indicators it
    /// checks, [`PartnerIntel::partners`]) must be those it was saved under, else it is
    /// refused. Give it its partners' indicators again with [`Engine::with_intel`]; it keeps
    /// a story if it kept one when saved.
    pub fn restore(
        config: DetectConfig,
        partners: &[String],
        bytes: &[u8],
    ) -> Result<Self, SnapshotError> {
        let mut engine: Engine = snapshot::read(bytes, &config, partners)?;
        let n = engine.accounts.len();
        let per_account = [
            engine.names.len(),
            engine.ids.len(),
            engine.own_scores.len(),
            engine.fingerprints.len(),
            engine.is_dirty.len(),
        ];
        if per_account.iter().any(|&len| len != n)
            || engine.activity.as_ref().is_some_and(|a| a.len() != n)
            || engine.dirty.iter().any(|&i| i as usize >= n)
        {
            return Err(SnapshotError::Damaged(
                "its lists of accounts disagree".into(),
            ));
        }
        engine.config = config;
        Ok(engine)
    }

    /// Records from now on which accounts' decisions change, for [`Engine::take_changes`]
    /// (a live service publishes them; a scan has no use for them).
    pub fn record_changes(&mut self) {
        self.changes.get_or_insert_with(Changes::default);
    }

    pub(super) fn changed(&mut self, i: u32) {
        if let Some(changes) = &mut self.changes {
            changes.add(i);
        }
    }

    pub(super) fn account(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.ids.get(id) {
            return i;
        }
        let i = self.accounts.len() as u32;
        self.ids.insert(id.into(), i);
        self.names.push(id.into());
        self.accounts.push(AccountState::default());
        self.own_scores.push(0.0);
        self.fingerprints.push([0.0; likeness::DIMS]);
        self.is_dirty.push(false);
        i
    }

    /// Asks the processor to fetch the state of account `i` (which must exist) and its
    /// activity before they are needed: the states of many accounts outgrow the caches, and
    /// an account's turn comes at random.
    pub(super) fn prefetch_account(&self, i: u32) {
        let i = i as usize;
        prefetch(&self.accounts[i]);
        if let Some(a) = self.activity.as_ref().and_then(|a| a.get(i)) {
            prefetch(a);
        }
    }

    pub(super) fn touch(&mut self, i: u32) {
        if !std::mem::replace(&mut self.is_dirty[i as usize], true) {
            self.dirty.push(i);
        }
    }

    /// Places a record stamped `ts` on the stream's clock and runs the rounds of linking
    /// and scoring that fall due; says at what time the record is read.
    pub(super) fn advance(&mut self, ts: i64) -> Placed {
        let placed = self.clock.place(ts);
        let now = self.clock.now().unwrap_or(placed.ts);
        let every = self.config.link_every_minutes.max(1) as i64 * MICROS_PER_MINUTE;
        if placed.rewound {
            self.next_round = None;
        }
        let next = *self
            .next_round
            .get_or_insert(now.div_euclid(every) * every + every);
        self.now = self.now.max(placed.ts);
        if now >= next {
            self.round(now);
            self.next_round = Some(now.div_euclid(every) * every + every);
        }
        placed
    }

    /// How many exchanges lay too far ahead of the stream's time and were read at it
    /// ([`ClockConfig`](crate::clock::ClockConfig)).
    pub fn clamped(&self) -> u64 {
        self.clock.clamped()
    }

    /// The keys of the campaigns blocked in the last round.
    pub fn blocklist(&self) -> &Blocklist {
        &self.blocklist
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &DetectConfig {
        &self.config
    }

    /// The latest event time read, if any exchange was.
    pub fn now(&self) -> Option<EventTime> {
        (self.exchanges > 0)
            .then_some(self.now)
            .and_then(EventTime::from_unix_micros)
    }

    /// How many exchanges were read.
    pub fn exchanges(&self) -> u64 {
        self.exchanges
    }

    /// How many accounts were seen.
    pub fn accounts(&self) -> usize {
        self.accounts.len()
    }

    /// Time spent in linking rounds so far, by stage.
    pub fn round_costs(&self) -> RoundCosts {
        self.costs
    }

    /// How many rounds of linking and scoring ran.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// How many clusters of the last round have evidence of a campaign (reach `watch`).
    pub fn active_campaigns(&self) -> usize {
        self.campaigns
            .values()
            .filter(|c| c.findings.score() >= self.config.watch)
            .count()
    }
}

/// Asks the processor to fetch `value` into the cache (a hint: it may not).
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start: *const T = value;
        for line in (0..std::mem::size_of::<T>()).step_by(64) {
            // SAFETY: every x86-64 processor has SSE, and a prefetch never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.cast::<i8>().wrapping_add(line)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
