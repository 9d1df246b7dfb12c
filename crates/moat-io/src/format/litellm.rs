//! LiteLLM's `StandardLoggingPayload`, the object its loggers (the generic API logger among
//! them) send for every call.

use moat_core::{
    Client, CompactString, Exchange, Record, Request, Response, Usage, exchange::parse_ip,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::loose::{LooseTime, messages_of, text_of, uint_of};
use super::{Reason, parse, require_account};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Payload {
    id: Option<CompactString>,
    #[serde(rename = "startTime")]
    start_time: Option<LooseTime>,
    model: Option<CompactString>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    metadata: Option<Metadata>,
    end_user: Option<String>,
    requester_ip_address: Option<String>,
    user_agent: Option<CompactString>,
    messages: Option<Value>,
    response: Option<Value>,
    model_parameters: Option<Parameters>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    user_api_key_hash: Option<CompactString>,
    user_api_key_user_id: Option<String>,
    user_api_key_team_id: Option<String>,
    user_api_key_org_id: Option<CompactString>,
    user_api_key_end_user_id: Option<String>,
    requester_ip_address: Option<String>,
    requester_metadata: Option<Value>,
    user_agent: Option<CompactString>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Parameters {
    max_tokens: Option<Value>,
    max_completion_tokens: Option<Value>,
    temperature: Option<f64>,
    tools: Option<Vec<IgnoredAny>>,
    reasoning_effort: Option<Value>,
    thinking: Option<Value>,
}

/// The answer's text and finish reason, from a string or an OpenAI-style response object.
fn response_of(value: &Value) -> Response {
    match value {
        Value::Object(o) => {
            let choice = o.get("choices").and_then(|c| c.get(0));
            Response {
                text: choice
                    .and_then(|c| c.get("message").or_else(|| c.get("text")))
                    .and_then(text_of)
                    .or_else(|| o.get("content").and_then(text_of)),
                finish_reason: choice
                    .and_then(|c| c.get("finish_reason"))
                    .and_then(Value::as_str)
                    .map(CompactString::from),
            }
        }
        Value::Array(items) => items.first().map(response_of).unwrap_or_default(),
        other => Response {
            text: text_of(other),
            finish_reason: None,
        },
    }
}

/// The names LiteLLM gives its own master key where a virtual key would name a user and
/// a key: not accounts.
const MASTER_KEY_NAMES: [&str; 2] = ["default_user_id", "litellm_proxy_master_key"];

/// The account a LiteLLM caller stands for: the first of `candidates` (in moat's order: the
/// key's user, its team, the key's hash, the end user) that is set and is not one of
/// LiteLLM's names for its master key, so that requests made with the master key on behalf
/// of end users (`user` in the request) are the end users'.
pub fn account_of<'a>(candidates: impl IntoIterator<Item = Option<&'a str>>) -> Option<&'a str> {
    candidates
        .into_iter()
        .flatten()
        .find(|id| !id.trim().is_empty() && !MASTER_KEY_NAMES.contains(id))
}

