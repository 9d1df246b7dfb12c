//! Actors: each sends one account's traffic, in its own rhythm, with its own words.

use std::net::IpAddr;

use compact_str::CompactString;
use moat_core::{Client, EventTime, Exchange, Request, Response, Usage};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use crate::identity::{Identity, hex_id, hex_id_into, mix, pool_address};

mod requests;
use crate::rhythm::{DAY, Rhythm, next_arrival, pause};
use crate::text::{self, Topic, Wording};
use crate::world::{CampaignState, World, lognormal_with_mean};

/// Sets `slot` to `value`, into the string already there if there is one.
fn put(slot: &mut Option<CompactString>, value: &str) {
    match slot {
        Some(s) => {
            s.clear();
            s.push_str(value);
        }
        None => *slot = Some(value.into()),
    }
}

/// Sets `slot` to `value` or to nothing.
fn put_opt(slot: &mut Option<CompactString>, value: Option<&str>) {
    match value {
        Some(value) => put(slot, value),
        None => *slot = None,
    }
}

/// How an actor behaves.
#[derive(Debug)]
pub(crate) enum Behaviour {
    /// A person: sessions of a few turns on everyday topics.
    Person {
        sessions_per_day: f64,
        rhythm: Rhythm,
        topics: &'static [Topic],
        system: Option<&'static str>,
    },
    /// A developer and their coding agent: long tool-using sessions in office hours.
    Developer { sessions_per_day: f64 },
    /// A power user: hard questions (maths, code, science) with extended thinking on, huge
    /// `max_tokens`, and often an ask to show the steps, worded their own way.
    PowerUser {
        sessions_per_day: f64,
        /// The share of their questions that ask for the reasoning.
        asks: f64,
    },
    /// An application backend: end users' questions under one product system prompt.
    AppBackend { per_day: f64, system: String },
    /// An evaluation harness: benchmark runs, thousands of templated items in a burst.
    EvalHarness {
        runs: Vec<i64>,
        items_per_run: u32,
        left: u32,
        item: u64,
        cot: bool,
    },
    /// A scheduled job every `period` microseconds.
    Automation { period: i64, job: u64 },
    /// A reseller relaying many end users' requests.
    Reseller { per_day: f64 },
    /// One account slot of a campaign.
    Campaign(CampaignSlot),
}

/// A campaign account slot: when its account is replaced, the slot goes on with a new one.
#[derive(Debug)]
pub(crate) struct CampaignSlot {
    pub campaign: usize,
    pub wording: Wording,
    pub per_day: f64,
    /// Sends in human-like sessions instead of round the clock.
    pub human: bool,
    pub retire_at: i64,
    pub generation: u32,
    pub slot: u64,
    /// When this account moves to the new model, if it does.
    pub switch_at: Option<i64>,
    pub end: i64,
    /// The account's own system prompt, under open wording.
    pub system: text::open::SystemPrompt,
    /// Share of its days on which the account is active (1: every day).
    pub active_share: f64,
    /// Decides which days those are.
    pub day_seed: u64,
}

impl CampaignSlot {
    /// Whether the account is active on `day` (days since the epoch, UTC).
    fn active_on(&self, day: i64) -> bool {
        let draw = (mix(self.day_seed, day as u64) >> 11) as f64 / (1u64 << 53) as f64;
        self.active_share >= 1.0 || draw < self.active_share
    }
}

/// A session under way.
#[derive(Debug, Default)]
struct Session {
    /// Turns still to send.
    left: u32,
    conversation: Option<CompactString>,
    /// The user turns of the conversation, planned at its start.
    user_turns: Vec<String>,
    /// How many of them were sent.
    asked: usize,
}

impl Session {
    /// Starts a conversation of the planned user `turns`.
    fn begin(&mut self, turns: Vec<String>, conversation: CompactString) {
        self.left = turns.len() as u32;
        self.user_turns = turns;
        self.asked = 0;
        self.conversation = Some(conversation);
    }
}

