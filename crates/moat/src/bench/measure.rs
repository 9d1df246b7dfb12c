//! What the benchmarks measure with: the process's memory, and the time to read a file.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use moat_io::{ReadOptions, RecordStream, Source};

/// Bytes in a MiB.
pub(super) const MIB: u64 = 1 << 20;

/// A figure in KiB from this process's `/proc/self/status` (`VmRSS`, `VmHWM`; Linux, 0
/// elsewhere).
pub(super) fn status_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s
                .lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .unwrap_or(0.0)
}

/// The time for moat's reader to read the file, and the records it read; a record it
/// rejects is an error.
pub(super) fn time_reading(path: &Path, options: &ReadOptions) -> anyhow::Result<(Duration, u64)> {
    let start = Instant::now();
    let mut stream = RecordStream::open(vec![Source::File(path.to_owned())], options);
    let mut records = 0u64;
    while let Some(batch) = stream.next() {
        let batch = batch?;
        records += batch.len() as u64;
        stream.recycle(batch);
    }
    anyhow::ensure!(
        stream.stats().rejected == 0,
        "the benchmark file has rejected records"
    );
    Ok((start.elapsed(), records))
}

/// The time to read the file into memory and throw it away.
pub(super) fn time_read_only(path: &Path) -> anyhow::Result<Duration> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let start = Instant::now();
    while file.read(&mut buf)? > 0 {}
    Ok(start.elapsed())
}
