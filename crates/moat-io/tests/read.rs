//! Reading whole inputs through the parallel reader: every format, compressed or not, in
//! order, with every bad record reported in its place.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use moat_core::Record;
use moat_io::{
    ErrorPolicy, Format, Location, ReadError, ReadOptions, RecordStream, Reject, Source,
    decode_bytes,
};

fn exchange_line(i: usize) -> String {
    format!(
        r#"{{"ts":"2026-04-22T03:{:02}:{:02}Z","account_id":"acct_{i}","request":{{"prompt":"Write a function number {i}. Think step by step."}}}}"#,
        i / 60 % 60,
        i % 60
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `batch` as a Parquet file `name` in `dir`.
fn write_parquet(dir: &Path, name: &str, batch: &arrow_array::RecordBatch) -> PathBuf {
    let path = dir.join(name);
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    path
}

fn options() -> ReadOptions {
    ReadOptions {
        progress: false,
        errors: ErrorPolicy::Unlimited,
        ..ReadOptions::default()
    }
}

/// Reads everything, handing every batch back for reuse as a scan does; returns the
/// records, the rejects and the error, if any.
fn read(paths: &[PathBuf], options: &ReadOptions) -> (Vec<Record>, Vec<Reject>, Option<ReadError>) {
    let sources = paths.iter().cloned().map(Source::File).collect();
    let (mut records, mut rejects, mut error) = (Vec::new(), Vec::new(), None);
    let mut stream = RecordStream::open(sources, options);
    while let Some(batch) = stream.next() {
        match batch {
            Ok(mut b) => {
                records.append(&mut b.records);
                rejects.append(&mut b.rejects);
                stream.recycle(b);
            }
            Err(e) => error = Some(e),
        }
    }
    (records, rejects, error)
}

fn ids(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.account_id().to_owned()).collect()
}

#[test]
fn many_chunks_on_many_threads_come_out_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..5000).map(|i| exchange_line(i) + "\n").collect();
    let path = write(dir.path(), "a.jsonl", text.as_bytes());
    let opts = ReadOptions {
        threads: 4,
        chunk_bytes: 4096,
        ..options()
    };
    let (records, rejects, error) = read(&[path], &opts);
    assert!(rejects.is_empty() && error.is_none());
    let expected: Vec<String> = (0..5000).map(|i| format!("acct_{i}")).collect();
    assert_eq!(ids(&records), expected);
}

#[test]
fn batches_handed_back_are_filled_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..3000)
        .map(|i| match i % 97 {
            5 => "{not json\n".to_owned(),
            _ => exchange_line(i) + "\n",
        })
        .collect();
    let path = write(dir.path(), "a.jsonl", text.as_bytes());
    let opts = ReadOptions {
        threads: 2,
        chunk_bytes: 2048,
        analyse: true,
        ..options()
    };
    let fresh: Vec<_> = RecordStream::open(vec![Source::File(path.clone())], &opts)
        .map(Result::unwrap)
        .collect();
    let mut stream = RecordStream::open(vec![Source::File(path)], &opts);
    for expected in &fresh {
        let batch = stream.next().unwrap().unwrap();
        assert_eq!(batch.records, expected.records);
        assert_eq!(batch.rejects, expected.rejects);
        assert_eq!(batch.analysed, expected.analysed);
        assert!(
            batch.records.is_empty(),
            "analysed records are in `analysed`"
        );
        assert_eq!(batch.bytes, expected.bytes);
        stream.recycle(batch);
    }
    assert!(stream.next().is_none());
    assert_eq!(stream.stats().bytes, text.len() as u64);
}

#[test]
fn bad_lines_are_reported_with_their_line_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = Vec::new();
    let mut bad_lines = Vec::new();
    for i in 0..3000 {
        match i % 500 {
            7 => {
                text.extend_from_slice(b"{\"ts\":\"2026-04-22T03:00:00Z\",\"account_id\":\"x\",\"request\":{\"prompt\":\"\xff\xfe\"}}\n");
                bad_lines.push(i as u64 + 1);
            }
            8 => {
                text.extend_from_slice(&exchange_line(i).as_bytes()[..40]);
                text.push(b'\n');
                bad_lines.push(i as u64 + 1);
            }
            9 => text.extend_from_slice(b"   \n"),
            _ => {
                text.extend_from_slice(exchange_line(i).as_bytes());
                text.push(b'\n');
            }
        }
    }
    let path = write(dir.path(), "bad.jsonl", &text);
    let opts = ReadOptions {
        chunk_bytes: 2000,
        ..options()
    };
    let (records, rejects, _) = read(std::slice::from_ref(&path), &opts);
    assert_eq!(records.len(), 3000 - 3 * 6);
    let lines: Vec<u64> = rejects
        .iter()
        .map(|r| match r.location {
            Location::Line(l) => l,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lines, bad_lines);
    assert_eq!(&*rejects[0].source, path.display().to_string());
}

