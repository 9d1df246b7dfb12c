//! Building the simulated world: the population of customers of every kind, the
//! campaigns' accounts and the resellers that carry them, each an actor with its start.

use std::sync::Arc;

use compact_str::CompactString;
use moat_core::{AccountInfo, EventTime};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::actor::Actor;
use crate::identity::{CLIENTS, Identity, country, mix, public_ipv4};
use crate::rhythm::DAY;
use crate::scenario::Scenario;
use crate::text::Corpus;
use crate::world::{World, key_id};

mod campaigns;
mod customers;

use campaigns::add_campaign;
use customers::populate;

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
