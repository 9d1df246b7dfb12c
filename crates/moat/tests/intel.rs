//! `moat intel export`: a scan's campaigns as a STIX 2.1 bundle that validates against the
//! OASIS schemas (the copy in tests/fixtures), with well-formed ids, timestamps and references, and no
//! prompt, e-mail address, payment value or key in it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use jsonschema::{Retrieve, Uri};
use serde_json::Value;

const SCHEMA_BASE: &str =
    "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/";

fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stix2-json-schemas/schemas")
}

/// Serves the OASIS schemas from the copy the tests carry instead of the network.
struct LocalSchemas(PathBuf);

impl Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let rest = uri
            .as_str()
            .strip_prefix(SCHEMA_BASE)
            .ok_or_else(|| format!("not an OASIS STIX schema: {uri}"))?;
        Ok(serde_json::from_slice(&std::fs::read(self.0.join(rest))?)?)
    }
}

fn validator(relative: &str) -> jsonschema::Validator {
    let dir = schemas();
    let schema: Value =
        serde_json::from_slice(&std::fs::read(dir.join(relative)).unwrap()).unwrap();
    jsonschema::options()
        .with_retriever(LocalSchemas(dir))
        .build(&schema)
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn moat(args: &[&str]) {
    moat_out(args);
}

#[test]
fn a_bundle_validates_and_carries_no_users_data() {
    assert!(
        schemas().join("common/bundle.json").exists(),
        "the OASIS STIX 2.1 schemas are expected in tests/fixtures/stix2-json-schemas"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    moat(&[
        "simulate",
        "-q",
        "--scenario",
        "hydra-29m",
        "--scale",
        "0.002",
        "--seed",
        "4093",
        "--out",
        &path("sim"),
    ]);
    moat(&[
        "scan",
        "-q",
        &path("sim/events.jsonl"),
        "--out",
        &path("scan"),
    ]);
    let key: Vec<u8> = (0..48u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    std::fs::write(path("key.bin"), &key).unwrap();
    moat(&[
        "intel",
        "export",
        "-q",
        "--scan",
        &path("scan"),
        &path("sim/events.jsonl"),
        "--key-file",
        &path("key.bin"),
        "--key-id",
        "partners-2026",
        "--producer",
        "Provider A",
        "--tlp",
        "amber",
        "--out",
        &path("bundle.json"),
    ]);
    let text = std::fs::read_to_string(path("bundle.json")).unwrap();
    let bundle: Value = serde_json::from_str(&text).unwrap();

    // Every object, then the bundle, against the OASIS schemas.
    let objects = bundle["objects"].as_array().unwrap();
    let mut checked = HashSet::new();
    let mut validators = std::collections::HashMap::new();
    for o in objects {
        let kind = o["type"].as_str().unwrap();
        let schema = match kind {
            "relationship" | "sighting" => format!("sros/{kind}.json"),
            "ipv4-addr" | "ipv6-addr" => format!("observables/{kind}.json"),
            "marking-definition" | "extension-definition" => format!("common/{kind}.json"),
            _ => format!("sdos/{kind}.json"),
        };
        let v = validators
            .entry(schema.clone())
            .or_insert_with(|| validator(&schema));
        let errors: Vec<String> = v.iter_errors(o).take(3).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{kind}: {errors:?}\n{o:#}");
        checked.insert(kind.to_owned());
    }
    // The OASIS bundle schema lists every object type but extension-definition, and reads
    // an unlisted type as a custom object, which an extension definition cannot pass (it
    // looks both like a domain and like an observable object): the envelope is checked
    // without it, the extension definition against its own schema above.
    let mut envelope = bundle.clone();
    envelope["objects"]
        .as_array_mut()
        .unwrap()
        .retain(|o| o["type"] != "extension-definition");
    let errors: Vec<String> = validator("common/bundle.json")
        .iter_errors(&envelope)
        .take(5)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    for kind in [
        "identity",
        "campaign",
        "indicator",
        "sighting",
        "relationship",
        "attack-pattern",
        "observed-data",
        "marking-definition",
        "extension-definition",
        "ipv4-addr",
    ] {
        assert!(checked.contains(kind), "no {kind} in the bundle");
    }

    // Ids: UUIDv4 for domain and relationship objects, UUIDv5 for observables; every
    // reference resolves inside the bundle; timestamps are RFC 3339 UTC.
    let ids: HashSet<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), objects.len(), "duplicate ids");
    for o in objects {
        let (kind, uuid) = o["id"].as_str().unwrap().split_once("--").unwrap();
        let version = uuid::Uuid::parse_str(uuid).unwrap().get_version_num();
        match kind {
            "ipv4-addr" | "ipv6-addr" => assert_eq!(version, 5, "{o}"),
            "marking-definition" | "extension-definition" => {}
            _ => assert_eq!(version, 4, "{o}"),
        }
        for (field, value) in o.as_object().unwrap() {
            let refs: Vec<&str> = match value {
                Value::String(s) if field.ends_with("_ref") => vec![s.as_str()],
                Value::Array(a) if field.ends_with("_refs") => {
                    a.iter().map(|v| v.as_str().unwrap()).collect()
                }
                _ => Vec::new(),
            };
            for r in refs {
                assert!(ids.contains(r), "{field} → {r} is not in the bundle");
            }
            if [
                "created",
                "modified",
                "first_seen",
                "last_seen",
                "valid_from",
            ]
            .contains(&field.as_str())
            {
                let s = value.as_str().unwrap();
                assert!(
                    s.ends_with('Z') && s.parse::<jiff::Timestamp>().is_ok(),
                    "{field}: {s}"
                );
            }
        }
    }
    let atlas = objects
        .iter()
        .find(|o| o["type"] == "attack-pattern")
        .unwrap();
    assert_eq!(
        atlas["external_references"][0]["external_id"],
        "AML.T0024.002"
    );
    let campaign = objects.iter().find(|o| o["type"] == "campaign").unwrap();
    assert!(
        campaign["extensions"][moat_io::stix::EXTENSION_ID]["accounts"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        objects.iter().filter(|o| o["type"] == "indicator").count() >= 5,
        "too few indicators"
    );

    // Nothing of the users': no prompt text, e-mail domain, payment value, account id, or
    // the key.
    let events = std::fs::read_to_string(path("sim/events.jsonl")).unwrap();
    let mut secrets = HashSet::new();
    for line in events.lines().step_by(50) {
        let e: Value = serde_json::from_str(line).unwrap();
        for text in [
            &e["request"]["system"],
            &e["request"]["prompt"],
            &e["response"]["text"],
        ] {
            if let Some(t) = text.as_str().filter(|t| t.len() >= 24) {
                secrets.insert(t[..24].to_owned());
            }
        }
        for m in e["request"]["messages"].as_array().into_iter().flatten() {
            if let Some(t) = m["content"].as_str().filter(|t| t.len() >= 24) {
                secrets.insert(t[..24].to_owned());
            }
        }
        for field in ["payment_fingerprint", "email_domain"] {
            if let Some(v) = e["account"][field].as_str() {
                secrets.insert(format!("\"{v}\""));
                secrets.insert(format!("{v}'"));
                secrets.insert(format!(":{v}"));
            }
        }
        secrets.insert(format!("\"{}\"", e["account_id"].as_str().unwrap()));
    }
    assert!(secrets.len() > 100);
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "the bundle holds {s:?}");
    }
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(&key_hex[..16]));

    // A partner matches its logs against the bundle: here the same logs, so every campaign
    // account matches, with fingerprints as well as addresses, and no customer does.
    let truth = std::fs::read_to_string(path("sim/truth.csv")).unwrap();
    let label = |account: &str| {
        truth
            .lines()
            .find(|l| l.starts_with(&format!("{account},")))
            .map(|l| l.split(',').nth(1).unwrap().to_owned())
            .unwrap()
    };
    let matches = |key: &str, out: &str| -> Vec<(String, String)> {
        moat(&[
            "intel",
            "match",
            "-q",
            "--bundle",
            &path("bundle.json"),
            &path("sim/events.jsonl"),
            "--key-file",
            key,
            "--out",
            out,
        ]);
        std::fs::read_to_string(out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_owned(), f[3].to_owned())
            })
            .collect()
    };
    let found = matches(&path("key.bin"), &path("matches.csv"));
    let hydra = truth.lines().filter(|l| l.contains(",hydra,")).count();
    assert_eq!(
        found.iter().filter(|(a, _)| label(a) == "hydra").count(),
        hydra
    );
    for (account, kinds) in &found {
        assert_ne!(label(account), "benign", "{account} matched {kinds}");
    }
    assert!(
        found
            .iter()
            .all(|(_, kinds)| kinds.contains("payment") || kinds.contains("template"))
    );
    std::fs::write(path("other.key"), [7u8; 40]).unwrap();
    let other = matches(&path("other.key"), &path("other.csv"));
    assert!(!other.is_empty(), "addresses match without the key");
    for (account, kinds) in &other {
        assert!(
            !["payment", "email-domain", "system-prompt", "template"]
                .iter()
                .any(|k| kinds.contains(k)),
            "{account} matched fingerprints under another key: {kinds}"
        );
    }
}

