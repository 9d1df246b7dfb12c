//! OTLP/JSON trace exports (`{"resourceSpans": [...]}`, as the OpenTelemetry collector's file
//! exporter writes them): every span with `gen_ai.*` attributes is one exchange.
//!
//! Both the current GenAI semantic conventions and the deprecated names are read:
//! `gen_ai.usage.input_tokens` or `gen_ai.usage.prompt_tokens`, `gen_ai.input.messages` or
//! `gen_ai.prompt` and the indexed `gen_ai.prompt.N.role`/`.content` attributes, and so on.

use std::collections::HashMap;

use moat_core::{
    Client, CompactString, EventTime, Exchange, Message, Record, Request, Response, Role, Usage,
    exchange::parse_ip,
};
use serde::Deserialize;
use serde_json::Value;

use super::loose::{messages_of, text_of};
use super::{Reason, parse};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TracesData {
    /// Absent only from an empty export (`{}`).
    #[serde(default)]
    resource_spans: Option<Vec<ResourceSpans>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(default, alias = "instrumentationLibrarySpans")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize, Default)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    #[serde(default)]
    span_id: Option<String>,
    #[serde(default)]
    start_time_unix_nano: Option<Value>,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    name: String,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: Option<AnyValue>,
}

/// OTLP's `AnyValue`: exactly one of its fields is set. 64-bit integers are strings in
/// OTLP/JSON, but numbers are accepted too.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AnyValue {
    string_value: Option<String>,
    int_value: Option<Value>,
    double_value: Option<f64>,
    bool_value: Option<bool>,
    array_value: Option<ArrayValue>,
}

#[derive(Deserialize, Default)]
struct ArrayValue {
    #[serde(default)]
    values: Vec<AnyValue>,
}

impl AnyValue {
    fn as_str(&self) -> Option<&str> {
        self.string_value.as_deref()
    }

    fn as_u64(&self) -> Option<u64> {
        match &self.int_value {
            Some(Value::String(s)) => s.parse().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => self.double_value.filter(|d| *d >= 0.0).map(|d| d as u64),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        self.double_value
            .or_else(|| self.as_u64().map(|u| u as f64))
    }

    fn as_bool(&self) -> Option<bool> {
        self.bool_value
    }

    /// The first element of an array value, or the value itself.
    fn first(&self) -> Option<&AnyValue> {
        match &self.array_value {
            Some(a) => a.values.first(),
            None => Some(self),
        }
    }
}

/// The attributes of a span, over those of its resource.
struct Attributes<'a>(HashMap<&'a str, &'a AnyValue>);

impl<'a> Attributes<'a> {
    fn new(resource: &'a [KeyValue], span: &'a [KeyValue]) -> Self {
        let map = resource
            .iter()
            .chain(span)
            .filter_map(|kv| kv.value.as_ref().map(|v| (kv.key.as_str(), v)))
            .collect();
        Attributes(map)
    }

    fn get(&self, keys: &[&str]) -> Option<&'a AnyValue> {
        keys.iter().find_map(|k| self.0.get(k).copied())
    }

    /// A string attribute, as the owned string the caller wants.
    fn str<S: for<'s> From<&'s str>>(&self, keys: &[&str]) -> Option<S> {
        self.get(keys).and_then(AnyValue::as_str).map(S::from)
    }

    fn u64(&self, keys: &[&str]) -> Option<u64> {
        self.get(keys).and_then(AnyValue::as_u64)
    }

    fn is_gen_ai(&self) -> bool {
        self.0.keys().any(|k| k.starts_with("gen_ai."))
    }

    /// A JSON-valued attribute (GenAI conventions put message lists in strings).
    fn json(&self, keys: &[&str]) -> Option<Value> {
        let text = self.get(keys)?.as_str()?;
        Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
    }

    /// The indexed form `prefix.N.role` / `prefix.N.content`, as older instrumentations write.
    fn indexed_messages(&self, prefix: &str) -> Vec<Message> {
        (0..)
            .map_while(|i| {
                let role: Option<String> = self.str(&[&format!("{prefix}.{i}.role")]);
                let content: Option<String> = self.str(&[&format!("{prefix}.{i}.content")]);
                (role.is_some() || content.is_some()).then(|| Message {
                    role: role.as_deref().map_or(Role::Other, Role::from_name),
                    content: content.unwrap_or_default(),
                })
            })
            .collect()
    }
}

fn start_time(span: &Span) -> Option<EventTime> {
    let nanos: i128 = match span.start_time_unix_nano.as_ref()? {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => n.as_u64().map(i128::from)?,
        _ => return None,
    };
    EventTime::from_unix_nanos(nanos)
}

