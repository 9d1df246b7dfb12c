//! The engine on hand-built traffic: a small campaign among ordinary customers.

use moat_core::{
    AccountInfo, Analysed, AnalysedRecord, Client, DetectConfig, Engine, EventTime, Exchange,
    Request, Verdict, format_compact,
};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
const START: i64 = 1_780_000_000_000_000 / DAY * DAY;

const WORDS: [&str; 24] = [
    "garden", "invoice", "poem", "recipe", "holiday", "bicycle", "letter", "budget", "sunset",
    "museum", "guitar", "tomato", "harbour", "winter", "ladder", "pillow", "meadow", "violin",
    "candle", "orchard", "glacier", "bakery", "lantern", "compass",
];

/// `e` with its text read.
fn read(e: &Exchange) -> Analysed {
    Analysed::of(e.clone())
}

fn at(micros: i64) -> EventTime {
    EventTime::from_unix_micros(micros).unwrap()
}

/// One exchange of campaign account `a` at `t`: a shared card, one bulk sign-up hour, one
/// template with its slots filled, a system prompt asking for written-out reasoning.
fn campaign_exchange(a: usize, n: usize, t: i64) -> Exchange {
    Exchange {
        ts: at(t),
        account_id: format_compact!("hydra-{a:02}"),
        client: Client {
            ip: Some(format!("198.51.100.{}", 10 + a % 5).parse().unwrap()),
            ..Client::default()
        },
        account: AccountInfo {
            created_at: Some(at(START - 2 * HOUR + a as i64 * 60_000_000)),
            signup_channel: Some("education".into()),
            email_domain: Some("gmail.com".into()),
            payment_fingerprint: Some("pm_shared".into()),
            verified: Some(false),
        },
        request: Request {
            system: Some("You are a meticulous senior engineer. Always reason step by step and show your complete reasoning.".into()),
            prompt: Some(format!(
                "Task {n}: implement the {} module of a {} service in Rust, with unit tests. Before answering, reason through the problem in detail and show every step of your thinking, then give the final code in one block.",
                WORDS[n % WORDS.len()],
                WORDS[(n / 7) % WORDS.len()]
            )),
            max_tokens: Some(32_000),
            temperature: Some(1.0),
            ..Request::default()
        },
        ..Exchange::default()
    }
}

/// One exchange of customer `c`: their own card and address, an old verified account,
/// varied questions in the daytime.
fn customer_exchange(c: usize, n: usize, t: i64) -> Exchange {
    let w = |k: usize| WORDS[(c * 7 + n * 3 + k * 5) % WORDS.len()];
    Exchange {
        ts: at(t),
        account_id: format_compact!("customer-{c:02}"),
        conversation_id: Some(format_compact!("conv-{c}-{}", n / 3)),
        client: Client {
            ip: Some(format!("203.0.{}.{}", 10 + c, 1 + n % 3).parse().unwrap()),
            ..Client::default()
        },
        account: AccountInfo {
            created_at: Some(at(START - 400 * DAY + c as i64 * DAY)),
            signup_channel: Some("self_serve".into()),
            email_domain: Some("gmail.com".into()),
            payment_fingerprint: Some(format_compact!("pm_{c}")),
            verified: Some(true),
        },
        request: Request {
            prompt: Some(format!(
                "{} {} {} — what would you suggest for the {} and the {}?",
                w(0),
                w(1),
                w(2),
                w(3),
                w(4)
            )),
            ..Request::default()
        },
        ..Exchange::default()
    }
}

/// Three days: 30 campaign accounts every 40 minutes round the clock, 30 customers a few
/// times a day in their daytime; in time order.
fn traffic() -> Vec<Exchange> {
    let mut all = Vec::new();
    for a in 0..30 {
        for n in 0..(3 * 36) {
            let t = START + n as i64 * 40 * 60_000_000 + a as i64 * 13_000_000;
            all.push(campaign_exchange(a, a * 1000 + n, t));
        }
    }
    for c in 0..30 {
        for day in 0..3 {
            for k in 0..4 {
                let t = START + day * DAY + (9 + 2 * k) * HOUR + c as i64 * 60_000_000;
                all.push(customer_exchange(c, (day * 4 + k) as usize, t));
            }
        }
    }
    all.sort_by_key(|e| e.ts);
    all
}

