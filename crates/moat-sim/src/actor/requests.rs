//! The requests actors send: one function per kind of sender, each writing the request of an
//! exchange and saying whether its session has more turns to come.

use moat_core::{Exchange, Message, Role};
use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand_distr::{Distribution, LogNormal};

use crate::identity::mix;
use crate::text::{self, COMMON_SYSTEM_PROMPTS, Corpus, Focus, Topic};
use crate::world::World;

use super::{CampaignSlot, Session, conversation_id, put};

/// A person's turn: a conversation from the corpus or everyday topics, a few turns long.
pub(super) fn person(
    rng: &mut SmallRng,
    session: &mut Session,
    e: &mut Exchange,
    corpus: Option<&Corpus>,
    topics: &'static [Topic],
    system: Option<&'static str>,
) -> bool {
    if session.left == 0 {
        let turns = match corpus.and_then(|c| c.human_conversation(rng)) {
            Some(turns) => turns.to_vec(),
            None => {
                let n = 1 + geometric(rng, 0.55).min(7);
                let topic = *topics.choose(rng).unwrap_or(&Topic::Knowledge);
                std::iter::once(text::benign_prompt(rng, topic))
                    .chain((1..n).map(|_| text::follow_up(rng)))
                    .collect()
            }
        };
        session.begin(turns, conversation_id(rng));
    }
    session.asked += 1;
    e.conversation_id.clone_from(&session.conversation);
    e.request.system = system.map(str::to_owned);
    e.request.messages = conversation(&session.user_turns[..session.asked]);
    e.request.max_tokens = [None, Some(1024), Some(4096)]
        .choose(rng)
        .copied()
        .flatten();
    e.request.temperature = [None, Some(0.7), Some(1.0)].choose(rng).copied().flatten();
    usage(rng, e, 350.0, false);
    session.left -= 1;
    session.left > 0
}

/// A power user's turn: a hard question, often with an ask for the steps in their own
/// words, extended thinking and a huge `max_tokens`.
pub(super) fn power_user(
    rng: &mut SmallRng,
    session: &mut Session,
    e: &mut Exchange,
    corpus: Option<&Corpus>,
    asks: f64,
) -> bool {
    if session.left == 0 {
        let topic = *[Topic::Homework, Topic::Coding, Topic::Knowledge]
            .choose(rng)
            .unwrap_or(&Topic::Homework);
        let question = match corpus.and_then(|c| c.human_conversation(rng)) {
            Some(turns) => turns[0].clone(),
            None => text::benign_prompt(rng, topic),
        };
        let question = if rng.random_bool(asks) {
            let ask = text::open::reasoning_ask(rng);
            if rng.random_bool(0.5) {
                format!("{question}\n\n{ask}")
            } else {
                format!("{ask} {question}")
            }
        } else {
            question
        };
        let n = 1 + geometric(rng, 0.6).min(4);
        let turns = std::iter::once(question)
            .chain((1..n).map(|_| text::follow_up(rng)))
            .collect();
        session.begin(turns, conversation_id(rng));
    }
    session.asked += 1;
    e.conversation_id.clone_from(&session.conversation);
    e.request.messages = conversation(&session.user_turns[..session.asked]);
    e.request.max_tokens = Some(*[32_000u64, 64_000].choose(rng).unwrap_or(&32_000));
    e.request.temperature = [None, Some(1.0)].choose(rng).copied().flatten();
    e.request.reasoning = Some(rng.random_bool(0.85));
    usage(rng, e, 1500.0, e.request.reasoning == Some(true));
    session.left -= 1;
    session.left > 0
}

