//! The error of the readers of files moat wrote or a partner sent (a scan's outputs, a
//! partner's bundle, a key): which file, where in it when known, and why, never its
//! content.

use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {reason}", path.display(), line.map(|l| format!(": line {l}")).unwrap_or_default())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// The line, when the reason is one line's.
    pub line: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl FileError {
    /// `reason` of the file at `path` as a whole.
    pub fn new(path: &Path, reason: impl ToString) -> Self {
        Self {
            path: path.to_owned(),
            line: None,
            reason: reason.to_string(),
        }
    }

    /// `reason` of line `line` of the file at `path`.
    pub fn at_line(path: &Path, line: u64, reason: impl ToString) -> Self {
        Self {
            line: Some(line),
            ..Self::new(path, reason)
        }
    }
}
