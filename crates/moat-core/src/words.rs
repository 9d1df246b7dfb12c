//! Words of a text, hashed, fast: the tokenizer the content signals, the template
//! signature and the ask model read text with.

use std::sync::OnceLock;

use xxhash_rust::xxh3::xxh3_64;

/// Words of a text for shingling: lowercase runs of letters; digits stand for any number,
/// so that the numbers filling a template's slots do not tell copies apart. Each word is
/// given as its hash, to `each`.
///
/// The result is, bit for bit, splitting the text on every character that is not
/// alphanumeric and hashing each word's `str::to_lowercase` (0 for a number). The text is
/// classified 64 bytes at a time into bit masks ([`Block`]): runs of bytes that may belong
/// to words (ASCII letters and digits, and anything beyond ASCII) are read off them, and
/// so is what each run holds. A run of lowercase ASCII (most words) is hashed where it
/// lies; a run holding other characters is split by characters.
pub(crate) fn words(text: &str, mut each: impl FnMut(u64)) {
    let bytes = text.as_bytes();
    let mut open = None;
    let mut run = Block::default();
    for base in (0..bytes.len()).step_by(64) {
        let block = Block::of(bytes, base);
        let mut at = 0;
        while at < 64 {
            match open {
                Some(start) => {
                    let end = at + (!(block.word >> at)).trailing_zeros();
                    run = run.with(block.within(at, end));
                    if end == 64 {
                        break;
                    }
                    word_run(text, start..base + end as usize, run, &mut each);
                    (open, run, at) = (None, Block::default(), end);
                }
                None => {
                    let rest = block.word >> at;
                    if rest == 0 {
                        break;
                    }
                    at += rest.trailing_zeros();
                    open = Some(base + at as usize);
                }
            }
        }
    }
    if let Some(start) = open {
        word_run(text, start..bytes.len(), run, &mut each);
    }
}

/// What up to 64 bytes of a text hold, as masks: bit k stands for byte k.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Block {
    /// Bytes that may belong to a word: ASCII letters and digits, and bytes beyond ASCII.
    word: u64,
    /// ASCII letters.
    letters: u64,
    /// ASCII capitals.
    capitals: u64,
    /// Bytes beyond ASCII.
    beyond_ascii: u64,
}

impl Block {
    /// The 64 bytes from `base` (zeros past the end of the text).
    fn of(bytes: &[u8], base: usize) -> Self {
        match bytes.get(base..base + 64) {
            Some(chunk) => Self::of_64(chunk.try_into().unwrap_or(&[0; 64])),
            None => {
                let mut padded = [0; 64];
                let rest = bytes.get(base..).unwrap_or_default();
                padded[..rest.len()].copy_from_slice(rest);
                Self::of_64(&padded)
            }
        }
    }

