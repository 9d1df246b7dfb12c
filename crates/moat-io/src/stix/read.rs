//! Reading the indicators of a STIX 2.1 bundle back: those written with the patterns
//! [`bundle`](super::bundle) writes.

use serde_json::Value;

use super::IndicatorKind;

/// An indicator read back from a bundle, with the campaign it indicates and its producer.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadIndicator {
    /// What it is.
    pub kind: IndicatorKind,
    /// The value, as [`bundle`](super::bundle) writes it (plain, or the keyed hash).
    pub value: String,
    /// The name of the campaign it indicates.
    pub campaign: String,
    /// The name of the producer.
    pub producer: String,
}

/// The indicators of a bundle that moat can match: those written with the patterns
/// [`bundle`](super::bundle) writes (others are skipped).
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
