//! `moat bench scan`: a scan end to end and stage by stage, against the floor of reading and
//! parsing the same file, on traffic the simulator makes.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use moat_core::{Engine, RoundCosts};
use moat_io::{ErrorPolicy, ReadOptions, RecordStream, Source};
use serde::Serialize;

use crate::config::Config;
use crate::input::{Output, print_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scan this file of exchange v1 JSON Lines; if it does not exist, the simulator writes
    /// it there and it is kept for the next run [default: a temporary file].
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,

    /// The scenario the simulator runs to make the file.
    #[arg(long, default_value = "hydra-29m", value_name = "NAME|FILE")]
    scenario: String,

    /// Its scale.
    #[arg(long, default_value_t = 0.01)]
    scale: f64,

    /// Its seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Decoding threads, for the scan and the floor alike [default: the number of cores].
    #[arg(long)]
    threads: Option<usize>,

    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// What one run measured. Times are wall-clock seconds.
#[derive(Debug, Serialize)]
struct Figures {
    file_bytes: u64,
    exchanges: u64,
    accounts: u64,
    threads: usize,
    cores: usize,
    /// Reading the file and throwing it away.
    read_s: f64,
    /// The floor: reading it and parsing every line into a JSON document with sonic-rs,
    /// on `threads` threads besides the reading one, keeping nothing.
    parse_s: f64,
    /// The same floor with one parsing thread.
    parse_one_thread_s: f64,
    /// moat's reader: framing and decoding into exchange records.
    decode_s: f64,
    /// The same, with each exchange prepared for the engine (content signals and link
    /// keys) on the decoding threads.
    decode_signals_s: f64,
    /// `moat scan` end to end: reading, signals, the engine, its linking rounds, the
    /// verdicts and the story written to a folder.
    scan_s: f64,
    scan_mb_s: f64,
    scan_exchanges_s: f64,
    parse_mb_s: f64,
    /// The scan's time over the floor's (on `threads` threads, and on one).
    scan_over_parse: f64,
    scan_over_parse_one_thread: f64,
    /// Where the engine thread's time went.
    engine: EngineFigures,
    /// Peak resident memory of the scan.
    scan_peak_mb: f64,
    /// Peak resident memory of reading with signals alone (buffers, no state).
    reading_peak_mb: f64,
    /// The scan's peak beyond reading's, per account: state and the rounds' working space
    /// (two peaks apart, so it moves by a few hundred bytes from run to run).
    state_bytes_per_account: f64,
    /// The engine's state at the end of the input as a snapshot holds it (postcard, story
    /// included), per account: read exactly, the same in every run.
    snapshot_bytes_per_account: f64,
}

#[derive(Debug, Serialize)]
struct EngineFigures {
    /// Taking exchanges in: each account's state, sketches and story.
    state_s: f64,
    /// The linking rounds, by stage.
    judge_s: f64,
    link_s: f64,
    assess_s: f64,
    score_s: f64,
    /// The last round, the verdicts and the story at the end.
    finish_s: f64,
    /// Writing accounts.csv, report.json and story.json.
    write_s: f64,
    /// Share of the scan's wall time the engine thread was busy: near 1, the engine is
    /// what limits the scan; well below, the reading is.
    busy_share: f64,
}

const MB: f64 = 1e6;

pub fn run(args: Args, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir().context("cannot make a temporary folder")?;
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| tmp.path().join("events.jsonl"));
    if !path.exists() {
        if !out.quiet {
            eprintln!(
                "simulating {} at scale {} (seed {}) into {}",
                args.scenario,
                args.scale,
                args.seed,
                path.display()
            );
        }
        simulate(&args, &path)?;
    }
    let threads = args
        .threads
        .unwrap_or(ReadOptions::default().threads)
        .max(1);
    let options = |analyse| ReadOptions {
        threads,
        errors: ErrorPolicy::Strict,
        progress: false,
        analyse,
        ..ReadOptions::default()
    };
    let file_bytes = std::fs::metadata(&path)?.len();

    let read = super::measure::time_read_only(&path)?;
    let (parse, parsed) = time_parse(&path, threads)?;
    let (parse_one_thread, _) = time_parse(&path, 1)?;
    let (decode, _) = super::measure::time_reading(&path, &options(false))?;
    reset_peak_memory();
    let (decode_signals, exchanges) = super::measure::time_reading(&path, &options(true))?;
    let reading_peak_mb = peak_memory_mb();
    anyhow::ensure!(
        parsed == exchanges,
        "the floor parsed {parsed} lines but the reader read {exchanges} records"
    );

    reset_peak_memory();
    let scan = time_scan(&path, &options(true), config, tmp.path())?;
    let scan_peak_mb = scan.peak_mb;

    let secs = |d: Duration| d.as_secs_f64();
    let f = Figures {
        file_bytes,
        exchanges,
        accounts: scan.accounts,
        threads,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        read_s: secs(read),
        parse_s: secs(parse),
        parse_one_thread_s: secs(parse_one_thread),
        decode_s: secs(decode),
        decode_signals_s: secs(decode_signals),
        scan_s: secs(scan.wall),
        scan_mb_s: file_bytes as f64 / MB / secs(scan.wall),
        scan_exchanges_s: exchanges as f64 / secs(scan.wall),
        parse_mb_s: file_bytes as f64 / MB / secs(parse),
        scan_over_parse: secs(scan.wall) / secs(parse),
        scan_over_parse_one_thread: secs(scan.wall) / secs(parse_one_thread),
        engine: scan.engine,
        scan_peak_mb,
        reading_peak_mb,
        state_bytes_per_account: (scan_peak_mb - reading_peak_mb).max(0.0) * MB
            / scan.accounts.max(1) as f64,
        snapshot_bytes_per_account: scan.snapshot_bytes as f64 / scan.accounts.max(1) as f64,
    };
    let text = if args.json {
        serde_json::to_string_pretty(&f)? + "\n"
    } else {
        table(&f)
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the scenario's events to `path` with `moat simulate`, in a process of its own so
/// that the simulator's memory is not counted as the scan's.
fn simulate(args: &Args, path: &Path) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let status = Command::new(std::env::current_exe()?)
        .args([
            "--quiet",
            "simulate",
            "--stdout",
            "--scenario",
            &args.scenario,
        ])
        .args([
            "--scale",
            &args.scale.to_string(),
            "--seed",
            &args.seed.to_string(),
        ])
        .stdout(Stdio::from(file))
        .status()
        .context("cannot run moat simulate")?;
    anyhow::ensure!(status.success(), "moat simulate failed: {status}");
    Ok(())
}

fn table(f: &Figures) -> String {
    let mb = f.file_bytes as f64 / MB;
    let line = |name: &str, s: f64| {
        format!(
            "  {name:<34} {s:>8.2} s {:>8.1} MB/s {:>11.0} exchanges/s\n",
            mb / s,
            f.exchanges as f64 / s
        )
    };
    let e = &f.engine;
    let mut t = format!(
        "scan: {mb:.0} MB, {} exchanges of {} accounts, {} decoding threads on {} cores\n",
        f.exchanges, f.accounts, f.threads, f.cores
    );
    t += &line("read only", f.read_s);
    t += &line(
        &format!("read and parse, {} threads (floor)", f.threads),
        f.parse_s,
    );
    t += &line("read and parse, 1 thread", f.parse_one_thread_s);
    t += &line("decode", f.decode_s);
    t += &line("decode and content signals", f.decode_signals_s);
    t += &line("scan, end to end", f.scan_s);
    t += &format!(
        "  scan / floor                       {:>8.2} x   (/ parse on 1 thread: {:.2} x)\n",
        f.scan_over_parse, f.scan_over_parse_one_thread
    );
    t += &format!(
        "engine thread (busy {:.0} % of the scan): state and sketches {:.2} s, rounds: judge {:.2} s, link {:.2} s, assess {:.2} s, score {:.2} s; finish {:.2} s, write {:.2} s\n",
        e.busy_share * 100.0,
        e.state_s,
        e.judge_s,
        e.link_s,
        e.assess_s,
        e.score_s,
        e.finish_s,
        e.write_s
    );
    t += &format!(
        "memory: scan peak {:.0} MB, reading alone {:.0} MB, state {:.0} bytes per account (peaks apart), {:.0} as a snapshot holds it\n",
        f.scan_peak_mb, f.reading_peak_mb, f.state_bytes_per_account, f.snapshot_bytes_per_account
    );
    t
}

/// Bytes the floor's reading thread hands a parsing thread at a time.
const CHUNK: usize = 1 << 20;

/// The floor: one thread reads chunks cut at line ends, `threads` threads parse every line
/// into a `sonic_rs::Value` and drop it. Returns the time and the lines parsed.
fn time_parse(path: &Path, threads: usize) -> anyhow::Result<(Duration, u64)> {
    let mut file = File::open(path)?;
    let start = Instant::now();
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(threads * 2);
    let lines = std::thread::scope(|scope| -> anyhow::Result<u64> {
        let parsers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                scope.spawn(move || -> Result<u64, sonic_rs::Error> {
                    let mut lines = 0;
                    for chunk in rx {
                        for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                            let _: sonic_rs::Value = sonic_rs::from_slice(line)?;
                            lines += 1;
                        }
                    }
                    Ok(lines)
                })
            })
            .collect();
        drop(rx);
        let mut carry = Vec::new();
        loop {
            let mut chunk = Vec::with_capacity(CHUNK + carry.len());
            chunk.append(&mut carry);
            let read = (&mut file).take(CHUNK as u64).read_to_end(&mut chunk)?;
            if read == 0 {
                if !chunk.is_empty() {
                    tx.send(chunk)?;
                }
                break;
            }
            match memchr::memrchr(b'\n', &chunk) {
                Some(end) => {
                    carry.extend_from_slice(&chunk[end + 1..]);
                    chunk.truncate(end + 1);
                    tx.send(chunk)?;
                }
                None => carry = chunk,
            }
        }
        drop(tx);
        let mut lines = 0;
        for parser in parsers {
            lines += parser
                .join()
                .map_err(|_| anyhow::anyhow!("a parsing thread panicked"))?
                .context("the floor could not parse the file")?;
        }
        Ok(lines)
    })?;
    Ok((start.elapsed(), lines))
}