#[test]
fn a_reject_names_the_field_and_never_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let text = concat!(
        r#"{"ts":"2026-04-22T03:00:00Z","account_id":"a","request":{"max_tokens":"lots"}}"#,
        "\n",
        r#"{"ts":"SECRET my medical record","account_id":"a"}"#,
        "\n",
        r#"{"ts":"2026-04-22T03:00:00Z","account_id":"a","usage":{"input_tokens":-3}}"#,
        "\n",
    );
    let path = write(dir.path(), "fields.jsonl", text.as_bytes());
    let (_, rejects, _) = read(&[path], &options());
    let reasons: Vec<&str> = rejects.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for (reason, field) in reasons
        .iter()
        .zip(["request.max_tokens", "ts", "usage.input_tokens"])
    {
        assert!(reason.contains(&format!("`{field}`")), "{reason}");
        assert!(
            !reason.contains("lots") && !reason.contains("SECRET") && !reason.contains("got S"),
            "{reason}"
        );
    }
}

#[test]
fn gigantic_line_is_skipped_not_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = exchange_line(0) + "\n";
    text.push_str(&format!(
        r#"{{"ts":"2026-04-22T03:00:00Z","account_id":"big","request":{{"prompt":"{}"}}}}"#,
        "a".repeat(3 << 20)
    ));
    text.push('\n');
    text.push_str(&(exchange_line(2) + "\n"));
    let path = write(dir.path(), "big.jsonl", text.as_bytes());
    let opts = ReadOptions {
        max_record_bytes: 1 << 20,
        chunk_bytes: 64 << 10,
        ..options()
    };
    let (records, rejects, _) = read(&[path], &opts);
    assert_eq!(ids(&records), ["acct_0", "acct_2"]);
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].location, Location::Line(2));
    assert!(
        rejects[0].reason.contains("longer than the limit"),
        "{}",
        rejects[0].reason
    );
}

#[test]
fn gzip_and_zstd_are_read_whatever_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..100).map(|i| exchange_line(i) + "\n").collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = write(dir.path(), "logs.jsonl.gz", &gz.finish().unwrap());
    let zst = write(
        dir.path(),
        "logs.data",
        &zstd::encode_all(text.as_bytes(), 3).unwrap(),
    );
    let (records, rejects, _) = read(&[gz, zst], &options());
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(records.len(), 200);
}

#[test]
fn truncated_gzip_keeps_what_came_before_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..2000).map(|i| exchange_line(i) + "\n").collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let path = write(dir.path(), "cut.jsonl.gz", &bytes[..bytes.len() / 2]);
    let (records, rejects, _) = read(&[path], &options());
    assert!(!records.is_empty() && records.len() < 2000);
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    // The line cut by the end of the readable data, then the reason the reading stopped.
    assert_eq!(
        rejects[0].location,
        Location::Line(records.len() as u64 + 1)
    );
    assert!(
        rejects[0].reason.starts_with("truncated JSON"),
        "{}",
        rejects[0].reason
    );
    assert_eq!(rejects[1].location, Location::Input);
    assert!(
        rejects[1].reason.starts_with("reading stopped"),
        "{}",
        rejects[1].reason
    );
}

#[test]
fn max_errors_stops_the_reading_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = exchange_line(0) + "\n";
    for _ in 0..50 {
        text.push_str("{\"broken\": \n");
    }
    let path = write(dir.path(), "broken.jsonl", text.as_bytes());
    let opts = ReadOptions {
        errors: ErrorPolicy::MaxErrors(10),
        ..options()
    };
    let (_, rejects, error) = read(std::slice::from_ref(&path), &opts);
    assert_eq!(rejects.len(), 11);
    assert!(
        matches!(error, Some(ReadError::TooManyRejects { rejected: 11, .. })),
        "{error:?}"
    );
    let strict = ReadOptions {
        errors: ErrorPolicy::Strict,
        ..options()
    };
    let (records, rejects, error) = read(&[path], &strict);
    assert_eq!((records.len(), rejects.len()), (1, 1));
    assert!(error.is_some());
}

