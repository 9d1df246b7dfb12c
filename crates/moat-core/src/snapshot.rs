//! Snapshots of the engine: its whole state at one point of its input, so that a service
//! restarting reads only the records that came after it, not every exchange it ever took
//! in.
//!
//! A snapshot is the engine's state in postcard (a compact serde format) behind a header
//! that names the format and what the state was built under (the detection configuration
//! and the partners whose indicators were checked): the same records give another state
//! under another configuration, so a snapshot taken under one is refused under another, and
//! the records are read again instead.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::config::DetectConfig;

/// The snapshot format this build writes and reads.
pub const FORMAT: u32 = 5;

/// What a snapshot was written by and under, and the checksum of the state after it.
#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    built_under: u64,
    checksum: u64,
}

/// Why a snapshot cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// It was written in another format (by another version of moat).
    Format(u32),
    /// It was taken under another detection configuration, or with other partners.
    Configuration,
    /// It cannot be read: cut short or damaged.
    Damaged(String),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Format(found) => write!(
                f,
                "the snapshot is in format {found}; this version of moat reads format {FORMAT}"
            ),
            Self::Configuration => f.write_str(
                "the snapshot was taken under another detection configuration or other partners",
            ),
            Self::Damaged(why) => write!(f, "the snapshot cannot be read: {why}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// What a state built under `config` with `partners` depends on, as one number.
fn built_under(config: &DetectConfig, partners: &[String]) -> u64 {
    let bytes = postcard::to_stdvec(&(config, partners)).unwrap_or_default();
    xxh3_64(&bytes)
}

/// `state` as a snapshot, built under `config` with `partners`.
pub(crate) fn write<T: Serialize>(
    state: &T,
    config: &DetectConfig,
    partners: &[String],
) -> Result<Vec<u8>, SnapshotError> {
    let damaged = |e: postcard::Error| SnapshotError::Damaged(e.to_string());
    let state = postcard::to_stdvec(state).map_err(damaged)?;
    let header = Header {
        format: FORMAT,
        built_under: built_under(config, partners),
        checksum: xxh3_64(&state),
    };
    let mut bytes = postcard::to_stdvec(&header).map_err(damaged)?;
    bytes.extend_from_slice(&state);
    Ok(bytes)
}

/// The state a snapshot holds, if it was built under `config` with `partners`.
pub(crate) fn read<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    config: &DetectConfig,
    partners: &[String],
) -> Result<T, SnapshotError> {
    let damaged = |e: postcard::Error| SnapshotError::Damaged(e.to_string());
    let (header, rest) = postcard::take_from_bytes::<Header>(bytes).map_err(damaged)?;
    if header.format != FORMAT {
        return Err(SnapshotError::Format(header.format));
    }
    if header.built_under != built_under(config, partners) {
        return Err(SnapshotError::Configuration);
    }
    if header.checksum != xxh3_64(rest) {
        return Err(SnapshotError::Damaged("its checksum does not match".into()));
    }
    let (state, left) = postcard::take_from_bytes(rest).map_err(damaged)?;
    if !left.is_empty() {
        return Err(SnapshotError::Damaged(format!(
            "{} bytes past the end of the state",
            left.len()
        )));
    }
    Ok(state)
}
