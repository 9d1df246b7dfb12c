//! The statistical shape of simulated traffic: volumes, rates, rhythms, groups, campaigns.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use moat_core::{CompactString, Exchange};
use moat_sim::text::Corpus;
use moat_sim::{Scenario, SimOptions, Simulation, TruthRow};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

struct Run {
    events: Vec<Exchange>,
    truth: HashMap<String, TruthRow>,
}

fn run(scenario: &str, scale: f64, seed: u64) -> Run {
    run_with_operator(scenario, scale, seed, None)
}

fn run_with_operator(scenario: &str, scale: f64, seed: u64, operator_seed: Option<u64>) -> Run {
    let scenario = Scenario::load(scenario).unwrap();
    let mut sim = Simulation::new(
        &scenario,
        &SimOptions {
            scale,
            seed,
            corpus: None,
            operator_seed,
        },
    );
    let events: Vec<Exchange> = sim.by_ref().collect();
    let truth = sim
        .truth()
        .iter()
        .map(|t| (t.account_id.clone(), t.clone()))
        .collect();
    Run { events, truth }
}

impl Run {
    fn label(&self, e: &Exchange) -> &str {
        self.truth[e.account_id.as_str()].label
    }
    fn group(&self, e: &Exchange) -> &str {
        self.truth[e.account_id.as_str()]
            .group
            .split(':')
            .next()
            .unwrap()
    }
    fn of<'a>(
        &'a self,
        pred: impl Fn(&Exchange) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Exchange> + 'a {
        self.events.iter().filter(move |e| pred(e))
    }
}

/// Share of `events` sent in the sender's local night (00:00 to 06:00).
fn night_share<'a>(
    events: impl Iterator<Item = &'a Exchange>,
    offset_of: impl Fn(&Exchange) -> f64,
) -> f64 {
    let (mut night, mut all) = (0.0f64, 0.0f64);
    for e in events {
        let local = e.ts.as_unix_micros() + (offset_of(e) * HOUR as f64) as i64;
        let hour = local.rem_euclid(DAY) / HOUR;
        all += 1.0;
        if hour < 6 {
            night += 1.0;
        }
    }
    night / all.max(1.0)
}

/// The /24 network an exchange came from.
fn slash24(e: &Exchange) -> String {
    let ip = e.client.ip.unwrap().to_string();
    ip.rsplit_once('.').unwrap().0.to_owned()
}

