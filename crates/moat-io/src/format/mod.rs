//! The log formats moat reads, how to tell them apart, and how each becomes [`Record`]s.

use std::fmt;
use std::str::FromStr;

use moat_core::{CompactString, Record};
use serde::de::DeserializeOwned;

mod exchange_v1;
pub(crate) mod litellm;
pub(crate) mod loose;
mod openai;
mod otlp;
pub mod parquet;
mod reason;

pub(crate) use reason::Reason;

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Tell each input's format from its first bytes and first record.
    #[default]
    Auto,
    /// moat's own exchange v1 records.
    ExchangeV1,
    /// OpenAI-style request logs (`messages`, `model`, `usage`, `user`).
    OpenAi,
    /// LiteLLM's `StandardLoggingPayload`, as its generic API logger sends it.
    LiteLlm,
    /// OTLP/JSON trace exports whose spans carry `gen_ai.*` attributes.
    Otlp,
    /// Apache Parquet files with the exchange v1 fields as columns.
    Parquet,
}

impl Format {
    /// Every format, as named on the command line.
    pub const NAMES: [&'static str; 6] =
        ["auto", "exchange", "openai", "litellm", "otlp", "parquet"];

    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::ExchangeV1 => "exchange",
            Format::OpenAi => "openai",
            Format::LiteLlm => "litellm",
            Format::Otlp => "otlp",
            Format::Parquet => "parquet",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name moat does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}; expected one of: {names}", names = Format::NAMES.join(", "))]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "auto" => Format::Auto,
            "exchange" | "exchange-v1" | "jsonl" => Format::ExchangeV1,
            "openai" => Format::OpenAi,
            "litellm" => Format::LiteLlm,
            "otlp" => Format::Otlp,
            "parquet" => Format::Parquet,
            other => return Err(UnknownFormat(other.to_owned())),
        })
    }
}

/// The formats that come as JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonFormat {
    ExchangeV1,
    OpenAi,
    LiteLlm,
    Otlp,
}

impl JsonFormat {
    /// The format as the command line names it.
    pub fn format(self) -> Format {
        match self {
            JsonFormat::ExchangeV1 => Format::ExchangeV1,
            JsonFormat::OpenAi => Format::OpenAi,
            JsonFormat::LiteLlm => Format::LiteLlm,
            JsonFormat::Otlp => Format::Otlp,
        }
    }

    pub fn from_format(format: Format) -> Option<Self> {
        match format {
            Format::ExchangeV1 => Some(JsonFormat::ExchangeV1),
            Format::OpenAi => Some(JsonFormat::OpenAi),
            Format::LiteLlm => Some(JsonFormat::LiteLlm),
            Format::Otlp => Some(JsonFormat::Otlp),
            Format::Auto | Format::Parquet => None,
        }
    }

    /// Tells the format of one JSON record from its keys; `None` if it looks like none.
    pub fn sniff(record: &[u8]) -> Option<Self> {
        let object: serde_json::Map<String, serde_json::Value> = parse(record).ok()?;
        let has = |key: &str| object.contains_key(key);
        let nested_has = |outer: &str, key: &str| {
            object
                .get(outer)
                .and_then(|v| v.as_object())
                .is_some_and(|o| o.contains_key(key))
        };
        if has("resourceSpans") {
            Some(JsonFormat::Otlp)
        } else if has("account_id") && (has("ts") || has("account")) {
            Some(JsonFormat::ExchangeV1)
        } else if has("call_type")
            || has("model_parameters")
            || has("hidden_params")
            || (has("startTime") && has("model"))
        {
            Some(JsonFormat::LiteLlm)
        } else if has("messages")
            || nested_has("request", "messages")
            || nested_has("body", "messages")
        {
            Some(JsonFormat::OpenAi)
        } else {
            None
        }
    }

    /// Decodes one JSON record into `out`. A record that holds many (an OTLP export)
    /// may yield some and reject others: each reject is `(item index, reason)`.
    pub fn decode(
        self,
        bytes: &[u8],
        out: &mut Vec<Record>,
        rejects: &mut Vec<(Option<u64>, Reason)>,
    ) {
        let single = match self {
            JsonFormat::ExchangeV1 => exchange_v1::decode(bytes),
            JsonFormat::OpenAi => openai::decode(bytes),
            JsonFormat::LiteLlm => litellm::decode(bytes),
            JsonFormat::Otlp => return otlp::decode(bytes, out, rejects),
        };
        match single {
            Ok(record) => out.push(record),
            Err(reason) => rejects.push((None, reason)),
        }
    }
}

