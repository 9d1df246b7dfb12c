//! The moat engine's vocabulary: exchanges in, verdicts out.
//!
//! This crate holds the detection core of moat. It does no I/O and no async work: readers,
//! servers and writers live in other crates and hand it [`Exchange`]s in event-time order.

pub mod content;
pub mod exchange;
pub mod time;
pub mod verdict;

pub use content::{Capabilities, ContentSignals, Signature, analyse};
pub use exchange::{
    AccountInfo, AccountRecord, Client, Exchange, Message, Record, Request, Response, Role, Usage,
};
pub use time::EventTime;
pub use verdict::{AccountVerdict, CampaignReport, Evidence, Report, ScanSummary, Verdict};
