//! `moat serve` behind a real LiteLLM proxy (from PyPI, answering with its mock responses,
//! so no model is called), wired as the README and docs/deploy.md say: moat's Generic
//! Guardrail API before each call, LiteLLM's generic API logger feeding moat's ingest.
//! Simulated campaign and customer traffic goes through the proxy: the campaign's requests
//! are BLOCKED, the customers' pass, and the proxy's logs reach moat.
//!
//! LiteLLM is found at `$MOAT_LITELLM`, else at `target/litellm/bin/litellm` (where
//! `.ci/run` installs it), else on the `PATH`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use moat_core::{Exchange, Role};
use moat_sim::{Scenario, SimOptions, Simulation};
use serde_json::{Value, json};

const INGEST: &str = "ingest-token-for-litellm-test";
const ADMIN: &str = "admin-token-for-litellm-test";
const GUARD: &str = "guardrail-token-for-litellm-test";
const MASTER: &str = "sk-litellm-master-for-tests";

/// Kills a child process when dropped, so a failed assertion leaves nothing running.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn litellm() -> PathBuf {
    if let Some(p) = std::env::var_os("MOAT_LITELLM") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/litellm/bin/litellm");
    if root.exists() {
        return root;
    }
    let on_path = Command::new("litellm").arg("--version").output();
    assert!(
        on_path.is_ok_and(|o| o.status.success()),
        "LiteLLM is needed for this test: run `bash .ci/run` once (it installs it into \
         target/litellm), or `pip install 'litellm[proxy]'` and set MOAT_LITELLM"
    );
    PathBuf::from("litellm")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The chat request a client of the proxy would send for one simulated exchange.
fn chat_request(e: &Exchange) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &e.request.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in &e.request.messages {
        let role = match m.role {
            Role::System | Role::Developer => "system",
            Role::Assistant => "assistant",
            _ => "user",
        };
        messages.push(json!({"role": role, "content": m.content}));
    }
    if let Some(prompt) = &e.request.prompt {
        messages.push(json!({"role": "user", "content": prompt}));
    }
    if messages.is_empty() {
        messages.push(json!({"role": "user", "content": "hello"}));
    }
    json!({
        "model": "frontier",
        "messages": messages,
        "user": e.account_id,
        "max_tokens": e.request.max_tokens.unwrap_or(512),
    })
}

