//! Partners' intelligence: indicators of campaigns other providers found (see moat's STIX
//! bundles), which the engine checks each new account's first exchanges against.

use crate::content::ContentSignals;
use crate::exchange::Exchange;

/// How many of an account's first exchanges are checked against partners' indicators (a
/// campaign's new head shows its infrastructure from its first requests).
pub const CHECKED_EXCHANGES: u32 = 32;

/// Partners' indicators, as the engine asks about them.
pub trait PartnerIntel: Send + Sync {
    /// The kinds of indicator (as bits, one per kind) that `exchange` matches.
    fn matches(&self, exchange: &Exchange, content: &ContentSignals) -> u8;
}