fn scan(traffic: &[Exchange]) -> moat_core::Outcome {
    let mut engine = Engine::new(DetectConfig::default());
    for e in traffic {
        engine.observe(&read(e));
    }
    engine.finish()
}

#[test]
fn a_campaign_is_blocked_early_and_customers_are_not() {
    let outcome = scan(&traffic());
    for a in &outcome.accounts {
        if a.account_id.starts_with("hydra") {
            assert_eq!(a.verdict, Verdict::Block, "{a:?}");
            let flagged = a.flagged_at.unwrap().as_unix_micros();
            assert!(flagged < START + DAY, "{a:?} blocked only at {flagged}");
            assert!(a.campaign_id.is_some(), "{a:?}");
            assert!(a.signals.iter().any(|s| s == "reasoning_asks"), "{a:?}");
        } else {
            assert_eq!(a.verdict, Verdict::Allow, "{a:?}");
            assert_eq!(a.flagged_at, None);
        }
    }
    let campaigns = &outcome.report.campaigns;
    assert_eq!(campaigns.len(), 1, "{campaigns:?}");
    assert_eq!(campaigns[0].accounts, 30);
    assert!(campaigns[0].score >= 0.8);
    let evidence: Vec<&str> = campaigns[0]
        .evidence
        .iter()
        .map(|e| e.signal.as_str())
        .collect();
    for signal in ["linked_accounts", "signup_wave", "shared_template"] {
        assert!(evidence.contains(&signal), "{evidence:?}");
    }
    // Weights and scores read as the decimals they are, without the noise of an f32.
    let numbers = campaigns[0].evidence.iter().map(|e| e.weight);
    for x in numbers.chain(outcome.accounts.iter().map(|a| a.score)) {
        let written = x.to_string();
        let decimals = written.split('.').nth(1).map_or(0, str::len);
        assert!(decimals <= 6, "{written}");
    }
    assert_eq!(outcome.report.summary.accounts, 60);
    assert_eq!(outcome.report.summary.accounts_blocked, 30);
    let early: u64 = outcome
        .accounts
        .iter()
        .zip(&outcome.before_block)
        .filter(|(a, _)| a.account_id.starts_with("hydra"))
        .map(|(_, &b)| b)
        .sum();
    assert!(
        early < 30 * 108 / 5,
        "{early} campaign exchanges before their block"
    );
}

#[test]
fn the_same_input_gives_the_same_verdicts() {
    let traffic = traffic();
    let a = scan(&traffic);
    let b = scan(&traffic);
    assert_eq!(a.accounts, b.accounts);
    assert_eq!(a.before_block, b.before_block);
    assert_eq!(a.report, b.report);
}

#[test]
fn customers_alone_are_left_alone_and_nothing_is_no_campaign() {
    let customers: Vec<Exchange> = traffic()
        .into_iter()
        .filter(|e| e.account_id.starts_with("customer"))
        .collect();
    let outcome = scan(&customers);
    assert!(outcome.report.campaigns.is_empty());
    assert!(outcome.accounts.iter().all(|a| a.verdict == Verdict::Allow));
    let empty = scan(&[]);
    assert!(empty.accounts.is_empty() && empty.report.campaigns.is_empty());
}

#[test]
fn records_read_in_batches_with_their_text_or_without_give_the_same_verdicts() {
    let traffic = traffic();
    let one_at_a_time = scan(&traffic);
    for drop_text in [false, true] {
        let mut engine = Engine::new(DetectConfig::default());
        for batch in traffic.chunks(37) {
            let records: Vec<AnalysedRecord> = batch
                .iter()
                .map(|e| {
                    let mut a = read(e);
                    if drop_text {
                        a.drop_text();
                    }
                    AnalysedRecord::Exchange(a)
                })
                .collect();
            engine.observe_records(&records);
        }
        let outcome = engine.finish();
        assert_eq!(
            outcome.accounts, one_at_a_time.accounts,
            "text dropped: {drop_text}"
        );
        assert_eq!(outcome.before_block, one_at_a_time.before_block);
        assert_eq!(outcome.report, one_at_a_time.report);
    }
}