struct Scan {
    wall: Duration,
    /// Peak resident memory of the scan, less the snapshot taken to measure its state.
    peak_mb: f64,
    accounts: u64,
    snapshot_bytes: usize,
    engine: EngineFigures,
}

/// `moat scan` as its command runs it, with the engine thread's time taken apart.
fn time_scan(
    path: &Path,
    options: &ReadOptions,
    config: &Config,
    out: &Path,
) -> anyhow::Result<Scan> {
    let start = Instant::now();
    let mut engine = Engine::new(config.detect.clone()).with_story();
    let mut observing = Duration::ZERO;
    let mut stream = RecordStream::open(vec![Source::File(path.to_owned())], options);
    while let Some(batch) = stream.next() {
        let batch = batch?;
        let t = Instant::now();
        engine.observe_records(&batch.analysed);
        observing += t.elapsed();
        stream.recycle(batch);
    }
    let rounds = engine.round_costs();
    // Not part of a scan: taken apart from its time and its peak memory.
    let peak_before_saving = peak_memory_mb();
    let t = Instant::now();
    let snapshot_bytes = engine.save().map_or(0, |bytes| bytes.len());
    let saving = t.elapsed();
    reset_peak_memory();
    let t = Instant::now();
    let mut outcome = engine.finish();
    let finish = t.elapsed();
    let t = Instant::now();
    let story = outcome.story.take().unwrap_or_default();
    moat_io::write_verdicts(out, &outcome.accounts, &outcome.report)?;
    moat_io::write_story(out, &story)?;
    let write = t.elapsed();
    let wall = start.elapsed() - saving;

    let all = outcome.costs;
    let stage = |f: fn(&RoundCosts) -> Duration| f(&all).as_secs_f64();
    let in_rounds = rounds.judge + rounds.link + rounds.assess + rounds.score;
    Ok(Scan {
        wall,
        peak_mb: peak_before_saving.max(peak_memory_mb()),
        accounts: outcome.report.summary.accounts,
        snapshot_bytes,
        engine: EngineFigures {
            state_s: observing.saturating_sub(in_rounds).as_secs_f64(),
            judge_s: stage(|c| c.judge),
            link_s: stage(|c| c.link),
            assess_s: stage(|c| c.assess),
            score_s: stage(|c| c.score),
            finish_s: finish.as_secs_f64(),
            write_s: write.as_secs_f64(),
            busy_share: (observing + finish + write).as_secs_f64() / wall.as_secs_f64(),
        },
    })
}

/// Starts the process's peak-memory figure afresh (Linux; elsewhere it keeps counting).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory since the last reset, in MB (Linux; 0 elsewhere).
fn peak_memory_mb() -> f64 {
    super::measure::status_kib("VmHWM") * 1024.0 / MB
}
