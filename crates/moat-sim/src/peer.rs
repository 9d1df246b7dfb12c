//! Peers beside moat: what simpler detectors would do on the same traffic, so a measurement
//! says whether moat's verdicts beat the first things a provider would try.
//!
//! Both peers read the exchanges themselves (not moat's state): a per-account daily cap,
//! from each account's busiest day, and an unsupervised Isolation Forest over per-account
//! features.

use std::collections::HashMap;

use moat_core::Exchange;
use moat_core::content::ContentSignals;
use moat_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR};
use scry_learn::anomaly::IsolationForest;

/// How many per-account features the Isolation Forest reads.
pub const FEATURES: usize = 14;

/// Trees in the forest, and the accounts each is grown on (the usual defaults).
const TREES: usize = 200;
const TREE_SAMPLE: usize = 256;

/// What the peers need of one account, counted exchange by exchange.
#[derive(Debug, Clone, Default)]
struct Tally {
    exchanges: u64,
    first_ts: i64,
    last_ts: i64,
    /// The day being counted, its exchanges so far, the busiest day's.
    day: i64,
    today: u64,
    busiest: u64,
    active_days: u64,
    single_turn: u64,
    reasoning_asks: u64,
    grading_asks: u64,
    capability: u64,
    log_max_tokens: f64,
    reasoning_mode: u64,
    log_output_ratio: f64,
    tools: u64,
    night: u64,
    with_system: u64,
    age_days: Option<f64>,
    verified: Option<bool>,
}

/// Per account, what the peers read off its exchanges (given in time order per account).
#[derive(Debug, Default)]
pub struct PeerInputs {
    accounts: HashMap<String, Tally>,
}

impl PeerInputs {
    /// Counts one exchange, with its content signals.
    pub fn count(&mut self, e: &Exchange, content: &ContentSignals) {
        let ts = e.ts.as_unix_micros();
        let day = ts.div_euclid(MICROS_PER_DAY);
        let t = match self.accounts.get_mut(e.account_id.as_str()) {
            Some(t) => t,
            None => self
                .accounts
                .entry(e.account_id.to_string())
                .or_insert_with(|| Tally {
                    first_ts: ts,
                    last_ts: ts,
                    day: day - 1,
                    ..Tally::default()
                }),
        };
        if t.day != day {
            t.day = day;
            t.today = 0;
            t.active_days += 1;
        }
        t.today += 1;
        t.busiest = t.busiest.max(t.today);
        t.exchanges += 1;
        t.first_ts = t.first_ts.min(ts);
        t.last_ts = t.last_ts.max(ts);
        t.single_turn += u64::from(!content.earlier_turns);
        t.reasoning_asks += u64::from(content.reasoning_ask);
        t.grading_asks += u64::from(content.grading_ask);
        t.capability += u64::from(content.capabilities.bits() != 0);
        let r = &e.request;
        t.log_max_tokens += r.max_tokens.map_or(0.0, |m| (m as f64).ln_1p());
        t.reasoning_mode += u64::from(r.reasoning == Some(true));
        t.tools += u64::from(r.tools.is_some_and(|n| n > 0));
        t.with_system += u64::from(r.system.is_some());
        let (input, output) = (e.usage.input_tokens, e.usage.output_tokens);
        if let (Some(i), Some(o)) = (input, output) {
            t.log_output_ratio += ((o as f64 + 1.0) / (i as f64 + 1.0)).ln();
        }
        let hour = ts.div_euclid(MICROS_PER_HOUR).rem_euclid(24);
        t.night += u64::from(hour < 6);
        if t.age_days.is_none()
            && let Some(created) = e.account.created_at
        {
            let age = (ts - created.as_unix_micros()).max(0) as f64 / MICROS_PER_DAY as f64;
            t.age_days = Some(age);
        }
        t.verified = e.account.verified.or(t.verified);
    }

    /// The account's exchanges on its busiest day (UTC), if it was seen.
    pub fn busiest_day(&self, account: &str) -> Option<u64> {
        self.accounts.get(account).map(|t| t.busiest)
    }

    /// Per account, its Isolation Forest anomaly score (higher is stranger), from a forest
    /// grown on every account seen, without labels. Empty when no account was seen.
    pub fn anomaly_scores(&self, seed: u64) -> HashMap<String, f64> {
        let mut ids: Vec<&String> = self.accounts.keys().collect();
        ids.sort_unstable();
        let rows: Vec<Vec<f64>> = ids.iter().map(|id| features(&self.accounts[*id])).collect();
        let mut forest = IsolationForest::new()
            .n_estimators(TREES)
            .max_samples(TREE_SAMPLE)
            .seed(seed);
        if rows.is_empty() || forest.fit(&rows).is_err() {
            return HashMap::new();
        }
        let scores = forest.predict(&rows);
        ids.into_iter().cloned().zip(scores).collect()
    }
}

/// The account's features, each a share, a logarithm or a flag (all finite).
fn features(t: &Tally) -> Vec<f64> {
    let n = t.exchanges.max(1) as f64;
    let share = |k: u64| k as f64 / n;
    let span_days = ((t.last_ts - t.first_ts) as f64 / MICROS_PER_DAY as f64).floor() + 1.0;
    let row = vec![
        (n / t.active_days.max(1) as f64).ln(),
        t.active_days as f64 / span_days.max(1.0),
        share(t.single_turn),
        share(t.reasoning_asks),
        share(t.grading_asks),
        share(t.capability),
        t.log_max_tokens / n,
        share(t.reasoning_mode),
        t.log_output_ratio / n,
        share(t.tools),
        share(t.night),
        share(t.with_system),
        t.age_days.map_or(-1.0, f64::ln_1p),
        match t.verified {
            Some(true) => 1.0,
            Some(false) => 0.0,
            None => 0.5,
        },
    ];
    debug_assert_eq!(row.len(), FEATURES);
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_core::EventTime;

    fn exchange(account: &str, hour: i64, max_tokens: u64) -> Exchange {
        let mut e = Exchange {
            ts: EventTime::from_unix_micros(1_699_920_000_000_000 + hour * MICROS_PER_HOUR)
                .expect("a valid time"),
            account_id: account.into(),
            ..Exchange::default()
        };
        e.request.max_tokens = Some(max_tokens);
        e
    }

    #[test]
    fn the_busiest_day_is_counted_per_account() {
        let mut peers = PeerInputs::default();
        let plain = ContentSignals::default();
        for hour in [0, 1, 2, 30, 31] {
            peers.count(&exchange("a", hour, 100), &plain);
        }
        peers.count(&exchange("b", 0, 100), &plain);
        assert_eq!(peers.busiest_day("a"), Some(3));
        assert_eq!(peers.busiest_day("b"), Some(1));
        assert_eq!(peers.busiest_day("c"), None);
    }

    #[test]
    fn the_forest_finds_the_account_unlike_the_others() {
        let mut peers = PeerInputs::default();
        let plain = ContentSignals::default();
        for i in 0..300 {
            let account = format!("customer-{i}");
            for k in 0..(3 + i % 7) {
                peers.count(&exchange(&account, 9 + k * 25, 500 + 10 * i as u64), &plain);
            }
        }
        let asks = ContentSignals {
            reasoning_ask: true,
            ..ContentSignals::default()
        };
        for k in 0..200 {
            peers.count(&exchange("odd", k % 24, 64_000), &asks);
        }
        let scores = peers.anomaly_scores(7);
        let odd = scores["odd"];
        assert!(
            scores.values().filter(|&&s| s >= odd).count() == 1,
            "the odd account is the strangest"
        );
    }
}