pub(super) fn decode(bytes: &[u8]) -> Result<Record, Reason> {
    let p: Payload = parse(bytes)?;
    let ts = p.start_time.ok_or("no startTime")?;
    let meta = p.metadata.unwrap_or_default();
    let account_id = require_account(
        account_of([
            meta.user_api_key_user_id.as_deref(),
            meta.user_api_key_team_id.as_deref(),
            meta.user_api_key_hash.as_deref(),
            p.end_user.as_deref(),
            meta.user_api_key_end_user_id.as_deref(),
        ]),
        "metadata.user_api_key_user_id, user_api_key_team_id, user_api_key_hash or end_user",
    )?;
    let user_agent = meta
        .requester_metadata
        .as_ref()
        .and_then(|m| m.get("user_agent").or_else(|| m.get("user-agent")))
        .and_then(Value::as_str)
        .map(CompactString::from)
        .or(meta.user_agent)
        .or(p.user_agent);
    let params = p.model_parameters.unwrap_or_default();
    let reasoning = match (&params.reasoning_effort, &params.thinking) {
        (Some(Value::String(effort)), _) => Some(!matches!(effort.as_str(), "none" | "minimal")),
        (_, Some(Value::Object(t))) => {
            Some(t.get("type").and_then(Value::as_str) != Some("disabled"))
        }
        _ => None,
    };
    Ok(Record::Exchange(Exchange {
        ts: ts.0,
        account_id,
        request_id: p.id,
        org_id: meta.user_api_key_org_id,
        api_key_id: meta.user_api_key_hash,
        conversation_id: None,
        model: p.model,
        client: Client {
            ip: p
                .requester_ip_address
                .as_deref()
                .or(meta.requester_ip_address.as_deref())
                .and_then(parse_ip),
            user_agent,
            ..Client::default()
        },
        account: Default::default(),
        request: Request {
            messages: p.messages.as_ref().map(messages_of).unwrap_or_default(),
            tools: params
                .tools
                .as_ref()
                .map(|t| t.len().try_into().unwrap_or(u32::MAX)),
            max_tokens: params
                .max_completion_tokens
                .as_ref()
                .or(params.max_tokens.as_ref())
                .and_then(uint_of),
            temperature: params.temperature,
            reasoning,
            ..Request::default()
        },
        usage: Usage {
            input_tokens: p.prompt_tokens,
            output_tokens: p.completion_tokens,
            reasoning_tokens: None,
        },
        response: p.response.as_ref().map(response_of).unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_core::EventTime;

    const PAYLOAD: &str = r#"{"id":"chatcmpl-abc","trace_id":"t1","call_type":"acompletion","response_cost":0.0012,"status":"success","total_tokens":30,"prompt_tokens":10,"completion_tokens":20,"startTime":1714000000.25,"endTime":1714000001.5,"completionStartTime":1714000000.9,"model":"claude-x","model_id":"dep-1","model_group":"claude-x","api_base":"https://api.example.com","metadata":{"user_api_key_hash":"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b","user_api_key_alias":null,"user_api_key_org_id":"org_7","user_api_key_team_id":"team_3","user_api_key_user_id":"user_42","user_api_key_team_alias":null,"spend_logs_metadata":null,"requester_ip_address":"192.0.2.10","requester_metadata":{"user_agent":"litellm-sdk/1.0"}},"cache_hit":false,"cache_key":null,"saved_cache_cost":0.0,"request_tags":[],"end_user":"enduser-9","requester_ip_address":"192.0.2.10","messages":[{"role":"user","content":"Grade this answer against the rubric."}],"response":{"id":"chatcmpl-abc","object":"chat.completion","choices":[{"finish_reason":"stop","index":0,"message":{"content":"Score: 7/10","role":"assistant"}}],"usage":{"prompt_tokens":10,"completion_tokens":20}},"model_parameters":{"max_tokens":"512","temperature":0.0,"tools":[{"type":"function"}],"reasoning_effort":"medium"},"hidden_params":{"model_id":"dep-1"},"error_str":null}"#;

    #[test]
    fn reads_a_standard_logging_payload() {
        let Record::Exchange(e) = decode(PAYLOAD.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            e.ts,
            EventTime::from_unix_micros(1_714_000_000_250_000).unwrap()
        );
        assert_eq!(e.account_id, "user_42");
        assert_eq!(e.org_id.as_deref(), Some("org_7"));
        assert!(e.api_key_id.as_deref().unwrap().starts_with("88dc28"));
        assert_eq!(e.client.ip, Some("192.0.2.10".parse().unwrap()));
        assert_eq!(e.client.user_agent.as_deref(), Some("litellm-sdk/1.0"));
        assert_eq!(
            e.request.last_user_text(),
            Some("Grade this answer against the rubric.")
        );
        assert_eq!(e.request.max_tokens, Some(512));
        assert_eq!(e.request.tools, Some(1));
        assert_eq!(e.request.reasoning, Some(true));
        assert_eq!(e.usage.output_tokens, Some(20));
        assert_eq!(e.response.text.as_deref(), Some("Score: 7/10"));
        assert_eq!(e.response.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn the_master_key_is_not_an_account() {
        let payload = r#"{"startTime":1714000000,"model":"m","end_user":"acct_9","metadata":{"user_api_key_hash":"litellm_proxy_master_key","user_api_key_user_id":"default_user_id","user_agent":"curl/8"}}"#;
        let Record::Exchange(e) = decode(payload.as_bytes()).unwrap() else {
            panic!("an exchange")
        };
        assert_eq!(e.account_id, "acct_9");
        assert_eq!(e.client.user_agent.as_deref(), Some("curl/8"));
    }

    #[test]
    fn account_falls_back_to_team_key_and_end_user() {
        let p =
            r#"{"startTime":1714000000,"model":"m","metadata":{"user_api_key_team_id":"team_3"}}"#;
        assert_eq!(decode(p.as_bytes()).unwrap().account_id(), "team_3");
        let p = r#"{"startTime":1714000000,"model":"m","metadata":{},"end_user":"eu"}"#;
        assert_eq!(decode(p.as_bytes()).unwrap().account_id(), "eu");
        let p = r#"{"startTime":1714000000,"model":"m","messages":"just text"}"#;
        assert!(
            decode(p.as_bytes())
                .unwrap_err()
                .text
                .contains("no account id")
        );
        let p = r#"{"model":"m","metadata":{"user_api_key_user_id":"u"}}"#;
        assert!(decode(p.as_bytes()).unwrap_err().text.contains("startTime"));
    }
}
