//! `moat bench simulate`: how fast the simulator makes traffic, and makes and writes it.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

use super::measure::MIB;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario to run.
    #[arg(long, default_value = "hydra-29m", value_name = "NAME|FILE")]
    scenario: String,

    /// Its scale.
    #[arg(long, default_value_t = 0.01)]
    scale: f64,

    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct SimulateFigures {
    scenario: String,
    scale: f64,
    exchanges: u64,
    accounts: usize,
    make_exchanges_s: f64,
    make_and_write_exchanges_s: f64,
    written_mb_s: f64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let scenario = moat_sim::Scenario::load(&args.scenario)?;
    let options = moat_sim::SimOptions {
        scale: args.scale,
        seed: 1,
        corpus: None,
        operator_seed: None,
    };
    let start = Instant::now();
    let mut sim = moat_sim::Simulation::new(&scenario, &options);
    let exchanges = sim.by_ref().count() as u64;
    let make = start.elapsed();
    let accounts = sim.truth().len();

    let start = Instant::now();
    let mut sim = moat_sim::Simulation::new(&scenario, &options);
    let counter = CountingSink::default();
    let written = counter.0.clone();
    crate::simulate::write_events(&mut sim, Box::new(counter))?;
    let both = start.elapsed();
    let bytes = written.load(std::sync::atomic::Ordering::Relaxed);

    let f = SimulateFigures {
        scenario: scenario.name,
        scale: args.scale,
        exchanges,
        accounts,
        make_exchanges_s: exchanges as f64 / make.as_secs_f64(),
        make_and_write_exchanges_s: exchanges as f64 / both.as_secs_f64(),
        written_mb_s: bytes as f64 / MIB as f64 / both.as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&f)?);
    } else {
        println!(
            "simulate: {} at scale {}, {} exchanges of {} accounts",
            f.scenario, f.scale, f.exchanges, f.accounts
        );
        println!(
            "  make only          {:>11.0} exchanges/s",
            f.make_exchanges_s
        );
        println!(
            "  make and write     {:>11.0} exchanges/s  {:>7.1} MiB/s of JSON Lines",
            f.make_and_write_exchanges_s, f.written_mb_s
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A writer that keeps nothing and counts the bytes.
#[derive(Default)]
struct CountingSink(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
