//! Prompts drawn from corpus files: JSON Lines of `{"kind": "human" | "distill", "turns": [...]}`.

use std::path::{Path, PathBuf};

use rand::Rng;
use rand::seq::IndexedRandom;
use serde::Deserialize;

/// Prompts read from corpus files, by kind.
#[derive(Debug, Default, Clone)]
pub struct Corpus {
    /// Conversations people had: each a list of user turns.
    pub human: Vec<Vec<String>>,
    /// Prompts built to harvest a model's answers.
    pub distill: Vec<String>,
}

/// Why a corpus file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A line is not a corpus record.
    #[error("{path}: line {line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Row {
    kind: String,
    turns: Vec<String>,
}

impl Corpus {
    /// Reads corpus files; every line must be a record, so that a wrong file is noticed.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CorpusError> {
        let mut corpus = Corpus::default();
        for path in paths {
            corpus.add_file(path)?;
        }
        Ok(corpus)
    }

    fn add_file(&mut self, path: &Path) -> Result<(), CorpusError> {
        let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
            path: path.to_owned(),
            source,
        })?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| CorpusError::Line {
                path: path.to_owned(),
                line: i + 1,
                reason,
            };
            let row: Row = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            let turns: Vec<String> = row
                .turns
                .into_iter()
                .filter(|t| !t.trim().is_empty())
                .collect();
            if turns.is_empty() {
                return Err(bad("no turns".to_owned()));
            }
            match row.kind.as_str() {
                "human" => self.human.push(turns),
                "distill" => self.distill.extend(turns.into_iter().take(1)),
                other => {
                    return Err(bad(format!(
                        "kind {other:?} is neither `human` nor `distill`"
                    )));
                }
            }
        }
        Ok(())
    }

    /// A human conversation, if the corpus has any.
    pub fn human_conversation<R: Rng>(&self, rng: &mut R) -> Option<&[String]> {
        self.human.choose(rng).map(Vec::as_slice)
    }

    /// The `n`-th distillation prompt, cycling, if the corpus has any.
    pub fn distill_prompt(&self, n: u64) -> Option<&str> {
        (!self.distill.is_empty())
            .then(|| self.distill[(n % self.distill.len() as u64) as usize].as_str())
    }
}
