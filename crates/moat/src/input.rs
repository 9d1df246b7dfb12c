//! The options every reading command shares, and the loop that reads and reports rejects.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use moat_core::Record;
use moat_io::{
    Batch, ColumnMap, ErrorPolicy, Format, Inputs, ReadOptions, ReadStats, RecordStream,
    expand_inputs,
};

use crate::config::Config;

/// How the inputs are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Records, several inputs merged in event-time order.
    Records,
    /// Records analysed for the engine on the decoding threads, their text dropped there
    /// (see [`moat_io::Batch::analysed`]), merged in event-time order.
    Analysed,
    /// Each input whole, one after the other, each batch saying which input it is of and
    /// the format it was read as: for a census, where time order does not matter.
    EachInput,
}

/// How the user asked to be spoken to.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// No progress bar, no line per reject.
    pub quiet: bool,
}

/// Where logs come from and how to read them.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Log files, folders (searched for *.jsonl, *.ndjson, *.json, *.log, *.parquet, each
    /// also .gz or .zst), glob patterns, or - for standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// The inputs' format; auto tells each input's own from its first record.
    #[arg(long, value_name = "FORMAT", value_parser = clap::builder::PossibleValuesParser::new(Format::NAMES))]
    pub format: Option<String>,

    /// Stop once more than N records were rejected (a number, or `unlimited`) [default: 1000].
    #[arg(long, value_name = "N", value_parser = parse_max_errors, conflicts_with = "strict")]
    pub max_errors: Option<ErrorPolicy>,

    /// Stop at the first rejected record.
    #[arg(long)]
    pub strict: bool,

    /// Reject records longer than this many bytes without buffering them [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub max_record_bytes: Option<usize>,

    /// Decoding threads [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Read an exchange v1 field from a Parquet column of another name (`ts=event_time`,
    /// `client.ip=meta.src_ip` for a child of a struct column); repeat for more fields.
    #[arg(long = "parquet-column", value_name = "FIELD=COLUMN", value_parser = parse_column)]
    pub parquet_columns: Vec<(String, String)>,
}

fn parse_column(text: &str) -> Result<(String, String), String> {
    let (field, column) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not FIELD=COLUMN"))?;
    Ok((field.trim().to_owned(), column.trim().to_owned()))
}

fn parse_max_errors(text: &str) -> Result<ErrorPolicy, String> {
    if text == "unlimited" {
        return Ok(ErrorPolicy::Unlimited);
    }
    text.parse()
        .map(ErrorPolicy::MaxErrors)
        .map_err(|_| format!("{text:?} is not a whole number or `unlimited`"))
}

impl InputArgs {
    /// The reading options: flags first, then the config file, then the defaults.
    pub fn options(&self, config: &Config, out: Output) -> anyhow::Result<ReadOptions> {
        let c = &config.input;
        let defaults = ReadOptions::default();
        let format = match self.format.as_deref().or(c.format.as_deref()) {
            Some(name) => name.parse::<Format>().context("[input] format")?,
            None => Format::Auto,
        };
        let errors = if self.strict || (self.max_errors.is_none() && c.strict == Some(true)) {
            ErrorPolicy::Strict
        } else if let Some(policy) = self.max_errors {
            policy
        } else {
            c.max_errors.map_or(defaults.errors, ErrorPolicy::MaxErrors)
        };
        Ok(ReadOptions {
            format,
            threads: self
                .threads
                .or(c.threads)
                .unwrap_or(defaults.threads)
                .max(1),
            max_record_bytes: self
                .max_record_bytes
                .or(c.max_record_bytes)
                .unwrap_or(defaults.max_record_bytes),
            errors,
            progress: !out.quiet,
            // The config's columns, then the flags' (a flag wins for its field).
            columns: ColumnMap::new(
                c.parquet_columns
                    .iter()
                    .map(|(f, col)| (f.clone(), col.clone()))
                    .chain(self.parquet_columns.iter().cloned()),
            )
            .context("Parquet columns")?,
            ..defaults
        })
    }

    /// Reads every input, handing each record to `each`, printing each reject to standard
    /// error as it comes (unless quiet). Several inputs are merged in event-time order. Returns what was read, and whether the error
    /// policy stopped the reading.
    pub fn read(
        &self,
        config: &Config,
        out: Output,
        mut each: impl FnMut(Record) -> anyhow::Result<()>,
    ) -> anyhow::Result<(ReadStats, Option<moat_io::ReadError>)> {
        self.read_batches(config, out, Reading::Records, |batch| {
            batch.records.drain(..).try_for_each(&mut each)
        })
    }

    /// Like [`InputArgs::read`], a batch at a time, as `reading` says.
    pub fn read_batches(
        &self,
        config: &Config,
        out: Output,
        reading: Reading,
        mut each: impl FnMut(&mut Batch) -> anyhow::Result<()>,
    ) -> anyhow::Result<(ReadStats, Option<moat_io::ReadError>)> {
        let options = ReadOptions {
            analyse: reading == Reading::Analysed,
            ..self.options(config, out)?
        };
        let sources = expand_inputs(&self.inputs)?;
        tracing::info!(inputs = sources.len(), threads = options.threads, "reading");
        let mut stream = if reading == Reading::EachInput {
            Inputs::One(RecordStream::open(sources, &options))
        } else {
            Inputs::open(sources, &options)
        };
        let mut stopped = None;
        while let Some(batch) = stream.next() {
            let mut batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    stopped = Some(e);
                    break;
                }
            };
            if !out.quiet {
                for reject in &batch.rejects {
                    eprintln!("rejected: {reject}");
                }
            }
            each(&mut batch)?;
            stream.recycle(batch);
        }
        for (input, late) in stream.out_of_order() {
            tracing::warn!(
                "{input} is not in time order: {late} exchange(s) dated more than a minute \
                 before the one read before them; the inputs were merged by time as read, so \
                 sort it by time for verdicts stamped as the traffic happened"
            );
        }
        Ok((stream.stats(), stopped))
    }
}

/// Prints the closing line about rejects, and turns a stopped reading into exit code 1.
pub fn finish(stats: &ReadStats, stopped: Option<moat_io::ReadError>) -> ExitCode {
    match stopped {
        Some(e) => {
            eprintln!("moat: {e}");
            ExitCode::from(1)
        }
        None => {
            if stats.rejected > 0 {
                eprintln!(
                    "moat: {} records rejected (see above); the rest were read",
                    stats.rejected
                );
            }
            ExitCode::SUCCESS
        }
    }
}

/// Writes `text` to standard output; a reader that went away (`moat scan ... | head`) is
/// not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
