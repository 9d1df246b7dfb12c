//! Writing exchange v1 JSON Lines, fast.

use std::io::{self, Write};

use serde::Serialize;

/// How many bytes are gathered before they are written out.
const FLUSH_AT: usize = 1 << 20;

/// Writes records (exchanges, account records) as JSON Lines, one object a line, through
/// a buffer of its own (so `out` needs no buffering).
pub struct JsonLinesWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> JsonLinesWriter<W> {
    /// A writer to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            buf: Vec::with_capacity(FLUSH_AT + (64 << 10)),
        }
    }

    /// Writes one record as a line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        sonic_rs::to_writer(&mut self.buf, record).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes out what is buffered and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, decode_bytes};
    use moat_core::{Exchange, Record};

    #[test]
    fn writes_lines_that_read_back() {
        let exchanges: Vec<Exchange> = (0..3)
            .map(|i| Exchange {
                ts: moat_core::EventTime::from_unix_micros(1_714_000_000_000_000 + i).unwrap(),
                account_id: format!("a{i}").into(),
                model: Some("m \"quoted\" é".into()),
                ..Exchange::default()
            })
            .collect();
        let mut w = JsonLinesWriter::new(Vec::new());
        for e in &exchanges {
            w.write(e).unwrap();
        }
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 3);
        assert_eq!(
            bytes,
            exchanges
                .iter()
                .map(|e| serde_json::to_string(e).unwrap() + "\n")
                .collect::<String>()
                .into_bytes()
        );
        let (records, rejects) = decode_bytes(&bytes, Format::ExchangeV1, "t");
        assert!(rejects.is_empty());
        assert_eq!(
            records,
            exchanges
                .into_iter()
                .map(Record::Exchange)
                .collect::<Vec<_>>()
        );
    }
}
