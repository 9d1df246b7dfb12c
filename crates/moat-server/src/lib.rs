//! The live moat service: the engine on live traffic, answering "allow, throttle,
//! challenge or block?" for each request from inside the gateways providers already run.
//!
//! - [`http`]: ingest (`POST /v1/exchanges`), decisions (`POST /v1/check`, LiteLLM's
//!   Generic Guardrail API), queries, admin actions, health and Prometheus metrics;
//! - [`authz`]: Envoy's external authorization gRPC API;
//! - [`dashboard`]: the live dashboard at `/`, behind the admin token;
//! - [`live`]: the engine thread, which applies ingested records and publishes verdicts;
//! - [`board`]: what decisions read without waiting for the engine;
//! - [`decide`]: the decision itself, with GCRA rate budgets;
//! - [`store`]: the embedded store that makes every acknowledged record survive a crash.

pub mod app;
pub mod auth;
pub mod authz;
pub mod board;
pub mod config;
pub mod dashboard;
pub mod decide;
pub mod guardrail;
pub mod http;
pub mod listen;
pub mod live;
pub mod metrics;
pub mod sessions;
pub mod slots;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::AuthorizationServer;
use moat_core::{DetectConfig, EventTime, PartnerIntel};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

pub use config::ServeConfig;

use crate::app::AppState;
use crate::board::Board;
use crate::decide::Decider;
use crate::live::{Live, SnapshotPolicy};
use crate::metrics::Metrics;
use crate::store::Store;

/// The wall clock as an event time.
pub fn wall_clock() -> EventTime {
    EventTime::from_unix_micros(jiff::Timestamp::now().as_microsecond()).unwrap_or_default()
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A listening address.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Why the engine stopped before the service was asked to stop.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineStopped {
    /// The store could not be replayed on start.
    #[error(
        "cannot replay the store: {reason}; `moat store check {dir}` lists what is damaged, \
         `moat store salvage {dir} --out NEW_DIR` copies the rest to a new store"
    )]
    Replay {
        /// Why.
        reason: String,
        /// The store's folder.
        dir: String,
    },
    /// A commit to the store failed: what the engine holds may not be stored, so it
    /// stopped (the next start replays what was).
    #[error("cannot commit to the store, stopped: {0}")]
    Commit(String),
}

/// A bound, running service.
pub struct Server {
    http_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    engine: std::thread::JoinHandle<()>,
    /// Set when the engine stops on its own.
    engine_stopped: watch::Receiver<Option<EngineStopped>>,
}

impl Server {
    /// Opens the store, binds the listeners and starts serving (on the current tokio
    /// runtime). The engine replays the store in the background; `/readyz` says when it
    /// is done, and decisions use the stored verdicts meanwhile.
    /// `intel`: partners' indicators the engine checks new accounts against (the
    /// `[intel]` section), if any.
    pub async fn start(
        config: ServeConfig,
        detect: DetectConfig,
        intel: Option<Box<dyn PartnerIntel>>,
    ) -> Result<Self, StartError> {
        let store = Store::open(&config.data_dir)?;
        let http = bind(config.listen).await?;
        let http_addr = http.local_addr().map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
        let grpc = match config.grpc_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let grpc_addr = grpc.as_ref().and_then(|l| l.local_addr().ok());

        let board = Arc::new(Board::new());
        let (commands, receiver) = mpsc::channel(4096);
        let engine_board = board.clone();
        let limits = detect.limits.clone();
        let data_dir = config.data_dir.clone();
        let snapshots = SnapshotPolicy {
            every: config.snapshot_every_exchanges,
            retire: config.retire_behind_snapshots,
        };
        let (stopped_by_engine, engine_stopped) = watch::channel(None);
        let engine = std::thread::Builder::new()
            .name("moat-engine".into())
            .spawn(move || {
                let failed = match Live::start(detect, intel, store, engine_board, snapshots) {
                    Ok(live) => live.run(receiver).err().map(EngineStopped::Commit),
                    Err(e) => Some(EngineStopped::Replay {
                        reason: e.to_string(),
                        dir: data_dir.display().to_string(),
                    }),
                };
                if let Some(e) = failed {
                    tracing::error!("{e}");
                    let _ = stopped_by_engine.send(Some(e));
                }
            })
            .expect("the engine thread starts");

        let config_decodes = config.max_concurrent_decodes;
        let failures = auth::Failures::new(
            config.max_auth_failures,
            std::time::Duration::from_secs(config.auth_failure_window_seconds),
        );
        let state = Arc::new(AppState {
            decider: Decider::new(board.clone(), &config, &limits),
            config,
            board,
            metrics: Metrics::default(),
            engine: commands,
            sessions: Default::default(),
            decodes: tokio::sync::Semaphore::new(config_decodes),
            guardrail_reads: tokio::sync::Semaphore::new(config_decodes),
            failures,
        });
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();

        let app = http::router(state.clone());
        tasks.push(tokio::spawn(listen::serve(
            http,
            app,
            state.clone(),
            stopped.clone(),
        )));

        if let Some(grpc) = grpc {
            let service = AuthorizationServer::new(authz::Authz::new(state.clone()));
            let grpc_state = state.clone();
            let mut until = stopped.clone();
            // Pings tell a live peer from a dead or silent one; a peer that does not
            // answer one within as long is closed.
            let keepalive = Duration::from_secs(state.config.grpc_keepalive_seconds.max(1));
            tasks.push(tokio::spawn(async move {
                let incoming = listen::grpc_incoming(grpc, grpc_state);
                let shutdown = async move {
                    let _ = until.wait_for(|&s| s).await;
                };
                if let Err(e) = tonic::transport::Server::builder()
                    .http2_keepalive_interval(Some(keepalive))
                    .http2_keepalive_timeout(Some(keepalive))
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, shutdown)
                    .await
                {
                    tracing::error!("gRPC server: {e}");
                }
            }));
        }

        let mut until = stopped;
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = every.tick() => state.decider.forget_idle(),
                    _ = until.wait_for(|&s| s) => break,
                }
            }
        }));

        Ok(Self {
            http_addr,
            grpc_addr,
            stop,
            tasks,
            engine,
            engine_stopped,
        })
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the ext_authz gRPC API listens, if it does.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// Serves until `shutdown` completes, then stops accepting, finishes the requests
    /// under way and lets the engine commit what was sent to it. Stops the same way, and
    /// says why, when the engine stops on its own (the store could not be replayed or
    /// could not take a commit).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), EngineStopped> {
        let mut engine_stopped = self.engine_stopped.clone();
        let failed = tokio::select! {
            () = shutdown => None,
            stopped = engine_stopped.wait_for(Option::is_some) => {
                stopped.ok().and_then(|s| s.clone())
            }
        };
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let engine = self.engine;
        let _ = tokio::task::spawn_blocking(move || engine.join()).await;
        failed.map_or(Ok(()), Err)
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })
}
