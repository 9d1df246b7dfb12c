//! STIX 2.1 threat intelligence: a bundle describing the campaigns a scan found, their
//! infrastructure, and privacy-preserving fingerprints of what their accounts shared,
//! without any user's data.
//!
//! Network indicators (addresses, networks, autonomous systems) are shared as they are:
//! they are the operator's infrastructure. Everything else (payment fingerprints, e-mail
//! domains, system-prompt and template fingerprints) is shared only as an HMAC-SHA256 under a
//! key the sharing partners agree on, so a partner holding the key can match its own
//! traffic, and nobody else can read or test values against the bundle.

//!
//! The indicators and the partners' key are here; `choose.rs` picks a campaign's
//! indicators from what its accounts used ([`IndicatorChoice`]), `write.rs` makes bundles
//! ([`bundle`]), `read.rs` reads their indicators back ([`read_indicators`]), and
//! `matcher.rs` checks exchanges against partners' bundles ([`BundleIntel`]).

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use moat_core::EventTime;

use crate::FileError;

mod choose;
mod matcher;
mod read;
mod write;

pub use choose::{IndicatorChoice, MAX_PER_KIND};
pub use matcher::{BundleIntel, values};
pub use read::{ReadIndicator, read_indicators};
pub use write::{BundleInput, CampaignIntel, UnknownTlp, bundle};

/// moat's extension definition (fixed, so every bundle names the same extension).
pub const EXTENSION_ID: &str = "extension-definition--0b1f3c52-7e4d-4a9e-9c61-5d2f8a3e7b10";

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

/// The least key length accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Reads the partners' key from `path`.
pub fn read_key(path: &Path) -> Result<Vec<u8>, FileError> {
    let key = std::fs::read(path).map_err(|e| FileError::new(path, e))?;
    if key.len() < MIN_KEY_BYTES {
        return Err(FileError::new(
            path,
            format!("the key must be at least {MIN_KEY_BYTES} bytes"),
        ));
    }
    Ok(key)
}
