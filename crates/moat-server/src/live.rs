//! The engine thread: owns the [`Engine`] and the [`Store`], applies ingested records in
//! the order they were acknowledged, commits them with the verdicts they led to (one
//! transaction for every batch waiting, a group commit), and publishes verdicts to the
//! [`Board`]. Queries and admin actions go through it too, so they see what was
//! acknowledged before them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moat_core::{
    AccountVerdict, AnalysedRecord, CampaignReport, DetectConfig, Engine, PartnerIntel, Report,
    Story, Verdict,
};
use tokio::sync::{mpsc, oneshot};

use crate::board::{BlockedCampaigns, Board, Counts};
use crate::store::{AuditEntry, BlockedKeys, Override, Store, StoreError};

/// Where the answer to an ingest goes: what became of it, or why its records are not in.
pub type IngestReply = oneshot::Sender<Result<Ingested, String>>;

/// What became of an ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// How many exchanges the engine has read once the records are in.
    pub exchanges: u64,
    /// Whether an ingest with the same idempotency key was already stored, so that these
    /// records were not taken in again.
    pub duplicate: bool,
}

/// An ingest waiting for the next commit.
struct Pending {
    records: Vec<AnalysedRecord>,
    key: Option<String>,
    reply: IngestReply,
}

/// What the engine thread is asked to do.
#[allow(clippy::large_enum_variant)] // commands are moved once, through a channel
pub enum Command {
    /// Read records and store them; answer once they are durable.
    Ingest {
        /// The records, in order.
        records: Vec<AnalysedRecord>,
        /// The caller's idempotency key: a retry with the same key is not taken in twice.
        key: Option<String>,
        /// Where the answer goes.
        reply: IngestReply,
    },
    /// One account's verdict as it stands.
    Account {
        /// The account.
        id: String,
        /// The verdict, if the account was seen.
        reply: oneshot::Sender<Option<AccountVerdict>>,
    },
    /// The report as it stands.
    Report {
        /// The report.
        reply: oneshot::Sender<Report>,
    },
    /// One campaign as it stands, with its members.
    Campaign {
        /// The campaign's id.
        id: String,
        /// The campaign and its members' verdicts.
        reply: oneshot::Sender<Option<(CampaignReport, Vec<AccountVerdict>)>>,
    },
    /// Sets or clears a manual decision, audited.
    Override {
        /// `account:<id>` or `campaign:<id>`.
        target: String,
        /// The decision, or `None` to clear it.
        decision: Option<Override>,
        /// The audit entry (its sequence number is assigned here).
        entry: AuditEntry,
        /// The entry as logged.
        reply: oneshot::Sender<Result<AuditEntry, String>>,
    },
    /// The dashboard's view: every verdict, the report and the story, at most
    /// [`VIEW_TTL`] old.
    Dashboard {
        /// The view.
        reply: oneshot::Sender<Arc<View>>,
    },
    /// Reads the audit log.
    Audit {
        /// First sequence number.
        from: u64,
        /// Most entries.
        limit: usize,
        /// The entries.
        reply: oneshot::Sender<Result<Vec<AuditEntry>, String>>,
    },
}

/// How long a dashboard view is reused: a view costs a pass over every account.
pub const VIEW_TTL: Duration = Duration::from_secs(4);

/// What the dashboard draws, as the engine stood when it was taken.
#[derive(Debug, Default)]
pub struct View {
    /// Every account's verdict.
    pub accounts: Vec<AccountVerdict>,
    /// The campaigns and totals.
    pub report: Report,
    /// The traffic over time and the campaigns' stories.
    pub story: Story,
    /// The engine's watch and block thresholds.
    pub thresholds: (f64, f64),
}

/// The engine, the store and the board, on one thread.
pub struct Live {
    engine: Engine,
    store: Store,
    board: Arc<Board>,
    rounds_published: u64,
    view: Option<(Instant, Arc<View>)>,
    /// When snapshots of the engine are kept, and whether the batches behind them are
    /// retired.
    snapshots: SnapshotPolicy,
    /// The engine's exchanges when its last snapshot was kept.
    snapshot_at: u64,
    /// The blocked campaigns' keys as the store holds them.
    keys_stored: BlockedKeys,
}

