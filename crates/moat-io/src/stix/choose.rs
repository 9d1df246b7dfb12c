//! Which values become a campaign's indicators: a value one campaign's accounts shared and
//! no other account used, by enough of them, the most used first.

use std::collections::{HashMap, HashSet};

use moat_core::{CampaignReport, EventTime};

use super::{CampaignIntel, Indicator, IndicatorKind};

/// The most indicators of each kind a campaign is given.
pub const MAX_PER_KIND: usize = 500;

/// What is known of one value: who used it, how often, when.
struct Seen {
    /// Accounts of each campaign that used it (by campaign number).
    members: HashMap<u32, HashSet<u32>>,
    /// Some account outside every campaign used it.
    outsider: bool,
    exchanges: u64,
    first: i64,
    last: i64,
}

/// The values seen in traffic and who used them, from which each campaign's indicators are
/// chosen.
#[derive(Default)]
pub struct IndicatorChoice {
    seen: HashMap<(IndicatorKind, String), Seen>,
}

impl IndicatorChoice {
    /// Counts the `values` one exchange at `at` carried ([`values`](super::values)), sent
    /// by `account` (by number) of `campaign` (by its number in the report), either unknown
    /// for an account outside every campaign.
    pub fn count(
        &mut self,
        values: Vec<(IndicatorKind, String)>,
        account: Option<u32>,
        campaign: Option<u32>,
        at: EventTime,
    ) {
        let ts = at.as_unix_micros();
        for value in values {
            let s = self.seen.entry(value).or_insert_with(|| Seen {
                members: HashMap::new(),
                outsider: false,
                exchanges: 0,
                first: ts,
                last: ts,
            });
            match (campaign, account) {
                (Some(c), Some(a)) => {
                    s.members.entry(c).or_default().insert(a);
                }
                _ => s.outsider = true,
            }
            s.exchanges += 1;
            s.first = s.first.min(ts);
            s.last = s.last.max(ts);
        }
    }

    /// Each campaign of `campaigns` (the report's, in its order) with its indicators: the
    /// values its accounts shared and no other account used, at least two of its accounts
    /// (for a template band, a twentieth of them and at least three: a few accounts of a
    /// large campaign share a band by chance), at most [`MAX_PER_KIND`] of a kind, the
    /// most used first.
    pub fn choose(self, campaigns: &[CampaignReport]) -> Vec<CampaignIntel> {
        let mut out: Vec<CampaignIntel> = campaigns
            .iter()
            .map(|c| CampaignIntel {
                report: c.clone(),
                indicators: Vec::new(),
            })
            .collect();
        for ((kind, value), s) in self.seen {
            if s.outsider || s.members.len() != 1 {
                continue;
            }
            let Some((&campaign, accounts)) = s.members.iter().next() else {
                continue;
            };
            let Some(c) = out.get_mut(campaign as usize) else {
                continue;
            };
            let least = match kind {
                IndicatorKind::Template => (c.report.accounts / 20).max(3),
                _ => 2,
            };
            if (accounts.len() as u64) < least {
                continue;
            }
            let at = |t| EventTime::from_unix_micros(t).unwrap_or_default();
            c.indicators.push(Indicator {
                kind,
                value,
                accounts: accounts.len() as u64,
                exchanges: s.exchanges,
                first_seen: at(s.first),
                last_seen: at(s.last),
            });
        }
        for c in &mut out {
            c.indicators.sort_by(|a, b| {
                (a.kind, std::cmp::Reverse(a.accounts), &a.value).cmp(&(
                    b.kind,
                    std::cmp::Reverse(b.accounts),
                    &b.value,
                ))
            });
            let mut kept: HashMap<IndicatorKind, usize> = HashMap::new();
            c.indicators.retain(|i| {
                let n = kept.entry(i.kind).or_default();
                *n += 1;
                *n <= MAX_PER_KIND
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(accounts: u64) -> CampaignReport {
        CampaignReport {
            id: "campaign-1".into(),
            accounts,
            exchanges: 0,
            first_seen: EventTime::default(),
            last_seen: EventTime::default(),
            score: 0.9,
            evidence: Vec::new(),
            carriers: Vec::new(),
        }
    }

    #[test]
    fn an_indicator_is_what_one_campaign_shared_and_nobody_else_used() {
        let at = |s: i64| EventTime::from_unix_micros(s * 1_000_000).unwrap();
        let ip = |v: &str| vec![(IndicatorKind::Ip, v.to_owned())];
        let mut choice = IndicatorChoice::default();
        // Two of the campaign's accounts share 10.0.0.1; one alone uses 10.0.0.2; a customer
        // shares 10.0.0.3 with the campaign.
        choice.count(ip("10.0.0.1"), Some(0), Some(0), at(5));
        choice.count(ip("10.0.0.1"), Some(1), Some(0), at(2));
        choice.count(ip("10.0.0.2"), Some(1), Some(0), at(3));
        choice.count(ip("10.0.0.3"), Some(0), Some(0), at(4));
        choice.count(ip("10.0.0.3"), Some(1), Some(0), at(4));
        choice.count(ip("10.0.0.3"), Some(7), None, at(4));
        // A template band two accounts of a 100-account campaign share is chance.
        let band = vec![(IndicatorKind::Template, "f00".to_owned())];
        choice.count(band.clone(), Some(0), Some(0), at(1));
        choice.count(band, Some(1), Some(0), at(1));
        let chosen = choice.choose(&[campaign(100)]);
        let indicators = &chosen[0].indicators;
        assert_eq!(indicators.len(), 1, "{indicators:?}");
        let i = &indicators[0];
        assert_eq!((i.kind, i.value.as_str()), (IndicatorKind::Ip, "10.0.0.1"));
        assert_eq!((i.accounts, i.exchanges), (2, 2));
        assert_eq!((i.first_seen, i.last_seen), (at(2), at(5)));
    }
}
