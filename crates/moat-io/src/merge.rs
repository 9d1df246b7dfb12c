//! Several inputs read side by side and merged in event-time order: logs that two gateways
//! wrote over the same days are read as the traffic happened, not one file after the other.
//!
//! Each input is expected in time order (logs written as traffic arrived are). The inputs
//! are opened in the order of their first exchange's time, each only once the merge has
//! reached that time, so a folder of daily files holds one or two open at once, and every
//! open input holds one batch in memory. An input out of time order is still read whole;
//! how many of its exchanges came earlier than the one before is reported
//! ([`MergedStream::out_of_order`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use moat_core::{AnalysedRecord, Record};

use crate::decode::Batch;
use crate::pipeline::{ReadError, ReadOptions, ReadStats, RecordStream};
use crate::reject::ErrorPolicy;
use crate::source::Source;

/// How many records a merged batch holds.
const BATCH_RECORDS: usize = 4096;
/// An exchange dated more than this before the one read before it in the same input
/// counts as out of order (µs): concurrent writers of one log shuffle by less.
const OUT_OF_ORDER_MICROS: i64 = 60_000_000;

/// One input being read.
struct Open {
    name: Arc<str>,
    stream: RecordStream,
    /// Its current batch's records (as read, or analysed) in reverse, so the next is last.
    records: Vec<Record>,
    analysed: Vec<AnalysedRecord>,
    /// The event time of the last exchange taken from it (its first, before any).
    last: i64,
    /// Its exchanges dated well before the exchange taken before them.
    late: u64,
}

impl Open {
    /// The time its next record is merged at: an exchange's own, an account record's that
    /// of the exchange before it.
    fn next_time(&self) -> i64 {
        match (self.records.last(), self.analysed.last()) {
            (Some(Record::Exchange(e)), _) => e.ts.as_unix_micros(),
            (_, Some(AnalysedRecord::Exchange(a))) => a.exchange().ts.as_unix_micros(),
            _ => self.last,
        }
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.analysed.is_empty()
    }

    /// Moves its next record to `out`; the event time of the exchange it is, if it is one.
    fn take_next(&mut self, out: &mut Batch) -> Option<i64> {
        if let Some(record) = self.records.pop() {
            let ts = match &record {
                Record::Exchange(e) => Some(e.ts.as_unix_micros()),
                Record::Account(_) => None,
            };
            out.records.push(record);
            ts
        } else {
            let record = self
                .analysed
                .pop()
                .expect("an input with a head has a record");
            let ts = match &record {
                AnalysedRecord::Exchange(a) => Some(a.exchange().ts.as_unix_micros()),
                AnalysedRecord::Account(_) => None,
            };
            out.analysed.push(record);
            ts
        }
    }
}

/// Batches of records from many inputs, in event-time order across inputs.
pub struct MergedStream {
    options: ReadOptions,
    errors: ErrorPolicy,
    /// Inputs not opened yet, by the time of their first exchange.
    waiting: VecDeque<(i64, Source)>,
    open: Vec<Option<Open>>,
    /// Per open input with records left: the time of its next record.
    heads: BinaryHeap<Reverse<(i64, usize)>>,
    stats: ReadStats,
    out_of_order: Vec<(Arc<str>, u64)>,
    pending_error: Option<ReadError>,
    stopped: bool,
}

impl MergedStream {
    /// Reads `sources` with `options`, merged in event-time order.
    pub fn open(sources: Vec<Source>, options: &ReadOptions) -> Self {
        // Each input is read on its own threads; a few are open at once.
        let per_input = ReadOptions {
            threads: (options.threads / 2).max(1),
            errors: ErrorPolicy::Unlimited,
            progress: false,
            ..options.clone()
        };
        let mut waiting: Vec<(i64, Source)> = sources
            .into_iter()
            .map(|source| (first_exchange_time(&source, &per_input), source))
            .collect();
        waiting.sort_by_key(|(first, _)| *first);
        Self {
            options: per_input,
            errors: options.errors,
            waiting: waiting.into(),
            open: Vec::new(),
            heads: BinaryHeap::new(),
            stats: ReadStats::default(),
            out_of_order: Vec::new(),
            pending_error: None,
            stopped: false,
        }
    }

    /// What was read so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The inputs found out of time order, with how many of their exchanges were dated
    /// more than a minute before the exchange read before them.
    pub fn out_of_order(&self) -> &[(Arc<str>, u64)] {
        &self.out_of_order
    }

    /// Opens the inputs whose first exchange the merge has reached.
    fn open_due(&mut self, out: &mut Batch) {
        while let Some((first, _)) = self.waiting.front() {
            let due = match self.heads.peek() {
                Some(Reverse((next, _))) => first <= next,
                None => true,
            };
            if !due {
                break;
            }
            let (first, source) = self.waiting.pop_front().expect("peeked above");
            let open = Open {
                name: source.name(),
                stream: RecordStream::open(vec![source], &self.options),
                records: Vec::new(),
                analysed: Vec::new(),
                last: first,
                late: 0,
            };
            self.open.push(Some(open));
            let index = self.open.len() - 1;
            self.refill(index, out);
            if self.stopped {
                return;
            }
        }
    }

