//! `moat scan`: read logs, find the campaigns, write the verdicts.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use moat_core::{Engine, Outcome, Report, Verdict};

use crate::config::Config;
use crate::input::{InputArgs, Output, Reading, finish, print_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,

    /// Folder to write accounts.csv, report.json and story.json into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// Also write report.html: the scan as one page to open in a browser.
    #[arg(long)]
    html: bool,

    /// Partners' STIX bundles (`moat intel export`): accounts whose first exchanges carry
    /// their indicators get the `partner_intel` signal [default: `[intel]` in moat.toml].
    #[arg(long, value_name = "FILE", num_args = 1..)]
    intel: Vec<PathBuf>,

    /// The partners' key, for the bundles' fingerprints (without it only addresses,
    /// networks and autonomous systems match).
    #[arg(long, value_name = "FILE", requires = "intel")]
    intel_key: Option<PathBuf>,
}

pub fn run(args: Args, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let mut engine = Engine::new(config.detect.clone()).with_story();
    if let Some(intel) = config.intel.load(&args.intel, args.intel_key.as_deref())? {
        engine = engine.with_intel(intel);
    }
    let (stats, stopped) = args
        .input
        .read_batches(config, out, Reading::Analysed, |batch| {
            engine.observe_records(&batch.analysed);
            Ok(())
        })?;
    if let Some(e) = stopped {
        eprintln!("moat: {e}");
        eprintln!("moat: nothing written: the scan stopped before the end of its input");
        return Ok(ExitCode::from(1));
    }
    if stats.exchanges == 0 {
        eprintln!(
            "moat: no exchange could be read from the inputs ({} record(s) rejected): nothing \
             written; check the format (moat inspect tells it) or name it with --format",
            stats.rejected
        );
        return Ok(ExitCode::from(1));
    }
    let clamped = engine.clamped();
    if clamped > 0 {
        let lead = config.detect.clock.max_lead_minutes;
        tracing::warn!(
            "{clamped} exchange(s) were dated more than {lead} min ahead of the rest of the logs \
             and were read at the logs' time ([detect.clock] in docs/config.md)"
        );
    }
    let mut outcome = engine.finish();
    let c = &outcome.costs;
    tracing::info!(
        "linking rounds: judge {:.2} s, link {:.2} s, assess {:.2} s, score {:.2} s",
        c.judge.as_secs_f64(),
        c.link.as_secs_f64(),
        c.assess.as_secs_f64(),
        c.score.as_secs_f64()
    );
    outcome.report.summary.records_rejected = stats.rejected;
    let story = outcome.story.take().unwrap_or_default();
    moat_io::write_verdicts(&args.out, &outcome.accounts, &outcome.report)
        .and_then(|()| moat_io::write_story(&args.out, &story))
        .with_context(|| format!("cannot write the verdicts into {}", args.out.display()))?;
    let mut text = summary(&outcome, &args.out);
    if args.html {
        let page = args.out.join("report.html");
        crate::report::write(
            &page,
            &args.out,
            &outcome.report,
            &outcome.accounts,
            &story,
            config,
            None,
        )?;
        let _ = writeln!(text, "Report: {}", page.display());
    }
    print_stdout(&text)?;
    Ok(finish(&stats, None))
}

/// The scan in Markdown: totals, then one line per campaign with its strongest evidence.
fn summary(outcome: &Outcome, dir: &std::path::Path) -> String {
    let Report {
        summary: s,
        campaigns,
    } = &outcome.report;
    let mut md = String::new();
    let span = match (s.first_seen, s.last_seen) {
        (Some(a), Some(b)) => format!(", {a} to {b}"),
        _ => String::new(),
    };
    let _ = writeln!(md, "# moat scan\n");
    let _ = writeln!(
        md,
        "{} exchanges from {} accounts{span}.\n",
        s.exchanges, s.accounts
    );
    let _ = writeln!(
        md,
        "**{} campaign{} found; {} accounts blocked, {} watched.**\n",
        s.campaigns,
        if s.campaigns == 1 { "" } else { "s" },
        s.accounts_blocked,
        s.accounts_watched
    );
    if !campaigns.is_empty() {
        let _ = writeln!(
            md,
            "| campaign | accounts | exchanges | first seen | last seen | score | strongest evidence |"
        );
        let _ = writeln!(md, "|---|---:|---:|---|---|---:|---|");
        for c in campaigns.iter().take(20) {
            let evidence: Vec<String> = c
                .evidence
                .iter()
                .take(3)
                .map(|e| format!("{} ({:.2})", e.detail, e.weight))
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {:.2} | {} |",
                c.id,
                c.accounts,
                c.exchanges,
                c.first_seen,
                c.last_seen,
                c.score,
                evidence.join("; ")
            );
        }
        if campaigns.len() > 20 {
            let _ = writeln!(md, "\n{} more in report.json.", campaigns.len() - 20);
        }
        md.push('\n');
    }
    let alone = outcome
        .accounts
        .iter()
        .filter(|a| a.verdict == Verdict::Block && a.campaign_id.is_none())
        .count();
    if alone > 0 {
        let _ = writeln!(md, "{alone} accounts blocked on their own evidence.\n");
    }
    let _ = writeln!(
        md,
        "Verdicts: {}; campaigns and evidence: {}",
        dir.join("accounts.csv").display(),
        dir.join("report.json").display()
    );
    md
}
