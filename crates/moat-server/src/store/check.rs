//! Checking a store value by value, and salvaging what is whole into a new store.

use std::path::Path;

use redb::ReadableTable;
use serde::Serialize;

use moat_core::AnalysedRecord;

use super::seal::{batch_lines, unsealed};
use super::{
    AUDIT, AuditEntry, BATCHES, BLOCKED, INGEST_KEYS, INGEST_ORDER, OVERRIDES, Store, StoreError,
    VERDICTS, begin_write,
};

/// What [`Store::check`] found in one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableCheck {
    /// The table.
    pub table: &'static str,
    /// Values read.
    pub values: u64,
    /// The keys of the damaged ones (the first hundred)...
    pub damaged_keys: Vec<String>,
    /// ...and how many there are.
    pub damaged: u64,
}

/// What [`Store::salvage`] copied, per table: values kept and values left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Salvaged {
    /// The table.
    pub table: &'static str,
    /// Values copied to the new store.
    pub kept: u64,
    /// Damaged values left behind.
    pub dropped: u64,
}

/// The tables whose values are checked, in the order they are read.
pub(super) const CHECKED: [&str; 6] = [
    "batches",
    "verdicts",
    "blocked_campaigns",
    "overrides",
    "audit",
    "ingest_keys",
];

/// How many damaged keys a check lists.
pub(super) const LISTED_DAMAGED: usize = 100;

impl Store {
    /// Reads every value of the store and says, per table, which are damaged (a checksum
    /// that does not match, a batch that does not decompress, a value that does not parse).
    pub fn check(&self) -> Result<Vec<TableCheck>, StoreError> {
        let mut out: Vec<TableCheck> = CHECKED
            .iter()
            .map(|&table| TableCheck {
                table,
                ..TableCheck::default()
            })
            .collect();
        self.each_value(|table, key, good| {
            let c = out
                .iter_mut()
                .find(|c| c.table == table)
                .expect("every table is listed");
            c.values += 1;
            if good.is_none() {
                c.damaged += 1;
                if c.damaged_keys.len() < LISTED_DAMAGED {
                    c.damaged_keys.push(key);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Copies every value that is not damaged to a new store in `dir` (which must not hold
    /// one), batches under their numbers; the damaged ones are left behind.
    pub fn salvage(&self, dir: &Path) -> Result<Vec<Salvaged>, StoreError> {
        if dir.join("moat.redb").exists() {
            return Err(StoreError::Db(format!(
                "{} already holds a store: salvage into a new folder",
                dir.display()
            )));
        }
        let new = Store::open(dir)?;
        let txn = begin_write(&new.db)?;
        let mut out: Vec<Salvaged> = CHECKED
            .iter()
            .map(|&table| Salvaged {
                table,
                ..Salvaged::default()
            })
            .collect();
        {
            let mut batches = txn.open_table(BATCHES)?;
            let mut verdicts = txn.open_table(VERDICTS)?;
            let mut blocked = txn.open_table(BLOCKED)?;
            let mut overrides = txn.open_table(OVERRIDES)?;
            let mut audit = txn.open_table(AUDIT)?;
            let mut keys = txn.open_table(INGEST_KEYS)?;
            let mut order = txn.open_table(INGEST_ORDER)?;
            self.each_value(|table, key, good| {
                let s = out
                    .iter_mut()
                    .find(|s| s.table == table)
                    .expect("every table is listed");
                let Some(value) = good else {
                    s.dropped += 1;
                    return Ok(());
                };
                s.kept += 1;
                match table {
                    // Batches keep their numbers: those retired behind a snapshot stay
                    // told apart from those never stored.
                    "batches" => {
                        let seq: u64 = key.parse().expect("batch keys are numbers");
                        batches.insert(seq, value)?;
                    }
                    "verdicts" => {
                        verdicts.insert(key.as_str(), value)?;
                    }
                    "blocked_campaigns" => {
                        blocked.insert(key.as_str(), value)?;
                    }
                    "overrides" => {
                        overrides.insert(key.as_str(), value)?;
                    }
                    "audit" => {
                        let seq: u64 = key.parse().expect("audit keys are numbers");
                        audit.insert(seq, value)?;
                    }
                    _ => {
                        let seq: u64 = key.parse().expect("ingest places are numbers");
                        keys.insert(value, seq)?;
                        order.insert(seq, value)?;
                    }
                }
                Ok(())
            })?;
        }
        txn.commit()?;
        drop(new);
        Ok(out)
    }

    /// Calls `each` with every value of the batches, verdicts, blocked campaigns' keys,
    /// overrides and audit tables
    /// and every idempotency key (table by table, in key order): its table, its key, and
    /// the value as stored when it is whole, `None` when it is damaged.
    fn each_value(
        &self,
        mut each: impl FnMut(&'static str, String, Option<&[u8]>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let read = self.db.begin_read()?;
        for item in read.open_table(BATCHES)?.iter()? {
            let (key, value) = item?;
            let whole = batch_lines(key.value(), value.value()).is_ok_and(|lines| {
                lines
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .all(|l| serde_json::from_slice::<AnalysedRecord>(l).is_ok())
            });
            each(
                "batches",
                key.value().to_string(),
                whole.then_some(value.value()),
            )?;
        }
        for (name, table) in [
            ("verdicts", VERDICTS),
            ("blocked_campaigns", BLOCKED),
            ("overrides", OVERRIDES),
        ] {
            for item in read.open_table(table)?.iter()? {
                let (key, value) = item?;
                let whole = unsealed(name, key.value(), value.value())
                    .is_ok_and(|p| serde_json::from_slice::<serde_json::Value>(p).is_ok());
                each(name, key.value().to_owned(), whole.then_some(value.value()))?;
            }
        }
        for item in read.open_table(AUDIT)?.iter()? {
            let (key, value) = item?;
            let whole = unsealed("audit", key.value(), value.value())
                .is_ok_and(|p| serde_json::from_slice::<AuditEntry>(p).is_ok());
            each(
                "audit",
                key.value().to_string(),
                whole.then_some(value.value()),
            )?;
        }
        // An idempotency key is stored twice, under its place and at it: whole when the
        // two agree. Listed by place (the keys are the senders' own).
        let keys = read.open_table(INGEST_KEYS)?;
        let order = read.open_table(INGEST_ORDER)?;
        for item in order.iter()? {
            let (seq, key) = item?;
            let whole = keys
                .get(key.value())?
                .is_some_and(|at| at.value() == seq.value());
            each(
                "ingest_keys",
                seq.value().to_string(),
                whole.then_some(key.value()),
            )?;
        }
        for item in keys.iter()? {
            let (key, seq) = item?;
            let placed = order
                .get(seq.value())?
                .is_some_and(|k| k.value() == key.value());
            if !placed {
                each("ingest_keys", seq.value().to_string(), None)?;
            }
        }
        Ok(())
    }
}
