//! Decoding: the jobs an input is split into become records and rejects, on any thread.

use std::sync::Arc;

use memchr::memchr_iter;
use moat_core::{AnalysedRecord, Record};

use crate::format::parquet::decode_batch;
use crate::format::{Format, Reason};
use crate::framing::is_blank;
use crate::reject::{Location, Reject};
use crate::split::Job;

/// Records read from one stretch of an input, in input order, with the records of it that
/// were rejected.
#[derive(Debug, Default)]
pub struct Batch {
    /// The records, in input order.
    pub records: Vec<Record>,
    /// The rejected records, in input order.
    pub rejects: Vec<Reject>,
    /// Input bytes this batch covers (after decompression; 0 for Parquet rows).
    pub bytes: u64,
    /// The input it was read from, and the format it was read as (told from the input
    /// itself with [`Format::Auto`]); `None` for a batch of rejects alone.
    pub read_as: Option<(Arc<str>, Format)>,
    /// With [`ReadOptions::analyse`](crate::ReadOptions::analyse), the records with their
    /// exchanges analysed and their text dropped, in input order (and `records` empty).
    pub analysed: Vec<AnalysedRecord>,
}

impl Batch {
    /// Analyses every exchange and drops its text: the records move to `analysed`.
    pub(crate) fn analyse(&mut self) {
        self.analysed.extend(self.records.drain(..).map(|record| {
            let mut analysed = AnalysedRecord::of(record);
            if let AnalysedRecord::Exchange(a) = &mut analysed {
                a.drop_text();
            }
            analysed
        }));
    }

    /// How many records it holds, analysed or not.
    pub fn len(&self) -> usize {
        self.records.len() + self.analysed.len()
    }

    /// How many of its records are exchanges.
    pub fn exchanges(&self) -> u64 {
        let read = self.records.iter();
        let analysed = self.analysed.iter();
        (read.filter(|r| matches!(r, Record::Exchange(_))).count()
            + analysed
                .filter(|r| matches!(r, AnalysedRecord::Exchange(_)))
                .count()) as u64
    }

    /// Whether it holds no record (it may hold rejects).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the batch, keeping the room its vectors have.
    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.rejects.clear();
        self.analysed.clear();
        self.bytes = 0;
        self.read_as = None;
    }
}

/// Why a record of `bytes` is skipped, over the limit of `max` bytes.
fn too_long(bytes: usize, max: usize) -> String {
    format!(
        "record of {bytes} bytes is longer than the limit of {max} bytes; skipped (raise \
         --max-record-bytes to read it)"
    )
}

/// Decodes one job, adding its records and rejects to `batch`.
/// With `analyse`, each record is analysed as soon as it is decoded, so that the records
/// as read never pile up beside the analysed ones.
pub(crate) fn decode_job(source: &Arc<str>, job: Job, batch: &mut Batch, analyse: bool) {
    let mut rejects = Vec::new();
    let format = match &job {
        Job::Lines { format, .. } | Job::Values { format, .. } => format.format(),
        Job::Rows(_) => Format::Parquet,
    };
    batch.read_as = Some((source.clone(), format));
    match job {
        Job::Lines {
            format,
            bytes,
            first_line,
            max_record,
        } => {
            batch.bytes += bytes.len() as u64;
            let mut start = 0;
            let ends = memchr_iter(b'\n', &bytes).chain(std::iter::once(bytes.len()));
            for (line, end) in (first_line..).zip(ends) {
                let text = &bytes[start..end];
                if start < bytes.len() && !is_blank(text) {
                    if text.len() > max_record {
                        let reason = too_long(text.len(), max_record);
                        batch
                            .rejects
                            .push(Reject::new(source, Location::Line(line), reason));
                    } else {
                        format.decode(text, &mut batch.records, &mut rejects);
                        if analyse {
                            batch.analyse();
                        }
                        push_rejects(&mut batch.rejects, source, &mut rejects, line);
                    }
                }
                start = end + 1;
            }
        }
        Job::Values {
            format,
            bytes,
            spans,
            max_record,
        } => {
            batch.bytes += bytes.len() as u64;
            for span in spans {
                let text = &bytes[span.start..span.end];
                if text.len() > max_record {
                    let reason = too_long(text.len(), max_record);
                    let at = Location::Line(span.line);
                    batch.rejects.push(Reject::new(source, at, reason));
                } else {
                    format.decode(text, &mut batch.records, &mut rejects);
                    if analyse {
                        batch.analyse();
                    }
                    push_rejects(&mut batch.rejects, source, &mut rejects, span.line);
                }
            }
        }
        Job::Rows(rows) => {
            let mut row_rejects = Vec::new();
            decode_batch(
                &rows.batch,
                &rows.columns,
                &mut batch.records,
                &mut row_rejects,
            );
            batch
                .rejects
                .extend(row_rejects.into_iter().map(|(row, reason)| {
                    let location = Location::Row {
                        group: rows.group,
                        row: rows.first_row + row,
                    };
                    Reject::new(source, location, reason)
                }));
            if analyse {
                batch.analyse();
            }
        }
    }
}

/// Turns the rejects of the record that starts at `line` into [`Reject`]s.
fn push_rejects(
    out: &mut Vec<Reject>,
    source: &Arc<str>,
    rejects: &mut Vec<(Option<u64>, Reason)>,
    line: u64,
) {
    for (item, reason) in rejects.drain(..) {
        let location = match item {
            Some(index) => Location::Item { line, index },
            None => Location::Line(line),
        };
        out.push(Reject::new(source, location, reason.placed(line)));
    }
}
