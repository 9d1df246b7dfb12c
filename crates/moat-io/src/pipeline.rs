//! The reading pipeline: one thread frames the inputs into chunks, worker threads decode
//! the chunks in parallel, and the caller receives the records in input order.
//!
//! Memory stays bounded whatever the size of the input: at most a few chunks per worker are
//! in flight, and a record longer than the limit is skipped, not buffered.

use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};
use indicatif::{ProgressBar, ProgressStyle};

use crate::decode::{Batch, decode_job};
use crate::format::Format;
use crate::format::parquet::ColumnMap;
use crate::reject::{ErrorPolicy, Location, Reject};
use crate::source::{Source, open};
use crate::split::{Job, JobSink, SplitOptions, Stopped, split};

/// How to read inputs.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The format of every input, or [`Format::Auto`] to tell each one's own.
    pub format: Format,
    /// Decoding threads (besides the one that reads the files).
    pub threads: usize,
    /// About how many bytes a chunk of work holds.
    pub chunk_bytes: usize,
    /// Records longer than this are rejected and skipped, never buffered whole.
    pub max_record_bytes: usize,
    /// How many rejected records to tolerate.
    pub errors: ErrorPolicy,
    /// Draw a progress bar on standard error, if it is a terminal.
    pub progress: bool,
    /// Analyse each exchange on the decoding threads (its content signals and link keys,
    /// records in [`Batch::analysed`]) and drop its text there: the reading thread never
    /// sees prompts.
    pub analyse: bool,
    /// Which Parquet column holds which field, where a file names them otherwise.
    pub columns: ColumnMap,
}

/// The default limit on one record's size: 64 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 << 20;

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            format: Format::Auto,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            chunk_bytes: 1 << 20,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            errors: ErrorPolicy::default(),
            progress: true,
            analyse: false,
            columns: ColumnMap::default(),
        }
    }
}

/// Counts of what a reading saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Exchanges read.
    pub exchanges: u64,
    /// Account records read.
    pub accounts: u64,
    /// Records rejected.
    pub rejected: u64,
}

/// Why a reading stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// More records were rejected than the error policy tolerates.
    #[error(
        "stopped after {rejected} rejected records ({policy}); fix the input, name its format with --format, or raise --max-errors"
    )]
    TooManyRejects {
        /// How many were rejected.
        rejected: u64,
        /// The policy, in words.
        policy: String,
    },
    /// A reading thread stopped unexpectedly: a bug in moat, not in the input.
    #[error(
        "a reading thread crashed (a bug in moat: please report it with the input that caused it)"
    )]
    Crashed,
}

/// One piece of work for a decoding thread.
struct Work {
    source: Arc<str>,
    job: Job,
    reply: Sender<Batch>,
}

/// A stream of [`Batch`]es read from many inputs, in order. Reading runs on background
/// threads; dropping the stream stops them. A reader that is done with a batch hands it
/// back with [`RecordStream::recycle`], so that reading does not allocate anew for every
/// chunk.
pub struct RecordStream {
    ordered: Option<Receiver<Receiver<Batch>>>,
    spent: Sender<Batch>,
    threads: Vec<JoinHandle<()>>,
    stats: ReadStats,
    errors: ErrorPolicy,
    pending_error: Option<ReadError>,
    progress: Option<ProgressBar>,
}

impl RecordStream {
    /// Starts reading `sources` with `options`.
    pub fn open(sources: Vec<Source>, options: &ReadOptions) -> Self {
        let threads = options.threads.max(1);
        let (work_tx, work_rx) = bounded::<Work>(threads * 2);
        let (ordered_tx, ordered_rx) = bounded::<Receiver<Batch>>(threads * 4);
        let (spent_tx, spent_rx) = bounded::<Batch>(threads * 4);
        let progress =
            (options.progress && io::stderr().is_terminal()).then(|| progress_bar(&sources));

        let mut handles = Vec::with_capacity(threads + 1);
        for _ in 0..threads {
            let (work_rx, spent_rx) = (work_rx.clone(), spent_rx.clone());
            let analyse = options.analyse;
            handles.push(std::thread::spawn(move || {
                for work in work_rx {
                    let mut batch = spent_rx.try_recv().unwrap_or_default();
                    decode_job(&work.source, work.job, &mut batch, analyse);
                    let _ = work.reply.send(batch);
                }
            }));
        }
        let framer = Framer {
            work_tx,
            ordered_tx,
            options: options.clone(),
            progress: progress.clone(),
        };
        handles.push(std::thread::spawn(move || framer.run(sources)));
        Self {
            ordered: Some(ordered_rx),
            spent: spent_tx,
            threads: handles,
            stats: ReadStats::default(),
            errors: options.errors,
            pending_error: None,
            progress,
        }
    }

