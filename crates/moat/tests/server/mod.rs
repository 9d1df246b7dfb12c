//! Starts the real `moat serve` binary for a test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `moat serve` on a free port with its store in `dir` and the given tokens (no
/// gRPC); returns the process and the HTTP base URL it printed.
#[allow(dead_code)] // not every test binary that shares this module calls both
pub fn spawn(dir: &Path, ingest_token: &str, admin_token: &str) -> (Child, String) {
    spawn_with(dir, ingest_token, admin_token, &[])
}

/// As [`spawn`], with more arguments to `moat serve`.
pub fn spawn_with(
    dir: &Path,
    ingest_token: &str,
    admin_token: &str,
    args: &[&str],
) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["serve", "--listen", "127.0.0.1:0", "--grpc-listen", "off"])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("MOAT_INGEST_TOKEN", ingest_token)
        .env("MOAT_ADMIN_TOKEN", admin_token)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "moat serve: http ADDR grpc off store DIR"
    let addr = line
        .split_whitespace()
        .nth(3)
        .expect("the server says where it listens");
    (child, format!("http://{addr}"))
}
