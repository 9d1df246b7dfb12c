//! moat's inputs and outputs: readers for the API logs users have, and writers for what
//! moat concludes.
//!
//! Reading: [`expand_inputs`] turns command-line paths, folders and globs into [`Source`]s;
//! [`RecordStream`] reads them (compressed or not, in any [`Format`]) on background threads
//! and yields their [`Record`](moat_core::Record)s in input order, each rejected record
//! reported as a [`Reject`] with its file, line and reason; [`Inputs`] merges several
//! inputs in event-time order ([`MergedStream`]).
//!
//! Writing: [`JsonLinesWriter`] writes exchange v1 JSON Lines; [`write_verdicts`] writes
//! `accounts.csv` and `report.json`; [`stix`] builds STIX 2.1 bundles of what was found.

mod body;
mod decode;
mod exchanges;
mod file_error;
mod format;
mod framing;
mod merge;
mod pipeline;
mod reject;
mod source;
mod split;
pub mod stix;
mod verdicts;

pub use body::{BodyLimits, BodyTooLarge, DecodedBody, decode_body, decode_bytes};
pub use decode::Batch;
pub use exchanges::JsonLinesWriter;
pub use file_error::FileError;
pub use format::litellm::account_of as litellm_account;
pub use format::parquet::{ColumnMap, ColumnMapError};
pub use format::{Format, UnknownFormat};
pub use merge::{Inputs, MergedStream};
pub use pipeline::{DEFAULT_MAX_RECORD_BYTES, ReadError, ReadOptions, ReadStats, RecordStream};
pub use reject::{DEFAULT_MAX_ERRORS, ErrorPolicy, Location, Reject};
pub use source::{InputError, LOG_EXTENSIONS, Source, expand_inputs};
pub use verdicts::{read_accounts_csv, read_scan_json, write_story, write_verdicts};
