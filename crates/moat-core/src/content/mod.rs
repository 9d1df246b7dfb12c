//! Content signals of one exchange: what it asks the model to do, which capabilities it
//! targets, and fingerprints of its template. Computed once per exchange from the text,
//! which is then dropped; only these signals are kept.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::exchange::{Request, Role};

mod phrases;
mod signature;

use phrases::marks;
pub use signature::{SIGNATURE_BINS, Signature, signature};
use signature::{TOPIC_WORDS, is_function_word, signature_and};

/// Capabilities a request targets, as bit flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Capabilities(u8);

impl Capabilities {
    /// Software engineering: code, repositories, tests.
    pub const SOFTWARE: Self = Self(1);
    /// Agentic work: tools, plans, actions.
    pub const AGENTIC: Self = Self(2);
    /// Mathematics and formal reasoning.
    pub const MATHS: Self = Self(4);
    /// Long-horizon, multi-step tasks.
    pub const LONG_HORIZON: Self = Self(8);

    /// True when every flag of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The flags as a number (0 to 15).
    pub fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for Capabilities {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// Everything moat keeps of an exchange's text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContentSignals {
    /// The request's text asks the model to write out its reasoning (the extended-thinking
    /// switch is not an ask: it is counted with heavy requests).
    pub reasoning_ask: bool,
    /// The request uses the model as a grader or reward model.
    pub grading_ask: bool,
    /// The capabilities the request targets.
    pub capabilities: Capabilities,
    /// Hash of the normalised system prompt, if there is one.
    pub system_hash: Option<u64>,
    /// Signature of the last user turn's template, if there is text.
    pub signature: Option<Signature>,
    /// The request carries earlier turns of a conversation (it is not one-shot).
    pub earlier_turns: bool,
    /// What the prompt is about, as a sketch: bit `k` is set when one of its first content
    /// words falls in topic bucket `k` ([`TOPIC_BUCKETS`]). Accounts drawing their prompts
    /// from one task list set the buckets alike, however each words its requests.
    #[serde(default)]
    pub topics: u16,
}

/// How many topic buckets a prompt's content words are hashed into.
pub const TOPIC_BUCKETS: usize = 16;

/// Collapses white space and case, so that trivially different copies of one system prompt
/// hash alike: the hash of the lowercased words joined by single spaces, streamed without
/// building the joined text.
fn normalised_hash(text: &str) -> u64 {
    let mut hasher = Xxh3::new();
    let mut buf = [0u8; 64];
    for (n, word) in text.split_whitespace().enumerate() {
        if n > 0 {
            hasher.update(b" ");
        }
        if word.is_ascii() && word.len() <= buf.len() {
            let lower = &mut buf[..word.len()];
            lower.copy_from_slice(word.as_bytes());
            lower.make_ascii_lowercase();
            hasher.update(lower);
        } else {
            let lower: String = word.chars().flat_map(char::to_lowercase).collect();
            hasher.update(lower.as_bytes());
        }
    }
    hasher.digest()
}

/// What a system prompt marks ([`marks`]) and its [`normalised_hash`], remembered by the
/// hash of its exact text: most traffic repeats a handful of system prompts, so each
/// thread reads each one once.
fn system_facts(text: &str) -> SystemFacts {
    const REMEMBERED: usize = 4096;
    thread_local! {
        static SEEN: RefCell<HashMap<u64, SystemFacts>> = RefCell::default();
    }
    let hash = xxh3_64(text.as_bytes());
    SEEN.with_borrow_mut(|seen| {
        if let Some(&facts) = seen.get(&hash) {
            return facts;
        }
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        let (reasoning, grading, capabilities) = marks(text);
        let asks = crate::asks::model().asks(text);
        let facts = SystemFacts {
            marks: (
                reasoning || asks.reasoning,
                grading || asks.grading,
                capabilities,
            ),
            hash: normalised_hash(text),
        };
        seen.insert(hash, facts);
        facts
    })
}

/// What [`system_facts`] remembers of a system prompt.
#[derive(Debug, Clone, Copy)]
struct SystemFacts {
    marks: (bool, bool, Capabilities),
    hash: u64,
}

/// What one reading of a prompt's words gives: its signature, what the ask model finds in
/// it, and its topic buckets.
fn prompt_facts(text: &str) -> (Option<Signature>, crate::asks::Asks, u16) {
    let mut topics = 0u16;
    let mut content_words = 0;
    let signature = signature_and(text, |w| {
        if content_words < TOPIC_WORDS && !is_function_word(w) {
            content_words += 1;
            topics |= 1 << ((w >> 60) as usize % TOPIC_BUCKETS);
        }
    });
    (signature, crate::asks::model().asks(text), topics)
}

/// The content signals of a request.
pub fn analyse(request: &Request) -> ContentSignals {
    let system = request.system_text();
    let prompt = request.last_user_text();
    let system = system.map(system_facts);
    let (mut reasoning_ask, mut grading_ask, mut capabilities) =
        system.map_or((false, false, Capabilities::default()), |s| s.marks);
    let mut signature = None;
    let mut topics = 0;
    if let Some(text) = prompt {
        let (r, g, c) = marks(text);
        let (s, asks, t) = prompt_facts(text);
        topics = t;
        reasoning_ask |= r || asks.reasoning;
        grading_ask |= g || asks.grading;
        capabilities = capabilities | c;
        signature = s;
    }
    if request.tools.is_some_and(|n| n > 0) {
        capabilities = capabilities | Capabilities::AGENTIC;
    }
    let turns = request
        .messages
        .iter()
        .filter(|m| matches!(m.role, Role::User | Role::Assistant | Role::Tool))
        .count();
    ContentSignals {
        reasoning_ask,
        grading_ask,
        capabilities,
        system_hash: system.map(|s| s.hash),
        signature,
        earlier_turns: turns > 1,
        topics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Message;

    #[test]
    fn system_prompt_hash_is_that_of_the_normalised_text() {
        // Partners' bundles carry these hashes: the streamed hash must stay the hash of
        // the lowercased words joined by single spaces.
        let joined = |text: &str| {
            let words: Vec<String> = text
                .split_whitespace()
                .map(|w| w.chars().flat_map(char::to_lowercase).collect())
                .collect();
            xxh3_64(words.join(" ").as_bytes())
        };
        let long = "x".repeat(100);
        for text in [
            "",
            "   ",
            "You are a helpful assistant.",
            "  You ARE\ta\n\nhelpful   ASSISTANT. ",
            "Ты — ПОЛЕЗНЫЙ помощник. ΣΟΦΟΣ",
            &format!("word {long} Straße {long}é"),
        ] {
            assert_eq!(normalised_hash(text), joined(text), "{text:?}");
        }
        assert_eq!(
            normalised_hash("You are  a helpful\nassistant"),
            normalised_hash("you are a HELPFUL assistant")
        );
    }

    fn request(system: Option<&str>, prompt: &str) -> Request {
        Request {
            system: system.map(str::to_owned),
            prompt: Some(prompt.to_owned()),
            ..Request::default()
        }
    }

    #[test]
    fn reasoning_asks_in_many_phrasings() {
        for text in [
            "Solve this. Think step by step.",
            "Please SHOW YOUR WORK and give the answer.",
            "Walk me through your reasoning before you conclude.",
            "Let's think about it carefully.",
            "Provide your chain-of-thought.",
        ] {
            assert!(analyse(&request(None, text)).reasoning_ask, "{text}");
        }
        assert!(analyse(&request(Some("Always reason step by step."), "hi")).reasoning_ask);
        assert!(!analyse(&request(None, "What is the capital of France?")).reasoning_ask);
    }

    #[test]
    fn grading_asks() {
        assert!(
            analyse(&request(
                None,
                "Grade the response below against the rubric."
            ))
            .grading_ask
        );
        assert!(
            analyse(&request(
                None,
                "On a scale of 1 to 10, how good is this essay?"
            ))
            .grading_ask
        );
        assert!(!analyse(&request(None, "Write an essay about rivers.")).grading_ask);
    }

    #[test]
    fn capabilities() {
        let c = analyse(&request(
            None,
            "Refactor this Python function and add a unit test.",
        ))
        .capabilities;
        assert!(c.contains(Capabilities::SOFTWARE));
        assert!(!c.contains(Capabilities::MATHS));
        let mut tools = request(None, "Book me a table.");
        tools.tools = Some(3);
        assert!(analyse(&tools).capabilities.contains(Capabilities::AGENTIC));
        assert!(
            analyse(&request(
                None,
                "Prove that there are infinitely many primes."
            ))
            .capabilities
            .contains(Capabilities::MATHS)
        );
    }

    #[test]
    fn system_prompts_hash_alike_up_to_case_and_spaces() {
        let a = analyse(&request(Some("You are  a helpful\nassistant."), "x")).system_hash;
        let b = analyse(&request(Some("you are a helpful assistant."), "x")).system_hash;
        let c = analyse(&request(Some("You are a pirate."), "x")).system_hash;
        assert_eq!(a, b);
        assert_ne!(a, c);
        let from_messages = Request {
            messages: vec![Message {
                role: Role::System,
                content: "You are a helpful assistant.".into(),
            }],
            ..Request::default()
        };
        assert_eq!(analyse(&from_messages).system_hash, b);
    }
}
