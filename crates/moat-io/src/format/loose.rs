//! Lenient readings of the fields that gateway log formats write in more than one shape.

use moat_core::{EventTime, Message, Role};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A time as logs write it: an RFC 3339 string, or a Unix time in seconds, milliseconds,
/// microseconds or nanoseconds (told apart by magnitude), as a number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LooseTime(pub EventTime);

impl LooseTime {
    fn from_number(n: f64) -> Option<EventTime> {
        let abs = n.abs();
        let secs = if abs >= 1e17 {
            n / 1e9
        } else if abs >= 1e14 {
            n / 1e6
        } else if abs >= 1e11 {
            n / 1e3
        } else {
            n
        };
        EventTime::from_unix_secs_f64(secs)
    }

    fn from_text(text: &str) -> Result<EventTime, String> {
        if let Ok(n) = text.trim().parse::<f64>() {
            return Self::from_number(n).ok_or_else(|| format!("time {text:?} is out of range"));
        }
        EventTime::parse_rfc3339(text).map_err(|e| format!("time {text:?}: {e}"))
    }
}

impl<'de> Deserialize<'de> for LooseTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire<'a> {
            Number(f64),
            #[serde(borrow)]
            Text(std::borrow::Cow<'a, str>),
        }
        let time = match Wire::deserialize(deserializer)? {
            Wire::Number(n) => {
                LooseTime::from_number(n).ok_or_else(|| format!("time {n} is out of range"))
            }
            Wire::Text(text) => LooseTime::from_text(&text),
        };
        time.map(LooseTime).map_err(serde::de::Error::custom)
    }
}

/// The text of a content value: a string, an array of parts (`{"type":"text","text":..}`,
/// OpenTelemetry's `{"type":"text","content":..}`, or strings), or an object with one of those.
pub(crate) fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<String> = parts.iter().filter_map(text_of).collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        Value::Object(o) => ["text", "content", "parts"]
            .iter()
            .find_map(|k| o.get(*k).and_then(text_of)),
        _ => None,
    }
}

/// Messages in any of the shapes logs hold them: an array of `{role, content}` (or
/// OpenTelemetry's `{role, parts}`), one such object, `{"messages": [...]}`, or a bare string
/// (one user message).
pub(crate) fn messages_of(value: &Value) -> Vec<Message> {
    match value {
        Value::String(s) => vec![Message {
            role: Role::User,
            content: s.clone(),
        }],
        Value::Array(items) => items.iter().filter_map(message_of).collect(),
        Value::Object(o) => match o.get("messages") {
            Some(inner) => messages_of(inner),
            None => message_of(value).into_iter().collect(),
        },
        _ => Vec::new(),
    }
}

fn message_of(value: &Value) -> Option<Message> {
    match value {
        Value::String(s) => Some(Message {
            role: Role::User,
            content: s.clone(),
        }),
        Value::Object(o) => {
            let role = o
                .get("role")
                .and_then(Value::as_str)
                .map_or(Role::Other, Role::from_name);
            let content = o
                .get("content")
                .or_else(|| o.get("parts"))
                .and_then(text_of)
                .unwrap_or_default();
            Some(Message { role, content })
        }
        _ => None,
    }
}

/// A non-negative integer from a number or a numeric string.
pub(crate) fn uint_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn time(v: Value) -> Result<EventTime, String> {
        serde_json::from_value::<LooseTime>(v)
            .map(|t| t.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn times_in_every_unit_agree() {
        let expected = EventTime::from_unix_micros(1_714_000_000_500_000).unwrap();
        for v in [
            json!(1_714_000_000.5),
            json!(1_714_000_000_500u64),
            json!(1_714_000_000_500_000u64),
            json!(1_714_000_000_500_000_000u64),
            json!("1714000000.5"),
            json!("2024-04-24T23:06:40.5Z"),
        ] {
            assert_eq!(time(v.clone()).unwrap(), expected, "{v}");
        }
        assert!(time(json!("soon")).is_err());
        assert!(time(json!(true)).is_err());
    }

    #[test]
    fn messages_in_every_shape() {
        let m = messages_of(&json!([
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "parts": [{"type": "text", "content": "c"}]}
        ]));
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].role, Role::System);
        assert_eq!(m[1].content, "a\nb");
        assert_eq!(m[2].content, "c");
        assert_eq!(messages_of(&json!("hi"))[0].content, "hi");
        assert_eq!(
            messages_of(&json!({"messages": [{"role": "user", "content": "x"}]}))[0].content,
            "x"
        );
        assert!(messages_of(&json!(42)).is_empty());
    }

    #[test]
    fn uints() {
        assert_eq!(uint_of(&json!(12)), Some(12));
        assert_eq!(uint_of(&json!("12")), Some(12));
        assert_eq!(uint_of(&json!(12.0)), Some(12));
        assert_eq!(uint_of(&json!(-1)), None);
    }
}
