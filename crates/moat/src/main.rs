//! `moat`: find and stop distillation campaigns against model APIs.

mod bench;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `moat` command lines of the shell blocks of README.md and docs/*.md: continued
    /// lines joined, comments, pipes and redirections cut, anything before `moat` (an
    /// environment variable, `time`) left out.
    fn documented_commands() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut pages = vec![root.join("README.md")];
        let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        docs.sort();
        pages.extend(docs);
        let mut commands = Vec::new();
        for page in pages {
            let text = std::fs::read_to_string(&page).unwrap();
            let name = page.file_name().unwrap().to_string_lossy().into_owned();
            let mut in_shell = false;
            let mut line = String::new();
            for raw in text.lines() {
                if raw.starts_with("```") {
                    in_shell = raw == "```sh";
                    continue;
                }
                if !in_shell || raw.trim_start().starts_with('#') {
                    continue;
                }
                line.push_str(raw.trim_end_matches('\\'));
                line.push(' ');
                if raw.ends_with('\\') {
                    continue;
                }
                let command = std::mem::take(&mut line);
                let command = command.split(" #").next().unwrap_or_default();
                let command = command.split(['|', '>']).next().unwrap_or_default();
                if let Some(at) = command.find("moat ").filter(|&at| {
                    at == 0 || command[..at].ends_with(' ') && !command[..at].contains("cargo")
                }) {
                    commands.push((name.clone(), command[at..].trim().to_owned()));
                }
            }
        }
        commands
    }

    /// Splits a command line into words as a shell would, quotes included.
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        let mut quote = None;
        for c in line.chars() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => {
                    if !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                }
                (_, c) => word.push(c),
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
        out
    }

    /// Every command the docs give is one moat takes: its subcommand, flags and values as
    /// written. Asking for help after them checks all that without running anything.
    #[test]
    fn every_documented_command_parses() {
        let commands = documented_commands();
        assert!(commands.len() >= 30, "{} commands found", commands.len());
        for (page, command) in commands {
            let mut args = words(&command);
            args.push("--help".into());
            match Cli::try_parse_from(&args) {
                Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {}
                Err(e) => panic!("{page}: `{command}`: {e}"),
                Ok(_) => panic!("{page}: `{command}` did not reach --help"),
            }
        }
    }
}
