//! `moat inspect`: what is in these logs, and what moat can do with them.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::process::ExitCode;

use moat_core::{EventTime, Exchange, Record, Signal};
use serde::Serialize;

use crate::config::Config;
use crate::input::{InputArgs, Output, Reading, finish, print_stdout};

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

/// The fields (by their names in [`FIELDS`]) a signal reads, any one of which lets it
/// work; none: it reads only what every exchange has (the account, the time).
fn needs(signal: Signal) -> &'static [&'static str] {
    const PROMPT: &str = "request.prompt or messages";
    match signal {
        Signal::ReasoningAsks => &[PROMPT, "request.system", "request.reasoning"],
        Signal::GradingAsks | Signal::CapabilityFocus | Signal::TemplateReuse => {
            &[PROMPT, "request.system"]
        }
        Signal::SingleTurn => &["conversation_id", PROMPT],
        Signal::NoFollowUps => &[PROMPT],
        Signal::NoSleep | Signal::RegularCadence => &[],
        Signal::HeavyRequests => &["request.max_tokens", "request.reasoning"],
        Signal::ConstantTemperature => &["request.temperature"],
        Signal::LongOutputs => &["usage.output_tokens"],
        Signal::EarlyModelMove | Signal::SynchronisedModelMove => &["model"],
        Signal::YoungAccount | Signal::NewAccounts => &["account.created_at"],
        Signal::SignupWave => &["account.created_at"],
        Signal::ProgramSignup => &["account.signup_channel"],
        Signal::Unverified => &["account.verified"],
        Signal::LinkedAccounts
        | Signal::LoadBalanced
        | Signal::CoordinatedActivity
        | Signal::LinkedToBlockedCampaign
        | Signal::PartnerIntel => &[
            "client.ip",
            "client.asn",
            "client.tls_fingerprint",
            "account.payment_fingerprint",
            "account.email_domain",
            "request.system",
            PROMPT,
        ],
        Signal::SharedTemplate => &[PROMPT, "request.system"],
        Signal::CarriesCampaign => &["client.ip", "client.user_agent", "request.system", PROMPT],
        Signal::AlikeAccounts | Signal::LateStart => &[],
    }
}

/// The share of exchanges a field must be known in for the signals reading it to work.
const WORKS_FROM: f64 = 0.5;

/// One input, as read.
#[derive(Debug, Serialize)]
struct Input {
    source: String,
    /// The format it was read as (told from the input itself unless `--format` named one).
    format: String,
    records: u64,
}

/// Whether a signal can work on these logs, and what it lacks if not.
#[derive(Debug, Serialize)]
struct SignalCoverage {
    signal: &'static str,
    works: bool,
    /// The fields it reads, any one of which would let it work, where none is known in at
    /// least half of the exchanges.
    lacks: Vec<&'static str>,
}

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
    /// The inputs, each with the format it was read as.
    inputs: Vec<Input>,
    /// Which signals can work, given the fields known.
    signals: Vec<SignalCoverage>,
}

pub fn run(args: Args, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let mut accounts = HashSet::new();
    let mut models: HashMap<String, u64> = HashMap::new();
    let mut filled = [0u64; FIELDS.len()];
    let mut f = Findings::default();
    let mut previous: Option<EventTime> = None;
    let mut inputs: Vec<Input> = Vec::new();
    let (stats, stopped) = args
        .input
        .read_batches(config, out, Reading::EachInput, |batch| {
            if let Some((source, format)) = &batch.read_as {
                let records = batch.records.len() as u64;
                match inputs.iter_mut().find(|i| *i.source == **source) {
                    Some(input) => input.records += records,
                    None => inputs.push(Input {
                        source: source.to_string(),
                        format: format.to_string(),
                        records,
                    }),
                }
            }
            for record in batch.records.drain(..) {
                if !accounts.contains(record.account_id()) {
                    accounts.insert(record.account_id().to_owned());
                }
                let Record::Exchange(e) = record else {
                    continue;
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
            }
            Ok(())
        })?;
    f.inputs = inputs;
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

    let known = |field: &str| {
        f.coverage
            .iter()
            .any(|(name, share)| *name == field && *share >= WORKS_FROM)
    };
    f.signals = Signal::ALL
        .iter()
        .map(|&signal| {
            let fields = needs(signal);
            let works = f.exchanges > 0 && (fields.is_empty() || fields.iter().any(|n| known(n)));
            SignalCoverage {
                signal: signal.name(),
                works,
                lacks: if works { Vec::new() } else { fields.to_vec() },
            }
        })
        .collect();

    if args.json {
        print_stdout(&(serde_json::to_string_pretty(&f)? + "\n"))?;
    } else {
        print_stdout(&table(&f))?;
    }
    Ok(finish(&stats, stopped))
}

/// `writeln!` into a `String`, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).expect("writing to a String cannot fail")
    };
}

fn table(f: &Findings) -> String {
    let mut out = String::new();
    let time = |t: Option<EventTime>| t.map_or("-".to_owned(), |t| t.to_string());
    w!(out, "exchanges        {}", f.exchanges);
    w!(out, "account records  {}", f.account_records);
    w!(out, "accounts         {}", f.accounts);
    w!(out, "rejected         {}", f.rejected);
    w!(out, "bytes read       {}", f.bytes);
    w!(out, "first seen       {}", time(f.first_seen));
    w!(out, "last seen        {}", time(f.last_seen));
    if f.out_of_order > 0 {
        w!(
            out,
            "out of order     {} exchanges are earlier than the one before them",
            f.out_of_order
        );
    }
    if !f.models.is_empty() {
        w!(out, "\nmodels");
        for (model, n) in &f.models {
            w!(out, "  {n:>12}  {model}");
        }
    }
    if f.exchanges > 0 {
        w!(out, "\nfields known (share of exchanges)");
        for (name, share) in &f.coverage {
            w!(out, "  {:>6.1}%  {name}", share * 100.0);
        }
    }
    if !f.inputs.is_empty() {
        w!(out, "\ninputs (format read as, records)");
        for input in &f.inputs {
            w!(
                out,
                "  {:<12}  {:>12}  {}",
                input.format,
                input.records,
                input.source
            );
        }
    }
    if f.exchanges > 0 {
        let (working, idle): (Vec<_>, Vec<_>) = f.signals.iter().partition(|s| s.works);
        let names =
            |s: &[&SignalCoverage]| s.iter().map(|s| s.signal).collect::<Vec<_>>().join(", ");
        w!(
            out,
            "\nsignals that can work ({} of {})",
            working.len(),
            f.signals.len()
        );
        w!(out, "  {}", names(&working));
        if !idle.is_empty() {
            w!(
                out,
                "\nsignals that cannot (a field they read is known in under half of the exchanges)"
            );
            for s in idle {
                w!(
                    out,
                    "  {:<26}  needs one of: {}",
                    s.signal,
                    s.lacks.join(", ")
                );
            }
        }
    }
    out
}