#[test]
fn formats_are_told_apart_per_input() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = write(dir.path(), "v1.jsonl", (exchange_line(1) + "\n").as_bytes());
    let litellm_array = write(
        dir.path(),
        "litellm.json",
        br#"[
  {
    "id": "a", "call_type": "acompletion", "startTime": 1714000000.5, "model": "m",
    "metadata": {"user_api_key_user_id": "lite_1"},
    "messages": [{"role": "user", "content": "hi"}]
  },
  {
    "id": "b", "call_type": "acompletion", "startTime": 1714000001.5, "model": "m",
    "metadata": {"user_api_key_user_id": "lite_2"}
  }
]"#,
    );
    let litellm_ndjson = write(
        dir.path(),
        "litellm.ndjson",
        b"{\"call_type\":\"completion\",\"startTime\":1714000000,\"model\":\"m\",\"metadata\":{\"user_api_key_user_id\":\"lite_3\"}}\n",
    );
    let openai = write(
        dir.path(),
        "openai.jsonl",
        b"{\"created\":1714000000,\"user\":\"oa_1\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}\n",
    );
    let otlp = write(
        dir.path(),
        "traces.json",
        br#"{
  "resourceSpans": [{
    "scopeSpans": [{
      "spans": [{
        "spanId": "s1", "startTimeUnixNano": "1714000000000000000",
        "attributes": [
          {"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
          {"key": "user.id", "value": {"stringValue": "otel_1"}}
        ]
      }]
    }]
  }]
}"#,
    );
    let unknown = write(dir.path(), "other.jsonl", b"{\"hello\":\"world\"}\n");
    let (records, rejects, _) = read(
        &[
            v1,
            litellm_array,
            litellm_ndjson,
            openai,
            otlp,
            unknown.clone(),
        ],
        &options(),
    );
    assert_eq!(
        ids(&records),
        ["acct_1", "lite_1", "lite_2", "lite_3", "oa_1", "otel_1"]
    );
    assert_eq!(rejects.len(), 1);
    assert_eq!(&*rejects[0].source, unknown.display().to_string());
    assert!(rejects[0].reason.contains("--format"));
}

#[test]
fn a_named_format_is_used_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "v1.jsonl", (exchange_line(1) + "\n").as_bytes());
    let opts = ReadOptions {
        format: Format::LiteLlm,
        ..options()
    };
    let (records, rejects, _) = read(&[path], &opts);
    assert!(records.is_empty());
    assert_eq!(rejects.len(), 1);
    assert!(
        rejects[0].reason.contains("startTime"),
        "{}",
        rejects[0].reason
    );
}

