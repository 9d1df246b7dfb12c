//! [`Profile`]: the mergeable summary of what one or many accounts did. Fixed size; two
//! profiles merge as if their exchanges had been read into one.

use crate::config::Limits;
use crate::content::{ContentSignals, TOPIC_BUCKETS};
use crate::exchange::Exchange;
use crate::sketch::Moments;
use crate::time::{EventTime, MICROS_PER_DAY, MICROS_PER_HOUR};

/// What one request shows of the kinds a [`Profile`] counts: those read off the request
/// alone, before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestKinds {
    /// It asks for written-out reasoning.
    pub reasoning: bool,
    /// It asks the model to grade.
    pub grading: bool,
    /// It targets code, agents, maths or long tasks.
    pub targeted: bool,
    /// A huge `max_tokens`, or extended thinking on.
    pub heavy: bool,
    /// It offers the model tools.
    pub tools: bool,
    /// Extended thinking on.
    pub reasoning_mode: bool,
    /// It carries a system prompt.
    pub with_system: bool,
    /// It carries earlier turns of a conversation.
    pub earlier_turns: bool,
    /// The topic buckets its prompt touches, one bit each.
    pub topics: u16,
}

impl RequestKinds {
    /// The kinds of the request of `e`, whose text read as `content`.
    pub fn of(e: &Exchange, content: &ContentSignals, limits: &Limits) -> Self {
        let r = &e.request;
        Self {
            reasoning: content.reasoning_ask,
            grading: content.grading_ask,
            targeted: content.capabilities.bits() != 0,
            heavy: r.reasoning == Some(true)
                || r.max_tokens.is_some_and(|m| m >= limits.large_max_tokens),
            tools: r.tools.is_some_and(|n| n > 0),
            reasoning_mode: r.reasoning == Some(true),
            with_system: content.system_hash.is_some(),
            earlier_turns: content.earlier_turns,
            topics: content.topics,
        }
    }

    /// Whether it touches topic bucket `k`.
    pub fn topic(&self, k: usize) -> bool {
        self.topics >> k & 1 == 1
    }
}

/// Counts, histograms and moments of exchanges, and counts of accounts by kind.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// Exchanges read.
    pub exchanges: u32,
    /// First and last event time seen (µs), if any exchange was read.
    pub span: Option<(i64, i64)>,
    /// Exchanges asking for written-out reasoning.
    pub reasoning: u32,
    /// Exchanges asking the model to grade.
    pub grading: u32,
    /// Exchanges targeting code, agents, maths or long tasks.
    pub targeted: u32,
    /// One-shot exchanges (no earlier turn in the request, no continued conversation).
    pub single_turn: u32,
    /// Heavy requests: a huge `max_tokens`, or extended thinking on.
    pub heavy_requests: u32,
    /// Requests that offer the model tools.
    pub tools: u32,
    /// Requests with extended thinking on.
    pub reasoning_mode: u32,
    /// Requests with a system prompt.
    pub with_system: u32,
    /// Requests that carry earlier turns of a conversation.
    pub earlier_turns: u32,
    /// Prompts touching each topic bucket ([`ContentSignals::topics`](crate::ContentSignals)).
    pub topics: [u32; TOPIC_BUCKETS],
    /// Exchanges whose token counts are known.
    pub tokens_known: u32,
    /// Input tokens of those.
    pub tokens_in: u64,
    /// Output tokens of those.
    pub tokens_out: u64,
    /// Sampling temperatures of the requests that set one.
    pub temperature: Moments,
    /// Similarity of each prompt's template signature to the one before it.
    pub similarity: Moments,
    /// Exchanges by hour of the day (UTC).
    pub hours: [u32; 24],
    /// Seconds between consecutive exchanges of one account.
    pub gaps: Moments,
    /// Accounts summarised.
    pub accounts: u32,
    /// Accounts first used soon after being opened.
    pub young: u32,
    /// Accounts opened less than `new_account_days` before their first use.
    pub new_accounts: u32,
    /// Accounts opened through an education, research or startup programme.
    pub program: u32,
    /// Accounts whose verification is known.
    pub verification_known: u32,
    /// Accounts known to be unverified.
    pub unverified: u32,
    /// Accounts that moved to a newly released model within a day of its release.
    pub early_movers: u32,
    /// Accounts (of `accounts`) that matched at least two kinds of a partner's indicators.
    pub partner_matches: u32,
}

