//! Writing a STIX 2.1 bundle: the campaigns a scan found, their indicators, the
//! producer's identity and the TLP marking.

use serde_json::{Value, json};
use uuid::Uuid;

use moat_core::{CampaignReport, EventTime};

use super::{EXTENSION_ID, Indicator, IndicatorKind};

/// The namespace STIX 2.1 gives for the UUIDv5 of cyber-observable objects.
const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00abedb4_aa42_466c_9c01_fed23315a9b7);

/// MITRE ATLAS: exfiltration via AI inference API, extract AI model.
const ATLAS_TECHNIQUE: &str = "AML.T0024.002";

/// A campaign and its indicators.
#[derive(Debug, Clone)]
pub struct CampaignIntel {
    /// The campaign as the scan reported it.
    pub report: CampaignReport,
    /// Its indicators.
    pub indicators: Vec<Indicator>,
}

/// What a bundle is made of.
#[derive(Debug, Clone)]
pub struct BundleInput {
    /// Who produces the bundle (an organisation's name).
    pub producer: String,
    /// The TLP level: `clear`/`white`, `green`, `amber` or `red`.
    pub tlp: String,
    /// A name for the partners' key (never the key), so a receiver knows which to use.
    pub key_id: String,
    /// When the bundle is made.
    pub created: EventTime,
    /// The campaigns.
    pub campaigns: Vec<CampaignIntel>,
}

/// The STIX 2.1 TLP marking definitions (their ids are fixed by the specification).
fn tlp_marking(level: &str) -> Option<(&'static str, &'static str)> {
    Some(match level {
        "clear" | "white" => (
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            "white",
        ),
        "green" => (
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            "green",
        ),
        "amber" => (
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            "amber",
        ),
        "red" => (
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
            "red",
        ),
        _ => return None,
    })
}

fn id(kind: &str) -> String {
    format!("{kind}--{}", Uuid::new_v4())
}

/// STIX timestamps: RFC 3339, UTC, milliseconds.
fn stamp(t: EventTime) -> String {
    let micros = t.as_unix_micros();
    let ts = jiff::Timestamp::from_microsecond(micros - micros.rem_euclid(1000))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{}", ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
}

/// The STIX pattern of an indicator.
fn pattern(i: &Indicator, key_id: &str) -> (String, &'static str) {
    match i.kind {
        IndicatorKind::Ip => {
            let family = if i.value.contains(':') {
                "ipv6-addr"
            } else {
                "ipv4-addr"
            };
            (format!("[{family}:value = '{}']", i.value), "stix")
        }
        IndicatorKind::Network => {
            let family = if i.value.contains(':') {
                "ipv6-addr"
            } else {
                "ipv4-addr"
            };
            (format!("[{family}:value ISSUBSET '{}']", i.value), "stix")
        }
        IndicatorKind::Asn => (format!("[autonomous-system:number = {}]", i.value), "stix"),
        kind => (
            format!("{}:hmac-sha256:{key_id}:{}", kind.name(), i.value),
            "moat-fingerprint",
        ),
    }
}

/// A TLP marking STIX does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLP {0:?} is not clear, white, green, amber or red")]
pub struct UnknownTlp(pub String);

