//! `moat store`: check a `moat serve` store for damaged values, and copy what is whole to a
//! new store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use moat_server::store::Store;

use crate::input::{Output, print_stdout};

/// What to do with a store.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Read every value of the store (batches of exchanges, verdicts, manual decisions,
    /// the audit log) and list the damaged ones; exit code 1 if any is. Stop `moat serve`
    /// first.
    Check(CheckArgs),
    /// Copy every value that is whole to a new store, batches in their order, and say what
    /// was left behind; start `moat serve` on the new folder afterwards.
    Salvage(SalvageArgs),
}

/// Arguments of `moat store check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The store's folder (`data_dir`).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `moat store salvage`.
#[derive(Debug, clap::Args)]
pub struct SalvageArgs {
    /// The damaged store's folder.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// A new folder for the salvaged store (it must not hold one).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `moat store`.
pub fn run(command: Command, out: Output) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(args) => check(args, out),
        Command::Salvage(args) => salvage(args, out),
    }
}

fn open(dir: &std::path::Path) -> anyhow::Result<Store> {
    if !dir.join("moat.redb").is_file() {
        anyhow::bail!("{} holds no store (no moat.redb)", dir.display());
    }
    Store::open(dir).with_context(|| format!("opening the store in {}", dir.display()))
}

fn check(args: CheckArgs, out: Output) -> anyhow::Result<ExitCode> {
    let tables = open(&args.dir)?.check()?;
    let damaged: u64 = tables.iter().map(|t| t.damaged).sum();
    if args.json {
        print_stdout(&(serde_json::to_string_pretty(&tables)? + "\n"))?;
    } else if !out.quiet {
        let mut text = String::new();
        for t in &tables {
            text += &format!(
                "{:<10} {:>10} values, {} damaged\n",
                t.table, t.values, t.damaged
            );
            for key in &t.damaged_keys {
                text += &format!("  damaged: {} {key}\n", t.table);
            }
        }
        text += &if damaged == 0 {
            "the store is whole\n".to_owned()
        } else {
            format!(
                "{damaged} damaged value(s): `moat store salvage {} --out NEW_DIR` copies the rest\n",
                args.dir.display()
            )
        };
        print_stdout(&text)?;
    }
    Ok(if damaged == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn salvage(args: SalvageArgs, out: Output) -> anyhow::Result<ExitCode> {
    let tables = open(&args.dir)?.salvage(&args.out)?;
    if !out.quiet {
        let mut text = String::new();
        for t in &tables {
            text += &format!(
                "{:<10} {:>10} kept, {} damaged left behind\n",
                t.table, t.kept, t.dropped
            );
        }
        text += &format!(
            "salvaged into {}: start moat serve with --data-dir {}\n",
            args.out.display(),
            args.out.display()
        );
        print_stdout(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}
