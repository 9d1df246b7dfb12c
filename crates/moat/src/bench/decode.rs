//! `moat bench decode`: decode throughput of the parallel reader on generated exchange v1
//! JSON Lines, against the time to merely read the file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use moat_core::{Client, EventTime, Exchange, Request, Usage, format_compact};
use moat_io::{ErrorPolicy, ReadOptions};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::input::Output;

use super::measure::{MIB, time_read_only, time_reading};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Size of the generated file, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    size_mb: u64,

    /// Read this file instead of a generated one; if it does not exist, generate it there
    /// and keep it for the next run.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,

    /// How many timed runs (the best and the median are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,

    /// Decoding threads [default: the number of cores].
    #[arg(long)]
    threads: Option<usize>,

    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct DecodeFigures {
    file_bytes: u64,
    records: u64,
    threads: usize,
    runs: usize,
    read_only_mb_s: f64,
    best_mb_s: f64,
    median_mb_s: f64,
    best_records_s: f64,
    median_records_s: f64,
    cores: usize,
}

pub fn run(args: Args, out: Output) -> anyhow::Result<ExitCode> {
    let tmp;
    let path = match &args.file {
        Some(path) => path.clone(),
        None => {
            tmp = tempfile::tempdir().context("cannot make a temporary folder")?;
            tmp.path().join("bench.jsonl")
        }
    };
    if !path.exists() {
        if !out.quiet {
            eprintln!(
                "generating {} MiB of exchange v1 at {}",
                args.size_mb,
                path.display()
            );
        }
        generate(&path, args.size_mb * MIB)?;
    }
    let file_bytes = std::fs::metadata(&path)?.len();
    let options = ReadOptions {
        threads: args.threads.unwrap_or(ReadOptions::default().threads),
        errors: ErrorPolicy::Strict,
        progress: false,
        ..ReadOptions::default()
    };

    let read_only = time_read_only(&path)?;
    let mut times = Vec::new();
    let mut records = 0;
    for _ in 0..args.runs.max(1) {
        let (time, n) = time_reading(&path, &options)?;
        times.push(time);
        records = n;
    }
    times.sort();
    let mb_s = |t: Duration| file_bytes as f64 / MIB as f64 / t.as_secs_f64();
    let rec_s = |t: Duration| records as f64 / t.as_secs_f64();
    let (best, median) = (times[0], times[times.len() / 2]);
    let figures = DecodeFigures {
        file_bytes,
        records,
        threads: options.threads,
        runs: times.len(),
        read_only_mb_s: mb_s(read_only),
        best_mb_s: mb_s(best),
        median_mb_s: mb_s(median),
        best_records_s: rec_s(best),
        median_records_s: rec_s(median),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        let f = &figures;
        println!(
            "decode: exchange v1 JSON Lines, {:.0} MiB, {} records, {} threads on {} cores",
            f.file_bytes as f64 / MIB as f64,
            f.records,
            f.threads,
            f.cores
        );
        println!("  read only (floor)  {:>9.1} MiB/s", f.read_only_mb_s);
        println!(
            "  decode, best       {:>9.1} MiB/s  {:>11.0} records/s",
            f.best_mb_s, f.best_records_s
        );
        println!(
            "  decode, median     {:>9.1} MiB/s  {:>11.0} records/s  ({} runs)",
            f.median_mb_s, f.median_records_s, f.runs
        );
    }
    Ok(ExitCode::SUCCESS)
}

const WORDS: [&str; 48] = [
    "function",
    "returns",
    "list",
    "sorted",
    "merge",
    "explain",
    "step",
    "reasoning",
    "tree",
    "binary",
    "search",
    "algorithm",
    "complexity",
    "write",
    "test",
    "python",
    "rust",
    "async",
    "database",
    "query",
    "index",
    "cache",
    "error",
    "handle",
    "parse",
    "string",
    "vector",
    "matrix",
    "graph",
    "shortest",
    "path",
    "dynamic",
    "programming",
    "recursion",
    "stack",
    "queue",
    "thread",
    "lock",
    "deadlock",
    "schema",
    "migration",
    "deploy",
    "refactor",
    "bug",
    "café",
    "naïve",
    "数据",
    "résumé",
];

/// Writes about `bytes` of exchange v1 JSON Lines with ~1 KB prompts (fixed seed).
fn generate(path: &Path, bytes: u64) -> anyhow::Result<()> {
    let mut rng = SmallRng::seed_from_u64(0x6d6f6174);
    let mut out = BufWriter::with_capacity(
        1 << 20,
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut written = 0u64;
    let mut ts = EventTime::parse_rfc3339("2026-03-01T00:00:00Z")
        .expect("a valid time")
        .as_unix_micros();
    let mut line = Vec::with_capacity(4096);
    let mut i = 0u64;
    while written < bytes {
        ts += rng.random_range(1_000..400_000);
        let target = rng.random_range(800..1200);
        let mut prompt = String::with_capacity(target + 32);
        while prompt.len() < target {
            prompt.push_str(WORDS.choose(&mut rng).expect("words"));
            prompt.push(match rng.random_range(0..40) {
                0 => '\n',
                1 => '"',
                _ => ' ',
            });
        }
        let account = rng.random_range(0..20_000u32);
        let exchange = Exchange {
            ts: EventTime::from_unix_micros(ts).expect("in range"),
            account_id: format_compact!("acct_{account:05}"),
            request_id: Some(format_compact!("req_{i}")),
            conversation_id: Some(format_compact!("conv_{}", i / 3)),
            model: Some("frontier-2".into()),
            client: Client {
                ip: Some(std::net::IpAddr::from([
                    203,
                    0,
                    (account % 256) as u8,
                    (account / 256 % 256) as u8,
                ])),
                asn: Some(64500 + account % 50),
                country: Some("SG".into()),
                user_agent: Some("sdk-python/0.49.0".into()),
                ..Client::default()
            },
            request: Request {
                system: Some("You are an expert engineer. Think step by step.".to_owned()),
                prompt: Some(prompt),
                tools: Some(0),
                max_tokens: Some(16_000),
                temperature: Some(1.0),
                reasoning: Some(true),
                ..Request::default()
            },
            usage: Usage {
                input_tokens: Some(rng.random_range(50..400)),
                output_tokens: Some(rng.random_range(100..4000)),
                reasoning_tokens: Some(rng.random_range(0..2000)),
            },
            ..Exchange::default()
        };
        line.clear();
        serde_json::to_writer(&mut line, &exchange)?;
        line.push(b'\n');
        out.write_all(&line)?;
        written += line.len() as u64;
        i += 1;
    }
    out.flush()?;
    Ok(())
}
