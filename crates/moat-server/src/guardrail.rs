//! LiteLLM's Generic Guardrail API (`POST /beta/litellm_basic_guardrail_api`): a LiteLLM
//! proxy configured with `guardrail: generic_guardrail_api` asks moat before each call and
//! gets `BLOCKED` or `NONE`.

use std::collections::HashMap;

use moat_core::{Client, Message, Request, Role};
use serde::{Deserialize, Serialize};

use crate::config::Action;
use crate::decide::{CheckRequest, Decision};

/// What LiteLLM sends (the fields moat reads; others are ignored).
#[derive(Debug, Default, Deserialize)]
pub struct GuardrailRequest {
    /// `request` (before the call) or `response` (after it).
    pub input_type: String,
    /// The texts of the request.
    #[serde(default)]
    pub texts: Option<Vec<String>>,
    /// The chat messages of the request, as OpenAI writes them.
    #[serde(default)]
    pub structured_messages: Option<Vec<serde_json::Value>>,
    /// Who is calling.
    #[serde(default)]
    pub request_data: Caller,
    /// The inbound request's headers, as LiteLLM sanitises them.
    #[serde(default)]
    pub request_headers: Option<HashMap<String, String>>,
    /// The model asked for.
    #[serde(default)]
    pub model: Option<String>,
    /// The tools offered to the model.
    #[serde(default)]
    pub tools: Option<Vec<serde_json::Value>>,
}

/// LiteLLM's description of the caller.
#[derive(Debug, Default, Deserialize)]
pub struct Caller {
    /// The hash of the virtual key used.
    #[serde(default)]
    pub user_api_key_hash: Option<String>,
    /// The user the key belongs to.
    #[serde(default)]
    pub user_api_key_user_id: Option<String>,
    /// The team the key belongs to.
    #[serde(default)]
    pub user_api_key_team_id: Option<String>,
    /// The end user named in the request (`user`).
    #[serde(default)]
    pub user_api_key_end_user_id: Option<String>,
}

impl GuardrailRequest {
    /// The check this request stands for: the account is found as moat's LiteLLM log
    /// reader finds it (user, team, key hash, end user; never the master key), so
    /// guardrail decisions and ingested logs speak of the same accounts. `None` for responses and for requests
    /// that name no caller.
    pub fn into_check(self) -> Option<CheckRequest> {
        if self.input_type != "request" {
            return None;
        }
        let caller = self.request_data;
        let account_id = moat_io::litellm_account([
            caller.user_api_key_user_id.as_deref(),
            caller.user_api_key_team_id.as_deref(),
            caller.user_api_key_hash.as_deref(),
            caller.user_api_key_end_user_id.as_deref(),
        ])?
        .to_owned();
        let mut messages: Vec<Message> = self
            .structured_messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| serde_json::from_value(m).ok())
            .collect();
        let system = messages
            .iter()
            .position(|m| matches!(m.role, Role::System | Role::Developer))
            .map(|i| messages.remove(i).content);
        let prompt = (messages.is_empty())
            .then(|| self.texts.map(|t| t.join("\n")))
            .flatten();
        let user_agent = self
            .request_headers
            .as_ref()
            .and_then(|h| h.get("user-agent"))
            .filter(|ua| ua.as_str() != "[present]")
            .map(|ua| ua.as_str().into());
        Some(CheckRequest {
            account_id: account_id.into(),
            api_key_id: caller.user_api_key_hash.map(Into::into),
            model: self.model.map(Into::into),
            client: Client {
                user_agent,
                ..Client::default()
            },
            request: Request {
                system,
                prompt,
                messages,
                tools: self.tools.map(|t| t.len() as u32).filter(|&n| n > 0),
                ..Request::default()
            },
            ..CheckRequest::default()
        })
    }
}

/// moat's answer to LiteLLM.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct GuardrailResponse {
    /// `BLOCKED` or `NONE`.
    pub action: String,
    /// Why, when blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_reason: Option<String>,
}

impl GuardrailResponse {
    /// Let the call through.
    pub fn none() -> Self {
        Self {
            action: "NONE".into(),
            blocked_reason: None,
        }
    }
}

