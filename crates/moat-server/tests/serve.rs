//! The live service end to end, in process: a simulated population with a campaign hidden
//! in it is ingested over HTTP, then the decision APIs (HTTP check, LiteLLM guardrail,
//! Envoy ext_authz over gRPC) are asked about its accounts; admin actions, restarts and bad
//! input are exercised on the way.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address, socket_address};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use moat_core::{ContentSignals, DetectConfig, Exchange, IntelMatch, PartnerIntel};
use moat_server::{ServeConfig, Server};
use moat_sim::{Scenario, SimOptions, Simulation, TruthRow};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const INGEST: &str = "ingest-token-for-tests";
const ADMIN: &str = "admin-token-for-tests";

struct Running {
    base: String,
    grpc: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<Result<(), moat_server::EngineStopped>>,
    http: reqwest::Client,
}

impl Running {
    async fn start(dir: &Path, tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::start_with(dir, tweak, None).await
    }

    async fn start_with(
        dir: &Path,
        tweak: impl FnOnce(&mut ServeConfig),
        intel: Option<Box<dyn PartnerIntel>>,
    ) -> Self {
        let running = Self::start_unready(dir, tweak, intel).await;
        for _ in 0..600 {
            let r = running.get("/readyz", None).await;
            if r.0 == 200 {
                return running;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the server never became ready");
    }

    /// Starts the server without waiting for it to replay its store.
    async fn start_unready(
        dir: &Path,
        tweak: impl FnOnce(&mut ServeConfig),
        intel: Option<Box<dyn PartnerIntel>>,
    ) -> Self {
        let mut config = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            grpc_listen: Some("127.0.0.1:0".parse().unwrap()),
            data_dir: dir.to_owned(),
            ingest_token: Some(INGEST.into()),
            admin_token: Some(ADMIN.into()),
            ..ServeConfig::default()
        };
        tweak(&mut config);
        let server = Server::start(config.resolve().unwrap(), DetectConfig::default(), intel)
            .await
            .unwrap();
        let base = format!("http://{}", server.http_addr());
        let grpc = server.grpc_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            grpc,
            stop,
            done,
            http: reqwest::Client::new(),
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.done.await.unwrap().unwrap();
    }

    /// What the server says of each of `paths` (account pages), as an operator.
    async fn accounts(&self, paths: &[String]) -> Vec<(u16, Value)> {
        let mut answers = Vec::with_capacity(paths.len());
        for path in paths {
            answers.push(self.get(path, Some(ADMIN)).await);
        }
        answers
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| {
            panic!("{path} answered {status} with a body that is not JSON: {text}")
        });
        (status, body)
    }

