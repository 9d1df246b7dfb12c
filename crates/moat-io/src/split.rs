//! Splitting one input into jobs: tell its format and framing, frame it, and hand out
//! chunks of whole records (and the rejects found on the way) in input order.

use std::io::{self, Read};
use std::sync::Arc;

use memchr::memchr_iter;
use moat_core::Record;

use crate::decode::Batch;
use crate::format::parquet::{ColumnMap, ParquetBatches, RowBatch, decode_batch};
use crate::format::{Format, JsonFormat};
use crate::framing::{LineFramer, Piece, Span, ValueFramer, is_blank};
use crate::reject::{Location, Reject};
use crate::source::Opened;

/// A chunk of one input, ready to decode on any thread.
pub(crate) enum Job {
    /// Whole lines, one record each; a line over `max_record` bytes is rejected.
    Lines {
        format: JsonFormat,
        bytes: Vec<u8>,
        first_line: u64,
        max_record: usize,
    },
    /// Whole JSON values at the given spans; a value over `max_record` bytes is rejected.
    Values {
        format: JsonFormat,
        bytes: Vec<u8>,
        spans: Vec<Span>,
        max_record: usize,
    },
    /// Parquet rows.
    Rows(RowBatch),
}

/// The one reading the jobs went away: stop splitting.
pub(crate) struct Stopped;

/// Where the splitting of an input hands its jobs and rejects, in input order.
pub(crate) trait JobSink {
    /// Takes a chunk to decode.
    fn job(&mut self, job: Job) -> Result<(), Stopped>;
    /// Takes a reject found while splitting.
    fn reject(&mut self, location: Location, reason: String) -> Result<(), Stopped>;
}

/// How an input is split.
#[derive(Debug, Clone)]
pub(crate) struct SplitOptions {
    pub format: Format,
    pub chunk_bytes: usize,
    pub max_record_bytes: usize,
    /// Which Parquet column holds which field.
    pub columns: Arc<ColumnMap>,
}

/// How many bytes are read first to tell an input's format.
const SNIFF_BYTES: usize = 64 << 10;

/// Splits one opened input into `sink`.
pub(crate) fn split(
    opened: Opened,
    options: SplitOptions,
    sink: &mut dyn JobSink,
) -> Result<(), Stopped> {
    let mut stream = match opened {
        Opened::Parquet(file) => {
            return split_parquet(ParquetBatches::open(file, options.columns), sink);
        }
        Opened::ParquetBytes(bytes) => {
            return split_parquet(ParquetBatches::open(bytes, options.columns), sink);
        }
        Opened::Stream(stream) => stream,
    };
    let head = match read_until_first_record(&mut stream, options.max_record_bytes) {
        Ok(head) => head,
        Err(e) => return sink.reject(Location::Input, format!("cannot read: {e}")),
    };
    let (lines, sniffed) = sniff(&head);
    let format = match (options.format, sniffed) {
        (Format::Auto, Some(format)) => format,
        (Format::Auto, None) if is_blank(&head) => return Ok(()),
        (Format::Auto, None)
            if head.len() >= options.max_record_bytes && memchr::memchr(b'\n', &head).is_none() =>
        {
            return split_after_long_first_line(stream, head, &options, sink);
        }
        (Format::Auto, None) => {
            let reason = "cannot tell the format of this input; name it with --format";
            return sink.reject(Location::Input, reason.to_owned());
        }
        (Format::Parquet, _) => {
            return sink.reject(Location::Input, "not a Parquet file".to_owned());
        }
        (given, _) => JsonFormat::from_format(given).expect("every other format is JSON"),
    };
    let (chunk, max) = (options.chunk_bytes, options.max_record_bytes);
    if lines {
        let mut framer = LineFramer::new(stream, head, chunk, max);
        drain(format, max, sink, || framer.next_piece())
    } else {
        let mut framer = ValueFramer::new(stream, head, chunk, max);
        drain(format, max, sink, || framer.next_piece())
    }
}

