//! Cutting a byte stream into chunks of whole JSON records, in bounded memory.
//!
//! Two framings: [`LineFramer`] for JSON Lines (one record a line, the fast common case;
//! a broken line harms only itself) and [`ValueFramer`] for everything else a gateway
//! writes: a JSON array of records, or records pretty-printed over many lines.

use std::io::{self, Read};

use memchr::{memchr, memchr_iter, memrchr};

/// One piece of a framed stream.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Whole lines, starting at line `first_line` (1-based); each line is one record.
    Lines { bytes: Vec<u8>, first_line: u64 },
    /// Whole JSON values at the given spans of `bytes`.
    Values { bytes: Vec<u8>, spans: Vec<Span> },
    /// A record that could not be framed; the stream goes on after it.
    Broken { line: u64, reason: String },
}

/// Where one JSON value lies in a [`Piece::Values`] buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    /// The line the value starts on (1-based).
    pub line: u64,
}

/// Reads up to `want` more bytes into `buf`; returns how many (0 at the end).
fn read_more(reader: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    let old = buf.len();
    buf.resize(old + want, 0);
    let result = loop {
        match reader.read(&mut buf[old..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    let n = *result.as_ref().unwrap_or(&0);
    buf.truncate(old + n);
    result
}

/// True when `bytes` hold nothing but JSON white space.
pub(crate) fn is_blank(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Frames JSON Lines: chunks of about `chunk_size` bytes cut after a newline.
pub(crate) struct LineFramer<R> {
    reader: R,
    buf: Vec<u8>,
    next_line: u64,
    chunk_size: usize,
    max_record: usize,
    eof: bool,
    /// A read error, returned once what was read before it is handed out.
    failed: Option<io::Error>,
}

/// Reads more into `buf`; an error ends the stream and is kept for later, so that the
/// records read before it are not lost.
fn fill(
    reader: &mut dyn Read,
    buf: &mut Vec<u8>,
    want: usize,
    eof: &mut bool,
    failed: &mut Option<io::Error>,
) {
    if *eof {
        return;
    }
    match read_more(reader, buf, want) {
        Ok(0) => *eof = true,
        Ok(_) => {}
        Err(e) => {
            *eof = true;
            *failed = Some(e);
        }
    }
}

impl<R: Read> LineFramer<R> {
    /// Frames `reader`, whose first bytes `head` were already read.
    pub fn new(reader: R, head: Vec<u8>, chunk_size: usize, max_record: usize) -> Self {
        Self {
            reader,
            buf: head,
            next_line: 1,
            chunk_size,
            max_record,
            eof: false,
            failed: None,
        }
    }

    fn fill(&mut self, want: usize) {
        fill(
            &mut self.reader,
            &mut self.buf,
            want,
            &mut self.eof,
            &mut self.failed,
        );
    }

    fn end(&mut self) -> io::Result<Option<Piece>> {
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// The next piece, or `None` at the end of the stream.
    pub fn next_piece(&mut self) -> io::Result<Option<Piece>> {
        while !self.eof && self.buf.len() < self.chunk_size {
            self.fill(self.chunk_size - self.buf.len());
        }
        let mut searched = 0;
        loop {
            if let Some(p) = memrchr(b'\n', &self.buf[searched..]) {
                let rest = self.buf.split_off(searched + p + 1);
                let bytes = std::mem::replace(&mut self.buf, rest);
                return Ok(Some(self.lines(bytes)));
            }
            if self.eof {
                if self.buf.is_empty() {
                    return self.end();
                }
                let bytes = std::mem::take(&mut self.buf);
                return Ok(Some(self.lines(bytes)));
            }
            if self.buf.len() > self.max_record {
                return Ok(Some(self.skip_long_line()));
            }
            searched = self.buf.len();
            self.fill(self.chunk_size);
        }
    }

    fn lines(&mut self, bytes: Vec<u8>) -> Piece {
        let first_line = self.next_line;
        self.next_line += memchr_iter(b'\n', &bytes).count() as u64;
        Piece::Lines { bytes, first_line }
    }

    /// Drops the line in `buf`, too long to keep, up to its end.
    fn skip_long_line(&mut self) -> Piece {
        let line = self.next_line;
        let mut skipped = self.buf.len();
        self.buf.clear();
        loop {
            self.fill(self.chunk_size);
            if let Some(p) = memchr(b'\n', &self.buf) {
                skipped += p;
                self.buf.drain(..=p);
                self.next_line += 1;
                break;
            }
            skipped += self.buf.len();
            self.buf.clear();
            if self.eof {
                break;
            }
        }
        Piece::Broken {
            line,
            reason: format!(
                "line of {skipped} bytes is longer than the limit of {} bytes; skipped (raise --max-record-bytes to read it)",
                self.max_record
            ),
        }
    }
}

/// Where a [`ValueFramer`] stands between bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records.
    Between,
    /// Inside a record, outside any string.
    InValue,
    /// Inside a string of a record.
    InString,
    /// Just after a backslash inside a string.
    Escape,
    /// Skipping what is left of a line that held no record.
    SkipLine,
}

/// Frames a stream of JSON objects that may span lines, bare or as the elements of
/// top-level arrays (`[{...}, {...}]`), tracking depth and strings byte by byte.
pub(crate) struct ValueFramer<R> {
    reader: R,
    buf: Vec<u8>,
    /// Bytes of `buf` before this were looked at.
    pos: usize,
    /// Lines counted up to `counted` in `buf`.
    line: u64,
    counted: usize,
    state: State,
    depth: u32,
    in_array: bool,
    /// Start and line of the record being read.
    start: usize,
    start_line: u64,
    /// The record being read is too long: its bytes are being dropped.
    dropping: bool,
    spans: Vec<Span>,
    /// End of the last whole record in `buf`.
    done_to: usize,
    chunk_size: usize,
    max_record: usize,
    eof: bool,
    failed: Option<io::Error>,
    pending: Option<Piece>,
}

impl<R: Read> ValueFramer<R> {
    /// Frames `reader`, whose first bytes `head` were already read.
    pub fn new(reader: R, head: Vec<u8>, chunk_size: usize, max_record: usize) -> Self {
        Self {
            reader,
            buf: head,
            pos: 0,
            line: 1,
            counted: 0,
            state: State::Between,
            depth: 0,
            in_array: false,
            start: 0,
            start_line: 1,
            dropping: false,
            spans: Vec::new(),
            done_to: 0,
            chunk_size,
            max_record,
            eof: false,
            failed: None,
            pending: None,
        }
    }

    fn line_at(&mut self, at: usize) -> u64 {
        self.line += memchr_iter(b'\n', &self.buf[self.counted..at]).count() as u64;
        self.counted = at;
        self.line
    }

    /// The first byte of `buf` still needed: the start of the record being read, unless
    /// it is being dropped.
    fn keep_from(&self) -> usize {
        if matches!(self.state, State::Between | State::SkipLine) || self.dropping {
            self.pos
        } else {
            self.start
        }
    }

    /// Forgets the first `n` bytes of `buf`, counting their lines.
    fn shift(&mut self, n: usize) {
        self.line_at(n);
        self.buf.drain(..n);
        self.pos -= n;
        self.counted -= n;
        self.start = self.start.saturating_sub(n);
    }

    /// Hands out the whole records gathered so far, keeping the partial one.
    fn take_values(&mut self) -> Option<Piece> {
        if self.spans.is_empty() {
            return None;
        }
        let keep_from = self.keep_from();
        self.line_at(keep_from);
        let rest = self.buf[keep_from..].to_vec();
        let mut bytes = std::mem::replace(&mut self.buf, rest);
        bytes.truncate(self.done_to);
        self.pos -= keep_from;
        self.counted -= keep_from;
        self.start = self.start.saturating_sub(keep_from);
        self.done_to = 0;
        Some(Piece::Values {
            bytes,
            spans: std::mem::take(&mut self.spans),
        })
    }

    /// The next piece, or `None` at the end of the stream.
    pub fn next_piece(&mut self) -> io::Result<Option<Piece>> {
        loop {
            if let Some(piece) = self.pending.take() {
                return Ok(Some(piece));
            }
            if self.pos >= self.buf.len() {
                if (self.done_to >= self.chunk_size || self.eof || self.dropping)
                    && let Some(values) = self.take_values()
                {
                    return Ok(Some(values));
                }
                if self.eof {
                    if let Some(broken) = self.finish() {
                        return Ok(Some(broken));
                    }
                    return match self.failed.take() {
                        Some(e) => Err(e),
                        None => Ok(None),
                    };
                }
                if self.spans.is_empty() {
                    let keep_from = self.keep_from();
                    self.shift(keep_from);
                }
                fill(
                    &mut self.reader,
                    &mut self.buf,
                    self.chunk_size,
                    &mut self.eof,
                    &mut self.failed,
                );
                continue;
            }
            self.scan();
        }
    }

    /// What is left at the end of the stream: a record cut short, or nothing.
    fn finish(&mut self) -> Option<Piece> {
        if matches!(self.state, State::Between | State::SkipLine) {
            return None;
        }
        self.state = State::Between;
        Some(Piece::Broken {
            line: self.start_line,
            reason: "the input ends inside this record (truncated?)".to_owned(),
        })
    }

    /// Looks at the bytes from `pos` on, until the buffer ends or a piece is ready.
    fn scan(&mut self) {
        while self.pos < self.buf.len() && self.pending.is_none() {
            match self.state {
                State::Between => self.scan_between(),
                State::InString => match memchr::memchr2(b'"', b'\\', &self.buf[self.pos..]) {
                    Some(i) => {
                        self.state = if self.buf[self.pos + i] == b'"' {
                            State::InValue
                        } else {
                            State::Escape
                        };
                        self.pos += i + 1;
                    }
                    None => self.pos = self.buf.len(),
                },
                State::Escape => {
                    self.state = State::InString;
                    self.pos += 1;
                }
                State::InValue => self.scan_value(),
                State::SkipLine => match memchr(b'\n', &self.buf[self.pos..]) {
                    Some(i) => {
                        self.state = State::Between;
                        self.pos += i + 1;
                    }
                    None => self.pos = self.buf.len(),
                },
            }
            if matches!(self.state, State::InValue | State::InString | State::Escape)
                && !self.dropping
                && self.pos - self.start > self.max_record
            {
                self.dropping = true;
                self.pending = Some(Piece::Broken {
                    line: self.start_line,
                    reason: format!(
                        "record is longer than the limit of {} bytes; skipped (raise --max-record-bytes to read it)",
                        self.max_record
                    ),
                });
            }
        }
    }

    fn scan_between(&mut self) {
        let b = self.buf[self.pos];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
            b',' if self.in_array => self.pos += 1,
            b'[' if !self.in_array => {
                self.in_array = true;
                self.pos += 1;
            }
            b']' if self.in_array => {
                self.in_array = false;
                self.pos += 1;
            }
            b'{' => {
                self.start = self.pos;
                self.start_line = self.line_at(self.pos);
                self.state = State::InValue;
                self.depth = 1;
                self.pos += 1;
            }
            0xEF if self.buf[self.pos..].starts_with(&[0xEF, 0xBB, 0xBF]) => self.pos += 3,
            _ => {
                let line = self.line_at(self.pos);
                let shown = if b.is_ascii_graphic() {
                    format!("{:?}", b as char)
                } else {
                    format!("byte 0x{b:02x}")
                };
                self.pending = Some(Piece::Broken {
                    line,
                    reason: format!(
                        "expected a JSON object, found {shown}; skipped to the next line"
                    ),
                });
                self.state = State::SkipLine;
            }
        }
    }

    fn scan_value(&mut self) {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            self.pos += 1;
            match b {
                b'"' => {
                    self.state = State::InString;
                    return;
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.state = State::Between;
                        if self.dropping {
                            self.dropping = false;
                        } else {
                            self.spans.push(Span {
                                start: self.start,
                                end: self.pos,
                                line: self.start_line,
                            });
                            self.done_to = self.pos;
                        }
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_pieces(input: &[u8], chunk: usize, max: usize) -> Vec<Piece> {
        let mut f = LineFramer::new(input, Vec::new(), chunk, max);
        std::iter::from_fn(|| f.next_piece().unwrap()).collect()
    }

    /// Records as (text, line), and rejects as (line, reason).
    type Framed = (Vec<(String, u64)>, Vec<(u64, String)>);

    fn values(input: &[u8], chunk: usize, max: usize) -> Framed {
        let mut f = ValueFramer::new(input, Vec::new(), chunk, max);
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        while let Some(piece) = f.next_piece().unwrap() {
            match piece {
                Piece::Values { bytes, spans } => {
                    for s in spans {
                        good.push((
                            String::from_utf8(bytes[s.start..s.end].to_vec()).unwrap(),
                            s.line,
                        ));
                    }
                }
                Piece::Broken { line, reason } => bad.push((line, reason)),
                Piece::Lines { .. } => unreachable!(),
            }
        }
        (good, bad)
    }

    #[test]
    fn lines_are_cut_at_newlines_and_numbered() {
        let input = b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}";
        let pieces = line_pieces(input, 10, 1000);
        let mut all = Vec::new();
        let mut expected_line = 1;
        for p in pieces {
            let Piece::Lines { bytes, first_line } = p else {
                panic!("{p:?}")
            };
            assert_eq!(first_line, expected_line);
            expected_line += memchr_iter(b'\n', &bytes).count() as u64;
            all.extend(bytes);
        }
        assert_eq!(all, input);
    }

    #[test]
    fn overlong_line_is_skipped_and_reading_goes_on() {
        let long = "x".repeat(5000);
        let input = format!("{{\"a\":1}}\n{{\"p\":\"{long}\"}}\n{{\"a\":3}}\n");
        let pieces = line_pieces(input.as_bytes(), 64, 1000);
        let mut kept = String::new();
        let mut broken = Vec::new();
        for p in pieces {
            match p {
                Piece::Lines { bytes, first_line } => {
                    if bytes.starts_with(b"{\"a\":3}") {
                        assert_eq!(first_line, 3);
                    }
                    kept.push_str(std::str::from_utf8(&bytes).unwrap())
                }
                Piece::Broken { line, .. } => broken.push(line),
                Piece::Values { .. } => unreachable!(),
            }
        }
        assert_eq!(broken, vec![2]);
        assert_eq!(kept, "{\"a\":1}\n{\"a\":3}\n");
    }

    #[test]
    fn values_of_a_pretty_printed_array() {
        let input = b"[\n  {\"a\": \"x}]\\\"\",\n   \"b\": [1, {\"c\": 2}]},\n  {\"a\": 2}\n]\n";
        for chunk in [1, 3, 7, 1024] {
            let (good, bad) = values(input, chunk, 1 << 20);
            assert!(bad.is_empty(), "{bad:?}");
            assert_eq!(
                good,
                vec![
                    (
                        "{\"a\": \"x}]\\\"\",\n   \"b\": [1, {\"c\": 2}]}".to_owned(),
                        2
                    ),
                    ("{\"a\": 2}".to_owned(), 4)
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn concatenated_objects_and_garbage() {
        let input = b"{\"a\":1}{\"a\":2}\ngarbage here\n{\"a\":\n3}\n{\"cut\": \"off";
        let (good, bad) = values(input, 4, 1 << 20);
        let texts: Vec<_> = good.iter().map(|(t, l)| (t.as_str(), *l)).collect();
        assert_eq!(
            texts,
            vec![("{\"a\":1}", 1), ("{\"a\":2}", 1), ("{\"a\":\n3}", 3)]
        );
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].0, 2);
        assert!(bad[0].1.contains("expected a JSON object"));
        assert_eq!(bad[1].0, 5);
        assert!(bad[1].1.contains("truncated"));
    }

    #[test]
    fn overlong_value_is_dropped() {
        let long = "y".repeat(3000);
        let input = format!("[{{\"a\":1}},\n{{\"p\":\"{long}\"}},\n{{\"a\":3}}]");
        let (good, bad) = values(input.as_bytes(), 16, 500);
        let texts: Vec<_> = good.iter().map(|(t, l)| (t.as_str(), *l)).collect();
        assert_eq!(texts, vec![("{\"a\":1}", 1), ("{\"a\":3}", 3)]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 2);
    }
}
