//! `moat bench serve`: decisions per second and their latency, over loopback, from the
//! HTTP check API and the Envoy ext_authz gRPC API, while exchanges are ingested.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use moat_core::Exchange;
use moat_server::{ServeConfig, Server};
use serde::Serialize;
use serde_json::json;

use crate::config::Config;
use crate::input::print_stdout;

/// Exchanges per ingest request.
const BATCH: usize = 1000;

/// Arguments of `moat bench serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario whose traffic is ingested (half before, half during the measure).
    #[arg(long, default_value = "hydra-29m", value_name = "NAME|FILE")]
    scenario: String,

    /// Its scale.
    #[arg(long, default_value_t = 0.002)]
    scale: f64,

    /// How long each API is measured, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,

    /// Exchanges per second ingested while decisions are measured (0: as fast as the
    /// server takes them).
    #[arg(long, default_value_t = 5000)]
    ingest_rate: u64,

    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct ApiFigures {
    api: &'static str,
    decisions: u64,
    decisions_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    errors: u64,
    ingested_exchanges_s: f64,
}

/// Runs the benchmark.
pub fn run(args: Args, config: &Config) -> anyhow::Result<ExitCode> {
    let scenario = moat_sim::Scenario::load(&args.scenario)?;
    let options = moat_sim::SimOptions {
        scale: args.scale,
        seed: 1,
        corpus: None,
        operator_seed: None,
    };
    let exchanges: Vec<Exchange> = moat_sim::Simulation::new(&scenario, &options).collect();
    anyhow::ensure!(
        exchanges.len() >= 2,
        "the scenario made no traffic at this scale"
    );
    let dir = tempfile::tempdir().context("cannot make a folder for the store")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let figures = runtime.block_on(measure(&args, exchanges, dir.path(), config))?;
    if args.json {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&figures)?))?;
    } else {
        let mut table = String::from(
            "| API | decisions | decisions/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | ingest exchanges/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for f in &figures {
            table.push_str(&format!(
                "| {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.1} | {} | {:.0} |\n",
                f.api,
                f.decisions,
                f.decisions_s,
                f.p50_ms,
                f.p99_ms,
                f.p999_ms,
                f.max_ms,
                f.errors,
                f.ingested_exchanges_s
            ));
        }
        print_stdout(&table)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn measure(
    args: &Args,
    exchanges: Vec<Exchange>,
    dir: &std::path::Path,
    config: &Config,
) -> anyhow::Result<Vec<ApiFigures>> {
    let token = format!("bench-ingest-{:016x}", rand::random::<u64>());
    let serve = ServeConfig {
        listen: "127.0.0.1:0".parse()?,
        grpc_listen: Some("127.0.0.1:0".parse()?),
        data_dir: dir.to_owned(),
        ingest_token: Some(token.clone()),
        admin_token: Some(format!("bench-admin-{:016x}", rand::random::<u64>())),
        ..ServeConfig::default()
    }
    .resolve()?;
    let server = Server::start(serve, config.detect.clone(), None).await?;
    let base = format!("http://{}", server.http_addr());
    let grpc = format!("http://{}", server.grpc_addr().context("no gRPC listener")?);
    let http = reqwest::Client::new();

    // The first half of the traffic is history; the second streams in while measuring.
    let half = exchanges.len() / 2;
    let batches: Vec<Vec<u8>> = exchanges.chunks(BATCH).map(ndjson).collect();
    let first = batches.len() / 2;
    for batch in &batches[..first] {
        post(&http, &base, &token, batch.clone()).await?;
    }
    let mut accounts: Vec<&Exchange> = Vec::new();
    let mut seen = HashMap::new();
    for e in &exchanges[..half] {
        if seen.insert(e.account_id.as_str(), ()).is_none() {
            accounts.push(e);
        }
    }
    let checks: Arc<Vec<String>> = Arc::new(
        accounts
            .iter()
            .map(|e| {
                json!({
                    "account_id": e.account_id,
                    "client": {"ip": e.client.ip, "user_agent": e.client.user_agent},
                    "request": e.request,
                })
                .to_string()
            })
            .collect(),
    );
    let authz: Arc<Vec<CheckRequest>> =
        Arc::new(accounts.iter().map(|e| authz_request(e)).collect());
    let live: Arc<Vec<Vec<u8>>> = Arc::new(batches[first..].to_vec());
    let mut figures = Vec::new();
    for api in ["check", "authz"] {
        let stop = Arc::new(AtomicBool::new(false));
        let ingested = Arc::new(AtomicU64::new(0));
        let ingest = {
            let (http, base, token, live, stop, ingested) = (
                http.clone(),
                base.clone(),
                token.clone(),
                live.clone(),
                stop.clone(),
                ingested.clone(),
            );
            let rate = args.ingest_rate;
            let pace = (rate > 0).then(|| Duration::from_secs_f64(BATCH as f64 / rate as f64));
            tokio::spawn(async move {
                let mut ticks = pace.map(tokio::time::interval);
                for batch in live.iter().cycle() {
                    if let Some(t) = &mut ticks {
                        t.tick().await;
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if post(&http, &base, &token, batch.clone()).await.is_ok() {
                        ingested.fetch_add(BATCH as u64, Ordering::Relaxed);
                    }
                }
            })
        };
        let started = Instant::now();
        let deadline = started + Duration::from_secs(args.seconds);
        // gRPC calls share one HTTP/2 connection, as Envoy's do.
        let channel = match api {
            "authz" => Some(
                tonic::transport::Endpoint::from_shared(grpc.clone())?
                    .tcp_nodelay(true)
                    .connect()
                    .await
                    .context("cannot connect to the gRPC API")?,
            ),
            _ => None,
        };
        let mut clients = Vec::new();
        let concurrency = args.concurrency;
        for c in 0..concurrency {
            let (http, base, checks, authz) =
                (http.clone(), base.clone(), checks.clone(), authz.clone());
            let mut grpc_client = channel.clone().map(AuthorizationClient::new);
            clients.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut i = c;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let ok = match &mut grpc_client {
                        Some(client) => client.check(authz[i % authz.len()].clone()).await.is_ok(),
                        None => http
                            .post(format!("{base}/v1/check"))
                            .header("content-type", "application/json")
                            .body(checks[i % checks.len()].clone())
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success()),
                    };
                    if ok {
                        latencies.push(t.elapsed().as_micros() as u32);
                    } else {
                        errors += 1;
                    }
                    i += concurrency;
                }
                (latencies, errors)
            }));
        }
        let mut latencies = Vec::new();
        let mut errors = 0;
        for c in clients {
            let (l, e) = c.await?;
            latencies.extend(l);
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        ingest.await?;
        latencies.sort_unstable();
        let quantile = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(0.0, |&us| f64::from(us) / 1000.0)
        };
        figures.push(ApiFigures {
            api: if api == "check" {
                "HTTP /v1/check"
            } else {
                "gRPC ext_authz"
            },
            decisions: latencies.len() as u64,
            decisions_s: latencies.len() as f64 / elapsed,
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
            p999_ms: quantile(0.999),
            max_ms: latencies.last().map_or(0.0, |&us| f64::from(us) / 1000.0),
            errors,
            ingested_exchanges_s: ingested.load(Ordering::Relaxed) as f64 / elapsed,
        });
    }
    server.run_until(async {}).await?;
    Ok(figures)
}

fn ndjson(exchanges: &[Exchange]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in exchanges {
        serde_json::to_writer(&mut body, e).expect("exchanges serialise");
        body.push(b'\n');
    }
    body
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    body: Vec<u8>,
) -> anyhow::Result<()> {
    let r = http
        .post(format!("{base}/v1/exchanges"))
        .bearer_auth(token)
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "ingest answered {}", r.status());
    Ok(())
}

fn authz_request(e: &Exchange) -> CheckRequest {
    let mut headers = HashMap::new();
    headers.insert("x-moat-account".to_owned(), e.account_id.to_string());
    if let Some(ua) = &e.client.user_agent {
        headers.insert("user-agent".to_owned(), ua.to_string());
    }
    if let Some(ip) = e.client.ip {
        headers.insert("x-forwarded-for".to_owned(), ip.to_string());
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "POST".into(),
                    path: "/v1/chat/completions".into(),
                    headers,
                    body: json!({"model": e.model, "messages": e.request.messages}).to_string(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}
