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
    /// Partners' STIX bundles to check accounts against (scan and serve).
    #[serde(default)]
    pub intel: IntelConfig,
}

/// The `[intel]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelConfig {
    /// Partners' bundles (`moat intel export`).
    #[serde(default)]
    pub bundles: Vec<std::path::PathBuf>,
    /// The partners' key, for the bundles' fingerprints.
    pub key_file: Option<std::path::PathBuf>,
}

impl IntelConfig {
    /// The partners' indicators of `bundles` (or of the section's, when none are named),
    /// if there are any.
    pub fn load(
        &self,
        bundles: &[std::path::PathBuf],
        key_file: Option<&Path>,
    ) -> anyhow::Result<Option<Box<dyn moat_core::PartnerIntel>>> {
        let (bundles, key_file) = if bundles.is_empty() {
            (self.bundles.as_slice(), self.key_file.as_deref())
        } else {
            (bundles, key_file)
        };
        if bundles.is_empty() {
            return Ok(None);
        }
        let intel = moat_io::stix::BundleIntel::load(bundles, key_file)?;
        Ok(Some(Box::new(intel)))
    }
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
    /// Which Parquet column holds which exchange v1 field (`"client.ip" = "src_ip"`), where
    /// a file names its columns otherwise.
    #[serde(default)]
    pub parquet_columns: std::collections::BTreeMap<String, String>,
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
            .with_context(|| format!("config {}", path.display()))?;
        Ok(config)
    }
}
