//! Splitting one input into jobs: tell its format and framing, frame it, and hand out
//! chunks of whole records (and the rejects found on the way) in input order.

use std::io::{self, Read};
use std::sync::Arc;

use crate::format::parquet::{ColumnMap, ParquetBatches, RowBatch};
use crate::format::{Format, JsonFormat};
use crate::framing::{LineFramer, Piece, Span, ValueFramer, is_blank};
use crate::reject::Location;
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
