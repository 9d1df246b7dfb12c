//! The embedded store (redb): every acknowledged record, the verdicts that decide
//! something, the blocked campaigns' keys, manual overrides and the audit log. A record is acknowledged only once the transaction holding it and
//! the verdicts it led to is durably committed, so `kill -9` at any moment loses nothing
//! acknowledged; on start the engine replays the records and is where it was.
//!
//! Records are kept per commit, as one zstd-compressed block of JSON lines: a batch of
//! exchanges without their text compresses about tenfold. Every stored value (a batch, a
//! verdict, a manual decision, an audit line) begins with a checksum of the rest, so a
//! damaged value is named and refused, never read as something else; [`Store::check`]
//! finds every damaged value and [`Store::salvage`] copies the rest to a new store.

use std::path::Path;

use moat_core::{AccountVerdict, AnalysedRecord, Blocklist, Verdict};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

mod check;
mod seal;
mod upgrade;

pub use check::{Salvaged, TableCheck};
use seal::{batch_lines, damaged, sealed, unsealed};
use upgrade::{keep_deciding_verdicts, keys_as_bytes, seal_values};

const BATCHES: TableDefinition<u64, &[u8]> = TableDefinition::new("batches");

/// The verdicts that decide something ([`decides`]): an account not in it is allowed.
const VERDICTS: TableDefinition<&str, &[u8]> = TableDefinition::new("verdicts");

/// The blocked campaigns' keys, under [`BLOCKED_KEY`]: a new account carrying them is
/// blocked from the first request after a restart, before the engine is restored.
const BLOCKED: TableDefinition<&str, &[u8]> = TableDefinition::new("blocked_campaigns");

const BLOCKED_KEY: &str = "latest";

const OVERRIDES: TableDefinition<&str, &[u8]> = TableDefinition::new("overrides");

const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// The idempotency keys of the last ingests, each with its place in `INGEST_ORDER`...
const INGEST_KEYS: TableDefinition<&[u8], u64> = TableDefinition::new("idempotency_keys");

/// ...and in the order they came, so that the oldest are forgotten first. Stored as bytes:
/// a damaged key is told by the two tables disagreeing, never by a failure to read it.
const INGEST_ORDER: TableDefinition<u64, &[u8]> = TableDefinition::new("idempotency_order");

/// The same, as stores before format 3 held them (as text).
const TEXT_INGEST_KEYS: TableDefinition<&str, u64> = TableDefinition::new("ingest_keys");

const TEXT_INGEST_ORDER: TableDefinition<u64, &str> = TableDefinition::new("ingest_order");

/// The engine's latest snapshots, under the number of batches each covers
/// ([`KEPT_SNAPSHOTS`] rows at most).
const SNAPSHOT: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshot");

/// Snapshots of the engine kept: the latest, and the one before it.
const KEPT_SNAPSHOTS: usize = 2;

/// A snapshot of the engine as stored: the batches it covers, and its bytes (or why they
/// cannot be read).
pub type KeptSnapshot = (u64, Result<Vec<u8>, StoreError>);

/// What the file holds: its format version, under `FORMAT_KEY`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const FORMAT_KEY: &str = "format";

/// Values carry a checksum (from format 2; a store without a format holds values without
/// one), idempotency keys are stored as bytes (format 3), and only the verdicts that
/// decide something are kept, beside the blocked campaigns' keys (format 4).
const FORMAT: u64 = 4;

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