/// Builds the bundle.
pub fn bundle(input: &BundleInput) -> Result<Value, UnknownTlp> {
    let (tlp_id, tlp_name) =
        tlp_marking(&input.tlp).ok_or_else(|| UnknownTlp(input.tlp.clone()))?;
    let created = stamp(input.created);
    let producer = id("identity");
    let markings = json!([tlp_id]);
    let common = |kind: &str, id: &str| {
        json!({
            "type": kind,
            "spec_version": "2.1",
            "id": id,
            "created": created,
            "modified": created,
            "created_by_ref": producer,
            "object_marking_refs": markings,
        })
    };
    let merge = |mut base: Value, extra: Value| {
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        base
    };
    let mut objects = vec![
        json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": tlp_id,
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp",
            "name": format!("TLP:{}", tlp_name.to_uppercase()),
            "definition": {"tlp": tlp_name},
        }),
        json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": producer,
            "created": created,
            "modified": created,
            "name": input.producer,
            "identity_class": "organization",
            "object_marking_refs": markings,
        }),
        json!({
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": EXTENSION_ID,
            "created": created,
            "modified": created,
            "created_by_ref": producer,
            "name": "moat distillation campaign",
            "description": "What moat measured of a distillation campaign (accounts, exchanges, evidence) and of each indicator (accounts and exchanges that carried it; for fingerprints, the kind and the name of the partners' HMAC key).",
            "schema": "https://github.com/moat-dev/moat/blob/main/docs/intel.md#the-moat-extension",
            "version": "1.0.0",
            "extension_types": ["property-extension"],
        }),
    ];
    let technique = id("attack-pattern");
    objects.push(merge(
        common("attack-pattern", &technique),
        json!({
            "name": "Exfiltration via AI Inference API: Extract AI Model",
            "description": "Many accounts query a model's API with designed prompts and keep the answers to train another model (distillation).",
            "external_references": [{
                "source_name": "mitre-atlas",
                "external_id": ATLAS_TECHNIQUE,
                "url": "https://atlas.mitre.org/techniques/AML.T0024.002",
            }],
        }),
    ));
    for c in &input.campaigns {
        let r = &c.report;
        let campaign = id("campaign");
        objects.push(merge(
            common("campaign", &campaign),
            json!({
                "name": format!("Distillation campaign {}", r.id),
                "description": format!(
                    "{} accounts made {} exchanges between {} and {}. Evidence: {}.",
                    r.accounts, r.exchanges, r.first_seen, r.last_seen,
                    r.evidence.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>().join("; ")
                ),
                "first_seen": stamp(r.first_seen),
                "last_seen": stamp(r.last_seen),
                "objective": "Harvest the model's answers at scale to train a rival model (distillation).",
                "confidence": (r.score * 100.0).round().clamp(0.0, 100.0) as u64,
                "extensions": {EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "campaign_id": r.id,
                    "accounts": r.accounts,
                    "exchanges": r.exchanges,
                    "score": r.score,
                    "evidence": r.evidence.iter().map(|e| json!({"signal": e.signal, "weight": e.weight})).collect::<Vec<_>>(),
                }},
            }),
        ));
        let uses = id("relationship");
        objects.push(merge(
            common("relationship", &uses),
            json!({"relationship_type": "uses", "source_ref": campaign, "target_ref": technique}),
        ));
        for i in &c.indicators {
            let indicator = id("indicator");
            let (pattern, pattern_type) = pattern(i, &input.key_id);
            let mut extension = json!({
                "extension_type": "property-extension",
                "kind": i.kind.name(),
                "accounts": i.accounts,
                "exchanges": i.exchanges,
            });
            if i.kind.is_fingerprint() {
                extension["hmac_key_id"] = json!(input.key_id);
            }
            objects.push(merge(
                common("indicator", &indicator),
                json!({
                    "name": format!("{} used by campaign {}", i.kind.name(), r.id),
                    "indicator_types": ["malicious-activity"],
                    "pattern": pattern,
                    "pattern_type": pattern_type,
                    "valid_from": stamp(i.first_seen),
                    "extensions": {EXTENSION_ID: extension},
                }),
            ));
            let indicates = id("relationship");
            objects.push(merge(
                common("relationship", &indicates),
                json!({"relationship_type": "indicates", "source_ref": indicator, "target_ref": campaign}),
            ));
            let sighting = id("sighting");
            let mut fields = json!({
                "sighting_of_ref": indicator,
                "first_seen": stamp(i.first_seen),
                "last_seen": stamp(i.last_seen),
                "count": i.exchanges.min(999_999_999),
                "where_sighted_refs": [producer],
            });
            if i.kind == IndicatorKind::Ip {
                let family = if i.value.contains(':') {
                    "ipv6-addr"
                } else {
                    "ipv4-addr"
                };
                let canonical = json!({"value": i.value}).to_string();
                let sco = format!(
                    "{family}--{}",
                    Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes())
                );
                objects.push(
                    json!({"type": family, "spec_version": "2.1", "id": sco, "value": i.value}),
                );
                let observed = id("observed-data");
                objects.push(merge(
                    common("observed-data", &observed),
                    json!({
                        "first_observed": stamp(i.first_seen),
                        "last_observed": stamp(i.last_seen),
                        "number_observed": i.exchanges.clamp(1, 999_999_999),
                        "object_refs": [sco],
                    }),
                ));
                fields["observed_data_refs"] = json!([observed]);
            }
            objects.push(merge(common("sighting", &sighting), fields));
        }
    }
    Ok(json!({"type": "bundle", "id": id("bundle"), "objects": objects}))
}
