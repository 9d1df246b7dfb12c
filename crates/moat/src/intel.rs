//! `moat intel export`: the campaigns of a scan as a STIX 2.1 bundle to share with other
//! providers: network indicators as they are, everything else as keyed hashes, never a
//! prompt, an e-mail address or a payment value.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use moat_core::{EventTime, Record, Report};
use moat_io::stix::{self, BundleInput, IndicatorChoice, IndicatorKind};

use crate::config::Config;
use crate::input::{InputArgs, Output};

/// `moat intel` commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the campaigns of a scan as a STIX 2.1 bundle: campaigns, indicators of their
    /// infrastructure and keyed fingerprints of what their accounts shared, sightings,
    /// relationships, the ATLAS technique, TLP markings. Reads the scan's folder and the
    /// logs it scanned (for the values behind the indicators).
    Export(ExportArgs),
    /// Find in logs the accounts that match a partner's bundle: its addresses, networks
    /// and autonomous systems, and (with the partners' key) its fingerprints. Prints the
    /// matching accounts, strongest first, with the campaign and producer they match.
    Match(MatchArgs),
}

/// Arguments of `moat intel match`.
#[derive(Debug, clap::Args)]
pub struct MatchArgs {
    /// The partner's STIX 2.1 bundle.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,

    /// The logs to look in.
    #[command(flatten)]
    input: InputArgs,

    /// The partners' key (without it only network indicators can match).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,

    /// Also write the matches as CSV.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Arguments of `moat intel export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The folder `moat scan --out` wrote (accounts.csv, report.json).
    #[arg(long, value_name = "DIR")]
    scan: PathBuf,

    /// The logs that were scanned.
    #[command(flatten)]
    input: InputArgs,

    /// A file holding the key the sharing partners agreed on (its bytes, at least 32).
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,

    /// A name for the key (never the key itself), so partners know which one to use.
    #[arg(long, default_value = "shared-key-1")]
    key_id: String,

    /// Who produces the bundle.
    #[arg(long, default_value = "moat")]
    producer: String,

    /// Traffic Light Protocol level: clear, green, amber or red.
    #[arg(long, default_value = "amber")]
    tlp: String,

