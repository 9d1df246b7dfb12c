//! The campaigns: their account slots, paced and worded as their scenario says, and the
//! resellers that carry a campaign's traffic among their customers'.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::actor::{Actor, Behaviour, campaign_slot};
use crate::identity::{
    CLIENTS, CLOUD_ASNS, Identity, card, company_domain, mix, public_ipv4, university_domain,
};
use crate::rhythm::DAY;
use crate::scenario::CampaignSpec;
use crate::world::{CampaignState, World, scaled};

use super::{Persona, persona_identity};

#[allow(clippy::too_many_arguments)]
pub(super) fn add_campaign(
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
