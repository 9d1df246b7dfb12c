//! The simulated world: its accounts, the campaigns' shared state, and the ground truth.

use std::collections::HashMap;
use std::sync::Arc;

use compact_str::CompactString;
use moat_core::{AccountInfo, EventTime};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use crate::actor::{Actor, Behaviour, Identity, campaign_slot};
use crate::identity::{
    CLIENTS, CLOUD_ASNS, COUNTRIES, WEBMAIL, bulk_domain, card, company_domain, country, mix,
    opaque_id, public_ipv4, university_domain,
};
use crate::rhythm::{DAY, HOUR, MINUTE, Rhythm};
use crate::scenario::{CampaignSpec, Models, Scenario};
use crate::text::{self, COMMON_SYSTEM_PROMPTS, Corpus, Focus, Topic};

/// What an account really is: a row of `truth.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthRow {
    /// The account.
    pub account_id: String,
    /// `benign`, `hydra` (a campaign's own account), or `mixed` (a reseller carrying a
    /// campaign's traffic beside its customers').
    pub label: &'static str,
    /// The population group (`individual`, `enterprise:ORG`, `university:DOMAIN`, ...) or
    /// the campaign (`hydra:ID`).
    pub group: String,
    /// The share of the account's exchanges that are its campaign's: 1 for a campaign's own
    /// account, the share made so far for a reseller carrying one, none for a customer.
    pub campaign_share: Option<f64>,
}

/// A campaign's state shared by all its account slots.
#[derive(Debug)]
pub(crate) struct CampaignState {
    pub index: usize,
    pub id: String,
    pub seed: u64,
    pub focus: Focus,
    pub per_day: f64,
    pub start: i64,
    pub end: i64,
    pub proxy_pool: u64,
    pub proxy_seed: u64,
    pub cards: u64,
    pub unique_cards: bool,
    pub unique_ips: bool,
    pub varied_clients: bool,
    pub slow_signups: bool,
    pub aged_accounts: bool,
    pub channels: Vec<String>,
    pub waves: Vec<i64>,
    pub edu_domains: Vec<String>,
    pub lifetime: i64,
    pub filler: f64,
    pub paraphrase: f64,
    pub human_timing: bool,
    pub open_wording: bool,
    pub active_day_share: f64,
    pub volume_sigma: f64,
    pub ordinary_requests: bool,
    pub switch_at: Option<i64>,
    pub switch_share: f64,
    pub client: (&'static str, &'static str),
    cell: u64,
}

impl CampaignState {
    /// The next cell of the campaign's sweep of its task space.
    pub fn next_cell(&mut self) -> u64 {
        self.cell += 1;
        self.cell
    }
}

/// Everything actors share.
pub(crate) struct World {
    pub seed: u64,
    /// Seeds the campaigns (see [`SimOptions::operator_seed`](crate::SimOptions)).
    pub operator_seed: u64,
    pub models: Models,
    pub campaigns: Vec<CampaignState>,
    pub corpus: Option<Arc<Corpus>>,
    pub truth: Vec<TruthRow>,
    /// Resellers carrying a campaign: their row of the truth, and their campaign's and all
    /// exchanges so far.
    mixed: HashMap<CompactString, (usize, [u64; 2])>,
    requests: u64,
    accounts: u64,
}

/// Counts scaled, never below `floor` when the unscaled count is positive.
fn scaled(count: f64, scale: f64, floor: f64) -> u64 {
    if count <= 0.0 {
        return 0;
    }
    (count * scale).round().max(floor) as u64
}

pub(crate) fn lognormal_with_mean<R: Rng>(rng: &mut R, mean: f64, sigma: f64) -> f64 {
    let mu = mean.max(1e-9).ln() - sigma * sigma / 2.0;
    LogNormal::new(mu, sigma).expect("valid").sample(rng)
}

impl World {
    pub fn next_request(&mut self) -> u64 {
        self.requests += 1;
        self.requests
    }

    fn new_account_id(&mut self) -> CompactString {
        self.accounts += 1;
        opaque_id("acct", self.seed, self.accounts)
    }

