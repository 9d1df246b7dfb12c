//! Detection quality, measured end to end (`moat eval`) on simulated traffic at scale 0.002
//! with seeds the engine was never tuned on (tuning used seed 1).

use std::io::Write;
use std::str::FromStr;

use assert_cmd::Command;
use serde_json::Value;

/// Seeds held out from tuning.
const HELD_OUT_SEEDS: [&str; 2] = ["2027", "4093"];

fn evaluate(scenarios: &[&str], seed: &str, extra: &[&str]) -> Vec<Value> {
    let out = Command::cargo_bin("moat")
        .unwrap()
        .args([
            "eval",
            "-q",
            "--json",
            "--scale",
            "0.002",
            "--seed",
            seed,
            "--scenario",
        ])
        .args(scenarios)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json.as_array().unwrap().clone()
}

/// Simulates `scenario` at `scale` with `seed` and scans it: the folder holding both (kept
/// while it lives), the simulation's and the scan's.
fn simulate_and_scan(
    scenario: &str,
    scale: &str,
    seed: &str,
) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (sim, scan) = (dir.path().join("sim"), dir.path().join("scan"));
    let moat = || Command::cargo_bin("moat").unwrap();
    moat()
        .args(["simulate", "-q", "--scenario", scenario, "--scale", scale])
        .args(["--seed", seed, "--out"])
        .arg(&sim)
        .assert()
        .success();
    moat()
        .args(["scan", "-q"])
        .arg(sim.join("events.jsonl"))
        .arg("--out")
        .arg(&scan)
        .assert()
        .success();
    (dir, sim, scan)
}

fn share(a: &Value, b: &Value) -> f64 {
    let b = b.as_f64().unwrap();
    if b == 0.0 {
        0.0
    } else {
        a.as_f64().unwrap() / b
    }
}

/// Checks a scenario's one campaign: at least `min_blocked` of its accounts blocked, at
/// most `max_early` of its exchanges made before their account was blocked, at most 0.1 %
/// of benign accounts blocked.
fn check_campaign(result: &Value, min_blocked: f64, max_early: f64) {
    let title = result["scenario"].as_str().unwrap();
    let e = &result["evaluation"];
    let campaigns = e["campaigns"].as_array().unwrap();
    assert_eq!(campaigns.len(), 1, "{title}");
    let c = &campaigns[0];
    let blocked = share(&c["blocked"], &c["accounts"]);
    let early = share(&c["exchanges_before_block"], &c["exchanges"]);
    assert!(
        blocked >= min_blocked,
        "{title}: {blocked:.4} of hydra accounts blocked"
    );
    assert!(
        early <= max_early,
        "{title}: {early:.4} of hydra exchanges before block"
    );
    let benign = share(&e["benign"]["blocked"], &e["benign"]["accounts"]);
    assert!(
        benign <= 0.001,
        "{title}: {benign:.4} of benign accounts blocked"
    );
}

/// The targets every disclosed campaign profile must meet.
fn check_disclosed(result: &Value) {
    check_campaign(result, 0.99, 0.02);
    // A reseller carrying the campaign beside its customers is found with it, and the share
    // of its traffic that is the campaign's is read within 0.15 of the truth.
    let mixed = &result["evaluation"]["mixed"];
    if mixed["accounts"].as_u64().unwrap() > 0 {
        let title = result["scenario"].as_str().unwrap();
        assert_eq!(mixed["flagged"], mixed["accounts"], "{title}: {mixed}");
        assert_eq!(mixed["share_within"], mixed["accounts"], "{title}: {mixed}");
    }
}

#[test]
fn disclosed_campaigns_are_stopped_early_without_blocking_customers() {
    for seed in HELD_OUT_SEEDS {
        for result in evaluate(
            &["hydra-150k", "hydra-3m", "hydra-13m", "hydra-29m"],
            seed,
            &[],
        ) {
            check_disclosed(&result);
        }
    }
}

#[test]
fn evasive_campaigns_are_mostly_stopped_without_blocking_customers() {
    for seed in HELD_OUT_SEEDS {
        for result in evaluate(
            &["evasive-150k", "evasive-3m", "evasive-13m", "evasive-29m"],
            seed,
            &[],
        ) {
            check_campaign(&result, 0.90, 1.0);
        }
    }
}

/// Campaigns whose accounts share no key at all are found by how alike their accounts
/// behave and ask: the likeness route alone.
#[test]
fn covert_campaigns_are_found_by_likeness_alone() {
    for seed in HELD_OUT_SEEDS {
        for result in evaluate(&["covert-29m"], seed, &[]) {
            check_campaign(&result, MIN_COVERT_BLOCKED, MAX_COVERT_EARLY);
        }
    }
}