impl Profile {
    /// Counts one exchange at `ts`.
    pub fn count_exchange(&mut self, ts: EventTime) {
        let t = ts.as_unix_micros();
        if let Some((first, last)) = &mut self.span {
            if self.exchanges > 0 && t >= *last {
                self.gaps.add((t - *last) as f64 / 1e6);
            }
            *first = (*first).min(t);
            *last = (*last).max(t);
        } else {
            self.span = Some((t, t));
        }
        self.exchanges += 1;
        self.hours[(t.rem_euclid(MICROS_PER_DAY) / MICROS_PER_HOUR) as usize] += 1;
    }

    /// Counts the kinds of one request.
    pub fn count_kinds(&mut self, k: &RequestKinds) {
        self.reasoning += u32::from(k.reasoning);
        self.grading += u32::from(k.grading);
        self.targeted += u32::from(k.targeted);
        self.heavy_requests += u32::from(k.heavy);
        self.tools += u32::from(k.tools);
        self.reasoning_mode += u32::from(k.reasoning_mode);
        self.with_system += u32::from(k.with_system);
        self.earlier_turns += u32::from(k.earlier_turns);
        for (t, count) in self.topics.iter_mut().enumerate() {
            *count += u32::from(k.topic(t));
        }
    }

    /// Days from the first to the last exchange.
    pub fn span_days(&self) -> f64 {
        self.span
            .map_or(0.0, |(a, b)| (b - a) as f64 / MICROS_PER_DAY as f64)
    }

    /// The share of exchanges in the quietest `width` consecutive hours of the day.
    pub fn quietest_hours_share(&self, width: usize) -> f64 {
        if self.exchanges == 0 {
            return 0.0;
        }
        let quietest = (0..24)
            .map(|start| {
                (0..width)
                    .map(|k| self.hours[(start + k) % 24])
                    .sum::<u32>()
            })
            .min()
            .unwrap_or(0);
        quietest as f64 / self.exchanges as f64
    }

    /// Folds `other` in.
    pub fn merge(&mut self, other: &Profile) {
        self.span = match (self.span, other.span) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (one, other) => one.or(other),
        };
        self.exchanges += other.exchanges;
        self.reasoning += other.reasoning;
        self.grading += other.grading;
        self.targeted += other.targeted;
        self.single_turn += other.single_turn;
        self.heavy_requests += other.heavy_requests;
        self.tools += other.tools;
        self.reasoning_mode += other.reasoning_mode;
        self.with_system += other.with_system;
        self.earlier_turns += other.earlier_turns;
        for (a, b) in self.topics.iter_mut().zip(other.topics) {
            *a += b;
        }
        self.tokens_known += other.tokens_known;
        self.tokens_in += other.tokens_in;
        self.tokens_out += other.tokens_out;
        self.temperature.merge(&other.temperature);
        self.similarity.merge(&other.similarity);
        for (a, b) in self.hours.iter_mut().zip(other.hours) {
            *a += b;
        }
        self.gaps.merge(&other.gaps);
        self.accounts += other.accounts;
        self.young += other.young;
        self.new_accounts += other.new_accounts;
        self.program += other.program;
        self.verification_known += other.verification_known;
        self.unverified += other.unverified;
        self.early_movers += other.early_movers;
        self.partner_matches += other.partner_matches;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: i64) -> EventTime {
        EventTime::from_unix_micros(hour * MICROS_PER_HOUR).unwrap()
    }

    #[test]
    fn round_the_clock_activity_has_no_quiet_hours() {
        let mut machine = Profile::default();
        let mut human = Profile::default();
        for h in 0..24 * 7 {
            machine.count_exchange(at(h));
            if (h % 24) >= 8 && (h % 24) < 22 {
                human.count_exchange(at(h));
            }
        }
        assert!((machine.quietest_hours_share(6) - 0.25).abs() < 1e-9);
        assert_eq!(human.quietest_hours_share(6), 0.0);
        assert!((machine.span_days() - (24.0 * 7.0 - 1.0) / 24.0).abs() < 1e-9);
    }

    #[test]
    fn merged_profiles_count_everything_once() {
        let mut a = Profile::default();
        let mut b = Profile::default();
        a.count_exchange(at(1));
        a.reasoning = 1;
        b.count_exchange(at(5));
        b.count_exchange(at(9));
        a.merge(&b);
        assert_eq!(a.exchanges, 3);
        assert_eq!(a.reasoning, 1);
        assert_eq!(
            a.span,
            Some((at(1).as_unix_micros(), at(9).as_unix_micros()))
        );
        assert_eq!(a.hours.iter().sum::<u32>(), 3);
    }
}