#[test]
fn litellm_proxy_blocks_the_hydra_and_passes_customers() {
    let litellm = litellm();
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::load("hydra-29m").unwrap();
    let options = SimOptions {
        scale: 0.002,
        seed: 71,
        corpus: None,
        operator_seed: None,
    };
    let mut sim = Simulation::new(&scenario, &options);
    let exchanges: Vec<Exchange> = sim.by_ref().collect();
    let truth = sim.truth().to_vec();
    let label = |account: &str| {
        truth
            .iter()
            .find(|t| t.account_id == account)
            .map_or("benign", |t| t.label)
    };

    // moat, with the logs of the first 80 % of the period.
    let config = dir.path().join("moat.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nlisten = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\n\
             data_dir = {:?}\ningest_token = {INGEST:?}\nadmin_token = {ADMIN:?}\n\
             guardrail_token = {GUARD:?}\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let mut moat = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(moat.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let moat = Killed(moat);
    let moat_addr = line.split_whitespace().nth(3).unwrap().to_owned();
    let moat_url = format!("http://{moat_addr}");
    let http = reqwest::blocking::Client::new();
    let split = exchanges.len() * 4 / 5;
    for chunk in exchanges[..split].chunks(5000) {
        let mut body = Vec::new();
        for e in chunk {
            serde_json::to_writer(&mut body, e).unwrap();
            body.push(b'\n');
        }
        let r = http
            .post(format!("{moat_url}/v1/exchanges"))
            .bearer_auth(INGEST)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }
    let exchanges_in_moat = || -> u64 {
        let r: Value = http
            .get(format!("{moat_url}/readyz"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        r["exchanges"].as_u64().unwrap_or(0)
    };
    assert_eq!(exchanges_in_moat(), split as u64);

    // LiteLLM, configured as docs/deploy.md says.
    let port = free_port();
    let litellm_config = dir.path().join("litellm.yaml");
    std::fs::write(
        &litellm_config,
        format!(
            "model_list:\n  - model_name: frontier\n    litellm_params:\n      model: openai/frontier\n\
             \x20     api_key: sk-none\n      mock_response: \"A mock answer.\"\n\
             guardrails:\n  - guardrail_name: moat\n    litellm_params:\n\
             \x20     guardrail: generic_guardrail_api\n      mode: pre_call\n\
             \x20     api_base: {moat_url}\n      api_key: {GUARD}\n      default_on: true\n\
             litellm_settings:\n  callbacks: [\"generic_api\"]\n\
             general_settings:\n  master_key: {MASTER}\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("litellm.log")).unwrap();
    let proxy = Killed(
        Command::new(&litellm)
            .arg("--config")
            .arg(&litellm_config)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .env(
                "GENERIC_LOGGER_ENDPOINT",
                format!("{moat_url}/v1/exchanges"),
            )
            .env(
                "GENERIC_LOGGER_HEADERS",
                format!("Authorization=Bearer {INGEST}"),
            )
            .env("LITELLM_LOG", "ERROR")
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let proxy_url = format!("http://127.0.0.1:{port}");
    wait_for("LiteLLM starting", Duration::from_secs(180), || {
        http.get(format!("{proxy_url}/health/liveliness"))
            .send()
            .is_ok_and(|r| r.status() == 200)
    });

    // The rest of the period goes through the proxy: a sample of each kind of account.
    let mut hydra: Vec<&Exchange> = Vec::new();
    let mut customers: Vec<&Exchange> = Vec::new();
    for e in &exchanges[split..] {
        match label(&e.account_id) {
            "hydra" if hydra.len() < 150 => hydra.push(e),
            "benign" if customers.len() < 150 => customers.push(e),
            _ => {}
        }
    }
    assert!(hydra.len() == 150 && customers.len() == 150);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for part in 0..4 {
            let (hydra, customers, outcomes, proxy_url) =
                (&hydra, &customers, &outcomes, &proxy_url);
            s.spawn(move || {
                let http = reqwest::blocking::Client::new();
                for (kind, e) in hydra
                    .iter()
                    .map(|e| ("hydra", e))
                    .chain(customers.iter().map(|e| ("benign", e)))
                    .skip(part)
                    .step_by(4)
                {
                    let r = http
                        .post(format!("{proxy_url}/v1/chat/completions"))
                        .bearer_auth(MASTER)
                        .json(&chat_request(e))
                        .send()
                        .unwrap();
                    let status = r.status().as_u16();
                    let body = r.text().unwrap();
                    outcomes.lock().unwrap().push((kind, status, body));
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    let blocked = |kind: &str| {
        outcomes
            .iter()
            .filter(|(k, status, body)| {
                *k == kind && *status == 400 && body.contains("moat: block")
            })
            .count()
    };
    let passed = |kind: &str| {
        outcomes
            .iter()
            .filter(|(k, status, _)| *k == kind && *status == 200)
            .count()
    };
    assert!(
        blocked("hydra") >= 140,
        "{} of 150 campaign requests blocked; first outcomes: {:?}",
        blocked("hydra"),
        &outcomes[..3]
    );
    assert_eq!(
        passed("benign"),
        150,
        "customer requests refused: {:?}",
        outcomes
            .iter()
            .filter(|(k, s, _)| *k == "benign" && *s != 200)
            .take(3)
            .collect::<Vec<_>>()
    );

    // The proxy's logger delivers the calls to moat's ingest (LiteLLM's own payloads),
    // under the accounts the guardrail saw. LiteLLM's batching logger clears its queue
    // after each POST, dropping what was queued while the POST was under way, so a few
    // calls may never be sent: no customer's count may pass its calls, and all but a few
    // calls, the customers' among them, must arrive. (Most customers make one call here,
    // so whether a given customer's count grows is up to LiteLLM's luck.)
    let answered = (passed("hydra") + passed("benign")) as u64;
    wait_for(
        "LiteLLM's logs reaching moat",
        Duration::from_secs(60),
        || exchanges_in_moat() >= split as u64 + answered * 95 / 100,
    );
    std::thread::sleep(Duration::from_secs(6)); // one more flush of the logger
    let mut arrived = 0;
    let mut distinct: Vec<&Exchange> = customers.to_vec();
    distinct.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    distinct.dedup_by(|a, b| a.account_id == b.account_id);
    for e in &distinct {
        let before = exchanges[..split]
            .iter()
            .filter(|x| x.account_id == e.account_id)
            .count() as u64;
        let proxied = customers
            .iter()
            .filter(|x| x.account_id == e.account_id)
            .count() as u64;
        let r = http
            .get(format!("{moat_url}/v1/accounts/{}", e.account_id))
            .bearer_auth(ADMIN)
            .send()
            .unwrap();
        // A customer first seen through the proxy whose calls' logs were all dropped is
        // still unknown to moat.
        let now = if r.status() == 404 && before == 0 {
            0
        } else {
            let account: Value = r.json().unwrap();
            account["exchanges"]
                .as_u64()
                .unwrap_or_else(|| panic!("{}: {account}", e.account_id))
        };
        assert!(
            (before..=before + proxied).contains(&now),
            "{}: {before} exchanges before, {proxied} calls, {now} after",
            e.account_id
        );
        arrived += now - before;
    }
    assert!(
        arrived * 10 >= customers.len() as u64 * 9,
        "{arrived} of {} customers' calls reached moat",
        customers.len()
    );
    let r: Value = http
        .get(format!("{moat_url}/metrics"))
        .send()
        .unwrap()
        .text()
        .map(Value::String)
        .unwrap();
    let metrics = r.as_str().unwrap();
    assert!(
        metrics.contains("moat_decisions_total{api=\"guardrail\",action=\"block\"}"),
        "{metrics}"
    );
    drop(proxy);
    drop(moat);
}