/// A covert campaign run through aged accounts (opened as long before their use as
/// customers' are) does not look opened for the job; its accounts are still found as put
/// to work together (`late_start`) and never following up (`no_follow_ups`). About 25
/// accounts at this scale: 78–91 % of them were blocked on the held-out seeds, with 13–23 %
/// of their exchanges first, when the ceiling was set (43–57 % first before the two traits
/// together counted once more); none before `late_start`.
#[test]
fn covert_campaigns_through_aged_accounts_are_found() {
    for seed in HELD_OUT_SEEDS {
        for result in evaluate(&["covert-aged-3m"], seed, &[]) {
            check_campaign(&result, 0.7, 0.35);
        }
    }
}

/// A covert campaign through aged accounts already under way when the logs begin starts
/// with the population, so it shows no `late_start` at first; its accounts never follow
/// up on an answer (`no_follow_ups`). About 30 accounts at this scale: 90–100 % of them
/// were blocked on the held-out seeds with 38–50 % of their exchanges first when the
/// ceiling was set (83–97 % blocked before a group blocked once stayed a campaign for the
/// accounts that join it), 52–76 % first before `no_follow_ups`.
#[test]
fn covert_campaigns_under_way_when_the_logs_begin_are_found() {
    for seed in HELD_OUT_SEEDS {
        for result in evaluate(&["covert-standing-3m"], seed, &[]) {
            check_campaign(&result, 0.8, 0.55);
        }
    }
}

/// The floor the covert campaign (about 210 accounts at scale 0.002) must clear on held-out seeds:
/// below what was measured there when it was set (see docs/signals.md), so that a change
/// that loses the likeness route fails.
const MIN_COVERT_BLOCKED: f64 = 0.9;
const MAX_COVERT_EARLY: f64 = 0.2;

#[test]
fn the_population_alone_is_left_alone() {
    for seed in HELD_OUT_SEEDS {
        for result in evaluate(&["population"], seed, &[]) {
            let e = &result["evaluation"];
            assert!(e["campaigns"].as_array().unwrap().is_empty());
            let benign = share(&e["benign"]["blocked"], &e["benign"]["accounts"]);
            assert!(benign <= 0.0005, "{benign:.5} of benign accounts blocked");
            // A gateway challenges or throttles accounts on watch: customers alike in what
            // they do (developers, power users) must not be watched as one campaign. About
            // 5 % were, before likeness needed an operation's trait and a strong signal.
            let watched = share(&e["benign"]["watched"], &e["benign"]["accounts"]);
            assert!(watched <= 0.005, "{watched:.5} of benign accounts watched");
            for kind in ["enterprise", "university"] {
                let groups = &e["benign_by_kind"][kind]["groups_blocked"];
                assert_eq!(groups.as_u64(), Some(0), "{kind} blocked as a group");
            }
        }
    }
}

/// Prompts from real public corpora (held out: nothing was tuned on them), when the shared
/// data is beside the checkout.
#[test]
fn campaigns_built_from_real_corpora_are_stopped() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/prompts");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        // CI, where the corpora are beside the checkout, asks for them: there a missing
        // corpus is a failure, not a skip.
        assert!(
            std::env::var_os("MOAT_REQUIRE_CORPORA").is_none(),
            "MOAT_REQUIRE_CORPORA is set but there are no corpora at {}",
            dir.display()
        );
        // Written past the test harness's capture, so that the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED campaigns_built_from_real_corpora_are_stopped: no public prompt corpora at {} \
             (a held-out check on real prompts; it runs where ../shared is beside the checkout)",
            dir.display()
        );
        return;
    };
    let mut files: Vec<String> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut extra = vec!["--prompts"];
    extra.extend(files.iter().map(String::as_str));
    for result in evaluate(&["hydra-29m", "hydra-150k"], "2027", &extra) {
        check_disclosed(&result);
    }
}