impl GuardrailResponse {
    /// The answer to a decision. Blocked and throttled requests are refused; LiteLLM has
    /// no challenge, so a challenged request goes through (the account stays on watch).
    /// The reason LiteLLM shows the caller names the campaign and signals only when
    /// `explain`; else the action and the decision's reference.
    pub fn of(d: &Decision, explain: bool) -> Self {
        match d.action {
            Action::Allow | Action::Challenge => Self::none(),
            Action::Block | Action::Throttle if !explain => Self {
                action: "BLOCKED".into(),
                blocked_reason: Some(format!("moat: {} ({})", d.action.as_str(), d.reference)),
            },
            Action::Block | Action::Throttle => Self {
                action: "BLOCKED".into(),
                blocked_reason: Some(format!(
                    "moat: {}{}: {}",
                    d.action.as_str(),
                    d.campaign_id
                        .as_deref()
                        .map(|c| format!(" (campaign {c})"))
                        .unwrap_or_default(),
                    d.reasons.join(", ")
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_caller_and_the_messages_as_the_log_reader_does() {
        let body = r#"{"input_type":"request","texts":["hi"],
            "structured_messages":[{"role":"system","content":"Reason step by step."},
                {"role":"user","content":[{"type":"text","text":"Fix this bug"}]}],
            "request_data":{"user_api_key_hash":"h1","user_api_key_team_id":"team-9"},
            "request_headers":{"user-agent":"sdk/1.0","authorization":"[present]"},
            "model":"m1","litellm_call_id":"c1"}"#;
        let request: GuardrailRequest = serde_json::from_str(body).unwrap();
        let check = request.into_check().unwrap();
        assert_eq!(check.account_id, "team-9");
        assert_eq!(check.api_key_id.as_deref(), Some("h1"));
        assert_eq!(
            check.request.system.as_deref(),
            Some("Reason step by step.")
        );
        assert_eq!(check.request.messages.len(), 1);
        assert_eq!(check.request.messages[0].content, "Fix this bug");
        assert_eq!(check.client.user_agent.as_deref(), Some("sdk/1.0"));
        let response: GuardrailRequest = serde_json::from_str(
            r#"{"input_type":"response","request_data":{"user_api_key_hash":"h"}}"#,
        )
        .unwrap();
        assert!(response.into_check().is_none());
        let master: GuardrailRequest = serde_json::from_str(
            r#"{"input_type":"request","request_data":{"user_api_key_hash":"litellm_proxy_master_key",
                "user_api_key_user_id":"default_user_id","user_api_key_end_user_id":"acct_7"}}"#,
        )
        .unwrap();
        assert_eq!(master.into_check().unwrap().account_id, "acct_7");
        let anonymous: GuardrailRequest =
            serde_json::from_str(r#"{"input_type":"request","request_data":{}}"#).unwrap();
        assert!(anonymous.into_check().is_none());
    }

    #[test]
    fn refuses_blocks_and_throttles_only() {
        let d = |action| Decision {
            action,
            score: 0.9,
            campaign_id: Some("campaign-1".into()),
            reasons: vec!["linked_accounts".into()],
            reference: "ref-0123456789abcdef".into(),
        };
        let explained = GuardrailResponse::of(&d(Action::Block), true);
        assert_eq!(explained.action, "BLOCKED");
        assert!(explained.blocked_reason.unwrap().contains("campaign-1"));
        // By default the caller learns the action and the reference, not the evidence.
        let terse = GuardrailResponse::of(&d(Action::Block), false)
            .blocked_reason
            .unwrap();
        assert_eq!(terse, "moat: block (ref-0123456789abcdef)");
        assert_eq!(
            GuardrailResponse::of(&d(Action::Throttle), false).action,
            "BLOCKED"
        );
        for explain in [false, true] {
            assert_eq!(
                GuardrailResponse::of(&d(Action::Challenge), explain),
                GuardrailResponse::none()
            );
            assert_eq!(
                GuardrailResponse::of(&d(Action::Allow), explain),
                GuardrailResponse::none()
            );
        }
    }
}
