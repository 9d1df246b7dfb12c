//! Building the simulated world: the population of customers of every kind, the
//! campaigns' accounts and the resellers that carry them, each an actor with its start.

use std::sync::Arc;

use compact_str::CompactString;
use moat_core::{AccountInfo, EventTime};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;

use crate::actor::{Actor, Behaviour, campaign_slot};
use crate::identity::{
    CLIENTS, CLOUD_ASNS, COUNTRIES, Identity, WEBMAIL, card, company_domain, country, mix,
    opaque_id, public_ipv4, university_domain,
};
use crate::rhythm::{DAY, MINUTE, Rhythm};
use crate::scenario::{CampaignSpec, Scenario};
use crate::text::{self, COMMON_SYSTEM_PROMPTS, Corpus, Topic};
use crate::world::{CampaignState, World, key_id, lognormal_with_mean, scaled};

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
    let mut world = World::new(b.seed, b.operator_seed, s.models.clone(), b.corpus);
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
