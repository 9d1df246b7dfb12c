//! `moat serve` survives `kill -9`: a server killed while exchanges stream in comes back
//! with every exchange it acknowledged and the verdicts they led to, exactly as an engine
//! that read the same exchanges in memory, whether it restores them from a snapshot of its
//! engine and the records stored after it or replays every record.

mod server;

use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moat_core::{Analysed, DetectConfig, Engine, Exchange, Verdict};
use moat_sim::{Scenario, SimOptions, Simulation};
use serde_json::{Value, json};

const INGEST: &str = "ingest-token-for-crash-test";
const ADMIN: &str = "admin-token-for-crash-test";
const BATCH: usize = 2000;

/// Snapshots of the engine every this many exchanges: several before the kill.
const SNAPSHOT_EVERY: u64 = 7000;

fn spawn_server(dir: &std::path::Path, snapshots: bool) -> (Child, String) {
    let config = dir.join("moat.toml");
    let every = if snapshots { SNAPSHOT_EVERY } else { 0 };
    std::fs::write(
        &config,
        format!("[serve]\nsnapshot_every_exchanges = {every}\n"),
    )
    .unwrap();
    let config = config.display().to_string();
    server::spawn_with(dir, INGEST, ADMIN, &["--config", &config])
}

/// Waits until the server at `base` is ready; its `/readyz` answer.
fn wait_ready(http: &reqwest::blocking::Client, base: &str) -> Value {
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send()
            && r.status() == 200
        {
            return r.json().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(120), "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn body(exchanges: &[Exchange]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in exchanges {
        serde_json::to_writer(&mut body, e).unwrap();
        body.push(b'\n');
    }
    body
}

#[test]
fn kill_9_loses_no_acknowledged_exchange_and_no_verdict() {
    killed_and_restarted(false);
}

#[test]
fn kill_9_loses_nothing_when_the_restart_restores_a_snapshot() {
    killed_and_restarted(true);
}

fn killed_and_restarted(snapshots: bool) {
    let scenario = Scenario::load("hydra-29m").unwrap();
    let options = SimOptions {
        scale: 0.002,
        seed: 57,
        corpus: None,
        operator_seed: None,
    };
    let exchanges: Vec<Exchange> = Simulation::new(&scenario, &options).collect();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = spawn_server(dir.path(), snapshots);
    let http = reqwest::blocking::Client::new();
    wait_ready(&http, &base);

    // Stream batches in from a second thread; kill the server once most are in, while
    // a batch is in flight.
    let acked = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(Mutex::new(0usize));
    let batches: Vec<Vec<u8>> = exchanges.chunks(BATCH).map(body).collect();
    let lengths: Vec<usize> = exchanges.chunks(BATCH).map(<[_]>::len).collect();
    let poster = {
        let (acked, in_flight, base) = (acked.clone(), in_flight.clone(), base.clone());
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            for (batch, len) in batches.into_iter().zip(lengths) {
                *in_flight.lock().unwrap() = len;
                let r = http
                    .post(format!("{base}/v1/exchanges"))
                    .bearer_auth(INGEST)
                    .body(batch)
                    .send();
                match r {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = r.json().unwrap();
                        let total = acked.fetch_add(len, Ordering::SeqCst) + len;
                        assert_eq!(v["exchanges"].as_u64(), Some(total as u64));
                    }
                    _ => return,
                }
            }
        })
    };
    let target = exchanges.len() * 3 / 4;
    while acked.load(Ordering::SeqCst) < target {
        std::thread::sleep(Duration::from_millis(2));
    }
    // The verdicts the server gave before it died.
    let mut blocked_before = Vec::new();
    for e in exchanges.iter().step_by(97).take(300) {
        let r: Value = http
            .post(format!("{base}/v1/check"))
            .json(&json!({"account_id": e.account_id}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if r["action"] == "block" {
            blocked_before.push(e.account_id.clone());
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    poster.join().unwrap();
    let acked = acked.load(Ordering::SeqCst);
    let in_flight = *in_flight.lock().unwrap();
    assert!(
        acked < exchanges.len(),
        "the kill came too late to test anything"
    );
    assert!(
        !blocked_before.is_empty(),
        "no campaign account was blocked before the kill"
    );

    let (mut child, base) = spawn_server(dir.path(), snapshots);
    let ready = wait_ready(&http, &base);
    let restored = ready["exchanges"].as_u64().unwrap() as usize;
    let from_snapshot = ready["restored"].as_u64().unwrap() as usize;
    if snapshots {
        // The latest snapshot came at most one batch past a multiple of SNAPSHOT_EVERY.
        assert!(
            from_snapshot + SNAPSHOT_EVERY as usize + BATCH > restored && from_snapshot > 0,
            "{from_snapshot} of {restored} exchanges restored from a snapshot"
        );
        assert_eq!(
            ready["replayed"].as_u64(),
            Some((restored - from_snapshot) as u64)
        );
    } else {
        assert_eq!(from_snapshot, 0);
    }
    assert!(
        restored == acked || restored == acked + in_flight,
        "{restored} exchanges restored; {acked} acknowledged, {in_flight} in flight"
    );

    // Every verdict is what an engine that read the same exchanges gives.
    let mut engine = Engine::new(DetectConfig::default());
    for e in &exchanges[..restored] {
        engine.observe(&Analysed::of(e.clone()));
    }
    let expected = engine.snapshot().accounts;
    for v in expected.iter().step_by(7) {
        let r: Value = http
            .get(format!("{base}/v1/accounts/{}", v.account_id))
            .bearer_auth(ADMIN)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(r["verdict"], v.verdict.as_str(), "{}", v.account_id);
        assert_eq!(r["exchanges"], v.exchanges, "{}", v.account_id);
        assert_eq!(r["campaign_id"].as_str(), v.campaign_id.as_deref());
    }
    for account in &blocked_before {
        let v = expected.iter().find(|v| v.account_id == *account).unwrap();
        assert_eq!(v.verdict, Verdict::Block, "{account} lost its block");
        let r: Value = http
            .post(format!("{base}/v1/check"))
            .json(&json!({"account_id": account}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(r["action"], "block", "{account} after restart: {r}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
