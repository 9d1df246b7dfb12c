//! The HTML report in a real browser: the README's rehearsal (simulate, scan --html)
//! opened in headless Chromium, its charts read back from the DOM against the scan's own
//! files, its tables used, no console error, and a screenshot saved to look at.

mod browser;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use browser::Browser;
use moat_core::{AccountVerdict, Report, Verdict};
use serde_json::Value;

fn moat(args: &[&str]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "moat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where screenshots are kept for a person to look at.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn number(v: Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
        Value::Number(n) => n.as_u64().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

#[test]
fn the_report_shows_the_hidden_campaign_with_the_scans_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    // A seed no detection setting was tuned on.
    moat(&[
        "simulate",
        "--scenario",
        "hydra-29m",
        "--scale",
        "0.003",
        "--seed",
        "4201",
        "--out",
        &path("sim"),
    ]);
    moat(&[
        "scan",
        &path("sim/events.jsonl"),
        "--out",
        &path("scan"),
        "--html",
    ]);
    moat(&[
        "report",
        &path("scan"),
        "--truth",
        &path("sim/truth.csv"),
        "--out",
        &path("truth.html"),
    ]);
    let report: Report =
        serde_json::from_slice(&std::fs::read(path("scan/report.json")).unwrap()).unwrap();
    let accounts: Vec<AccountVerdict> =
        moat_io::read_accounts_csv(Path::new(&path("scan/accounts.csv"))).unwrap();
    assert!(!report.campaigns.is_empty(), "the scan found the campaign");

    let mut b = Browser::start(1400, 1000);
    b.open(&format!("file://{}", path("scan/report.html")));
    b.wait_until(
        "document.body.dataset.ready === '1'",
        Duration::from_secs(30),
    );

    let metric = |b: &mut Browser, name: &str| {
        number(b.eval(&format!(
            "document.querySelector('[data-metric={name}]').dataset.value"
        )))
    };
    let s = &report.summary;
    assert_eq!(metric(&mut b, "campaigns"), s.campaigns);
    assert_eq!(metric(&mut b, "blocked"), s.accounts_blocked);
    assert_eq!(metric(&mut b, "exchanges"), s.exchanges);

    // The traffic chart holds every exchange, the campaigns' in their own series.
    let in_campaigns: u64 = report.campaigns.iter().map(|c| c.exchanges).sum();
    let part = number(b.eval("document.querySelector('#traffic svg.timeline').dataset.part"));
    let rest = number(b.eval("document.querySelector('#traffic svg.timeline').dataset.rest"));
    assert_eq!(part, in_campaigns);
    assert_eq!(part + rest, s.exchanges);

    // The score histogram counts every account.
    let bins: Vec<u64> = serde_json::from_str(
        b.eval("document.querySelector('svg.scores').dataset.bins")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(bins.iter().sum::<u64>(), accounts.len() as u64);

    // The first campaign in detail.
    let c = &report.campaigns[0];
    let section = format!("document.getElementById('{}')", c.id);
    let in_section = |q: &str| format!("{section}.querySelector('{q}')");
    assert_eq!(
        number(b.eval(&format!("{}.dataset.part", in_section("svg.timeline")))),
        c.exchanges
    );
    // Its structure: the keys its accounts share most, a few holders of each, every
    // holder tied to a key.
    let graph = |b: &mut Browser, what: &str| {
        number(b.eval(&format!("{}.{what}", in_section("svg.network-graph"))))
    };
    let drawn = graph(&mut b, "dataset.nodes");
    let keys = graph(&mut b, "dataset.keys");
    assert!(
        (1..=c.accounts.min(300)).contains(&drawn),
        "{drawn} accounts drawn"
    );
    assert!((1..=48).contains(&keys), "{keys} keys drawn");
    assert_eq!(graph(&mut b, "querySelectorAll('circle').length"), drawn);
    assert_eq!(graph(&mut b, "querySelectorAll('rect').length"), keys);
    assert!(graph(&mut b, "querySelectorAll('line').length") >= drawn);
    let blocked_drawn = number(b.eval(&format!(
        "{section}.querySelectorAll('svg.network-graph circle[data-verdict=block]').length"
    )));
    assert!(
        blocked_drawn * 10 >= drawn * 9,
        "{blocked_drawn} of {drawn} drawn accounts blocked"
    );
    assert_eq!(
        number(b.eval(&format!(
            "{section}.querySelectorAll('table.evidence tr').length"
        ))),
        c.evidence.len() as u64
    );
    assert_eq!(
        number(b.eval(&format!("{}.dataset.rows", in_section(".members")))),
        c.accounts
    );
    let rows = |b: &mut Browser| {
        number(b.eval(&format!(
            "{section}.querySelectorAll('.members tbody tr').length"
        )))
    };
    assert_eq!(rows(&mut b), c.accounts.min(25));

    // The member table pages and filters.
    let first_row = |b: &mut Browser| {
        b.eval(&format!(
            "{section}.querySelector('.members tbody tr').dataset.account"
        ))
        .as_str()
        .unwrap()
        .to_owned()
    };
    let top = first_row(&mut b);
    assert!(c.accounts > 25, "the campaign fills more than one page");
    b.eval(&format!(
        "{section}.querySelectorAll('.pager button')[1].click()"
    ));
    assert_ne!(first_row(&mut b), top, "the next page shows other accounts");
    b.eval(&format!(
        "(() => {{ const f = {section}.querySelector('.members .filter'); f.value = '{top}'; \
         f.dispatchEvent(new Event('input')); }})()"
    ));
    assert_eq!(rows(&mut b), 1);
    assert_eq!(first_row(&mut b), top);
    let member = accounts.iter().find(|a| a.account_id == top).unwrap();
    assert_eq!(member.campaign_id.as_deref(), Some(c.id.as_str()));

    // Every chart's labels read at the page's small-print size, inside their chart.
    let unreadable = b.eval(
        "JSON.stringify([...document.querySelectorAll('svg text.label')].flatMap(t => { \
           const r = t.getBoundingClientRect(), s = t.ownerSVGElement.getBoundingClientRect(); \
           if (r.width === 0) return []; \
           const size = parseFloat(getComputedStyle(t).fontSize) * r.height / t.getBBox().height; \
           return size < 10 || r.left < s.left - 1 || r.right > s.right + 1 \
             ? [t.closest('svg').getAttribute('class') + ': ' + t.textContent + ' at ' + size.toFixed(1) + 'px'] : []; }))",
    );
    assert_eq!(
        unreadable,
        serde_json::json!("[]"),
        "labels too small or cut"
    );

    assert_eq!(b.eval("window.moatErrors.length"), serde_json::json!(0));
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
    b.screenshot(&screenshots().join("report.png"));

    // With the simulation's truth, the overview counts the customers blocked.
    let truth: HashMap<String, String> = std::fs::read_to_string(path("sim/truth.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect();
    let customers_blocked = accounts
        .iter()
        .filter(|a| a.verdict == Verdict::Block && truth[&a.account_id] == "benign")
        .count() as u64;
    b.open(&format!("file://{}", path("truth.html")));
    b.wait_until(
        "document.body.dataset.ready === '1'",
        Duration::from_secs(30),
    );
    assert_eq!(metric(&mut b, "affected"), customers_blocked);
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
}
