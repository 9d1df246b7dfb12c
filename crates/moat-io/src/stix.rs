//! STIX 2.1 threat intelligence: a bundle describing the campaigns a scan found, their
//! infrastructure, and privacy-preserving fingerprints of what their accounts shared,
//! without any user's data.
//!
//! Network indicators (addresses, networks, autonomous systems) are shared as they are:
//! they are the operator's infrastructure. Everything else (payment fingerprints, e-mail
//! domains, system-prompt and template fingerprints) is shared only as an HMAC-SHA256 under a
//! key the sharing partners agree on, so a partner holding the key can match its own
//! traffic, and nobody else can read or test values against the bundle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use moat_core::intel::partner_bit;
use moat_core::keys::{self, EmailKind};
use moat_core::{CampaignReport, ContentSignals, EventTime, Exchange, IntelMatch, PartnerIntel};

/// The namespace STIX 2.1 gives for the UUIDv5 of cyber-observable objects.
const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00abedb4_aa42_466c_9c01_fed23315a9b7);

/// moat's extension definition (fixed, so every bundle names the same extension).
pub const EXTENSION_ID: &str = "extension-definition--0b1f3c52-7e4d-4a9e-9c61-5d2f8a3e7b10";

/// MITRE ATLAS: exfiltration via AI inference API, extract AI model.
const ATLAS_TECHNIQUE: &str = "AML.T0024.002";

/// The kinds of indicator a bundle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    /// A client IPv4 or IPv6 address.
    Ip,
    /// A client network (/24 or /48).
    Network,
    /// An autonomous system.
    Asn,
    /// A payment fingerprint (keyed hash).
    Payment,
    /// A non-personal e-mail domain (keyed hash).
    EmailDomain,
    /// A normalised system prompt (keyed hash of its fingerprint).
    SystemPrompt,
    /// A band of a prompt template's signature (keyed hash).
    Template,
}

impl IndicatorKind {
    /// The name used in bundles.
    pub fn name(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Network => "network",
            IndicatorKind::Asn => "asn",
            IndicatorKind::Payment => "payment",
            IndicatorKind::EmailDomain => "email-domain",
            IndicatorKind::SystemPrompt => "system-prompt",
            IndicatorKind::Template => "template",
        }
    }

    /// The kind's bit in a set of kinds.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Whether the value is shared only as a keyed hash.
    pub fn is_fingerprint(self) -> bool {
        !matches!(
            self,
            IndicatorKind::Ip | IndicatorKind::Network | IndicatorKind::Asn
        )
    }
}

/// The keyed hash of one value of one kind, as hex: HMAC-SHA256 under the partners' key of
/// the kind's name, a zero byte, and the value.
pub fn fingerprint(key: &[u8], kind: IndicatorKind, value: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(kind.name().as_bytes());
    mac.update(&[0]);
    mac.update(value);
    let bytes = mac.finalize().into_bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One indicator: a value the campaign's accounts used and no other account did.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// What it is.
    pub kind: IndicatorKind,
    /// The value: plain for network indicators, the keyed hash for the others.
    pub value: String,
    /// How many of the campaign's accounts used it.
    pub accounts: u64,
    /// How many exchanges carried it.
    pub exchanges: u64,
    /// First and last time it was seen.
    pub first_seen: EventTime,
    /// Last time it was seen.
    pub last_seen: EventTime,
}

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

/// Builds the bundle.
pub fn bundle(input: &BundleInput) -> Result<Value, String> {
    let (tlp_id, tlp_name) = tlp_marking(&input.tlp).ok_or_else(|| {
        format!(
            "TLP {:?} is not clear, white, green, amber or red",
            input.tlp
        )
    })?;
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

/// An indicator read back from a bundle, with the campaign it indicates and its producer.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadIndicator {
    /// What it is.
    pub kind: IndicatorKind,
    /// The value, as [`bundle`] writes it (plain, or the keyed hash).
    pub value: String,
    /// The name of the campaign it indicates.
    pub campaign: String,
    /// The name of the producer.
    pub producer: String,
}

/// The indicators of a bundle that moat can match: those written with the patterns
/// [`bundle`] writes (others are skipped).
pub fn read_indicators(bundle: &Value) -> Result<Vec<ReadIndicator>, String> {
    if bundle["type"] != "bundle" {
        return Err("not a STIX bundle (type is not \"bundle\")".into());
    }
    let objects = bundle["objects"]
        .as_array()
        .ok_or("the bundle has no objects array")?;
    let by_id: std::collections::HashMap<&str, &Value> = objects
        .iter()
        .filter_map(|o| Some((o["id"].as_str()?, o)))
        .collect();
    let name_of = |id: Option<&str>| {
        id.and_then(|id| by_id.get(id))
            .and_then(|o| o["name"].as_str())
            .unwrap_or("unknown")
            .to_owned()
    };
    let mut indicates = std::collections::HashMap::new();
    for o in objects.iter().filter(|o| o["type"] == "relationship") {
        if o["relationship_type"] == "indicates"
            && let (Some(s), Some(t)) = (o["source_ref"].as_str(), o["target_ref"].as_str())
        {
            indicates.insert(s, t);
        }
    }
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| o["type"] == "indicator") {
        let Some(pattern) = o["pattern"].as_str() else {
            continue;
        };
        let Some((kind, value)) = parse_pattern(pattern, o["pattern_type"].as_str()) else {
            continue;
        };
        let id = o["id"].as_str();
        out.push(ReadIndicator {
            kind,
            value,
            campaign: name_of(id.and_then(|i| indicates.get(i).copied())),
            producer: name_of(o["created_by_ref"].as_str()),
        });
    }
    Ok(out)
}

