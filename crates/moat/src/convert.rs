//! `moat convert`: any accepted log format in, exchange v1 JSON Lines out.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use moat_core::{Exchange, Record};
use moat_io::JsonLinesWriter;

use crate::config::Config;
use crate::input::{InputArgs, Output, finish};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,

    /// Where to write (standard output when not given or -).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Keep the system prompt, messages, prompt and answer text. Without it they are
    /// left out, so that no user content is written to disk.
    #[arg(long)]
    with_content: bool,
}

/// Drops every field that holds text a user or the model wrote; says whether there was
/// any.
fn without_content(mut e: Exchange) -> (Exchange, bool) {
    let had = e.request.system.is_some()
        || e.request.prompt.is_some()
        || !e.request.messages.is_empty()
        || e.response.text.is_some();
    e.request.system = None;
    e.request.prompt = None;
    e.request.messages.clear();
    e.response.text = None;
    (e, had)
}

pub fn run(args: Args, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let (sink, name): (Box<dyn Write>, String) = match &args.out {
        Some(path) if path.as_os_str() != "-" => (
            Box::new(
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            ),
            path.display().to_string(),
        ),
        _ => (Box::new(io::stdout().lock()), "standard output".to_owned()),
    };
    let mut writer = JsonLinesWriter::new(sink);
    let mut dropped = 0u64;
    let (stats, stopped) = args.input.read(config, out, |record| {
        match record {
            Record::Exchange(e) if args.with_content => writer.write(&e),
            Record::Exchange(e) => {
                let (e, had) = without_content(e);
                dropped += u64::from(had);
                writer.write(&e)
            }
            Record::Account(a) => writer.write(&a),
        }
        .with_context(|| format!("cannot write to {name}"))
    })?;
    writer
        .finish()
        .with_context(|| format!("cannot write to {name}"))?;
    if dropped > 0 && !out.quiet {
        eprintln!(
            "moat: the text of {dropped} exchange(s) was left out (no user content is written \
             without --with-content): a scan of this output cannot read the content signals \
             (reasoning and grading asks, capability focus, templates); scan the original logs, \
             or pass --with-content"
        );
    }
    Ok(finish(&stats, stopped))
}
