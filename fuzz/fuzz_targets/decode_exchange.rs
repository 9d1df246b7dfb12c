//! Any bytes read as exchange: records or rejects; no panic escapes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_io::{Format, decode_bytes};

fuzz_target!(|data: &[u8]| {
    let _ = decode_bytes(data, Format::ExchangeV1, "fuzz");
});