/// Parses JSON with the fast parser; on failure, asks serde_json again, whose error
/// messages name the field (its path, `request.max_tokens`), the column and the expected
/// type. Either one's success is taken.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Reason> {
    match sonic_rs::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(_) => {
            let mut json = serde_json::Deserializer::from_slice(bytes);
            let value = serde_path_to_error::deserialize(&mut json)
                .map_err(|e| describe_json_error(&e.path().to_string(), e.inner()))?;
            json.end().map_err(|e| describe_json_error(".", &e))?;
            Ok(value)
        }
    }
}

/// A reject's reason: what went wrong, in which field when it was one's value, and where
/// the parser stopped.
fn describe_json_error(path: &str, e: &serde_json::Error) -> Reason {
    let what = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected content",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    let field = match e.classify() {
        serde_json::error::Category::Data if path != "." => format!(" in `{path}`"),
        _ => String::new(),
    };
    // serde_json's message ends with the position it also gives apart, when it has one.
    let message = e.to_string();
    let at = (e.line() > 0).then(|| (e.line() as u64, e.column() as u64));
    let message = match at {
        Some((line, column)) => message
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&message),
        None => &message,
    };
    Reason {
        text: format!("{what}{field}: {}", redact_strings(message)),
        at,
    }
}

/// Drops the string values serde quotes in its messages (`invalid type: string "..."`), so
/// that a reject never carries a record's content.
fn redact_strings(message: &str) -> String {
    const MARK: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at + "string".len()]);
        let mut escaped = false;
        let tail = &rest[at + MARK.len()..];
        let end = tail.char_indices().find_map(|(i, c)| match (escaped, c) {
            (false, '"') => Some(i + 1),
            (false, '\\') => {
                escaped = true;
                None
            }
            _ => {
                escaped = false;
                None
            }
        });
        rest = &tail[end.unwrap_or(tail.len())..];
    }
    out.push_str(rest);
    out
}

/// Turns an empty `account_id` into an error, the one field every record needs.
pub(crate) fn require_account<S: Into<CompactString> + AsRef<str>>(
    account_id: Option<S>,
    from: &str,
) -> Result<CompactString, String> {
    match account_id {
        Some(id) if !id.as_ref().trim().is_empty() => Ok(id.into()),
        Some(_) => Err(format!("empty account id ({from})")),
        None => Err(format!("no account id ({from})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Format::NAMES {
            assert_eq!(name.parse::<Format>().unwrap().name(), name);
        }
        assert!(
            "csv"
                .parse::<Format>()
                .unwrap_err()
                .to_string()
                .contains("expected one of")
        );
    }

    #[test]
    fn sniffs_each_json_format() {
        let cases: [(&str, Option<JsonFormat>); 7] = [
            (
                r#"{"ts":"2026-01-01T00:00:00Z","account_id":"a"}"#,
                Some(JsonFormat::ExchangeV1),
            ),
            (
                r#"{"account_id":"a","account":{"verified":true}}"#,
                Some(JsonFormat::ExchangeV1),
            ),
            (r#"{"resourceSpans":[]}"#, Some(JsonFormat::Otlp)),
            (
                r#"{"id":"x","call_type":"acompletion","startTime":1.0}"#,
                Some(JsonFormat::LiteLlm),
            ),
            (
                r#"{"user":"u","model":"m","messages":[]}"#,
                Some(JsonFormat::OpenAi),
            ),
            (
                r#"{"request":{"messages":[]},"response":{}}"#,
                Some(JsonFormat::OpenAi),
            ),
            (r#"{"hello":"world"}"#, None),
        ];
        for (text, expected) in cases {
            assert_eq!(JsonFormat::sniff(text.as_bytes()), expected, "{text}");
        }
    }

    #[test]
    fn parse_errors_never_quote_content() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Wire {
            n: u32,
        }
        let err = parse::<Wire>(br#"{"n": "my \"secret\" prompt"}"#)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
        assert!(err.contains("invalid type: string, expected u32"), "{err}");
        assert_eq!(redact_strings("no strings here"), "no strings here");
    }

    #[test]
    fn parse_errors_name_the_place() {
        let err = parse::<serde_json::Value>(b"{\"a\": tru}").unwrap_err();
        assert!(err.text.starts_with("invalid JSON"), "{err}");
        assert!(
            !err.text.contains("column"),
            "the position is given apart: {err}"
        );
        assert_eq!(err.at, Some((1, 10)), "{err}");
        assert!(err.to_string().ends_with("at column 10"), "{err}");
    }
}