    /// What was read so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// Hands a batch whose records are used back to the decoding threads, which fill it
    /// again: vectors that keep their room spare the allocator fresh pages, which the
    /// kernel would otherwise clear for every chunk read.
    pub fn recycle(&self, mut batch: Batch) {
        batch.clear();
        let _ = self.spent.try_send(batch);
    }

    /// Stops the reading threads; true if one of them had crashed.
    fn shut_down(&mut self) -> bool {
        self.ordered = None;
        let mut crashed = false;
        for handle in self.threads.drain(..) {
            crashed |= handle.join().is_err();
        }
        if let Some(p) = self.progress.take() {
            p.finish_and_clear();
        }
        crashed
    }
}

impl Iterator for RecordStream {
    type Item = Result<Batch, ReadError>;

    /// The next batch. When the error policy is exceeded, the batch that exceeded it comes
    /// first (its rejects cut at the limit), then the error, then the end.
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.pending_error.take() {
            return Some(Err(error));
        }
        let reply = match self.ordered.as_ref()?.recv() {
            Ok(reply) => reply,
            Err(_) => {
                let crashed = self.shut_down();
                return crashed.then_some(Err(ReadError::Crashed));
            }
        };
        let Ok(mut batch) = reply.recv() else {
            self.shut_down();
            return Some(Err(ReadError::Crashed));
        };
        self.stats.bytes += batch.bytes;
        let exchanges = batch.exchanges();
        self.stats.exchanges += exchanges;
        self.stats.accounts += batch.len() as u64 - exchanges;
        let before = self.stats.rejected;
        self.stats.rejected += batch.rejects.len() as u64;
        if let Some(limit) = self
            .errors
            .limit()
            .filter(|limit| self.stats.rejected > *limit)
        {
            batch.rejects.truncate((limit + 1 - before) as usize);
            self.stats.rejected = limit + 1;
            self.shut_down();
            self.pending_error = Some(ReadError::TooManyRejects {
                rejected: self.stats.rejected,
                policy: self.errors.to_string(),
            });
        }
        Some(Ok(batch))
    }
}

impl Drop for RecordStream {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn progress_bar(sources: &[Source]) -> ProgressBar {
    let total: Option<u64> = sources.iter().map(Source::size).sum();
    match total {
        Some(total) => {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} reading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} reading {bytes} {bytes_per_sec}")
                    .expect("the template is valid"),
            );
            bar
        }
    }
}

/// The reading thread: opens each source and splits it into work, in order.
struct Framer {
    work_tx: Sender<Work>,
    ordered_tx: Sender<Receiver<Batch>>,
    options: ReadOptions,
    progress: Option<ProgressBar>,
}

/// The framer's [`JobSink`] for one source.
struct SourceSink<'a> {
    framer: &'a Framer,
    source: Arc<str>,
}

impl JobSink for SourceSink<'_> {
    fn job(&mut self, job: Job) -> Result<(), Stopped> {
        let (reply_tx, reply_rx) = bounded(1);
        self.framer.ordered_tx.send(reply_rx).map_err(|_| Stopped)?;
        let work = Work {
            source: Arc::clone(&self.source),
            job,
            reply: reply_tx,
        };
        self.framer.work_tx.send(work).map_err(|_| Stopped)
    }

    fn reject(&mut self, location: Location, reason: String) -> Result<(), Stopped> {
        let (reply_tx, reply_rx) = bounded(1);
        let batch = Batch {
            rejects: vec![Reject::new(&self.source, location, reason)],
            ..Batch::default()
        };
        let _ = reply_tx.send(batch);
        self.framer.ordered_tx.send(reply_rx).map_err(|_| Stopped)
    }
}

impl Framer {
    fn run(self, sources: Vec<Source>) {
        let options = SplitOptions {
            format: self.options.format,
            chunk_bytes: self.options.chunk_bytes,
            max_record_bytes: self.options.max_record_bytes,
            columns: Arc::new(self.options.columns.clone()),
        };
        for source in sources {
            let mut sink = SourceSink {
                framer: &self,
                source: source.name(),
            };
            let result = match open(&source, self.progress.clone()) {
                Ok(opened) => split(opened, options.clone(), &mut sink),
                Err(e) => sink.reject(Location::Input, format!("cannot read: {e}")),
            };
            if let Err(Stopped) = result {
                return;
            }
        }
    }
}
