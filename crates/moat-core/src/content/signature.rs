//! The template print of a text: a MinHash signature of its word shingles, which copies of
//! one template share whatever is filled into them, and the topic buckets of its words.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::words::words;

/// How many bins the template signature has.
pub const SIGNATURE_BINS: usize = 16;

/// The seed a signature's shingles are hashed with. Frozen: partners' STIX bundles and
/// stored template bands hold signatures made with it, and signatures made with another
/// seed would match none of them.
pub(super) const SHINGLE_SEED: u64 = 0x6d6f6174;

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

/// How many of a prompt's first content words mark its topic buckets.
pub(super) const TOPIC_WORDS: usize = 12;

/// Words too common to say what a prompt is about (English function words), as hashes.
pub(super) fn is_function_word(word: u64) -> bool {
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

pub(super) const FUNCTION_WORDS: &str = "a an the and or but if then else of to in on at by for with from \
    into onto about as is are was were be been being am do does did done have has had having \
    i me my mine we us our you your yours he him his she her it its they them their this that \
    these those what which who whom whose when where why how not no yes so than too very can \
    could should would will shall may might must just also only all any some each every more \
    most other such own same there here up down out over under again once please let s t";

/// The signature of a text's 3-word shingles; `None` for fewer than 3 words.
pub fn signature(text: &str) -> Option<Signature> {
    signature_and(text, |_| {})
}

/// [`signature`], handing each word to `also` on the way.
pub(super) fn signature_and(text: &str, mut also: impl FnMut(u64)) -> Option<Signature> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_64;

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