/// Runs `moat` and returns its standard output.
fn moat_out(args: &[&str]) -> Vec<u8> {
    let out = Command::cargo_bin("moat")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The earliest `flagged_at` of a campaign account, and the campaign's exchanges before
/// its accounts were blocked, and the benign accounts blocked.
fn outcome(dir: &Path, sim: &str, scan: &str) -> (String, u64, u64) {
    let p = |s: &str| dir.join(s).to_str().unwrap().to_owned();
    let json: Value = serde_json::from_slice(&moat_out(&[
        "eval",
        "-q",
        "--json",
        "--truth",
        &p(&format!("{sim}/truth.csv")),
        "--scan",
        &p(scan),
        "--events",
        &p(&format!("{sim}/events.jsonl")),
    ]))
    .unwrap();
    let e = &json[0]["evaluation"];
    let truth = std::fs::read_to_string(dir.join(sim).join("truth.csv")).unwrap();
    let hydra: HashSet<&str> = truth
        .lines()
        .filter(|l| l.contains(",hydra,"))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let accounts = std::fs::read_to_string(dir.join(scan).join("accounts.csv")).unwrap();
    let header: Vec<&str> = accounts.lines().next().unwrap().split(',').collect();
    let flagged = header.iter().position(|h| *h == "flagged_at").unwrap();
    let first_block = accounts
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| hydra.contains(f[0]) && !f[flagged].is_empty())
        .map(|f| f[flagged].to_owned())
        .min()
        .expect("a campaign account was blocked");
    (
        first_block,
        e["campaigns"][0]["exchanges_before_block"]
            .as_u64()
            .unwrap(),
        e["benign"]["blocked"].as_u64().unwrap(),
    )
}

