//! Prometheus metrics: decisions by API and action, decision latency, ingest counts and
//! lag, accounts and campaigns.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::board::Board;

/// Labels of a decision.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `check`, `guardrail` or `authz`.
    pub api: &'static str,
    /// The action taken.
    pub action: &'static str,
}

/// Labels of a latency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// `check`, `guardrail` or `authz`.
    pub api: &'static str,
}

type HistogramFamily = Family<ApiLabels, Histogram, fn() -> Histogram>;

/// Every metric the service keeps.
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    latency: HistogramFamily,
    ingested: Counter,
    rejected: Counter,
    future: Counter,
    duplicates: Counter,
    too_large: Counter,
    slow_bodies: Counter,
    auth_failures: Counter,
    connections: Gauge,
    refused_connections: Counter,
    clamped: Gauge,
    accounts: Gauge,
    campaigns: Gauge,
    exchanges: Gauge,
    lag: Gauge<f64, AtomicU64>,
}

fn latency_histogram() -> Histogram {
    // 20 µs to about 0.3 s.
    Histogram::new(exponential_buckets(0.00002, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("moat");
        let decisions = Family::<DecisionLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let ingested = Counter::default();
        let rejected = Counter::default();
        let future = Counter::default();
        let duplicates = Counter::default();
        let too_large = Counter::default();
        let slow_bodies = Counter::default();
        let auth_failures = Counter::default();
        let connections = Gauge::default();
        let refused_connections = Counter::default();
        let clamped = Gauge::default();
        let accounts = Gauge::default();
        let campaigns = Gauge::default();
        let exchanges = Gauge::default();
        let lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "decisions",
            "Decisions taken, by API and action",
            decisions.clone(),
        );
        registry.register(
            "decision_seconds",
            "Time to take a decision, by API",
            latency.clone(),
        );
        registry.register("ingested_records", "Records ingested", ingested.clone());
        registry.register(
            "rejected_records",
            "Records rejected at ingest",
            rejected.clone(),
        );
        registry.register(
            "future_records",
            "Records rejected at ingest for timestamps ahead of the server's clock",
            future.clone(),
        );
        registry.register(
            "duplicate_ingests",
            "Ingests not taken in again: their Idempotency-Key was stored already",
            duplicates.clone(),
        );
        registry.register(
            "too_large_bodies",
            "Ingest bodies refused for expanding past max_decoded_bytes or holding more than max_records_per_body",
            too_large.clone(),
        );
        registry.register(
            "slow_bodies",
            "Requests answered 408 because their body did not arrive within body_timeout_seconds",
            slow_bodies.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests and sign-ins refused for a wrong or missing token",
            auth_failures.clone(),
        );
        registry.register(
            "open_connections",
            "HTTP connections open (at most max_connections)",
            connections.clone(),
        );
        registry.register(
            "refused_connections",
            "Connections closed at once because their address held max_connections_per_address on that port",
            refused_connections.clone(),
        );
        registry.register(
            "clamped_exchanges",
            "Exchanges read at the stream's time because they lay too far ahead of it",
            clamped.clone(),
        );
        registry.register("accounts", "Accounts seen", accounts.clone());
        registry.register(
            "campaigns",
            "Clusters with evidence of a campaign in the last round",
            campaigns.clone(),
        );
        registry.register(
            "exchanges",
            "Exchanges the engine has read",
            exchanges.clone(),
        );
        registry.register(
            "ingest_lag_seconds",
            "Wall clock minus the event time of the latest exchange read",
            lag.clone(),
        );
        Self {
            registry,
            decisions,
            latency,
            ingested,
            rejected,
            future,
            duplicates,
            too_large,
            slow_bodies,
            auth_failures,
            connections,
            refused_connections,
            clamped,
            accounts,
            campaigns,
            exchanges,
            lag,
        }
    }
}

impl Metrics {
    /// Counts a decision and its latency.
    pub fn decided(&self, api: &'static str, action: &'static str, seconds: f64) {
        self.decisions
            .get_or_create(&DecisionLabels { api, action })
            .inc();
        self.latency
            .get_or_create(&ApiLabels { api })
            .observe(seconds);
    }

    /// Counts ingested and rejected records.
    pub fn ingest(&self, ingested: u64, rejected: u64) {
        self.ingested.inc_by(ingested);
        self.rejected.inc_by(rejected);
    }

    /// Counts an ingest body refused for its size once decoded.
    pub fn too_large(&self) {
        self.too_large.inc();
    }

    /// Counts a request whose body did not arrive in time.
    pub fn slow_body(&self) {
        self.slow_bodies.inc();
    }

    /// Counts a failed authentication.
    pub fn auth_failed(&self) {
        self.auth_failures.inc();
    }

    /// Counts an HTTP connection opened (`+1`) or closed (`-1`).
    pub fn connection(&self, change: i64) {
        self.connections.inc_by(change);
    }

    /// Counts a connection closed for its address holding its share of the slots.
    pub fn refused_connection(&self) {
        self.refused_connections.inc();
    }

    /// Counts an ingest not taken in again for its stored idempotency key.
    pub fn duplicate(&self) {
        self.duplicates.inc();
    }

    /// Counts records refused for timestamps ahead of the server's clock.
    pub fn future(&self, records: u64) {
        self.future.inc_by(records);
    }

    /// The metrics in the Prometheus text format, with the gauges read off `board`.
    pub fn render(&self, board: &Board) -> String {
        self.accounts.set(board.accounts() as i64);
        self.campaigns.set(board.campaigns() as i64);
        self.exchanges.set(board.exchanges() as i64);
        self.clamped.set(board.clamped() as i64);
        if let Some(latest) = board.latest_micros() {
            let now = crate::wall_clock().as_unix_micros();
            self.lag.set((now - latest) as f64 / 1e6);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
