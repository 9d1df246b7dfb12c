//! The population: customers of every kind, one function per kind, each opening its
//! accounts (numbered in turn) and giving each an actor.

use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand_distr::Distribution;

use crate::actor::{Actor, Behaviour};
use crate::identity::{
    CLOUD_ASNS, COUNTRIES, Identity, WEBMAIL, card, company_domain, mix, opaque_id, public_ipv4,
    university_domain,
};
use crate::rhythm::{DAY, MINUTE, Rhythm};
use crate::scenario::Scenario;
use crate::text::{self, COMMON_SYSTEM_PROMPTS, Topic};
use crate::world::{World, lognormal_with_mean, scaled};

use super::{Persona, apportion, group_sizes, persona_identity};

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

/// Opens the scenario's customers, of every kind in its mix, into `world` and `actors`.
pub(super) fn populate(
    world: &mut World,
    actors: &mut Vec<Actor>,
    rng: &mut SmallRng,
    s: &Scenario,
    scale: f64,
    start: i64,
) {
    let p = &s.population;
    let m = &p.mix;
    let parts = apportion(
        scaled(p.accounts, scale, 0.0),
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
    let mut c = Customers {
        seed: world.seed,
        world,
        actors,
        rng,
        start,
        opened: 0,
    };
    c.individuals(parts[0], p.individual_rate);
    c.developers(parts[1]);
    c.app_backends(parts[2]);
    c.power_users(parts[3]);
    let teams = group_sizes(c.rng, parts[4], p.enterprise_team, scale, 2.0);
    c.enterprise_teams(&teams);
    let universities = group_sizes(c.rng, parts[5], p.university, scale, 3.0);
    c.universities(&universities);
    c.eval_harnesses(parts[6], s.days);
    c.automations(parts[7]);
    c.resellers(parts[8]);
}

/// What opening customers shares: the world, the actors so far, the random stream, and how
/// many accounts were opened (each numbered in turn).
struct Customers<'a> {
    world: &'a mut World,
    actors: &'a mut Vec<Actor>,
    rng: &'a mut SmallRng,
    seed: u64,
    start: i64,
    opened: u64,
}