fn parse_pattern(pattern: &str, pattern_type: Option<&str>) -> Option<(IndicatorKind, String)> {
    let quoted = |p: &str| Some(p.split('\'').nth(1)?.to_owned());
    match pattern_type? {
        "stix" => {
            if pattern.contains("ISSUBSET") {
                Some((IndicatorKind::Network, quoted(pattern)?))
            } else if pattern.starts_with("[ipv4-addr:value = ")
                || pattern.starts_with("[ipv6-addr:value = ")
            {
                Some((IndicatorKind::Ip, quoted(pattern)?))
            } else {
                let n = pattern
                    .strip_prefix("[autonomous-system:number = ")?
                    .strip_suffix(']')?;
                Some((IndicatorKind::Asn, n.trim().to_owned()))
            }
        }
        "moat-fingerprint" => {
            let mut parts = pattern.split(':');
            let kind = match parts.next()? {
                "payment" => IndicatorKind::Payment,
                "email-domain" => IndicatorKind::EmailDomain,
                "system-prompt" => IndicatorKind::SystemPrompt,
                "template" => IndicatorKind::Template,
                _ => return None,
            };
            let value = parts.next_back()?.to_owned();
            Some((kind, value))
        }
        _ => None,
    }
}

/// The values an exchange carries that can become indicators: network values as text,
/// the others as keyed hashes (personal e-mail domains are never values: strangers share
/// them).
pub fn values(e: &Exchange, content: &ContentSignals, key: &[u8]) -> Vec<(IndicatorKind, String)> {
    let mut out = Vec::new();
    if let Some(ip) = e.client.ip {
        out.push((IndicatorKind::Ip, ip.to_string()));
        let network = match ip {
            std::net::IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.0/24", o[0], o[1], o[2])
            }
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        };
        out.push((IndicatorKind::Network, network));
    }
    if let Some(asn) = e.client.asn {
        out.push((IndicatorKind::Asn, asn.to_string()));
    }
    let info = &e.account;
    if let Some(p) = info
        .payment_fingerprint
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let h = fingerprint(key, IndicatorKind::Payment, p.as_bytes());
        out.push((IndicatorKind::Payment, h));
    }
    if let Some(d) = info.email_domain.as_deref() {
        let domain = d.trim().to_ascii_lowercase();
        if matches!(
            keys::email_kind(&domain),
            EmailKind::Organisation | EmailKind::Education
        ) {
            let h = fingerprint(key, IndicatorKind::EmailDomain, domain.as_bytes());
            out.push((IndicatorKind::EmailDomain, h));
        }
    }
    if let Some(h) = content.system_hash {
        let h = fingerprint(key, IndicatorKind::SystemPrompt, &h.to_le_bytes());
        out.push((IndicatorKind::SystemPrompt, h));
    }
    if let Some(signature) = &content.signature {
        for band in keys::template_bands(signature).into_iter().flatten() {
            let h = fingerprint(key, IndicatorKind::Template, &band.raw().to_le_bytes());
            out.push((IndicatorKind::Template, h));
        }
    }
    out
}

/// The least key length accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Reads the partners' key from `path`.
pub fn read_key(path: &Path) -> Result<Vec<u8>, String> {
    let key = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "{}: the key must be at least {MIN_KEY_BYTES} bytes",
            path.display()
        ));
    }
    Ok(key)
}

/// Partners' bundles as the engine checks exchanges against them.
pub struct BundleIntel {
    /// Each indicator, with the partners (bits) that shared it.
    wanted: HashMap<(IndicatorKind, String), u32>,
    /// The partners (the bundles' producers), by their bit.
    partners: Vec<String>,
    key: Vec<u8>,
}

impl BundleIntel {
    /// Reads the indicators of `bundles`; fingerprints can match only with a `key`.
    pub fn load(bundles: &[PathBuf], key: Option<&Path>) -> Result<Self, String> {
        let mut wanted: HashMap<(IndicatorKind, String), u32> = HashMap::new();
        let mut partners: Vec<String> = Vec::new();
        for path in bundles {
            let text =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let bundle: Value = serde_json::from_slice(&text)
                .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
            let indicators =
                read_indicators(&bundle).map_err(|e| format!("{}: {e}", path.display()))?;
            for i in indicators {
                let n = match partners.iter().position(|p| *p == i.producer) {
                    Some(n) => n,
                    None => {
                        partners.push(i.producer);
                        partners.len() - 1
                    }
                };
                *wanted.entry((i.kind, i.value)).or_default() |= partner_bit(n);
            }
        }
        let key = key.map(read_key).transpose()?.unwrap_or_default();
        Ok(Self {
            wanted,
            partners,
            key,
        })
    }

    /// How many indicators were read.
    pub fn len(&self) -> usize {
        self.wanted.len()
    }

    /// No indicator was read.
    pub fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }
}

impl PartnerIntel for BundleIntel {
    fn partners(&self) -> Vec<String> {
        self.partners.clone()
    }

    fn matches(&self, e: &Exchange, content: &ContentSignals) -> IntelMatch {
        let mut found = IntelMatch::default();
        for (kind, value) in values(e, content, &self.key) {
            if self.key.is_empty() && kind.is_fingerprint() {
                continue;
            }
            if let Some(&partners) = self.wanted.get(&(kind, value)) {
                found.kinds |= kind.bit();
                found.partners |= partners;
            }
        }
        found
    }
}
