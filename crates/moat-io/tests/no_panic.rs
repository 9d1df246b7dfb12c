//! Any bytes, in any format, yield records or reported rejects: never a panic, never a
//! crashed reader, and every line of a JSON Lines input is accounted for.

use moat_io::{Format, decode_bytes};
use proptest::prelude::*;

const VALID: &str = r#"{"ts":"2026-04-22T03:14:07.123Z","account_id":"acct_8f2c","client":{"ip":"203.0.113.7","asn":64500},"account":{"created_at":"2026-04-20T11:02:00Z","verified":false},"request":{"system":"Think step by step.","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":16000,"temperature":1.0},"usage":{"input_tokens":41}}"#;

fn formats() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::Auto),
        Just(Format::ExchangeV1),
        Just(Format::OpenAi),
        Just(Format::LiteLlm),
        Just(Format::Otlp),
        Just(Format::Parquet),
    ]
}

/// A valid record with some bytes changed, some cut off, or left alone.
fn mangled_line() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        0..VALID.len(),
        prop::collection::vec((0..VALID.len(), any::<u8>()), 0..4),
    )
        .prop_map(|(mode, cut, flips)| {
            let mut line = VALID.as_bytes().to_vec();
            match mode % 3 {
                0 => line.truncate(cut.max(1)),
                1 => {
                    for (at, byte) in flips {
                        line[at] = if byte == b'\n' { b' ' } else { byte };
                    }
                }
                _ => {}
            }
            line
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), format in formats()) {
        let (records, rejects) = decode_bytes(&bytes, format, "fuzz");
        for r in &rejects {
            prop_assert!(!r.reason.is_empty());
        }
        let _ = records;
    }

    #[test]
    fn every_jsonl_line_is_a_record_or_a_reject(lines in prop::collection::vec(mangled_line(), 1..40)) {
        let mut input = VALID.as_bytes().to_vec();
        input.push(b'\n');
        for line in &lines {
            input.extend_from_slice(line);
            input.push(b'\n');
        }
        let blank = lines.iter().filter(|l| l.iter().all(u8::is_ascii_whitespace)).count();
        let (records, rejects) = decode_bytes(&input, Format::ExchangeV1, "fuzz");
        prop_assert_eq!(records.len() + rejects.len(), lines.len() + 1 - blank);
        let mut last = 0;
        for r in &rejects {
            let moat_io::Location::Line(line) = r.location else {
                return Err(TestCaseError::fail(format!("not a line: {r}")));
            };
            prop_assert!(line > last && line as usize <= lines.len() + 1);
            last = line;
        }
    }
}