impl Customers<'_> {
    /// The number of the next account.
    fn next(&mut self) -> u64 {
        self.opened += 1;
        self.opened
    }

    /// A self-serve customer's facts: a webmail or company address, a card of its own.
    fn self_serve(&mut self, n: u64) -> Persona<'static> {
        let rng = &mut *self.rng;
        Persona {
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
                company_domain(self.seed, n)
            },
            card: card(self.seed, n),
            verified: rng.random_bool(0.35),
            created_at: self.start - rng.random_range(-20 * DAY..700 * DAY),
            org_id: None,
            ip: None,
        }
    }

    /// A server's address, its hosts and network, for a customer that calls from one.
    fn server_ip(&mut self, n: u64) -> Option<(std::net::IpAddr, u16, u32)> {
        Some((
            public_ipv4(mix(self.seed ^ 0x5e1, n)),
            self.rng.random_range(2..9u16),
            *CLOUD_ASNS.choose(self.rng).unwrap_or(&16509),
        ))
    }

    /// The identity of customer `n` with the facts of `persona`, recorded as `group`.
    fn identity(&mut self, persona: Persona, n: u64, group: String) -> Identity {
        persona_identity(self.world, self.rng, persona, n, "benign", group)
    }

    fn open(&mut self, n: u64, id: Identity, behaviour: Behaviour) {
        self.actors.push(Actor::new(self.seed, n, id, behaviour));
    }

    /// People on everyday topics, some with a system prompt of a common app.
    fn individuals(&mut self, count: u64, rate: f64) {
        let per_session = 1.8;
        for _ in 0..count {
            let k = self.next();
            let persona = self.self_serve(k);
            let id = self.identity(persona, k, "individual".to_owned());
            let rng = &mut *self.rng;
            let behaviour = Behaviour::Person {
                sessions_per_day: lognormal_with_mean(rng, rate / per_session, 1.2),
                rhythm: Rhythm::Personal,
                topics: PERSONAL_TOPICS,
                system: if rng.random_bool(0.3) {
                    COMMON_SYSTEM_PROMPTS.choose(rng).copied()
                } else {
                    None
                },
            };
            self.open(k, id, behaviour);
        }
    }

    /// Developers and their coding agents.
    fn developers(&mut self, count: u64) {
        for _ in 0..count {
            let k = self.next();
            let mut persona = self.self_serve(k);
            persona.verified = self.rng.random_bool(0.6);
            let id = self.identity(persona, k, "developer".to_owned());
            let behaviour = Behaviour::Developer {
                sessions_per_day: lognormal_with_mean(self.rng, 0.25, 1.0),
            };
            self.open(k, id, behaviour);
        }
    }

    /// Application backends: a product's end users under its system prompt, from servers.
    fn app_backends(&mut self, count: u64) {
        for _ in 0..count {
            let k = self.next();
            let mut persona = self.self_serve(k);
            persona.channel = if self.rng.random_bool(0.5) {
                "enterprise"
            } else {
                "self_serve"
            };
            persona.verified = true;
            persona.email_domain = company_domain(self.seed, k);
            persona.ip = self.server_ip(k);
            let id = self.identity(persona, k, "app_backend".to_owned());
            let behaviour = Behaviour::AppBackend {
                per_day: lognormal_with_mean(self.rng, 120.0, 1.0),
                system: text::product_system_prompt(self.rng, k as u32),
            };
            self.open(k, id, behaviour);
        }
    }

    /// Power users: hard questions with reasoning on and huge `max_tokens`.
    fn power_users(&mut self, count: u64) {
        for _ in 0..count {
            let k = self.next();
            let mut persona = self.self_serve(k);
            persona.verified = self.rng.random_bool(0.5);
            let id = self.identity(persona, k, "power_user".to_owned());
            let behaviour = Behaviour::PowerUser {
                sessions_per_day: lognormal_with_mean(self.rng, 1.5, 1.0),
                asks: self.rng.random_range(0.2..0.8),
            };
            self.open(k, id, behaviour);
        }
    }

    /// Enterprise teams of the given sizes: one domain, card and office network per team,
    /// onboarded together.
    fn enterprise_teams(&mut self, sizes: &[u64]) {
        let seed = self.seed;
        for (org, &size) in (1u64..).zip(sizes) {
            let org_id = opaque_id("org", seed, org);
            let domain = company_domain(seed ^ 0xe7, org);
            let org_card = card(seed ^ 0xe7, org);
            let nat = public_ipv4(mix(seed ^ 0x4a7, org));
            let asn = COUNTRIES[org as usize % COUNTRIES.len()].isps[0];
            let onboarded = self.start - self.rng.random_range(-25 * DAY..400 * DAY);
            for _ in 0..size {
                let k = self.next();
                let persona = Persona {
                    channel: "enterprise",
                    email_domain: domain.clone(),
                    card: org_card.clone(),
                    verified: true,
                    created_at: onboarded + self.rng.random_range(0..3 * DAY),
                    org_id: Some(org_id.clone()),
                    ip: Some((nat, 2, asn)),
                };
                let id = self.identity(persona, k, format!("enterprise:{org_id}"));
                let rng = &mut *self.rng;
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
                self.open(k, id, behaviour);
            }
        }
    }

    /// Universities of the given sizes: students behind one campus network, signed up
    /// around the start of term.
    fn universities(&mut self, sizes: &[u64]) {
        let seed = self.seed;
        for (uni, &size) in (1u64..).zip(sizes) {
            let domain = university_domain(seed, uni);
            let campus = public_ipv4(mix(seed ^ 0xca9, uni));
            let asn = 1_200 + uni as u32;
            let term_start = self.start + self.rng.random_range(-30 * DAY..20 * DAY);
            for _ in 0..size {
                let k = self.next();
                let z: f64 = rand_distr::StandardNormal.sample(self.rng);
                let persona = Persona {
                    channel: "education",
                    email_domain: domain.clone(),
                    card: card(seed, k),
                    verified: self.rng.random_bool(0.2),
                    created_at: term_start + (z * 2.0 * DAY as f64) as i64,
                    org_id: None,
                    ip: Some((campus, 16, asn)),
                };
                let id = self.identity(persona, k, format!("university:{domain}"));
                let behaviour = Behaviour::Person {
                    sessions_per_day: lognormal_with_mean(self.rng, 0.4, 1.0),
                    rhythm: Rhythm::Student,
                    topics: STUDENT_TOPICS,
                    system: None,
                };
                self.open(k, id, behaviour);
            }
        }
    }

    /// Evaluation harnesses: a few benchmark runs each over the `days` of the scenario.
    fn eval_harnesses(&mut self, count: u64, days: f64) {
        for _ in 0..count {
            let k = self.next();
            let mut persona = self.self_serve(k);
            persona.channel = *["research", "enterprise", "startup"]
                .choose(self.rng)
                .unwrap_or(&"research");
            persona.ip = self.server_ip(k);
            let id = self.identity(persona, k, "eval_harness".to_owned());
            let rng = &mut *self.rng;
            let mut runs: Vec<i64> = (0..rng.random_range(1..5))
                .map(|_| self.start + (rng.random_range(0.0..days) * DAY as f64) as i64)
                .collect();
            runs.sort_unstable();
            let behaviour = Behaviour::EvalHarness {
                runs,
                items_per_run: rng.random_range(300..3000),
                left: 0,
                item: 0,
                cot: rng.random_bool(0.5),
            };
            self.open(k, id, behaviour);
        }
    }

    /// Scheduled jobs, each on a fixed period.
    fn automations(&mut self, count: u64) {
        for _ in 0..count {
            let k = self.next();
            let mut persona = self.self_serve(k);
            persona.ip = self.server_ip(k);
            let id = self.identity(persona, k, "automation".to_owned());
            let minutes = *[5i64, 10, 15, 30, 60].choose(self.rng).unwrap_or(&15);
            let behaviour = Behaviour::Automation {
                period: minutes * MINUTE,
                job: 0,
            };
            self.open(k, id, behaviour);
        }
    }

    /// Resellers relaying many end users' requests from their servers.
    fn resellers(&mut self, count: u64) {
        for _ in 0..count {
            let k = self.next();
            let mut persona = self.self_serve(k);
            persona.channel = "reseller";
            persona.verified = true;
            persona.ip = self.server_ip(k);
            let id = self.identity(persona, k, "reseller".to_owned());
            let behaviour = Behaviour::Reseller {
                per_day: lognormal_with_mean(self.rng, 800.0, 0.8),
            };
            self.open(k, id, behaviour);
        }
    }
}
