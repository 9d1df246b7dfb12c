//! The reasoning-ask model on real people's prompts it was never trained on: the public
//! corpora beside the checkout, where there are any. Each corpus's first turns may be
//! taken for asks only at about the rate `docs/signals.md` reports.

use std::io::Write;
use std::path::Path;

/// The share of a corpus's first turns the model takes for reasoning asks.
fn taken_for_reasoning(file: &Path) -> f64 {
    let text = std::fs::read_to_string(file).expect("a readable corpus");
    let (mut turns, mut asks) = (0usize, 0usize);
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let Some(first) = row["turns"].get(0).and_then(|t| t.as_str()) else {
            continue;
        };
        turns += 1;
        asks += usize::from(moat_core::asks::model().asks(first).reasoning);
    }
    assert!(turns > 0, "{} holds no turns", file.display());
    asks as f64 / turns as f64
}

#[test]
fn ordinary_prompts_of_real_people_are_seldom_taken_for_reasoning_asks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/prompts");
    if !dir.is_dir() {
        // CI, where the corpora are beside the checkout, asks for them: there a missing
        // corpus is a failure, not a skip.
        assert!(
            std::env::var_os("MOAT_REQUIRE_CORPORA").is_none(),
            "MOAT_REQUIRE_CORPORA is set but there are no corpora at {}",
            dir.display()
        );
        // Written past the test harness's capture, so that the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED ordinary_prompts_of_real_people_are_seldom_taken_for_reasoning_asks: no \
             public prompt corpora at {} (it runs where ../shared is beside the checkout)",
            dir.display()
        );
        return;
    }
    // Per corpus, the most of its first turns that may be taken for reasoning asks. Dolly's
    // turns carry a reference answer after the request; arena-hard's people often do ask to
    // be walked through an answer, so it is not checked.
    for (corpus, most) in [
        ("human-hh-harmless-test", 0.005),
        ("human-dolly-6400", 0.025),
        ("distill-alpaca-demo", 0.01),
        ("distill-code-alpaca-2k", 0.01),
        ("distill-gpteacher-codegen", 0.01),
    ] {
        let share = taken_for_reasoning(&dir.join(format!("{corpus}.jsonl")));
        eprintln!("{corpus}: {:.2} % taken for reasoning asks", share * 100.0);
        assert!(
            share <= most,
            "{corpus}: {share:.4} taken for reasoning asks"
        );
    }
}