/// Where the first campaign account was blocked, if it was.
fn first_block(outcome: &moat_core::Outcome) -> Option<i64> {
    outcome
        .accounts
        .iter()
        .filter_map(|a| a.flagged_at)
        .map(|t| t.as_unix_micros())
        .min()
}

#[test]
fn one_record_from_a_bad_clock_does_not_stop_detection() {
    let clean = scan(&traffic());
    for bad in [START + 3_000 * DAY * 10, START - 3_000 * DAY] {
        let mut traffic = traffic();
        // One customer record dated far from the rest: early in the stream, and first.
        for at_index in [10, 0] {
            let mut odd = customer_exchange(99, 0, START);
            odd.ts = at(bad);
            traffic.insert(at_index, odd);
            let outcome = scan(&traffic);
            let blocked = outcome
                .accounts
                .iter()
                .filter(|a| a.account_id.starts_with("hydra") && a.verdict == Verdict::Block)
                .count();
            assert_eq!(blocked, 30, "bad record at {bad} (index {at_index})");
            let (first, usual) = (first_block(&outcome), first_block(&clean));
            assert!(
                first.unwrap() <= usual.unwrap() + 2 * HOUR,
                "blocked at {first:?}, {usual:?} without the bad record"
            );
        }
    }
}

/// What an outcome says, less the time its rounds took.
fn said(outcome: &moat_core::Outcome) -> String {
    format!(
        "{:?}",
        (
            &outcome.accounts,
            &outcome.before_block,
            &outcome.report,
            &outcome.story
        )
    )
}

#[test]
fn an_engine_restored_from_a_snapshot_goes_on_as_if_never_stopped() {
    let traffic = traffic();
    let whole = {
        let mut engine = Engine::new(DetectConfig::default()).with_story();
        traffic.iter().for_each(|e| engine.observe(&read(e)));
        said(&engine.finish())
    };
    for cut in [1, traffic.len() / 3, traffic.len() / 2, traffic.len() - 1] {
        let mut engine = Engine::new(DetectConfig::default()).with_story();
        traffic[..cut].iter().for_each(|e| engine.observe(&read(e)));
        let snapshot = engine.save().expect("a snapshot");
        drop(engine);
        let mut engine =
            Engine::restore(DetectConfig::default(), &[], &snapshot).expect("restored");
        traffic[cut..].iter().for_each(|e| engine.observe(&read(e)));
        assert_eq!(said(&engine.finish()), whole, "cut after {cut} exchanges");
    }
}

#[test]
fn a_snapshot_is_refused_under_another_configuration_or_when_damaged() {
    let mut engine = Engine::new(DetectConfig::default());
    traffic()
        .iter()
        .take(500)
        .for_each(|e| engine.observe(&read(e)));
    let snapshot = engine.save().expect("a snapshot");
    let other = DetectConfig {
        block: 0.9,
        ..DetectConfig::default()
    };
    assert_eq!(
        Engine::restore(other, &[], &snapshot).err(),
        Some(moat_core::snapshot::SnapshotError::Configuration)
    );
    for cut in [0, 3, snapshot.len() / 2, snapshot.len() - 1] {
        assert!(matches!(
            Engine::restore(DetectConfig::default(), &[], &snapshot[..cut]).err(),
            Some(moat_core::snapshot::SnapshotError::Damaged(_))
        ));
    }
    for at in (0..snapshot.len()).step_by(97) {
        let mut flipped = snapshot.clone();
        flipped[at] ^= 0x10;
        assert!(
            Engine::restore(DetectConfig::default(), &[], &flipped).is_err(),
            "a flip at byte {at} went unnoticed"
        );
    }
}
