//! The exchange record: one request to a model API and what came back (exchange v1).
//!
//! The serde form of these types is the wire format of exchange v1: nested objects
//! `client`, `account`, `request`, `usage` and `response`; unknown fields ignored; a
//! missing or `null` optional field means "not known".

use std::borrow::Cow;
use std::net::IpAddr;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize};

use crate::time::EventTime;

/// One exchange with a model API, as moat reads it from any log format.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Exchange {
    /// When the request arrived.
    pub ts: EventTime,
    /// The billing account that was charged (opaque).
    pub account_id: CompactString,
    /// Unique id of the exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<CompactString>,
    /// The organisation the account belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<CompactString>,
    /// Which key of the account was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<CompactString>,
    /// Groups the turns of one conversation (`gen_ai.conversation.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<CompactString>,
    /// The model asked for (`gen_ai.request.model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<CompactString>,
    /// Where the request came from.
    #[serde(default, skip_serializing_if = "Client::is_empty")]
    pub client: Client,
    /// What is known of the account, as joined logs repeat it on every record.
    #[serde(default, skip_serializing_if = "AccountInfo::is_empty")]
    pub account: AccountInfo,
    /// What was asked.
    #[serde(default, skip_serializing_if = "Request::is_empty")]
    pub request: Request,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Usage::is_empty")]
    pub usage: Usage,
    /// What came back.
    #[serde(default, skip_serializing_if = "Response::is_empty")]
    pub response: Response,
}

impl Exchange {
    /// Drops every text the exchange carries (system prompt, prompt, messages, answer),
    /// keeping everything else: what is left once [`analyse`](crate::content::analyse) has
    /// read the text.
    pub fn drop_text(&mut self) {
        self.request.system = None;
        self.request.prompt = None;
        self.request.messages = Vec::new();
        self.response.text = None;
    }
}

/// The network client of an exchange, as the API edge saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Client {
    /// Source address.
    #[serde(
        default,
        deserialize_with = "ip_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip: Option<IpAddr>,
    /// Autonomous system of `ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// ISO 3166-1 alpha-2 country of `ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<CompactString>,
    /// HTTP User-Agent (SDK name and version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<CompactString>,
    /// JA3/JA4-style TLS client fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<CompactString>,
}

impl Client {
    /// True when nothing is known of the client.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What is known of a billing account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountInfo {
    /// When the account was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<EventTime>,
    /// How the account was opened: `self_serve`, `education`, `startup`, `research`,
    /// `enterprise`, `reseller`, or another word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signup_channel: Option<CompactString>,
    /// Domain of the account's e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_domain: Option<CompactString>,
    /// Opaque fingerprint of the payment instrument (never the card number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_fingerprint: Option<CompactString>,
    /// Whether identity or organisation verification passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

impl AccountInfo {
    /// True when nothing is known of the account.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Overwrites each field known in `newer` (later records win, field by field).
    pub fn update(&mut self, newer: &AccountInfo) {
        fn take<T: Clone>(slot: &mut Option<T>, newer: &Option<T>) {
            if newer.is_some() {
                slot.clone_from(newer);
            }
        }
        take(&mut self.created_at, &newer.created_at);
        take(&mut self.signup_channel, &newer.signup_channel);
        take(&mut self.email_domain, &newer.email_domain);
        take(&mut self.payment_fingerprint, &newer.payment_fingerprint);
        take(&mut self.verified, &newer.verified);
    }
}

/// The request sent to the model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Request {
    /// The system prompt (`gen_ai.system_instructions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The last user message, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The whole message list; empty when not logged.
    #[serde(
        default,
        deserialize_with = "messages_opt",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<Message>,
    /// How many tool definitions the request carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<u32>,
    /// `gen_ai.request.max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// `gen_ai.request.temperature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Whether extended thinking / reasoning was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
}

impl Request {
    /// True when nothing is known of the request.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The last user turn: `prompt` if given, else the last user message.
    pub fn last_user_text(&self) -> Option<&str> {
        self.prompt.as_deref().or_else(|| {
            self.messages
                .iter()
                .rev()
                .find(|m| m.role == Role::User)
                .map(|m| m.content.as_str())
        })
    }

    /// The system prompt: `system` if given, else the first system or developer message.
    pub fn system_text(&self) -> Option<&str> {
        self.system.as_deref().or_else(|| {
            self.messages
                .iter()
                .find(|m| matches!(m.role, Role::System | Role::Developer))
                .map(|m| m.content.as_str())
        })
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from the application (`system`).
    System,
    /// Instructions from the developer (`developer`, OpenAI's newer name for `system`).
    Developer,
    /// The user.
    #[default]
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
    /// Any other role.
    Other,
}

impl Role {
    /// Reads a role name; unknown names are [`Role::Other`].
    pub fn from_name(name: &str) -> Self {
        match name {
            "system" => Self::System,
            "developer" => Self::Developer,
            "user" | "human" => Self::User,
            "assistant" | "model" | "ai" => Self::Assistant,
            "tool" | "function" | "ipython" => Self::Tool,
            _ => Self::Other,
        }
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::from_name(&name))
    }
}

