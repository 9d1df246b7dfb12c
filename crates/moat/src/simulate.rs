//! `moat simulate`: realistic traffic with campaigns hidden in it, and the ground truth.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use moat_io::JsonLinesWriter;
use moat_sim::text::Corpus;
use moat_sim::{BUILT_IN, Scenario, SimOptions, Simulation, TruthRow};

use crate::config::Config;
use crate::input::Output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A built-in scenario's name, or a scenario file (TOML; see docs/simulate.md).
    #[arg(long, value_name = "NAME|FILE", required_unless_present = "list")]
    scenario: Option<String>,

    /// Multiplies the scenario's account counts: 1 is the real size (tens of millions of
    /// exchanges), 0.01 a laptop-sized rehearsal.
    #[arg(long, default_value_t = 0.01, value_name = "S")]
    scale: f64,

    /// Same seed, same output, byte for byte.
    #[arg(long, default_value_t = 1, value_name = "N")]
    seed: u64,

    /// Seed the campaigns' operators apart from the population: two runs with different
    /// --seed and the same --operator-seed hold the same operator (its proxy pool, cards,
    /// clients, domains, templates) at two providers [default: the seed].
    #[arg(long, value_name = "N")]
    operator_seed: Option<u64>,

    /// Folder to write events.jsonl and truth.csv into.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["list", "stdout"])]
    out: Option<PathBuf>,

    /// Write the events to standard output instead (and truth.csv to --truth, if given).
    #[arg(long, conflicts_with = "out")]
    stdout: bool,

    /// Where to write truth.csv when the events go to standard output.
    #[arg(long, value_name = "FILE", requires = "stdout")]
    truth: Option<PathBuf>,

    /// Draw prompts from these corpus files (JSON Lines of {"kind": "human"|"distill",
    /// "turns": [...]}) instead of the built-in grammars.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    prompts: Vec<PathBuf>,

    /// List the built-in scenarios and stop.
    #[arg(long)]
    list: bool,
}

pub fn run(args: Args, _config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    if args.list {
        for (name, _) in BUILT_IN {
            let scenario = Scenario::load(name)?;
            let line = scenario
                .description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            println!("{name:<14} {line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        args.scale > 0.0 && args.scale.is_finite(),
        "--scale must be a number above 0"
    );
    let scenario = Scenario::load(args.scenario.as_deref().unwrap_or_default())?;
    let corpus = if args.prompts.is_empty() {
        None
    } else {
        Some(Arc::new(Corpus::load(&args.prompts)?))
    };
    let options = SimOptions {
        scale: args.scale,
        seed: args.seed,
        corpus,
        operator_seed: args.operator_seed,
    };
    let started = Instant::now();
    let mut sim = Simulation::new(&scenario, &options);

    let (events, truth_path): (Box<dyn Write + Send>, Option<PathBuf>) = match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join("events.jsonl");
            let file =
                File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
            (Box::new(file), Some(dir.join("truth.csv")))
        }
        None => (Box::new(io::stdout()), args.truth.clone()),
    };
    let count = write_events(&mut sim, events).context("cannot write the events")?;
    if let Some(path) = truth_path {
        write_truth(&path, sim.truth())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !out.quiet {
        let secs = started.elapsed().as_secs_f64();
        let hydra = sim.truth().iter().filter(|t| t.label == "hydra").count();
        eprintln!(
            "simulated {count} exchanges of {} accounts ({hydra} campaign accounts) in {secs:.1} s ({:.0} exchanges/s)",
            sim.truth().len(),
            count as f64 / secs.max(1e-9)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Exchanges a batch holds on its way from the simulation to the writing thread.
const BATCH: usize = 128;

/// Runs the simulation on this thread and writes its events on another, so that making
/// traffic and writing it out share the machine's cores. Written batches come back to be
/// written over here, where their records were made, so making traffic allocates next to
/// nothing; batches are small, so that what they hold is still in the caches when it comes
/// back. Returns how many were written.
pub fn write_events(sim: &mut Simulation, out: Box<dyn Write + Send>) -> io::Result<u64> {
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<moat_core::Exchange>>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<moat_core::Exchange>>();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> io::Result<u64> {
            let mut writer = JsonLinesWriter::new(out);
            let mut count = 0u64;
            for batch in full_rx {
                for exchange in &batch {
                    writer.write(exchange)?;
                }
                count += batch.len() as u64;
                let _ = empty_tx.send(batch);
            }
            writer.finish()?;
            Ok(count)
        });
        loop {
            let mut batch = empty_rx.try_recv().unwrap_or_default();
            batch.resize_with(BATCH, moat_core::Exchange::default);
            let mut made = 0;
            while made < BATCH && sim.next_into(&mut batch[made]) {
                made += 1;
            }
            batch.truncate(made);
            if made == 0 || full_tx.send(batch).is_err() {
                break;
            }
        }
        drop(full_tx);
        writer.join().expect("the writing thread does not panic")
    })
}

fn write_truth(path: &std::path::Path, rows: &[TruthRow]) -> anyhow::Result<()> {
    let mut csv = csv::Writer::from_path(path)?;
    csv.write_record(["account_id", "label", "group", "campaign_share"])?;
    for row in rows {
        let share = row
            .campaign_share
            .map(|s| format!("{s:.4}"))
            .unwrap_or_default();
        csv.write_record([
            row.account_id.as_str(),
            row.label,
            row.group.as_str(),
            &share,
        ])?;
    }
    csv.flush()?;
    Ok(())
}
