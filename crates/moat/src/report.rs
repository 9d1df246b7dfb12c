//! `moat report`: a scan's folder as one self-contained HTML page.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use moat_core::{AccountVerdict, Report, Story};
use moat_report::ReportData;

use crate::config::Config;
use crate::input::{Output, print_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder `moat scan --out` wrote (report.json, accounts.csv, story.json).
    #[arg(value_name = "DIR")]
    scan: PathBuf,

    /// Where to write the page [default: DIR/report.html].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// truth.csv of a simulation: the overview then counts the customers blocked.
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
}

pub fn run(args: Args, config: &Config, _out: Output) -> anyhow::Result<ExitCode> {
    let (report, accounts, story) = read_scan(&args.scan)?;
    let truth = match &args.truth {
        Some(path) => Some(read_truth(path)?),
        None => None,
    };
    let page = args.out.unwrap_or_else(|| args.scan.join("report.html"));
    write(
        &page,
        &args.scan,
        &report,
        &accounts,
        &story,
        config,
        truth.as_ref(),
    )?;
    print_stdout(&format!("Report: {}\n", page.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Reads what `moat scan` wrote into `dir`: the report, the verdicts and the story.
pub fn read_scan(dir: &Path) -> anyhow::Result<(Report, Vec<AccountVerdict>, Story)> {
    let read = |name: &str| dir.join(name);
    let report: Report = moat_io::read_scan_json(&read("report.json"))?;
    let accounts = moat_io::read_accounts_csv(&read("accounts.csv"))?;
    let story_path = read("story.json");
    if !story_path.exists() {
        anyhow::bail!(
            "{} is missing: scan again with this version of moat to draw timelines and networks",
            story_path.display()
        );
    }
    let story: Story = moat_io::read_scan_json(&story_path).map_err(|e| {
        anyhow::anyhow!("{e} (a story.json written by another version of moat: scan again)")
    })?;
    Ok((report, accounts, story))
}

/// Per account of a simulation's truth, whether it carries a campaign's traffic.
fn read_truth(path: &Path) -> anyhow::Result<HashMap<String, bool>> {
    Ok(crate::eval::read_truth(path)?
        .into_iter()
        .map(|row| (row.account_id, row.label != "benign"))
        .collect())
}

/// Writes the report page for the scan in `dir` to `page`.
pub fn write(
    page: &Path,
    dir: &Path,
    report: &Report,
    accounts: &[AccountVerdict],
    story: &Story,
    config: &Config,
    truth: Option<&HashMap<String, bool>>,
) -> anyhow::Result<()> {
    let data = ReportData {
        source: dir.display().to_string(),
        report,
        accounts,
        story,
        watch: config.detect.watch,
        block: config.detect.block,
        truth,
        manual: &[],
    };
    let html = moat_report::report_page(&data);
    let tmp = page.with_extension("partial");
    std::fs::write(&tmp, html)
        .and_then(|()| std::fs::rename(&tmp, page))
        .with_context(|| format!("cannot write {}", page.display()))
}