    /// The masks of 64 bytes, sixteen at a time with SSE2.
    #[cfg(target_arch = "x86_64")]
    fn of_64(chunk: &[u8; 64]) -> Self {
        use std::arch::x86_64::{
            __m128i, _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128,
            _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let mut block = Block::default();
        // SAFETY: every x86-64 processor has SSE2, and each load reads 16 bytes of `chunk`
        // (no alignment needed).
        unsafe {
            // Bytes in `lo..=hi`, for ASCII bounds: bytes beyond ASCII compare as negative.
            let within = |v: __m128i, lo: u8, hi: u8| {
                _mm_and_si128(
                    _mm_cmpgt_epi8(v, _mm_set1_epi8(lo as i8 - 1)),
                    _mm_cmplt_epi8(v, _mm_set1_epi8(hi as i8 + 1)),
                )
            };
            for (k, sixteen) in chunk.chunks_exact(16).enumerate() {
                let v = _mm_loadu_si128(sixteen.as_ptr().cast());
                let bits = |m: __m128i| u64::from(_mm_movemask_epi8(m) as u16) << (16 * k);
                let letters = within(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', b'z');
                let word = _mm_or_si128(_mm_or_si128(letters, within(v, b'0', b'9')), v);
                block.word |= bits(word);
                block.letters |= bits(letters);
                block.capitals |= bits(within(v, b'A', b'Z'));
                block.beyond_ascii |= bits(v);
            }
        }
        block
    }

    /// The masks of 64 bytes, one byte at a time.
    #[cfg(any(not(target_arch = "x86_64"), test))]
    fn of_64_bytewise(chunk: &[u8; 64]) -> Self {
        let mut block = Block::default();
        for (k, &b) in chunk.iter().enumerate() {
            let bit = |yes: bool| u64::from(yes) << k;
            let letter = b.is_ascii_alphabetic();
            block.word |= bit(letter || b.is_ascii_digit() || !b.is_ascii());
            block.letters |= bit(letter);
            block.capitals |= bit(b.is_ascii_uppercase());
            block.beyond_ascii |= bit(!b.is_ascii());
        }
        block
    }

    /// The masks of 64 bytes.
    #[cfg(not(target_arch = "x86_64"))]
    fn of_64(chunk: &[u8; 64]) -> Self {
        Self::of_64_bytewise(chunk)
    }

    /// The bytes `from..to` of the block only (`from <= to <= 64`, `from < 64`).
    fn within(self, from: u32, to: u32) -> Self {
        let bits = u64::MAX.checked_shr(64 - (to - from)).unwrap_or(0) << from;
        Block {
            word: self.word & bits,
            letters: self.letters & bits,
            capitals: self.capitals & bits,
            beyond_ascii: self.beyond_ascii & bits,
        }
    }

    /// What this and `other` hold together.
    fn with(self, other: Block) -> Self {
        Block {
            word: self.word | other.word,
            letters: self.letters | other.letters,
            capitals: self.capitals | other.capitals,
            beyond_ascii: self.beyond_ascii | other.beyond_ascii,
        }
    }
}

/// Gives `each` the words of a run of word bytes, whose bytes hold what `held` says.
/// Inlined into the loop of [`words`], which then keeps `held` in registers.
#[inline(always)]
fn word_run(text: &str, run: std::ops::Range<usize>, held: Block, each: &mut impl FnMut(u64)) {
    let word = &text[run];
    if held.beyond_ascii != 0 {
        split_by_characters(word, each);
    } else if held.letters == 0 {
        each(0);
    } else if held.capitals == 0 {
        each(xxh3_64(word.as_bytes()));
    } else {
        each(lowered_hash(word, true));
    }
}

/// [`words`] for a text holding characters beyond ASCII, one character at a time. Kept
/// out of line: it is the rare path, and inlined it would bloat the common one.
#[inline(never)]
fn split_by_characters(text: &str, each: &mut impl FnMut(u64)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        // `lower`: every character is its own lowercase form.
        let (mut numeric, mut lower, mut ascii) = (true, true, true);
        while let Some(&b) = bytes.get(i) {
            if b.is_ascii() {
                if !b.is_ascii_alphanumeric() {
                    break;
                }
                numeric &= b.is_ascii_digit();
                lower &= !b.is_ascii_uppercase();
                i += 1;
            } else {
                let (c, facts) = char_facts(&text[i..]);
                if !facts.alphanumeric {
                    break;
                }
                numeric = false;
                lower &= facts.lower == Some(c);
                ascii = false;
                i += c.len_utf8();
            }
        }
        if i == start {
            // A separator.
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let word = &text[start..i];
        each(if numeric {
            0
        } else if lower {
            xxh3_64(word.as_bytes())
        } else {
            lowered_hash(word, ascii)
        });
    }
}

/// The hash of a word's `str::to_lowercase`, lowered into a buffer on the stack unless it
/// outgrows it or holds a character that does not lower to one character by itself.
fn lowered_hash(word: &str, ascii: bool) -> u64 {
    let mut buf = [0u8; 64];
    if ascii && word.len() <= buf.len() {
        let lowered = &mut buf[..word.len()];
        lowered.copy_from_slice(word.as_bytes());
        lowered.make_ascii_lowercase();
        return xxh3_64(lowered);
    }
    let mut len = 0;
    let mut at = 0;
    while at < word.len() {
        let b = word.as_bytes()[at];
        let (c, lower) = if b.is_ascii() {
            (char::from(b), Some(char::from(b.to_ascii_lowercase())))
        } else {
            let (c, facts) = char_facts(&word[at..]);
            (c, facts.lower)
        };
        match lower {
            Some(l) if len + l.len_utf8() <= buf.len() => {
                len += l.encode_utf8(&mut buf[len..]).len();
            }
            _ => return xxh3_64(word.to_lowercase().as_bytes()),
        }
        at += c.len_utf8();
    }
    xxh3_64(&buf[..len])
}

/// What [`words`] needs of a character beyond ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CharFacts {
    /// The character belongs to words.
    alphanumeric: bool,
    /// Its lowercase form, when `str::to_lowercase` gives one character that does not
    /// depend on the neighbours (it does for a capital sigma).
    lower: Option<char>,
}

impl CharFacts {
    fn of(c: char) -> Self {
        let mut lower = c.to_lowercase();
        let lower = match (lower.next(), lower.next()) {
            (Some(l), None) if c != '\u{3a3}' => Some(l),
            _ => None,
        };
        Self {
            alphanumeric: c.is_alphanumeric(),
            lower,
        }
    }
}

/// The CJK Unified Ideographs: letters without case, a common case worth not looking up.
const CJK_IDEOGRAPHS: std::ops::RangeInclusive<u32> = 0x4e00..=0x9fff;

/// The first character of `text` (not ASCII) with its facts: from a table for the
/// two-byte characters (Latin, Greek, Cyrillic, Hebrew, Arabic ...), worked out once from
/// the standard library's own; from the standard library for the rest.
fn char_facts(text: &str) -> (char, CharFacts) {
    static TWO_BYTE: OnceLock<Vec<CharFacts>> = OnceLock::new();
    let c = text.chars().next().unwrap_or_default();
    let n = u32::from(c);
    let facts = if (0x80..0x800).contains(&n) {
        TWO_BYTE.get_or_init(|| {
            (0x80..0x800)
                .filter_map(char::from_u32)
                .map(CharFacts::of)
                .collect()
        })[(n - 0x80) as usize]
    } else if CJK_IDEOGRAPHS.contains(&n) {
        CharFacts {
            alphanumeric: true,
            lower: Some(c),
        }
    } else {
        CharFacts::of(c)
    };
    (c, facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn block_masks_are_those_of_each_byte(bytes in proptest::array::uniform32(proptest::num::u8::ANY), more in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let mut chunk = [0u8; 64];
            chunk[..32].copy_from_slice(&bytes);
            chunk[32..].copy_from_slice(&more);
            proptest::prop_assert_eq!(Block::of_64(&chunk), Block::of_64_bytewise(&chunk));
        }
    }

    #[test]
    fn looked_up_character_facts_are_the_standard_librarys() {
        for c in ('\u{80}'..='\u{7ff}').chain(CJK_IDEOGRAPHS.filter_map(char::from_u32)) {
            let mut text = [0; 4];
            let (read, facts) = char_facts(c.encode_utf8(&mut text));
            assert_eq!((read, facts), (c, CharFacts::of(c)), "{c:?}");
        }
    }
}
