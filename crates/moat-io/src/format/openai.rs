//! OpenAI-style request logs: a chat completion request (and optionally its response) with
//! the caller's `user`, as many gateways log them, flat or as `{request, response}` bodies.

use moat_core::{
    Client, CompactString, Exchange, Record, Request, Response, Usage, exchange::parse_ip,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::loose::{LooseTime, messages_of, text_of};
use super::{Reason, parse, require_account};

/// One log object. The same shape serves the flat form and the nested bodies: a field is
/// taken from the top level first, then from `request`/`body`, then from `response`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Log {
    ts: Option<LooseTime>,
    timestamp: Option<LooseTime>,
    created_at: Option<LooseTime>,
    created: Option<LooseTime>,
    account_id: Option<CompactString>,
    user: Option<CompactString>,
    request_id: Option<CompactString>,
    id: Option<CompactString>,
    org_id: Option<CompactString>,
    organization: Option<CompactString>,
    api_key_id: Option<CompactString>,
    conversation_id: Option<CompactString>,
    model: Option<CompactString>,
    messages: Option<Value>,
    tools: Option<Vec<IgnoredAny>>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f64>,
    reasoning_effort: Option<String>,
    reasoning: Option<Value>,
    usage: Option<OpenAiUsage>,
    choices: Option<Vec<Choice>>,
    ip: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<CompactString>,
    request: Option<Box<Log>>,
    body: Option<Box<Log>>,
    response: Option<Box<Log>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    completion_tokens_details: Option<Details>,
    output_tokens_details: Option<Details>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Details {
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Choice {
    message: Option<Value>,
    text: Option<String>,
    finish_reason: Option<CompactString>,
}

/// The first of the layers (top level, request body, response body) that has a field.
fn first<'a, T>(layers: &[&'a Log], get: impl Fn(&'a Log) -> Option<T>) -> Option<T> {
    layers.iter().find_map(|l| get(l))
}

pub(super) fn decode(bytes: &[u8]) -> Result<Record, Reason> {
    let log: Log = parse(bytes)?;
    let mut layers: Vec<&Log> = vec![&log];
    layers.extend(log.request.as_deref().or(log.body.as_deref()));
    layers.extend(log.response.as_deref());

    let ts = first(&layers, |l| {
        l.ts.or(l.timestamp).or(l.created_at).or(l.created)
    })
    .ok_or("no time (ts, timestamp, created_at or created)")?;
    let account_id = require_account(
        first(&layers, |l| l.account_id.clone().or_else(|| l.user.clone())),
        "account_id or user",
    )?;
    let usage = first(&layers, |l| l.usage.as_ref());
    let choice = first(&layers, |l| l.choices.as_ref().and_then(|c| c.first()));
    let reasoning_effort = first(&layers, |l| l.reasoning_effort.as_deref());
    let reasoning = first(&layers, |l| l.reasoning.as_ref());

    Ok(Record::Exchange(Exchange {
        ts: ts.0,
        account_id,
        request_id: first(&layers, |l| l.request_id.clone().or_else(|| l.id.clone())),
        org_id: first(&layers, |l| {
            l.org_id.clone().or_else(|| l.organization.clone())
        }),
        api_key_id: first(&layers, |l| l.api_key_id.clone()),
        conversation_id: first(&layers, |l| l.conversation_id.clone()),
        model: first(&layers, |l| l.model.clone()),
        client: Client {
            ip: first(&layers, |l| {
                l.ip.as_deref()
                    .or(l.client_ip.as_deref())
                    .and_then(parse_ip)
            }),
            user_agent: first(&layers, |l| l.user_agent.clone()),
            ..Client::default()
        },
        account: Default::default(),
        request: Request {
            messages: first(&layers, |l| l.messages.as_ref())
                .map(messages_of)
                .unwrap_or_default(),
            tools: first(&layers, |l| l.tools.as_ref())
                .map(|t| t.len().try_into().unwrap_or(u32::MAX)),
            max_tokens: first(&layers, |l| l.max_completion_tokens.or(l.max_tokens)),
            temperature: first(&layers, |l| l.temperature),
            reasoning: match (reasoning_effort, reasoning) {
                (Some(effort), _) => Some(!matches!(effort, "none" | "minimal")),
                (None, Some(Value::Null)) | (None, None) => None,
                (None, Some(_)) => Some(true),
            },
            ..Request::default()
        },
        usage: Usage {
            input_tokens: usage.and_then(|u| u.prompt_tokens.or(u.input_tokens)),
            output_tokens: usage.and_then(|u| u.completion_tokens.or(u.output_tokens)),
            reasoning_tokens: usage.and_then(|u| {
                u.completion_tokens_details
                    .as_ref()
                    .or(u.output_tokens_details.as_ref())
                    .and_then(|d| d.reasoning_tokens)
            }),
        },
        response: Response {
            text: choice.and_then(|c| {
                c.message
                    .as_ref()
                    .and_then(text_of)
                    .or_else(|| c.text.clone())
            }),
            finish_reason: choice.and_then(|c| c.finish_reason.clone()),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_core::{EventTime, Role};

    #[test]
    fn flat_log() {
        let line = r#"{"id":"chatcmpl-1","created":1714000000,"model":"gpt-x","user":"acct_1","messages":[{"role":"system","content":"Be exact."},{"role":"user","content":"Explain step by step."}],"max_completion_tokens":4000,"temperature":0.2,"tools":[{"type":"function"},{"type":"function"}],"reasoning_effort":"high","usage":{"prompt_tokens":12,"completion_tokens":340,"completion_tokens_details":{"reasoning_tokens":200}},"choices":[{"message":{"role":"assistant","content":"First..."},"finish_reason":"stop"}],"ip":"198.51.100.4"}"#;
        let Record::Exchange(e) = decode(line.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            e.ts,
            EventTime::from_unix_micros(1_714_000_000_000_000).unwrap()
        );
        assert_eq!(e.account_id, "acct_1");
        assert_eq!(e.request_id.as_deref(), Some("chatcmpl-1"));
        assert_eq!(e.request.system_text(), Some("Be exact."));
        assert_eq!(e.request.messages[1].role, Role::User);
        assert_eq!(e.request.tools, Some(2));
        assert_eq!(e.request.max_tokens, Some(4000));
        assert_eq!(e.request.reasoning, Some(true));
        assert_eq!(e.usage.input_tokens, Some(12));
        assert_eq!(e.usage.reasoning_tokens, Some(200));
        assert_eq!(e.response.text.as_deref(), Some("First..."));
        assert_eq!(e.response.finish_reason.as_deref(), Some("stop"));
        assert_eq!(e.client.ip, Some("198.51.100.4".parse().unwrap()));
    }

    #[test]
    fn nested_request_and_response() {
        let line = r#"{"timestamp":"2026-04-22T03:14:07Z","request":{"model":"m","user":"acct_2","messages":[{"role":"user","content":"hi"}],"max_tokens":100},"response":{"id":"r9","usage":{"prompt_tokens":1,"completion_tokens":2},"choices":[{"message":{"content":"hello"},"finish_reason":"length"}]}}"#;
        let Record::Exchange(e) = decode(line.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(e.account_id, "acct_2");
        assert_eq!(e.request_id.as_deref(), Some("r9"));
        assert_eq!(e.model.as_deref(), Some("m"));
        assert_eq!(e.request.max_tokens, Some(100));
        assert_eq!(e.usage.output_tokens, Some(2));
        assert_eq!(e.response.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn rejects_without_time_or_user() {
        let no_user = r#"{"created":1714000000,"messages":[]}"#;
        assert!(
            decode(no_user.as_bytes())
                .unwrap_err()
                .text
                .contains("no account id")
        );
        let no_time = r#"{"user":"u","messages":[]}"#;
        assert!(
            decode(no_time.as_bytes())
                .unwrap_err()
                .text
                .contains("no time")
        );
        let bad_time = r#"{"user":"u","created":"later","messages":[]}"#;
        assert!(decode(bad_time.as_bytes()).is_err());
    }
}