/// One sender of traffic.
#[derive(Debug)]
pub(crate) struct Actor {
    rng: SmallRng,
    pub id: Identity,
    pub behaviour: Behaviour,
    session: Session,
    /// Share of this actor's traffic that goes to secondary models.
    other_models: f64,
    /// When this actor starts using a newly released model, if ever.
    adopts_new_at: Option<i64>,
    /// A campaign slot sends through its campaign's proxy pool (when it has one).
    pub proxied: bool,
}

impl Actor {
    pub fn new(seed: u64, number: u64, id: Identity, behaviour: Behaviour) -> Self {
        let mut rng = SmallRng::seed_from_u64(mix(seed, number));
        let other_models = if rng.random_bool(0.3) {
            rng.random_range(0.05..0.6)
        } else {
            0.0
        };
        Self {
            rng,
            id,
            behaviour,
            session: Session::default(),
            other_models,
            adopts_new_at: None,
            proxied: true,
        }
    }

    /// Decides when (if ever) a benign actor moves to the new model: over weeks, not a day.
    pub fn plan_adoption(&mut self, release: Option<i64>) {
        if let (
            Some(release),
            Behaviour::Person { .. } | Behaviour::Developer { .. } | Behaviour::PowerUser { .. },
        ) = (release, &self.behaviour)
            && self.rng.random_bool(0.4)
        {
            let delay: f64 = LogNormal::new(9.0f64.ln(), 0.8)
                .expect("valid")
                .sample(&mut self.rng);
            self.adopts_new_at = Some(release + (delay * DAY as f64) as i64);
        }
    }

    /// The time of this actor's first exchange at or after `from`, if it has any before `end`.
    pub fn first(&mut self, from: i64, end: i64) -> Option<i64> {
        self.next_after(from).filter(|t| *t < end)
    }

    /// When the next session or request starts after `now`.
    fn next_after(&mut self, now: i64) -> Option<i64> {
        let offset = self.id.utc_offset;
        let rng = &mut self.rng;
        Some(match &mut self.behaviour {
            Behaviour::Person {
                sessions_per_day,
                rhythm,
                ..
            } => next_arrival(rng, now, *sessions_per_day, *rhythm, offset),
            Behaviour::Developer { sessions_per_day } => {
                next_arrival(rng, now, *sessions_per_day, Rhythm::Work, offset)
            }
            Behaviour::PowerUser {
                sessions_per_day, ..
            } => next_arrival(rng, now, *sessions_per_day, Rhythm::Personal, offset),
            Behaviour::AppBackend { per_day, .. } => {
                next_arrival(rng, now, *per_day, Rhythm::EndUsers, offset)
            }
            Behaviour::Reseller { per_day } => {
                next_arrival(rng, now, *per_day, Rhythm::EndUsers, offset)
            }
            Behaviour::Automation { period, .. } => {
                now + *period + rng.random_range(-2_000_000..2_000_000)
            }
            Behaviour::EvalHarness {
                runs,
                items_per_run,
                left,
                ..
            } => {
                let start = runs.iter().copied().find(|r| *r > now)?;
                *left = *items_per_run;
                start
            }
            Behaviour::Campaign(slot) => {
                let arrival = |rng: &mut SmallRng, from: i64| {
                    if slot.human {
                        next_arrival(
                            rng,
                            from,
                            slot.per_day / MEAN_CAMPAIGN_SESSION,
                            Rhythm::Personal,
                            offset,
                        )
                    } else {
                        next_arrival(rng, from, slot.per_day, Rhythm::Flat, offset)
                    }
                };
                let mut t = arrival(rng, now);
                while t < slot.end && !slot.active_on(t.div_euclid(DAY)) {
                    t = arrival(rng, (t.div_euclid(DAY) + 1) * DAY);
                }
                if t >= slot.end {
                    return None;
                }
                t
            }
        })
    }

    /// Writes the exchange this actor sends at `now` over `exchange` (reusing its strings),
    /// and tells when it sends the next one.
    pub fn step(&mut self, now: i64, world: &mut World, exchange: &mut Exchange) -> Option<i64> {
        if let Behaviour::Campaign(slot) = &self.behaviour
            && now >= slot.retire_at
        {
            self.replace_campaign_account(now, world);
        }
        self.start_exchange(now, world, exchange);
        let in_session = self.fill(exchange, world);
        if in_session {
            Some(now + self.turn_pause())
        } else {
            self.next_after(now)
        }
    }

