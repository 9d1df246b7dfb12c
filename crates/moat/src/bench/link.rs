//! `moat bench link`: how linking grows with the number of accounts. Builds populations of
//! N accounts with one campaign hidden among them, reads them into the engine, then times
//! the round that links and scores them all at once (the worst case: live and in scans,
//! rounds only revisit the accounts that changed).

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Instant;

use moat_core::{
    AccountInfo, Analysed, Client, Engine, EventTime, Exchange, Request, RoundCosts, Verdict,
    format_compact,
};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::config::Config;
use crate::input::print_stdout;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Population sizes, in accounts.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000u32, 100_000, 1_000_000])]
    accounts: Vec<u32>,

    /// Accounts of the campaign hidden in each population.
    #[arg(long, default_value_t = 25_000)]
    campaign: u32,

    /// Exchanges per account (an account is judged from 5).
    #[arg(long, default_value_t = 6)]
    exchanges: u32,

    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Figures {
    accounts: u32,
    campaign_accounts: u32,
    exchanges: u64,
    read_s: f64,
    link_round_s: f64,
    judge_s: f64,
    link_s: f64,
    assess_s: f64,
    score_s: f64,
    campaign_blocked: u32,
    others_blocked: u32,
    rss_mb: f64,
    /// The whole process's resident memory over the accounts: an upper bound on what an
    /// account's state costs.
    rss_bytes_per_account: f64,
}