#[test]
fn parquet_flat_and_nested_columns() {
    use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder};
    use arrow_array::{
        Array, ArrayRef, Int64Array, RecordBatch, StringArray, StructArray,
        TimestampMillisecondArray,
    };
    use arrow_schema::{DataType, Field, Fields};

    let dir = tempfile::tempdir().unwrap();
    let ts = TimestampMillisecondArray::from(vec![
        Some(1_714_000_000_000),
        Some(1_714_000_001_000),
        None,
    ])
    .with_timezone("UTC");
    let accounts = StringArray::from(vec![Some("p1"), Some("p2"), Some("p3")]);
    let ips = StringArray::from(vec![Some("192.0.2.1"), None, Some("not-an-ip")]);
    let usage = StructArray::from(vec![(
        Arc::new(Field::new("output_tokens", DataType::Int64, true)),
        Arc::new(Int64Array::from(vec![Some(10), Some(20), None])) as ArrayRef,
    )]);
    let message_fields = Fields::from(vec![
        Field::new("role", DataType::Utf8, true),
        Field::new("content", DataType::Utf8, true),
    ]);
    let mut messages = ListBuilder::new(StructBuilder::from_fields(message_fields, 3));
    for row in 0..3 {
        let s = messages.values();
        s.field_builder::<StringBuilder>(0)
            .unwrap()
            .append_value("user");
        s.field_builder::<StringBuilder>(1)
            .unwrap()
            .append_value(format!("question {row}"));
        s.append(true);
        messages.append(true);
    }
    let messages: ArrayRef = Arc::new(messages.finish());
    let request = StructArray::from(vec![(
        Arc::new(Field::new("messages", messages.data_type().clone(), true)),
        messages,
    )]);
    let batch = RecordBatch::try_from_iter(vec![
        ("ts", Arc::new(ts) as ArrayRef),
        ("account_id", Arc::new(accounts) as ArrayRef),
        ("client.ip", Arc::new(ips) as ArrayRef),
        ("usage", Arc::new(usage) as ArrayRef),
        ("request", Arc::new(request) as ArrayRef),
        (
            "unrelated",
            Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let path = write_parquet(dir.path(), "logs.parquet", &batch);

    let (records, rejects, _) = read(std::slice::from_ref(&path), &options());
    assert_eq!(ids(&records), ["p1", "p2"]);
    let Record::Exchange(e) = &records[0] else {
        panic!()
    };
    assert_eq!(e.ts.as_unix_micros(), 1_714_000_000_000_000);
    assert_eq!(e.client.ip, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(e.usage.output_tokens, Some(10));
    assert_eq!(e.request.last_user_text(), Some("question 0"));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].location, Location::Row { group: 0, row: 2 });
    assert!(
        rejects[0].reason.contains("no ts") || rejects[0].reason.contains("IP"),
        "{}",
        rejects[0].reason
    );

    let (from_memory, memory_rejects) =
        decode_bytes(&std::fs::read(&path).unwrap(), Format::Auto, "body");
    assert_eq!(from_memory, records);
    assert_eq!(memory_rejects.len(), 1);
}

#[test]
fn parquet_integer_timestamps_are_read_since_the_epoch_in_the_unit_their_size_tells() {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};

    let dir = tempfile::tempdir().unwrap();
    let second = 1_714_000_000i64;
    let ts = Int64Array::from(vec![
        second,
        second * 1_000 + 250,
        second * 1_000_000 + 500,
        second * 1_000_000_000 + 750_000,
    ]);
    let accounts = StringArray::from(vec!["s", "ms", "us", "ns"]);
    let batch = RecordBatch::try_from_iter(vec![
        ("ts", Arc::new(ts) as ArrayRef),
        ("account_id", Arc::new(accounts) as ArrayRef),
    ])
    .unwrap();
    let path = write_parquet(dir.path(), "epoch.parquet", &batch);

    let (records, rejects, _) = read(std::slice::from_ref(&path), &options());
    assert!(rejects.is_empty(), "{rejects:?}");
    let micros: Vec<i64> = records
        .iter()
        .map(|r| match r {
            Record::Exchange(e) => e.ts.as_unix_micros(),
            other => panic!("{other:?}"),
        })
        .collect();
    let base = second * 1_000_000;
    assert_eq!(micros, [base, base + 250_000, base + 500, base + 750]);
}

#[test]
fn parquet_columns_of_other_names_are_read_as_the_fields_the_map_names() {
    use arrow_array::{ArrayRef, RecordBatch, StringArray, StructArray, TimestampSecondArray};
    use arrow_schema::{DataType, Field};

    let dir = tempfile::tempdir().unwrap();
    let second = 1_714_000_000i64;
    let src_ip: ArrayRef = Arc::new(StringArray::from(vec!["203.0.113.7", "203.0.113.8"]));
    let meta = StructArray::from(vec![(
        Arc::new(Field::new("src_ip", DataType::Utf8, true)),
        src_ip,
    )]);
    let batch = RecordBatch::try_from_iter(vec![
        (
            "event_time",
            Arc::new(TimestampSecondArray::from(vec![second, second + 1])) as ArrayRef,
        ),
        (
            "customer",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        ),
        ("meta", Arc::new(meta) as ArrayRef),
    ])
    .unwrap();
    let path = write_parquet(dir.path(), "renamed.parquet", &batch);

    // Unmapped, no row has an account or a time.
    let (records, rejects, _) = read(std::slice::from_ref(&path), &options());
    assert_eq!((records.len(), rejects.len()), (0, 2));

    let columns = moat_io::ColumnMap::new(
        [
            ("ts", "event_time"),
            ("account_id", "customer"),
            ("client.ip", "meta.src_ip"),
        ]
        .map(|(f, c)| (f.to_owned(), c.to_owned())),
    )
    .unwrap();
    let mapped = ReadOptions {
        columns,
        ..options()
    };
    let (records, rejects, _) = read(std::slice::from_ref(&path), &mapped);
    assert!(rejects.is_empty(), "{rejects:?}");
    let Record::Exchange(e) = &records[1] else {
        panic!("{:?}", records[1]);
    };
    assert_eq!(e.account_id, "b");
    assert_eq!(e.ts.as_unix_micros(), (second + 1) * 1_000_000);
    assert_eq!(e.client.ip, Some("203.0.113.8".parse().unwrap()));

    let unknown = moat_io::ColumnMap::new([("client.address".to_owned(), "x".to_owned())]);
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("not an exchange v1 field")
    );
}

