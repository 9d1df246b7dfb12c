//! Content signals of one exchange: what it asks the model to do, which capabilities it
//! targets, and fingerprints of its template. Computed once per exchange from the text,
//! which is then dropped; only these signals are kept.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::automaton::Automaton;
use aho_corasick::{Anchored, MatchKind};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{Xxh3, xxh3_64, xxh3_64_with_seed};

use crate::exchange::{Request, Role};
use crate::words::words;

/// Phrasings that ask the model to write out its reasoning.
const REASONING_ASKS: &[&str] = &[
    "step by step",
    "step-by-step",
    "chain of thought",
    "chain-of-thought",
    "show your reasoning",
    "show your work",
    "show your thinking",
    "show every step",
    "show all steps",
    "explain your reasoning",
    "explain your thought process",
    "explain each step",
    "reason through",
    "reason about it",
    "think through",
    "think aloud",
    "think out loud",
    "thought process",
    "walk through your reasoning",
    "walk me through your reasoning",
    "lay out the reasoning",
    "full reasoning",
    "complete reasoning",
    "detailed reasoning",
    "reasoning trace",
    "reasoning steps",
    "let's think",
    "let us think",
    "think carefully before",
    "before answering, reason",
    "before you answer, think",
    "narrate your reasoning",
    "justify every",
    "justify each",
];

/// Phrasings that use the model as a judge or a reward model.
const GRADING_ASKS: &[&str] = &[
    "rubric",
    "grade the",
    "grade this",
    "score the",
    "score this",
    "rate the response",
    "rate this response",
    "rate the answer",
    "evaluate the following answer",
    "evaluate the response",
    "evaluate this answer",
    "on a scale of 1",
    "on a scale from 1",
    "from 1 to 10",
    "out of 10",
    "as a judge",
    "act as a strict grader",
    "expert evaluator",
    "which response is better",
    "compare the two responses",
    "assign a score",
    "assign a final grade",
    "reward model",
    "preference between",
];

/// Words that mark a capability being targeted.
const SOFTWARE: &[&str] = &[
    "function",
    "code",
    "implement",
    "refactor",
    "bug",
    "compile",
    "unit test",
    "repository",
    "api ",
    "endpoint",
    "```",
    "def ",
    "class ",
    "regex",
    "sql",
    "schema",
    "stack trace",
    "exception",
    "algorithm",
    "merge conflict",
    "pull request",
    "python",
    "rust",
    "javascript",
    "typescript",
    "java",
    "c++",
    "golang",
];
const AGENTIC: &[&str] = &[
    "tool",
    "agent",
    "autonomous",
    "browser",
    "terminal",
    "bash",
    "execute the",
    "call the",
    "function call",
    "available tools",
    "plan your",
    "next action",
    "observation:",
];
const MATHS: &[&str] = &[
    "prove",
    "proof",
    "integral",
    "integrate",
    "derivative",
    "equation",
    "theorem",
    "probability",
    "solve for",
    "eigenvalue",
    "matrix",
    "lemma",
    "calculate",
];
const LONG_HORIZON: &[&str] = &[
    "end to end",
    "end-to-end",
    "multi-step",
    "from scratch",
    "entire codebase",
    "whole project",
    "break the task",
    "long-running",
    "migrate",
];

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

/// How many bins the template signature has.
pub const SIGNATURE_BINS: usize = 16;

/// The seed a signature's shingles are hashed with. Frozen: partners' STIX bundles and
/// stored template bands hold signatures made with it, and signatures made with another
/// seed would match none of them.
const SHINGLE_SEED: u64 = 0x6d6f6174;

/// A one-permutation MinHash of a text's word shingles: two texts agree on a bin about as
/// often as their shingle sets overlap (Jaccard similarity), so texts cut from one template
/// collide however their slots are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Signature(pub [u32; SIGNATURE_BINS]);