/// A developer's agent's turn: a coding task, then tool results, with tools and a coding
/// system prompt.
pub(super) fn developer(rng: &mut SmallRng, session: &mut Session, e: &mut Exchange) -> bool {
    if session.left == 0 {
        session.left = rng.random_range(4..48);
        session.asked = 0;
        let conv = conversation_id(rng);
        session.conversation = Some(conv);
    }
    let first = session.asked == 0;
    session.asked += 1;
    let prompt = if first {
        text::benign_prompt(rng, Topic::Coding)
    } else {
        format!(
            "Tool result ({}):\n{}\nContinue.",
            ["run_tests", "bash", "read_file", "search_code"]
                .choose(rng)
                .unwrap_or(&"bash"),
            if rng.random_bool(0.5) {
                "2 passed, 1 failed"
            } else {
                "exit status 0"
            }
        )
    };
    e.conversation_id.clone_from(&session.conversation);
    e.request.system = Some(COMMON_SYSTEM_PROMPTS[3].to_owned());
    e.request.prompt = Some(prompt);
    e.request.tools = Some(rng.random_range(4..16));
    e.request.max_tokens = Some(*[8192u64, 16384, 32000, 64000].choose(rng).unwrap_or(&8192));
    e.request.temperature = Some(*[0.0, 0.2, 1.0].choose(rng).unwrap_or(&0.0));
    e.request.reasoning = Some(rng.random_bool(0.4));
    usage(rng, e, 900.0, e.request.reasoning == Some(true));
    session.left -= 1;
    session.left > 0
}

/// An application backend's request: an end user's support question under the product's
/// system prompt.
pub(super) fn app_backend(rng: &mut SmallRng, e: &mut Exchange, system: &str) -> bool {
    e.request.system = Some(system.to_owned());
    e.request.prompt = Some(text::benign_prompt(rng, Topic::Support));
    e.conversation_id = Some(conversation_id(rng));
    e.request.max_tokens = Some(512);
    e.request.temperature = Some(0.3);
    usage(rng, e, 150.0, false);
    false
}

/// A reseller's request: one of many end users' questions, under a common system prompt.
pub(super) fn reseller(rng: &mut SmallRng, e: &mut Exchange) -> bool {
    let topic = *[
        Topic::Knowledge,
        Topic::Coding,
        Topic::Writing,
        Topic::Everyday,
        Topic::Homework,
    ]
    .choose(rng)
    .unwrap_or(&Topic::Knowledge);
    e.request.system = COMMON_SYSTEM_PROMPTS.choose(rng).map(|s| (*s).to_owned());
    e.request.prompt = Some(text::benign_prompt(rng, topic));
    e.conversation_id = Some(conversation_id(rng));
    e.request.max_tokens = Some(4096);
    usage(rng, e, 400.0, false);
    false
}

/// A scheduled job's request: the next ticket to summarise.
pub(super) fn automation(rng: &mut SmallRng, e: &mut Exchange, job: &mut u64) -> bool {
    *job += 1;
    e.request.system = Some("You summarise support tickets for the on-call engineer.".to_owned());
    e.request.prompt = Some(format!(
        "Summarise this ticket in one sentence.\nTicket #{}: {}",
        10_000 + *job,
        text::benign_prompt(rng, Topic::Support)
    ));
    e.request.max_tokens = Some(128);
    e.request.temperature = Some(0.0);
    usage(rng, e, 60.0, false);
    false
}

/// An evaluation harness's request: the next benchmark item of a run.
pub(super) fn eval_harness(
    rng: &mut SmallRng,
    e: &mut Exchange,
    left: &mut u32,
    item: &mut u64,
    cot: &mut bool,
) -> bool {
    *left = left.saturating_sub(1);
    *item += 1;
    let question = text::benign_prompt(
        rng,
        if *cot {
            Topic::Homework
        } else {
            Topic::Knowledge
        },
    );
    e.request.prompt = Some(if *cot {
        format!(
            "Question {item}: {question}\nLet's think step by step. End with \"The answer is N\"."
        )
    } else {
        format!(
            "Question {item}: {question}\nA) first\nB) second\nC) third\nD) fourth\nAnswer with a single letter."
        )
    });
    e.request.max_tokens = Some(if *cot { 2048 } else { 8 });
    e.request.temperature = Some(0.0);
    usage(rng, e, if *cot { 500.0 } else { 2.0 }, false);
    *left > 0
}

