//! The phrase lists (`data/phrases/`) in one automaton, so each text is scanned once: what
//! a text's phrases mark (a reasoning ask, a grading ask, the capabilities targeted).

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::automaton::Automaton;
use aho_corasick::{Anchored, MatchKind};

use super::Capabilities;

/// What a text's phrases mark, as bits: the low four are [`Capabilities`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Marks(u8);

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
pub(super) struct Phrases {
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

/// The phrase lists, each with what its phrases mark.
const LISTS: [(&str, Marks); 6] = [
    (
        include_str!("../../data/phrases/reasoning.txt"),
        Marks::REASONING,
    ),
    (
        include_str!("../../data/phrases/grading.txt"),
        Marks::GRADING,
    ),
    (
        include_str!("../../data/phrases/software.txt"),
        Marks(Capabilities::SOFTWARE.0),
    ),
    (
        include_str!("../../data/phrases/agentic.txt"),
        Marks(Capabilities::AGENTIC.0),
    ),
    (
        include_str!("../../data/phrases/maths.txt"),
        Marks(Capabilities::MATHS.0),
    ),
    (
        include_str!("../../data/phrases/long-horizon.txt"),
        Marks(Capabilities::LONG_HORIZON.0),
    ),
];

/// The phrases of a list: its lines less comments and blanks, a quoted one without its
/// quotes (its spaces at an end count).
fn phrases_of(list: &str) -> impl Iterator<Item = &str> {
    crate::asks::lines(list).map(|line| {
        line.strip_prefix('"')
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or(line)
    })
}

/// The automaton of every phrase list, built on first use.
pub(super) fn phrases() -> &'static Phrases {
    static PHRASES: OnceLock<Phrases> = OnceLock::new();
    PHRASES.get_or_init(|| {
        let (patterns, pattern_marks): (Vec<&str>, Vec<Marks>) = LISTS
            .iter()
            .flat_map(|&(list, mark)| phrases_of(list).map(move |p| (p, mark)))
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
pub(super) struct Lane {
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

/// What a text's phrases mark: a reasoning ask, a grading ask, the capabilities targeted.
/// A phrase inside another ("function call" in "function") still counts for its own list.
pub(super) fn marks(text: &str) -> (bool, bool, Capabilities) {
    phrases().marks(text).parts()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reasoning ask, a grading ask, the capabilities targeted.
    type Parts = (bool, bool, Capabilities);

    /// Every phrase of the lists, with what it marks.
    fn every_phrase() -> Vec<(&'static str, Parts)> {
        LISTS
            .iter()
            .flat_map(|&(list, mark)| phrases_of(list).map(move |p| (p, mark.parts())))
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
}
