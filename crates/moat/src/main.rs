//! `moat`: find and stop distillation campaigns against model APIs.

mod bench;
mod bench_link;
mod bench_report;
mod bench_scan;
mod bench_serve;
mod config;
mod convert;
mod eval;
mod input;
mod inspect;
mod intel;
mod report;
mod scan;
mod send;
mod serve;
mod simulate;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

/// mimalloc: records are made on one thread and freed on another, which the system
/// allocator handles poorly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Find and stop distillation campaigns against model APIs.
///
/// moat reads the API logs you already have (exchange v1 JSON Lines, OpenAI-style request
/// logs, LiteLLM logging payloads, OTLP/JSON traces, Parquet; plain, gzip or zstd) and
/// looks for the hydra: many accounts run by one operator to harvest a model's answers.
#[derive(Debug, Parser)]
#[command(name = "moat", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// A moat.toml with defaults for the options below (command-line flags win).
    #[arg(long, global = true, value_name = "FILE", env = "MOAT_CONFIG")]
    config: Option<PathBuf>,

    /// Say more (-v: progress of each stage, -vv: debugging detail).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,

    /// Say less: no progress bar, no line per rejected record (the summary stays).
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read logs and tell what is in them: records, accounts, time span, which fields are
    /// filled (and so which signals can work), and every record that could not be read.
    Inspect(inspect::Args),
    /// Rewrite logs of any accepted format as exchange v1 JSON Lines. Prompt and answer
    /// text is left out unless --with-content is given.
    Convert(convert::Args),
    /// Find the campaigns in logs: verdicts per account (accounts.csv), campaigns with
    /// their evidence (report.json), and a summary on standard output.
    Scan(scan::Args),
    /// Draw a scan as one self-contained HTML page: overview, traffic, campaigns with
    /// their timelines, sign-ups, linked accounts, evidence and members, score
    /// distribution.
    Report(report::Args),
    /// Generate realistic API traffic with distillation campaigns hidden in it, and the
    /// ground truth (which account is what) to measure detection against.
    Simulate(simulate::Args),
    /// Measure detection against the ground truth of a simulation: campaign accounts
    /// blocked and how early, benign accounts blocked by kind.
    Eval(eval::Args),
    /// Run the engine on live traffic: ingest exchanges, answer allow / throttle /
    /// challenge / block for each request (HTTP, Envoy ext_authz, LiteLLM guardrail),
    /// keep every acknowledged exchange and verdict in a crash-safe store.
    Serve(serve::Args),
    /// Stream logs of any accepted format to a running `moat serve`, in batches, with
    /// retries that never count a batch twice (a run cut short can be run again).
    Send(send::Args),
    /// Check the store of `moat serve` for damaged values, and salvage what is whole.
    #[command(subcommand)]
    Store(store::Command),
    /// Share what was found with other providers as STIX 2.1, without users' data.
    #[command(subcommand)]
    Intel(intel::Command),
    /// Measure how fast this machine reads logs, makes traffic and takes live decisions.
    #[command(subcommand)]
    Bench(bench::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOAT_LOG")
                .unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();

    let result = config::Config::load(cli.config.as_deref()).and_then(|config| {
        let out = input::Output { quiet: cli.quiet };
        match cli.command {
            Command::Inspect(args) => inspect::run(args, &config, out),
            Command::Convert(args) => convert::run(args, &config, out),
            Command::Scan(args) => scan::run(args, &config, out),
            Command::Report(args) => report::run(args, &config, out),
            Command::Eval(args) => eval::run(args, &config, out),
            Command::Simulate(args) => simulate::run(args, &config, out),
            Command::Serve(args) => serve::run(args, &config, out),
            Command::Send(args) => send::run(args, &config, out),
            Command::Store(command) => store::run(command, out),
            Command::Intel(command) => intel::run(command, &config, out),
            Command::Bench(command) => bench::run(command, &config, out),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("moat: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