impl Signature {
    /// The share of bins two signatures agree on (empty bins never agree).
    pub fn similarity(&self, other: &Signature) -> f64 {
        let same = self
            .0
            .iter()
            .zip(&other.0)
            .filter(|(a, b)| a == b && **a != u32::MAX)
            .count();
        same as f64 / SIGNATURE_BINS as f64
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
/// How many of a prompt's first content words mark its topic buckets.
const TOPIC_WORDS: usize = 12;

/// Words too common to say what a prompt is about (English function words), as hashes.
fn is_function_word(word: u64) -> bool {
    static WORDS: OnceLock<Vec<u64>> = OnceLock::new();
    WORDS
        .get_or_init(|| {
            let mut hashes = Vec::new();
            words(FUNCTION_WORDS, |w| hashes.push(w));
            hashes.push(0);
            hashes.sort_unstable();
            hashes.dedup();
            hashes
        })
        .binary_search(&word)
        .is_ok()
}

const FUNCTION_WORDS: &str = "a an the and or but if then else of to in on at by for with from \
    into onto about as is are was were be been being am do does did done have has had having \
    i me my mine we us our you your yours he him his she her it its they them their this that \
    these those what which who whom whose when where why how not no yes so than too very can \
    could should would will shall may might must just also only all any some each every more \
    most other such own same there here up down out over under again once please let s t";

/// What a text's phrases mark, as bits: the low four are [`Capabilities`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Marks(u8);

impl Marks {
    const REASONING: Self = Self(0x10);
    const GRADING: Self = Self(0x20);

    /// A reasoning ask, a grading ask, the capabilities targeted.
    fn parts(self) -> (bool, bool, Capabilities) {
        (
            self.0 & Self::REASONING.0 != 0,
            self.0 & Self::GRADING.0 != 0,
            Capabilities(self.0 & 0xf),
        )
    }
}

/// Every phrase list in one automaton, so each text is scanned once, and scanned without
/// stopping: a dense DFA of the phrases (ASCII case ignored), each state carrying the marks
/// of every phrase that ends on entering it, so a text's marks are those of the states it
/// passes through. The DFA is aho-corasick's, copied into a table sized for the cache:
/// bytes no state tells apart share a class, and a state is named by where its row starts.
struct Phrases {
    /// The class of each byte.
    classes: [u8; 256],
    /// The state entered from the state whose row starts at `s` on a byte of class `c`,
    /// at `s + c`; the start state's row starts at 0.
    next: Vec<u16>,
    /// The marks of the phrases that end on entering a state, at its row's start.
    marks: Vec<Marks>,
    /// The longest phrase's length less one: a stretch of text read from this many bytes
    /// before its start sees every phrase that ends in it.
    overlap: usize,
}

fn phrases() -> &'static Phrases {
    static PHRASES: OnceLock<Phrases> = OnceLock::new();
    PHRASES.get_or_init(|| {
        let groups: [(&[&str], Marks); 6] = [
            (REASONING_ASKS, Marks::REASONING),
            (GRADING_ASKS, Marks::GRADING),
            (SOFTWARE, Marks(Capabilities::SOFTWARE.0)),
            (AGENTIC, Marks(Capabilities::AGENTIC.0)),
            (MATHS, Marks(Capabilities::MATHS.0)),
            (LONG_HORIZON, Marks(Capabilities::LONG_HORIZON.0)),
        ];
        let (patterns, pattern_marks): (Vec<&str>, Vec<Marks>) = groups
            .iter()
            .flat_map(|&(words, mark)| words.iter().map(move |&w| (w, mark)))
            .unzip();
        let dfa = aho_corasick::dfa::DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("the phrase lists are valid patterns");
        Phrases::from_dfa(&dfa, &pattern_marks, patterns.iter().map(|p| p.len()).max())
    })
}

impl Phrases {
    /// Copies the states reachable from `dfa`'s unanchored start into a table.
    fn from_dfa(dfa: &impl Automaton, pattern_marks: &[Marks], longest: Option<usize>) -> Self {
        let start = dfa
            .start_state(Anchored::No)
            .expect("an unanchored search is supported");
        // Number the states in the order they are reached, with every byte's transition.
        let mut number = HashMap::from([(start, 0)]);
        let mut states = vec![start];
        let mut rows: Vec<[usize; 256]> = Vec::new();
        while let Some(&state) = states.get(rows.len()) {
            rows.push(std::array::from_fn(|byte| {
                let to = dfa.next_state(Anchored::No, state, byte as u8);
                *number.entry(to).or_insert_with(|| {
                    states.push(to);
                    states.len() - 1
                })
            }));
        }
        // Bytes whose transitions agree in every state share a class.
        let mut classes = [0u8; 256];
        let mut representatives: Vec<usize> = Vec::new();
        for byte in 0..256 {
            let same = |&r: &usize| rows.iter().all(|row| row[r] == row[byte]);
            classes[byte] = match representatives.iter().position(same) {
                Some(class) => class as u8,
                None => {
                    representatives.push(byte);
                    (representatives.len() - 1) as u8
                }
            };
        }
        let stride = representatives.len();
        let row_start = |state: usize| {
            u16::try_from(state * stride).expect("the phrase automaton fits 16-bit offsets")
        };
        let next = rows
            .iter()
            .flat_map(|row| representatives.iter().map(|&r| row_start(row[r])))
            .collect();
        let mut marks = vec![Marks::default(); rows.len() * stride];
        for (n, &state) in states.iter().enumerate() {
            if dfa.is_match(state) {
                marks[n * stride] = (0..dfa.match_len(state))
                    .map(|i| pattern_marks[dfa.match_pattern(state, i).as_usize()])
                    .fold(Marks::default(), |all, m| Marks(all.0 | m.0));
            }
        }
        Self {
            classes,
            next,
            marks,
            overlap: longest.unwrap_or(1).saturating_sub(1),
        }
    }