/// A reseller carrying a campaign beside its customers: its row in `accounts.csv` gives its
/// own facts (an old, verified, self-serve account), never its campaign's, and the share of
/// its traffic that is the campaign's; the report lists it among the campaign's carriers,
/// counts the campaign's exchanges (the reseller's at its share) within 5 % of the truth, and
/// dates the campaign from its own first exchange, not the reseller's older traffic.
#[test]
fn a_reseller_row_says_what_is_its_own() {
    let (_dir, sim, scan) = simulate_and_scan("hydra-29m", "0.002", HELD_OUT_SEEDS[0]);
    let read = |path: std::path::PathBuf| {
        let mut rows = csv::Reader::from_path(path).unwrap();
        let headers = rows.headers().unwrap().clone();
        rows.records()
            .map(|r| {
                let r = r.unwrap();
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_owned(), v.to_owned()))
                    .collect::<std::collections::HashMap<String, String>>()
            })
            .collect::<Vec<_>>()
    };
    let truth = read(sim.join("truth.csv"));
    let reseller = truth.iter().find(|t| t["label"] == "mixed").unwrap();
    let accounts = read(scan.join("accounts.csv"));
    let row = accounts
        .iter()
        .find(|a| a["account_id"] == reseller["account_id"])
        .unwrap();
    assert_eq!(row["verdict"], "block", "{row:?}");
    for fact in ["young_account", "program_signup", "unverified"] {
        assert!(!row["signals"].contains(fact), "{row:?}");
    }
    let estimate: f64 = row["campaign_share"].parse().unwrap();
    let true_share: f64 = reseller["campaign_share"].parse().unwrap();
    assert!(
        (estimate - true_share).abs() <= 0.15,
        "{estimate} against {true_share}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(scan.join("report.json")).unwrap()).unwrap();
    let carriers: Vec<&Value> = report["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["carriers"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(carriers.len(), 1, "{carriers:?}");
    assert_eq!(carriers[0]["account_id"], reseller["account_id"].as_str());

    // The campaign's own exchanges, from the events: its accounts' and the reseller's at
    // its true share.
    let campaign = reseller["group"].split_once(':').unwrap().1;
    let own: std::collections::HashSet<&str> = truth
        .iter()
        .filter(|t| t["label"] == "hydra" && t["group"].ends_with(&format!(":{campaign}")))
        .map(|t| t["account_id"].as_str())
        .collect();
    #[derive(serde::Deserialize)]
    struct Event {
        ts: String,
        account_id: String,
    }
    let (mut own_exchanges, mut reseller_exchanges, mut first) = (0u64, 0u64, None::<String>);
    let events = std::fs::read_to_string(sim.join("events.jsonl")).unwrap();
    for line in events.lines() {
        let e: Event = serde_json::from_str(line).unwrap();
        if own.contains(e.account_id.as_str()) {
            own_exchanges += 1;
            if first.as_ref().is_none_or(|f| e.ts < *f) {
                first = Some(e.ts);
            }
        } else if e.account_id == reseller["account_id"] {
            reseller_exchanges += 1;
        }
    }
    let truly = own_exchanges as f64 + true_share * reseller_exchanges as f64;
    let reported = report["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_str() == Some(row["campaign_id"].as_str()))
        .unwrap();
    let counted = reported["exchanges"].as_f64().unwrap();
    assert!(
        (counted - truly).abs() <= 0.05 * truly,
        "{counted} exchanges reported, {truly:.0} truly the campaign's"
    );
    let first_seen = jiff::Timestamp::from_str(reported["first_seen"].as_str().unwrap()).unwrap();
    let first = jiff::Timestamp::from_str(&first.unwrap()).unwrap();
    assert!(
        first_seen >= first,
        "first seen {first_seen}, first exchange {first}"
    );
}

/// Resellers carrying a covert campaign beside their customers share no key with it: some
/// are put on watch with it by what they carry, none is blocked for it, and no customer is.
/// On those found, the campaign's requests are stopped one by one, far more often than the
/// resellers' own customers' (at most 5 % of theirs).
#[test]
fn resellers_carrying_a_covert_campaign_are_watched_never_blocked() {
    let mut flagged = 0;
    let (mut campaign, mut campaign_stopped, mut customers, mut customers_stopped) = (0, 0, 0, 0);
    for seed in HELD_OUT_SEEDS {
        for result in evaluate(&["resold-3m"], seed, &[]) {
            let e = &result["evaluation"];
            assert_eq!(e["benign"]["blocked"], 0, "{e}");
            assert_eq!(e["mixed"]["blocked"], 0, "{e}");
            flagged += e["mixed"]["flagged"].as_u64().unwrap();
            let carried = &e["mixed"]["carried"];
            let count = |k: &str| carried[k].as_u64().unwrap();
            campaign += count("campaign");
            campaign_stopped += count("campaign_stopped");
            customers += count("customers");
            customers_stopped += count("customers_stopped");
        }
    }
    assert!(flagged >= 1, "no reseller found with its campaign");
    let stopped = |n: u64, of: u64| n as f64 / of.max(1) as f64;
    let (campaign, customers) = (
        stopped(campaign_stopped, campaign),
        stopped(customers_stopped, customers),
    );
    assert!(
        customers <= 0.05,
        "{customers:.4} of customers' exchanges stopped"
    );
    assert!(
        campaign >= 5.0 * customers && campaign > 0.0,
        "{campaign:.4} of the campaign's exchanges stopped, {customers:.4} of customers'"
    );
}

/// Every campaign a scan names rests on evidence that reaches `watch`: an account blocked
/// with a campaign stays in it when it later falls into a cluster of ordinary accounts (here
/// a university account, on the covert campaign's seed where that was seen).
#[test]
fn every_campaign_named_has_its_evidence() {
    let (_dir, _sim, scan) = simulate_and_scan("covert-29m", "0.01", "2");
    let report: Value =
        serde_json::from_slice(&std::fs::read(scan.join("report.json")).unwrap()).unwrap();
    let campaigns = report["campaigns"].as_array().unwrap();
    assert!(!campaigns.is_empty());
    for c in campaigns {
        let evidence = c["evidence"].as_array().unwrap();
        assert!(
            !evidence.is_empty() && c["score"].as_f64().unwrap() >= 0.5,
            "campaign {} of {} accounts named without evidence (score {})",
            c["id"],
            c["accounts"],
            c["score"]
        );
    }
}