    fn record(&mut self, account_id: &str, label: &'static str, group: String) {
        let campaign_share = match label {
            "hydra" => Some(1.0),
            "mixed" => {
                self.mixed
                    .insert(account_id.into(), (self.truth.len(), [0, 0]));
                Some(0.0)
            }
            _ => None,
        };
        self.truth.push(TruthRow {
            account_id: account_id.to_owned(),
            label,
            group,
            campaign_share,
        });
    }

    /// Counts an exchange of a reseller carrying a campaign, the campaign's or its own
    /// customers', in the account's true campaign share.
    pub fn count_mixed(&mut self, account_id: &str, campaign: bool) {
        if self.mixed.is_empty() {
            return;
        }
        if let Some((row, [carried, all])) = self.mixed.get_mut(account_id) {
            *carried += u64::from(campaign);
            *all += 1;
            self.truth[*row].campaign_share = Some(*carried as f64 / *all as f64);
        }
    }

    /// A fresh account for slot `slot` of campaign `c` (its `generation`-th), at `now`.
    pub fn campaign_identity(
        &mut self,
        c: usize,
        slot: u64,
        generation: u32,
        now: i64,
        rng: &mut SmallRng,
    ) -> Identity {
        let account_id = self.new_account_id();
        let state = &self.campaigns[c];
        let created_at = if state.aged_accounts {
            now.min(state.start) - rng.random_range(0..700 * DAY)
        } else if generation > 0 {
            if state.slow_signups {
                now - rng.random_range(DAY..20 * DAY)
            } else {
                now - rng.random_range(5 * MINUTE..6 * HOUR)
            }
        } else if state.slow_signups {
            state.start - rng.random_range(3 * DAY..60 * DAY)
        } else {
            let wave = *state.waves.choose(rng).unwrap_or(&state.start);
            wave + rng.random_range(0..2 * HOUR)
        };
        let channel = state
            .channels
            .choose(rng)
            .cloned()
            .unwrap_or_else(|| "self_serve".to_owned());
        let email_domain = if channel == "education" && !state.edu_domains.is_empty() {
            state.edu_domains.choose(rng).cloned().unwrap_or_default()
        } else if state.slow_signups && rng.random_bool(0.3) {
            company_domain(rng.random(), slot)
        } else {
            bulk_domain(rng)
        };
        let payment = if state.unique_cards {
            card(self.seed ^ 0xfeed, mix(slot, generation as u64) ^ c as u64)
        } else {
            card(state.seed, rng.random_range(0..state.cards.max(1)))
        };
        let home = country(rng);
        let (ip, asn) = if state.unique_ips {
            (
                public_ipv4(mix(state.seed ^ 0x1e5, mix(slot, generation as u64))),
                home.isps[rng.random_range(0..home.isps.len())],
            )
        } else {
            (public_ipv4(state.proxy_seed), CLOUD_ASNS[0])
        };
        let (user_agent, tls) = if state.varied_clients {
            *CLIENTS.choose(rng).unwrap_or(&CLIENTS[0])
        } else {
            state.client
        };
        let group = format!("hydra:{}", state.id);
        let identity = Identity {
            api_key_id: key_id(&account_id).into(),
            account_id: account_id.clone(),
            org_id: None,
            account: AccountInfo {
                created_at: EventTime::from_unix_micros(created_at),
                signup_channel: Some(channel.into()),
                email_domain: Some(email_domain.into()),
                payment_fingerprint: Some(payment),
                verified: Some(rng.random_bool(0.05)),
            },
            ip,
            hosts: 1,
            asn,
            country: home.code,
            utc_offset: home.utc_offset,
            user_agent,
            tls,
        };
        self.record(&account_id, "hydra", group);
        identity
    }
}

/// The id of the key an account sends with, derived from the account's.
fn key_id(account_id: &str) -> String {
    format!(
        "key_{}",
        account_id
            .trim_start_matches("acct_")
            .get(..8)
            .unwrap_or(account_id)
    )
}

