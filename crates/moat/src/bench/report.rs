//! `moat bench report`: how long a scan's report takes to draw, and to open in headless
//! Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::config::Config;
use crate::input::{Output, print_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder a `moat scan` wrote.
    #[arg(value_name = "DIR")]
    scan: PathBuf,

    /// The Chromium to open the page with [default: `chromium` or `chromium-browser`].
    #[arg(long, value_name = "FILE")]
    chromium: Option<PathBuf>,

    /// How many timed openings (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,

    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Figures {
    accounts: usize,
    campaigns: usize,
    largest_campaign_accounts: u64,
    read_s: f64,
    render_s: f64,
    page_mb: f64,
    /// Median wall time of headless Chromium opening the page, drawing it and taking a
    /// screenshot of it.
    open_s: f64,
    /// The same for an empty page: the browser's own start-up and exit.
    blank_s: f64,
    /// Median time from navigation to the page's scripts having run, as the page measured
    /// it (`performance.now()`).
    page_ready_ms: f64,
}

pub fn run(args: Args, config: &Config, _out: Output) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (report, accounts, story) = crate::report::read_scan(&args.scan)?;
    let read_s = started.elapsed().as_secs_f64();
    let dir = tempfile::tempdir()?;
    let page = dir.path().join("report.html");
    let started = Instant::now();
    crate::report::write(&page, &args.scan, &report, &accounts, &story, config, None)?;
    let render_s = started.elapsed().as_secs_f64();
    let page_mb = std::fs::metadata(&page)?.len() as f64 / 1e6;

    let chromium = match args.chromium {
        Some(c) => c,
        None => find_chromium().context("no chromium on PATH (give --chromium)")?,
    };
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><title>blank</title>")?;
    let mut open = Vec::new();
    let mut blank_runs = Vec::new();
    let mut ready = Vec::new();
    for _ in 0..args.runs.max(1) {
        blank_runs.push(chromium_run(&chromium, &blank, dir.path(), "--screenshot")?.0);
        open.push(chromium_run(&chromium, &page, dir.path(), "--screenshot")?.0);
        let (_, dom) = chromium_run(&chromium, &page, dir.path(), "--dump-dom")?;
        let ms = dom
            .split("data-ready-ms=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|v| v.parse::<f64>().ok())
            .context("the page did not say when it was ready: did its scripts run?")?;
        ready.push(ms);
    }
    let figures = Figures {
        accounts: accounts.len(),
        campaigns: report.campaigns.len(),
        largest_campaign_accounts: report
            .campaigns
            .iter()
            .map(|c| c.accounts)
            .max()
            .unwrap_or(0),
        read_s,
        render_s,
        page_mb,
        open_s: median(&mut open),
        blank_s: median(&mut blank_runs),
        page_ready_ms: median(&mut ready),
    };
    let text = if args.json {
        serde_json::to_string_pretty(&figures)? + "\n"
    } else {
        format!(
            "report of {} ({} accounts, {} campaigns, largest {} accounts)\n\
             read the scan      {:>8.3} s\n\
             draw the page      {:>8.3} s ({:.1} MB)\n\
             open in Chromium   {:>8.3} s (to a screenshot; median of {}; an empty page takes {:.3} s)\n\
             page ready after   {:>8.0} ms (the page's own measure, from navigation)\n",
            args.scan.display(),
            figures.accounts,
            figures.campaigns,
            figures.largest_campaign_accounts,
            figures.read_s,
            figures.render_s,
            figures.page_mb,
            figures.open_s,
            args.runs.max(1),
            figures.blank_s,
            figures.page_ready_ms,
        )
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Opens `page` in headless Chromium with `mode` (`--screenshot` or `--dump-dom`) and
/// returns the wall time and what it printed.
fn chromium_run(
    chromium: &Path,
    page: &Path,
    scratch: &Path,
    mode: &str,
) -> anyhow::Result<(f64, String)> {
    let started = Instant::now();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg("--window-size=1400,1000")
        .arg(format!(
            "--user-data-dir={}",
            scratch.join("profile").display()
        ))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .current_dir(scratch)
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", chromium.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        chromium.display(),
        out.status
    );
    Ok((elapsed, String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