#[test]
fn a_partners_bundle_stops_the_same_operator_sooner() {
    // Provider A finds the campaign and shares it; the same operator (proxy pool, cards,
    // templates) then works provider B, among B's own customers, under new accounts.
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).to_str().unwrap().to_owned();
    std::fs::write(p("key.bin"), [42u8; 32]).unwrap();
    for (sim, seed) in [("a", "11"), ("b", "12")] {
        moat(&[
            "simulate",
            "-q",
            "--scenario",
            "hydra-29m",
            "--scale",
            "0.002",
            "--seed",
            seed,
            "--operator-seed",
            "77",
            "--out",
            &p(sim),
        ]);
    }
    moat(&["scan", "-q", &p("a/events.jsonl"), "--out", &p("a-scan")]);
    moat(&[
        "intel",
        "export",
        "-q",
        "--scan",
        &p("a-scan"),
        &p("a/events.jsonl"),
        "--key-file",
        &p("key.bin"),
        "--producer",
        "Provider A",
        "--out",
        &p("bundle.json"),
    ]);
    moat(&["scan", "-q", &p("b/events.jsonl"), "--out", &p("b-alone")]);
    moat(&[
        "scan",
        "-q",
        &p("b/events.jsonl"),
        "--out",
        &p("b-intel"),
        "--intel",
        &p("bundle.json"),
        "--intel-key",
        &p("key.bin"),
    ]);
    // The signal says whose indicators it saw.
    let report: Value =
        serde_json::from_slice(&std::fs::read(p("b-intel/report.json")).unwrap()).unwrap();
    let partner_evidence: Vec<&str> = report["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["evidence"].as_array().unwrap())
        .filter(|e| e["signal"] == "partner_intel")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        !partner_evidence.is_empty(),
        "no campaign shows partner_intel"
    );
    assert!(
        partner_evidence
            .iter()
            .all(|d| d.contains("campaign (indicators from Provider A)")),
        "{partner_evidence:?}"
    );
    let (alone_first, alone_before, alone_benign) = outcome(dir.path(), "b", "b-alone");
    let (intel_first, intel_before, intel_benign) = outcome(dir.path(), "b", "b-intel");
    assert!(
        intel_first < alone_first,
        "first block with the bundle {intel_first}, alone {alone_first}"
    );
    assert!(
        intel_before < alone_before,
        "exchanges before block: {intel_before} with the bundle, {alone_before} alone"
    );
    assert_eq!((alone_benign, intel_benign), (0, 0));
}