/// Splits an input whose first line is longer than `max_record_bytes`: that line is
/// rejected and skipped unread, and the format told from the lines after it. (A first value
/// that long in a JSON array or a multi-line document cannot be skipped without reading
/// it whole: such an input is refused as one whose format cannot be told.)
fn split_after_long_first_line(
    stream: Box<dyn Read + Send>,
    head: Vec<u8>,
    options: &SplitOptions,
    sink: &mut dyn JobSink,
) -> Result<(), Stopped> {
    let max = options.max_record_bytes;
    let mut framer = LineFramer::new(stream, head, options.chunk_bytes, max);
    let (bytes, first_line) = loop {
        match framer.next_piece() {
            Ok(None) => return Ok(()),
            Ok(Some(Piece::Broken { line, reason })) => {
                sink.reject(Location::Line(line), reason)?
            }
            Ok(Some(Piece::Lines { bytes, first_line })) => break (bytes, first_line),
            Ok(Some(Piece::Values { .. })) => unreachable!("lines are framed as lines"),
            Err(e) => return sink.reject(Location::Input, format!("reading stopped: {e}")),
        }
    };
    let Some(format) = sniff(&bytes).1 else {
        let reason = "cannot tell the format of this input; name it with --format";
        return sink.reject(Location::Input, reason.to_owned());
    };
    sink.job(Job::Lines {
        format,
        bytes,
        first_line,
        max_record: max,
    })?;
    drain(format, max, sink, || framer.next_piece())
}

fn drain(
    format: JsonFormat,
    max_record: usize,
    sink: &mut dyn JobSink,
    mut next: impl FnMut() -> io::Result<Option<Piece>>,
) -> Result<(), Stopped> {
    loop {
        match next() {
            Ok(None) => return Ok(()),
            Ok(Some(Piece::Broken { line, reason })) => {
                sink.reject(Location::Line(line), reason)?
            }
            Ok(Some(Piece::Lines { bytes, first_line })) => sink.job(Job::Lines {
                format,
                bytes,
                first_line,
                max_record,
            })?,
            Ok(Some(Piece::Values { bytes, spans })) => sink.job(Job::Values {
                format,
                bytes,
                spans,
                max_record,
            })?,
            Err(e) => return sink.reject(Location::Input, format!("reading stopped: {e}")),
        }
    }
}

fn split_parquet<T>(
    batches: Result<ParquetBatches<T>, String>,
    sink: &mut dyn JobSink,
) -> Result<(), Stopped>
where
    T: crate::format::parquet::Reopen,
{
    let mut batches = match batches {
        Ok(b) => b,
        Err(reason) => return sink.reject(Location::Input, reason),
    };
    loop {
        match batches.next_batch() {
            Ok(Some(rows)) => sink.job(Job::Rows(rows))?,
            Ok(None) => return Ok(()),
            Err(reason) => sink.reject(Location::Input, reason)?,
        }
    }
}

/// Reads the start of a stream: at least [`SNIFF_BYTES`], and on until the first record
/// ends (or `max` bytes, or the end).
fn read_until_first_record(mut stream: &mut dyn Read, max: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        let want = SNIFF_BYTES.max(head.len());
        let got = (&mut stream).take(want as u64).read_to_end(&mut head)?;
        if got == 0 || head.len() >= max || first_record_end(&head).is_some() {
            return Ok(head);
        }
    }
}

/// A framer over `head` alone that hands out all its records in one piece.
fn head_framer(head: &[u8]) -> ValueFramer<&[u8]> {
    ValueFramer::new(head, Vec::new(), head.len() + 1, head.len() + 1)
}

/// Where the first JSON object of `head` ends, and whether it spans lines.
fn first_record_end(head: &[u8]) -> Option<(usize, bool)> {
    let mut framer = head_framer(head);
    while let Ok(Some(piece)) = framer.next_piece() {
        if let Piece::Values { bytes, spans } = piece {
            let first = spans.first()?;
            let multi_line = memchr::memchr(b'\n', &bytes[first.start..first.end]).is_some();
            return Some((first.end, multi_line));
        }
    }
    None
}

