//! Where records come from: files, globs, folders and standard input, compressed or not.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::ProgressBar;

/// The file name endings a folder is searched for (each also with `.gz` or `.zst`).
pub const LOG_EXTENSIONS: [&str; 5] = ["jsonl", "ndjson", "json", "log", "parquet"];

/// One input: a file, or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl Source {
    /// The name rejects are reported under: the path, or `-`.
    pub fn name(&self) -> Arc<str> {
        match self {
            Source::File(path) => Arc::from(path.display().to_string()),
            Source::Stdin => Arc::from("-"),
        }
    }

    /// The size in bytes, when known.
    pub fn size(&self) -> Option<u64> {
        match self {
            Source::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Source::Stdin => None,
        }
    }
}

/// Why the inputs named on a command line could not be found.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A path that does not exist.
    #[error("{0}: no such file or folder")]
    Missing(String),
    /// A glob pattern that is not valid.
    #[error("{pattern}: not a valid pattern ({reason})")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A glob pattern or a folder with no log file in it.
    #[error("{0}: no log files found (looked for {exts})", exts = extensions_list())]
    NothingFound(String),
    /// A folder that could not be walked.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The path.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

fn extensions_list() -> String {
    LOG_EXTENSIONS.map(|e| format!("*.{e}")).join(", ") + ", each also .gz or .zst"
}

/// True when a file name ends in a log extension, possibly compressed.
fn is_log_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.starts_with('.') {
        return false;
    }
    let base = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(name);
    LOG_EXTENSIONS
        .iter()
        .any(|ext| base.ends_with(&format!(".{ext}")))
}

/// Turns command-line inputs into sources, in order: `-` is standard input; a file is
/// itself; a folder is every log file below it, sorted by path; a pattern with `*`, `?` or
/// `[` is every path it matches, sorted.
pub fn expand_inputs<S: AsRef<str>>(inputs: &[S]) -> Result<Vec<Source>, InputError> {
    let mut sources = Vec::new();
    for input in inputs {
        let input = input.as_ref();
        if input == "-" {
            sources.push(Source::Stdin);
            continue;
        }
        let path = Path::new(input);
        if path.is_file() {
            sources.push(Source::File(path.to_owned()));
        } else if path.is_dir() {
            let mut found = Vec::new();
            for entry in walkdir::WalkDir::new(path)
                .follow_links(true)
                .sort_by_file_name()
            {
                let entry = entry.map_err(|e| InputError::Unreadable {
                    path: input.to_owned(),
                    reason: e.to_string(),
                })?;
                if entry.file_type().is_file() && is_log_file(entry.path()) {
                    found.push(Source::File(entry.into_path()));
                }
            }
            if found.is_empty() {
                return Err(InputError::NothingFound(input.to_owned()));
            }
            sources.extend(found);
        } else if input.contains(['*', '?', '[']) {
            let options = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..Default::default()
            };
            let paths = glob::glob_with(input, options).map_err(|e| InputError::BadPattern {
                pattern: input.to_owned(),
                reason: e.to_string(),
            })?;
            let mut found: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if found.is_empty() {
                return Err(InputError::NothingFound(input.to_owned()));
            }
            found.sort();
            sources.extend(found.into_iter().map(Source::File));
        } else {
            return Err(InputError::Missing(input.to_owned()));
        }
    }
    Ok(sources)
}

/// Counts the bytes read from a source on a progress bar.
struct Counted<R> {
    inner: R,
    progress: Option<ProgressBar>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}

/// How a source is stored.
pub(crate) enum Opened {
    /// A byte stream, decompressed if it was compressed.
    Stream(Box<dyn Read + Send>),
    /// A Parquet file (read by row groups, not as a stream).
    Parquet(File),
    /// A Parquet file held in memory.
    ParquetBytes(bytes::Bytes),
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Reads up to `n` bytes, fewer only at the end of the stream.
fn read_head(reader: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    Read::take(reader, n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Opens a source, telling compression and Parquet from the first bytes, whatever the name.
pub(crate) fn open(source: &Source, progress: Option<ProgressBar>) -> io::Result<Opened> {
    let mut raw: Box<dyn Read + Send> = match source {
        Source::File(path) => {
            let mut file = File::open(path)?;
            let magic = read_head(&mut file, PARQUET_MAGIC.len())?;
            file.seek(SeekFrom::Start(0))?;
            if magic == PARQUET_MAGIC {
                if let Some(p) = &progress {
                    p.inc(file.metadata()?.len());
                }
                return Ok(Opened::Parquet(file));
            }
            Box::new(file)
        }
        Source::Stdin => Box::new(io::stdin()),
    };
    let head = read_head(&mut raw, 4)?;
    let counted: Box<dyn Read + Send> = Box::new(Counted {
        inner: Cursor::new(head.clone()).chain(raw),
        progress,
    });
    decompressed(&head, counted)
}

/// Opens an input held in memory, telling compression and Parquet from its first bytes.
pub(crate) fn open_bytes(bytes: &[u8]) -> io::Result<Opened> {
    if bytes.starts_with(PARQUET_MAGIC) {
        return Ok(Opened::ParquetBytes(bytes::Bytes::copy_from_slice(bytes)));
    }
    decompressed(bytes, Box::new(Cursor::new(bytes.to_vec())))
}

/// The stream that starts with `head`, decompressed if its magic bytes say so.
fn decompressed(head: &[u8], counted: Box<dyn Read + Send>) -> io::Result<Opened> {
    Ok(Opened::Stream(if head.starts_with(GZIP_MAGIC) {
        Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(1 << 16, counted),
        ))
    } else if head.starts_with(ZSTD_MAGIC) {
        Box::new(zstd::stream::read::Decoder::new(counted)?)
    } else if head.starts_with(PARQUET_MAGIC) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Parquet must be read from a file, not a stream",
        ));
    } else {
        counted
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_files_folders_globs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        for name in [
            "b.jsonl",
            "a.jsonl.gz",
            "sub/c.parquet",
            "notes.md",
            ".hidden.jsonl",
        ] {
            std::fs::write(d.join(name), b"").unwrap();
        }
        let found = expand_inputs(&[d.to_str().unwrap()]).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|s| match s {
                Source::File(p) => p.strip_prefix(d).unwrap().display().to_string(),
                Source::Stdin => "-".into(),
            })
            .collect();
        assert_eq!(names, ["a.jsonl.gz", "b.jsonl", "sub/c.parquet"]);

        let pattern = format!("{}/*.jsonl*", d.display());
        assert_eq!(expand_inputs(&[pattern.as_str(), "-"]).unwrap().len(), 3);

        let missing = format!("{}/nope.jsonl", d.display());
        assert!(matches!(
            expand_inputs(&[missing]),
            Err(InputError::Missing(_))
        ));
        let none = format!("{}/*.csv", d.display());
        assert!(matches!(
            expand_inputs(&[none]),
            Err(InputError::NothingFound(_))
        ));
    }
}
