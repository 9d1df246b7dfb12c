//! Partners' intelligence: indicators of campaigns other providers found (see moat's STIX
//! bundles), which the engine checks each new account's first exchanges against.

use crate::content::ContentSignals;
use crate::exchange::Exchange;

/// How many of an account's first exchanges are checked against partners' indicators (a
/// campaign's new head shows its infrastructure from its first requests).
pub const CHECKED_EXCHANGES: u32 = 32;

/// At most this many partners are told apart in verdicts; indicators of later partners
/// count as the last one's.
pub const MAX_PARTNERS: usize = 32;

/// What one exchange matched of partners' indicators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntelMatch {
    /// The kinds of indicator matched, as bits (one per kind).
    pub kinds: u8,
    /// The partners whose indicators matched, as bits (by their place in
    /// [`PartnerIntel::partners`]).
    pub partners: u32,
}

/// Partners' indicators, as the engine asks about them.
pub trait PartnerIntel: Send + Sync {
    /// The partners, by name (a bundle's producer), in the order their bits are numbered.
    fn partners(&self) -> Vec<String>;

    /// What `exchange` matches.
    fn matches(&self, exchange: &Exchange, content: &ContentSignals) -> IntelMatch;
}

/// The bit of partner number `n`.
pub fn partner_bit(n: usize) -> u32 {
    1 << n.min(MAX_PARTNERS - 1)
}

/// The names of the partners whose bits are set in `mask`.
pub fn partner_names(names: &[String], mask: u32) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .filter(|&(n, _)| n < MAX_PARTNERS && mask & partner_bit(n) != 0)
        .map(|(_, name)| name.clone())
        .collect()
}
