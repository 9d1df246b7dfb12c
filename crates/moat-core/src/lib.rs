//! The moat engine: exchanges in, verdicts out.
//!
//! This crate holds the detection core of moat. It does no I/O and no async work: readers,
//! servers and writers live in other crates and hand the [`Engine`] [`Exchange`]s in
//! event-time order.
//!
//! The flow: each exchange's text becomes [`ContentSignals`] and is dropped; an
//! [`AccountState`] per account keeps fixed-size, mergeable summaries ([`Profile`]) and the
//! keys the account holds; on a cadence of event time the [`linker`] ties accounts by rare
//! shared keys into clusters, [`campaign`] reads each cluster's evidence, and every account
//! is scored from its own [`signal`]s and its campaign's.

pub mod account;
pub mod analysed;
pub mod arrivals;
pub mod asks;
pub mod blocklist;
pub mod campaign;
pub mod clock;
pub mod config;
pub mod content;
pub mod engine;
pub mod exchange;
pub mod firing;
pub mod follow_ups;
pub mod intel;
pub mod keys;
pub mod likeness;
pub mod linker;
pub mod profile;
pub mod rates;
pub mod requests;
pub mod share;
pub mod signal;
pub mod sketch;
pub mod snapshot;
pub mod story;
pub mod time;
pub mod verdict;
mod words;

pub use account::AccountState;
pub use analysed::{Analysed, AnalysedRecord};
pub use blocklist::Blocklist;
pub use clock::ClockConfig;
pub use compact_str::{CompactString, format_compact};
pub use config::{ConfigError, DetectConfig};
pub use content::{Capabilities, ContentSignals, Signature, analyse};
pub use engine::{Engine, Outcome, RoundCosts};
pub use exchange::{
    AccountInfo, AccountRecord, Client, Exchange, Message, Record, Request, Response, Role, Usage,
};
pub use intel::{IntelMatch, PartnerIntel};
pub use profile::{Profile, RequestKinds};
pub use signal::{Findings, Signal};
pub use story::Story;
pub use time::EventTime;
pub use verdict::{
    AccountVerdict, CampaignReport, Carrier, Evidence, Report, ScanSummary, Verdict,
};
