//! `moat send` streams logs to a running `moat serve`: every record is taken in once,
//! however often the command is run, batches the server finds too large are split, and a
//! batch it refuses stops the command with a message that says what to do.

mod server;

use std::process::Command;

const INGEST: &str = "ingest-token-for-send-test";
const ADMIN: &str = "admin-token-for-send-test";
/// Records sent: a few batches' worth.
const RECORDS: usize = 6000;
const BATCH: usize = 1000;

fn moat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_moat"))
}

/// The first [`RECORDS`] exchanges of a simulation, as a log file in `dir`.
fn logs(dir: &std::path::Path) -> std::path::PathBuf {
    let sim = dir.join("sim");
    let done = moat()
        .args(["simulate", "--scenario", "hydra-150k", "--scale", "0.002"])
        .args(["--seed", "3", "-q", "--out"])
        .arg(&sim)
        .status()
        .unwrap();
    assert!(done.success());
    let events = std::fs::read_to_string(sim.join("events.jsonl")).unwrap();
    let lines: Vec<&str> = events.lines().take(RECORDS).collect();
    assert_eq!(lines.len(), RECORDS);
    let path = dir.join("logs.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn ingested(base: &str) -> u64 {
    let text = reqwest::blocking::get(format!("{base}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("moat_ingested_records_total "))
        .expect("the metric is exported")
        .parse()
        .unwrap()
}

fn send(path: &std::path::Path, base: &str) -> std::process::Output {
    moat()
        .arg("send")
        .arg(path)
        .args(["--to", base, "--batch-records", &BATCH.to_string(), "-q"])
        .env("MOAT_INGEST_TOKEN", INGEST)
        .output()
        .unwrap()
}

/// "sent N records in B batches ... K batch(es) the server had taken in already": N, B, K.
fn summary(out: &std::process::Output) -> (u64, u64, u64) {
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = |after: &str| -> u64 {
        let i = words.iter().position(|w| *w == after).unwrap();
        words[i + 1].parse().unwrap()
    };
    let duplicates = words[words.iter().position(|w| *w == "s;").unwrap() + 1]
        .parse()
        .unwrap();
    (at("sent"), at("in"), duplicates)
}

#[test]
fn logs_are_taken_in_once_however_often_they_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = logs(dir.path());
    let config = dir.path().join("moat.toml");
    // Bodies small enough that a batch of BATCH records is refused as too large.
    std::fs::write(&config, "[serve]\nmax_body_bytes = 30000\n").unwrap();
    let store = dir.path().join("store");
    let config = config.display().to_string();
    let (child, base) = server::spawn_with(&store, INGEST, ADMIN, &["--config", &config]);
    let _server = Stopped(child);

    let first = send(&path, &base);
    assert!(first.status.success(), "{first:?}");
    let (records, batches, duplicates) = summary(&first);
    assert_eq!((records, duplicates), (RECORDS as u64, 0), "{first:?}");
    assert!(
        batches > (RECORDS / BATCH) as u64,
        "no batch was split: {first:?}"
    );
    assert_eq!(ingested(&base), RECORDS as u64);

    // Run again (as after a run cut short): every batch is recognised, none taken twice.
    let again = send(&path, &base);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(summary(&again), (RECORDS as u64, batches, batches));
    assert_eq!(ingested(&base), RECORDS as u64);

    // A record the server refuses (dated far ahead of its clock) stops the command and
    // says which records were not taken in.
    let mut text = std::fs::read_to_string(&path).unwrap();
    let last = text.lines().last().unwrap().to_owned();
    let mut ahead: serde_json::Value = serde_json::from_str(&last).unwrap();
    ahead["ts"] = "2099-01-01T00:00:00Z".into();
    text.push_str(&format!("{ahead}\n"));
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, text).unwrap();
    let refused = send(&bad, &base);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("were not taken in") && said.contains("422"),
        "{said}"
    );
}

/// The server, stopped when the test ends, passed or not.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_server_that_never_answers_is_tried_again_then_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.jsonl");
    std::fs::write(
        &path,
        "{\"ts\":\"2026-01-01T00:00:00Z\",\"account_id\":\"a\",\"request\":{\"prompt\":\"hi\"}}\n",
    )
    .unwrap();
    // Nothing listens on port 1.
    let out = moat()
        .arg("send")
        .arg(&path)
        .args(["--to", "http://127.0.0.1:1", "--tries", "2", "-q"])
        .env("MOAT_INGEST_TOKEN", INGEST)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("records 1 to 1 were not taken in")
            && said.contains("after 2 tries")
            && said.contains("no answer"),
        "{said}"
    );
}
