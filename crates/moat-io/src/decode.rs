//! The reading pipeline: one thread frames the inputs into chunks, worker threads decode
//! the chunks in parallel, and the caller receives the records in input order.
//!
//! Memory stays bounded whatever the size of the input: at most a few chunks per worker are
//! in flight, and a record longer than the limit is skipped, not buffered.

use std::io::{self, IsTerminal, Read};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};
use indicatif::{ProgressBar, ProgressStyle};
use memchr::memchr_iter;
use moat_core::Record;

use crate::format::parquet::{ParquetBatches, RowBatch, decode_batch};
use crate::format::{Format, JsonFormat};
use crate::framing::{LineFramer, Piece, Span, ValueFramer, is_blank};
use crate::reject::{ErrorPolicy, Location, Reject};
use crate::source::{Opened, Source, open};

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
        }
    }
}

/// Records read from one stretch of an input, in input order, with the records of it that
/// were rejected.
#[derive(Debug, Default)]
pub struct Batch {
    /// The records, in input order.
    pub records: Vec<Record>,
    /// The rejected records, in input order.
    pub rejects: Vec<Reject>,
    /// Input bytes this batch covers (before decompression; 0 for Parquet rows).
    pub bytes: u64,
}

/// Counts of what a reading saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Inputs opened.
    pub sources: u64,
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

enum Job {
    Lines {
        format: JsonFormat,
        bytes: Vec<u8>,
        first_line: u64,
    },
    Values {
        format: JsonFormat,
        bytes: Vec<u8>,
        spans: Vec<Span>,
    },
    Rows(RowBatch),
}

/// A stream of [`Batch`]es read from many inputs, in order. Reading runs on background
/// threads; dropping the stream stops them.
pub struct RecordStream {
    ordered: Option<Receiver<Receiver<Batch>>>,
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
        let progress =
            (options.progress && io::stderr().is_terminal()).then(|| progress_bar(&sources));