    async fn check(&self, body: Value) -> Value {
        let (status, answer) = self
            .post("/v1/check", None, body.to_string().into_bytes())
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    async fn ingest(&self, exchanges: &[Exchange]) {
        for chunk in exchanges.chunks(4000) {
            let mut body = Vec::new();
            for e in chunk {
                serde_json::to_writer(&mut body, e).unwrap();
                body.push(b'\n');
            }
            let (status, answer) = self.post("/v1/exchanges", Some(INGEST), body).await;
            assert_eq!(status, 200, "{answer}");
        }
    }
}

/// A small population with the largest disclosed campaign hidden in it.
/// The `/v1/accounts` paths of every fifth account of `truth`.
fn every_fifth_account(truth: &[TruthRow]) -> Vec<String> {
    truth
        .iter()
        .step_by(5)
        .map(|t| format!("/v1/accounts/{}", t.account_id))
        .collect()
}

fn traffic() -> (Vec<Exchange>, Vec<TruthRow>) {
    let scenario = Scenario::load("hydra-29m").unwrap();
    let options = SimOptions {
        scale: 0.002,
        seed: 31,
        corpus: None,
        operator_seed: None,
    };
    let mut sim = Simulation::new(&scenario, &options);
    let exchanges: Vec<Exchange> = sim.by_ref().collect();
    (exchanges, sim.truth().to_vec())
}

fn authz_request(account: &str, ip: &str) -> CheckRequest {
    let headers: HashMap<String, String> = [
        ("x-moat-account".to_owned(), account.to_owned()),
        ("user-agent".to_owned(), "python-httpx/0.27".to_owned()),
    ]
    .into();
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                address: Some(Address {
                    address: Some(address::Address::SocketAddress(SocketAddress {
                        address: ip.into(),
                        port_specifier: Some(socket_address::PortSpecifier::PortValue(40000)),
                        ..SocketAddress::default()
                    })),
                }),
                ..Peer::default()
            }),
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "POST".into(),
                    path: "/v1/chat/completions".into(),
                    headers,
                    body: json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]})
                        .to_string(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_is_stopped_live_and_customers_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (exchanges, truth) = traffic();
    let hydra: Vec<&TruthRow> = truth.iter().filter(|t| t.label == "hydra").collect();
    let benign: Vec<&TruthRow> = truth.iter().filter(|t| t.label == "benign").collect();
    assert!(hydra.len() >= 20 && benign.len() >= 500);

    let server = Running::start(dir.path(), |_| {}).await;
    server.ingest(&exchanges).await;

    // The HTTP check: hydra accounts blocked, customers not. The answer, which reaches the
    // account refused, says the action and an opaque reference, never the evidence; the
    // admin API shows the reference beside the account.
    let mut blocked = 0;
    for t in &hydra {
        let d = server.check(json!({"account_id": t.account_id})).await;
        if d["action"] == "block" {
            blocked += 1;
            let fields: Vec<&String> = d.as_object().unwrap().keys().collect();
            assert_eq!(fields, ["action", "reference"], "{d}");
        }
    }
    let d = server
        .check(json!({"account_id": hydra[0].account_id}))
        .await;
    let (_, account) = server
        .get(
            &format!("/v1/accounts/{}", hydra[0].account_id),
            Some(ADMIN),
        )
        .await;
    assert_eq!(account["reference"], d["reference"], "{account}");
    assert!(account["campaign_id"].is_string(), "{account}");
    assert!(
        blocked * 10 >= hydra.len() * 9,
        "{blocked} of {} hydra accounts blocked",
        hydra.len()
    );
    for t in &benign {
        let d = server.check(json!({"account_id": t.account_id})).await;
        assert_ne!(d["action"], "block", "{}: {d}", t.account_id);
    }

    // A new account that pays with a blocked campaign's card, from its addresses, is
    // blocked on its first request, before any exchange of it was ingested.
    let sample = exchanges
        .iter()
        .rev()
        .find(|e| e.account_id == hydra[0].account_id)
        .unwrap();
    let newcomer = json!({
        "account_id": "brand-new-account",
        "client": {"ip": sample.client.ip, "user_agent": sample.client.user_agent,
                   "tls_fingerprint": sample.client.tls_fingerprint},
        "account": {"payment_fingerprint": sample.account.payment_fingerprint},
    });
    let d = server.check(newcomer).await;
    assert_eq!(d["action"], "block", "{d}");
    assert_eq!(
        server.check(json!({"account_id": "another-new-one"})).await["action"],
        "allow"
    );

    // The campaign is listed with its evidence and members.
    let (status, report) = server.get("/v1/campaigns", Some(ADMIN)).await;
    assert_eq!(status, 200);
    let campaign = &report["campaigns"][0];
    let id = campaign["id"].as_str().unwrap().to_owned();
    assert!(
        campaign["evidence"].as_array().unwrap().len() >= 3,
        "{campaign}"
    );
    let (status, detail) = server
        .get(&format!("/v1/campaigns/{id}?limit=5"), Some(ADMIN))
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["members"].as_array().unwrap().len(), 5);
    let (status, account) = server
        .get(
            &format!("/v1/accounts/{}", hydra[0].account_id),
            Some(ADMIN),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(account["verdict"], "block");
    assert_eq!(server.get("/v1/accounts/nobody", Some(ADMIN)).await.0, 404);

    // LiteLLM's guardrail API.
    let guardrail = |account: &str| {
        json!({"input_type": "request", "texts": ["hi"], "model": "m",
               "request_data": {"user_api_key_user_id": account}})
        .to_string()
        .into_bytes()
    };
    let (status, g) = server
        .post(
            "/beta/litellm_basic_guardrail_api",
            None,
            guardrail(&hydra[0].account_id),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(g["action"], "BLOCKED", "{g}");
    let (_, g) = server
        .post(
            "/beta/litellm_basic_guardrail_api",
            None,
            guardrail(&benign[0].account_id),
        )
        .await;
    assert_eq!(g["action"], "NONE", "{g}");
    // A long conversation (larger than a /v1/check body may be) is read and decided too.
    let long = json!({"input_type": "request", "model": "m",
        "structured_messages": [{"role": "user", "content": "x".repeat(1 << 20)}],
        "request_data": {"user_api_key_user_id": hydra[0].account_id}});
    let (status, g) = server
        .post(
            "/beta/litellm_basic_guardrail_api",
            None,
            long.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["action"], "BLOCKED", "{g}");

    // Envoy's ext_authz over gRPC.
    let mut client = AuthorizationClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let denied = client
        .check(authz_request(&hydra[0].account_id, "203.0.113.9"))
        .await
        .unwrap()
        .into_inner();
    match denied.http_response {
        Some(HttpResponse::DeniedResponse(d)) => {
            assert_eq!(d.status.unwrap().code, 403);
            let body: Value = serde_json::from_str(&d.body).unwrap();
            assert_eq!(body["action"], "block");
        }
        other => panic!("a hydra account was not denied: {other:?}"),
    }
    // A new account of the blocked campaign, from one of its addresses, does not pass for
    // another client by naming one in x-forwarded-for: the address Envoy saw is the client.
    let mut spoofed = authz_request(
        "xff-newcomer",
        &sample
            .client
            .ip
            .expect("campaign exchanges carry addresses")
            .to_string(),
    );
    if let Some(http) = spoofed
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
    {
        http.headers
            .insert("x-forwarded-for".into(), "198.51.100.7".into());
    }
    let answer = client.check(spoofed).await.unwrap().into_inner();
    assert!(
        matches!(answer.http_response, Some(HttpResponse::DeniedResponse(_))),
        "a spoofed x-forwarded-for let a blocked campaign's address through: {answer:?}"
    );
    let allowed = client
        .check(authz_request(&benign[0].account_id, "203.0.113.10"))
        .await
        .unwrap()
        .into_inner();
    match allowed.http_response {
        Some(HttpResponse::OkResponse(ok)) => {
            let action = ok
                .headers
                .iter()
                .filter_map(|h| h.header.as_ref())
                .find(|h| h.key == "x-moat-action")
                .map(|h| h.value.clone());
            assert_eq!(action.as_deref(), Some("allow"));
        }
        other => panic!("a customer was not allowed: {other:?}"),
    }
    let missing = client.check(CheckRequest::default()).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::InvalidArgument);

    // Admin: a manual block, audited, then cleared.
    let customer = benign[1].account_id.clone();
    let action = |a: &str| json!({"action": a, "reason": "chargeback fraud", "actor": "tests"});
    let path = format!("/v1/admin/accounts/{customer}");
    assert_eq!(
        server
            .post(&path, None, action("block").to_string().into_bytes())
            .await
            .0,
        401
    );
    let (status, entry) = server
        .post(&path, Some(ADMIN), action("block").to_string().into_bytes())
        .await;
    assert_eq!(status, 200, "{entry}");
    let d = server.check(json!({"account_id": customer})).await;
    assert_eq!(d["action"], "block");
    assert!(!d.to_string().contains("chargeback"), "{d}");
    let (status, _) = server
        .post(
            &path,
            Some(ADMIN),
            json!({"action": "block", "reason": " "})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 422);
    let before_restart = server
        .check(json!({"account_id": hydra[1].account_id}))
        .await;
    server.stop().await;

    // After a restart: the same verdicts, the manual block, the audit log.
    let server = Running::start(dir.path(), |_| {}).await;
    let (_, ready) = server.get("/readyz", None).await;
    assert_eq!(ready["exchanges"], exchanges.len() as u64);
    assert_eq!(
        server
            .check(json!({"account_id": hydra[1].account_id}))
            .await,
        before_restart
    );
    assert_eq!(
        server.check(json!({"account_id": customer})).await["action"],
        "block"
    );
    let (_, entry) = server
        .post(&path, Some(ADMIN), action("clear").to_string().into_bytes())
        .await;
    assert_eq!(entry["seq"], 1);
    assert_eq!(
        server.check(json!({"account_id": customer})).await["action"],
        "allow"
    );
    let (status, audit) = server.get("/v1/admin/audit", Some(ADMIN)).await;
    assert_eq!(status, 200);
    let audit = audit.as_array().unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["action"], "block");
    // The actor is who authenticated; what the caller said of itself is a note.
    assert_eq!(audit[0]["actor"], "admin");
    assert_eq!(audit[0]["note"], "tests");
    assert_eq!(audit[1]["action"], "clear");

    // Metrics count what happened.
    let (status, metrics) = server.get("/metrics", None).await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.contains("moat_decisions_total{api=\"check\",action=\"block\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("moat_exchanges {}", exchanges.len())),
        "{metrics}"
    );
    // Every account seen, as the report counts them, not only those with a verdict yet.
    let (_, report) = server.get("/v1/campaigns", Some(ADMIN)).await;
    let seen = report["summary"]["accounts"].as_u64().unwrap();
    assert!(
        metrics.contains(&format!("moat_accounts {seen}\n")),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |c| {
        c.max_body_bytes = 64 * 1024;
        c.max_check_body_bytes = 4 * 1024;
        c.max_decoded_bytes = 1 << 20;
        c.max_records_per_body = 5_000;
    })
    .await;
    let good =
        json!({"ts": "2026-03-01T10:00:00Z", "account_id": "a1", "request": {"prompt": "hi"}});

    // Tokens.
    let body = || format!("{good}\n").into_bytes();
    assert_eq!(server.post("/v1/exchanges", None, body()).await.0, 401);
    assert_eq!(
        server
            .post("/v1/exchanges", Some("wrong-token-wrong-token"), body())
            .await
            .0,
        401
    );
    assert_eq!(server.get("/v1/campaigns", Some(INGEST)).await.0, 401);
    let (status, answer) = server.post("/v1/exchanges", Some(INGEST), body()).await;
    assert_eq!((status, answer["exchanges"].as_u64()), (200, Some(1)));

    // A batch with one bad record is refused whole, saying where and why.
    let batch = format!("{good}\n{{\"ts\": \"yesterday\", \"account_id\": \"a2\"}}\n{good}\n");
    let (status, answer) = server
        .post("/v1/exchanges", Some(INGEST), batch.into_bytes())
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("nothing was ingested")
    );
    assert!(
        answer["rejects"][0]["location"]
            .as_str()
            .unwrap()
            .contains('2'),
        "{answer}"
    );
    // A few kilobytes of zstd that expand past the bound, or hold more records than a body
    // may, are refused whole (413, JSON) without being decoded to the end.
    let lines = |n: usize| format!("{good}\n").repeat(n).into_bytes();
    let long = json!({"ts": "2026-03-01T10:00:00Z", "account_id": "a1",
                      "request": {"prompt": "x".repeat(4000)}});
    let bomb = zstd::bulk::compress(&format!("{long}\n").repeat(2_000).into_bytes(), 19).unwrap();
    assert!(bomb.len() < 64 * 1024);
    let (status, answer) = server.post("/v1/exchanges", Some(INGEST), bomb).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("expands"),
        "{answer}"
    );
    let many = zstd::bulk::compress(&lines(6_000), 3).unwrap();
    let (status, answer) = server.post("/v1/exchanges", Some(INGEST), many).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("5000 records"),
        "{answer}"
    );

    // An exchange dated ahead of the server's clock is refused with its batch, counted,
    // and never moves the engine's time.
    let future =
        json!({"ts": "2099-01-01T00:00:00Z", "account_id": "a3", "request": {"prompt": "hi"}});
    let batch = format!("{good}\n{future}\n");
    let (status, answer) = server
        .post("/v1/exchanges", Some(INGEST), batch.into_bytes())
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("future"),
        "{answer}"
    );
    assert_eq!(answer["rejects"][0]["location"], "record 2", "{answer}");
    let (_, metrics) = server.get("/metrics", None).await;
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(metrics.contains("moat_future_records_total 1"), "{metrics}");
    for (body, what) in [
        (b"\x00\x01garbage".to_vec(), "binary"),
        (b"   ".to_vec(), "empty"),
        (b"[1, 2, 3]".to_vec(), "array of numbers"),
    ] {
        let (status, answer) = server.post("/v1/exchanges", Some(INGEST), body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(answer["error"].is_string(), "{what}: {answer}");
    }
    let (status, answer) = server
        .post("/v1/exchanges?format=parquet", Some(INGEST), body())
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = server
        .post("/v1/exchanges?format=nonsense", Some(INGEST), body())
        .await;
    assert_eq!(status, 400);
    let (status, answer) = server
        .post("/v1/exchanges", Some(INGEST), vec![b' '; 100 * 1024])
        .await;
    assert_eq!(status, 413, "{answer}");

    // Checks.
    for (body, expected) in [
        ("{", 400),
        ("{}", 422),
        (r#"{"account_id": ""}"#, 422),
        (r#"{"account_id": 5}"#, 422),
        (
            r#"{"account_id": "a1", "client": {"ip": "not an address"}}"#,
            422,
        ),
    ] {
        let (status, answer) = server.post("/v1/check", None, body.into()).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{body}: {answer}");
    }
    // A decision reads a few fields: a check body is held to its own, smaller limit.
    let padded = json!({"account_id": "a1", "request": {"prompt": "x".repeat(8 * 1024)}});
    let (status, answer) = server
        .post("/v1/check", None, padded.to_string().into_bytes())
        .await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("max_check_body_bytes"),
        "{answer}"
    );
    let (status, answer) = server.post("/nowhere", None, b"{}".to_vec()).await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = server.get("/v1/check", None).await;
    assert_eq!(status, 405, "{answer}");
    let (status, answer) = server
        .post(
            "/v1/admin/accounts/a1",
            Some(ADMIN),
            br#"{"action": "smite", "reason": "x"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    let said = answer["error"].as_str().unwrap();
    assert!(
        said.contains("`block`") && said.contains("`clear`"),
        "{answer}"
    );
    // A reason is kept and shown with every decision on the account: it is bounded.
    let long = json!({"action": "block", "reason": "x".repeat(1001)});
    let (status, answer) = server
        .post(
            "/v1/admin/accounts/a1",
            Some(ADMIN),
            long.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("at most 1000"),
        "{answer}"
    );
    let (_, audit) = server.get("/v1/admin/audit", Some(ADMIN)).await;
    assert!(!audit.to_string().contains("xxxxxxxxxx"), "{audit}");

    // Nothing was lost and the server is still up.
    let (status, ready) = server.get("/readyz", None).await;
    assert_eq!((status, ready["exchanges"].as_u64()), (200, Some(1)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_can_be_limited_to_the_gateway_and_budgets_throttle() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |c| {
        c.check_from = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (status, answer) = server
        .post("/v1/check", None, br#"{"account_id": "a"}"#.to_vec())
        .await;
    assert_eq!(status, 403, "{answer}");
    let (status, _) = server
        .post(
            "/beta/litellm_basic_guardrail_api",
            None,
            br#"{"input_type": "request"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 403);
    server.stop().await;

    let server = Running::start(dir.path(), |c| {
        c.budget.account_per_minute = 60;
        c.budget.account_burst = 5;
        c.explain_decisions = true;
    })
    .await;
    // Asking about an account, however often, spends none of its budget: whoever may ask
    // cannot have a customer throttled.
    for _ in 0..20 {
        assert_eq!(
            server.check(json!({"account_id": "customer"})).await["action"],
            "allow"
        );
    }
    // The exchanges the gateway forwarded spend it: five at once, then one a second.
    let now = moat_server::wall_clock().to_string();
    let forwarded = |n: usize| {
        (0..n)
            .map(|_| json!({"ts": now, "account_id": "busy"}).to_string() + "\n")
            .collect::<String>()
            .into_bytes()
    };
    let (status, answer) = server
        .post("/v1/exchanges", Some(INGEST), forwarded(5))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        server.check(json!({"account_id": "busy"})).await["action"],
        "allow"
    );
    server
        .post("/v1/exchanges", Some(INGEST), forwarded(3))
        .await;
    // With explain_decisions, the answer says why.
    let d = server.check(json!({"account_id": "busy"})).await;
    assert_eq!(d["action"], "throttle", "{d}");
    assert_eq!(d["reasons"][0], "account rate budget spent", "{d}");
    assert_eq!(
        server.check(json!({"account_id": "customer"})).await["action"],
        "allow"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opentelemetry_collector_can_export_traces() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |_| {}).await;
    let attribute = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let export = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [
        {"spanId": "a1", "name": "chat", "startTimeUnixNano": "1780000000000000000", "attributes": [
            attribute("gen_ai.operation.name", "chat"),
            attribute("gen_ai.request.model", "frontier"),
            attribute("user.id", "acct_otel"),
            attribute("client.address", "203.0.113.7"),
        ]},
        {"spanId": "a2", "name": "HTTP GET", "startTimeUnixNano": "1780000001000000000",
         "attributes": [attribute("http.method", "GET")]},
    ]}]}]});
    let (status, answer) = server
        .post("/v1/traces", Some(INGEST), export.to_string().into_bytes())
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({}));
    let (status, account) = server.get("/v1/accounts/acct_otel", Some(ADMIN)).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["exchanges"], 1);
    let protobuf = server
        .http
        .post(format!("{}/v1/traces", server.base))
        .bearer_auth(INGEST)
        .header("content-type", "application/x-protobuf")
        .body(vec![0x0a, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(protobuf.status(), 415);
    assert_eq!(server.post("/v1/traces", None, b"{}".to_vec()).await.0, 401);
    server.stop().await;
}

/// A partner's indicators in their simplest form: one address, matching two kinds.
struct KnownAddress(std::net::IpAddr);

impl PartnerIntel for KnownAddress {
    fn partners(&self) -> Vec<String> {
        vec!["Provider A".into(), "Provider B".into()]
    }

    fn matches(&self, e: &Exchange, _: &ContentSignals) -> IntelMatch {
        if e.client.ip == Some(self.0) {
            IntelMatch {
                kinds: 0b11,
                partners: 0b10,
            }
        } else {
            IntelMatch::default()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_indicators_reach_the_live_engine() {
    let dir = tempfile::tempdir().unwrap();
    let known = "198.51.100.77".parse().unwrap();
    let server = Running::start_with(dir.path(), |_| {}, Some(Box::new(KnownAddress(known)))).await;
    let exchange = |account: &str, ip: &str| {
        json!({"ts": "2026-03-01T10:00:00Z", "account_id": account, "client": {"ip": ip}})
            .to_string()
    };
    let body = format!(
        "{}\n{}\n",
        exchange("newcomer", "198.51.100.77"),
        exchange("someone", "203.0.113.5")
    );
    assert_eq!(
        server
            .post("/v1/exchanges", Some(INGEST), body.into_bytes())
            .await
            .0,
        200
    );
    let signals = |v: &Value| v["signals"].as_array().unwrap().clone();
    let (_, newcomer) = server.get("/v1/accounts/newcomer", Some(ADMIN)).await;
    assert!(
        signals(&newcomer).contains(&json!("partner_intel")),
        "{newcomer}"
    );
    assert_eq!(
        newcomer["partners"],
        json!(["Provider B"]),
        "the provenance"
    );
    let (_, someone) = server.get("/v1/accounts/someone", Some(ADMIN)).await;
    assert!(
        !signals(&someone).contains(&json!("partner_intel")),
        "{someone}"
    );
    server.stop().await;
}

/// Reads what the server sends on `stream` until it closes the connection (or `wait`
/// passes: then `None`).
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    wait: std::time::Duration,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_get_a_json_error() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |_| {}).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let limit = moat_server::ServeConfig::default().max_head_bytes;
    let long_target = format!("/v1/accounts/{}", "a".repeat(limit + 1));
    let long_header = format!("x-filler: {}\r\n", "b".repeat(limit));
    for (target, extra, status) in [
        (long_target.as_str(), "", "414"),
        ("/healthz", long_header.as_str(), "431"),
    ] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: moat\r\n{extra}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream, std::time::Duration::from_secs(10))
            .await
            .expect("the oversized head was answered");
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        assert!(answer.contains("application/json"), "{answer}");
        assert!(answer.contains("max_head_bytes"), "{answer}");
    }
    assert_eq!(server.get("/healthz", None).await.0, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_and_capped() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |c| {
        c.header_timeout_seconds = 1;
        c.body_timeout_seconds = 1;
    })
    .await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let long = std::time::Duration::from_secs(10);

    // Headers trickled, never finished: the connection is closed.
    let mut trickle = TcpStream::connect(&addr).await.unwrap();
    trickle
        .write_all(b"POST /v1/check HTTP/1.1\r\nHost: moat\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut trickle, long).await.is_some(),
        "a connection that never finished its headers was kept open"
    );
    // Idle, no byte sent at all: closed too.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    assert!(read_until_closed(&mut idle, long).await.is_some());

    // A body promised and not sent: 408 with a JSON error, after the caller showed its
    // right to send one.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/exchanges HTTP/1.1\r\nHost: moat\r\nAuthorization: Bearer {INGEST}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{{\"ts\":"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut slow, long)
        .await
        .expect("the slow body was answered");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("{\"error\":"), "{answer}");

    // The server still answers.
    assert_eq!(server.get("/healthz", None).await.0, 200);
    let (_, metrics) = server.get("/metrics", Some(ADMIN)).await;
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(metrics.contains("moat_slow_bodies_total 1"), "{metrics}");
    server.stop().await;

    // At most max_connections open: a third caller waits while two hold theirs, and is
    // served once they let go.
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |c| c.max_connections = 2).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // The readiness probe's pooled connection would hold a slot: use fresh clients.
    let held = [
        TcpStream::connect(&addr).await.unwrap(),
        TcpStream::connect(&addr).await.unwrap(),
    ];
    // Give the server a moment to accept both (the test client's pool holds none now).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    let url = format!("{}/healthz", server.base);
    let waiting =
        tokio::time::timeout(std::time::Duration::from_secs(1), fresh().get(&url).send()).await;
    assert!(
        waiting.is_err(),
        "a third connection was served past the cap"
    );
    drop(held);
    let served = tokio::time::timeout(long, fresh().get(&url).send())
        .await
        .expect("served once the held connections closed")
        .unwrap();
    assert_eq!(served.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_share_of_connections_on_each_port() {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |c| {
        c.max_connections = 16;
        c.max_connections_per_address = 3;
    })
    .await;
    // A refused connection is closed without a word; a held one stays open and silent.
    async fn closed_at_once(stream: &mut TcpStream) -> bool {
        let wait = std::time::Duration::from_millis(500);
        matches!(
            tokio::time::timeout(wait, stream.read(&mut [0u8; 1])).await,
            Ok(Ok(0) | Err(_))
        )
    }
    let http = server.base.trim_start_matches("http://").to_string();
    let grpc = server.grpc.to_string();
    let mut held = Vec::new();
    for (port, at_least) in [(&http, 2), (&grpc, 3)] {
        let mut on_port = 0;
        let mut refused = false;
        for _ in 0..5 {
            let mut stream = TcpStream::connect(port).await.unwrap();
            if closed_at_once(&mut stream).await {
                refused = true;
                break;
            }
            held.push(stream);
            on_port += 1;
        }
        assert!(
            refused,
            "{port}: {on_port} connections from one address held open"
        );
        // The HTTP port also holds the test client's pooled connection.
        assert!((at_least..=3).contains(&on_port), "{port}: {on_port} held");
    }
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut client = AuthorizationClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    client
        .check(authz_request("acct_anyone", "203.0.113.9"))
        .await
        .expect("served once the held connections closed");
    let (_, metrics) = server.get("/metrics", Some(ADMIN)).await;
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains("moat_refused_connections_total 2"),
        "{metrics}"
    );
    server.stop().await;
}

