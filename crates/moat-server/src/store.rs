//! The embedded store (redb): every acknowledged record, the verdicts, manual overrides
//! and the audit log. A record is acknowledged only once the transaction holding it and
//! the verdicts it led to is durably committed, so `kill -9` at any moment loses nothing
//! acknowledged; on start the engine replays the records and is where it was.
//!
//! Records are kept per commit, as one zstd-compressed block of JSON lines: a batch of
//! exchanges without their text compresses about tenfold.

use std::path::Path;

use moat_core::{AccountRecord, AccountVerdict, ContentSignals, Exchange};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

const BATCHES: TableDefinition<u64, &[u8]> = TableDefinition::new("batches");
const VERDICTS: TableDefinition<&str, &[u8]> = TableDefinition::new("verdicts");
const OVERRIDES: TableDefinition<&str, &[u8]> = TableDefinition::new("overrides");
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// The idempotency keys of the last ingests, each with its place in `INGEST_ORDER`...
const INGEST_KEYS: TableDefinition<&str, u64> = TableDefinition::new("ingest_keys");
/// ...and in the order they came, so that the oldest are forgotten first.
const INGEST_ORDER: TableDefinition<u64, &str> = TableDefinition::new("ingest_order");

/// How many ingests' idempotency keys the store remembers: a retry of any of the last so
/// many batches is recognised.
pub const KEPT_INGEST_KEYS: u64 = 100_000;

/// What the store failed at.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database itself.
    #[error("store: {0}")]
    Db(String),
    /// A stored record that does not decode (the file was written by something else).
    #[error("store: record {key} of {table} is damaged: {reason}")]
    Damaged {
        /// The table.
        table: &'static str,
        /// The record's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

macro_rules! db_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.to_string())
            }
        }
    )*};
}
db_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// An exchange as stored: without its text unless the operator asked to keep it, with
/// what the signals read of the text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredExchange {
    /// The exchange.
    pub exchange: Exchange,
    /// Its content signals.
    pub content: ContentSignals,
}

/// A record as stored and replayed: an exchange, or facts about an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)] // nearly every record is an exchange
pub enum StoredRecord {
    /// An exchange, its text dropped unless the operator keeps prompts.
    Exchange(StoredExchange),
    /// Facts about an account.
    Account(AccountRecord),
}

/// A manual decision on an account or a campaign, taken by a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    /// `block` or `allow`.
    pub action: OverrideAction,
    /// Why, in the person's words.
    pub reason: String,
    /// Who took it.
    pub actor: String,
    /// When (RFC 3339, wall clock).
    pub at: String,
}

/// What a manual decision says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverrideAction {
    /// Always block.
    Block,
    /// Always allow, whatever the engine says.
    Allow,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its place in the log.
    pub seq: u64,
    /// When (RFC 3339, wall clock).
    pub at: String,
    /// Who: the operator who authenticated (`admin` for the admin token).
    pub actor: String,
    /// The caller's own note, if any (a ticket, the tool that sent it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `block`, `allow` or `clear`.
    pub action: String,
    /// `account:<id>` or `campaign:<id>`.
    pub target: String,
    /// Why.
    pub reason: String,
}

/// The store.
pub struct Store {
    db: Database,
    next_batch: u64,
    next_audit: u64,
    next_key: u64,
}

