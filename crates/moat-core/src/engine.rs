//! The engine: reads exchanges in event-time order, keeps each account's state, and on a
//! cadence of event time links accounts, scores accounts and campaigns, and takes verdicts,
//! each stamped with the event time at which it was taken.

use foldhash::{HashMap, HashSet};
use std::time::{Duration, Instant};

use xxhash_rust::xxh3::xxh3_64;

use crate::account::{AccountState, ModelNews};
use crate::arrivals::Arrivals;
use crate::blocklist::{Blocklist, ExchangeKeys};
use crate::campaign::{self, Campaign};
use crate::clock::{Placed, StreamClock};
use crate::config::DetectConfig;
use crate::content;
use crate::exchange::{AccountRecord, Exchange, Record};
use crate::firing::{Scope, profile_findings};
use crate::follow_ups::{self, FollowUps};
use crate::intel::{self, PartnerIntel};
use crate::keys::Carried;
use crate::likeness;
use crate::linker;
use crate::profile::RequestKinds;
use crate::rates::SignalRates;
use crate::requests::CarriedRequests;
use crate::share;
use crate::signal::{Findings, Signal};
use crate::snapshot::{self, SnapshotError};
use crate::story::{self, AccountActivity, Story};
use crate::time::{EventTime, MICROS_PER_DAY, MICROS_PER_MINUTE};
use crate::verdict::{
    AccountVerdict, CARRIER_SHARE, CampaignReport, Carrier, Evidence, Report, ScanSummary, Verdict,
    reported,
};

/// Rounds between two readings of the population's units for the likeness search.
const POPULATION_EVERY_ROUNDS: u64 = 24;
/// How many accounts ahead of its turn an account's state is fetched.
const PREFETCH_AHEAD: usize = 8;

/// What the engine takes of an exchange besides the exchange itself: its content signals
/// and the link keys it carries. A scan works them out on its decoding threads, where the
/// text is read and dropped, so that the engine's thread does not.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The content signals of the exchange's text.
    pub content: content::ContentSignals,
    /// The link keys it carries.
    pub carried: Carried,
}

impl Prepared {
    /// Analyses `e`'s text and works out its keys.
    pub fn of(e: &Exchange) -> Self {
        let content = content::analyse(&e.request);
        let carried = Carried::of(e, &content);
        Self { content, carried }
    }
}

/// The detection engine. Deterministic: the same records in the same order give the same
/// verdicts, however they were read.
///
/// Its state, less its configuration and partners' indicators, is what a
/// [snapshot](crate::snapshot) holds.
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
    /// The measures of each campaign carried by an account (its median member's, as
    /// read), by the campaign's root, as of the last search.
    carried_campaigns: HashMap<u32, likeness::Fingerprint>,
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

/// Accounts whose decision may have changed, each once.
#[derive(Default)]
struct Changes {
    accounts: Vec<u32>,
    listed: Vec<bool>,
}

impl Changes {
    fn add(&mut self, i: u32) {
        if self.listed.len() <= i as usize {
            self.listed.resize(i as usize + 1, false);
        }
        if !std::mem::replace(&mut self.listed[i as usize], true) {
            self.accounts.push(i);
        }
    }
}

/// What a round's assessment found: the campaigns, and who is in them.
#[derive(Default)]
struct Assessment {
    /// The campaigns, by root account.
    campaigns: HashMap<u32, Campaign>,
    /// The clusters of linked accounts large enough to count, by root account: their
    /// members and how many of them hold a linking template.
    clusters: HashMap<u32, (Vec<u32>, u32)>,
    /// The accounts that join a campaign's evidence, with the campaign's root.
    joined: HashMap<u32, u32>,
    /// The accounts that carry a blocked campaign's traffic among other senders', with the
    /// campaign's root and share.
    carriers: HashMap<u32, (u32, f32)>,
    /// The measures of each campaign carried (its median member's, as read), by root.
    carried_campaigns: HashMap<u32, likeness::Fingerprint>,
    /// The campaigns assessed again this round (the others kept their evidence).
    reassessed: HashSet<u32>,
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

    /// The engine's state as a [snapshot](crate::snapshot): what [`Engine::restore`] reads
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

    fn changed(&mut self, i: u32) {
        if let Some(changes) = &mut self.changes {
            changes.add(i);
        }
    }