/// One message of a request, its content flattened to text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text; the text parts of a multi-part content joined by newlines.
    pub content: String,
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            role: Option<Role>,
            #[serde(default)]
            content: Option<Content>,
        }
        let wire = Wire::deserialize(deserializer)?;
        Ok(Message {
            role: wire.role.unwrap_or(Role::Other),
            content: wire.content.map(Content::into_text).unwrap_or_default(),
        })
    }
}

/// Message content as OpenAI-style APIs send it: a string, or an array of typed parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// The text parts of an array of parts (others, such as images, are skipped).
    Parts(Vec<String>),
}

impl Content {
    /// The content as one text, parts joined by newlines.
    pub fn into_text(self) -> String {
        match self {
            Content::Text(text) => text,
            Content::Parts(parts) => parts.join("\n"),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{self, SeqAccess, Visitor};

        #[derive(Deserialize)]
        struct Part {
            #[serde(default)]
            text: Option<String>,
        }

        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::Parts(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element::<PartOrText>()? {
                    match part {
                        PartOrText::Text(t) | PartOrText::Part(Part { text: Some(t) }) => {
                            parts.push(t)
                        }
                        PartOrText::Part(Part { text: None }) => {}
                    }
                }
                Ok(Content::Parts(parts))
            }
        }

        #[derive(Deserialize)]
        #[serde(untagged)]
        enum PartOrText {
            Text(String),
            Part(Part),
        }

        deserializer.deserialize_any(ContentVisitor)
    }
}

/// Token counts of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// `gen_ai.usage.input_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// `gen_ai.usage.output_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// `gen_ai.usage.reasoning.output_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// True when no count is known.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What the model sent back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Response {
    /// The model's answer (often not logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `gen_ai.response.finish_reasons[0]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<CompactString>,
}

impl Response {
    /// True when nothing is known of the response.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What is known of one account, given apart from its exchanges
/// (`{"account_id": ..., "account": {...}}` records).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The account.
    pub account_id: CompactString,
    /// What is known of it.
    pub account: AccountInfo,
}

/// One record of an input: an exchange, or facts about an account.
///
/// Nearly every record is an exchange, so exchanges are kept inline rather than boxed: a
/// batch of records is one allocation, not one per record.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Record {
    /// An exchange.
    Exchange(Exchange),
    /// Account facts given apart from the exchanges.
    Account(AccountRecord),
}

impl Record {
    /// The account the record is about.
    pub fn account_id(&self) -> &str {
        match self {
            Record::Exchange(e) => &e.account_id,
            Record::Account(a) => &a.account_id,
        }
    }
}

fn ip_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<IpAddr>, D::Error> {
    let Some(text) = Option::<Cow<'de, str>>::deserialize(deserializer)? else {
        return Ok(None);
    };
    parse_ip(&text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("invalid IP address {text:?}")))
}

/// Reads an IPv4 or IPv6 address, also in the bracketed (`[::1]`) or zone-less forms logs
/// write; `None` if it is not one.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let trimmed = text.trim().trim_start_matches('[').trim_end_matches(']');
    trimmed.parse().ok()
}

fn messages_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Message>, D::Error> {
    Ok(Option::<Vec<Message>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_info_update_keeps_known_fields() {
        let mut info = AccountInfo {
            signup_channel: Some("education".into()),
            verified: Some(false),
            ..Default::default()
        };
        info.update(&AccountInfo {
            verified: Some(true),
            email_domain: Some("example.edu".into()),
            ..Default::default()
        });
        assert_eq!(info.signup_channel.as_deref(), Some("education"));
        assert_eq!(info.verified, Some(true));
        assert_eq!(info.email_domain.as_deref(), Some("example.edu"));
    }

    #[test]
    fn last_user_text_prefers_prompt_then_last_user_message() {
        let mut request = Request {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "be brief".into(),
                },
                Message {
                    role: Role::User,
                    content: "first".into(),
                },
                Message {
                    role: Role::Assistant,
                    content: "ok".into(),
                },
                Message {
                    role: Role::User,
                    content: "second".into(),
                },
            ],
            ..Default::default()
        };
        assert_eq!(request.last_user_text(), Some("second"));
        assert_eq!(request.system_text(), Some("be brief"));
        request.prompt = Some("given".into());
        assert_eq!(request.last_user_text(), Some("given"));
    }

    #[test]
    fn parses_ip_forms() {
        assert_eq!(
            parse_ip("203.0.113.7"),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            parse_ip("[2001:db8::1]"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_ip("not-an-ip"), None);
    }
}
