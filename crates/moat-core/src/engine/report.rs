//! What a scan concludes: every account's verdict, the campaigns with their evidence
//! and totals, and the story a report draws.

use foldhash::HashMap;

use xxhash_rust::xxh3::xxh3_64;

use crate::intel;
use crate::likeness;
use crate::share;
use crate::signal::Signal;
use crate::story::{self, Story};
use crate::time::EventTime;
use crate::verdict::{
    AccountVerdict, CARRIER_SHARE, CampaignReport, Carrier, Evidence, Report, ScanSummary, Verdict,
    reported,
};

use super::{Engine, Outcome};

/// The population's centre, in its own units.
pub(super) const ORIGIN: likeness::Fingerprint = [0.0; likeness::DIMS];

impl Engine {
    /// Ends the input: a last round at the last event time, then the verdicts and report.
    pub fn finish(mut self) -> Outcome {
        if self.exchanges > 0 {
            self.round(self.now);
        }
        let mut outcome = self.snapshot();
        outcome.story = self.story(&outcome.report);
        outcome
    }

    /// The verdicts and report as they stand after the last round, without ending the
    /// input. Costs a pass over every account.
    pub fn snapshot(&self) -> Outcome {
        let mut accounts = Vec::with_capacity(self.accounts.len());
        let mut before_block = Vec::with_capacity(self.accounts.len());
        let mut members: HashMap<u32, Vec<u32>> = HashMap::default();
        for i in 0..self.accounts.len() as u32 {
            if let Some(root) = self.reported_campaign(i) {
                members.entry(root).or_default().push(i);
            }
            accounts.push(self.account_verdict(i));
            before_block.push(u64::from(self.accounts[i as usize].decision.before_block));
        }
        let mut campaigns: Vec<CampaignReport> = members
            .into_iter()
            .map(|(root, members)| {
                let shares = self.member_shares(&members);
                for (&m, &share) in members.iter().zip(&shares) {
                    accounts[m as usize].campaign_share = share;
                }
                let verdicts: Vec<&AccountVerdict> =
                    members.iter().map(|&m| &accounts[m as usize]).collect();
                self.report_campaign(root, &members, &verdicts)
            })
            .collect();
        campaigns.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.accounts.cmp(&a.accounts))
                .then(a.id.cmp(&b.id))
        });
        let summary = ScanSummary {
            exchanges: self.exchanges,
            accounts: accounts.len() as u64,
            accounts_blocked: accounts
                .iter()
                .filter(|a| a.verdict == Verdict::Block)
                .count() as u64,
            accounts_watched: accounts
                .iter()
                .filter(|a| a.verdict == Verdict::Watch)
                .count() as u64,
            campaigns: campaigns.len() as u64,
            records_rejected: 0,
            first_seen: self.first_ts.and_then(EventTime::from_unix_micros),
            last_seen: self.now(),
        };
        Outcome {
            accounts,
            before_block,
            report: Report { summary, campaigns },
            story: None,
            costs: self.costs,
        }
    }

    /// The story of the traffic so far, told for the campaigns of `report` (a
    /// [`snapshot`](Engine::snapshot)'s) in its order, if the engine keeps one
    /// ([`Engine::with_story`]). Costs a pass over every account.
    pub fn story(&self, report: &Report) -> Option<Story> {
        let activity = self.activity.as_ref()?;
        let mut by_root: HashMap<u32, Vec<u32>> = HashMap::default();
        for i in 0..self.accounts.len() as u32 {
            if let Some(root) = self.reported_campaign(i) {
                by_root.entry(root).or_default().push(i);
            }
        }
        let mut members: HashMap<String, Vec<u32>> = by_root
            .into_iter()
            .map(|(root, m)| (self.campaign_id(root), m))
            .collect();
        // The charts draw the campaign's own accounts: a carrier's traffic is mostly its
        // customers'. A campaign of carriers alone is drawn from them.
        for c in &report.campaigns {
            if let Some(m) = members.get_mut(&c.id) {
                let carrier = |i: &u32| {
                    let name = &*self.names[*i as usize];
                    c.carriers.iter().any(|k| k.account_id == name)
                };
                if !m.iter().all(carrier) {
                    m.retain(|i| !carrier(i));
                }
            }
        }
        let ordered: Vec<(&str, &[u32])> = report
            .campaigns
            .iter()
            .filter_map(|c| Some((c.id.as_str(), members.get(&c.id)?.as_slice())))
            .collect();
        let span = self.first_ts.map(|first| (first, self.now));
        Some(story::tell(
            &self.accounts,
            &self.names,
            activity,
            &ordered,
            span,
            &self.config.limits,
        ))
    }

    /// One campaign as it stands, with its member accounts' verdicts, by the id reports
    /// give it. Costs a pass over every account.
    pub fn campaign(&self, id: &str) -> Option<(CampaignReport, Vec<AccountVerdict>)> {
        let members: Vec<u32> = (0..self.accounts.len() as u32)
            .filter(|&i| {
                self.reported_campaign(i)
                    .is_some_and(|root| self.campaign_id(root) == id)
            })
            .collect();
        let root = self.accounts[*members.first()? as usize]
            .decision
            .campaign?;
        let shares = self.member_shares(&members);
        let verdicts: Vec<AccountVerdict> = members
            .iter()
            .zip(shares)
            .map(|(&i, campaign_share)| AccountVerdict {
                campaign_share,
                ..self.account_verdict(i)
            })
            .collect();
        let report = self.report_campaign(root, &members, &verdicts.iter().collect::<Vec<_>>());
        Some((report, verdicts))
    }

    /// The id reports give the campaign rooted at account `root`.
    pub fn campaign_id(&self, root: u32) -> String {
        format!(
            "campaign-{:08x}",
            xxh3_64(self.names[root as usize].as_bytes()) as u32
        )
    }

    /// Each of a campaign's `members`' share of its traffic that is the campaign's
    /// ([`share`](crate::share)), in the population's units (none before they are read).
    fn member_shares(&self, members: &[u32]) -> Vec<Option<share::CampaignShare>> {
        let centre = self.population.as_ref().and_then(|(_, population)| {
            Some((population, self.campaign_centre(population, members)?))
        });
        members
            .iter()
            .map(|&i| {
                let (population, centre) = centre.as_ref()?;
                // A carrier is in the campaign only by what it carries: its share is read
                // as it was found, from what its requests ask, against its peers'
                // customers.
                let Some(&(root, _)) = self.carriers.get(&i) else {
                    return self.share_of(population, i, centre, &ORIGIN, likeness::mixes);
                };
                let customers = self
                    .carried_campaigns
                    .get(&root)
                    .map_or(ORIGIN, |c| c.customers);
                self.share_of(population, i, centre, &customers, likeness::mixes_by_sender)
            })
            .collect()
    }

    /// The measures of the campaign of `members` ([`share::campaign_centre`]), in the
    /// population's units.
    pub(super) fn campaign_centre(
        &self,
        population: &likeness::Population,
        members: &[u32],
    ) -> Option<likeness::Fingerprint> {
        let prints: Vec<likeness::Fingerprint> = members
            .iter()
            .map(|&i| population.standard(&self.fingerprints[i as usize]))
            .collect();
        share::campaign_centre(&prints)
    }

    /// The share of account `i`'s traffic that is the campaign's whose measures are
    /// `centre` ([`share::estimate`]), the rest being customers' whose measures are
    /// `customers` (the population's centre, [`ORIGIN`], for an account's own), read from
    /// `measures`.
    pub(super) fn share_of(
        &self,
        population: &likeness::Population,
        i: u32,
        centre: &likeness::Fingerprint,
        customers: &likeness::Fingerprint,
        measures: fn(usize) -> bool,
    ) -> Option<share::CampaignShare> {
        let print = &self.fingerprints[i as usize];
        let noise = population.sampling_variance(print, self.accounts[i as usize].exchange_count());
        let account = share::difference(&population.standard(print), customers);
        share::estimate(
            &account,
            &share::difference(centre, customers),
            &noise,
            measures,
        )
    }

    /// The report of the campaign rooted at `root` whose `members` have the `verdicts`
    /// (in the same order, their campaign shares estimated). A carrier's exchanges count
    /// at its campaign share, and its span only for a campaign of carriers alone: its
    /// customers' traffic is not the campaign's.
    fn report_campaign(
        &self,
        root: u32,
        members: &[u32],
        verdicts: &[&AccountVerdict],
    ) -> CampaignReport {
        let mut exchanges = 0.0f64;
        let (mut own, mut carried) = ((i64::MAX, i64::MIN), (i64::MAX, i64::MIN));
        // The partners of the evidence: those the campaign's members carried when it was
        // assessed, and those its members carry now.
        let mut partners = self.assessed(root).map_or(0, |c| c.partners);
        for (&m, v) in members.iter().zip(verdicts) {
            let a = &self.accounts[m as usize];
            partners |= a.partners();
            let carrier = v.campaign_share.filter(|s| s.high < CARRIER_SHARE);
            let count = f64::from(a.exchange_count());
            exchanges += carrier.map_or(count, |s| count * s.estimate);
            let span = if carrier.is_some() {
                &mut carried
            } else {
                &mut own
            };
            if let Some((f, l)) = a.span() {
                *span = (span.0.min(f), span.1.max(l));
            }
        }
        let (first, last) = if own.0 <= own.1 { own } else { carried };
        let findings = self.campaign_findings(root).unwrap_or_default();
        CampaignReport {
            id: self.campaign_id(root),
            accounts: members.len() as u64,
            exchanges: exchanges.round() as u64,
            first_seen: EventTime::from_unix_micros(first).unwrap_or_default(),
            last_seen: EventTime::from_unix_micros(last).unwrap_or_default(),
            score: reported(findings.score()),
            evidence: findings
                .fired()
                .into_iter()
                .map(|(signal, weight, value)| self.evidence(signal, weight, value, root, partners))
                .collect(),
            carriers: carriers(verdicts),
        }
    }

    /// One signal of the campaign rooted at `root`, and what it is compared with: for a
    /// signal each account shows on its own, how many of the campaign's accounts did when
    /// it was assessed and how many of all accounts do; for new accounts, how many of all
    /// accounts are.
    pub(super) fn evidence(
        &self,
        signal: Signal,
        weight: f64,
        value: f64,
        root: u32,
        partners: u32,
    ) -> Evidence {
        let mut detail = signal.describe(value);
        if signal == Signal::PartnerIntel && partners != 0 {
            let names = intel::partner_names(&self.partners, partners);
            detail.push_str(&format!(" (indicators from {})", names.join(", ")));
        }
        let mut population_share = None;
        if signal.of_account()
            && let Some(everyone) = self.rates.share(signal)
            && let Some(c) = self.assessed(root)
        {
            let own = f64::from(c.firing_alone[signal as usize]) / f64::from(c.members.max(1));
            detail.push_str(&format!(
                "; on their own: {} of its accounts, {} of all accounts",
                share_text(own),
                share_text(everyone)
            ));
            population_share = Some(everyone);
        } else if signal == Signal::NewAccounts
            && let Some((_, population)) = &self.population
        {
            detail.push_str(&format!(
                ", where {} of all accounts are new",
                share_text(population.new_accounts)
            ));
            population_share = Some(population.new_accounts);
        }
        Evidence {
            signal: signal.name().to_owned(),
            weight: reported(weight),
            detail,
            population_share: population_share.map(reported),
        }
    }
}

/// A share as a report gives it: whole percent, down to a hundredth of a percent where it
/// is small ("0.04 %"), and never rounded to nothing when it is not.
fn share_text(share: f64) -> String {
    let pct = share * 100.0;
    if pct == 0.0 || pct >= 10.0 {
        format!("{pct:.0} %")
    } else if pct >= 1.0 {
        format!("{pct:.1} %")
    } else {
        format!("{:.2} %", pct.max(0.01))
    }
}

/// The `members` (verdicts of one campaign's accounts) that carry other traffic beside the
/// campaign's, those with the most exchanges first.
pub(super) fn carriers(members: &[&AccountVerdict]) -> Vec<Carrier> {
    let mut carriers: Vec<Carrier> = members
        .iter()
        .filter_map(|a| {
            let share = a.campaign_share.filter(|s| s.high < CARRIER_SHARE)?;
            Some(Carrier {
                account_id: a.account_id.clone(),
                exchanges: a.exchanges,
                campaign_share: share,
            })
        })
        .collect();
    carriers.sort_by(|a, b| {
        b.exchanges
            .cmp(&a.exchanges)
            .then(a.account_id.cmp(&b.account_id))
    });
    carriers
}
