//! [`AccountState`]: everything the engine keeps of one account, fixed-size and updated in
//! O(1) per exchange.

use xxhash_rust::xxh3::xxh3_64;

use crate::config::Limits;
use crate::content::{ContentSignals, Signature};
use crate::exchange::{AccountInfo, Exchange};
use crate::intel::IntelMatch;
use crate::keys::{self, AccountKeys, Carried, Key, TEMPLATE_BANDS};
use crate::profile::{Profile, RequestKinds};
use crate::sketch::Top;
use crate::time::{EventTime, MICROS_PER_DAY};
use crate::verdict::Verdict;

/// What the engine knows of one account.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AccountState {
    /// What the account's exchanges looked like (account counts left at zero; see
    /// [`AccountState::profile`]).
    exchanges: Profile,
    created_at: Option<EventTime>,
    program: bool,
    verified: Option<bool>,
    early_mover: bool,
    /// The kinds of partners' indicators the account's first exchanges matched, as bits.
    partner_kinds: u8,
    /// The partners whose indicators they matched, as bits.
    partners: u32,
    /// Payment, e-mail domain and sign-up hour keys.
    own_keys: AccountKeys,
    ips: Top<2>,
    prefixes: Top<2>,
    clients: Top<2>,
    systems: Top<2>,
    templates: [Top<1>; TEMPLATE_BANDS],
    last_signature: Option<Signature>,
    last_conversation: u64,
    /// The days (since the Unix epoch) of the last 64 on which the account was active:
    /// bit `k` is day `last_day - k`.
    active_days: u64,
    last_day: i64,
    /// The verdict and how it came about.
    pub decision: Decision,
}

/// An account's current verdict.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// The score behind it.
    pub score: f32,
    /// The campaign (cluster) the account is in, by the index of the cluster's root account.
    pub campaign: Option<u32>,
    /// When the account was first blocked.
    pub flagged_at: Option<EventTime>,
    /// Exchanges read before the account was blocked.
    pub before_block: u32,
}

/// What the engine tells an account about a model it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelNews {
    /// The model appeared in the traffic after the account's first exchange, and this
    /// exchange came within a day of its appearance.
    pub early_move: bool,
}

impl AccountState {
    /// Reads what an account record or an exchange says of the account.
    pub fn update_info(&mut self, info: &AccountInfo) {
        self.update_info_with_keys(info, keys::account_keys(info));
    }

    /// [`AccountState::update_info`] with the facts' keys worked out already.
    fn update_info_with_keys(&mut self, info: &AccountInfo, own_keys: AccountKeys) {
        if info.is_empty() {
            return;
        }
        if info.created_at.is_some() {
            self.created_at = info.created_at;
        }
        if let Some(channel) = info.signup_channel.as_deref() {
            self.program = ["education", "research", "startup"]
                .iter()
                .any(|program| channel.eq_ignore_ascii_case(program));
        }
        if info.verified.is_some() {
            self.verified = info.verified;
        }
        self.own_keys.update(own_keys);
    }

    /// Reads one exchange of the account.
    pub fn observe(
        &mut self,
        e: &Exchange,
        content: &ContentSignals,
        carried: &Carried,
        news: ModelNews,
        limits: &Limits,
    ) {
        self.update_info_with_keys(&e.account, carried.account);
        self.count_day(e.ts.as_unix_micros().div_euclid(MICROS_PER_DAY));
        let p = &mut self.exchanges;
        p.count_exchange(e.ts);
        p.count_kinds(&RequestKinds::of(e, content, limits));
        if let (Some(i), Some(o)) = (e.usage.input_tokens, e.usage.output_tokens) {
            p.tokens_known += 1;
            p.tokens_in += i;
            p.tokens_out += o;
        }
        if let Some(t) = e.request.temperature.filter(|t| t.is_finite()) {
            p.temperature.add(t);
        }
        let conversation = e
            .conversation_id
            .as_deref()
            .map_or(0, |c| xxh3_64(c.as_bytes()));
        let continued = conversation != 0 && conversation == self.last_conversation;
        p.single_turn += u32::from(!continued && !content.earlier_turns);
        self.last_conversation = conversation;
        if let Some(signature) = content.signature {
            if let Some(last) = &self.last_signature {
                p.similarity.add(last.similarity(&signature));
            }
            self.last_signature = Some(signature);
        }
        for (top, band) in self.templates.iter_mut().zip(carried.templates) {
            if let Some(band) = band {
                top.add(band.raw());
            }
        }
        self.early_mover |= news.early_move;
        let tops = [
            (&mut self.ips, carried.ip),
            (&mut self.prefixes, carried.prefix),
            (&mut self.clients, carried.client),
            (&mut self.systems, carried.system),
        ];
        for (top, key) in tops {
            if let Some(k) = key {
                top.add(k.raw());
            }
        }
    }

    fn count_day(&mut self, day: i64) {
        if self.exchanges.exchanges == 0 || day > self.last_day {
            let shift = if self.exchanges.exchanges == 0 {
                64
            } else {
                day - self.last_day
            };
            self.active_days = if shift >= 64 {
                0
            } else {
                self.active_days << shift
            };
            self.active_days |= 1;
            self.last_day = day;
        } else if self.last_day - day < 64 {
            self.active_days |= 1 << (self.last_day - day);
        }
    }

    /// The days on which the account was active, of the last 64 of its life: (days alive
    /// in that window, days active).
    pub fn active_days(&self) -> (u32, u32) {
        let Some((first, _)) = self.exchanges.span else {
            return (0, 0);
        };
        let first_day = first.div_euclid(MICROS_PER_DAY);
        let alive = (self.last_day - first_day + 1).clamp(1, 64) as u32;
        (alive, self.active_days.count_ones())
    }