    fn account(&mut self, id: &str) -> u32 {
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
    fn prefetch_account(&self, i: u32) {
        let i = i as usize;
        prefetch(&self.accounts[i]);
        if let Some(a) = self.activity.as_ref().and_then(|a| a.get(i)) {
            prefetch(a);
        }
    }

    fn touch(&mut self, i: u32) {
        if !std::mem::replace(&mut self.is_dirty[i as usize], true) {
            self.dirty.push(i);
        }
    }

    /// Places a record stamped `ts` on the stream's clock and runs the rounds of linking
    /// and scoring that fall due; says at what time the record is read.
    fn advance(&mut self, ts: i64) -> Placed {
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

    /// Reads what an account record says of an account.
    pub fn observe_account(&mut self, record: &AccountRecord) {
        let i = self.account(&record.account_id);
        self.accounts[i as usize].update_info(&record.account);
        self.touch(i);
    }

    /// Reads records in order, each exchange with what it was prepared into, if it was
    /// ([`Prepared::of`] it, at the same index of `prepared`). Faster than one record at a
    /// time: each exchange's account is looked up a few records before its turn, and its
    /// state fetched into the cache meanwhile.
    pub fn observe_records(&mut self, records: &[Record], prepared: &[Option<Prepared>]) {
        // The account of record `n`, if known when it was looked up ahead, at
        // `n % PREFETCH_AHEAD`.
        let mut ahead = [None; PREFETCH_AHEAD];
        let look_up = |engine: &Self, n: usize| match records.get(n) {
            Some(Record::Exchange(e)) => {
                let known = engine.ids.get(e.account_id.as_str()).copied();
                if let Some(i) = known {
                    engine.prefetch_account(i);
                }
                known
            }
            _ => None,
        };
        for (n, slot) in ahead.iter_mut().enumerate() {
            *slot = look_up(self, n);
        }
        for (n, record) in records.iter().enumerate() {
            let known = std::mem::replace(
                &mut ahead[n % PREFETCH_AHEAD],
                look_up(self, n + PREFETCH_AHEAD),
            );
            match (record, prepared.get(n).and_then(Option::as_ref)) {
                (Record::Exchange(e), Some(p)) => self.take_in(known, e, &p.content, &p.carried),
                (Record::Exchange(e), None) => {
                    let p = Prepared::of(e);
                    self.take_in(known, e, &p.content, &p.carried);
                }
                (Record::Account(a), _) => self.observe_account(a),
            }
        }
    }

    /// Reads one exchange.
    pub fn observe(&mut self, e: &Exchange) {
        let p = Prepared::of(e);
        self.take_in(None, e, &p.content, &p.carried);
    }

    /// Reads one exchange whose text was already analysed (and perhaps dropped): `content`
    /// must be [`analyse`](content::analyse) of its request.
    pub fn observe_analysed(&mut self, e: &Exchange, content: &content::ContentSignals) {
        self.take_in(None, e, content, &Carried::of(e, content));
    }

    /// Takes an exchange in; `known` is its account's index, if looked up already.
    fn take_in(
        &mut self,
        known: Option<u32>,
        e: &Exchange,
        content: &content::ContentSignals,
        carried: &Carried,
    ) {
        let placed = self.advance(e.ts.as_unix_micros());
        let at_clock;
        let e = if placed.clamped {
            at_clock = Exchange {
                ts: EventTime::from_unix_micros(placed.ts).unwrap_or(e.ts),
                ..e.clone()
            };
            &at_clock
        } else {
            e
        };
        let ts = placed.ts;
        self.first_ts = Some(self.first_ts.map_or(ts, |first| first.min(ts)));
        self.exchanges += 1;
        let i = known.unwrap_or_else(|| self.account(&e.account_id));
        self.touch(i);
        let news = self.model_news(e, i);
        let state = &mut self.accounts[i as usize];
        state.observe(e, content, carried, news, &self.config.limits);
        if let Some(intel) = &self.intel
            && state.exchange_count() <= crate::intel::CHECKED_EXCHANGES
        {
            state.add_partner_match(intel.matches(e, content));
        }
        if let Some(activity) = &mut self.activity {
            if activity.len() <= i as usize {
                activity.resize_with(i as usize + 1, Default::default);
            }
            activity[i as usize].observe(e.ts, content);
        }
        if state.decision.verdict != Verdict::Block {
            self.check_blocked_keys(i, e, carried);
        }
        let decision = &mut self.accounts[i as usize].decision;
        if decision.verdict != Verdict::Block {
            decision.before_block += 1;
        }
    }

    fn model_news(&mut self, e: &Exchange, account: u32) -> ModelNews {
        let ts = e.ts.as_unix_micros();
        let Some(model) = e.model.as_deref() else {
            return ModelNews { early_move: false };
        };
        let released = match self.models.get(model) {
            Some(&t) => t,
            None => {
                self.models.insert(model.into(), ts);
                ts
            }
        };
        let log_start = self.first_ts.unwrap_or(ts);
        let was_active_before = self.accounts[account as usize]
            .span()
            .is_some_and(|(first, _)| first < released);
        ModelNews {
            early_move: released > log_start + MICROS_PER_DAY
                && ts - released < MICROS_PER_DAY
                && was_active_before,
        }
    }

    /// Blocks at once an account whose exchange carries keys of a blocked campaign worth a
    /// full link (one key per kind counts, so templates alone never suffice): the keys the
    /// exchange carries, and the account's (its own facts, as this exchange updated them,
    /// and the keys it repeats).
    fn check_blocked_keys(&mut self, i: u32, e: &Exchange, carried: &Carried) {
        if self.blocklist.is_empty() {
            return;
        }
        let mut found: ExchangeKeys = carried.keys().collect();
        self.accounts[i as usize].keys(|k| found.push(k));
        let Some(root) = self
            .blocklist
            .matching(&found, &self.config.linking.strength)
        else {
            return;
        };
        let score = self
            .campaigns
            .get(&root)
            .map_or(1.0, |c| c.findings.score());
        let decision = &mut self.accounts[i as usize].decision;
        decision.verdict = Verdict::Block;
        decision.campaign = Some(root);
        decision.flagged_at = Some(e.ts);
        decision.score = score.max(self.config.block) as f32;
        self.with_blocks.insert(root);
        self.changed(i);
    }

    /// One round, in five stages: judge again the accounts that changed, link them by the
    /// keys they share, assess the clusters and alike groups whose members or their states
    /// changed, score again the accounts that changed or whose campaign did, and publish
    /// what is blocked. Verdicts are taken at `ts`. An account that did not change, in a
    /// campaign whose evidence did not, would score the same: it is left as it is.
    fn round(&mut self, ts: i64) {
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
        }
        (dirty, searched)
    }

    /// Reads the evidence of every cluster of linked accounts and every group of alike
    /// accounts large enough to count, again where its members or their states changed,
    /// and which accounts join which campaign's evidence. Alike groups are as `searched`
    /// this round, or kept from the last search.
    fn assess(&mut self, links: &mut linker::Links, searched: bool) -> Assessment {
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
    ) -> (
        HashMap<u32, (u32, f32)>,
        HashMap<u32, likeness::Fingerprint>,
    ) {
        let mut found = HashMap::default();
        let mut models = HashMap::default();
        let Some((_, population)) = &self.population else {
            return (found, models);
        };
        let limits = &self.config.limits;
        let candidates: Vec<u32> = (0..self.accounts.len() as u32)
            .filter(|i| {
                let a = &self.accounts[*i as usize];
                a.exchange_count() >= limits.carrier_min_exchanges
                    && !out.joined.contains_key(i)
                    && a.carries_many()
            })
            .collect();
        if candidates.is_empty() {
            return (found, models);
        }
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
            for &i in &candidates {
                let Some(s) = self.share_of(population, i, &centre) else {
                    continue;
                };
                let best = found.get(&i).map_or(0.0, |&(_, e): &(u32, f32)| e);
                if s.low >= limits.carrier_min_share && s.estimate as f32 > best {
                    found.insert(i, (root, s.estimate as f32));
                }
            }
            models.insert(root, population.raw(&centre));
        }
        models.retain(|root, _| found.values().any(|(r, _)| r == root));
        (found, models)
    }

