//! `moat inspect`: what is in these logs, and what moat can do with them.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

use moat_core::{EventTime, Exchange, Record};
use serde::Serialize;

use crate::config::Config;
use crate::input::{InputArgs, Output, finish};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,

    /// Print the findings as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Whether a field is known in an exchange.
type Known = fn(&Exchange) -> bool;

/// The fields whose presence decides which signals can work, with how to test each.
const FIELDS: [(&str, Known); 22] = [
    ("conversation_id", |e| e.conversation_id.is_some()),
    ("model", |e| e.model.is_some()),
    ("client.ip", |e| e.client.ip.is_some()),
    ("client.asn", |e| e.client.asn.is_some()),
    ("client.country", |e| e.client.country.is_some()),
    ("client.user_agent", |e| e.client.user_agent.is_some()),
    ("client.tls_fingerprint", |e| {
        e.client.tls_fingerprint.is_some()
    }),
    ("account.created_at", |e| e.account.created_at.is_some()),
    ("account.signup_channel", |e| {
        e.account.signup_channel.is_some()
    }),
    ("account.email_domain", |e| e.account.email_domain.is_some()),
    ("account.payment_fingerprint", |e| {
        e.account.payment_fingerprint.is_some()
    }),
    ("account.verified", |e| e.account.verified.is_some()),
    ("request.system", |e| e.request.system_text().is_some()),
    ("request.prompt or messages", |e| {
        e.request.last_user_text().is_some()
    }),
    ("request.tools", |e| e.request.tools.is_some()),
    ("request.max_tokens", |e| e.request.max_tokens.is_some()),
    ("request.temperature", |e| e.request.temperature.is_some()),
    ("request.reasoning", |e| e.request.reasoning.is_some()),
    ("usage.input_tokens", |e| e.usage.input_tokens.is_some()),
    ("usage.output_tokens", |e| e.usage.output_tokens.is_some()),
    ("usage.reasoning_tokens", |e| {
        e.usage.reasoning_tokens.is_some()
    }),
    ("response.text", |e| e.response.text.is_some()),
];

#[derive(Debug, Default, Serialize)]
struct Findings {
    exchanges: u64,
    account_records: u64,
    rejected: u64,
    bytes: u64,
    accounts: u64,
    first_seen: Option<EventTime>,
    last_seen: Option<EventTime>,
    /// Exchanges whose time is earlier than the one before them.
    out_of_order: u64,
    models: Vec<(String, u64)>,
    /// Share of exchanges (0 to 1) in which each field is known.
    coverage: Vec<(&'static str, f64)>,
}

pub fn run(args: Args, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let mut accounts = HashSet::new();
    let mut models: HashMap<String, u64> = HashMap::new();
    let mut filled = [0u64; FIELDS.len()];
    let mut f = Findings::default();
    let mut previous: Option<EventTime> = None;
    let (stats, stopped) = args.input.read(config, out, |record| {
        if !accounts.contains(record.account_id()) {
            accounts.insert(record.account_id().to_owned());
        }
        let Record::Exchange(e) = record else {
            return Ok(());
        };
        if previous.is_some_and(|p| e.ts < p) {
            f.out_of_order += 1;
        }
        previous = Some(e.ts);
        f.first_seen = Some(f.first_seen.map_or(e.ts, |t| t.min(e.ts)));
        f.last_seen = Some(f.last_seen.map_or(e.ts, |t| t.max(e.ts)));
        if let Some(model) = &e.model {
            *models.entry(model.to_string()).or_default() += 1;
        }
        for (slot, (_, known)) in filled.iter_mut().zip(FIELDS) {
            *slot += u64::from(known(&e));
        }
        Ok(())
    })?;
    f.exchanges = stats.exchanges;
    f.account_records = stats.accounts;
    f.rejected = stats.rejected;
    f.bytes = stats.bytes;
    f.accounts = accounts.len() as u64;
    let mut models: Vec<_> = models.into_iter().collect();
    models.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    models.truncate(10);
    f.models = models;
    let share = |n: u64| {
        if f.exchanges == 0 {
            0.0
        } else {
            n as f64 / f.exchanges as f64
        }
    };
    f.coverage = FIELDS
        .iter()
        .zip(filled)
        .map(|((name, _), n)| (*name, share(n)))
        .collect();

    if args.json {
        println!("{}", serde_json::to_string_pretty(&f)?);
    } else {
        print_table(&f);
    }
    Ok(finish(&stats, stopped))
}

fn print_table(f: &Findings) {
    let time = |t: Option<EventTime>| t.map_or("-".to_owned(), |t| t.to_string());
    println!("exchanges        {}", f.exchanges);
    println!("account records  {}", f.account_records);
    println!("accounts         {}", f.accounts);
    println!("rejected         {}", f.rejected);
    println!("bytes read       {}", f.bytes);
    println!("first seen       {}", time(f.first_seen));
    println!("last seen        {}", time(f.last_seen));
    if f.out_of_order > 0 {
        println!(
            "out of order     {} exchanges are earlier than the one before them",
            f.out_of_order
        );
    }
    if !f.models.is_empty() {
        println!("\nmodels");
        for (model, n) in &f.models {
            println!("  {n:>12}  {model}");
        }
    }
    if f.exchanges > 0 {
        println!("\nfields known (share of exchanges)");
        for (name, share) in &f.coverage {
            println!("  {:>6.1}%  {name}", share * 100.0);
        }
    }
}