    /// Where to write the bundle.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Runs an intel command.
pub fn run(command: Command, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    match command {
        Command::Export(args) => export(args, config, out),
        Command::Match(args) => match_bundle(args, config, out),
    }
}

/// The time now, as bundles stamp it.
fn now() -> EventTime {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    EventTime::from_unix_micros(micros).unwrap_or_default()
}

fn export(args: ExportArgs, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let key = stix::read_key(&args.key_file)?;
    let report_path = args.scan.join("report.json");
    let report: Report = serde_json::from_slice(
        &std::fs::read(&report_path)
            .with_context(|| format!("cannot read {}", report_path.display()))?,
    )
    .with_context(|| format!("{} is not a moat report", report_path.display()))?;
    let verdicts = moat_io::read_accounts_csv(&args.scan.join("accounts.csv"))?;
    let campaign_number: HashMap<&str, u32> = report
        .campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as u32))
        .collect();
    let mut account_numbers: HashMap<String, u32> = HashMap::new();
    let mut campaign_of: Vec<Option<u32>> = Vec::new();
    for v in &verdicts {
        let n = account_numbers.len() as u32;
        account_numbers.insert(v.account_id.clone(), n);
        campaign_of.push(
            v.campaign_id
                .as_deref()
                .and_then(|c| campaign_number.get(c).copied()),
        );
    }

    let mut choice = IndicatorChoice::default();
    let (_, stopped) = args.input.read(config, out, |record| {
        let Record::Exchange(e) = record else {
            return Ok(());
        };
        let account = account_numbers.get(e.account_id.as_str()).copied();
        let campaign = account.and_then(|a| campaign_of[a as usize]);
        let content = moat_core::analyse(&e.request);
        choice.count(stix::values(&e, &content, &key), account, campaign, e.ts);
        Ok(())
    })?;
    if let Some(e) = stopped {
        eprintln!("moat: {e}");
        eprintln!("moat: nothing written: the logs could not be read to the end");
        return Ok(ExitCode::from(1));
    }

    let campaigns = choice.choose(&report.campaigns);
    let indicators: usize = campaigns.iter().map(|c| c.indicators.len()).sum();
    let bundle = stix::bundle(&BundleInput {
        producer: args.producer,
        tlp: args.tlp,
        key_id: args.key_id,
        created: now(),
        campaigns,
    })?;
    std::fs::write(&args.out, serde_json::to_vec_pretty(&bundle)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    if !out.quiet {
        let campaigns = report.campaigns.len();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        eprintln!(
            "wrote {campaigns} campaign{} and {indicators} indicator{} to {}",
            plural(campaigns),
            plural(indicators),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What one account matched.
#[derive(Default)]
struct AccountMatch {
    exchanges: u64,
    matched_exchanges: u64,
    kinds: std::collections::BTreeSet<IndicatorKind>,
    campaigns: std::collections::BTreeSet<String>,
}

fn match_bundle(args: MatchArgs, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let text = std::fs::read(&args.bundle)
        .with_context(|| format!("cannot read {}", args.bundle.display()))?;
    let bundle: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", args.bundle.display()))?;
    let indicators = stix::read_indicators(&bundle)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.bundle.display()))?;
    let key = args.key_file.as_deref().map(stix::read_key).transpose()?;
    let fingerprints = indicators
        .iter()
        .filter(|i| i.kind.is_fingerprint())
        .count();
    if key.is_none() && fingerprints > 0 && !out.quiet {
        eprintln!("moat: no --key-file: {fingerprints} fingerprint indicators cannot match");
    }
    let wanted: HashMap<(IndicatorKind, &str), &stix::ReadIndicator> = indicators
        .iter()
        .map(|i| ((i.kind, i.value.as_str()), i))
        .collect();
    let no_key = Vec::new();
    let mut accounts: HashMap<String, AccountMatch> = HashMap::new();
    let (_, stopped) = args.input.read(config, out, |record| {
        let Record::Exchange(e) = record else {
            return Ok(());
        };
        let content = moat_core::analyse(&e.request);
        let mut hits = Vec::new();
        for (kind, value) in stix::values(&e, &content, key.as_ref().unwrap_or(&no_key)) {
            if kind.is_fingerprint() && key.is_none() {
                continue;
            }
            if let Some(i) = wanted.get(&(kind, value.as_str())) {
                hits.push(*i);
            }
        }
        let a = accounts.entry(e.account_id.to_string()).or_default();
        a.exchanges += 1;
        if !hits.is_empty() {
            a.matched_exchanges += 1;
            for i in hits {
                a.kinds.insert(i.kind);
                a.campaigns
                    .insert(format!("{} ({})", i.campaign, i.producer));
            }
        }
        Ok(())
    })?;
    if let Some(e) = stopped {
        eprintln!("moat: {e}");
        return Ok(ExitCode::from(1));
    }
    let mut matched: Vec<(&String, &AccountMatch)> = accounts
        .iter()
        .filter(|(_, m)| !m.kinds.is_empty())
        .collect();
    matched.sort_by(|a, b| {
        (b.1.kinds.len(), b.1.matched_exchanges, a.0).cmp(&(
            a.1.kinds.len(),
            a.1.matched_exchanges,
            b.0,
        ))
    });
    let kinds = |m: &AccountMatch| {
        m.kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let campaigns = |m: &AccountMatch| m.campaigns.iter().cloned().collect::<Vec<_>>().join("; ");
    if let Some(path) = &args.out {
        let mut csv = csv::Writer::from_path(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        csv.write_record([
            "account_id",
            "exchanges",
            "matched_exchanges",
            "kinds",
            "campaigns",
        ])?;
        for (id, m) in &matched {
            csv.write_record([
                id.as_str(),
                &m.exchanges.to_string(),
                &m.matched_exchanges.to_string(),
                &kinds(m),
                &campaigns(m),
            ])?;
        }
        csv.flush()?;
    }
    let mut table = format!(
        "{} of {} accounts match {} indicators of {}\n\n| account | exchanges | matched | kinds | campaign |\n|---|---:|---:|---|---|\n",
        matched.len(),
        accounts.len(),
        indicators.len(),
        args.bundle.display()
    );
    for (id, m) in matched.iter().take(50) {
        table.push_str(&format!(
            "| {id} | {} | {} | {} | {} |\n",
            m.exchanges,
            m.matched_exchanges,
            kinds(m),
            campaigns(m)
        ));
    }
    if matched.len() > 50 {
        table.push_str(&format!("\n({} more)\n", matched.len() - 50));
    }
    crate::input::print_stdout(&table)?;
    Ok(ExitCode::SUCCESS)
}
