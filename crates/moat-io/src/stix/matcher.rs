//! Checking exchanges against partners' bundles: the values an exchange carries, as a
//! bundle would carry them, looked up among the partners' indicators.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use moat_core::intel::partner_bit;
use moat_core::keys::{self, EmailKind};
use moat_core::{ContentSignals, Exchange, IntelMatch, PartnerIntel};

use super::{IndicatorKind, fingerprint, read_indicators, read_key};
use crate::FileError;

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
    pub fn load(bundles: &[PathBuf], key: Option<&Path>) -> Result<Self, FileError> {
        let mut wanted: HashMap<(IndicatorKind, String), u32> = HashMap::new();
        let mut partners: Vec<String> = Vec::new();
        for path in bundles {
            let text = std::fs::read(path).map_err(|e| FileError::new(path, e))?;
            let bundle: Value = serde_json::from_slice(&text)
                .map_err(|e| FileError::new(path, format!("not JSON: {e}")))?;
            let indicators = read_indicators(&bundle).map_err(|e| FileError::new(path, e))?;
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
