//! `moat serve`'s live dashboard in a real browser: signing in with the admin token, the
//! campaigns appearing and the figures following the traffic as it is ingested, an admin
//! action taken from the page and found in the audit log, no console error.

mod browser;
mod server;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use browser::Browser;
use serde_json::{Value, json};

const INGEST: &str = "ingest-token-for-dashboard";
const ADMIN: &str = "admin-token-for-dashboard";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server(dir: &Path) -> (Server, String) {
    let (child, base) = server::spawn(dir, INGEST, ADMIN);
    (Server(child), base)
}

fn ingest(http: &reqwest::blocking::Client, base: &str, lines: &[&str]) {
    for batch in lines.chunks(5000) {
        let r = http
            .post(format!("{base}/v1/exchanges"))
            .bearer_auth(INGEST)
            .body(batch.join("\n"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }
}

fn admin_get(http: &reqwest::blocking::Client, url: &str) -> Value {
    let r = http.get(url).bearer_auth(ADMIN).send().unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

fn metric(b: &mut Browser, name: &str) -> u64 {
    let v = b.eval(&format!(
        "(document.querySelector('[data-metric={name}]') || {{dataset: {{}}}}).dataset.value || '0'"
    ));
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn the_dashboard_follows_live_traffic_and_takes_admin_actions() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["simulate", "--scenario", "hydra-29m", "--scale", "0.002"])
        .args(["--seed", "4202", "--out"])
        .arg(&sim)
        .output()
        .unwrap();
    assert!(out.status.success());
    let events = std::fs::read_to_string(sim.join("events.jsonl")).unwrap();
    let lines: Vec<&str> = events.lines().collect();
    let half = lines.len() / 2;

    let (_server, base) = spawn_server(&dir.path().join("store"));
    let http = reqwest::blocking::Client::new();

    // Not signed in: no data, a sign-in page, and the data endpoints refuse.
    let r = http
        .get(format!("{base}/dashboard/content"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().unwrap()["error"].is_string());

    let mut b = Browser::start(1400, 1000);
    b.open(&format!("{base}/"));
    assert_eq!(
        b.eval("!!document.querySelector('input#token')"),
        json!(true)
    );
    assert_eq!(
        b.eval("!!document.querySelector('[data-metric]')"),
        json!(false)
    );

    // A wrong token is refused on the page.
    b.eval("document.querySelector('#token').value = 'not-the-admin-token-at-all'");
    b.eval("document.querySelector('form').submit()");
    b.wait_until(
        "!!document.querySelector('.error')",
        Duration::from_secs(10),
    );
    b.errors.clear(); // the refusal's 401 is logged by the browser

    b.eval(&format!(
        "document.querySelector('#token').value = '{ADMIN}'"
    ));
    b.eval("document.querySelector('form').submit()");
    b.wait_until(
        "document.body.dataset.mode === 'live' && document.body.dataset.ready === '1'",
        Duration::from_secs(20),
    );
    assert_eq!(metric(&mut b, "exchanges"), 0);

    // Traffic flows in: the dashboard follows without a reload.
    ingest(&http, &base, &lines[..half]);
    b.wait_until(
        &format!("document.querySelector('[data-metric=exchanges]').dataset.value === '{half}'"),
        Duration::from_secs(30),
    );
    ingest(&http, &base, &lines[half..]);
    let total = lines.len();
    b.wait_until(
        &format!("document.querySelector('[data-metric=exchanges]').dataset.value === '{total}'"),
        Duration::from_secs(30),
    );
    let started = Instant::now();
    let report = loop {
        // The dashboard's figures are those of the API at the same moment.
        let report = admin_get(&http, &format!("{base}/v1/campaigns"));
        let shown = metric(&mut b, "campaigns");
        if shown == report["summary"]["campaigns"].as_u64().unwrap() && shown > 0 {
            break report;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the dashboard never showed {report}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        metric(&mut b, "blocked"),
        report["summary"]["accounts_blocked"].as_u64().unwrap()
    );
    let campaign = report["campaigns"][0]["id"].as_str().unwrap().to_owned();
    let section = format!("document.getElementById('{campaign}')");
    assert_eq!(
        b.eval(&format!(
            "{section}.querySelectorAll('svg.network-graph circle').length > 1"
        )),
        json!(true)
    );

    // An admin action from the page: without a reason it is not sent; with one it is
    // taken, and the audit log says who and why.
    let account = b
        .eval(&format!(
            "{section}.querySelector('.members tbody tr').dataset.account"
        ))
        .as_str()
        .unwrap()
        .to_owned();
    let allow =
        format!("{section}.querySelector('.members tbody tr button:nth-of-type(2)').click()");
    b.eval(&allow);
    b.wait_until(
        &format!("{section}.querySelector('form.actions .result').textContent.includes('reason')"),
        Duration::from_secs(5),
    );
    b.eval(&format!(
        "{section}.querySelector('form.actions input[name=reason]').value = 'known customer, ticket 4411'"
    ));
    b.eval(&allow);
    b.wait_until(
        &format!("{section}.querySelector('form.actions .result').textContent.includes('done')"),
        Duration::from_secs(10),
    );
    let answer = admin_get(&http, &format!("{base}/v1/accounts/{account}"));
    assert_eq!(answer["override"]["action"], "allow", "{answer}");
    let audit = admin_get(&http, &format!("{base}/v1/admin/audit"));
    let last = audit.as_array().and_then(|e| e.last()).unwrap();
    assert_eq!(last["target"], format!("account:{account}"));
    assert_eq!(last["reason"], "known customer, ticket 4411");
    // The operator who signed in, and the dashboard's note.
    assert_eq!(last["actor"], "admin");
    assert_eq!(last["note"], "dashboard");

    // The page shows the decision beside what the engine still says of the account.
    let row = format!("document.querySelector('#manual tr[data-target=\"account:{account}\"]')");
    b.wait_until(&format!("!!{row}"), Duration::from_secs(20));
    let shown = b.eval(&format!("{row}.textContent"));
    let shown = shown.as_str().unwrap();
    assert!(
        shown.contains("allow") && shown.contains("known customer, ticket 4411"),
        "{shown}"
    );
    let engine = answer["verdict"].as_str().unwrap();
    assert!(shown.contains(engine), "{shown} {answer}");

    // A refresh of figures and decisions still current costs nothing; a new decision is
    // drawn; a bad query is a JSON 400.
    let current = format!(
        "'/dashboard/content?exchanges={total}&manual=' + \
         encodeURIComponent(document.getElementById('manual-version').dataset.value)"
    );
    assert_eq!(
        b.eval(&format!("fetch({current}).then(r => r.status)")),
        json!(204)
    );
    assert_eq!(
        b.eval(&format!(
            "fetch('/dashboard/content?exchanges={total}').then(r => r.status)"
        )),
        json!(200)
    );
    assert_eq!(
        b.eval("fetch('/dashboard/content?exchanges=many').then(r => r.json()).then(j => typeof j.error)"),
        json!("string")
    );
    b.errors.clear(); // the browser logs the 400

    assert_eq!(b.eval("window.moatErrors.length"), json!(0));
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
    b.eval(&format!(
        "{section}.querySelector('form.actions input[name=reason]').value = ''"
    ));
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    b.screenshot(&shots.join("dashboard.png"));

    // Signing out closes the session.
    b.eval("document.querySelector('form.sign-out').submit()");
    b.wait_until(
        "!!document.querySelector('input#token')",
        Duration::from_secs(10),
    );
    b.wait_until(
        "fetch('/dashboard/content').then(r => r.status === 401)",
        Duration::from_secs(5),
    );
}