/// The messages of a span: `gen_ai.input.messages`, the deprecated `gen_ai.prompt`, indexed
/// `gen_ai.prompt.N.*` attributes, or `gen_ai.content.prompt` events.
fn input_messages(attrs: &Attributes, span: &Span) -> Vec<Message> {
    if let Some(v) = attrs.json(&["gen_ai.input.messages", "gen_ai.prompt"]) {
        return messages_of(&v);
    }
    let indexed = attrs.indexed_messages("gen_ai.prompt");
    if !indexed.is_empty() {
        return indexed;
    }
    span.events
        .iter()
        .filter(|e| e.name == "gen_ai.content.prompt")
        .flat_map(|e| Attributes::new(&[], &e.attributes).json(&["gen_ai.prompt"]))
        .flat_map(|v| messages_of(&v))
        .collect()
}

fn exchange_of(resource: &[KeyValue], span: &Span) -> Result<Option<Exchange>, String> {
    let attrs = Attributes::new(resource, &span.attributes);
    if !attrs.is_gen_ai() {
        return Ok(None);
    }
    let ts = start_time(span).ok_or("no valid startTimeUnixNano")?;
    let account_id = attrs
        .str::<CompactString>(&["account.id", "user.id", "enduser.id", "gen_ai.request.user"])
        .filter(|a| !a.trim().is_empty())
        .ok_or("no account id (account.id, user.id or enduser.id attribute)")?;
    let output = attrs
        .json(&["gen_ai.output.messages", "gen_ai.completion"])
        .and_then(|v| text_of(&v).or_else(|| messages_of(&v).into_iter().next().map(|m| m.content)))
        .or_else(|| attrs.str(&["gen_ai.completion.0.content"]));
    let system = attrs
        .json(&["gen_ai.system_instructions"])
        .and_then(|v| text_of(&v));
    let tools = attrs
        .json(&["gen_ai.tool.definitions"])
        .and_then(|v| match v {
            Value::Array(a) => Some(a.len().try_into().unwrap_or(u32::MAX)),
            _ => None,
        });
    Ok(Some(Exchange {
        ts,
        account_id,
        request_id: attrs
            .str(&["gen_ai.response.id"])
            .or_else(|| span.span_id.as_deref().map(CompactString::from)),
        org_id: attrs.str(&["organization.id"]),
        api_key_id: None,
        conversation_id: attrs.str(&["gen_ai.conversation.id", "session.id"]),
        model: attrs.str(&["gen_ai.request.model", "gen_ai.response.model"]),
        client: Client {
            ip: attrs
                .str::<String>(&["client.address", "http.client_ip", "net.peer.ip"])
                .as_deref()
                .and_then(parse_ip),
            country: attrs.str(&["client.geo.country.iso_code", "geo.country.iso_code"]),
            user_agent: attrs.str(&["user_agent.original", "http.user_agent"]),
            ..Client::default()
        },
        account: Default::default(),
        request: Request {
            system,
            messages: input_messages(&attrs, span),
            tools,
            max_tokens: attrs.u64(&["gen_ai.request.max_tokens"]),
            temperature: attrs
                .get(&["gen_ai.request.temperature"])
                .and_then(AnyValue::as_f64),
            reasoning: attrs
                .get(&["gen_ai.request.reasoning"])
                .and_then(AnyValue::as_bool),
            ..Request::default()
        },
        usage: Usage {
            input_tokens: attrs.u64(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]),
            output_tokens: attrs.u64(&[
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
            ]),
            reasoning_tokens: attrs.u64(&[
                "gen_ai.usage.reasoning.output_tokens",
                "gen_ai.usage.reasoning_tokens",
            ]),
        },
        response: Response {
            text: output,
            finish_reason: attrs
                .get(&["gen_ai.response.finish_reasons"])
                .and_then(AnyValue::first)
                .and_then(AnyValue::as_str)
                .map(CompactString::from),
        },
    }))
}

