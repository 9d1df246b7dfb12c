//! Reading records in: each exchange placed on the stream's clock, taken into its
//! account's state, and checked against the keys of blocked campaigns.

use crate::account::ModelNews;
use crate::analysed::{Analysed, AnalysedRecord};
use crate::blocklist::ExchangeKeys;
use crate::exchange::{AccountRecord, Exchange};
use crate::keys::Carried;
use crate::time::{EventTime, MICROS_PER_DAY};
use crate::verdict::Verdict;

use super::Engine;

/// How many accounts ahead of its turn an account's state is fetched.
const PREFETCH_AHEAD: usize = 8;

impl Engine {
    /// Reads what an account record says of an account.
    pub fn observe_account(&mut self, record: &AccountRecord) {
        let i = self.account(&record.account_id);
        self.accounts[i as usize].update_info(&record.account);
        self.touch(i);
    }

    /// Reads records in order. Faster than one record at a time: each exchange's account
    /// is looked up a few records before its turn, and its state fetched into the cache
    /// meanwhile.
    pub fn observe_records(&mut self, records: &[AnalysedRecord]) {
        // The account of record `n`, if known when it was looked up ahead, at
        // `n % PREFETCH_AHEAD`.
        let mut ahead = [None; PREFETCH_AHEAD];
        let look_up = |engine: &Self, n: usize| match records.get(n) {
            Some(AnalysedRecord::Exchange(a)) => {
                let known = engine.ids.get(a.exchange().account_id.as_str()).copied();
                if let Some(i) = known {
                    engine.prefetch_account(i);
                }
                known
            }
            _ => None,
        };
        for (n, slot) in ahead.iter_mut().enumerate() {
            *slot = look_up(self, n);
        }
        for (n, record) in records.iter().enumerate() {
            let known = std::mem::replace(
                &mut ahead[n % PREFETCH_AHEAD],
                look_up(self, n + PREFETCH_AHEAD),
            );
            match record {
                AnalysedRecord::Exchange(a) => self.take_in(known, a),
                AnalysedRecord::Account(r) => self.observe_account(r),
            }
        }
    }

    /// Reads one exchange.
    pub fn observe(&mut self, analysed: &Analysed) {
        self.take_in(None, analysed);
    }

    /// Takes an exchange in; `known` is its account's index, if looked up already.
    fn take_in(&mut self, known: Option<u32>, analysed: &Analysed) {
        let (e, content, carried) = (analysed.exchange(), analysed.content(), analysed.carried());
        let placed = self.advance(e.ts.as_unix_micros());
        let at_clock;
        let e = if placed.clamped {
            at_clock = Exchange {
                ts: EventTime::from_unix_micros(placed.ts).unwrap_or(e.ts),
                ..e.clone()
            };
            &at_clock
        } else {
            e
        };
        let ts = placed.ts;
        self.first_ts = Some(self.first_ts.map_or(ts, |first| first.min(ts)));
        self.exchanges += 1;
        let i = known.unwrap_or_else(|| self.account(&e.account_id));
        self.touch(i);
        let news = self.model_news(e, i);
        let state = &mut self.accounts[i as usize];
        state.observe(e, content, carried, news, &self.config.limits);
        if let Some(intel) = &self.intel
            && state.exchange_count() <= crate::intel::CHECKED_EXCHANGES
        {
            state.add_partner_match(intel.matches(e, content));
        }
        if let Some(activity) = &mut self.activity {
            if activity.len() <= i as usize {
                activity.resize_with(i as usize + 1, Default::default);
            }
            activity[i as usize].observe(e.ts, content);
        }
        if state.decision.verdict != Verdict::Block {
            self.check_blocked_keys(i, e, carried);
        }
        let decision = &mut self.accounts[i as usize].decision;
        if decision.verdict != Verdict::Block {
            decision.before_block += 1;
        }
    }

    fn model_news(&mut self, e: &Exchange, account: u32) -> ModelNews {
        let ts = e.ts.as_unix_micros();
        let Some(model) = e.model.as_deref() else {
            return ModelNews { early_move: false };
        };
        let released = match self.models.get(model) {
            Some(&t) => t,
            None => {
                self.models.insert(model.into(), ts);
                ts
            }
        };
        let log_start = self.first_ts.unwrap_or(ts);
        let was_active_before = self.accounts[account as usize]
            .span()
            .is_some_and(|(first, _)| first < released);
        ModelNews {
            early_move: released > log_start + MICROS_PER_DAY
                && ts - released < MICROS_PER_DAY
                && was_active_before,
        }
    }

    /// Blocks at once an account whose exchange carries keys of a blocked campaign worth a
    /// full link (one key per kind counts, so templates alone never suffice): the keys the
    /// exchange carries, and the account's (its own facts, as this exchange updated them,
    /// and the keys it repeats).
    fn check_blocked_keys(&mut self, i: u32, e: &Exchange, carried: &Carried) {
        if self.blocklist.is_empty() {
            return;
        }
        let mut found: ExchangeKeys = carried.keys().collect();
        self.accounts[i as usize].keys(|k| found.push(k));
        let Some(root) = self
            .blocklist
            .matching(&found, &self.config.linking.strength)
        else {
            return;
        };
        let score = self
            .campaigns
            .get(&root)
            .map_or(1.0, |c| c.findings.score());
        let decision = &mut self.accounts[i as usize].decision;
        decision.verdict = Verdict::Block;
        decision.campaign = Some(root);
        decision.flagged_at = Some(e.ts);
        decision.score = score.max(self.config.block) as f32;
        self.with_blocks.insert(root);
        self.changed(i);
    }
}