impl Live {
    /// Opens the live engine over `store`: publishes the stored verdicts, the blocked
    /// campaigns' keys and the manual decisions at once (so decisions are right from the
    /// first request: an account without a stored verdict is allowed), then restores
    /// the engine from the latest snapshot it can use, replays the records stored after it
    /// and marks the board ready. A snapshot that cannot be used is said so in the log, and
    /// the one before it is tried; with none, every record still stored is replayed. From
    /// then on, snapshots are kept as `snapshots` says.
    pub fn start(
        config: DetectConfig,
        intel: Option<Box<dyn PartnerIntel>>,
        store: Store,
        board: Arc<Board>,
        snapshots: SnapshotPolicy,
    ) -> Result<Self, StoreError> {
        board.publish(store.verdicts()?);
        let keys_stored = store.blocked()?.unwrap_or_default();
        board.set_blocked(BlockedCampaigns::stored(keys_stored.clone(), &config));
        for (target, decision) in store.overrides()? {
            board.set_override(&target, Some(decision));
        }
        board.set_decisions_ready();
        let started = Instant::now();
        let (mut engine, covered) = restored(config, intel, &store);
        let from_snapshot = engine.exchanges();
        store.replay(covered, |record| {
            apply(&mut engine, &record);
            Ok(())
        })?;
        tracing::info!(
            exchanges = engine.exchanges(),
            from_snapshot,
            seconds = format_args!("{:.1}", started.elapsed().as_secs_f64()),
            "replayed the store; ready"
        );
        engine.record_changes();
        let mut live = Self {
            snapshot_at: engine.exchanges(),
            engine,
            store,
            board,
            rounds_published: u64::MAX,
            view: None,
            snapshots,
            keys_stored,
        };
        let verdicts = live.engine.snapshot().accounts;
        live.board.publish(verdicts);
        live.publish_round();
        let replayed = live.engine.exchanges() - from_snapshot;
        live.board.set_ready(from_snapshot, replayed);
        // What was replayed need not be again at the next start.
        if snapshots.every > 0 && replayed > 0 {
            live.keep_snapshot();
        }
        Ok(live)
    }