pub fn run(args: Args, config: &Config) -> anyhow::Result<ExitCode> {
    let mut all = Vec::new();
    for &n in &args.accounts {
        let campaign = args.campaign.min(n / 2);
        let mut engine = Engine::new(config.detect.clone());
        let started = Instant::now();
        let mut exchanges = 0u64;
        let mut population = Population::new(n, campaign);
        // Every account's exchanges within one linking period, so the round at the end
        // links the whole population at once.
        for round in 0..args.exchanges {
            for account in 0..n {
                engine.observe(&Analysed::of(population.exchange(account, round)));
                exchanges += 1;
            }
        }
        let read_s = started.elapsed().as_secs_f64();
        let before = engine.round_costs();
        let started = Instant::now();
        let outcome = engine.finish();
        let link_round_s = started.elapsed().as_secs_f64();
        let costs = outcome.costs;
        let stage =
            |f: fn(&RoundCosts) -> std::time::Duration| (f(&costs) - f(&before)).as_secs_f64();
        let blocked = |hydra: bool| {
            outcome
                .accounts
                .iter()
                .filter(|a| a.verdict == Verdict::Block && a.account_id.starts_with('h') == hydra)
                .count() as u32
        };
        let rss_mb = resident_mb();
        all.push(Figures {
            accounts: n,
            campaign_accounts: campaign,
            exchanges,
            read_s,
            link_round_s,
            judge_s: stage(|c| c.judge),
            link_s: stage(|c| c.link),
            assess_s: stage(|c| c.assess),
            score_s: stage(|c| c.score),
            campaign_blocked: blocked(true),
            others_blocked: blocked(false),
            rss_mb,
            rss_bytes_per_account: rss_mb * 1024.0 * 1024.0 / f64::from(n),
        });
    }
    let text = if args.json {
        serde_json::to_string_pretty(&all)? + "\n"
    } else {
        let mut t = String::from(
            "accounts   campaign  exchanges    read s  round s   judge    link  assess   score  blocked (campaign / others)  RSS MB  bytes/account\n",
        );
        for f in &all {
            t.push_str(&format!(
                "{:>9} {:>9} {:>10} {:>9.2} {:>8.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2}  {:>9} / {:<15} {:>7.0}  {:>13.0}\n",
                f.accounts,
                f.campaign_accounts,
                f.exchanges,
                f.read_s,
                f.link_round_s,
                f.judge_s,
                f.link_s,
                f.assess_s,
                f.score_s,
                f.campaign_blocked,
                f.others_blocked,
                f.rss_mb,
                f.rss_bytes_per_account
            ));
        }
        t
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The process's resident memory now, in MiB (Linux; 0 elsewhere).
fn resident_mb() -> f64 {
    super::measure::status_kib("VmRSS") / 1024.0
}

const TOPICS: [&str; 12] = [
    "a birthday message for my sister",
    "the causes of the French revolution",
    "a SQL query that finds duplicate rows",
    "why my sourdough does not rise",
    "a cover letter for a nursing job",
    "how vaccines train the immune system",
    "a packing list for a week in Lisbon",
    "the difference between TCP and UDP",
    "a polite reply to an angry customer",
    "a workout plan for beginners",
    "the plot of Middlemarch",
    "how to split a bill fairly",
];

/// Accounts `h…` are the campaign's (shared cards, a proxy pool, one system prompt,
/// templated reasoning asks, opened in a wave through an education programme); accounts
/// `c…` are customers with their own card, address and questions.
struct Population {
    campaign: u32,
    rng: SmallRng,
    start: i64,
}

impl Population {
    fn new(accounts: u32, campaign: u32) -> Self {
        Self {
            campaign,
            rng: SmallRng::seed_from_u64(u64::from(accounts) ^ 0x6c69_6e6b),
            start: EventTime::parse_rfc3339("2026-03-02T00:00:00Z")
                .expect("a valid time")
                .as_unix_micros(),
        }
    }

    fn exchange(&mut self, account: u32, round: u32) -> Exchange {
        let hydra = account < self.campaign;
        let ts = self.start + i64::from(round) * 60_000_000 + i64::from(account % 600) * 1_000;
        let (id, ip, info, system, prompt) = if hydra {
            let card = account / 10;
            (
                format_compact!("h{account}"),
                IpAddr::from([198, 51, (account % 200) as u8, (account / 200 % 250) as u8]),
                AccountInfo {
                    created_at: EventTime::from_unix_micros(
                        self.start - 86_400_000_000 + i64::from(account % 3_600) * 1_000_000,
                    ),
                    signup_channel: Some("education".into()),
                    email_domain: Some(format_compact!("student{}.example.edu", account % 40)),
                    payment_fingerprint: Some(format_compact!("pm_h{card}")),
                    verified: Some(false),
                },
                Some("You are an expert software engineer. Think step by step.".to_owned()),
                format!(
                    "Solve task {} of module {}: implement the function, explain your \
                     reasoning step by step, then write unit tests and grade your own answer.",
                    self.rng.random_range(0..100_000u32),
                    self.rng.random_range(0..50u32)
                ),
            )
        } else {
            (
                format_compact!("c{account}"),
                IpAddr::from([
                    10,
                    (account >> 16) as u8,
                    (account >> 8) as u8,
                    account as u8,
                ]),
                AccountInfo {
                    created_at: EventTime::from_unix_micros(
                        self.start - i64::from(account % 700) * 86_400_000_000,
                    ),
                    signup_channel: Some("self_serve".into()),
                    email_domain: Some("gmail.com".into()),
                    payment_fingerprint: Some(format_compact!("pm_c{account}")),
                    verified: Some(true),
                },
                None,
                format!(
                    "Could you help me with {}?",
                    TOPICS.choose(&mut self.rng).expect("topics")
                ),
            )
        };
        Exchange {
            ts: EventTime::from_unix_micros(ts).expect("in range"),
            account_id: id,
            conversation_id: Some(format_compact!("{account}-{round}")),
            model: Some("frontier-2".into()),
            client: Client {
                ip: Some(ip),
                user_agent: Some(
                    if hydra {
                        "python-httpx/0.27"
                    } else {
                        "Mozilla/5.0"
                    }
                    .into(),
                ),
                ..Client::default()
            },
            account: info,
            request: Request {
                system,
                prompt: Some(prompt),
                max_tokens: Some(if hydra { 32_000 } else { 1_000 }),
                temperature: hydra.then_some(1.0),
                reasoning: Some(hydra),
                ..Request::default()
            },
            ..Exchange::default()
        }
    }
}
