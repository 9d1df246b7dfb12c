//! `moat eval`: measure detection against the ground truth of a simulation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use moat_core::{Analysed, Engine, EventTime, Record, Verdict};
use moat_io::{ReadOptions, RecordStream, expand_inputs, read_accounts_csv};
use moat_sim::text::Corpus;
use moat_sim::{
    BUILT_IN, Carried, Evaluation, Origin, PeerInputs, Scenario, Scored, SimOptions, Simulation,
    TruthRow,
};

use crate::config::Config;
use crate::input::{Output, print_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// truth.csv of a simulation (as `moat simulate --out` writes it).
    #[arg(
        long,
        value_name = "FILE",
        requires = "scan",
        conflicts_with = "scenario"
    )]
    truth: Option<PathBuf>,

    /// The folder a `moat scan` of that simulation wrote.
    #[arg(long, value_name = "DIR", requires = "truth")]
    scan: Option<PathBuf>,

    /// The scanned events, to count the exchanges made before each block [default:
    /// events.jsonl beside the truth file].
    #[arg(long, value_name = "FILE", requires = "truth")]
    events: Vec<String>,

    /// Or: simulate these scenarios (built-in names or files; `all` for every built-in
    /// one), scan them in memory and measure, without writing anything.
    #[arg(long, value_name = "NAME|FILE", num_args = 1.., required_unless_present = "truth")]
    scenario: Vec<String>,

    /// Scale of the simulated scenarios.
    #[arg(long, default_value_t = 0.01, value_name = "S")]
    scale: f64,

    /// Seed of the simulated scenarios.
    #[arg(long, default_value_t = 1, value_name = "N")]
    seed: u64,

    /// Prompt corpora for the simulated scenarios (see `moat simulate --prompts`).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    prompts: Vec<PathBuf>,

    /// Print the measurements as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let mut results = Vec::new();
    if let (Some(truth), Some(scan)) = (&args.truth, &args.scan) {
        let title = truth.display().to_string();
        results.push((title, from_files(truth, scan, &args.events, out)?));
    } else {
        anyhow::ensure!(
            args.scale > 0.0 && args.scale.is_finite(),
            "--scale must be a number above 0"
        );
        let corpus = if args.prompts.is_empty() {
            None
        } else {
            Some(Arc::new(Corpus::load(&args.prompts)?))
        };
        let names: Vec<String> = if args.scenario.iter().any(|s| s == "all") {
            BUILT_IN
                .iter()
                .map(|(name, _)| (*name).to_owned())
                .collect()
        } else {
            args.scenario.clone()
        };
        for name in names {
            let scenario = Scenario::load(&name)?;
            let options = SimOptions {
                scale: args.scale,
                seed: args.seed,
                corpus: corpus.clone(),
                operator_seed: None,
            };
            let title = format!(
                "{} (scale {}, seed {})",
                scenario.name, args.scale, args.seed
            );
            if !out.quiet {
                eprintln!("simulating and scanning {title}");
            }
            results.push((title, simulate_and_scan(&scenario, &options, config)));
        }
    }
    if args.json {
        let json: Vec<_> = results
            .iter()
            .map(|(title, e)| serde_json::json!({"scenario": title, "evaluation": e}))
            .collect();
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&json)?))?;
    } else {
        for (title, evaluation) in &results {
            print_stdout(&format!("{}\n", evaluation.table(title)))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a scenario through the engine in memory and measures the verdicts.
pub fn simulate_and_scan(scenario: &Scenario, options: &SimOptions, config: &Config) -> Evaluation {
    let mut sim = Simulation::new(scenario, options);
    let mut engine = Engine::new(config.detect.clone());
    let mut first_seen: HashMap<String, EventTime> = HashMap::new();
    let mut peers = PeerInputs::default();
    // Resellers carrying a campaign: when each of their exchanges came, whether it was the
    // campaign's, and whether a decision on its request alone stopped it.
    let mut origins: HashMap<String, Vec<Origin>> = sim
        .truth()
        .iter()
        .filter(|r| r.label == "mixed")
        .map(|r| (r.account_id.clone(), Vec::new()))
        .collect();
    while let Some(exchange) = sim.next() {
        first_seen
            .entry(exchange.account_id.to_string())
            .or_insert(exchange.ts);
        let content = moat_core::content::analyse(&exchange.request);
        if let Some(o) = origins.get_mut(exchange.account_id.as_str()) {
            o.push(Origin {
                at: exchange.ts,
                campaign: sim.from_campaign(),
                stopped: engine.carried_request(&exchange, &content) == Some(true),
            });
        }
        peers.count(&exchange, &content);
        engine.observe(&Analysed::with_content(exchange, content));
    }
    let outcome = engine.finish();
    let anomaly = peers.anomaly_scores(options.seed);
    let scored: HashMap<&str, Scored> = outcome
        .accounts
        .iter()
        .zip(&outcome.before_block)
        .map(|(a, &before_block)| {
            let s = Scored {
                verdict: a.verdict,
                flagged_at: a.flagged_at,
                exchanges: a.exchanges,
                before_block,
                first_seen: first_seen.get(&a.account_id).copied(),
                busiest_day: peers.busiest_day(&a.account_id),
                anomaly: anomaly.get(&a.account_id).copied(),
                in_campaign: a.campaign_id.is_some(),
                campaign_share: a.campaign_share.map(|s| s.estimate),
                carried: origins.get(&a.account_id).map(|o| {
                    Carried::count(o, a.flagged_at.filter(|_| a.verdict == Verdict::Block))
                }),
            };
            (a.account_id.as_str(), s)
        })
        .collect();
    Evaluation::new(sim.truth(), |id| scored.get(id).cloned())
}

/// Measures a scan folder against a truth file, counting early exchanges from the events.
fn from_files(
    truth: &Path,
    scan: &Path,
    events: &[String],
    out: Output,
) -> anyhow::Result<Evaluation> {
    let rows = read_truth(truth)?;
    let verdicts = read_accounts_csv(&scan.join("accounts.csv"))?;
    let scanned: std::collections::HashSet<&str> =
        verdicts.iter().map(|a| a.account_id.as_str()).collect();
    let matched = rows
        .iter()
        .filter(|r| scanned.contains(r.account_id.as_str()))
        .count();
    anyhow::ensure!(
        matched > 0,
        "none of the {} accounts of {} is in {}: is it the scan of that simulation?",
        rows.len(),
        truth.display(),
        scan.join("accounts.csv").display()
    );
    if matched < rows.len() {
        tracing::info!(
            "{} of the {} accounts of {} are not in the scan (accounts with no exchange are \
             not listed); they count as allowed",
            rows.len() - matched,
            rows.len(),
            truth.display()
        );
    }
    let mut scored: HashMap<String, Scored> = verdicts
        .into_iter()
        .map(|a| {
            let s = Scored {
                verdict: a.verdict,
                flagged_at: a.flagged_at,
                exchanges: a.exchanges,
                before_block: a.exchanges,
                first_seen: None,
                busiest_day: None,
                anomaly: None,
                in_campaign: a.campaign_id.is_some(),
                campaign_share: a.campaign_share.map(|s| s.estimate),
                carried: None,
            };
            (a.account_id, s)
        })
        .collect();
    let events = if events.is_empty() {
        let beside = truth.with_file_name("events.jsonl");
        anyhow::ensure!(
            beside.exists(),
            "no events to count early exchanges from: give --events (looked for {})",
            beside.display()
        );
        vec![beside.display().to_string()]
    } else {
        events.to_vec()
    };
    for s in scored.values_mut() {
        s.before_block = 0;
    }
    let mut peers = PeerInputs::default();
    let options = ReadOptions {
        progress: !out.quiet,
        ..ReadOptions::default()
    };
    let mut stream = RecordStream::open(expand_inputs(&events)?, &options);
    while let Some(batch) = stream.next() {
        let mut batch = batch?;
        for record in batch.records.drain(..) {
            let Record::Exchange(e) = record else {
                continue;
            };
            if let Some(s) = scored.get_mut(e.account_id.as_str()) {
                let first = s.first_seen.get_or_insert(e.ts);
                *first = (*first).min(e.ts);
                let stopped =
                    s.verdict == Verdict::Block && s.flagged_at.is_some_and(|f| e.ts >= f);
                s.before_block += u64::from(!stopped);
                peers.count(&e, &moat_core::content::analyse(&e.request));
            }
        }
        stream.recycle(batch);
    }
    let anomaly = peers.anomaly_scores(0);
    for (id, s) in &mut scored {
        s.busiest_day = peers.busiest_day(id);
        s.anomaly = anomaly.get(id).copied();
    }
    Ok(Evaluation::new(&rows, |id| scored.get(id).cloned()))
}

/// Reads truth.csv: `account_id,label,group`, and `campaign_share` where the file has it.
pub(crate) fn read_truth(path: &Path) -> anyhow::Result<Vec<TruthRow>> {
    let name = path.display();
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("cannot read {name}"))?;
    let share_column = reader
        .headers()
        .with_context(|| format!("{name}: line 1"))?
        .iter()
        .position(|h| h == "campaign_share");
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{name}: line {line}"))?;
        let label = match record.get(1) {
            Some("hydra") => "hydra",
            Some("mixed") => "mixed",
            Some("benign") => "benign",
            other => {
                anyhow::bail!("{name}: line {line}: label {other:?} is not hydra, mixed or benign")
            }
        };
        let campaign_share = match share_column.and_then(|k| record.get(k)).unwrap_or("") {
            "" => None,
            text => Some(
                text.parse::<f64>()
                    .ok()
                    .filter(|s| (0.0..=1.0).contains(s))
                    .with_context(|| {
                        format!("{name}: line {line}: campaign_share is not 0 to 1")
                    })?,
            ),
        };
        rows.push(TruthRow {
            account_id: record.get(0).unwrap_or_default().to_owned(),
            label,
            group: record.get(2).unwrap_or_default().to_owned(),
            campaign_share,
        });
    }
    Ok(rows)
}
