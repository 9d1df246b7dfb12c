//! Stores written by earlier formats, brought up to the current one when opened.

use moat_core::AccountVerdict;
use redb::ReadableTable;

use super::seal::{sealed, unsealed};
use super::{
    AUDIT, BATCHES, INGEST_KEYS, INGEST_ORDER, OVERRIDES, StoreError, TEXT_INGEST_KEYS,
    TEXT_INGEST_ORDER, VERDICTS, decides,
};

/// Moves the idempotency keys of a store written before format 3 from their text tables
/// to the byte tables, in the opening transaction.
pub(super) fn keys_as_bytes(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let stored: Vec<(u64, String)> = txn
        .open_table(TEXT_INGEST_ORDER)?
        .iter()?
        .map(|item| item.map(|(seq, key)| (seq.value(), key.value().to_owned())))
        .collect::<Result<_, _>>()?;
    let mut keys = txn.open_table(INGEST_KEYS)?;
    let mut order = txn.open_table(INGEST_ORDER)?;
    for (seq, key) in &stored {
        keys.insert(key.as_bytes(), *seq)?;
        order.insert(*seq, key.as_bytes())?;
    }
    txn.delete_table(TEXT_INGEST_KEYS)?;
    txn.delete_table(TEXT_INGEST_ORDER)?;
    Ok(())
}

/// Puts a checksum before every value of a store written before values carried one, in
/// the opening transaction. Batches are rewritten a thousand at a time, so that a large
/// store never sits in memory whole.
pub(super) fn seal_values(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    for table in [BATCHES, AUDIT] {
        let mut table = txn.open_table(table)?;
        let mut from = 0u64;
        loop {
            let chunk: Vec<(u64, Vec<u8>)> = table
                .range(from..)?
                .take(1000)
                .map(|item| item.map(|(k, v)| (k.value(), sealed(v.value()))))
                .collect::<Result<_, _>>()?;
            let Some(&(last, _)) = chunk.last() else {
                break;
            };
            for (key, value) in chunk {
                table.insert(key, value.as_slice())?;
            }
            from = last + 1;
        }
    }
    for table in [VERDICTS, OVERRIDES] {
        let mut table = txn.open_table(table)?;
        let all: Vec<(String, Vec<u8>)> = table
            .iter()?
            .map(|item| item.map(|(k, v)| (k.value().to_owned(), sealed(v.value()))))
            .collect::<Result<_, _>>()?;
        for (key, value) in all {
            table.insert(key.as_str(), value.as_slice())?;
        }
    }
    Ok(())
}

/// Forgets the stored verdicts that decide nothing, as stores before format 4 kept every
/// account's, in the opening transaction; a verdict that cannot be read stays, for
/// [`Store::check`] to name.
pub(super) fn keep_deciding_verdicts(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut table = txn.open_table(VERDICTS)?;
    let mut allowed = Vec::new();
    for item in table.iter()? {
        let (key, value) = item?;
        let verdict = unsealed("verdicts", key.value(), value.value())
            .ok()
            .and_then(|p| serde_json::from_slice::<AccountVerdict>(p).ok());
        if verdict.is_some_and(|v| !decides(&v)) {
            allowed.push(key.value().to_owned());
        }
    }
    for key in allowed {
        table.remove(key.as_str())?;
    }
    Ok(())
}