fn utc_offset(country: &str) -> f64 {
    match country {
        "US" | "CA" => -6.5,
        "MX" => -6.0,
        "BR" => -3.0,
        "GB" => 0.0,
        "DE" | "FR" | "NG" => 1.0,
        "IN" => 5.5,
        "SG" => 8.0,
        "JP" | "KR" => 9.0,
        "AU" => 10.0,
        other => panic!("unknown country {other}"),
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = run("hydra-3m", 0.002, 7);
    let b = run("hydra-3m", 0.002, 7);
    let c = run("hydra-3m", 0.002, 8);
    let bytes = |r: &Run| {
        r.events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(bytes(&a), bytes(&b));
    assert_ne!(bytes(&a), bytes(&c));
}

#[test]
fn events_are_in_time_order_and_every_account_is_known() {
    let r = run("hydra-29m", 0.002, 1);
    assert!(r.events.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert!(
        r.events
            .iter()
            .all(|e| r.truth.contains_key(e.account_id.as_str()))
    );
}

#[test]
fn campaign_volume_accounts_and_rate_match_the_profile() {
    let scale = 0.002;
    let r = run("hydra-29m", scale, 3);
    let hydra: Vec<&Exchange> = r.of(|e| r.label(e) == "hydra").collect();
    // 25,000 accounts at a time, scaled; each ~26 exchanges a day for 44 days (less the
    // resold share, which goes out under resellers' accounts).
    let slots = 25_000.0 * scale;
    let expected = slots * (1.0 - 0.1) * 28_800_000.0 / (25_000.0 * 44.0) * 44.0;
    let got = hydra.len() as f64;
    assert!(
        (got / expected - 1.0).abs() < 0.2,
        "campaign exchanges {got}, expected about {expected}"
    );
    // Accounts are replaced about every 9 days: several generations per slot.
    let accounts: HashSet<&str> = hydra.iter().map(|e| e.account_id.as_str()).collect();
    assert!(
        accounts.len() as f64 > 3.0 * slots * 0.9,
        "{} campaign accounts",
        accounts.len()
    );
    // Per account and active day, near the disclosed ~26.
    let mut per_account: HashMap<&str, (i64, i64, u64)> = HashMap::new();
    for e in &hydra {
        let t = e.ts.as_unix_micros();
        let entry = per_account.entry(&e.account_id).or_insert((t, t, 0));
        entry.0 = entry.0.min(t);
        entry.1 = entry.1.max(t);
        entry.2 += 1;
    }
    let mut rates: Vec<f64> = per_account
        .values()
        .filter(|(a, b, _)| b - a > 2 * DAY)
        .map(|(a, b, n)| *n as f64 / ((b - a) as f64 / DAY as f64))
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    assert!(
        (18.0..36.0).contains(&median),
        "median campaign rate {median}/day"
    );
    // The campaign starts on day 8 and no campaign exchange comes before.
    let start = r.events[0].ts.as_unix_micros();
    assert!(
        hydra
            .iter()
            .all(|e| e.ts.as_unix_micros() >= start + 8 * DAY - DAY)
    );
}

#[test]
fn people_sleep_and_orchestrators_do_not() {
    let r = run("hydra-29m", 0.002, 4);
    let person = night_share(r.of(|e| r.group(e) == "individual"), |e| {
        utc_offset(e.client.country.as_deref().unwrap())
    });
    let campaign = night_share(r.of(|e| r.label(e) == "hydra"), |_| 0.0);
    assert!(
        person < 0.12,
        "individuals send {person:.2} of their traffic at night"
    );
    assert!(
        (0.2..0.3).contains(&campaign),
        "the campaign sends {campaign:.2} at night (flat is 0.25)"
    );

    let evasive = run("evasive-29m", 0.002, 4);
    let hidden = night_share(evasive.of(|e| evasive.label(e) == "hydra"), |e| {
        utc_offset(e.client.country.as_deref().unwrap())
    });
    assert!(
        hidden < 0.15,
        "the evasive campaign sends {hidden:.2} at night"
    );
}

#[test]
fn individuals_are_heavy_tailed_and_light() {
    let r = run("population", 0.002, 5);
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for e in r.of(|e| r.group(e) == "individual") {
        *counts.entry(&e.account_id).or_default() += 1;
    }
    let mut v: Vec<u64> = counts.values().copied().collect();
    v.sort_unstable();
    let median = v[v.len() / 2] as f64 / 60.0;
    let p99 = v[v.len() * 99 / 100] as f64 / 60.0;
    assert!(median < 1.0, "median individual sends {median}/day");
    assert!(
        p99 > 5.0 * median.max(0.05),
        "no heavy tail: p99 {p99}/day, median {median}/day"
    );
    assert!(r.truth.values().all(|t| t.label == "benign"));
}

#[test]
fn harnesses_burst_and_automation_keeps_time() {
    let r = run("population", 0.01, 10);
    let mut per_hour: HashMap<(&str, i64), u64> = HashMap::new();
    for e in r.of(|e| r.group(e) == "eval_harness") {
        *per_hour
            .entry((&e.account_id, e.ts.as_unix_micros() / HOUR))
            .or_default() += 1;
    }
    let busiest = per_hour.values().max().copied().unwrap_or(0);
    assert!(
        busiest > 300,
        "the busiest harness hour holds {busiest} items"
    );

    let mut times: HashMap<&str, Vec<i64>> = HashMap::new();
    for e in r.of(|e| r.group(e) == "automation") {
        times
            .entry(&e.account_id)
            .or_default()
            .push(e.ts.as_unix_micros());
    }
    assert!(!times.is_empty());
    for (account, t) in &times {
        let gaps: Vec<i64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let (lo, hi) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
        assert!(hi - lo < 10_000_000, "{account}: gaps from {lo} to {hi} µs");
    }
}

#[test]
fn enterprises_share_org_card_domain_and_nat() {
    let r = run("population", 0.005, 6);
    /// What an org's members have in common: accounts, cards, e-mail domains, /24s.
    #[derive(Default)]
    struct Org<'a> {
        members: HashSet<&'a str>,
        cards: HashSet<CompactString>,
        domains: HashSet<CompactString>,
        nets: HashSet<String>,
    }
    let mut orgs: HashMap<&str, Org> = HashMap::new();
    for e in r.of(|e| r.group(e) == "enterprise") {
        let o = orgs.entry(e.org_id.as_deref().unwrap()).or_default();
        o.members.insert(&e.account_id);
        o.cards.extend(e.account.payment_fingerprint.clone());
        o.domains.extend(e.account.email_domain.clone());
        o.nets.insert(slash24(e));
    }
    assert!(orgs.len() >= 3, "{} orgs", orgs.len());
    for (name, org) in &orgs {
        let shared = (org.cards.len(), org.domains.len(), org.nets.len());
        assert_eq!(shared, (1, 1, 1), "{name}");
        let largest = (300.0f64 * 0.005).round().max(2.0) as usize;
        assert!(
            org.members.len() <= largest,
            "{name} has {} members",
            org.members.len()
        );
    }
}

#[test]
fn universities_sign_up_in_a_wave_behind_a_campus_nat() {
    let r = run("population", 0.01, 7);
    let mut unis: HashMap<&str, (HashSet<String>, Vec<i64>)> = HashMap::new();
    let mut seen = HashSet::new();
    for e in r.of(|e| r.group(e) == "university") {
        let u = unis
            .entry(&r.truth[e.account_id.as_str()].group)
            .or_default();
        u.0.insert(slash24(e));
        if seen.insert(&e.account_id) {
            u.1.push(e.account.created_at.unwrap().as_unix_micros());
        }
    }
    assert!(!unis.is_empty());
    for (name, (nets, created)) in &unis {
        assert_eq!(nets.len(), 1, "{name} spans {} networks", nets.len());
        if created.len() >= 5 {
            let mean = created.iter().sum::<i64>() as f64 / created.len() as f64;
            let sd = (created
                .iter()
                .map(|c| (*c as f64 - mean).powi(2))
                .sum::<f64>()
                / created.len() as f64)
                .sqrt();
            assert!(
                sd < 4.0 * DAY as f64,
                "{name}: sign-ups spread over {:.1} days",
                sd / DAY as f64
            );
        }
    }
}

#[test]
fn half_the_campaign_moves_to_a_new_model_within_a_day() {
    let scenario = Scenario::load("hydra-13m").unwrap();
    let release = moat_core::EventTime::parse_rfc3339(&scenario.start)
        .unwrap()
        .as_unix_micros()
        + (scenario.models.release_day * DAY as f64) as i64;
    let r = run("hydra-13m", 0.002, 8);
    let new = scenario.models.new_model.clone().unwrap();
    let share = |label: &str, from: i64, to: i64| {
        let events: Vec<&Exchange> = r
            .of(|e| r.label(e) == label && (from..to).contains(&e.ts.as_unix_micros()))
            .collect();
        events
            .iter()
            .filter(|e| e.model.as_deref() == Some(new.as_str()))
            .count() as f64
            / events.len().max(1) as f64
    };
    let campaign_after = share("hydra", release + DAY, release + 4 * DAY);
    let benign_after = share("benign", release + DAY, release + 4 * DAY);
    assert!(share("hydra", release - 3 * DAY, release) == 0.0);
    assert!(
        (0.35..0.65).contains(&campaign_after),
        "campaign on the new model: {campaign_after:.2}"
    );
    assert!(
        benign_after < 0.1,
        "benign on the new model a day after release: {benign_after:.2}"
    );
}

#[test]
fn evasive_campaigns_use_their_own_addresses_cards_and_words() {
    let plain = run("hydra-3m", 0.002, 9);
    let evasive = run("evasive-3m", 0.002, 9);
    let stats = |r: &Run| {
        let hydra: Vec<&Exchange> = r.of(|e| r.label(e) == "hydra").collect();
        let accounts: HashSet<&str> = hydra.iter().map(|e| e.account_id.as_str()).collect();
        let cards: HashSet<&str> = hydra
            .iter()
            .filter_map(|e| e.account.payment_fingerprint.as_deref())
            .collect();
        let systems: HashSet<&str> = hydra
            .iter()
            .filter_map(|e| e.request.system.as_deref())
            .collect();
        let mut ips_per_account: HashMap<&str, HashSet<String>> = HashMap::new();
        for e in &hydra {
            ips_per_account
                .entry(&e.account_id)
                .or_default()
                .insert(e.client.ip.unwrap().to_string());
        }
        let shared_ips = {
            let mut owners: HashMap<String, HashSet<&str>> = HashMap::new();
            for (a, ips) in &ips_per_account {
                for ip in ips {
                    owners.entry(ip.clone()).or_default().insert(a);
                }
            }
            owners.values().filter(|o| o.len() > 1).count()
        };
        (accounts.len(), cards.len(), systems.len(), shared_ips)
    };
    let (pa, pc, _, pshared) = stats(&plain);
    let (ea, ec, esys, eshared) = stats(&evasive);
    assert!(pc < pa / 2, "plain campaign: {pc} cards for {pa} accounts");
    assert_eq!(ec, ea, "evasive campaign: every account its own card");
    assert!(pshared > 0, "plain campaign accounts share proxy addresses");
    assert_eq!(eshared, 0, "evasive campaign accounts share no address");
    assert!(esys >= 4, "evasive campaign uses {esys} system prompts");
}

#[test]
fn covert_campaigns_share_no_key() {
    let covert = run("covert-3m", 0.002, 9);
    let hydra: Vec<&Exchange> = covert.of(|e| covert.label(e) == "hydra").collect();
    let accounts: HashSet<&str> = hydra.iter().map(|e| e.account_id.as_str()).collect();
    assert!(accounts.len() >= 8, "{} campaign accounts", accounts.len());
    // Domains customers use too (webmail) are no key.
    let public: HashSet<&str> = covert
        .of(|e| covert.label(e) == "benign")
        .filter_map(|e| e.account.email_domain.as_deref())
        .collect();
    // Per key, the campaign accounts holding it: none may be held by two.
    let mut owners: HashMap<String, HashSet<&str>> = HashMap::new();
    for e in &hydra {
        let a = e.account_id.as_str();
        let mut hold = |key: String| owners.entry(key).or_default().insert(a);
        hold(format!("card {:?}", e.account.payment_fingerprint));
        hold(format!("net {}", slash24(e)));
        if let Some(domain) = e.account.email_domain.as_deref()
            && !public.contains(domain)
        {
            hold(format!("domain {domain}"));
        }
        if let Some(system) = e.request.system.as_deref() {
            hold(format!("system {system}"));
        }
    }
    let shared: Vec<&String> = owners
        .iter()
        .filter(|(_, o)| o.len() > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(
        shared.is_empty(),
        "keys shared by campaign accounts: {shared:?}"
    );
    // Accounts are active on about a third of their days, and their volumes differ widely.
    let mut days: HashMap<&str, HashSet<i64>> = HashMap::new();
    for e in &hydra {
        days.entry(&e.account_id)
            .or_default()
            .insert(e.ts.as_unix_micros().div_euclid(86_400_000_000));
    }
    let counts: Vec<usize> = accounts
        .iter()
        .map(|a| hydra.iter().filter(|e| e.account_id == *a).count())
        .collect();
    let (low, high) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(high > &(low * 4), "volumes from {low} to {high}");
    let active: f64 = days
        .values()
        .map(|d| {
            let span = d.iter().max().unwrap() - d.iter().min().unwrap() + 1;
            d.len() as f64 / span as f64
        })
        .sum::<f64>()
        / days.len() as f64;
    assert!(active < 0.7, "accounts active on {active:.2} of their days");
}

#[test]
fn corpus_prompts_are_used_when_given() {
    // The public corpora when they are beside the checkout; else a small corpus of the
    // same format written here, so that the reading of corpus files is tested either way.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/prompts");
    let own = std::env::temp_dir().join(format!("moat-shape-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&own).unwrap();
    let files = if dir.exists() {
        vec![
            dir.join("human-hh-harmless-test.jsonl"),
            dir.join("distill-alpaca-demo.jsonl"),
        ]
    } else {
        let write = |name: &str, kind: &str, n: usize| {
            let path = own.join(name);
            let rows: String = (0..n)
                .map(|i| {
                    format!(
                        "{{\"kind\": \"{kind}\", \"turns\": [\"{kind} prompt number {i}, about topic {}\"]}}\n",
                        i * 7 % 13
                    )
                })
                .collect();
            std::fs::write(&path, rows).unwrap();
            path
        };
        vec![
            write("human.jsonl", "human", 300),
            write("distill.jsonl", "distill", 300),
        ]
    };
    let corpus = Corpus::load(&files).unwrap();
    let human: HashSet<String> = corpus.human.iter().map(|t| t[0].clone()).collect();
    let distill: Vec<String> = corpus.distill.clone();
    let scenario = Scenario::load("hydra-150k").unwrap();
    let mut sim = Simulation::new(
        &scenario,
        &SimOptions {
            scale: 0.002,
            seed: 1,
            corpus: Some(Arc::new(corpus)),
            operator_seed: None,
        },
    );
    let events: Vec<Exchange> = sim.by_ref().collect();
    let firsts = events
        .iter()
        .filter_map(|e| e.request.messages.first())
        .filter(|m| human.contains(&m.content))
        .count();
    assert!(
        firsts > 100,
        "{firsts} exchanges open with a corpus conversation"
    );
    let campaign_uses = events
        .iter()
        .filter_map(|e| e.request.prompt.as_deref())
        .filter(|p| distill.iter().take(200).any(|d| p.contains(d.as_str())))
        .count();
    assert!(
        campaign_uses > 10,
        "{campaign_uses} campaign prompts carry a corpus task"
    );
}

#[test]
fn one_operator_at_two_providers_keeps_its_infrastructure() {
    let campaign_values = |r: &Run| {
        let mut cards = HashSet::new();
        let mut networks = HashSet::new();
        for e in r.of(|e| r.label(e) == "hydra") {
            cards.extend(e.account.payment_fingerprint.clone());
            networks.insert(slash24(e));
        }
        (cards, networks)
    };
    let accounts = |r: &Run| r.truth.keys().cloned().collect::<HashSet<_>>();
    let a = run_with_operator("hydra-29m", 0.002, 5, Some(99));
    let b = run_with_operator("hydra-29m", 0.002, 6, Some(99));
    let c = run_with_operator("hydra-29m", 0.002, 6, None);
    let (a_cards, a_networks) = campaign_values(&a);
    let (b_cards, b_networks) = campaign_values(&b);
    let (c_cards, c_networks) = campaign_values(&c);
    // The same operator: the same cards and proxy networks, under other accounts.
    assert!(
        a_cards.len() >= 2 && a_cards == b_cards,
        "{a_cards:?} / {b_cards:?}"
    );
    let shared = a_networks.intersection(&b_networks).count();
    assert!(
        shared * 2 >= a_networks.len(),
        "{shared} of {} networks shared",
        a_networks.len()
    );
    assert!(accounts(&a).is_disjoint(&accounts(&b)));
    // Another operator shares nothing.
    assert!(a_cards.is_disjoint(&c_cards));
    assert!(a_networks.intersection(&c_networks).count() * 10 < a_networks.len());
    // Naming the seed as the operator seed changes nothing.
    let same = run_with_operator("hydra-29m", 0.002, 6, Some(6));
    assert!(same.events == c.events);
}

#[test]
fn resellers_mix_a_campaign_with_their_customers_from_their_networks_pools() {
    let r = run("resold-3m", 0.004, 5);
    let mixed: Vec<&TruthRow> = r.truth.values().filter(|t| t.label == "mixed").collect();
    // Three networks of at least one account each.
    assert!(mixed.len() >= 3, "{} resellers", mixed.len());
    let mut addresses: HashMap<&str, HashSet<std::net::IpAddr>> = HashMap::new();
    for e in r.of(|e| r.label(e) == "mixed") {
        addresses
            .entry(&e.account_id)
            .or_default()
            .extend(e.client.ip);
    }
    for t in &mixed {
        // Customers make 40 to 80 % of a reseller's traffic: the campaign the rest, less
        // while its accounts come into use over the campaign's first half.
        let share = t.campaign_share.expect("a reseller's true campaign share");
        assert!(
            (0.05..=0.7).contains(&share),
            "{}: campaign share {share}",
            t.account_id
        );
        let pool = &addresses[t.account_id.as_str()];
        assert!(
            (2..=300).contains(&pool.len()),
            "{}: {} egress addresses",
            t.account_id,
            pool.len()
        );
    }
    // Each network sends from its own pool: accounts share addresses only within one.
    let pools: Vec<&HashSet<std::net::IpAddr>> = addresses.values().collect();
    let sharing =
        |a: &HashSet<std::net::IpAddr>| pools.iter().filter(|b| !a.is_disjoint(b)).count();
    assert!(pools.iter().all(|p| sharing(p) <= mixed.len() - 2));
    // The campaign's own accounts are wholly the campaign's.
    assert!(
        r.truth
            .values()
            .filter(|t| t.label == "hydra")
            .all(|t| t.campaign_share == Some(1.0))
    );
}