impl Store {
    /// Opens the store in `dir` (created if missing). An empty or damaged store file is
    /// refused, never taken for a fresh one: starting empty would silently forget every
    /// exchange, manual decision and audit line it held.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("moat.redb");
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) {
            return Err(StoreError::Db(format!(
                "{} is empty (0 bytes): it was truncated or never written; move it away to \
                 start with an empty store",
                path.display()
            )));
        }
        // redb may panic on a file cut short: that is a damaged store, not a crash.
        let damaged = |why: String| {
            StoreError::Db(format!(
                "{} cannot be opened ({why}); restore it from a backup, or move it away to \
                 start with an empty store",
                path.display()
            ))
        };
        let db = std::panic::catch_unwind(|| Database::create(&path))
            .map_err(|_| damaged("it is damaged".into()))?
            .map_err(|e| match e {
                redb::DatabaseError::Storage(e) => damaged(e.to_string()),
                e => StoreError::Db(format!("{}: {e}", path.display())),
            })?;
        let txn = db.begin_write()?;
        {
            txn.open_table(BATCHES)?;
            txn.open_table(VERDICTS)?;
            txn.open_table(OVERRIDES)?;
            txn.open_table(AUDIT)?;
            txn.open_table(INGEST_KEYS)?;
            txn.open_table(INGEST_ORDER)?;
        }
        txn.commit()?;
        let read = db.begin_read()?;
        let next_batch = read.open_table(BATCHES)?.len()?;
        let next_audit = read.open_table(AUDIT)?.len()?;
        let next_key = match read.open_table(INGEST_ORDER)?.last()? {
            Some((seq, _)) => seq.value() + 1,
            None => 0,
        };
        drop(read);
        Ok(Self {
            db,
            next_batch,
            next_audit,
            next_key,
        })
    }

    /// Calls `each` on every stored record, in the order they were acknowledged.
    pub fn replay(
        &self,
        mut each: impl FnMut(StoredRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(BATCHES)?;
        for item in table.iter()? {
            let (key, value) = item?;
            let key = key.value();
            let lines = zstd::decode_all(value.value()).map_err(|e| StoreError::Damaged {
                table: "batches",
                key: key.to_string(),
                reason: e.to_string(),
            })?;
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let record =
                    serde_json::from_slice(line).map_err(|e| damaged("batches", key, e))?;
                each(record)?;
            }
        }
        Ok(())
    }

    /// Whether an ingest with the idempotency key `key` is stored.
    pub fn ingested(&self, key: &str) -> Result<bool, StoreError> {
        let read = self.db.begin_read()?;
        Ok(read.open_table(INGEST_KEYS)?.get(key)?.is_some())
    }

    /// Durably appends `records` and writes `verdicts`, with the idempotency `keys` of the
    /// ingests they came in (forgetting the oldest past [`KEPT_INGEST_KEYS`]), in one
    /// transaction: a key is stored exactly when its records are.
    pub fn append(
        &mut self,
        records: &[&StoredRecord],
        keys: &[&str],
        verdicts: &[AccountVerdict],
    ) -> Result<(), StoreError> {
        let mut lines = Vec::with_capacity(records.len() * 512);
        for r in records {
            serde_json::to_writer(&mut lines, r).expect("records serialise");
            lines.push(b'\n');
        }
        let block = zstd::bulk::compress(&lines, 1)
            .map_err(|e| StoreError::Db(format!("cannot compress a batch: {e}")))?;
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(BATCHES)?;
            table.insert(self.next_batch, block.as_slice())?;
            let mut table = txn.open_table(VERDICTS)?;
            for v in verdicts {
                let bytes = serde_json::to_vec(v).expect("verdicts serialise");
                table.insert(v.account_id.as_str(), bytes.as_slice())?;
            }
            let mut known = txn.open_table(INGEST_KEYS)?;
            let mut order = txn.open_table(INGEST_ORDER)?;
            for (seq, key) in (self.next_key..).zip(keys) {
                known.insert(*key, seq)?;
                order.insert(seq, *key)?;
            }
            while order.len()? > KEPT_INGEST_KEYS {
                let Some((_, oldest)) = order.pop_first()? else {
                    break;
                };
                known.remove(oldest.value())?;
            }
        }
        txn.commit()?;
        self.next_batch += 1;
        self.next_key += keys.len() as u64;
        Ok(())
    }

    /// Every stored verdict (as of the last acknowledged exchange).
    pub fn verdicts(&self) -> Result<Vec<AccountVerdict>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(VERDICTS)?;
        let mut out = Vec::with_capacity(table.len()? as usize);
        for item in table.iter()? {
            let (key, value) = item?;
            out.push(
                serde_json::from_slice(value.value())
                    .map_err(|e| damaged("verdicts", key.value(), e))?,
            );
        }
        Ok(out)
    }

    /// Sets (or with `None` clears) the manual decision on `target` and logs it in the
    /// audit log, in one transaction.
    pub fn set_override(
        &mut self,
        target: &str,
        decision: Option<&Override>,
        entry: AuditEntry,
    ) -> Result<AuditEntry, StoreError> {
        let entry = AuditEntry {
            seq: self.next_audit,
            ..entry
        };
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(OVERRIDES)?;
            match decision {
                Some(d) => {
                    let bytes = serde_json::to_vec(d).expect("overrides serialise");
                    table.insert(target, bytes.as_slice())?;
                }
                None => {
                    table.remove(target)?;
                }
            }
            let mut audit = txn.open_table(AUDIT)?;
            let bytes = serde_json::to_vec(&entry).expect("audit entries serialise");
            audit.insert(entry.seq, bytes.as_slice())?;
        }
        txn.commit()?;
        self.next_audit += 1;
        Ok(entry)
    }

    /// Every manual decision, by target.
    pub fn overrides(&self) -> Result<Vec<(String, Override)>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(OVERRIDES)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (key, value) = item?;
            let decision = serde_json::from_slice(value.value())
                .map_err(|e| damaged("overrides", key.value(), e))?;
            out.push((key.value().to_owned(), decision));
        }
        Ok(out)
    }

    /// The audit log, oldest first, from `from` on, at most `limit` entries.
    pub fn audit(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(AUDIT)?;
        let mut out = Vec::new();
        for item in table.range(from..)?.take(limit) {
            let (key, value) = item?;
            out.push(
                serde_json::from_slice(value.value())
                    .map_err(|e| damaged("audit", key.value(), e))?,
            );
        }
        Ok(out)
    }
}

