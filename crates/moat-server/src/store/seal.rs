//! Every stored value behind a checksum of the rest: sealing, unsealing, naming the damage.

use xxhash_rust::xxh3::xxh3_64;

use super::StoreError;

/// `payload` behind its checksum, as it is stored.
pub(super) fn sealed(payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + payload.len());
    value.extend_from_slice(&xxh3_64(payload).to_le_bytes());
    value.extend_from_slice(payload);
    value
}

/// The payload of the value stored under `key` in `table`, if its checksum holds.
pub(super) fn unsealed<'v>(
    table: &'static str,
    key: impl ToString,
    value: &'v [u8],
) -> Result<&'v [u8], StoreError> {
    value
        .split_first_chunk::<8>()
        .filter(|(sum, payload)| u64::from_le_bytes(**sum) == xxh3_64(payload))
        .map(|(_, payload)| payload)
        .ok_or_else(|| StoreError::Damaged {
            table,
            key: key.to_string(),
            reason: "its checksum does not match".into(),
        })
}

/// The JSON lines of the batch stored under `key`.
pub(super) fn batch_lines(key: u64, value: &[u8]) -> Result<Vec<u8>, StoreError> {
    let block = unsealed("batches", key, value)?;
    zstd::decode_all(block).map_err(|e| StoreError::Damaged {
        table: "batches",
        key: key.to_string(),
        reason: e.to_string(),
    })
}

pub(super) fn damaged(table: &'static str, key: impl ToString, e: serde_json::Error) -> StoreError {
    StoreError::Damaged {
        table,
        key: key.to_string(),
        reason: e.to_string(),
    }
}