    /// The pause before the next turn of a session under way.
    fn turn_pause(&mut self) -> i64 {
        match &self.behaviour {
            Behaviour::Developer { .. } => pause(&mut self.rng, 8.0, 0.9),
            Behaviour::EvalHarness { .. } => pause(&mut self.rng, 1.5, 0.6),
            Behaviour::Campaign(_) => pause(&mut self.rng, 40.0, 0.8),
            _ => pause(&mut self.rng, 60.0, 1.0),
        }
    }

    fn model<'w>(&mut self, now: i64, world: &'w World) -> &'w str {
        let models = &world.models;
        if let Behaviour::Campaign(slot) = &self.behaviour {
            if let (Some(at), Some(new)) = (slot.switch_at, &models.new_model)
                && now >= at
            {
                return new;
            }
            return &models.current;
        }
        if let (Some(at), Some(new)) = (self.adopts_new_at, &models.new_model)
            && now >= at
            && self.rng.random_bool(0.7)
        {
            return new;
        }
        if self.other_models > 0.0
            && !models.others.is_empty()
            && self.rng.random_bool(self.other_models)
        {
            return models
                .others
                .choose(&mut self.rng)
                .map_or("", String::as_str);
        }
        &models.current
    }

    /// Writes what every exchange of this actor carries over `e`, and clears the rest.
    fn start_exchange(&mut self, now: i64, world: &mut World, e: &mut Exchange) {
        let model = self.model(now, world);
        put(&mut e.model, model);
        let id = &self.id;
        let proxied =
            |slot: &CampaignSlot| self.proxied && world.campaigns[slot.campaign].proxy_pool > 0;
        let ip = match (&self.behaviour, id.hosts) {
            (Behaviour::Campaign(slot), _) if proxied(slot) => {
                let c = &world.campaigns[slot.campaign];
                let n = self.rng.random_range(0..c.proxy_pool);
                crate::identity::public_ipv4(c.proxy_seed ^ n)
            }
            (_, hosts) if hosts > 1 => pool_address(id.ip, self.rng.random_range(1..=hosts)),
            _ => id.ip,
        };
        let asn = match &self.behaviour {
            Behaviour::Campaign(slot) if proxied(slot) => {
                let n = mix(world.campaigns[slot.campaign].proxy_seed, ip_key(ip));
                crate::identity::COUNTRIES[(n % crate::identity::COUNTRIES.len() as u64) as usize]
                    .isps[(n >> 8) as usize % 2]
            }
            _ => id.asn,
        };
        // Every field named, so that a field added to exchanges cannot be left over from
        // the record this one is written over.
        let Exchange {
            ts,
            account_id,
            request_id,
            org_id,
            api_key_id,
            conversation_id,
            model: _, // written first
            client,
            account,
            request,
            usage,
            response,
        } = e;
        *ts = EventTime::from_unix_micros(now).expect("simulated times are in range");
        account_id.clear();
        account_id.push_str(&id.account_id);
        let n = mix(world.seed ^ 0x5e9, world.next_request());
        hex_id_into(request_id.get_or_insert_default(), "req", n, 16);
        put_opt(org_id, id.org_id.as_deref());
        put(api_key_id, &id.api_key_id);
        *conversation_id = None;
        let Client {
            ip: client_ip,
            asn: client_asn,
            country,
            user_agent,
            tls_fingerprint,
        } = client;
        (*client_ip, *client_asn) = (Some(ip), Some(asn));
        put(country, id.country);
        put(user_agent, id.user_agent);
        put(tls_fingerprint, id.tls);
        account.clone_from(&id.account);
        let Request {
            system,
            prompt,
            messages,
            tools,
            max_tokens,
            temperature,
            reasoning,
        } = request;
        (*system, *prompt) = (None, None);
        messages.clear();
        (*tools, *max_tokens, *temperature, *reasoning) = (None, None, None, None);
        *usage = Usage::default();
        // The reason it finished is written with the usage.
        let Response {
            text,
            finish_reason: _,
        } = response;
        *text = None;
    }

    /// Fills the request of `e`; true while a session has more turns to come.
    fn fill(&mut self, e: &mut Exchange, world: &mut World) -> bool {
        let corpus = world.corpus.clone();
        let corpus = corpus.as_deref();
        let (rng, session) = (&mut self.rng, &mut self.session);
        match &mut self.behaviour {
            Behaviour::Person { topics, system, .. } => {
                requests::person(rng, session, e, corpus, topics, *system)
            }
            Behaviour::PowerUser { asks, .. } => {
                requests::power_user(rng, session, e, corpus, *asks)
            }
            Behaviour::Developer { .. } => requests::developer(rng, session, e),
            Behaviour::AppBackend { system, .. } => requests::app_backend(rng, e, system),
            Behaviour::Reseller { .. } => requests::reseller(rng, e),
            Behaviour::Automation { job, .. } => requests::automation(rng, e, job),
            Behaviour::EvalHarness {
                left, item, cot, ..
            } => requests::eval_harness(rng, e, left, item, cot),
            Behaviour::Campaign(slot) => requests::campaign(rng, session, e, corpus, slot, world),
        }
    }

    /// Gives the slot a fresh account, as a campaign does when one is banned or dropped.
    fn replace_campaign_account(&mut self, now: i64, world: &mut World) {
        let Behaviour::Campaign(slot) = &mut self.behaviour else {
            return;
        };
        slot.generation += 1;
        let id = world.campaign_identity(
            slot.campaign,
            slot.slot,
            slot.generation,
            now,
            &mut self.rng,
        );
        let state = &world.campaigns[slot.campaign];
        if state.open_wording {
            slot.system = text::open::system_prompt(&mut self.rng);
        }
        slot.day_seed = self.rng.random();
        let lifetime = state.lifetime;
        slot.retire_at = if lifetime > 0 {
            now + (lifetime as f64 * self.rng.random_range(0.6..1.4)) as i64
        } else {
            i64::MAX
        };
        self.id = id;
        self.session = Session::default();
    }
}