        let mut handles = Vec::with_capacity(threads + 1);
        for _ in 0..threads {
            let work_rx = work_rx.clone();
            handles.push(std::thread::spawn(move || {
                for work in work_rx {
                    let _ = work.reply.send(decode_work(&work.source, work.job));
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
        for r in &batch.records {
            match r {
                Record::Exchange(_) => self.stats.exchanges += 1,
                Record::Account(_) => self.stats.accounts += 1,
            }
        }
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
    let total: Option<u64> = sources.iter().map(Source::len).sum();
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

/// The reading thread: opens each source, tells its format and framing, and hands out work.
struct Framer {
    work_tx: Sender<Work>,
    ordered_tx: Sender<Receiver<Batch>>,
    options: ReadOptions,
    progress: Option<ProgressBar>,
}

/// The consumer went away: stop reading.
struct Stopped;

/// How many bytes are read first to tell an input's format.
const SNIFF_BYTES: usize = 64 << 10;

impl Framer {
    fn run(self, sources: Vec<Source>) {
        for source in sources {
            let name = source.name();
            if let Err(Stopped) = self.read_source(&source, &name) {
                return;
            }
        }
    }

    /// Hands out a job, keeping its place in the output order.
    fn send(&self, source: &Arc<str>, job: Job) -> Result<(), Stopped> {
        let (reply_tx, reply_rx) = bounded(1);
        self.ordered_tx.send(reply_rx).map_err(|_| Stopped)?;
        let work = Work {
            source: Arc::clone(source),
            job,
            reply: reply_tx,
        };
        self.work_tx.send(work).map_err(|_| Stopped)
    }

    /// Hands out rejects found while framing, in their place in the output order.
    fn reject(&self, source: &Arc<str>, location: Location, reason: String) -> Result<(), Stopped> {
        let (reply_tx, reply_rx) = bounded(1);
        let batch = Batch {
            rejects: vec![Reject::new(source, location, reason)],
            ..Batch::default()
        };
        let _ = reply_tx.send(batch);
        self.ordered_tx.send(reply_rx).map_err(|_| Stopped)
    }

    fn read_source(&self, source: &Source, name: &Arc<str>) -> Result<(), Stopped> {
        let opened = match open(source, self.progress.clone()) {
            Ok(opened) => opened,
            Err(e) => return self.reject(name, Location::Input, format!("cannot read: {e}")),
        };
        let mut stream = match opened {
            Opened::Parquet(file) => return self.read_parquet(file, name),
            Opened::Stream(stream) => stream,
        };
        let head = match read_until_first_record(&mut stream, self.options.max_record_bytes) {
            Ok(head) => head,
            Err(e) => return self.reject(name, Location::Input, format!("cannot read: {e}")),
        };
        let (lines, sniffed) = sniff(&head);
        let format = match (self.options.format, sniffed) {
            (Format::Auto, Some(format)) => format,
            (Format::Auto, None) if is_blank(&head) => return Ok(()),
            (Format::Auto, None) => {
                return self.reject(
                    name,
                    Location::Input,
                    "cannot tell the format of this input; name it with --format".to_owned(),
                );
            }
            (Format::Parquet, _) => {
                return self.reject(name, Location::Input, "not a Parquet file".to_owned());
            }
            (given, _) => JsonFormat::from_format(given).expect("every other format is JSON"),
        };
        let chunk = self.options.chunk_bytes;
        let max = self.options.max_record_bytes;
        if lines {
            let mut framer = LineFramer::new(stream, head, chunk, max);
            self.drain(name, format, || framer.next_piece())
        } else {
            let mut framer = ValueFramer::new(stream, head, chunk, max);
            self.drain(name, format, || framer.next_piece())
        }
    }

    fn drain(
        &self,
        name: &Arc<str>,
        format: JsonFormat,
        mut next: impl FnMut() -> io::Result<Option<Piece>>,
    ) -> Result<(), Stopped> {
        loop {
            match next() {
                Ok(None) => return Ok(()),
                Ok(Some(Piece::Broken { line, reason })) => {
                    self.reject(name, Location::Line(line), reason)?
                }
                Ok(Some(Piece::Lines { bytes, first_line })) => self.send(
                    name,
                    Job::Lines {
                        format,
                        bytes,
                        first_line,
                    },
                )?,
                Ok(Some(Piece::Values { bytes, spans })) => self.send(
                    name,
                    Job::Values {
                        format,
                        bytes,
                        spans,
                    },
                )?,
                Err(e) => {
                    return self.reject(name, Location::Input, format!("reading stopped: {e}"));
                }
            }
        }
    }

    fn read_parquet(&self, file: std::fs::File, name: &Arc<str>) -> Result<(), Stopped> {
        let mut batches = match ParquetBatches::open(file) {
            Ok(b) => b,
            Err(reason) => return self.reject(name, Location::Input, reason),
        };
        loop {
            match batches.next_batch() {
                Ok(Some(rows)) => self.send(name, Job::Rows(rows))?,
                Ok(None) => return Ok(()),
                Err(reason) => self.reject(name, Location::Input, reason)?,
            }
        }
    }
}

/// Reads the start of a stream: at least [`SNIFF_BYTES`], and on until the first record
/// ends (or `max` bytes, or the end).
fn read_until_first_record(mut stream: &mut dyn io::Read, max: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        let want = SNIFF_BYTES.max(head.len());
        let got = (&mut stream).take(want as u64).read_to_end(&mut head)?;
        if got == 0 || head.len() >= max || first_record_end(&head).is_some() {
            return Ok(head);
        }
    }
}

/// Where the first JSON object of `head` ends, and whether it spans lines.
fn first_record_end(head: &[u8]) -> Option<(usize, bool)> {
    let mut framer = head_framer(head);
    while let Ok(Some(piece)) = framer.next_piece() {
        if let Piece::Values { bytes, spans } = piece {
            let first = spans.first()?;
            return Some((
                first.end,
                memchr::memchr(b'\n', &bytes[first.start..first.end]).is_some(),
            ));
        }
    }
    None
}

/// A framer over `head` alone that hands out all its records in one piece.
fn head_framer(head: &[u8]) -> ValueFramer<&[u8]> {
    ValueFramer::new(head, Vec::new(), head.len() + 1, head.len() + 1)
}

/// Tells from the start of an input whether it is JSON Lines, and its format: the first of
/// its first records whose keys name one.
fn sniff(head: &[u8]) -> (bool, Option<JsonFormat>) {
    let start = head
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0xEF | 0xBB | 0xBF));
    let is_array = start.is_some_and(|i| head[i] == b'[');
    let multi_line = first_record_end(head).is_some_and(|(_, multi)| multi);
    let lines = !is_array && !multi_line;
    let mut framer = head_framer(head);
    let mut tried = 0;
    while let Ok(Some(piece)) = framer.next_piece() {
        if let Piece::Values { bytes, spans } = piece {
            for span in spans.iter().take(20 - tried) {
                if let Some(format) = JsonFormat::sniff(&bytes[span.start..span.end]) {
                    return (lines, Some(format));
                }
                tried += 1;
            }
            if tried >= 20 {
                break;
            }
        }
    }
    (lines, None)
}

/// Decodes one job into a batch.
fn decode_work(source: &Arc<str>, job: Job) -> Batch {
    let mut batch = Batch::default();
    let mut rejects = Vec::new();
    match job {
        Job::Lines {
            format,
            bytes,
            first_line,
        } => {
            batch.bytes = bytes.len() as u64;
            let mut line = first_line;
            let mut start = 0;
            let ends = memchr_iter(b'\n', &bytes).chain(std::iter::once(bytes.len()));
            for end in ends {
                let text = &bytes[start..end];
                if start < bytes.len() && !is_blank(text) {
                    format.decode(text, &mut batch.records, &mut rejects);
                    push_rejects(&mut batch, source, &mut rejects, line);
                }
                start = end + 1;
                line += 1;
            }
        }
        Job::Values {
            format,
            bytes,
            spans,
        } => {
            batch.bytes = bytes.len() as u64;
            for span in spans {
                format.decode(
                    &bytes[span.start..span.end],
                    &mut batch.records,
                    &mut rejects,
                );
                push_rejects(&mut batch, source, &mut rejects, span.line);
            }
        }
        Job::Rows(rows) => {
            let mut row_rejects = Vec::new();
            decode_batch(&rows.batch, &mut batch.records, &mut row_rejects);
            batch.rejects = row_rejects
                .into_iter()
                .map(|(row, reason)| {
                    let location = Location::Row {
                        group: rows.group,
                        row: rows.first_row + row,
                    };
                    Reject::new(source, location, reason)
                })
                .collect();
        }
    }
    batch
}

fn push_rejects(
    batch: &mut Batch,
    source: &Arc<str>,
    rejects: &mut Vec<(Option<u64>, String)>,
    line: u64,
) {
    for (item, reason) in rejects.drain(..) {
        let location = match item {
            Some(index) => Location::Item { line, index },
            None => Location::Line(line),
        };
        batch.rejects.push(Reject::new(source, location, reason));
    }
}