/// A benign account's identity.
struct Persona<'a> {
    channel: &'a str,
    email_domain: String,
    card: CompactString,
    verified: bool,
    created_at: i64,
    org_id: Option<CompactString>,
    ip: Option<(std::net::IpAddr, u16, u32)>,
}

/// The parameters a world is built with.
pub(crate) struct Build<'a> {
    pub scenario: &'a Scenario,
    pub scale: f64,
    pub seed: u64,
    pub operator_seed: u64,
    pub corpus: Option<Arc<Corpus>>,
}

/// Builds the world and its actors.
pub(crate) fn build(b: Build) -> (World, Vec<(Actor, i64)>, i64) {
    let s = b.scenario;
    let start = EventTime::parse_rfc3339(&s.start)
        .expect("validated")
        .as_unix_micros();
    let end = start + (s.days * DAY as f64) as i64;
    let release = s
        .models
        .new_model
        .as_ref()
        .map(|_| start + (s.models.release_day * DAY as f64) as i64);
    let mut world = World {
        seed: b.seed,
        operator_seed: b.operator_seed,
        models: s.models.clone(),
        campaigns: Vec::new(),
        corpus: b.corpus,
        truth: Vec::new(),
        mixed: HashMap::new(),
        requests: 0,
        accounts: 0,
    };
    let mut rng = SmallRng::seed_from_u64(mix(b.seed, 0xb0));
    let mut actors: Vec<Actor> = Vec::new();
    populate(
        &mut world,
        &mut actors,
        &mut rng,
        b.scenario,
        b.scale,
        start,
    );
    let mut scheduled = Vec::with_capacity(actors.len());
    for mut actor in actors {
        actor.plan_adoption(release);
        let from = actor
            .id
            .account
            .created_at
            .map_or(start, |c| c.as_unix_micros().max(start));
        if let Some(t) = actor.first(from, end) {
            scheduled.push((actor, t));
        }
    }
    for (i, spec) in s.campaigns.iter().enumerate() {
        add_campaign(
            &mut world,
            &mut scheduled,
            &mut rng,
            spec,
            i,
            b.scale,
            start,
            end,
            release,
        );
    }
    (world, scheduled, end)
}

fn persona_identity(
    world: &mut World,
    rng: &mut SmallRng,
    p: Persona,
    n: u64,
    label: &'static str,
    group: String,
) -> Identity {
    let account_id = world.new_account_id();
    let home = country(rng);
    let (ip, hosts, asn) = p.ip.unwrap_or_else(|| {
        let mobile = rng.random_bool(0.2);
        (
            public_ipv4(mix(world.seed ^ 0x40e, n)),
            if mobile { 3 } else { 1 },
            home.isps[rng.random_range(0..home.isps.len())],
        )
    });
    let (user_agent, tls) = *CLIENTS.choose(rng).unwrap_or(&CLIENTS[0]);
    world.record(&account_id, label, group);
    Identity {
        api_key_id: key_id(&account_id).into(),
        account_id,
        org_id: p.org_id,
        account: AccountInfo {
            created_at: EventTime::from_unix_micros(p.created_at),
            signup_channel: Some(p.channel.into()),
            email_domain: Some(p.email_domain.into()),
            payment_fingerprint: Some(p.card),
            verified: Some(p.verified),
        },
        ip,
        hosts,
        asn,
        country: home.code,
        utc_offset: home.utc_offset,
        user_agent,
        tls,
    }
}

/// Splits `total` accounts into groups of a size drawn from `range` (at scale 1), times
/// `scale`, never below `floor` (the last group takes what is left).
fn group_sizes(
    rng: &mut SmallRng,
    total: u64,
    [lo, hi]: [f64; 2],
    scale: f64,
    floor: f64,
) -> Vec<u64> {
    let mut sizes = Vec::new();
    let mut left = total;
    while left > 0 {
        let size = (rng.random_range(lo..=hi.max(lo)) * scale)
            .round()
            .max(floor) as u64;
        sizes.push(size.min(left));
        left -= size.min(left);
    }
    sizes
}