/// The blocked campaigns' keys as stored: the keys, each with its campaign's root
/// account, and the campaign id of each root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockedKeys {
    /// The keys.
    pub blocklist: Blocklist,
    /// Campaign ids by root account.
    pub campaigns: Vec<(u32, String)>,
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
        let txn = begin_write(&db)?;
        {
            txn.open_table(BATCHES)?;
            txn.open_table(VERDICTS)?;
            txn.open_table(BLOCKED)?;
            txn.open_table(OVERRIDES)?;
            txn.open_table(AUDIT)?;
            txn.open_table(INGEST_KEYS)?;
            txn.open_table(INGEST_ORDER)?;
            txn.open_table(SNAPSHOT)?;
            let meta = txn.open_table(META)?;
            let format = meta.get(FORMAT_KEY)?.map(|v| v.value());
            match format {
                Some(FORMAT) => {}
                Some(newer) if newer > FORMAT => {
                    return Err(StoreError::Db(format!(
                        "{} is in store format {newer}, newer than this moat reads ({FORMAT}): \
                         run a newer moat",
                        path.display()
                    )));
                }
                older => {
                    drop(meta);
                    // No format: written before values carried a checksum.
                    if older.is_none() {
                        seal_values(&txn)?;
                    }
                    keys_as_bytes(&txn)?;
                    keep_deciding_verdicts(&txn)?;
                    txn.open_table(META)?.insert(FORMAT_KEY, FORMAT)?;
                }
            }
        }
        txn.commit()?;
        let read = db.begin_read()?;
        // Batches are numbered on from the last one stored, or from the last a snapshot
        // covers where every batch was retired behind it.
        let after_batches = read
            .open_table(BATCHES)?
            .last()?
            .map(|(seq, _)| seq.value() + 1);
        let covered = read
            .open_table(SNAPSHOT)?
            .last()?
            .map(|(covers, _)| covers.value());
        let next_batch = after_batches.unwrap_or(0).max(covered.unwrap_or(0));
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

    /// Calls `each` on every stored record of the batches from the `first` on, in the
    /// order they were acknowledged.
    pub fn replay(
        &self,
        first: u64,
        mut each: impl FnMut(AnalysedRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(BATCHES)?;
        for item in table.range(first..)? {
            let (key, value) = item?;
            let key = key.value();
            let lines = batch_lines(key, value.value())?;
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let record =
                    serde_json::from_slice(line).map_err(|e| damaged("batches", key, e))?;
                each(record)?;
            }
        }
        Ok(())
    }

    /// How many batches the store has taken in: what a snapshot of the engine, as it
    /// stands after applying them all, covers.
    pub fn batches(&self) -> u64 {
        self.next_batch
    }

    /// Keeps `snapshot`, the engine's state after the first `covers` batches, with the one
    /// kept before it (in case this one cannot be read), and forgets older ones. With
    /// `retire`, the batches the older of the two covers are deleted: no start replays them
    /// again. Returns how many batches were retired.
    pub fn save_snapshot(
        &self,
        covers: u64,
        snapshot: &[u8],
        retire: bool,
    ) -> Result<u64, StoreError> {
        let block = zstd::bulk::compress(snapshot, 1)
            .map_err(|e| StoreError::Db(format!("cannot compress a snapshot: {e}")))?;
        let txn = begin_write(&self.db)?;
        let mut retired = 0;
        {
            let mut table = txn.open_table(SNAPSHOT)?;
            table.insert(covers, sealed(&block).as_slice())?;
            let mut kept: Vec<u64> = Vec::new();
            for item in table.iter()? {
                kept.push(item?.0.value());
            }
            let forgotten = kept.len().saturating_sub(KEPT_SNAPSHOTS);
            for &old in &kept[..forgotten] {
                table.remove(old)?;
            }
            if retire && kept.len() >= KEPT_SNAPSHOTS {
                let behind = kept[forgotten];
                let mut batches = txn.open_table(BATCHES)?;
                batches.retain_in(..behind, |_, _| {
                    retired += 1;
                    false
                })?;
            }
        }
        txn.commit()?;
        Ok(retired)
    }

    /// The engine's snapshots, the latest first, each with the number of batches it
    /// covers; one that cannot be read is an error in its place.
    pub fn snapshots(&self) -> Result<Vec<KeptSnapshot>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(SNAPSHOT)?;
        let mut out = Vec::new();
        for item in table.iter()?.rev() {
            let (covers, value) = item?;
            let covers = covers.value();
            let bytes = unsealed("snapshot", covers, value.value()).and_then(|block| {
                zstd::stream::decode_all(block).map_err(|e| StoreError::Damaged {
                    table: "snapshot",
                    key: covers.to_string(),
                    reason: format!("it does not decompress: {e}"),
                })
            });
            out.push((covers, bytes));
        }
        Ok(out)
    }

    /// The first batch the store still holds (batches before it were retired behind a
    /// snapshot); `None` when it holds none.
    pub fn first_batch(&self) -> Result<Option<u64>, StoreError> {
        let read = self.db.begin_read()?;
        Ok(read.open_table(BATCHES)?.first()?.map(|(k, _)| k.value()))
    }

    /// Whether an ingest with the idempotency key `key` is stored.
    pub fn ingested(&self, key: &str) -> Result<bool, StoreError> {
        let read = self.db.begin_read()?;
        Ok(read.open_table(INGEST_KEYS)?.get(key.as_bytes())?.is_some())
    }

    /// Durably appends `records` and writes `verdicts` (keeping those that decide
    /// something, forgetting the others) and, when given, the `blocked` campaigns' keys,
    /// with the idempotency `keys` of the ingests they came in (forgetting the oldest past
    /// [`KEPT_INGEST_KEYS`]), in one transaction: a key is stored exactly when its records
    /// are.
    pub fn append(
        &mut self,
        records: &[&AnalysedRecord],
        keys: &[&str],
        verdicts: &[AccountVerdict],
        blocked: Option<&BlockedKeys>,
    ) -> Result<(), StoreError> {
        let mut lines = Vec::with_capacity(records.len() * 512);
        for r in records {
            serde_json::to_writer(&mut lines, r).expect("records serialise");
            lines.push(b'\n');
        }
        let block = zstd::bulk::compress(&lines, 1)
            .map_err(|e| StoreError::Db(format!("cannot compress a batch: {e}")))?;
        let txn = begin_write(&self.db)?;
        {
            let mut table = txn.open_table(BATCHES)?;
            table.insert(self.next_batch, sealed(&block).as_slice())?;
            let mut table = txn.open_table(VERDICTS)?;
            for v in verdicts {
                if decides(v) {
                    let bytes = serde_json::to_vec(v).expect("verdicts serialise");
                    table.insert(v.account_id.as_str(), sealed(&bytes).as_slice())?;
                } else {
                    table.remove(v.account_id.as_str())?;
                }
            }
            if let Some(blocked) = blocked {
                let bytes = serde_json::to_vec(blocked).expect("keys serialise");
                txn.open_table(BLOCKED)?
                    .insert(BLOCKED_KEY, sealed(&bytes).as_slice())?;
            }
            let mut known = txn.open_table(INGEST_KEYS)?;
            let mut order = txn.open_table(INGEST_ORDER)?;
            for (seq, key) in (self.next_key..).zip(keys) {
                known.insert(key.as_bytes(), seq)?;
                order.insert(seq, key.as_bytes())?;
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

    /// The blocked campaigns' keys as last stored, if ever.
    pub fn blocked(&self) -> Result<Option<BlockedKeys>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(BLOCKED)?;
        let Some(value) = table.get(BLOCKED_KEY)? else {
            return Ok(None);
        };
        let payload = unsealed("blocked_campaigns", BLOCKED_KEY, value.value())?;
        serde_json::from_slice(payload)
            .map(Some)
            .map_err(|e| damaged("blocked_campaigns", BLOCKED_KEY, e))
    }

    /// Every stored verdict: those that decide something, as of the last acknowledged
    /// exchange.
    pub fn verdicts(&self) -> Result<Vec<AccountVerdict>, StoreError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(VERDICTS)?;
        let mut out = Vec::with_capacity(table.len()? as usize);
        for item in table.iter()? {
            let (key, value) = item?;
            let payload = unsealed("verdicts", key.value(), value.value())?;
            out.push(
                serde_json::from_slice(payload).map_err(|e| damaged("verdicts", key.value(), e))?,
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
        let txn = begin_write(&self.db)?;
        {
            let mut table = txn.open_table(OVERRIDES)?;
            match decision {
                Some(d) => {
                    let bytes = serde_json::to_vec(d).expect("overrides serialise");
                    table.insert(target, sealed(&bytes).as_slice())?;
                }
                None => {
                    table.remove(target)?;
                }
            }
            let mut audit = txn.open_table(AUDIT)?;
            let bytes = serde_json::to_vec(&entry).expect("audit entries serialise");
            audit.insert(entry.seq, sealed(&bytes).as_slice())?;
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
            let payload = unsealed("overrides", key.value(), value.value())?;
            let decision = serde_json::from_slice(payload)
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
            let payload = unsealed("audit", key.value(), value.value())?;
            out.push(
                serde_json::from_slice(payload).map_err(|e| damaged("audit", key.value(), e))?,
            );
        }
        Ok(out)
    }
}

/// A write transaction whose commit also saves the file's allocator state, so that
/// opening the file after a crash takes a moment, not a walk over the whole file (minutes
/// for a few gigabytes). Every write must use it: one commit without the saved state
/// makes the next crash need the full walk again.
fn begin_write(db: &Database) -> Result<redb::WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_quick_repair(true);
    Ok(txn)
}

/// Whether a verdict decides something: a block or a watch, or an account in a campaign
/// (whose budget it spends). Any other account is allowed whether its verdict is known or
/// not.
fn decides(v: &AccountVerdict) -> bool {
    v.verdict != Verdict::Allow || v.campaign_id.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_core::AccountRecord;

    fn record(id: &str) -> AnalysedRecord {
        AnalysedRecord::Account(AccountRecord {
            account_id: id.into(),
            account: Default::default(),
        })
    }

    /// How many records `store` replays from batch `first` on.
    fn records(store: &Store, first: u64) -> usize {
        let mut n = 0;
        store
            .replay(first, |_| {
                n += 1;
                Ok(())
            })
            .unwrap();
        n
    }

    #[test]
    fn batches_behind_the_older_of_two_snapshots_are_retired_and_numbering_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let add = |store: &mut Store, n: usize| {
            for i in 0..n {
                store
                    .append(&[&record(&format!("a{i}"))], &[], &[], None)
                    .unwrap();
            }
        };
        add(&mut store, 10);
        // One snapshot alone retires nothing: it may be the one that cannot be read.
        assert_eq!(
            store
                .save_snapshot(store.batches(), b"first", true)
                .unwrap(),
            0
        );
        add(&mut store, 5);
        assert_eq!(
            store
                .save_snapshot(store.batches(), b"second", true)
                .unwrap(),
            10
        );
        add(&mut store, 3);
        assert_eq!(
            store
                .save_snapshot(store.batches(), b"third", false)
                .unwrap(),
            0
        );
        let kept: Vec<(u64, Vec<u8>)> = store
            .snapshots()
            .unwrap()
            .into_iter()
            .map(|(covers, bytes)| (covers, bytes.unwrap()))
            .collect();
        assert_eq!(
            kept,
            vec![(18, b"third".to_vec()), (15, b"second".to_vec())]
        );
        assert_eq!(store.first_batch().unwrap(), Some(10));
        assert_eq!(records(&store, 15), 3);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.batches(), 18);
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
                    .append(&[&record(&format!("a{i}"))], &[], &[], None)
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
                    let n = records(&store, 0);
                    assert_eq!(
                        n, 200,
                        "a store cut to {keep} bytes opened with {n} records"
                    );
                }
            }
        }
    }

    #[test]
    fn keys_are_kept_with_their_records_across_a_restart_and_the_oldest_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.append(&[&record("a")], &["k1"], &[], None).unwrap();
            store.append(&[&record("b")], &[], &[], None).unwrap();
            assert!(store.ingested("k1").unwrap());
            assert!(!store.ingested("k2").unwrap());
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert!(store.ingested("k1").unwrap());
        let keys: Vec<String> = (0..KEPT_INGEST_KEYS).map(|i| format!("n{i}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        store.append(&[&record("c")], &keys, &[], None).unwrap();
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

    fn entry(seq: u64) -> AuditEntry {
        AuditEntry {
            seq,
            at: "2026-01-01T00:00:00Z".into(),
            actor: "admin".into(),
            note: None,
            action: "clear".into(),
            target: "account:a".into(),
            reason: "r".into(),
        }
    }

    /// Replaces the value of batch `key` with `change` applied to it, behind the store's
    /// back.
    fn tamper(dir: &Path, key: u64, change: impl Fn(&mut Vec<u8>)) {
        let db = Database::create(dir.join("moat.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(BATCHES).unwrap();
            let mut value = table.get(key).unwrap().unwrap().value().to_vec();
            change(&mut value);
            table.insert(key, value.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }

    fn replayed(store: &Store) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        store.replay(0, |r| {
            if let AnalysedRecord::Account(a) = r {
                ids.push(a.account_id.to_string());
            }
            Ok(())
        })?;
        Ok(ids)
    }

    #[test]
    fn a_changed_value_is_named_checked_and_left_behind_by_salvage() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            for i in 0..5 {
                store
                    .append(&[&record(&format!("a{i}"))], &[], &[], None)
                    .unwrap();
            }
            store.set_override("account:a1", None, entry(0)).unwrap();
        }
        // One bit of batch 2's compressed block flipped: the checksum no longer holds.
        tamper(dir.path(), 2, |v| {
            let last = v.len() - 1;
            v[last] ^= 0x10;
        });
        let store = Store::open(dir.path()).unwrap();
        let e = replayed(&store).unwrap_err();
        assert!(
            e.to_string().contains("record 2 of batches") && e.to_string().contains("checksum"),
            "{e}"
        );
        let check = store.check().unwrap();
        let batches = check.iter().find(|c| c.table == "batches").unwrap();
        assert_eq!((batches.values, batches.damaged), (5, 1));
        assert_eq!(batches.damaged_keys, ["2"]);
        assert!(
            check
                .iter()
                .filter(|c| c.table != "batches")
                .all(|c| c.damaged == 0)
        );

        let out = tempfile::tempdir().unwrap();
        let new_dir = out.path().join("salvaged");
        let salvaged = store.salvage(&new_dir).unwrap();
        let batches = salvaged.iter().find(|s| s.table == "batches").unwrap();
        assert_eq!((batches.kept, batches.dropped), (4, 1));
        let new = Store::open(&new_dir).unwrap();
        assert_eq!(replayed(&new).unwrap(), ["a0", "a1", "a3", "a4"]);
        assert_eq!(new.audit(0, 10).unwrap(), [entry(0)]);
        assert!(new.check().unwrap().iter().all(|c| c.damaged == 0));
        // Never over a store that exists.
        assert!(store.salvage(&new_dir).is_err());
    }

    #[test]
    fn a_store_written_before_checksums_is_sealed_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("moat.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut batches = txn.open_table(BATCHES).unwrap();
                for i in 0..3u64 {
                    let line = serde_json::to_vec(&record(&format!("old{i}"))).unwrap();
                    let block = zstd::bulk::compress(&line, 1).unwrap();
                    batches.insert(i, block.as_slice()).unwrap();
                }
                let mut audit = txn.open_table(AUDIT).unwrap();
                let bytes = serde_json::to_vec(&entry(0)).unwrap();
                audit.insert(0, bytes.as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(replayed(&store).unwrap(), ["old0", "old1", "old2"]);
        assert_eq!(store.audit(0, 10).unwrap(), [entry(0)]);
        store.append(&[&record("new")], &[], &[], None).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(replayed(&store).unwrap(), ["old0", "old1", "old2", "new"]);
        assert!(store.check().unwrap().iter().all(|c| c.damaged == 0));
    }

    #[test]
    fn idempotency_keys_stored_as_text_are_moved_and_a_damaged_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A store of format 2: keys as text.
            let db = Database::create(dir.path().join("moat.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut keys = txn.open_table(TEXT_INGEST_KEYS).unwrap();
                let mut order = txn.open_table(TEXT_INGEST_ORDER).unwrap();
                for (seq, key) in ["k0", "k1", "k2"].into_iter().enumerate() {
                    keys.insert(key, seq as u64).unwrap();
                    order.insert(seq as u64, key).unwrap();
                }
                txn.open_table(META).unwrap().insert(FORMAT_KEY, 2).unwrap();
            }
            txn.commit().unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert!(store.ingested("k1").unwrap());
        store.append(&[&record("a")], &["k3"], &[], None).unwrap();
        assert!(store.ingested("k3").unwrap());
        assert!(store.check().unwrap().iter().all(|c| c.damaged == 0));
        drop(store);

        // One key's bytes changed where it is placed: the two tables disagree.
        {
            let db = Database::create(dir.path().join("moat.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(INGEST_ORDER)
                .unwrap()
                .insert(1, [0xff, b'1'].as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let check = store.check().unwrap();
        let keys = check.iter().find(|c| c.table == "ingest_keys").unwrap();
        assert_eq!((keys.values, keys.damaged), (5, 2), "{keys:?}");
        assert_eq!(keys.damaged_keys, ["1", "1"]);
        let out = tempfile::tempdir().unwrap();
        let new_dir = out.path().join("salvaged");
        let salvaged = store.salvage(&new_dir).unwrap();
        let keys = salvaged.iter().find(|s| s.table == "ingest_keys").unwrap();
        assert_eq!((keys.kept, keys.dropped), (3, 2));
        let new = Store::open(&new_dir).unwrap();
        assert!(new.ingested("k0").unwrap() && new.ingested("k3").unwrap());
        assert!(!new.ingested("k1").unwrap());
        assert!(new.check().unwrap().iter().all(|c| c.damaged == 0));
    }

    fn verdict(id: &str, verdict: Verdict, campaign: Option<&str>) -> AccountVerdict {
        AccountVerdict {
            account_id: id.into(),
            verdict,
            score: 0.5,
            campaign_id: campaign.map(str::to_owned),
            flagged_at: None,
            exchanges: 3,
            signals: Vec::new(),
            ..AccountVerdict::default()
        }
    }

    fn ids(verdicts: Vec<AccountVerdict>) -> Vec<String> {
        let mut ids: Vec<String> = verdicts.into_iter().map(|v| v.account_id).collect();
        ids.sort();
        ids
    }

    #[test]
    fn only_verdicts_that_decide_are_kept_beside_the_blocked_keys() {
        let dir = tempfile::tempdir().unwrap();
        let keys: BlockedKeys = serde_json::from_value(serde_json::json!({
            "blocklist": {"keys": {"17": 3, "18446744073709551615": 3}},
            "campaigns": [[3, "campaign-00000003"]],
        }))
        .unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            assert_eq!(store.blocked().unwrap(), None);
            let verdicts = [
                verdict("blocked", Verdict::Block, Some("campaign-00000003")),
                verdict("watched", Verdict::Watch, None),
                verdict("in-a-campaign", Verdict::Allow, Some("campaign-00000003")),
                verdict("customer", Verdict::Allow, None),
            ];
            store
                .append(&[&record("a")], &[], &verdicts, Some(&keys))
                .unwrap();
            // Allowed after all: forgotten.
            let cleared = [verdict("watched", Verdict::Allow, None)];
            store.append(&[&record("b")], &[], &cleared, None).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(ids(store.verdicts().unwrap()), ["blocked", "in-a-campaign"]);
        assert_eq!(store.blocked().unwrap(), Some(keys.clone()));
        let check = store.check().unwrap();
        let stored = check
            .iter()
            .find(|c| c.table == "blocked_campaigns")
            .unwrap();
        assert_eq!((stored.values, stored.damaged), (1, 0));
        let out = tempfile::tempdir().unwrap();
        store.salvage(&out.path().join("salvaged")).unwrap();
        let salvaged = Store::open(&out.path().join("salvaged")).unwrap();
        assert_eq!(salvaged.blocked().unwrap(), Some(keys));
    }

    #[test]
    fn a_store_of_format_3_forgets_the_verdicts_that_decide_nothing() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("moat.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut table = txn.open_table(VERDICTS).unwrap();
                for v in [
                    verdict("blocked", Verdict::Block, Some("campaign-00000003")),
                    verdict("customer", Verdict::Allow, None),
                ] {
                    let bytes = serde_json::to_vec(&v).unwrap();
                    table
                        .insert(v.account_id.as_str(), sealed(&bytes).as_slice())
                        .unwrap();
                }
                // A damaged verdict stays, for the check to name.
                table.insert("damaged", [0u8; 12].as_slice()).unwrap();
                txn.open_table(META).unwrap().insert(FORMAT_KEY, 3).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let check = store.check().unwrap();
        let verdicts = check.iter().find(|c| c.table == "verdicts").unwrap();
        assert_eq!((verdicts.values, verdicts.damaged), (2, 1), "{verdicts:?}");
        assert_eq!(verdicts.damaged_keys, ["damaged"]);
    }

    #[test]
    fn a_store_of_a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        {
            let db = Database::create(dir.path().join("moat.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(FORMAT_KEY, FORMAT + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let e = Store::open(dir.path()).err().unwrap();
        assert!(e.to_string().contains("newer"), "{e}");
    }
}
