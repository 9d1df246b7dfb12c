//! Decoding one request body held in memory, within bounds: a body is read from someone
//! who may be about to be blocked, and a few kilobytes of zstd can expand to gigabytes.
//! What a body expands to, the records it holds and the rejects kept are all bounded;
//! decoding stops as soon as one bound is passed.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use moat_core::Record;

use crate::decode::{Batch, decode_job};
use crate::format::Format;
use crate::pipeline::DEFAULT_MAX_RECORD_BYTES;
use crate::reject::{Location, Reject};
use crate::source::{Opened, open_bytes};
use crate::split::{Job, JobSink, SplitOptions, Stopped, split};

/// How much one body may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Bytes the body may expand to once decompressed.
    pub max_bytes: u64,
    /// Records it may hold.
    pub max_records: usize,
    /// Rejects kept before decoding stops (the body is refused at the first anyway; the
    /// rest would only be counted).
    pub max_rejects: usize,
}

impl BodyLimits {
    /// No bound but memory: for inputs the operator gave.
    pub const NONE: Self = Self {
        max_bytes: u64::MAX,
        max_records: usize::MAX,
        max_rejects: usize::MAX,
    };
}

/// A body that passed one of its [`BodyLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyTooLarge {
    /// It expands to more bytes than allowed.
    #[error("the body expands to more than {0} bytes once decompressed")]
    Bytes(u64),
    /// It holds more records than allowed.
    #[error("the body holds more than {0} records")]
    Records(usize),
}

/// What a body held: its records and rejects in input order; `rejects_cut` when decoding
/// stopped at [`BodyLimits::max_rejects`] (there may be more).
#[derive(Debug, Default)]
pub struct DecodedBody {
    /// The records read.
    pub records: Vec<Record>,
    /// The records rejected, at most `max_rejects`.
    pub rejects: Vec<Reject>,
    /// Decoding stopped at the reject bound.
    pub rejects_cut: bool,
}

/// Decodes a body (JSON Lines, a JSON document or Parquet, plain or gzip or zstd) within
/// `limits`; `source` names it in rejects.
pub fn decode_body(
    bytes: &[u8],
    format: Format,
    source: &str,
    limits: BodyLimits,
) -> Result<DecodedBody, BodyTooLarge> {
    let source: Arc<str> = Arc::from(source);
    let mut sink = Bounded {
        source: source.clone(),
        batch: Batch::default(),
        limits,
        too_large: None,
        rejects_cut: false,
    };
    let expanded = Arc::new(AtomicBool::new(false));
    let options = SplitOptions {
        format,
        chunk_bytes: 1 << 20,
        max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        columns: Default::default(),
    };
    match open_bytes(bytes) {
        Ok(Opened::Stream(stream)) => {
            let limited = Limited {
                inner: stream,
                left: limits.max_bytes,
                passed: expanded.clone(),
            };
            let _ = split(
                Opened::Stream(Box::new(limited)),
                options.clone(),
                &mut sink,
            );
        }
        Ok(opened) => {
            let _ = split(opened, options, &mut sink);
        }
        Err(e) => sink
            .batch
            .rejects
            .push(Reject::new(&source, Location::Input, e.to_string())),
    }
    if expanded.load(Ordering::Relaxed) {
        return Err(BodyTooLarge::Bytes(limits.max_bytes));
    }
    if let Some(too_large) = sink.too_large {
        return Err(too_large);
    }
    Ok(DecodedBody {
        records: sink.batch.records,
        rejects: sink.batch.rejects,
        rejects_cut: sink.rejects_cut,
    })
}

/// Collects a body's jobs, decoded at once, and stops at its bounds.
struct Bounded {
    source: Arc<str>,
    batch: Batch,
    limits: BodyLimits,
    too_large: Option<BodyTooLarge>,
    rejects_cut: bool,
}