/// Decodes one export; spans are numbered over the whole export, from 0.
pub(super) fn decode(
    bytes: &[u8],
    out: &mut Vec<Record>,
    rejects: &mut Vec<(Option<u64>, Reason)>,
) {
    let not_otlp = || {
        (
            None,
            Reason::from("not an OTLP/JSON export (an object with resourceSpans)"),
        )
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return rejects.push(not_otlp());
    }
    let data: TracesData = match parse(bytes) {
        Ok(data) => data,
        Err(reason) => return rejects.push((None, reason)),
    };
    let Some(resource_spans) = data.resource_spans else {
        let empty = bytes
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .eq(b"{}".iter());
        if !empty {
            rejects.push(not_otlp());
        }
        return;
    };
    let mut index = 0u64;
    for rs in &resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            match exchange_of(resource, span) {
                Ok(Some(exchange)) => out.push(Record::Exchange(exchange)),
                Ok(None) => {}
                Err(reason) => rejects.push((Some(index), format!("span: {reason}").into())),
            }
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_an_export_is_rejected_and_an_empty_one_is_not() {
        for text in [
            r#"[{"id":"a","call_type":"acompletion","startTime":1714000000.5}]"#,
            r#"{"id":"a","call_type":"acompletion","startTime":1714000000.5}"#,
        ] {
            let (mut out, mut rejects) = (Vec::new(), Vec::new());
            decode(text.as_bytes(), &mut out, &mut rejects);
            assert!(out.is_empty());
            assert_eq!(rejects.len(), 1, "{text}");
            assert!(
                rejects[0].1.text.contains("not an OTLP/JSON export"),
                "{rejects:?}"
            );
        }
        let (mut out, mut rejects) = (Vec::new(), Vec::new());
        decode(b" { } ", &mut out, &mut rejects);
        assert!(out.is_empty() && rejects.is_empty(), "{rejects:?}");
    }

    const EXPORT: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"gateway"}}]},"scopeSpans":[{"scope":{"name":"genai"},"spans":[
      {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat frontier-2","kind":3,"startTimeUnixNano":"1714000000123456789","endTimeUnixNano":"1714000002000000000","attributes":[
        {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
        {"key":"gen_ai.request.model","value":{"stringValue":"frontier-2"}},
        {"key":"gen_ai.request.max_tokens","value":{"intValue":"16000"}},
        {"key":"gen_ai.request.temperature","value":{"doubleValue":1.0}},
        {"key":"gen_ai.usage.input_tokens","value":{"intValue":"41"}},
        {"key":"gen_ai.usage.output_tokens","value":{"intValue":2210}},
        {"key":"gen_ai.conversation.id","value":{"stringValue":"c_77"}},
        {"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":[{"stringValue":"stop"}]}}},
        {"key":"gen_ai.input.messages","value":{"stringValue":"[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"Merge two sorted lists.\"}]}]"}},
        {"key":"gen_ai.system_instructions","value":{"stringValue":"[{\"type\":\"text\",\"content\":\"Think step by step.\"}]"}},
        {"key":"user.id","value":{"stringValue":"acct_8f2c"}},
        {"key":"client.address","value":{"stringValue":"203.0.113.7"}}]},
      {"spanId":"aaa","name":"chat old","startTimeUnixNano":"1714000003000000000","attributes":[
        {"key":"gen_ai.system","value":{"stringValue":"openai"}},
        {"key":"gen_ai.usage.prompt_tokens","value":{"intValue":"7"}},
        {"key":"gen_ai.usage.completion_tokens","value":{"intValue":"9"}},
        {"key":"gen_ai.prompt.0.role","value":{"stringValue":"user"}},
        {"key":"gen_ai.prompt.0.content","value":{"stringValue":"Hi"}},
        {"key":"enduser.id","value":{"stringValue":"acct_2"}}]},
      {"spanId":"bbb","name":"HTTP GET","startTimeUnixNano":"1714000004000000000","attributes":[{"key":"http.method","value":{"stringValue":"GET"}}]},
      {"spanId":"ccc","name":"chat anon","startTimeUnixNano":"1714000005000000000","attributes":[{"key":"gen_ai.request.model","value":{"stringValue":"m"}}]}
    ]}]}]}"#;

    #[test]
    fn reads_gen_ai_spans_current_and_deprecated() {
        let (mut out, mut rejects) = (Vec::new(), Vec::new());
        decode(EXPORT.as_bytes(), &mut out, &mut rejects);
        assert_eq!(out.len(), 2);
        let Record::Exchange(a) = &out[0] else {
            panic!()
        };
        assert_eq!(a.ts.as_unix_micros(), 1_714_000_000_123_456);
        assert_eq!(a.account_id, "acct_8f2c");
        assert_eq!(a.model.as_deref(), Some("frontier-2"));
        assert_eq!(a.request.max_tokens, Some(16000));
        assert_eq!(a.request.temperature, Some(1.0));
        assert_eq!(a.usage.input_tokens, Some(41));
        assert_eq!(a.usage.output_tokens, Some(2210));
        assert_eq!(a.conversation_id.as_deref(), Some("c_77"));
        assert_eq!(a.response.finish_reason.as_deref(), Some("stop"));
        assert_eq!(a.request.last_user_text(), Some("Merge two sorted lists."));
        assert_eq!(a.request.system.as_deref(), Some("Think step by step."));
        assert_eq!(a.client.ip, Some("203.0.113.7".parse().unwrap()));
        let Record::Exchange(b) = &out[1] else {
            panic!()
        };
        assert_eq!(b.account_id, "acct_2");
        assert_eq!(b.usage.input_tokens, Some(7));
        assert_eq!(b.usage.output_tokens, Some(9));
        assert_eq!(b.request.last_user_text(), Some("Hi"));
        assert_eq!(
            rejects,
            vec![(
                Some(3),
                "span: no account id (account.id, user.id or enduser.id attribute)".into()
            )]
        );
    }
}