/// A campaign slot's request: filler, or the next cell of the campaign's sweep worded as
/// the campaign words it; a human-timed slot keeps a session of a few requests.
pub(super) fn campaign(
    rng: &mut SmallRng,
    session: &mut Session,
    e: &mut Exchange,
    corpus: Option<&Corpus>,
    slot: &CampaignSlot,
    world: &mut World,
) -> bool {
    let state = &mut world.campaigns[slot.campaign];
    let human = slot.human;
    if state.filler > 0.0 && rng.random_bool(state.filler) {
        let topic = *[
            Topic::Knowledge,
            Topic::Everyday,
            Topic::Writing,
            Topic::Coding,
        ]
        .choose(rng)
        .unwrap_or(&Topic::Knowledge);
        e.request.prompt = Some(text::benign_prompt(rng, topic));
        e.request.max_tokens = [None, Some(1024)].choose(rng).copied().flatten();
        usage(rng, e, 300.0, false);
    } else {
        let n = state.next_cell();
        let seed_prompt = corpus
            .as_ref()
            .and_then(|c| c.distill_prompt(mix(state.seed, n)));
        if state.open_wording {
            let (system, prompt) =
                text::open::campaign_request(rng, state.focus, &slot.system, seed_prompt);
            e.request.system = system;
            e.request.prompt = Some(prompt);
            e.request.tools = match state.focus {
                Focus::Agentic | Focus::AgenticCoding => Some(rng.random_range(2..10)),
                _ => None,
            };
        } else {
            let p = text::campaign_prompt(rng, state.focus, &slot.wording, n, seed_prompt);
            e.request.system = p.system;
            e.request.prompt = Some(p.prompt);
            e.request.tools = Some(p.tools);
        }
        let reasoning = if state.ordinary_requests {
            e.request.max_tokens = [None, Some(4096), Some(8192), Some(16_384)]
                .choose(rng)
                .copied()
                .flatten();
            e.request.temperature = [None, Some(0.2), Some(0.7), Some(1.0)]
                .choose(rng)
                .copied()
                .flatten();
            rng.random_bool(0.4)
        } else {
            e.request.max_tokens =
                Some(*[16_000u64, 32_000, 64_000].choose(rng).unwrap_or(&16_000));
            e.request.temperature = Some(1.0);
            true
        };
        e.request.reasoning = Some(reasoning);
        usage(rng, e, 2200.0, reasoning);
    }
    if human {
        if session.left == 0 {
            session.left = rng.random_range(2..=7);
            let conv = conversation_id(rng);
            session.conversation = Some(conv);
        }
        session.left -= 1;
        e.conversation_id.clone_from(&session.conversation);
        session.left > 0
    } else {
        e.conversation_id = Some(conversation_id(rng));
        false
    }
}

/// Failures before the first success of a trial with success chance `p`.
fn geometric<R: Rng>(rng: &mut R, p: f64) -> u32 {
    let mut n = 0;
    while n < 64 && !rng.random_bool(p) {
        n += 1;
    }
    n
}

/// Token counts for a request: input from its text, output around `median_out`.
fn usage<R: Rng>(rng: &mut R, e: &mut Exchange, median_out: f64, reasoning: bool) {
    let chars: usize = e.request.prompt.as_ref().map_or(0, String::len)
        + e.request.system.as_ref().map_or(0, String::len)
        + e.request
            .messages
            .iter()
            .map(|m| m.content.len())
            .sum::<usize>();
    let out: f64 = LogNormal::new(median_out.max(1.0).ln(), 0.7)
        .expect("valid")
        .sample(rng);
    let out = out
        .min(e.request.max_tokens.unwrap_or(u64::MAX) as f64)
        .max(1.0) as u64;
    e.usage.input_tokens = Some((chars / 4).max(1) as u64);
    e.usage.output_tokens = Some(out);
    e.usage.reasoning_tokens = reasoning.then(|| (out as f64 * rng.random_range(0.3..0.8)) as u64);
    let finish = if Some(out) == e.request.max_tokens {
        "length"
    } else {
        "stop"
    };
    put(&mut e.response.finish_reason, finish);
}

/// What people say back between turns, standing in for the answers logs carry.
const REPLIES: &[&str] = &[
    "Sure, here is an answer.",
    "Here is what I found.",
    "Good question. In short: it depends.",
    "Here you go.",
];

/// A message list: the user turns with the assistant's replies between them.
fn conversation(user_turns: &[String]) -> Vec<Message> {
    let mut messages = Vec::with_capacity(user_turns.len() * 2);
    for (i, turn) in user_turns.iter().enumerate() {
        if i > 0 {
            messages.push(Message {
                role: Role::Assistant,
                content: REPLIES[i % REPLIES.len()].to_owned(),
            });
        }
        messages.push(Message {
            role: Role::User,
            content: turn.clone(),
        });
    }
    messages
}