    /// Serves commands until every sender is gone; fails, and stops, when the store cannot
    /// take a commit (the engine then holds records the store does not: the only way back
    /// to a state the store can reproduce is to stop, and replay on the next start).
    pub fn run(mut self, mut commands: mpsc::Receiver<Command>) -> Result<(), String> {
        let mut pending = Vec::new();
        while let Some(first) = commands.blocking_recv() {
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Ingest {
                        records,
                        key,
                        reply,
                    } => pending.push(Pending {
                        records,
                        key,
                        reply,
                    }),
                    other => {
                        self.ingest(&mut pending)?;
                        self.answer(other);
                    }
                }
                next = commands.try_recv().ok();
            }
            self.ingest(&mut pending)?;
            if self.snapshots.every > 0
                && self.engine.exchanges() - self.snapshot_at >= self.snapshots.every
            {
                self.keep_snapshot();
            }
        }
        if self.snapshots.every > 0 && self.engine.exchanges() > self.snapshot_at {
            self.keep_snapshot();
        }
        Ok(())
    }

    /// Keeps a snapshot of the engine as it stands, covering every batch stored; one that
    /// cannot be kept is said so in the log (the next start replays more).
    fn keep_snapshot(&mut self) {
        let started = Instant::now();
        let saved = self
            .engine
            .save()
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                self.store
                    .save_snapshot(self.store.batches(), &bytes, self.snapshots.retire)
                    .map_err(|e| e.to_string())
                    .map(|retired| (bytes.len(), retired))
            });
        match saved {
            Ok((bytes, retired)) => {
                self.snapshot_at = self.engine.exchanges();
                tracing::info!(
                    exchanges = self.snapshot_at,
                    bytes,
                    retired_batches = retired,
                    seconds = format_args!("{:.1}", started.elapsed().as_secs_f64()),
                    "kept a snapshot of the engine"
                );
            }
            Err(e) => tracing::warn!("cannot keep a snapshot of the engine: {e}"),
        }
    }

    /// Applies and commits every waiting batch in one transaction, then answers them; a
    /// batch whose idempotency key is stored already (or came earlier in the same group)
    /// is answered as a duplicate and not applied.
    /// Fails when the store cannot take the commit: the engine then holds records the
    /// store does not, and must stop.
    fn ingest(&mut self, pending: &mut Vec<Pending>) -> Result<(), String> {
        if pending.is_empty() {
            return Ok(());
        }
        match self.commit(pending) {
            Ok(duplicates) => {
                let exchanges = self.engine.exchanges();
                for (p, duplicate) in pending.drain(..).zip(duplicates) {
                    let _ = p.reply.send(Ok(Ingested {
                        exchanges,
                        duplicate,
                    }));
                }
            }
            Err(e) => {
                for p in pending.drain(..) {
                    let _ = p.reply.send(Err(e.clone()));
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Applies the waiting batches that are not duplicates and commits them; per batch,
    /// whether it was a duplicate.
    fn commit(&mut self, pending: &[Pending]) -> Result<Vec<bool>, String> {
        let mut keys: HashSet<&str> = HashSet::new();
        let mut duplicates = Vec::with_capacity(pending.len());
        for p in pending {
            let duplicate = match p.key.as_deref() {
                Some(key) => {
                    self.store.ingested(key).map_err(|e| e.to_string())? || !keys.insert(key)
                }
                None => false,
            };
            duplicates.push(duplicate);
        }
        let fresh: Vec<&Pending> = pending
            .iter()
            .zip(&duplicates)
            .filter(|(_, duplicate)| !**duplicate)
            .map(|(p, _)| p)
            .collect();
        if fresh.is_empty() {
            return Ok(duplicates);
        }
        for p in &fresh {
            for record in &p.records {
                apply(&mut self.engine, record);
            }
        }
        let verdicts = self.engine.take_changes();
        let records: Vec<&AnalysedRecord> = fresh.iter().flat_map(|p| &p.records).collect();
        let keys: Vec<&str> = fresh.iter().filter_map(|p| p.key.as_deref()).collect();
        // The blocked campaigns' keys are stored with the verdicts they came with, when a
        // round changed them.
        let blocked = (self.engine.rounds() != self.rounds_published)
            .then(|| blocked_keys(&self.engine))
            .filter(|keys| *keys != self.keys_stored);
        self.store
            .append(&records, &keys, &verdicts, blocked.as_ref())
            .map_err(|e| e.to_string())?;
        if let Some(keys) = blocked {
            self.keys_stored = keys;
        }
        tracing::debug!(
            records = records.len(),
            duplicates = pending.len() - fresh.len(),
            "committed"
        );
        if tracing::enabled!(tracing::Level::INFO) {
            for v in verdicts.iter().filter(|v| v.verdict == Verdict::Block) {
                let was_blocked = self
                    .board
                    .account(&v.account_id)
                    .is_some_and(|p| p.verdict == Verdict::Block);
                if !was_blocked {
                    tracing::info!(
                        account = %v.account_id,
                        campaign = v.campaign_id.as_deref().unwrap_or("-"),
                        score = v.score,
                        "blocked"
                    );
                }
            }
        }
        self.board.publish(verdicts);
        self.publish_round();
        Ok(duplicates)
    }

    /// After a round: the blocked campaigns' keys, and the counts.
    fn publish_round(&mut self) {
        let engine = &self.engine;
        self.board.set_counts(Counts {
            exchanges: engine.exchanges(),
            accounts: engine.accounts() as u64,
            clamped: engine.clamped(),
            campaigns: engine.active_campaigns() as u64,
            latest_micros: engine.now().map(|t| t.as_unix_micros()),
        });
        if engine.rounds() == self.rounds_published {
            return;
        }
        self.rounds_published = engine.rounds();
        let keys = blocked_keys(engine);
        self.board
            .set_blocked(BlockedCampaigns::stored(keys, engine.config()));
    }

    fn view(&mut self) -> Arc<View> {
        if let Some((at, view)) = &self.view
            && at.elapsed() < VIEW_TTL
        {
            return view.clone();
        }
        let outcome = self.engine.snapshot();
        let story = self.engine.story(&outcome.report).unwrap_or_default();
        let view = Arc::new(View {
            accounts: outcome.accounts,
            report: outcome.report,
            story,
            thresholds: (self.engine.config().watch, self.engine.config().block),
        });
        self.view = Some((Instant::now(), view.clone()));
        view
    }

    fn answer(&mut self, command: Command) {
        match command {
            Command::Ingest { .. } => unreachable!("ingests are batched"),
            Command::Account { id, reply } => {
                let _ = reply.send(self.engine.verdict(&id));
            }
            Command::Report { reply } => {
                let _ = reply.send(self.engine.snapshot().report);
            }
            Command::Campaign { id, reply } => {
                let _ = reply.send(self.engine.campaign(&id));
            }
            Command::Dashboard { reply } => {
                let _ = reply.send(self.view());
            }
            Command::Override {
                target,
                decision,
                entry,
                reply,
            } => {
                let result = self
                    .store
                    .set_override(&target, decision.as_ref(), entry)
                    .map_err(|e| e.to_string());
                if let Ok(entry) = &result {
                    tracing::info!(
                        operator = %entry.actor,
                        action = %entry.action,
                        target = %entry.target,
                        "manual decision"
                    );
                    self.board.set_override(&target, decision);
                }
                let _ = reply.send(result);
            }
            Command::Audit { from, limit, reply } => {
                let _ = reply.send(self.store.audit(from, limit).map_err(|e| e.to_string()));
            }
        }
    }
}

/// The blocked campaigns' keys as the engine holds them.
fn blocked_keys(engine: &Engine) -> BlockedKeys {
    let blocklist = engine.blocklist().clone();
    let campaigns = blocklist
        .roots()
        .into_iter()
        .map(|root| (root, engine.campaign_id(root)))
        .collect();
    BlockedKeys {
        blocklist,
        campaigns,
    }
}

/// The engine as of the store's latest snapshot that can be used and the number of batches
/// it covers, or a new engine and the first batch still stored when none can.
fn restored(
    config: DetectConfig,
    intel: Option<Box<dyn PartnerIntel>>,
    store: &Store,
) -> (Engine, u64) {
    let partners = intel.as_ref().map(|i| i.partners()).unwrap_or_default();
    let fresh = |config: DetectConfig, intel: Option<Box<dyn PartnerIntel>>| {
        let engine = Engine::new(config).with_story();
        match intel {
            Some(intel) => engine.with_intel(intel),
            None => engine,
        }
    };
    let snapshots = store.snapshots().unwrap_or_else(|e| {
        tracing::warn!("{e}");
        Vec::new()
    });
    for (covers, bytes) in snapshots {
        match bytes.and_then(|bytes| {
            Engine::restore(config.clone(), &partners, &bytes)
                .map_err(|e| StoreError::Db(e.to_string()))
        }) {
            Ok(engine) => {
                let engine = match intel {
                    Some(intel) => engine.with_intel(intel),
                    None => engine,
                };
                return (engine, covers);
            }
            Err(e) => tracing::warn!("the snapshot covering {covers} batches: {e}"),
        }
    }
    let first = store.first_batch().ok().flatten().unwrap_or(0);
    if first > 0 {
        tracing::warn!(
            "no snapshot of the engine can be used, and the {first} first batches were retired \
             behind one: the engine starts from the batches stored after them (set \
             retire_behind_snapshots = false to keep every exchange)"
        );
    } else {
        tracing::info!("replaying every stored record");
    }
    (fresh(config, intel), first)
}

/// When the live engine keeps snapshots of itself in the store.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotPolicy {
    /// Exchanges taken in between two snapshots (0: none kept).
    pub every: u64,
    /// Delete the batches behind the older of the two snapshots kept.
    pub retire: bool,
}

fn apply(engine: &mut Engine, record: &AnalysedRecord) {
    match record {
        AnalysedRecord::Exchange(e) => engine.observe(e),
        AnalysedRecord::Account(a) => engine.observe_account(a),
    }
}