/// A gRPC connection that says nothing is closed after `header_timeout_seconds`; one that
/// spoke but does not answer the server's HTTP/2 pings, after `grpc_keepalive_seconds`
/// twice; a client idle for longer than that, which answers them, keeps its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_grpc_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |c| {
        c.header_timeout_seconds = 1;
        c.grpc_keepalive_seconds = 1;
    })
    .await;
    // Closed: the read ends (0 bytes, or an error) within `within`.
    async fn closed_within(stream: &mut TcpStream, within: std::time::Duration) -> bool {
        let mut buf = [0u8; 256];
        let read = async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(within, read).await.is_ok()
    }
    let mut mute = TcpStream::connect(server.grpc).await.unwrap();
    let mut deaf = TcpStream::connect(server.grpc).await.unwrap();
    deaf.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut client = AuthorizationClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    client
        .check(authz_request("acct_anyone", "203.0.113.9"))
        .await
        .expect("served");
    let wait = std::time::Duration::from_secs(6);
    assert!(
        closed_within(&mut mute, wait).await,
        "a mute connection stays open"
    );
    assert!(
        closed_within(&mut deaf, wait).await,
        "a deaf connection stays open"
    );
    // The client has been idle for seconds, answering pings: its connection is kept.
    client
        .check(authz_request("acct_anyone", "203.0.113.9"))
        .await
        .expect("an idle client that answers pings keeps its connection");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_tell_the_browser_what_it_may_do_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |_| {}).await;
    for path in ["/dashboard", "/dashboard/content"] {
        let r = server
            .http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        let h = r.headers();
        let policy = h["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    // Behind a proxy that ends TLS, the session cookie is sent back over TLS only.
    let unfollowed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (proto, secure) in [(None, false), (Some("https"), true), (Some("http"), false)] {
        let mut r = unfollowed
            .post(format!("{}/dashboard/sign-in", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={ADMIN}"));
        if let Some(proto) = proto {
            r = r.header("x-forwarded-proto", proto);
        }
        let r = r.send().await.unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert_eq!(cookie.contains("; Secure"), secure, "{proto:?}: {cookie}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_guessing_is_braked_per_address_and_metrics_stay_near() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |c| {
        c.max_auth_failures = 3;
        c.auth_failure_window_seconds = 2;
        c.guardrail_token = Some("guardrail-token-for-tests".into());
    })
    .await;
    for _ in 0..3 {
        let (status, _) = server
            .get("/v1/campaigns", Some("wrong-guess-0123456"))
            .await;
        assert_eq!(status, 401);
    }
    // The fourth try is refused whatever it carries, the right token included.
    let r = server
        .http
        .get(format!("{}/v1/campaigns", server.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("try again"),
        "{body}"
    );
    for (path, body) in [
        ("/v1/exchanges", Vec::new()),
        (
            "/beta/litellm_basic_guardrail_api",
            br#"{"input_type": "request"}"#.to_vec(),
        ),
    ] {
        let (status, answer) = server.post(path, Some(INGEST), body).await;
        assert_eq!(status, 429, "{path}: {answer}");
    }
    let form = server
        .http
        .post(format!("{}/dashboard/sign-in", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={ADMIN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 429);
    // Decisions need no token and are never braked.
    assert_eq!(
        server.check(json!({"account_id": "a"})).await["action"],
        "allow"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, _) = server.get("/v1/campaigns", Some(ADMIN)).await;
    assert_eq!(status, 200);
    // Failed sign-ins and guardrail keys count too, and are counted in the metrics.
    for _ in 0..2 {
        let form = server
            .http
            .post(format!("{}/dashboard/sign-in", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=not-the-admin-token")
            .send()
            .await
            .unwrap();
        assert_eq!(form.status().as_u16(), 401);
    }
    let (status, _) = server
        .post(
            "/beta/litellm_basic_guardrail_api",
            None,
            br#"{"input_type": "request"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = server.get("/v1/campaigns", Some(ADMIN)).await;
    assert_eq!(status, 429);
    let (status, metrics) = server.get("/metrics", None).await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(metrics.contains("moat_auth_failures_total 6"), "{metrics}");
    server.stop().await;

    // Metrics are read from the listed networks only (loopback by default).
    let server = Running::start(dir.path(), |c| {
        c.metrics_from = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (status, answer) = server.get("/metrics", None).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("metrics_from"));
    server.stop().await;
}

/// While a restarted server replays its store, decisions are served (and say so on
/// `/readyz/decisions`), while ingest and admin calls are answered at once with 503 and
/// `Retry-After`, and nothing they sent is applied later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaying_server_says_when_to_come_back_and_applies_nothing_late() {
    let dir = tempfile::tempdir().unwrap();
    let (exchanges, truth) = traffic();
    // No snapshot of the engine, so that the restart replays the whole store.
    let no_snapshots = |c: &mut ServeConfig| c.snapshot_every_exchanges = 0;
    let server = Running::start(dir.path(), no_snapshots).await;
    // Enough history that its replay takes a while.
    for _ in 0..4 {
        server.ingest(&exchanges).await;
    }
    let stored = server.get("/readyz", None).await.1["exchanges"].clone();
    let customer = truth
        .iter()
        .find(|t| t.label == "benign")
        .unwrap()
        .account_id
        .clone();
    let decided = server.check(json!({"account_id": customer})).await;
    // A new account that pays with the blocked campaign's card, from its addresses.
    let member = &truth
        .iter()
        .find(|t| t.label == "hydra")
        .unwrap()
        .account_id;
    let sample = exchanges
        .iter()
        .rev()
        .find(|e| e.account_id == *member)
        .unwrap();
    let newcomer = json!({
        "account_id": "brand-new-account",
        "client": {"ip": sample.client.ip, "user_agent": sample.client.user_agent,
                   "tls_fingerprint": sample.client.tls_fingerprint},
        "account": {"payment_fingerprint": sample.account.payment_fingerprint},
    });
    let newcomer_decided = server.check(newcomer.clone()).await;
    assert_eq!(newcomer_decided["action"], "block", "{newcomer_decided}");
    server.stop().await;

    let server = Running::start_unready(dir.path(), no_snapshots, None).await;
    let mut decisions_first = false;
    for _ in 0..600 {
        let (status, body) = server.get("/readyz/decisions", None).await;
        if status == 200 {
            decisions_first = body["replayed"] == false;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (status, _) = server.get("/readyz", None).await;
    assert!(
        decisions_first && status == 503,
        "the replay ended before it could be watched: make the stored history longer"
    );
    let mut body = Vec::new();
    serde_json::to_writer(&mut body, &exchanges[0]).unwrap();
    let r = server
        .http
        .post(format!("{}/v1/exchanges", server.base))
        .bearer_auth(INGEST)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let answer: Value = r.json().await.unwrap();
    assert!(answer["error"].as_str().unwrap().contains("replaying"));
    let (status, _) = server
        .post(
            &format!("/v1/admin/accounts/{customer}"),
            Some(ADMIN),
            json!({"action": "block", "reason": "r", "actor": "tests"})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 503);
    // Decisions are served meanwhile, on the stored verdicts and the blocked campaigns'
    // stored keys.
    assert_eq!(server.check(json!({"account_id": customer})).await, decided);
    assert_eq!(server.check(newcomer.clone()).await, newcomer_decided);
    assert_eq!(server.get("/readyz", None).await.0, 503, "still replaying");

    for _ in 0..600 {
        if server.get("/readyz", None).await.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Nothing refused during the replay was applied after it.
    assert_eq!(server.get("/readyz", None).await.1["exchanges"], stored);
    assert_eq!(server.check(json!({"account_id": customer})).await, decided);
    let (_, audit) = server.get("/v1/admin/audit", Some(ADMIN)).await;
    assert_eq!(audit.as_array().map(Vec::len), Some(0));
    server.stop().await;
}

/// A logger that retries a batch it sent with an `Idempotency-Key` (its answer lost, or a
/// 5xx before it) never has it taken in twice, across a restart too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_retried_with_its_idempotency_key_is_taken_in_once() {
    let dir = tempfile::tempdir().unwrap();
    let (exchanges, _) = traffic();
    let mut batch = Vec::new();
    for e in &exchanges[..100] {
        serde_json::to_writer(&mut batch, e).unwrap();
        batch.push(b'\n');
    }
    let send = |server: &Running, key: Option<&str>| {
        let mut r = server
            .http
            .post(format!("{}/v1/exchanges", server.base))
            .bearer_auth(INGEST)
            .body(batch.clone());
        if let Some(key) = key {
            r = r.header("idempotency-key", key);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let server = Running::start(dir.path(), |_| {}).await;
    let (status, first) = send(&server, Some("logger-7/batch-1")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["exchanges"], 100);
    assert!(first.get("duplicate").is_none(), "{first}");
    let (status, again) = send(&server, Some("logger-7/batch-1")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["exchanges"], 100);
    // Without a key, or with another, a batch is taken in as it comes.
    assert_eq!(send(&server, None).await.1["exchanges"], 200);
    assert_eq!(
        send(&server, Some("logger-7/batch-2")).await.1["exchanges"],
        300
    );
    for bad in ["", "with space", &"k".repeat(201)] {
        let (status, answer) = send(&server, Some(bad)).await;
        assert_eq!(status, 400, "{bad:?}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key")
        );
    }
    let (_, metrics) = server.get("/metrics", None).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("moat_duplicate_ingests_total 1"),
        "{metrics}"
    );
    server.stop().await;

    let server = Running::start(dir.path(), |_| {}).await;
    let (status, after) = send(&server, Some("logger-7/batch-1")).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["duplicate"], true);
    assert_eq!(server.get("/readyz", None).await.1["exchanges"], 300);
    server.stop().await;
}

/// Each operator signs admin actions with a token of their own, and the audit log names
/// who authenticated, whatever the request says of itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_names_the_operator_who_authenticated() {
    const JO: &str = "jo-token-for-tests-0123";
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), |c| {
        c.operators.insert("jo".into(), JO.into());
    })
    .await;
    let action = json!({"action": "block", "reason": "ring, ticket T-1", "actor": "someone-else"});
    let (status, entry) = server
        .post(
            "/v1/admin/accounts/a1",
            Some(JO),
            action.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry["actor"], "jo");
    assert_eq!(entry["note"], "someone-else");
    let (status, audit) = server.get("/v1/admin/audit", Some(JO)).await;
    assert_eq!(status, 200);
    assert_eq!(audit[0]["actor"], "jo");
    assert_eq!(
        server.check(json!({"account_id": "a1"})).await["action"],
        "block"
    );
    // A token that is no operator's is refused.
    let (status, _) = server
        .post(
            "/v1/admin/accounts/a1",
            Some("not-an-operator-token-000"),
            action.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 401);
    server.stop().await;
}

/// A server stopped and started again restores its engine from the snapshot it kept when
/// it stopped: it reads no stored record again, and says and decides what it did before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_restores_the_engine_from_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (exchanges, truth) = traffic();
    let server = Running::start(dir.path(), |_| {}).await;
    server.ingest(&exchanges).await;
    let accounts = every_fifth_account(&truth);
    let before = server.accounts(&accounts).await;
    let (_, report) = server.get("/v1/campaigns", Some(ADMIN)).await;
    server.stop().await;

    let server = Running::start(dir.path(), |_| {}).await;
    let (_, ready) = server.get("/readyz", None).await;
    assert_eq!(ready["exchanges"], exchanges.len() as u64, "{ready}");
    assert_eq!(ready["restored"], exchanges.len() as u64, "{ready}");
    assert_eq!(ready["replayed"], 0, "{ready}");
    assert_eq!(server.accounts(&accounts).await, before);
    assert_eq!(server.get("/v1/campaigns", Some(ADMIN)).await.1, report);
    server.stop().await;
}

/// With snapshots kept often, the exchanges behind the older of the two kept are deleted
/// from the store, and a restart still decides what the server decided before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_behind_the_snapshots_are_retired_and_a_restart_decides_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (exchanges, truth) = traffic();
    let often = |c: &mut ServeConfig| c.snapshot_every_exchanges = 500;
    let server = Running::start(dir.path(), often).await;
    for chunk in exchanges.chunks(250) {
        server.ingest(chunk).await;
    }
    let accounts = every_fifth_account(&truth);
    let before = server.accounts(&accounts).await;
    server.stop().await;

    let store = moat_server::store::Store::open(dir.path()).unwrap();
    let first = store.first_batch().unwrap().unwrap();
    let batches = exchanges.len().div_ceil(250) as u64;
    assert!(
        first > 0 && first < batches,
        "first stored batch {first} of {batches}"
    );
    drop(store);

    let server = Running::start(dir.path(), often).await;
    let (_, ready) = server.get("/readyz", None).await;
    assert_eq!(ready["exchanges"], exchanges.len() as u64, "{ready}");
    assert_eq!(server.accounts(&accounts).await, before);
    server.stop().await;
}