#[test]
fn a_parquet_column_of_the_wrong_type_refuses_its_file_once_not_every_row() {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};

    let dir = tempfile::tempdir().unwrap();
    let rows = 1000;
    let batch = RecordBatch::try_from_iter(vec![
        (
            "ts",
            Arc::new(StringArray::from(vec!["2026-04-22T03:00:00Z"; rows])) as ArrayRef,
        ),
        (
            "account_id",
            Arc::new(StringArray::from(vec!["a"; rows])) as ArrayRef,
        ),
        (
            "request.max_tokens",
            Arc::new(StringArray::from(vec!["4096"; rows])) as ArrayRef,
        ),
    ])
    .unwrap();
    let bad = write_parquet(dir.path(), "typed.parquet", &batch);
    let good = write(
        dir.path(),
        "good.jsonl",
        (exchange_line(1) + "\n").as_bytes(),
    );

    let (records, rejects, _) = read(&[bad.clone(), good], &options());
    assert_eq!(records.len(), 1, "the other input is read");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let reason = rejects[0].to_string();
    assert!(
        reason.contains("typed.parquet")
            && reason.contains("column request.max_tokens has type Utf8, expected an integer"),
        "{reason}"
    );
}

#[test]
fn a_record_over_the_limit_is_rejected_wherever_it_stands_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let long = |n: usize| {
        format!(
            r#"{{"ts":"2026-04-22T03:00:00Z","account_id":"long","request":{{"prompt":"{}"}}}}"#,
            "x".repeat(n)
        )
    };
    let limited = ReadOptions {
        max_record_bytes: 1000,
        ..options()
    };
    // A long record among short ones, within one chunk; and an input that opens with a
    // line longer than what is read to tell its format.
    for (name, first, at_line) in [
        ("middle.jsonl", exchange_line(0), 2),
        ("first.jsonl", long(100_000), 1),
    ] {
        let mut text = first + "\n";
        if at_line == 2 {
            text += &(long(5_000) + "\n");
        }
        for i in 1..4 {
            text += &(exchange_line(i) + "\n");
        }
        let path = write(dir.path(), name, text.as_bytes());
        let (records, rejects, _) = read(std::slice::from_ref(&path), &limited);
        assert_eq!(records.len(), 4 - (at_line == 1) as usize, "{name}");
        assert_eq!(rejects.len(), 1, "{name}: {rejects:?}");
        let reason = rejects[0].to_string();
        assert!(
            reason.contains(&format!("line {at_line}:"))
                && reason.contains("longer than the limit of 1000 bytes"),
            "{reason}"
        );
    }
}

#[test]
fn decode_bytes_matches_the_stream() {
    let text: String = (0..300)
        .map(|i| exchange_line(i) + "\n")
        .collect::<String>()
        + "nonsense\n";
    let (records, rejects) = decode_bytes(text.as_bytes(), Format::Auto, "body");
    assert_eq!(records.len(), 300);
    assert_eq!(rejects.len(), 1);
    assert_eq!(
        rejects[0]
            .to_string()
            .split(": ")
            .take(2)
            .collect::<Vec<_>>(),
        ["body", "line 301"]
    );
}

#[test]
fn a_parquet_file_the_parquet_library_panics_on_is_rejected_not_fatal() {
    // Found by fuzzing: a page whose dictionary is missing makes the parquet crate panic.
    let corrupt =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corrupt-dictionary.parquet");
    let (_, rejects) = decode_bytes(&std::fs::read(&corrupt).unwrap(), Format::Auto, "corrupt");
    assert!(
        rejects
            .iter()
            .any(|r| r.reason.contains("corrupt Parquet data")),
        "{rejects:?}"
    );

    // Through the threaded reader, the inputs after it are still read.
    let dir = tempfile::tempdir().unwrap();
    let after = write(
        dir.path(),
        "after.jsonl",
        (exchange_line(9) + "\n").as_bytes(),
    );
    let (records, rejects, error) = read(&[corrupt, after], &options());
    assert!(error.is_none(), "{error:?}");
    assert!(
        rejects
            .iter()
            .any(|r| r.reason.contains("corrupt Parquet data"))
    );
    assert_eq!(ids(&records).last().map(String::as_str), Some("acct_9"));
}
