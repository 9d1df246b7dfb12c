//! Reasoning and grading asks recognised by meaning, not by a list: a compact linear model
//! over hashed words, word pairs and word stems, trained when first used on the labelled set
//! moat ships (`data/asks/`: asks in many phrasings and languages, and ordinary requests,
//! hard ones included, that mention reasoning, steps, scores or grades without asking for
//! them).
//!
//! A text is cut into clauses (at sentence and clause punctuation and line breaks); the
//! model scores every clause of at most [`MAX_CLAUSE_WORDS`] words, as the words
//! [`content`](crate::content) splits it into, and a text asks when one of its clauses does:
//! an ask is a short clause, wherever it sits in a long prompt, and a long passage of
//! reference text is not an ask. Training takes a few milliseconds, is deterministic, and
//! needs nothing but the files compiled in.

use std::sync::OnceLock;

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Words a clause may have for the model to score it.
pub const MAX_CLAUSE_WORDS: usize = 24;
/// Hashed features (words, word pairs and stems) the model has weights for.
const BUCKETS: usize = 1 << 15;
/// How the two kinds of ask are numbered in the model's outputs.
const REASONING: usize = 0;
const GRADING: usize = 1;

/// The labelled set: asks to write out the reasoning, asks to grade, ordinary requests.
const REASONING_SET: &str = include_str!("../data/asks/reasoning.txt");
const GRADING_SET: &str = include_str!("../data/asks/grading.txt");
const ORDINARY_SET: &str = include_str!("../data/asks/ordinary.txt");
/// Framings put before requests, which the model learns to read past.
const FRAMINGS: &str = include_str!("../data/asks/framings.txt");

/// What a text asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Asks {
    /// The model to write out its reasoning.
    pub reasoning: bool,
    /// The model to grade, score or compare answers.
    pub grading: bool,
}

/// The trained model: a weight per feature and kind of ask, and a bias per kind.
pub struct AskModel {
    weights: Vec<[f32; 2]>,
    bias: [f32; 2],
}

/// The model, trained on first use.
pub fn model() -> &'static AskModel {
    static MODEL: OnceLock<AskModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let framings: Vec<&str> = lines(FRAMINGS).collect();
        let mut examples: Vec<(String, [bool; 2])> = Vec::new();
        for (set, label) in [
            (REASONING_SET, [true, false]),
            (GRADING_SET, [false, true]),
            (ORDINARY_SET, [false, false]),
        ] {
            for (k, text) in lines(set).enumerate() {
                examples.push((text.to_owned(), label));
                if !label[GRADING] {
                    let framing = framings[k % framings.len()];
                    examples.push((format!("{framing} {}", lower_first(text)), label));
                }
            }
        }
        let examples: Vec<(&str, [bool; 2])> =
            examples.iter().map(|(t, l)| (t.as_str(), *l)).collect();
        AskModel::train(&examples)
    })
}