/// Shares of `total` by `weights`, rounding so the parts add up to the total.
fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum::<f64>().max(1e-12);
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = total - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

const PERSONAL_TOPICS: &[Topic] = &[
    Topic::Knowledge,
    Topic::Knowledge,
    Topic::Writing,
    Topic::Everyday,
    Topic::Everyday,
    Topic::Coding,
    Topic::Homework,
];
const WORK_TOPICS: &[Topic] = &[
    Topic::Coding,
    Topic::Writing,
    Topic::Knowledge,
    Topic::Writing,
];
const STUDENT_TOPICS: &[Topic] = &[
    Topic::Homework,
    Topic::Homework,
    Topic::Coding,
    Topic::Knowledge,
    Topic::Writing,
];

#[allow(clippy::too_many_lines)]
fn populate(
    world: &mut World,
    actors: &mut Vec<Actor>,
    rng: &mut SmallRng,
    s: &Scenario,
    scale: f64,
    start: i64,
) {
    let p = &s.population;
    let total = scaled(p.accounts, scale, 0.0);
    let m = &p.mix;
    let parts = apportion(
        total,
        &[
            m.individual,
            m.developer,
            m.app_backend,
            m.power_user,
            m.enterprise,
            m.university,
            m.eval_harness,
            m.automation,
            m.reseller,
        ],
    );
    let seed = world.seed;
    let mut n = 0u64;
    let mut next = || {
        n += 1;
        n
    };
    let self_serve = |rng: &mut SmallRng, n: u64| Persona {
        channel: match rng.random_range(0..10) {
            0 => "startup",
            1 => "research",
            _ => "self_serve",
        },
        email_domain: if rng.random_bool(0.8) {
            WEBMAIL
                .choose(rng)
                .copied()
                .unwrap_or("gmail.com")
                .to_owned()
        } else {
            company_domain(seed, n)
        },
        card: card(seed, n),
        verified: rng.random_bool(0.35),
        created_at: start - rng.random_range(-20 * DAY..700 * DAY),
        org_id: None,
        ip: None,
    };
    let server_ip = |rng: &mut SmallRng, n: u64| {
        Some((
            public_ipv4(mix(seed ^ 0x5e1, n)),
            rng.random_range(2..9u16),
            *CLOUD_ASNS.choose(rng).unwrap_or(&16509),
        ))
    };

    // Individuals.
    let per_session = 1.8;
    for _ in 0..parts[0] {
        let k = next();
        let persona = self_serve(rng, k);
        let id = persona_identity(world, rng, persona, k, "benign", "individual".to_owned());
        let behaviour = Behaviour::Person {
            sessions_per_day: lognormal_with_mean(rng, p.individual_rate / per_session, 1.2),
            rhythm: Rhythm::Personal,
            topics: PERSONAL_TOPICS,
            system: if rng.random_bool(0.3) {
                COMMON_SYSTEM_PROMPTS.choose(rng).copied()
            } else {
                None
            },
        };
        actors.push(Actor::new(seed, k, id, behaviour));
    }
    // Developers.
    for _ in 0..parts[1] {
        let k = next();
        let mut persona = self_serve(rng, k);
        persona.verified = rng.random_bool(0.6);
        let id = persona_identity(world, rng, persona, k, "benign", "developer".to_owned());
        let behaviour = Behaviour::Developer {
            sessions_per_day: lognormal_with_mean(rng, 0.25, 1.0),
        };
        actors.push(Actor::new(seed, k, id, behaviour));
    }
    // Application backends.
    for _ in 0..parts[2] {
        let k = next();
        let mut persona = self_serve(rng, k);
        persona.channel = if rng.random_bool(0.5) {
            "enterprise"
        } else {
            "self_serve"
        };
        persona.verified = true;
        persona.email_domain = company_domain(seed, k);
        persona.ip = server_ip(rng, k);
        let id = persona_identity(world, rng, persona, k, "benign", "app_backend".to_owned());
        let behaviour = Behaviour::AppBackend {
            per_day: lognormal_with_mean(rng, 120.0, 1.0),
            system: text::product_system_prompt(rng, k as u32),
        };
        actors.push(Actor::new(seed, k, id, behaviour));
    }
    // Power users.
    for _ in 0..parts[3] {
        let k = next();
        let mut persona = self_serve(rng, k);
        persona.verified = rng.random_bool(0.5);
        let id = persona_identity(world, rng, persona, k, "benign", "power_user".to_owned());
        let behaviour = Behaviour::PowerUser {
            sessions_per_day: lognormal_with_mean(rng, 1.5, 1.0),
            asks: rng.random_range(0.2..0.8),
        };
        actors.push(Actor::new(seed, k, id, behaviour));
    }
    // Enterprise teams.
    for (org, size) in (1u64..).zip(group_sizes(rng, parts[4], p.enterprise_team, scale, 2.0)) {
        let org_id = opaque_id("org", seed, org);
        let domain = company_domain(seed ^ 0xe7, org);
        let org_card = card(seed ^ 0xe7, org);
        let nat = public_ipv4(mix(seed ^ 0x4a7, org));
        let asn = COUNTRIES[org as usize % COUNTRIES.len()].isps[0];
        let onboarded = start - rng.random_range(-25 * DAY..400 * DAY);
        for _ in 0..size {
            let k = next();
            let persona = Persona {
                channel: "enterprise",
                email_domain: domain.clone(),
                card: org_card.clone(),
                verified: true,
                created_at: onboarded + rng.random_range(0..3 * DAY),
                org_id: Some(org_id.clone()),
                ip: Some((nat, 2, asn)),
            };
            let id = persona_identity(
                world,
                rng,
                persona,
                k,
                "benign",
                format!("enterprise:{org_id}"),
            );
            let behaviour = if rng.random_bool(0.5) {
                Behaviour::Developer {
                    sessions_per_day: lognormal_with_mean(rng, 0.2, 0.8),
                }
            } else {
                Behaviour::Person {
                    sessions_per_day: lognormal_with_mean(rng, 1.0, 0.8),
                    rhythm: Rhythm::Work,
                    topics: WORK_TOPICS,
                    system: Some(COMMON_SYSTEM_PROMPTS[0]),
                }
            };
            actors.push(Actor::new(seed, k, id, behaviour));
        }
    }
    // Universities.
    for (uni, size) in (1u64..).zip(group_sizes(rng, parts[5], p.university, scale, 3.0)) {
        let domain = university_domain(seed, uni);
        let campus = public_ipv4(mix(seed ^ 0xca9, uni));
        let asn = 1_200 + uni as u32;
        let term_start = start + rng.random_range(-30 * DAY..20 * DAY);
        for _ in 0..size {
            let k = next();
            let z: f64 = rand_distr::StandardNormal.sample(rng);
            let persona = Persona {
                channel: "education",
                email_domain: domain.clone(),
                card: card(seed, k),
                verified: rng.random_bool(0.2),
                created_at: term_start + (z * 2.0 * DAY as f64) as i64,
                org_id: None,
                ip: Some((campus, 16, asn)),
            };
            let id = persona_identity(
                world,
                rng,
                persona,
                k,
                "benign",
                format!("university:{domain}"),
            );
            let behaviour = Behaviour::Person {
                sessions_per_day: lognormal_with_mean(rng, 0.4, 1.0),
                rhythm: Rhythm::Student,
                topics: STUDENT_TOPICS,
                system: None,
            };
            actors.push(Actor::new(seed, k, id, behaviour));
        }
    }
    // Evaluation harnesses.
    let days = s.days;
    for _ in 0..parts[6] {
        let k = next();
        let mut persona = self_serve(rng, k);
        persona.channel = *["research", "enterprise", "startup"]
            .choose(rng)
            .unwrap_or(&"research");
        persona.ip = server_ip(rng, k);
        let id = persona_identity(world, rng, persona, k, "benign", "eval_harness".to_owned());
        let mut runs: Vec<i64> = (0..rng.random_range(1..5))
            .map(|_| start + (rng.random_range(0.0..days) * DAY as f64) as i64)
            .collect();
        runs.sort_unstable();
        let behaviour = Behaviour::EvalHarness {
            runs,
            items_per_run: rng.random_range(300..3000),
            left: 0,
            item: 0,
            cot: rng.random_bool(0.5),
        };
        actors.push(Actor::new(seed, k, id, behaviour));
    }
    // Scheduled automation.
    for _ in 0..parts[7] {
        let k = next();
        let mut persona = self_serve(rng, k);
        persona.ip = server_ip(rng, k);
        let id = persona_identity(world, rng, persona, k, "benign", "automation".to_owned());
        let minutes = *[5i64, 10, 15, 30, 60].choose(rng).unwrap_or(&15);
        actors.push(Actor::new(
            seed,
            k,
            id,
            Behaviour::Automation {
                period: minutes * MINUTE,
                job: 0,
            },
        ));
    }
    // Resellers.
    for _ in 0..parts[8] {
        let k = next();
        let mut persona = self_serve(rng, k);
        persona.channel = "reseller";
        persona.verified = true;
        persona.ip = server_ip(rng, k);
        let id = persona_identity(world, rng, persona, k, "benign", "reseller".to_owned());
        actors.push(Actor::new(
            seed,
            k,
            id,
            Behaviour::Reseller {
                per_day: lognormal_with_mean(rng, 800.0, 0.8),
            },
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn add_campaign(
    world: &mut World,
    scheduled: &mut Vec<(Actor, i64)>,
    rng: &mut SmallRng,
    spec: &CampaignSpec,
    index: usize,
    scale: f64,
    start: i64,
    end: i64,
    release: Option<i64>,
) {
    let seed = mix(world.operator_seed, 0xca11 + index as u64);
    let c_start = start + (spec.start_day * DAY as f64) as i64;
    let c_end = (c_start + (spec.days * DAY as f64) as i64).min(end);
    let slots = scaled(spec.accounts, scale, 8.0);
    let throttle = if spec.evasion.throttle > 0.0 {
        spec.evasion.throttle
    } else {
        1.0
    };
    let per_day = spec.exchanges / (spec.accounts * spec.days) * throttle;
    let waves: Vec<i64> = (0..spec.signup_waves.max(1))
        .map(|w| {
            c_start - 2 * DAY
                + (w as i64) * (spec.days * DAY as f64 / spec.signup_waves.max(1) as f64) as i64
        })
        .collect();
    let edu_domains = (0..3).map(|i| university_domain(seed, 1000 + i)).collect();
    let state = CampaignState {
        index,
        id: spec.id.clone(),
        seed,
        focus: spec.focus,
        per_day,
        start: c_start,
        end: c_end,
        proxy_pool: if spec.evasion.unique_ips {
            0
        } else {
            scaled(spec.proxy_ips, scale, 4.0)
        },
        proxy_seed: mix(seed, 0x9e0),
        cards: scaled(spec.cards as f64, scale, 2.0),
        unique_cards: spec.evasion.unique_cards,
        unique_ips: spec.evasion.unique_ips,
        varied_clients: spec.evasion.varied_clients,
        slow_signups: spec.evasion.slow_signups,
        aged_accounts: spec.evasion.aged_accounts,
        channels: spec.signup_channels.clone(),
        waves,
        edu_domains,
        lifetime: (spec.account_lifetime_days * DAY as f64) as i64,
        filler: spec.evasion.filler,
        paraphrase: spec.evasion.paraphrase,
        human_timing: spec.evasion.human_timing,
        open_wording: spec.evasion.open_wording,
        active_day_share: spec.evasion.active_day_share,
        volume_sigma: spec.evasion.volume_sigma,
        ordinary_requests: spec.evasion.ordinary_requests,
        switch_at: release.filter(|_| spec.model_switch_share > 0.0),
        switch_share: spec.model_switch_share,
        client: CLIENTS[(seed % CLIENTS.len() as u64) as usize],
        cell: 0,
    };
    world.campaigns.push(state);
    let resold = (slots as f64 * spec.resold_share).round() as u64;
    let resellers = if resold > 0 {
        open_resellers(
            world,
            scheduled,
            rng,
            spec,
            (index, scale, per_day),
            resold,
            (start, end),
        )
    } else {
        Vec::new()
    };
    for slot in 0..slots {
        let mut actor_rng = SmallRng::seed_from_u64(mix(seed, slot));
        let identity = if slot < resold {
            // Resold access: the campaign's requests go out under a reseller's account,
            // beside that reseller's own customers' traffic.
            resellers[(slot % resellers.len() as u64) as usize].clone()
        } else {
            world.campaign_identity(index, slot, 0, c_start, &mut actor_rng)
        };
        let state = &world.campaigns[index];
        let mut slot_state = campaign_slot(state, &mut actor_rng, slot, c_start);
        if slot < resold {
            slot_state.retire_at = i64::MAX;
        }
        let behaviour = Behaviour::Campaign(slot_state);
        let mut actor = Actor::new(seed, slot, identity, behaviour);
        if slot < resold {
            actor.proxied = false;
        }
        let ramp = if slot < resold {
            (spec.resale.ramp * (c_end - c_start) as f64) as i64
        } else {
            0
        };
        let first = c_start + rng.random_range(0..DAY / 2 + ramp);
        if let Some(t) = actor.first(first, c_end) {
            scheduled.push((actor, t));
        }
    }
}

/// Opens the reseller accounts that carry `resold` slots of campaign `index` (each slot
/// sending `per_slot` exchanges a day): `networks` networks of scaled `accounts` each,
/// every network sending from its own pool of egress addresses, and each account with its
/// own customers, as busy as its drawn customers' share of its traffic makes them beside
/// the campaign's slots it carries.
fn open_resellers(
    world: &mut World,
    scheduled: &mut Vec<(Actor, i64)>,
    rng: &mut SmallRng,
    spec: &CampaignSpec,
    (index, scale, per_slot): (usize, f64, f64),
    resold: u64,
    (start, end): (i64, i64),
) -> Vec<Identity> {
    let resale = &spec.resale;
    let per_network = scaled(resale.accounts, scale, 1.0);
    let count = (u64::from(resale.networks) * per_network).clamp(1, resold);
    let mut pools = Vec::new();
    for network in 0..u64::from(resale.networks) {
        let [low, high] = resale.egress_ips.map(f64::from);
        let addresses = (low * (high / low).powf(rng.random::<f64>())).round() as u16;
        let n = mix(world.operator_seed ^ 0x7e5, (index as u64) << 16 | network);
        pools.push((
            public_ipv4(n),
            addresses.max(1),
            CLOUD_ASNS[(n % CLOUD_ASNS.len() as u64) as usize],
        ));
    }
    let mut resellers = Vec::new();
    for r in 0..count {
        let k = 1_000_000 + (index as u64) * 100_000 + r;
        let network = (r % u64::from(resale.networks)) as usize;
        let persona = Persona {
            channel: "reseller",
            email_domain: company_domain(world.operator_seed, k),
            card: card(world.operator_seed, k),
            verified: true,
            created_at: start - rng.random_range(60..700) * DAY,
            org_id: None,
            ip: Some(pools[network]),
        };
        let id = persona_identity(
            world,
            rng,
            persona,
            k,
            "mixed",
            format!("reseller-mixed:{}", spec.id),
        );
        // The campaign's slots on this account, and the customers' share beside them.
        let carried = resold / count + u64::from(r < resold % count);
        let [low, high] = resale.customer_share;
        let customers = rng.random_range(low..=high);
        let campaign_per_day = carried as f64 * per_slot;
        let mut own = Actor::new(
            world.seed,
            k,
            id.clone(),
            Behaviour::Reseller {
                per_day: (campaign_per_day * customers / (1.0 - customers)).max(1.0),
            },
        );
        if let Some(t) = own.first(start, end) {
            scheduled.push((own, t));
        }
        resellers.push(id);
    }
    resellers
}
