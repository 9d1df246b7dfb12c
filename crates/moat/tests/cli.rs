//! The `moat` command as a user runs it.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

const GOOD: &str = r#"{"ts":"2026-04-22T03:14:07Z","account_id":"acct_1","model":"frontier-2","client":{"ip":"203.0.113.7"},"account":{"payment_fingerprint":"pm_1"},"request":{"system":"SECRET SYSTEM","prompt":"SECRET PROMPT"},"response":{"text":"SECRET ANSWER"}}"#;
const GOOD2: &str = r#"{"ts":"2026-04-22T04:00:00Z","account_id":"acct_2","request":{"messages":[{"role":"user","content":"SECRET MESSAGE"}]}}"#;

fn moat() -> Command {
    Command::cargo_bin("moat").unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_only_working_commands() {
    let out = moat().arg("--help").output().unwrap();
    let help = text(&out.stdout);
    for command in ["inspect", "convert", "bench"] {
        assert!(help.contains(command), "{help}");
    }
    assert!(out.status.success());
}

#[test]
fn inspect_reports_each_reject_and_reads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "logs.jsonl",
        &format!("{GOOD}\n{{\"ts\":\"2026-04-22T03:14:07Z\"}}\n{GOOD2}\n"),
    );
    let out = moat()
        .args(["inspect", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings["exchanges"], 2);
    assert_eq!(findings["accounts"], 2);
    assert_eq!(findings["rejected"], 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: line 2: ", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("account_id"), "{stderr}");
}

#[test]
fn strict_stops_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "logs.jsonl", &format!("not json\n{GOOD}\n"));
    let out = moat()
        .args(["inspect", "--strict"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--strict"));
}

#[test]
fn config_file_sets_defaults_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write(dir.path(), "logs.jsonl", &format!("not json\n{GOOD}\n"));
    let config = write(dir.path(), "moat.toml", "[input]\nmax_errors = 0\n");
    let out = moat()
        .arg("--config")
        .arg(&config)
        .arg("inspect")
        .arg(&logs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = moat()
        .arg("--config")
        .arg(&config)
        .args(["inspect", "--max-errors", "5"])
        .arg(&logs)
        .output()
        .unwrap();
    assert!(out.status.success());
    let bad = write(dir.path(), "bad.toml", "[input]\nmax_erors = 0\n");
    let out = moat()
        .arg("--config")
        .arg(&bad)
        .arg("inspect")
        .arg(&logs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn reads_standard_input() {
    let out = moat()
        .args(["inspect", "--json", "-"])
        .write_stdin(format!("{GOOD}\n{GOOD2}\n"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings["exchanges"], 2);
}

#[test]
fn missing_input_is_a_clear_error() {
    let out = moat()
        .args(["inspect", "/nonexistent/logs.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/logs.jsonl: no such file or folder"));
}

#[test]
fn convert_leaves_content_out_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write(dir.path(), "logs.jsonl", &format!("{GOOD}\n{GOOD2}\n"));
    let out_path = dir.path().join("out.jsonl");
    let out = moat()
        .arg("convert")
        .arg(&logs)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Said, since a scan of the output loses the content signals.
    assert!(
        text(&out.stderr).contains("the text of 2 exchange(s) was left out"),
        "{}",
        text(&out.stderr)
    );
    let converted = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(converted.lines().count(), 2);
    assert!(!converted.contains("SECRET"), "{converted}");
    assert!(converted.contains("pm_1") && converted.contains("203.0.113.7"));

    let out = moat()
        .args(["convert", "--with-content"])
        .arg(&logs)
        .output()
        .unwrap();
    let with_content = text(&out.stdout);
    for secret in [
        "SECRET SYSTEM",
        "SECRET PROMPT",
        "SECRET ANSWER",
        "SECRET MESSAGE",
    ] {
        assert!(with_content.contains(secret), "{with_content}");
    }
    // What convert writes reads back as the same exchanges.
    let again = moat()
        .args(["convert", "--with-content", "-"])
        .write_stdin(with_content.clone())
        .output()
        .unwrap();
    assert_eq!(text(&again.stdout), with_content);
}

#[test]
fn convert_turns_litellm_into_exchange_v1() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write(
        dir.path(),
        "litellm.json",
        r#"[{"id":"a","call_type":"acompletion","startTime":1714000000.5,"model":"m","metadata":{"user_api_key_user_id":"u1","requester_ip_address":"192.0.2.9"}}]"#,
    );
    let out = moat().arg("convert").arg(&logs).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["account_id"], "u1");
    assert_eq!(line["ts"], "2024-04-24T23:06:40.5Z");
    assert_eq!(line["client"]["ip"], "192.0.2.9");
}

#[test]
fn bench_decode_prints_figures() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.jsonl");
    let out = moat()
        .args([
            "bench",
            "decode",
            "--size-mb",
            "2",
            "--runs",
            "1",
            "--json",
            "--file",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(figures["records"].as_u64().unwrap() > 1000);
    assert!(figures["best_mb_s"].as_f64().unwrap() > 0.0);
    assert!(file.exists());
}

/// The engine's state stays within 2 KiB an account, story included, as a snapshot holds it.
#[test]
fn bench_scan_prints_figures_and_state_stays_small() {
    let out = moat()
        .args([
            "bench",
            "scan",
            "--scenario",
            "hydra-150k",
            "--scale",
            "0.002",
        ])
        .args(["--seed", "5", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(figures["exchanges"].as_u64().unwrap() > 1000);
    let state = figures["snapshot_bytes_per_account"].as_f64().unwrap();
    assert!(state > 0.0 && state <= 2048.0, "{state} bytes an account");
}

#[test]
fn simulate_writes_events_moat_reads_back_and_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    let run = |out: &Path| {
        moat()
            .args([
                "simulate",
                "--scenario",
                "hydra-150k",
                "--scale",
                "0.002",
                "--seed",
                "5",
                "--out",
            ])
            .arg(out)
            .output()
            .unwrap()
    };
    let first = run(&out);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let events = std::fs::read(out.join("events.jsonl")).unwrap();
    let truth = std::fs::read_to_string(out.join("truth.csv")).unwrap();
    assert!(truth.starts_with("account_id,label,group,campaign_share\n"));
    assert!(truth.contains(",hydra,hydra:reasoning-150k,1.0000\n"));
    assert!(truth.contains(",benign,individual,\n"));

    let again = dir.path().join("again");
    assert!(run(&again).status.success());
    assert_eq!(
        std::fs::read(again.join("events.jsonl")).unwrap(),
        events,
        "same seed, same bytes"
    );

    let inspected = moat()
        .args(["inspect", "--strict", "--json"])
        .arg(out.join("events.jsonl"))
        .output()
        .unwrap();
    assert!(inspected.status.success(), "{}", text(&inspected.stderr));
    let findings: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let lines = events.iter().filter(|b| **b == b'\n').count() as u64;
    assert_eq!(findings["exchanges"].as_u64().unwrap(), lines);
    assert_eq!(findings["out_of_order"], 0);
}

#[test]
fn simulate_to_standard_output_and_bad_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.csv");
    let out = moat()
        .args([
            "simulate",
            "--scenario",
            "population",
            "--scale",
            "0.0005",
            "--stdout",
            "--truth",
        ])
        .arg(&truth)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.starts_with(b"{\"ts\":"));
    assert!(truth.exists());

    let out = moat()
        .args(["simulate", "--scenario", "nope", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("hydra-29m"),
        "{}",
        text(&out.stderr)
    );

    let listed = moat().args(["simulate", "--list"]).output().unwrap();
    assert!(text(&listed.stdout).lines().count() >= 9);
}

#[test]
fn scan_finds_a_simulated_campaign_whatever_the_reading_threads() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let ok = moat()
        .args([
            "simulate",
            "-q",
            "--scenario",
            "hydra-150k",
            "--scale",
            "0.002",
            "--seed",
            "5",
            "--out",
        ])
        .arg(&sim)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let mut csvs = Vec::new();
    for threads in ["1", "2"] {
        let out_dir = dir.path().join(format!("scan{threads}"));
        let out = moat()
            .args(["scan", "-q", "--threads", threads, "--out"])
            .arg(&out_dir)
            .arg(sim.join("events.jsonl"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let summary = text(&out.stdout);
        assert!(summary.contains("1 campaign found"), "{summary}");
        csvs.push(std::fs::read_to_string(out_dir.join("accounts.csv")).unwrap());
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
        assert!(report["campaigns"][0]["evidence"].as_array().unwrap().len() >= 3);
    }
    assert_eq!(
        csvs[0], csvs[1],
        "verdicts depend on how the input was read"
    );
    let eval = moat()
        .args(["eval", "--truth"])
        .arg(sim.join("truth.csv"))
        .arg("--scan")
        .arg(dir.path().join("scan1"))
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    let table = text(&eval.stdout);
    assert!(table.contains("hydra:reasoning-150k"), "{table}");
    assert!(table.contains("100.00%"), "{table}");
}

#[test]
fn report_draws_a_scan_and_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write(dir.path(), "logs.jsonl", &format!("{GOOD}\n{GOOD2}\n"));
    let scan = dir.path().join("scan");
    let out = moat()
        .arg("scan")
        .arg(&logs)
        .arg("--out")
        .arg(&scan)
        .arg("--html")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(scan.join("report.html")).unwrap();
    assert!(page.contains("No campaign found."));
    for secret in ["SECRET", "pm_1", "203.0.113.7"] {
        assert!(!page.contains(secret), "the report shows {secret}");
    }

    // Drawn again elsewhere from the folder alone.
    let again = dir.path().join("again.html");
    let out = moat()
        .arg("report")
        .arg(&scan)
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = std::fs::read_to_string(&again).unwrap();
    assert!(again.contains(r#"data-metric="exchanges" data-value="2""#));

    // A folder without its story says so, and writes nothing.
    std::fs::remove_file(scan.join("story.json")).unwrap();
    std::fs::remove_file(scan.join("report.html")).unwrap();
    let out = moat().arg("report").arg(&scan).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("story.json"),
        "{}",
        text(&out.stderr)
    );
    assert!(!scan.join("report.html").exists());
}

#[test]
fn inspect_names_each_inputs_format_and_the_signals_that_can_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "logs.jsonl", &format!("{GOOD}\n{GOOD2}\n"));
    let out = moat()
        .args(["inspect", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings["inputs"][0]["format"], "exchange", "{findings}");
    assert_eq!(findings["inputs"][0]["records"], 2);
    let signal = |name: &str| {
        findings["signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["signal"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {findings}"))
            .clone()
    };
    // Prompts are known, account facts are not.
    assert_eq!(signal("reasoning_asks")["works"], true);
    let young = signal("young_account");
    assert_eq!(young["works"], false);
    assert_eq!(young["lacks"][0], "account.created_at");
    let table = moat().arg("inspect").arg(&path).output().unwrap();
    let table = text(&table.stdout);
    assert!(
        table.contains("exchange") && table.contains("logs.jsonl"),
        "{table}"
    );
    assert!(table.contains("young_account"), "{table}");
}

#[test]
fn inspect_into_a_closed_pipe_stops_quietly() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let many: String = (0..2000).map(|_| format!("{GOOD}\n")).collect();
    let path = write(dir.path(), "logs.jsonl", &many);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("moat"))
        .args(["inspect", "-q"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before a line is read, as `| head -0` does.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}

#[test]
fn serve_help_names_the_token_variables_and_takes_a_host_name() {
    let help = moat().args(["serve", "--help"]).output().unwrap();
    let help = text(&help.stdout);
    for variable in [
        "MOAT_INGEST_TOKEN",
        "MOAT_ADMIN_TOKEN",
        "MOAT_GUARDRAIL_TOKEN",
    ] {
        assert!(help.contains(variable), "{help}");
    }
    // A host name is resolved; what fails after it is the missing token, not the address.
    let dir = tempfile::tempdir().unwrap();
    let out = moat()
        .args([
            "serve",
            "--listen",
            "localhost:0",
            "--grpc-listen",
            "off",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("MOAT_INGEST_TOKEN")
        .env_remove("MOAT_ADMIN_TOKEN")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("ingest_token is not set"), "{stderr}");
    let out = moat()
        .args(["serve", "--listen", "nowhere.invalid:x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not an address"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_port_in_use_is_said_once_without_colour_codes() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = moat()
        .args(["-vv", "serve", "--grpc-listen", "off", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path())
        .env("MOAT_INGEST_TOKEN", "ingest-token-for-cli-test")
        .env("MOAT_ADMIN_TOKEN", "admin-token-for-cli-test")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("in use").count(), 1, "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// `moat store check` lists a damaged value of a `moat serve` store (exit 1), and `moat
/// store salvage` copies the rest to a new store that checks whole.
#[test]
fn a_damaged_store_is_checked_and_salvaged() {
    use moat_core::AccountRecord;
    use moat_core::AnalysedRecord;
    use moat_server::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let mut store = Store::open(&data).unwrap();
        for i in 0..4 {
            let record = AnalysedRecord::Account(AccountRecord {
                account_id: format!("a{i}").into(),
                account: Default::default(),
            });
            store.append(&[&record], &[], &[], None).unwrap();
        }
    }
    let out = moat().args(["store", "check"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("the store is whole"));

    // A byte of batch 1 changed behind the store's back.
    {
        use redb::ReadableTable;
        let batches: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("batches");
        let db = redb::Database::create(data.join("moat.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(batches).unwrap();
            let mut value = table.get(1).unwrap().unwrap().value().to_vec();
            let middle = value.len() / 2;
            value[middle] ^= 0x01;
            table.insert(1, value.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let out = moat().args(["store", "check"]).arg(&data).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("damaged: batches 1"),
        "{}",
        text(&out.stdout)
    );
    // `moat serve` will not replay it: it stops, says what to do, and exits 70.
    let out = moat()
        .args(["serve", "--listen", "127.0.0.1:0", "--grpc-listen", "off"])
        .arg("--data-dir")
        .arg(&data)
        .env("MOAT_INGEST_TOKEN", "ingest-token-for-cli-test")
        .env("MOAT_ADMIN_TOKEN", "admin-token-for-cli-test")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(70), "{stderr}");
    assert!(
        stderr.contains("cannot replay the store") && stderr.contains("moat store salvage"),
        "{stderr}"
    );
    let out = moat()
        .args(["store", "check", "--json"])
        .arg(&data)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["table"], "batches");
    assert_eq!(json[0]["damaged"], 1);

    let salvaged = dir.path().join("salvaged");
    let out = moat()
        .args(["store", "salvage"])
        .arg(&data)
        .arg("--out")
        .arg(&salvaged)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("3 kept, 1 damaged left behind"),
        "{}",
        text(&out.stdout)
    );
    let out = moat()
        .args(["store", "check"])
        .arg(&salvaged)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));

    let out = moat()
        .args(["store", "check"])
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("holds no store"));
}

/// A scan of inputs of which no exchange could be read (the wrong format, a binary file)
/// says so and exits 1, writing nothing, instead of reporting an empty population.
#[test]
fn a_scan_that_reads_no_exchange_says_so_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "logs.jsonl",
        "{\"ts\":\"yesterday\",\"account_id\":\"a\"}\n",
    );
    let out_dir = dir.path().join("out");
    let out = moat()
        .args(["scan", "-q", "--out"])
        .arg(&out_dir)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("no exchange could be read"),
        "{}",
        text(&out.stderr)
    );
    assert!(!out_dir.join("accounts.csv").exists());
}