/// `text` with its first letter in lower case, as it reads after a framing.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// The texts of a labelled file: its lines, less comments and blanks.
pub fn lines(set: &str) -> impl Iterator<Item = &str> {
    set.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The clauses of `text` the model scores: runs between clause punctuation and line
/// breaks, of one to [`MAX_CLAUSE_WORDS`] words.
fn clauses(text: &str) -> impl Iterator<Item = &str> {
    text.split(['.', '?', '!', ';', ':', '\n', '。', '？', '！'])
}

/// The features of a clause's words (each word, each pair of neighbours, and each word's
/// stem), if it has one to [`MAX_CLAUSE_WORDS`] words.
fn clause_features(clause: &str) -> Option<Vec<usize>> {
    let mut f = Vec::new();
    let mut words = 0;
    let mut previous = None;
    crate::words::words(clause, |w| {
        // Numbers (hashed as 0) say nothing of an ask, and fill lists of data.
        if w == 0 {
            return;
        }
        words += 1;
        if words <= MAX_CLAUSE_WORDS {
            let [word, pair] = features(previous, w);
            f.push(word);
            if previous.is_some() {
                f.push(pair);
            }
            previous = Some(w);
        }
    });
    if !(1..=MAX_CLAUSE_WORDS).contains(&words) {
        return None;
    }
    stems(clause, |stem| f.push(stem));
    Some(f)
}

/// Letters of a word's beginning that stand for the word's family ("derive", "derivation";
/// "justify", "justified"), so that a form the labelled set lacks still reads as its kin.
const STEM_CHARS: usize = 5;

/// The features of the stems of a clause's words of at least [`STEM_CHARS`] letters.
fn stems(clause: &str, mut each: impl FnMut(usize)) {
    let mut stem = |bytes: &[u8]| {
        each((xxh3_64_with_seed(bytes, 3) >> 49) as usize % BUCKETS);
    };
    if clause.is_ascii() {
        for word in clause.as_bytes().split(|b| !b.is_ascii_alphanumeric()) {
            if word.len() >= STEM_CHARS && !word.iter().all(u8::is_ascii_digit) {
                let mut bytes = [0u8; STEM_CHARS];
                bytes.copy_from_slice(&word[..STEM_CHARS]);
                bytes.make_ascii_lowercase();
                stem(&bytes);
            }
        }
        return;
    }
    for word in clause.split(|c: char| !c.is_alphanumeric()) {
        if word.chars().nth(STEM_CHARS - 1).is_none() || word.chars().all(char::is_numeric) {
            continue;
        }
        let mut bytes = [0u8; 4 * STEM_CHARS];
        let mut len = 0;
        for c in word.chars().flat_map(char::to_lowercase).take(STEM_CHARS) {
            len += c.encode_utf8(&mut bytes[len..]).len();
        }
        stem(&bytes[..len]);
    }
}

/// Reasoning asks in scripts written without spaces between words (Chinese, Japanese),
/// which the model cannot split into words: looked for as phrases.
const SPACELESS_REASONING_ASKS: &[&str] = &[
    "一步一步",
    "逐步",
    "推理过程",
    "思考过程",
    "思路",
    "段階を追って",
    "ステップバイステップ",
    "考え方を説明",
];

fn spaceless_reasoning_ask(text: &str) -> bool {
    static PHRASES: OnceLock<aho_corasick::AhoCorasick> = OnceLock::new();
    PHRASES
        .get_or_init(|| {
            aho_corasick::AhoCorasick::new(SPACELESS_REASONING_ASKS)
                .expect("a handful of phrases build an automaton")
        })
        .is_match(text)
}

/// The feature of a word, and of the pair it ends.
fn features(previous: Option<u64>, word: u64) -> [usize; 2] {
    let bucket = |h: u64| (h >> 49) as usize % BUCKETS;
    let pair = previous.map_or(0, |p| {
        xxh3_64_with_seed(&[p, word].map(u64::to_le_bytes).concat(), 2)
    });
    [bucket(word ^ 0x9e37_79b9_7f4a_7c15), bucket(pair)]
}

impl AskModel {
    /// Fits a logistic regression per kind of ask by stochastic gradient descent, in a
    /// fixed order, on the clauses the model will score: every clause of an example that
    /// does not ask is a negative; of an example that asks, the clause scoring best so far
    /// is the positive (the ask is in one of them; the others need not be).
    pub fn train(examples: &[(&str, [bool; 2])]) -> Self {
        const EPOCHS: usize = 60;
        const RATE: f32 = 0.2;
        const DECAY: f32 = 1e-4;
        let mut model = AskModel {
            weights: vec![[0.0; 2]; BUCKETS],
            bias: [-1.0; 2],
        };
        let windows: Vec<(Vec<Vec<usize>>, [bool; 2])> = examples
            .iter()
            .map(|(text, label)| (clauses(text).filter_map(clause_features).collect(), *label))
            .filter(|(clauses, _): &(Vec<Vec<usize>>, _)| !clauses.is_empty())
            .collect();
        let mut order: Vec<usize> = (0..windows.len()).collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for epoch in 0..EPOCHS {
            for i in (1..order.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                order.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let rate = RATE / (1.0 + epoch as f32 / 20.0);
            for &n in &order {
                let (each, label) = &windows[n];
                for kind in [REASONING, GRADING] {
                    let logit = |m: &AskModel, f: &[usize]| {
                        m.bias[kind] + f.iter().map(|&b| m.weights[b][kind]).sum::<f32>()
                    };
                    let chosen: Vec<&Vec<usize>> = if label[kind] {
                        each.iter()
                            .max_by(|a, b| logit(&model, a).total_cmp(&logit(&model, b)))
                            .into_iter()
                            .collect()
                    } else {
                        each.iter().collect()
                    };
                    for f in chosen {
                        let p = 1.0 / (1.0 + (-logit(&model, f)).exp());
                        let error = f32::from(u8::from(label[kind])) - p;
                        model.bias[kind] += rate * error;
                        for &b in f {
                            let w = &mut model.weights[b][kind];
                            *w += rate * (error - DECAY * *w);
                        }
                    }
                }
            }
        }
        model
    }

    /// What `text` asks for: whether its best clause scores above zero, per kind.
    pub fn asks(&self, text: &str) -> Asks {
        let best = self.best_logits(text);
        Asks {
            reasoning: best[REASONING] > 0.0 || (!text.is_ascii() && spaceless_reasoning_ask(text)),
            grading: best[GRADING] > 0.0,
        }
    }

    /// The best clause's logit per kind (minus infinity for a text with no clause to score).
    pub fn best_logits(&self, text: &str) -> [f32; 2] {
        let mut best = [f32::NEG_INFINITY; 2];
        for f in clauses(text).filter_map(clause_features) {
            for kind in [REASONING, GRADING] {
                let logit = self.bias[kind] + f.iter().map(|&b| self.weights[b][kind]).sum::<f32>();
                best[kind] = best[kind].max(logit);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELD_OUT_REASONING: &str = include_str!("../data/asks/heldout-reasoning.txt");
    const HELD_OUT_GRADING: &str = include_str!("../data/asks/heldout-grading.txt");
    const HELD_OUT_ORDINARY: &str = include_str!("../data/asks/heldout-ordinary.txt");

    fn share(set: &str, kind: impl Fn(Asks) -> bool) -> (usize, usize) {
        let texts: Vec<&str> = lines(set).collect();
        let hits = texts.iter().filter(|t| kind(model().asks(t))).count();
        (hits, texts.len())
    }

    #[test]
    fn the_training_set_is_learned() {
        for (set, want) in [
            (REASONING_SET, [true, false]),
            (GRADING_SET, [false, true]),
            (ORDINARY_SET, [false, false]),
        ] {
            let wrong: Vec<&str> = lines(set)
                .filter(|t| {
                    let a = model().asks(t);
                    [a.reasoning, a.grading] != want
                })
                .collect();
            assert!(wrong.len() * 20 <= lines(set).count(), "{wrong:#?}");
        }
    }

    #[test]
    fn held_out_phrasings_are_recognised() {
        let (r, rn) = share(HELD_OUT_REASONING, |a| a.reasoning);
        let (g, gn) = share(HELD_OUT_GRADING, |a| a.grading);
        let (fr, on) = share(HELD_OUT_ORDINARY, |a| a.reasoning);
        let (fg, _) = share(HELD_OUT_ORDINARY, |a| a.grading);
        eprintln!(
            "held out: reasoning {r}/{rn}, grading {g}/{gn}, ordinary taken for reasoning {fr}/{on}, for grading {fg}/{on}"
        );
        assert!(r * 10 >= rn * 8, "reasoning asks recognised: {r} of {rn}");
        assert!(g * 10 >= gn * 6, "grading asks recognised: {g} of {gn}");
        assert!(
            fr * 10 <= on,
            "ordinary requests taken for reasoning asks: {fr} of {on}"
        );
        assert!(
            fg * 10 <= on,
            "ordinary requests taken for grading asks: {fg} of {on}"
        );
    }

    #[test]
    fn an_ask_is_found_inside_a_long_prompt() {
        let code = "fn main() { let x = vec![1, 2, 3]; println!(\"{:?}\", x); } ".repeat(20);
        let with_ask =
            format!("{code}\nLay out your chain of thought before the final answer.\n{code}");
        assert!(model().asks(&with_ask).reasoning);
        assert!(!model().asks(&code).reasoning);
        assert!(model().asks("请一步一步地解释你的推理过程。").reasoning);
        assert_eq!(model().asks(""), Asks::default());
    }
}
