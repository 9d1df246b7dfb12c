//! Any bytes read as parquet: records or rejects; no panic escapes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_io::{Format, decode_bytes};

fuzz_target!(|data: &[u8]| {
    // moat catches the panics the parquet crate raises on some corrupt files; the default
    // hook lets those be caught, while a panic that escapes still aborts the run.
    static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    let _ = decode_bytes(data, Format::Parquet, "fuzz");
});