    /// Exchanges read.
    pub fn exchange_count(&self) -> u32 {
        self.exchanges.exchanges
    }

    /// First and last event time of the account's exchanges (µs).
    pub fn span(&self) -> Option<(i64, i64)> {
        self.exchanges.span
    }

    /// When the account was opened, if known.
    pub fn created_at(&self) -> Option<EventTime> {
        self.created_at
    }

    /// The account's profile, with its own account counts (young, programme, verified).
    pub fn profile(&self, limits: &Limits) -> Profile {
        let mut p = self.exchanges;
        p.accounts = 1;
        if let (Some(created), Some((first, _))) = (self.created_at, p.span) {
            let age_days = (first - created.as_unix_micros()) as f64 / MICROS_PER_DAY as f64;
            p.young = u32::from(age_days < limits.young_days);
            p.new_accounts = u32::from(age_days < limits.new_account_days);
        }
        p.program = u32::from(self.program);
        p.verification_known = u32::from(self.verified.is_some());
        p.unverified = u32::from(self.verified == Some(false));
        p.early_movers = u32::from(self.early_mover);
        p.partner_matches = u32::from(self.partner_kinds.count_ones() >= 2);
        p
    }

    /// Records what an exchange of the account matched of partners' indicators.
    pub fn add_partner_match(&mut self, m: IntelMatch) {
        self.partner_kinds |= m.kinds;
        self.partners |= m.partners;
    }

    /// The partners whose indicators the account matched, as bits, once they give it the
    /// `partner_intel` signal (two kinds or more).
    pub fn partners(&self) -> u32 {
        if self.partner_kinds.count_ones() >= 2 {
            self.partners
        } else {
            0
        }
    }

    /// Whether the account carries many unrelated senders' traffic: on at least two of its
    /// addresses, clients and system prompts, no two values make up half of the requests
    /// that carry one (as a reseller's or relay's traffic does; a person's, a team's or an
    /// app's keeps to a few).
    pub fn carries_many(&self) -> bool {
        [&self.ips, &self.clients, &self.systems]
            .iter()
            .filter(|top| top.spread())
            .count()
            >= 2
    }

    /// The keys the account holds now: its own (payment, domain, sign-up hour), its most
    /// used addresses, networks, clients and system prompts, and the template bands it
    /// repeats.
    pub fn keys(&self, mut each: impl FnMut(Key)) {
        self.own_keys.iter().for_each(&mut each);
        for top in [&self.ips, &self.prefixes, &self.clients, &self.systems] {
            top.frequent(1).for_each(|(k, _)| each(Key::from_raw(k)));
        }
        for top in &self.templates {
            top.frequent(2).for_each(|(k, _)| each(Key::from_raw(k)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_per_account_stays_small() {
        let size = std::mem::size_of::<AccountState>();
        eprintln!("AccountState: {size} bytes");
        assert!(size <= 1024, "AccountState grew to {size} bytes");
    }

    #[test]
    fn active_days_count_each_day_once_and_slide() {
        let mut a = AccountState::default();
        let e = |day: i64, hour: i64| Exchange {
            ts: EventTime::from_unix_micros(
                day * MICROS_PER_DAY + hour * crate::time::MICROS_PER_HOUR,
            )
            .unwrap(),
            ..Exchange::default()
        };
        let content = crate::content::analyse(&Default::default());
        let carried = Carried::default();
        let news = ModelNews { early_move: false };
        let limits = Limits::default();
        for (day, hour) in [(100, 1), (100, 5), (101, 2), (103, 9), (102, 3)] {
            a.observe(&e(day, hour), &content, &carried, news, &limits);
        }
        assert_eq!(a.active_days(), (4, 4));
        a.observe(&e(200, 0), &content, &carried, news, &limits);
        assert_eq!(a.active_days(), (64, 1));
    }

    #[test]
    fn many_senders_on_one_account_are_told_from_one() {
        let limits = Limits::default();
        let news = ModelNews { early_move: false };
        let request = crate::exchange::Request {
            system: Some("You are a helpful assistant.".into()),
            prompt: Some("What is the capital of France?".into()),
            ..Default::default()
        };
        let content = crate::content::analyse(&request);
        let e = |k: u64| Exchange {
            ts: EventTime::from_unix_micros(k as i64 * crate::time::MICROS_PER_MINUTE).unwrap(),
            request: request.clone(),
            ..Exchange::default()
        };
        let carried = |ip: u64, client: u64, system: u64| Carried {
            ip: Some(Key::from_raw(ip)),
            client: Some(Key::from_raw(client)),
            system: Some(Key::from_raw(system)),
            ..Carried::default()
        };
        let (mut relay, mut proxy, mut person) = Default::default();
        let (relay, proxy, person): (&mut AccountState, &mut AccountState, &mut AccountState) =
            (&mut relay, &mut proxy, &mut person);
        for k in 0..300 {
            // Many addresses and system prompts behind one client; the same through one
            // address; one address, client and system prompt.
            relay.observe(
                &e(k),
                &content,
                &carried(1000 + k % 40, 7, 2000 + k % 9),
                news,
                &limits,
            );
            proxy.observe(&e(k), &content, &carried(1, 7, 2000 + k % 9), news, &limits);
            person.observe(&e(k), &content, &carried(1, 7, 2), news, &limits);
        }
        assert!(relay.carries_many());
        assert!(!proxy.carries_many(), "one kind of spread is not enough");
        assert!(!person.carries_many());
    }
}