impl Bounded {
    fn check(&mut self) -> Result<(), Stopped> {
        if self.batch.records.len() > self.limits.max_records {
            self.too_large = Some(BodyTooLarge::Records(self.limits.max_records));
            return Err(Stopped);
        }
        if self.batch.rejects.len() >= self.limits.max_rejects {
            self.batch.rejects.truncate(self.limits.max_rejects);
            self.rejects_cut = true;
            return Err(Stopped);
        }
        Ok(())
    }
}

impl JobSink for Bounded {
    fn job(&mut self, job: Job) -> Result<(), Stopped> {
        decode_job(&self.source, job, &mut self.batch, false);
        self.check()
    }

    fn reject(&mut self, location: Location, reason: String) -> Result<(), Stopped> {
        self.batch
            .rejects
            .push(Reject::new(&self.source, location, reason));
        self.check()
    }
}

/// A decompressed stream that fails once it has given `left` bytes, and says so.
struct Limited {
    inner: Box<dyn Read + Send>,
    left: u64,
    passed: Arc<AtomicBool>,
}

impl Read for Limited {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte more than allowed is asked for, to tell "exactly at the bound" from "past".
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            self.passed.store(true, Ordering::Relaxed);
            return Err(io::Error::other("the body expands past its bound"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads an input held in memory (a request body, say) on the calling thread: the same
/// formats, framing and rejects as a [`RecordStream`](crate::RecordStream), with
/// [`Format::Auto`] telling the format from the first records.
pub fn decode_bytes(bytes: &[u8], format: Format, source: &str) -> (Vec<Record>, Vec<Reject>) {
    match decode_body(bytes, format, source, BodyLimits::NONE) {
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
    use std::io::Write;

    const LINE: &str =
        r#"{"ts":"2026-03-01T00:00:00Z","account_id":"a","request":{"prompt":"hi"}}"#;

    fn lines(n: usize) -> Vec<u8> {
        let mut body = Vec::new();
        for _ in 0..n {
            body.extend_from_slice(LINE.as_bytes());
            body.push(b'\n');
        }
        body
    }

    fn limits(max_bytes: u64, max_records: usize) -> BodyLimits {
        BodyLimits {
            max_bytes,
            max_records,
            max_rejects: 10,
        }
    }

    #[test]
    fn a_small_zstd_body_that_expands_past_the_bound_is_refused() {
        let plain = lines(200_000);
        let bomb = zstd::bulk::compress(&plain, 19).unwrap();
        assert!(
            bomb.len() * 100 < plain.len(),
            "the body is a compression bomb"
        );
        let refused = decode_body(&bomb, Format::Auto, "body", limits(1 << 20, usize::MAX));
        assert_eq!(refused.unwrap_err(), BodyTooLarge::Bytes(1 << 20));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let refused = decode_body(&gz, Format::Auto, "body", limits(1 << 20, usize::MAX));
        assert_eq!(refused.unwrap_err(), BodyTooLarge::Bytes(1 << 20));
        // Within its bounds the same body is read whole.
        let read = decode_body(&bomb, Format::Auto, "body", BodyLimits::NONE).unwrap();
        assert_eq!(read.records.len(), 200_000);
    }

    #[test]
    fn records_and_rejects_are_bounded() {
        let body = lines(5_000);
        let refused = decode_body(&body, Format::Auto, "body", limits(u64::MAX, 1_000));
        assert_eq!(refused.unwrap_err(), BodyTooLarge::Records(1_000));
        let exact = decode_body(&lines(1_000), Format::Auto, "body", limits(u64::MAX, 1_000));
        assert_eq!(exact.unwrap().records.len(), 1_000);
        let bad = "not json\n".repeat(100_000);
        let read = decode_body(
            bad.as_bytes(),
            Format::ExchangeV1,
            "body",
            limits(u64::MAX, 10),
        )
        .unwrap();
        assert_eq!(read.rejects.len(), 10);
        assert!(read.rejects_cut);
    }
}