    /// Reads input `index`'s next batch (its rejects go into `out`) and queues its head;
    /// an input at its end is closed.
    fn refill(&mut self, index: usize, out: &mut Batch) {
        let Some(open) = self.open[index].as_mut() else {
            return;
        };
        while open.is_empty() {
            match open.stream.next() {
                Some(Ok(mut batch)) => {
                    self.stats.bytes += batch.bytes;
                    out.bytes += batch.bytes;
                    self.stats.rejected += batch.rejects.len() as u64;
                    out.rejects.append(&mut batch.rejects);
                    open.records.extend(batch.records.drain(..).rev());
                    open.analysed.extend(batch.analysed.drain(..).rev());
                    open.stream.recycle(batch);
                    if let Some(limit) = self.errors.limit()
                        && self.stats.rejected > limit
                    {
                        let over = (self.stats.rejected - limit - 1) as usize;
                        out.rejects.truncate(out.rejects.len().saturating_sub(over));
                        self.stats.rejected = limit + 1;
                        self.stop(ReadError::TooManyRejects {
                            rejected: self.stats.rejected,
                            policy: self.errors.to_string(),
                        });
                        return;
                    }
                }
                Some(Err(e)) => {
                    self.stop(e);
                    return;
                }
                None => {
                    let open = self.open[index].take().expect("open above");
                    if open.late > 0 {
                        self.out_of_order.push((open.name, open.late));
                    }
                    return;
                }
            }
        }
        self.heads.push(Reverse((open.next_time(), index)));
    }

    fn stop(&mut self, error: ReadError) {
        self.stopped = true;
        self.pending_error = Some(error);
        self.open.clear();
        self.heads.clear();
        self.waiting.clear();
    }
}

impl Iterator for MergedStream {
    type Item = Result<Batch, ReadError>;

    /// The next batch of records in event-time order; after an error (the error policy
    /// exceeded), the batch that exceeded it, then the error, then the end.
    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped && self.pending_error.is_none() {
            return None;
        }
        if let Some(error) = self.pending_error.take() {
            return Some(Err(error));
        }
        let mut out = Batch::default();
        while out.len() < BATCH_RECORDS && !self.stopped {
            self.open_due(&mut out);
            let Some(Reverse((_, index))) = self.heads.pop() else {
                break;
            };
            let open = self.open[index]
                .as_mut()
                .expect("a head is of an open input");
            match open.take_next(&mut out) {
                Some(ts) => {
                    if ts < open.last - OUT_OF_ORDER_MICROS {
                        open.late += 1;
                    }
                    open.last = open.last.max(ts);
                    self.stats.exchanges += 1;
                }
                None => self.stats.accounts += 1,
            }
            if open.is_empty() {
                self.refill(index, &mut out);
            } else {
                self.heads.push(Reverse((open.next_time(), index)));
            }
        }
        if out.is_empty() && out.rejects.is_empty() {
            return self.pending_error.take().map(Err);
        }
        Some(Ok(out))
    }
}

/// The event time of the first exchange of `source` (the earliest possible when it holds
/// none, so that its account records and rejects come first).
fn first_exchange_time(source: &Source, options: &ReadOptions) -> i64 {
    let peek = ReadOptions {
        threads: 1,
        analyse: false,
        ..options.clone()
    };
    let stream = RecordStream::open(vec![source.clone()], &peek);
    for batch in stream {
        let Ok(batch) = batch else { break };
        if let Some(ts) = batch.records.iter().find_map(|r| match r {
            Record::Exchange(e) => Some(e.ts.as_unix_micros()),
            Record::Account(_) => None,
        }) {
            return ts;
        }
    }
    i64::MIN
}

/// The records of the inputs: one input read as it is, several merged in event-time order.
pub enum Inputs {
    /// One input.
    One(RecordStream),
    /// Several, merged.
    Merged(MergedStream),
}

impl Inputs {
    /// Reads `sources` with `options`: several are merged in event-time order, unless
    /// standard input is among them (it cannot be read twice, to find its first time:
    /// the inputs are then read in the order given).
    pub fn open(sources: Vec<Source>, options: &ReadOptions) -> Self {
        if sources.len() > 1 && !sources.contains(&Source::Stdin) {
            Inputs::Merged(MergedStream::open(sources, options))
        } else {
            Inputs::One(RecordStream::open(sources, options))
        }
    }

    /// What was read so far.
    pub fn stats(&self) -> ReadStats {
        match self {
            Inputs::One(s) => s.stats(),
            Inputs::Merged(s) => s.stats(),
        }
    }

    /// Hands a used batch back (see [`RecordStream::recycle`]).
    pub fn recycle(&self, batch: Batch) {
        if let Inputs::One(s) = self {
            s.recycle(batch);
        }
    }

    /// The inputs found out of time order ([`MergedStream::out_of_order`]).
    pub fn out_of_order(&self) -> &[(Arc<str>, u64)] {
        match self {
            Inputs::One(_) => &[],
            Inputs::Merged(s) => s.out_of_order(),
        }
    }
}

impl Iterator for Inputs {
    type Item = Result<Batch, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Inputs::One(s) => s.next(),
            Inputs::Merged(s) => s.next(),
        }
    }
}