    /// Scores again the accounts judged this round and those whose campaign changed or
    /// whose evidence did: each on its own evidence merged with its campaign's, and takes
    /// their verdicts at `ts` (a block stands).
    fn score(&mut self, dirty: Vec<u32>, assessment: &Assessment, ts: i64) {
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
                    self.config.weights.carries_campaign,
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
                d.campaign = joined.or(d.campaign);
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

    /// The groups of accounts that behave and ask alike, among those whose own evidence
    /// makes them worth comparing ([`likeness`]). The population's units are read again
    /// every [`POPULATION_EVERY_ROUNDS`] rounds: they move slowly.
    fn alike_groups(&mut self) -> Vec<likeness::AlikeGroup> {
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
        let seasoned = |i: usize| self.accounts[i].exchange_count() >= config.min_exchanges;
        let n = self.accounts.len();
        let candidate = |i: usize| {
            let exchanges = self.accounts[i].exchange_count();
            likeness::Candidate {
                account: i as u32,
                exchanges,
                z: population.standard(&self.fingerprints[i]),
            }
        };
        let founder = |i: usize| seasoned(i) && f64::from(self.own_scores[i]) >= config.min_score;
        let candidates: Vec<likeness::Candidate> =
            (0..n).filter(|&i| founder(i)).map(candidate).collect();
        let min = (config.min_members as usize).max(2);
        if candidates.len() < min {
            return Vec::new();
        }
        // Accounts an operation dilutes with filler, or seen a few times only, still carry
        // its fingerprint: they may join a group its other accounts found.
        let joiners: Vec<likeness::Candidate> = (0..n)
            .filter(|&i| {
                self.accounts[i].exchange_count() >= config.join_min_exchanges && !founder(i)
            })
            .map(candidate)
            .collect();
        likeness::groups(&candidates, &joiners, population, config, min)
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

    /// Ends the input: a last round at the last event time, then the verdicts and report.
    pub fn finish(mut self) -> Outcome {
        if self.exchanges > 0 {
            self.round(self.now);
        }
        let mut outcome = self.snapshot();
        outcome.story = self.story(&outcome.report);
        outcome
    }

    /// The verdicts and report as they stand after the last round, without ending the
    /// input. Costs a pass over every account.
    pub fn snapshot(&self) -> Outcome {
        let mut accounts = Vec::with_capacity(self.accounts.len());
        let mut before_block = Vec::with_capacity(self.accounts.len());
        let mut members: HashMap<u32, Vec<u32>> = HashMap::default();
        for i in 0..self.accounts.len() as u32 {
            if let Some(root) = self.reported_campaign(i) {
                members.entry(root).or_default().push(i);
            }
            accounts.push(self.account_verdict(i));
            before_block.push(u64::from(self.accounts[i as usize].decision.before_block));
        }
        let mut campaigns: Vec<CampaignReport> = members
            .into_iter()
            .map(|(root, members)| {
                let shares = self.member_shares(&members);
                for (&m, &share) in members.iter().zip(&shares) {
                    accounts[m as usize].campaign_share = share;
                }
                let verdicts: Vec<&AccountVerdict> =
                    members.iter().map(|&m| &accounts[m as usize]).collect();
                self.report_campaign(root, &members, &verdicts)
            })
            .collect();
        campaigns.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.accounts.cmp(&a.accounts))
                .then(a.id.cmp(&b.id))
        });
        let summary = ScanSummary {
            exchanges: self.exchanges,
            accounts: accounts.len() as u64,
            accounts_blocked: accounts
                .iter()
                .filter(|a| a.verdict == Verdict::Block)
                .count() as u64,
            accounts_watched: accounts
                .iter()
                .filter(|a| a.verdict == Verdict::Watch)
                .count() as u64,
            campaigns: campaigns.len() as u64,
            records_rejected: 0,
            first_seen: self.first_ts.and_then(EventTime::from_unix_micros),
            last_seen: self.now(),
        };
        Outcome {
            accounts,
            before_block,
            report: Report { summary, campaigns },
            story: None,
            costs: self.costs,
        }
    }

    /// The story of the traffic so far, told for the campaigns of `report` (a
    /// [`snapshot`](Engine::snapshot)'s) in its order, if the engine keeps one
    /// ([`Engine::with_story`]). Costs a pass over every account.
    pub fn story(&self, report: &Report) -> Option<Story> {
        let activity = self.activity.as_ref()?;
        let mut by_root: HashMap<u32, Vec<u32>> = HashMap::default();
        for i in 0..self.accounts.len() as u32 {
            if let Some(root) = self.reported_campaign(i) {
                by_root.entry(root).or_default().push(i);
            }
        }
        let mut members: HashMap<String, Vec<u32>> = by_root
            .into_iter()
            .map(|(root, m)| (self.campaign_id(root), m))
            .collect();
        // The charts draw the campaign's own accounts: a carrier's traffic is mostly its
        // customers'. A campaign of carriers alone is drawn from them.
        for c in &report.campaigns {
            if let Some(m) = members.get_mut(&c.id) {
                let carrier = |i: &u32| {
                    let name = &*self.names[*i as usize];
                    c.carriers.iter().any(|k| k.account_id == name)
                };
                if !m.iter().all(carrier) {
                    m.retain(|i| !carrier(i));
                }
            }
        }
        let ordered: Vec<(&str, &[u32])> = report
            .campaigns
            .iter()
            .filter_map(|c| Some((c.id.as_str(), members.get(&c.id)?.as_slice())))
            .collect();
        let span = self.first_ts.map(|first| (first, self.now));
        Some(story::tell(
            &self.accounts,
            &self.names,
            activity,
            &ordered,
            span,
            &self.config.limits,
        ))
    }

    /// For an account that carries a blocked campaign's traffic among its customers', as
    /// of the last search: whether the request of `e`, whose text read as `content`, is
    /// more likely the campaign's than a customer's ([`requests`]). `None` for any other
    /// account.
    pub fn carried_request(&self, e: &Exchange, content: &content::ContentSignals) -> Option<bool> {
        let &i = self.ids.get(e.account_id.as_str())?;
        let requests = self.carried_requests(i)?;
        Some(requests.is_campaigns(&RequestKinds::of(e, content, &self.config.limits)))
    }

    /// How account `i`'s carried campaign's requests differ from its customers', if it
    /// carries one.
    fn carried_requests(&self, i: u32) -> Option<CarriedRequests> {
        let &(root, share) = self.carriers.get(&i)?;
        Some(CarriedRequests::new(
            self.carried_campaigns.get(&root)?,
            &self.fingerprints[i as usize],
            f64::from(share),
            self.config.limits.carried_min_probability,
        ))
    }

    /// The verdict of one account as it stands, if the account was seen.
    pub fn verdict(&self, account_id: &str) -> Option<AccountVerdict> {
        self.ids.get(account_id).map(|&i| self.account_verdict(i))
    }

    /// The verdicts of the accounts whose decision changed since the last call (empty
    /// unless [`Engine::record_changes`] was called).
    pub fn take_changes(&mut self) -> Vec<AccountVerdict> {
        let Some(changes) = &mut self.changes else {
            return Vec::new();
        };
        let changed = std::mem::take(&mut changes.accounts);
        for &i in &changed {
            changes.listed[i as usize] = false;
        }
        changed
            .into_iter()
            .map(|i| self.account_verdict(i))
            .collect()
    }

    /// One campaign as it stands, with its member accounts' verdicts, by the id reports
    /// give it. Costs a pass over every account.
    pub fn campaign(&self, id: &str) -> Option<(CampaignReport, Vec<AccountVerdict>)> {
        let members: Vec<u32> = (0..self.accounts.len() as u32)
            .filter(|&i| {
                self.reported_campaign(i)
                    .is_some_and(|root| self.campaign_id(root) == id)
            })
            .collect();
        let root = self.accounts[*members.first()? as usize]
            .decision
            .campaign?;
        let shares = self.member_shares(&members);
        let verdicts: Vec<AccountVerdict> = members
            .iter()
            .zip(shares)
            .map(|(&i, campaign_share)| AccountVerdict {
                campaign_share,
                ..self.account_verdict(i)
            })
            .collect();
        let report = self.report_campaign(root, &members, &verdicts.iter().collect::<Vec<_>>());
        Some((report, verdicts))
    }

    /// The id reports give the campaign rooted at account `root`.
    pub fn campaign_id(&self, root: u32) -> String {
        format!(
            "campaign-{:08x}",
            xxh3_64(self.names[root as usize].as_bytes()) as u32
        )
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

    /// The campaign account `i` is reported in: its cluster, when the cluster's evidence
    /// reaches `watch` or one of its accounts was blocked (a cluster of ordinary accounts
    /// is not a campaign).
    fn reported_campaign(&self, i: u32) -> Option<u32> {
        self.accounts[i as usize].decision.campaign.filter(|&root| {
            self.with_blocks.contains(&root)
                || self
                    .campaign_findings(root)
                    .is_some_and(|f| f.score() >= self.config.watch)
        })
    }

    /// The verdict of account `i` as it stands, with the signals behind it: those its own
    /// traffic and facts fire, and its campaign's of how the campaign's accounts relate (a
    /// campaign's merged traffic and facts are its own, not each member's: a reseller
    /// carrying it is not young or unverified because the campaign's accounts are).
    fn account_verdict(&self, i: u32) -> AccountVerdict {
        let state = &self.accounts[i as usize];
        let d = &state.decision;
        let mut findings = profile_findings(
            &state.profile(&self.config.limits),
            Scope::Account,
            &self.config,
        );
        let carried = self.carriers.get(&i);
        if let Some(c) = d
            .campaign
            .filter(|_| carried.is_none())
            .and_then(|r| self.campaign_findings(r))
        {
            findings.merge_relations(&c);
        }
        if let Some(&(_, share)) = carried {
            findings.fire(
                Signal::CarriesCampaign,
                self.config.weights.carries_campaign,
                f64::from(share),
            );
        }
        if d.verdict == Verdict::Block
            && d.campaign.is_some()
            && findings.weight(Signal::LinkedToBlockedCampaign) == 0.0
            && findings.score() < self.config.block
        {
            findings.fire(
                Signal::LinkedToBlockedCampaign,
                self.config.weights.linked_to_blocked_campaign,
                1.0,
            );
        }
        AccountVerdict {
            account_id: self.names[i as usize].to_string(),
            verdict: d.verdict,
            score: reported(f64::from(d.score).clamp(0.0, 1.0)),
            campaign_id: self.reported_campaign(i).map(|r| self.campaign_id(r)),
            flagged_at: d.flagged_at,
            exchanges: u64::from(state.exchange_count()),
            signals: findings
                .fired()
                .into_iter()
                .map(|(s, _, _)| s.name().to_owned())
                .collect(),
            partners: intel::partner_names(&self.partners, state.partners()),
            campaign_share: None,
            carried: self.carried_requests(i),
        }
    }

    /// Each of a campaign's `members`' share of its traffic that is the campaign's
    /// ([`share`](crate::share)), in the population's units (none before they are read).
    fn member_shares(&self, members: &[u32]) -> Vec<Option<share::CampaignShare>> {
        let centre = self.population.as_ref().and_then(|(_, population)| {
            Some((population, self.campaign_centre(population, members)?))
        });
        members
            .iter()
            .map(|&i| {
                let (population, centre) = centre.as_ref()?;
                self.share_of(population, i, centre)
            })
            .collect()
    }

    /// The measures of the campaign of `members` ([`share::campaign_centre`]), in the
    /// population's units.
    fn campaign_centre(
        &self,
        population: &likeness::Population,
        members: &[u32],
    ) -> Option<likeness::Fingerprint> {
        let prints: Vec<likeness::Fingerprint> = members
            .iter()
            .map(|&i| population.standard(&self.fingerprints[i as usize]))
            .collect();
        share::campaign_centre(&prints)
    }

    /// The share of account `i`'s traffic that is the campaign's whose measures are
    /// `centre` ([`share::estimate`]).
    fn share_of(
        &self,
        population: &likeness::Population,
        i: u32,
        centre: &likeness::Fingerprint,
    ) -> Option<share::CampaignShare> {
        let print = &self.fingerprints[i as usize];
        let noise = population.sampling_variance(print, self.accounts[i as usize].exchange_count());
        share::estimate(&population.standard(print), centre, &noise)
    }

    /// The evidence of the campaign rooted at `root`: from the last round, or from the last
    /// round in which it was blocked.
    fn campaign_findings(&self, root: u32) -> Option<Findings> {
        self.assessed(root).map(|c| c.findings)
    }

    /// The campaign rooted at `root` as last assessed, or as when it was last blocked.
    fn assessed(&self, root: u32) -> Option<&Campaign> {
        self.campaigns
            .get(&root)
            .or_else(|| self.blocked_campaigns.get(&root))
    }

    /// The report of the campaign rooted at `root` whose `members` have the `verdicts`
    /// (in the same order, their campaign shares estimated). A carrier's exchanges count
    /// at its campaign share, and its span only for a campaign of carriers alone: its
    /// customers' traffic is not the campaign's.
    fn report_campaign(
        &self,
        root: u32,
        members: &[u32],
        verdicts: &[&AccountVerdict],
    ) -> CampaignReport {
        let mut exchanges = 0.0f64;
        let (mut own, mut carried) = ((i64::MAX, i64::MIN), (i64::MAX, i64::MIN));
        // The partners of the evidence: those the campaign's members carried when it was
        // assessed, and those its members carry now.
        let mut partners = self.assessed(root).map_or(0, |c| c.partners);
        for (&m, v) in members.iter().zip(verdicts) {
            let a = &self.accounts[m as usize];
            partners |= a.partners();
            let carrier = v.campaign_share.filter(|s| s.high < CARRIER_SHARE);
            let count = f64::from(a.exchange_count());
            exchanges += carrier.map_or(count, |s| count * s.estimate);
            let span = if carrier.is_some() {
                &mut carried
            } else {
                &mut own
            };
            if let Some((f, l)) = a.span() {
                *span = (span.0.min(f), span.1.max(l));
            }
        }
        let (first, last) = if own.0 <= own.1 { own } else { carried };
        let findings = self.campaign_findings(root).unwrap_or_default();
        CampaignReport {
            id: self.campaign_id(root),
            accounts: members.len() as u64,
            exchanges: exchanges.round() as u64,
            first_seen: EventTime::from_unix_micros(first).unwrap_or_default(),
            last_seen: EventTime::from_unix_micros(last).unwrap_or_default(),
            score: reported(findings.score()),
            evidence: findings
                .fired()
                .into_iter()
                .map(|(signal, weight, value)| self.evidence(signal, weight, value, root, partners))
                .collect(),
            carriers: carriers(verdicts),
        }
    }

    /// One signal of the campaign rooted at `root`, and what it is compared with: for a
    /// signal each account shows on its own, how many of the campaign's accounts did when
    /// it was assessed and how many of all accounts do; for new accounts, how many of all
    /// accounts are.
    fn evidence(
        &self,
        signal: Signal,
        weight: f64,
        value: f64,
        root: u32,
        partners: u32,
    ) -> Evidence {
        let mut detail = signal.describe(value);
        if signal == Signal::PartnerIntel && partners != 0 {
            let names = intel::partner_names(&self.partners, partners);
            detail.push_str(&format!(" (indicators from {})", names.join(", ")));
        }
        let mut population_share = None;
        if signal.of_account()
            && let Some(everyone) = self.rates.share(signal)
            && let Some(c) = self.assessed(root)
        {
            let own = f64::from(c.firing_alone[signal as usize]) / f64::from(c.members.max(1));
            detail.push_str(&format!(
                "; on their own: {} of its accounts, {} of all accounts",
                share_text(own),
                share_text(everyone)
            ));
            population_share = Some(everyone);
        } else if signal == Signal::NewAccounts
            && let Some((_, population)) = &self.population
        {
            detail.push_str(&format!(
                ", where {} of all accounts are new",
                share_text(population.new_accounts)
            ));
            population_share = Some(population.new_accounts);
        }
        Evidence {
            signal: signal.name().to_owned(),
            weight: reported(weight),
            detail,
            population_share: population_share.map(reported),
        }
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

/// Asks the processor to fetch `value` into the cache (a hint: it may not).
/// A share as a report gives it: whole percent, down to a hundredth of a percent where it
/// is small ("0.04 %"), and never rounded to nothing when it is not.
fn share_text(share: f64) -> String {
    let pct = share * 100.0;
    if pct == 0.0 || pct >= 10.0 {
        format!("{pct:.0} %")
    } else if pct >= 1.0 {
        format!("{pct:.1} %")
    } else {
        format!("{:.2} %", pct.max(0.01))
    }
}

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

/// The `members` (verdicts of one campaign's accounts) that carry other traffic beside the
/// campaign's, those with the most exchanges first.
fn carriers(members: &[&AccountVerdict]) -> Vec<Carrier> {
    let mut carriers: Vec<Carrier> = members
        .iter()
        .filter_map(|a| {
            let share = a.campaign_share.filter(|s| s.high < CARRIER_SHARE)?;
            Some(Carrier {
                account_id: a.account_id.clone(),
                exchanges: a.exchanges,
                campaign_share: share,
            })
        })
        .collect();
    carriers.sort_by(|a, b| {
        b.exchanges
            .cmp(&a.exchanges)
            .then(a.account_id.cmp(&b.account_id))
    });
    carriers
}
