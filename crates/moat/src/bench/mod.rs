//! `moat bench`: how fast this machine reads logs, in figures to compare and keep.

use std::process::ExitCode;

use crate::config::Config;
use crate::input::Output;

mod decode;
mod link;
mod measure;
mod report;
mod scan;
mod serve;
mod simulate;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Decode throughput: exchange v1 JSON Lines with ~1 KB prompts, through the full
    /// parallel reader, against the time to merely read the file.
    Decode(decode::Args),
    /// Simulator throughput: making traffic alone, and making and writing it (to nowhere).
    Simulate(simulate::Args),
    /// Live service: decisions per second and their latency over loopback, from the HTTP
    /// check API and the Envoy ext_authz gRPC API, while exchanges are ingested.
    Serve(serve::Args),
    /// Report: how long a scan's report takes to draw, and to open in headless Chromium.
    Report(report::Args),
    /// Scanning: a scan end to end and by stage against the floor of reading and parsing
    /// the same file (made by the simulator), with its peak memory and memory per account.
    Scan(scan::Args),
    /// Linking: the round that links and scores a whole population at once, as the
    /// population grows (10 k, 100 k, 1 M accounts with one 25,000-account campaign).
    Link(link::Args),
}

/// Runs one benchmark.
pub fn run(command: Command, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    match command {
        Command::Decode(args) => decode::run(args, out),
        Command::Simulate(args) => simulate::run(args),
        Command::Serve(args) => serve::run(args, config),
        Command::Report(args) => report::run(args, config, out),
        Command::Link(args) => link::run(args, config),
        Command::Scan(args) => scan::run(args, config, out),
    }
}