/// A fresh conversation id.
fn conversation_id<R: Rng>(rng: &mut R) -> CompactString {
    hex_id("conv", rng.random(), 12)
}

/// A key for an address, to derive things from it.
fn ip_key(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u64,
        IpAddr::V6(v6) => (u128::from(v6) >> 64) as u64,
    }
}

/// The mean number of requests in a human-timed campaign session (2 to 7).
const MEAN_CAMPAIGN_SESSION: f64 = 4.5;

/// Per-campaign shared state needs no more than this to build a slot.
pub(crate) fn campaign_slot(
    state: &CampaignState,
    rng: &mut SmallRng,
    slot: u64,
    start: i64,
) -> CampaignSlot {
    let wording = Wording::new(rng, state.seed, state.paraphrase);
    let active_share = if state.active_day_share > 0.0 {
        state.active_day_share
    } else {
        1.0
    };
    let volume = if state.volume_sigma > 0.0 {
        lognormal_with_mean(rng, 1.0, state.volume_sigma)
    } else {
        1.0
    };
    let switch_at = state
        .switch_at
        .filter(|_| rng.random_bool(state.switch_share))
        .map(|release| release + rng.random_range(0..DAY));
    CampaignSlot {
        campaign: state.index,
        wording,
        per_day: state.per_day * volume / active_share,
        human: state.human_timing,
        retire_at: if state.lifetime > 0 {
            start + (state.lifetime as f64 * rng.random_range(0.3..1.4)) as i64
        } else {
            i64::MAX
        },
        generation: 0,
        slot,
        switch_at,
        end: state.end,
        system: if state.open_wording {
            text::open::system_prompt(rng)
        } else {
            text::open::SystemPrompt::default()
        },
        active_share,
        day_seed: rng.random(),
    }
}
