//! The moat.toml file: defaults for command-line options, so a team can keep one.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// The whole of moat.toml. Every section and key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How logs are read.
    #[serde(default)]
    pub input: InputConfig,
    /// How campaigns are detected: weights, limits, thresholds.
    #[serde(default)]
    pub detect: moat_core::DetectConfig,
    /// The live service: listeners, tokens, store, budgets.
    #[serde(default)]
    pub serve: moat_server::ServeConfig,
}

/// The `[input]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// `auto`, `exchange`, `openai`, `litellm`, `otlp` or `parquet`.
    pub format: Option<String>,
    /// Stop once more than this many records were rejected.
    pub max_errors: Option<u64>,
    /// Stop at the first rejected record.
    pub strict: Option<bool>,
    /// Records longer than this many bytes are rejected.
    pub max_record_bytes: Option<usize>,
    /// Decoding threads.
    pub threads: Option<usize>,
}

impl Config {
    /// Reads `path`, or returns the defaults when no file is named.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let config: Self =
            toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        config
            .detect
            .validate()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("config {}", path.display()))?;
        Ok(config)
    }
}