/// How many of an input's first records are looked at to tell its format.
const SNIFF_RECORDS: usize = 20;

/// Tells from the start of an input whether it is JSON Lines, and its format: that of the
/// first of its first records whose keys name one.
fn sniff(head: &[u8]) -> (bool, Option<JsonFormat>) {
    let start = head
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0xEF | 0xBB | 0xBF));
    let is_array = start.is_some_and(|i| head[i] == b'[');
    let multi_line = first_record_end(head).is_some_and(|(_, multi)| multi);
    let lines = !is_array && !multi_line;
    let mut framer = head_framer(head);
    while let Ok(Some(piece)) = framer.next_piece() {
        if let Piece::Values { bytes, spans } = piece {
            let format = spans
                .iter()
                .take(SNIFF_RECORDS)
                .find_map(|span| JsonFormat::sniff(&bytes[span.start..span.end]));
            return (lines, format);
        }
    }
    (lines, None)
}

/// Why a record of `bytes` is skipped, over the limit of `max` bytes.
fn too_long(bytes: usize, max: usize) -> String {
    format!(
        "record of {bytes} bytes is longer than the limit of {max} bytes; skipped (raise \
         --max-record-bytes to read it)"
    )
}

/// Decodes one job, adding its records and rejects to `batch`.
pub(crate) fn decode_job(source: &Arc<str>, job: Job, batch: &mut Batch) {
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
        }
    }
}

/// Turns the rejects of the record that starts at `line` into [`Reject`]s.
fn push_rejects(
    out: &mut Vec<Reject>,
    source: &Arc<str>,
    rejects: &mut Vec<(Option<u64>, String)>,
    line: u64,
) {
    for (item, reason) in rejects.drain(..) {
        let location = match item {
            Some(index) => Location::Item { line, index },
            None => Location::Line(line),
        };
        out.push(Reject::new(source, location, relocate(&reason, line)));
    }
}

/// Parser messages count lines and columns from the start of the record; this makes the
/// line absolute (and drops it when the record is one line).
fn relocate(reason: &str, record_line: u64) -> String {
    let Some(at) = reason.rfind(" at line ") else {
        return reason.to_owned();
    };
    let rest = &reason[at + " at line ".len()..];
    let Some((line, column)) = rest.split_once(" column ") else {
        return reason.to_owned();
    };
    match (line.parse::<u64>(), column.parse::<u64>()) {
        (Ok(1), Ok(column)) => format!("{} at column {column}", &reason[..at]),
        (Ok(line), Ok(column)) => {
            format!(
                "{} at line {} column {column}",
                &reason[..at],
                record_line + line - 1
            )
        }
        _ => reason.to_owned(),
    }
}

/// Reads an input held in memory (a request body, say) on the calling thread: the same
/// formats, framing and rejects as a [`RecordStream`](crate::RecordStream), with
/// [`Format::Auto`] telling the format from the first records.
pub fn decode_bytes(bytes: &[u8], format: Format, source: &str) -> (Vec<Record>, Vec<Reject>) {
    match crate::body::decode_body(bytes, format, source, crate::body::BodyLimits::NONE) {
        Ok(body) => (body.records, body.rejects),
        Err(e) => (
            Vec::new(),
            vec![Reject::new(
                &Arc::from(source),
                Location::Input,
                e.to_string(),
            )],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocates_parser_positions() {
        assert_eq!(
            relocate("invalid JSON: x at line 1 column 9", 40),
            "invalid JSON: x at column 9"
        );
        assert_eq!(
            relocate("invalid JSON: x at line 3 column 2", 40),
            "invalid JSON: x at line 42 column 2"
        );
        assert_eq!(relocate("no account id", 40), "no account id");
    }
}
