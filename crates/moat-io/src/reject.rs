//! Rejected records: where they were and why, and when to give up.

use std::fmt;
use std::sync::Arc;

/// Where a record sits in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The whole input (it could not be opened or read).
    Input,
    /// A line of a text input (1-based): the line where the record starts.
    Line(u64),
    /// One item (a span, say) of a record that holds many, starting at a line.
    Item {
        /// The line where the holding record starts (1-based).
        line: u64,
        /// Which item of it (0-based).
        index: u64,
    },
    /// A row of a Parquet file (0-based over the file) and its row group.
    Row {
        /// The row group.
        group: u64,
        /// The row, counted over the whole file.
        row: u64,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Input => Ok(()),
            Location::Line(line) => write!(f, "line {line}"),
            Location::Item { line, index } => write!(f, "line {line}, item {index}"),
            Location::Row { group, row } => write!(f, "row group {group}, row {row}"),
        }
    }
}

/// The most characters of a reason that are kept: a reason names what is wrong, it
/// never carries a record's content.
const MAX_REASON_CHARS: usize = 240;

/// A record that could not be read, with its place and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The input it came from (a path, or `-` for standard input).
    pub source: Arc<str>,
    /// Where in the input.
    pub location: Location,
    /// Why it was rejected.
    pub reason: String,
}

impl Reject {
    /// A reject at `location` of `source`; a long reason is cut short.
    pub fn new(source: &Arc<str>, location: Location, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if let Some((cut, _)) = reason.char_indices().nth(MAX_REASON_CHARS) {
            reason.truncate(cut);
            reason.push('…');
        }
        Self {
            source: Arc::clone(source),
            location,
            reason,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::Input => write!(f, "{}: {}", self.source, self.reason),
            location => write!(f, "{}: {}: {}", self.source, location, self.reason),
        }
    }
}

/// How many rejected records a run tolerates before it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Stop at the first rejected record.
    Strict,
    /// Stop once more than this many records were rejected.
    MaxErrors(u64),
    /// Never stop; report every reject.
    Unlimited,
}

impl Default for ErrorPolicy {
    fn default() -> Self {
        ErrorPolicy::MaxErrors(DEFAULT_MAX_ERRORS)
    }
}

/// The number of rejected records tolerated by default.
pub const DEFAULT_MAX_ERRORS: u64 = 1000;

impl ErrorPolicy {
    /// The most rejected records tolerated; `None` for no limit.
    pub fn limit(self) -> Option<u64> {
        match self {
            ErrorPolicy::Strict => Some(0),
            ErrorPolicy::MaxErrors(max) => Some(max),
            ErrorPolicy::Unlimited => None,
        }
    }
}

impl fmt::Display for ErrorPolicy {
    /// The policy as its command-line option.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorPolicy::Strict => f.write_str("--strict"),
            ErrorPolicy::MaxErrors(max) => write!(f, "--max-errors {max}"),
            ErrorPolicy::Unlimited => f.write_str("--max-errors unlimited"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_a_compiler() {
        let src: Arc<str> = Arc::from("logs/a.jsonl");
        let r = Reject::new(&src, Location::Line(12), "missing field `ts`");
        assert_eq!(r.to_string(), "logs/a.jsonl: line 12: missing field `ts`");
        let r = Reject::new(&src, Location::Input, "no such file");
        assert_eq!(r.to_string(), "logs/a.jsonl: no such file");
    }

    #[test]
    fn long_reasons_are_cut() {
        let src: Arc<str> = Arc::from("-");
        let r = Reject::new(&src, Location::Line(1), "é".repeat(1000));
        assert_eq!(r.reason.chars().count(), MAX_REASON_CHARS + 1);
    }

    #[test]
    fn policies() {
        assert_eq!(ErrorPolicy::Strict.limit(), Some(0));
        assert_eq!(ErrorPolicy::MaxErrors(2).limit(), Some(2));
        assert_eq!(ErrorPolicy::Unlimited.limit(), None);
        assert_eq!(ErrorPolicy::MaxErrors(7).to_string(), "--max-errors 7");
    }
}