/// `moat eval` against a truth file that names none of the scan's accounts says so and
/// fails, instead of measuring nothing as 0 of 0.
#[test]
fn eval_refuses_a_truth_file_of_another_scan() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "logs.jsonl", &format!("{GOOD}\n{GOOD2}\n"));
    let scan = dir.path().join("scan");
    let out = moat()
        .args(["scan", "-q", "--out"])
        .arg(&scan)
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let truth = write(
        dir.path(),
        "truth.csv",
        "account_id,label,group\nsomeone_else,hydra,x\n",
    );
    let out = moat()
        .args(["eval", "--truth"])
        .arg(&truth)
        .arg("--scan")
        .arg(&scan)
        .arg("--events")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("none of the 1 accounts"),
        "{}",
        text(&out.stderr)
    );
}

/// Logs split across files as two gateways write them (each file in time order, the two
/// interleaved) are merged by time: the verdicts, and when each was taken, are those of
/// the logs read as one file. A file out of time order is named in a warning.
#[test]
fn interleaved_inputs_are_merged_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let ok = moat()
        .args([
            "simulate",
            "-q",
            "--scenario",
            "hydra-29m",
            "--scale",
            "0.001",
            "--seed",
            "9",
            "--out",
        ])
        .arg(&sim)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let events = std::fs::read_to_string(sim.join("events.jsonl")).unwrap();
    let lines: Vec<&str> = events.lines().collect();
    // Two gateways, each taking the requests as they come; and the second also cut in days.
    let (mut a, mut b) = (String::new(), String::new());
    for (i, line) in lines.iter().enumerate() {
        let to = if (i * 7919) % 3 == 0 { &mut a } else { &mut b };
        to.push_str(line);
        to.push('\n');
    }
    let a = write(dir.path(), "gateway-a.jsonl", &a);
    let half = b.len() / 2;
    let cut = half + b[half..].find('\n').unwrap() + 1;
    let b1 = write(dir.path(), "gateway-b-1.jsonl", &b[..cut]);
    let b2 = write(dir.path(), "gateway-b-2.jsonl", &b[cut..]);

    let scan = |name: &str, inputs: &[&Path]| {
        let out_dir = dir.path().join(name);
        let out = moat()
            .args(["scan", "--out"])
            .arg(&out_dir)
            .args(inputs)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        (
            std::fs::read_to_string(out_dir.join("accounts.csv")).unwrap(),
            text(&out.stderr),
        )
    };
    let (whole, _) = scan("whole", &[&sim.join("events.jsonl")]);
    assert!(
        whole.contains(",block,"),
        "the scenario's campaign is blocked"
    );
    // Named in any order: the files are opened by the time of their first exchange.
    let (merged, warnings) = scan("merged", &[&b2, &a, &b1]);
    assert_eq!(merged, whole);
    assert!(!warnings.contains("not in time order"), "{warnings}");

    let mut reversed: Vec<&str> = lines.clone();
    reversed.reverse();
    let reversed = write(dir.path(), "reversed.jsonl", &(reversed.join("\n") + "\n"));
    let (_, warnings) = scan("reversed", &[&reversed, &a]);
    assert!(
        warnings.contains("reversed.jsonl is not in time order"),
        "{warnings}"
    );
}

/// `moat -v serve` says what it does after its start line: the replay of its store, and
/// each manual decision with the operator who took it.
#[test]
fn serve_says_what_it_does_with_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.path().join("serve.log");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("moat"))
        .args(["-v", "serve", "--grpc-listen", "off", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("MOAT_INGEST_TOKEN", "ingest-token-for-cli-test")
        .env("MOAT_ADMIN_TOKEN", "admin-token-for-cli-test")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::new();
    let ready = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        http.get(format!("{base}/readyz"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    let answer = ready.then(|| {
        http.post(format!("{base}/v1/admin/accounts/acct_1"))
            .bearer_auth("admin-token-for-cli-test")
            .header("content-type", "application/json")
            .body(r#"{"action": "block", "reason": "test"}"#)
            .send()
            .map(|r| r.status().as_u16())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(ready, "moat serve never became ready: {stderr}");
    assert_eq!(answer.unwrap().unwrap(), 200);
    assert!(stderr.contains("replayed the store; ready"), "{stderr}");
    assert!(
        stderr.contains("manual decision") && stderr.contains("operator=admin"),
        "{stderr}"
    );
}