    /// The marks of the states `bytes` passes through from the start.
    fn walk(&self, bytes: &[u8]) -> Marks {
        let mut lane = Lane::default();
        for &b in bytes {
            lane.step(self, b);
        }
        lane.marks
    }

    /// What a text's phrases mark. A long text is read as two halves side by side (the
    /// second from `overlap` bytes early), so that the processor walks two independent
    /// chains of table lookups at once; every phrase ends in one of the halves and is seen
    /// by its lane.
    fn marks(&self, text: &str) -> Marks {
        let bytes = text.as_bytes();
        let half = bytes.len() / 2;
        if half <= 2 * self.overlap {
            return self.walk(bytes);
        }
        let (first, second) = (&bytes[..half], &bytes[half - self.overlap..]);
        let (mut a, mut b) = (Lane::default(), Lane::default());
        for (&x, &y) in first.iter().zip(second) {
            a.step(self, x);
            b.step(self, y);
        }
        for &y in &second[first.len()..] {
            b.step(self, y);
        }
        Marks(a.marks.0 | b.marks.0)
    }
}

/// One walk through [`Phrases`]: the state it is in and the marks it has passed.
#[derive(Default)]
struct Lane {
    state: usize,
    marks: Marks,
}

impl Lane {
    #[inline(always)]
    fn step(&mut self, phrases: &Phrases, byte: u8) {
        self.state =
            usize::from(phrases.next[self.state + usize::from(phrases.classes[usize::from(byte)])]);
        self.marks.0 |= phrases.marks[self.state].0;
    }
}

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

/// What a text's phrases mark: a reasoning ask, a grading ask, the capabilities targeted.
/// A phrase inside another ("function call" in "function") still counts for its own list.
fn marks(text: &str) -> (bool, bool, Capabilities) {
    phrases().marks(text).parts()
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

/// The signature of a text's 3-word shingles; `None` for fewer than 3 words.
pub fn signature(text: &str) -> Option<Signature> {
    signature_and(text, |_| {})
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

/// [`signature`], handing each word to `also` on the way.
fn signature_and(text: &str, mut also: impl FnMut(u64)) -> Option<Signature> {
    let mut bins = [u32::MAX; SIGNATURE_BINS];
    let mut window = [0u64; 3];
    let mut seen = 0usize;
    words(text, |w| {
        also(w);
        window = [window[1], window[2], w];
        seen += 1;
        if seen >= 3 {
            let mut shingle = [0u8; 24];
            for (chunk, word) in shingle.chunks_exact_mut(8).zip(window) {
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            let h = xxh3_64_with_seed(&shingle, SHINGLE_SEED);
            let bin = (h % SIGNATURE_BINS as u64) as usize;
            bins[bin] = bins[bin].min((h >> 32) as u32);
        }
    });
    (seen >= 3).then_some(Signature(bins))
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

    /// Signatures as first defined: characters split on anything not alphanumeric, each
    /// word lowered and hashed (numbers as 0). Partners' bundles carry template
    /// fingerprints made from them, so the fast path must not change a bit.
    fn signature_by_characters(text: &str) -> Option<Signature> {
        let mut bins = [u32::MAX; SIGNATURE_BINS];
        let words: Vec<u64> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| {
                if w.bytes().all(|b| b.is_ascii_digit()) {
                    0
                } else {
                    xxh3_64(w.to_lowercase().as_bytes())
                }
            })
            .collect();
        for window in words.windows(3) {
            let mut shingle = [0u8; 24];
            for (chunk, word) in shingle.chunks_exact_mut(8).zip(window) {
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            let h = xxh3_64_with_seed(&shingle, SHINGLE_SEED);
            let bin = (h % SIGNATURE_BINS as u64) as usize;
            bins[bin] = bins[bin].min((h >> 32) as u32);
        }
        (words.len() >= 3).then_some(Signature(bins))
    }

    proptest::proptest! {
        #[test]
        fn signature_is_that_of_its_first_definition(text in "([A-Za-z0-9]{1,80}|[ .,;:!?\n\"'()-]{1,3}|é|ß|İ|数据|Ǆ|Σ|ΣΑΣ|ς|٣|\u{2019}|\\PC){0,60}") {
            proptest::prop_assert_eq!(signature(&text), signature_by_characters(&text));
        }
    }

    /// A reasoning ask, a grading ask, the capabilities targeted.
    type Parts = (bool, bool, Capabilities);

    /// Every phrase of the lists, with what it marks.
    fn every_phrase() -> Vec<(&'static str, Parts)> {
        let none = Capabilities::default();
        let groups: [(&[&str], Parts); 6] = [
            (REASONING_ASKS, (true, false, none)),
            (GRADING_ASKS, (false, true, none)),
            (SOFTWARE, (false, false, Capabilities::SOFTWARE)),
            (AGENTIC, (false, false, Capabilities::AGENTIC)),
            (MATHS, (false, false, Capabilities::MATHS)),
            (LONG_HORIZON, (false, false, Capabilities::LONG_HORIZON)),
        ];
        groups
            .iter()
            .flat_map(|&(words, mark)| words.iter().map(move |&w| (w, mark)))
            .collect()
    }

    /// Marks as first defined: every overlapping match of aho-corasick's own search.
    fn marks_by_search(text: &str) -> Parts {
        let phrases = every_phrase();
        let search = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(phrases.iter().map(|(p, _)| p))
            .unwrap();
        search.find_overlapping_iter(text).fold(
            (false, false, Capabilities::default()),
            |(r, g, c), found| {
                let (pr, pg, pc) = phrases[found.pattern().as_usize()].1;
                (r | pr, g | pg, c | pc)
            },
        )
    }

    fn phrase_texts() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let phrase = proptest::sample::select(every_phrase()).prop_flat_map(|(p, _)| {
            prop_oneof![
                Just(p.to_owned()),
                Just(p.to_uppercase()),
                Just(p[1..].to_owned())
            ]
        });
        let piece = prop_oneof![phrase, "[A-Za-z]{1,12}", "[ .,:\n+`'-]{1,2}", "\\PC"];
        proptest::collection::vec(piece, 0..80).prop_map(|pieces| pieces.concat())
    }

    proptest::proptest! {
        #[test]
        fn marks_are_those_of_every_overlapping_match(text in phrase_texts()) {
            proptest::prop_assert_eq!(marks(&text), marks_by_search(&text));
        }
    }

    #[test]
    fn a_phrase_across_the_middle_of_a_long_text_is_seen() {
        for (phrase, _) in every_phrase() {
            let len = 300 + phrase.len();
            for into in 0..=phrase.len() {
                let before = len / 2 - into;
                let text = format!("{}{phrase}{}", "x".repeat(before), "x".repeat(300 - before));
                assert_eq!(
                    marks(&text),
                    marks_by_search(&text),
                    "{phrase:?} {into} bytes before the middle"
                );
            }
        }
    }

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

    #[test]
    fn one_template_different_slots_collide_strangers_do_not() {
        let template = |task: &str, lang: &str| {
            format!(
                "You are given the following task: {task} in {lang}. Before answering, reason through the problem in detail and show every step of your thinking, then give the final answer on its own line."
            )
        };
        let a = signature(&template("merge two sorted lists", "Rust")).unwrap();
        let b = signature(&template("parse a CSV file", "Go")).unwrap();
        let stranger = signature("My landlord has not fixed the heating for three weeks and I would like to write him a firm but polite letter about it.").unwrap();
        assert!(
            a.similarity(&b) >= 0.5,
            "template copies: {}",
            a.similarity(&b)
        );
        assert!(
            a.similarity(&stranger) <= 0.2,
            "strangers: {}",
            a.similarity(&stranger)
        );
        assert_eq!(signature("too short"), None);
        assert_eq!(
            signature("numbers 12 differ 7 here now"),
            signature("numbers 99 differ 1 here now")
        );
    }
}