fn damaged(table: &'static str, key: impl ToString, e: serde_json::Error) -> StoreError {
    StoreError::Damaged {
        table,
        key: key.to_string(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> StoredRecord {
        StoredRecord::Account(AccountRecord {
            account_id: id.into(),
            account: Default::default(),
        })
    }

    #[test]
    fn an_empty_store_file_is_refused_not_taken_for_a_fresh_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("moat.redb"), b"").unwrap();
        let e = Store::open(dir.path())
            .err()
            .expect("an empty file is refused");
        assert!(e.to_string().contains("is empty"), "{e}");
    }

    #[test]
    fn a_store_cut_short_is_refused_without_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            for i in 0..200 {
                store
                    .append(&[&record(&format!("a{i}"))], &[], &[])
                    .unwrap();
            }
        }
        let path = dir.path().join("moat.redb");
        let bytes = std::fs::read(&path).unwrap();
        for keep in [bytes.len() / 2, 4096, 100] {
            std::fs::write(&path, &bytes[..keep]).unwrap();
            match Store::open(dir.path()) {
                Err(e) => assert!(e.to_string().contains("moat.redb"), "{e}"),
                // A store redb could repair must still hold what it held.
                Ok(store) => {
                    let mut n = 0;
                    store
                        .replay(|_| {
                            n += 1;
                            Ok(())
                        })
                        .unwrap();
                    assert_eq!(
                        n, 200,
                        "a store cut to {keep} bytes opened with {n} records"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod ingest_keys {
    use super::*;

    fn record(id: &str) -> StoredRecord {
        StoredRecord::Account(AccountRecord {
            account_id: id.into(),
            account: Default::default(),
        })
    }

    #[test]
    fn keys_are_kept_with_their_records_across_a_restart_and_the_oldest_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.append(&[&record("a")], &["k1"], &[]).unwrap();
            store.append(&[&record("b")], &[], &[]).unwrap();
            assert!(store.ingested("k1").unwrap());
            assert!(!store.ingested("k2").unwrap());
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert!(store.ingested("k1").unwrap());
        let keys: Vec<String> = (0..KEPT_INGEST_KEYS).map(|i| format!("n{i}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        store.append(&[&record("c")], &keys, &[]).unwrap();
        assert!(
            !store.ingested("k1").unwrap(),
            "the oldest key is forgotten"
        );
        assert!(store.ingested("n0").unwrap());
        assert!(
            store
                .ingested(&format!("n{}", KEPT_INGEST_KEYS - 1))
                .unwrap()
        );
    }
}
