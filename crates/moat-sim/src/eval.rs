//! Measuring a detector against the ground truth: how many of a campaign's accounts were
//! blocked, how early, and how many benign accounts were blocked with them.

use std::collections::BTreeMap;

use moat_core::{EventTime, Verdict};
use serde::Serialize;

use crate::world::TruthRow;

/// What a scan said of one account, and what is known of its traffic.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// The verdict at the end.
    pub verdict: Verdict,
    /// When it was first blocked.
    pub flagged_at: Option<EventTime>,
    /// Its exchanges.
    pub exchanges: u64,
    /// Its exchanges made before it was blocked.
    pub before_block: u64,
    /// Its first exchange.
    pub first_seen: Option<EventTime>,
    /// Its exchanges on its busiest day (UTC), when known: what a per-account daily cap
    /// sees of it.
    pub busiest_day: Option<u64>,
    /// Its Isolation Forest anomaly score over per-account features, when known
    /// ([`PeerInputs::anomaly_scores`](crate::peer::PeerInputs::anomaly_scores)).
    pub anomaly: Option<f64>,
    /// Whether it was put in a campaign.
    pub in_campaign: bool,
    /// The estimated share of its exchanges that are its campaign's, if any.
    pub campaign_share: Option<f64>,
    /// For a reseller carrying a campaign, when each exchange's origin is known: its
    /// exchanges after the campaign's first day on it, by origin, and which were stopped.
    pub carried: Option<Carried>,
}

/// One exchange of a reseller carrying a campaign.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Origin {
    /// When it came.
    pub at: EventTime,
    /// Whether it was the campaign's.
    pub campaign: bool,
    /// Whether a decision on its request alone stopped it, the account not blocked.
    pub stopped: bool,
}

/// A reseller's exchanges after the first day of a campaign's traffic on it, by origin.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct Carried {
    /// The campaign's exchanges.
    pub campaign: u64,
    /// Of those, stopped.
    pub campaign_stopped: u64,
    /// The reseller's own customers' exchanges.
    pub customers: u64,
    /// Of those, stopped.
    pub customers_stopped: u64,
}

impl Carried {
    /// Counts a reseller's exchanges after the first day of the campaign's traffic on it,
    /// and which of them were stopped: on their own, or by a block at `blocked_at` (those
    /// at or after it).
    pub fn count(origins: &[Origin], blocked_at: Option<EventTime>) -> Self {
        const DAY: i64 = moat_core::time::MICROS_PER_DAY;
        let mut c = Carried::default();
        let Some(first) = origins.iter().find(|o| o.campaign).map(|o| o.at) else {
            return c;
        };
        for &Origin {
            at: t,
            campaign,
            stopped,
        } in origins
        {
            if t.as_unix_micros() < first.as_unix_micros() + DAY {
                continue;
            }
            let stopped = u64::from(stopped || blocked_at.is_some_and(|b| t >= b));
            if campaign {
                c.campaign += 1;
                c.campaign_stopped += stopped;
            } else {
                c.customers += 1;
                c.customers_stopped += stopped;
            }
        }
        c
    }

    fn add(&mut self, other: &Carried) {
        self.campaign += other.campaign;
        self.campaign_stopped += other.campaign_stopped;
        self.customers += other.customers;
        self.customers_stopped += other.customers_stopped;
    }
}

/// How resellers carrying a campaign fared: they hold real customers, so what counts is
/// whether the campaign is found in them, how much of each is the campaign's, and whose
/// exchanges were stopped.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct MixedResult {
    /// Such resellers that appeared.
    pub accounts: u64,
    /// Of those, blocked.
    pub blocked: u64,
    /// Of those, on watch at the end.
    pub watched: u64,
    /// Of those, on watch or blocked and put in a campaign.
    pub flagged: u64,
    /// Of those, with an estimated campaign share.
    pub share_estimated: u64,
    /// Of those, whose estimate lies within [`SHARE_TOLERANCE`] of the truth.
    pub share_within: u64,
    /// The mean absolute error of the estimates.
    pub share_error: Option<f64>,
    /// Their exchanges after the campaign's first day on each, by origin and whether
    /// stopped (when each exchange's origin is known: scenarios scanned in memory).
    pub carried: Option<Carried>,
}

/// How far an estimated campaign share may lie from the truth and count as right.
pub const SHARE_TOLERANCE: f64 = 0.15;

/// How a campaign fared.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CampaignResult {
    /// The campaign (`hydra:ID` in the truth).
    pub campaign: String,
    /// Its accounts that appeared in the traffic.
    pub accounts: u64,
    /// Of those, blocked.
    pub blocked: u64,
    /// Its exchanges.
    pub exchanges: u64,
    /// Its exchanges made before their account was blocked.
    pub exchanges_before_block: u64,
    /// Hours from the campaign's first exchange until half of its accounts were blocked.
    pub hours_to_half_blocked: Option<f64>,
    /// Hours until 90 % were.
    pub hours_to_90_blocked: Option<f64>,
    /// Per account, hours from its own first exchange to its block: the median. Campaigns
    /// that replace accounts keep opening new ones, so the two figures above follow the
    /// campaign's length; this one says how fast each account is stopped.
    pub median_account_hours_to_block: Option<f64>,
}

impl CampaignResult {
    /// Share of the campaign's accounts blocked.
    pub fn blocked_share(&self) -> f64 {
        ratio(self.blocked, self.accounts)
    }

    /// Share of the campaign's exchanges made before their account was blocked.
    pub fn before_block_share(&self) -> f64 {
        ratio(self.exchanges_before_block, self.exchanges)
    }
}

/// How one kind of benign account fared.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct GroupResult {
    /// Accounts of the kind that appeared.
    pub accounts: u64,
    /// Of those, blocked.
    pub blocked: u64,
    /// Of those, on watch at the end: not refused, but challenged or throttled by a
    /// gateway that acts on `watch`.
    pub watched: u64,
    /// Teams or universities (for those kinds) with at least one blocked member.
    pub groups_touched: u64,
    /// Teams or universities with half or more of their members blocked.
    pub groups_blocked: u64,
}

/// The whole measurement.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Evaluation {
    /// Per campaign.
    pub campaigns: Vec<CampaignResult>,
    /// Benign accounts of every kind.
    pub benign: GroupResult,
    /// Per kind of benign account (`individual`, `developer`, `enterprise`, ...).
    pub benign_by_kind: BTreeMap<String, GroupResult>,
    /// Reseller accounts that carried a campaign's traffic beside their customers'.
    pub mixed: MixedResult,
    /// A peer beside moat: a per-account daily cap, set to block no more customers than
    /// moat did (when each account's busiest day is known).
    pub daily_cap: Option<DailyCap>,
    /// A peer beside moat: an Isolation Forest over per-account features, its cut set to
    /// block no more customers than moat did (when anomaly scores are known).
    pub isolation_forest: Option<IsolationForestPeer>,
}

/// What a per-account daily cap does, set at moat's customers-blocked count: the lowest cap
/// (exchanges per account per day) above which no more customers are blocked than moat
/// blocked.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct DailyCap {
    /// The cap: accounts with more exchanges than this on some day are blocked.
    pub cap: u64,
    /// Campaign accounts (of every campaign) it blocks.
    pub campaign_blocked: u64,
    /// Campaign accounts in all.
    pub campaign_accounts: u64,
    /// Benign accounts it blocks.
    pub benign_blocked: u64,
}

/// What an Isolation Forest over per-account features does, its cut set at moat's
/// customers-blocked count: accounts scoring above the cut are blocked.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct IsolationForestPeer {
    /// The anomaly score above which accounts are blocked.
    pub cut: f64,
    /// Campaign accounts (of every campaign) it blocks.
    pub campaign_blocked: u64,
    /// Campaign accounts in all.
    pub campaign_accounts: u64,
    /// Benign accounts it blocks.
    pub benign_blocked: u64,
    /// Campaign accounts it blocks with its cut set to block 0.1 % of customers instead
    /// (where moat's count is lower, what the forest does with a little more room).
    pub campaign_blocked_at_tenth_percent: u64,
}

/// A peer's cut at a budget of customers blocked: the `budget`-th highest benign value
/// (blocking only what lies above it), and how many campaign and benign values lie above.
fn cut_at<T: Copy + PartialOrd + Default>(
    benign: &mut [T],
    campaign: &[T],
    budget: u64,
) -> (T, u64, u64) {
    benign.sort_unstable_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let cut = benign.get(budget as usize).copied().unwrap_or_default();
    let above = |values: &[T]| values.iter().filter(|&&v| v > cut).count() as u64;
    (cut, above(campaign), above(benign))
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Evaluation {
    /// Compares verdicts with the truth. Accounts missing from `scored` never appeared in
    /// the traffic and are left out.
    pub fn new(truth: &[TruthRow], scored: impl Fn(&str) -> Option<Scored>) -> Self {
        type Flags = (Vec<i64>, Vec<f64>);
        let mut campaigns: BTreeMap<String, (CampaignResult, Flags, i64)> = BTreeMap::new();
        let mut benign = GroupResult::default();
        let mut by_kind: BTreeMap<String, GroupResult> = BTreeMap::new();
        let mut teams: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut mixed = MixedResult::default();
        let mut share_errors = Vec::new();
        let (mut hydra_days, mut benign_days) = (Vec::new(), Vec::new());
        let (mut hydra_anomaly, mut benign_anomaly) = (Vec::new(), Vec::new());
        for row in truth {
            let Some(s) = scored(&row.account_id) else {
                continue;
            };
            if let Some(busiest) = s.busiest_day {
                match row.label {
                    "hydra" => hydra_days.push(busiest),
                    "benign" => benign_days.push(busiest),
                    _ => {}
                }
            }
            if let Some(anomaly) = s.anomaly {
                match row.label {
                    "hydra" => hydra_anomaly.push(anomaly),
                    "benign" => benign_anomaly.push(anomaly),
                    _ => {}
                }
            }
            let blocked = s.verdict == Verdict::Block;
            let watched = s.verdict == Verdict::Watch;
            match row.label {
                "hydra" => {
                    let (c, flags, start) =
                        campaigns.entry(row.group.clone()).or_insert_with(|| {
                            (
                                CampaignResult {
                                    campaign: row.group.clone(),
                                    accounts: 0,
                                    blocked: 0,
                                    exchanges: 0,
                                    exchanges_before_block: 0,
                                    hours_to_half_blocked: None,
                                    hours_to_90_blocked: None,
                                    median_account_hours_to_block: None,
                                },
                                (Vec::new(), Vec::new()),
                                i64::MAX,
                            )
                        });
                    c.accounts += 1;
                    c.blocked += u64::from(blocked);
                    c.exchanges += s.exchanges;
                    c.exchanges_before_block += s.before_block.min(s.exchanges);
                    if let Some(t) = s.flagged_at.filter(|_| blocked) {
                        flags.0.push(t.as_unix_micros());
                        if let Some(first) = s.first_seen {
                            let hours = (t.as_unix_micros() - first.as_unix_micros()) as f64;
                            flags.1.push(hours.max(0.0) / 3_600e6);
                        }
                    }
                    if let Some(t) = s.first_seen {
                        *start = (*start).min(t.as_unix_micros());
                    }
                }
                "mixed" => {
                    mixed.accounts += 1;
                    mixed.blocked += u64::from(blocked);
                    mixed.watched += u64::from(watched);
                    mixed.flagged += u64::from((blocked || watched) && s.in_campaign);
                    if let (Some(estimate), Some(truth)) = (s.campaign_share, row.campaign_share) {
                        mixed.share_estimated += 1;
                        share_errors.push((estimate - truth).abs());
                    }
                    if let Some(c) = &s.carried {
                        mixed.carried.get_or_insert_default().add(c);
                    }
                }
                _ => {
                    benign.accounts += 1;
                    benign.blocked += u64::from(blocked);
                    benign.watched += u64::from(watched);
                    let kind = row.group.split(':').next().unwrap_or("").to_owned();
                    let g = by_kind.entry(kind).or_default();
                    g.accounts += 1;
                    g.blocked += u64::from(blocked);
                    g.watched += u64::from(watched);
                    if row.group.contains(':') {
                        let t = teams.entry(row.group.as_str()).or_default();
                        t.0 += 1;
                        t.1 += u64::from(blocked);
                    }
                }
            }
        }
        for (group, (members, blocked)) in teams {
            let kind = group.split(':').next().unwrap_or("");
            if let Some(g) = by_kind.get_mut(kind) {
                g.groups_touched += u64::from(blocked > 0);
                g.groups_blocked += u64::from(blocked > 0 && blocked * 2 >= members);
            }
        }
        let campaigns = campaigns
            .into_values()
            .map(|(mut c, (mut flags, mut delays), start)| {
                flags.sort_unstable();
                let hours_to = |share: f64| {
                    let k = (share * c.accounts as f64).ceil().max(1.0) as usize;
                    flags
                        .get(k - 1)
                        .map(|&t| (t - start).max(0) as f64 / 3_600e6)
                };
                c.hours_to_half_blocked = hours_to(0.5);
                c.hours_to_90_blocked = hours_to(0.9);
                delays.sort_by(f64::total_cmp);
                let half = (c.accounts as usize).div_ceil(2).max(1);
                c.median_account_hours_to_block = delays.get(half - 1).copied();
                c
            })
            .collect();
        let daily_cap = (!benign_days.is_empty()).then(|| {
            let (cap, campaign_blocked, benign_blocked) =
                cut_at(&mut benign_days, &hydra_days, benign.blocked);
            DailyCap {
                cap,
                campaign_blocked,
                campaign_accounts: hydra_days.len() as u64,
                benign_blocked,
            }
        });
        let isolation_forest = (!benign_anomaly.is_empty()).then(|| {
            let (cut, campaign_blocked, benign_blocked) =
                cut_at(&mut benign_anomaly, &hydra_anomaly, benign.blocked);
            let tenth = benign_anomaly.len() as u64 / 1000;
            let (_, campaign_blocked_at_tenth_percent, _) =
                cut_at(&mut benign_anomaly, &hydra_anomaly, tenth);
            IsolationForestPeer {
                cut,
                campaign_blocked,
                campaign_accounts: hydra_anomaly.len() as u64,
                benign_blocked,
                campaign_blocked_at_tenth_percent,
            }
        });
        mixed.share_within = share_errors
            .iter()
            .filter(|&&e| e <= SHARE_TOLERANCE)
            .count() as u64;
        mixed.share_error = (!share_errors.is_empty())
            .then(|| share_errors.iter().sum::<f64>() / share_errors.len() as f64);
        Self {
            campaigns,
            benign,
            benign_by_kind: by_kind,
            mixed,
            daily_cap,
            isolation_forest,
        }
    }

    /// The measurement as a table a person reads.
    pub fn table(&self, title: &str) -> String {
        use std::fmt::Write;
        let pct = |a: u64, b: u64| format!("{:.2}%", 100.0 * ratio(a, b));
        let hours = |h: Option<f64>| h.map_or("never".to_owned(), |h| format!("{h:.1} h"));
        let mut out = String::new();
        let _ = writeln!(out, "{title}");
        for c in &self.campaigns {
            let _ = writeln!(
                out,
                "  {:<28} hydra blocked {:>6}/{:<6} {:>8}   exchanges before block {:>8}   50% at {:>9}   90% at {:>9}   median account blocked after {:>9}",
                c.campaign,
                c.blocked,
                c.accounts,
                pct(c.blocked, c.accounts),
                pct(c.exchanges_before_block, c.exchanges),
                hours(c.hours_to_half_blocked),
                hours(c.hours_to_90_blocked),
                hours(c.median_account_hours_to_block),
            );
        }
        let m = &self.mixed;
        if m.accounts > 0 {
            let _ = write!(
                out,
                "  {:<28} flagged with their campaign {}/{} (blocked {})   campaign share within {SHARE_TOLERANCE} of the truth {}/{}",
                "resellers carrying a campaign",
                m.flagged,
                m.accounts,
                m.blocked,
                m.share_within,
                m.accounts,
            );
            if let Some(c) = &m.carried {
                let _ = write!(
                    out,
                    "   after the first day: campaign exchanges stopped {}, customers' stopped {}",
                    pct(c.campaign_stopped, c.campaign),
                    pct(c.customers_stopped, c.customers),
                );
            }
            out.push('\n');
        }
        if let Some(peer) = self.daily_cap.as_ref().filter(|p| p.campaign_accounts > 0) {
            let moat: u64 = self.campaigns.iter().map(|c| c.blocked).sum();
            let _ = writeln!(
                out,
                "  {:<28} a cap of {} exchanges/day blocks {}/{} campaign accounts, {} benign (moat: {}/{})",
                "peer: per-account daily cap",
                peer.cap,
                peer.campaign_blocked,
                peer.campaign_accounts,
                peer.benign_blocked,
                moat,
                peer.campaign_accounts,
            );
        }
        if let Some(peer) = self
            .isolation_forest
            .as_ref()
            .filter(|p| p.campaign_accounts > 0)
        {
            let moat: u64 = self.campaigns.iter().map(|c| c.blocked).sum();
            let _ = writeln!(
                out,
                "  {:<28} blocks {}/{} campaign accounts, {} benign, above an anomaly score of {:.3} (moat: {}/{}); {} with 0.1% of customers blocked",
                "peer: isolation forest",
                peer.campaign_blocked,
                peer.campaign_accounts,
                peer.benign_blocked,
                peer.cut,
                moat,
                peer.campaign_accounts,
                peer.campaign_blocked_at_tenth_percent,
            );
        }
        let _ = writeln!(
            out,
            "  {:<28} benign blocked {:>6}/{:<6} {:>8}   watched {:>6} {:>8}",
            "benign",
            self.benign.blocked,
            self.benign.accounts,
            pct(self.benign.blocked, self.benign.accounts),
            self.benign.watched,
            pct(self.benign.watched, self.benign.accounts)
        );
        for (kind, g) in &self.benign_by_kind {
            let mut line = format!(
                "    {:<26} {:>6}/{:<6} {:>8}   watched {:>6} {:>8}",
                kind,
                g.blocked,
                g.accounts,
                pct(g.blocked, g.accounts),
                g.watched,
                pct(g.watched, g.accounts)
            );
            if g.groups_touched > 0 {
                let _ = write!(
                    line,
                    "   groups touched {}, blocked as a group {}",
                    g.groups_touched, g.groups_blocked
                );
            }
            let _ = writeln!(out, "{line}");
        }
        if !self.campaigns.is_empty() {
            let _ = writeln!(
                out,
                "  (50% at, 90% at: hours from a campaign's first exchange until half, and nine in ten, \
                 of its accounts were blocked; median account blocked after: hours from each \
                 account's own first exchange to its block, the median)"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, label: &'static str, group: &str) -> TruthRow {
        TruthRow {
            account_id: id.into(),
            label,
            group: group.into(),
            campaign_share: None,
        }
    }

    fn at(hours: i64) -> Option<EventTime> {
        EventTime::from_unix_micros(hours * 3_600_000_000)
    }

    #[test]
    fn a_resellers_exchanges_count_from_the_campaigns_first_day() {
        let origin = |hours, campaign, stopped| Origin {
            at: at(hours).unwrap(),
            campaign,
            stopped,
        };
        let origins = [
            origin(0, false, false),
            origin(1, true, false),
            // Within the campaign's first day: not counted.
            origin(20, true, true),
            origin(30, true, false),
            origin(31, true, true),
            origin(32, false, true),
            origin(40, false, false),
            // Blocked from hour 50 on: stopped whatever the request.
            origin(50, true, false),
            origin(51, false, false),
        ];
        assert_eq!(
            Carried::count(&origins, at(50)),
            Carried {
                campaign: 3,
                campaign_stopped: 2,
                customers: 3,
                customers_stopped: 2,
            }
        );
        assert_eq!(Carried::count(&origins[..1], None), Carried::default());
    }

    #[test]
    fn resellers_count_by_campaign_found_share_and_exchanges_stopped() {
        let mixed = |id: &str, truth: f64| TruthRow {
            campaign_share: Some(truth),
            ..row(id, "mixed", "reseller-mixed:x")
        };
        let truth = vec![mixed("r1", 0.4), mixed("r2", 0.6), mixed("r3", 0.5)];
        let carried = Carried {
            campaign: 40,
            campaign_stopped: 30,
            customers: 60,
            customers_stopped: 3,
        };
        let eval = Evaluation::new(&truth, |id| {
            Some(match id {
                "r1" => Scored {
                    verdict: Verdict::Watch,
                    in_campaign: true,
                    campaign_share: Some(0.5),
                    carried: Some(carried),
                    ..Scored::default()
                },
                "r2" => Scored {
                    verdict: Verdict::Block,
                    in_campaign: true,
                    campaign_share: Some(0.9),
                    carried: Some(carried),
                    ..Scored::default()
                },
                // On watch, but not with its campaign: not found.
                _ => Scored {
                    verdict: Verdict::Watch,
                    ..Scored::default()
                },
            })
        });
        let m = &eval.mixed;
        assert_eq!((m.accounts, m.flagged, m.blocked, m.watched), (3, 2, 1, 2));
        assert_eq!((m.share_estimated, m.share_within), (2, 1));
        assert!((m.share_error.unwrap() - 0.2).abs() < 1e-9);
        let c = m.carried.unwrap();
        assert_eq!((c.campaign, c.campaign_stopped), (80, 60));
        assert_eq!((c.customers, c.customers_stopped), (120, 6));
        assert!(eval.table("t").contains("flagged with their campaign 2/3"));
    }

    #[test]
    fn counts_blocks_early_exchanges_and_groups() {
        let truth = vec![
            row("h1", "hydra", "hydra:x"),
            row("h2", "hydra", "hydra:x"),
            row("b1", "benign", "enterprise:acme"),
            row("b2", "benign", "enterprise:acme"),
            row("b3", "benign", "individual"),
            row("gone", "benign", "individual"),
        ];
        let eval = Evaluation::new(&truth, |id| {
            let blocked = |h| Scored {
                verdict: Verdict::Block,
                flagged_at: at(h),
                exchanges: 100,
                before_block: 10,
                first_seen: at(0),
                busiest_day: Some(50),
                anomaly: Some(0.7),
                in_campaign: true,
                campaign_share: None,
                carried: None,
            };
            match id {
                "h1" => Some(blocked(2)),
                "h2" => Some(blocked(10)),
                "b1" => Some(Scored {
                    anomaly: Some(0.1),
                    ..blocked(5)
                }),
                "b2" | "b3" => Some(Scored {
                    verdict: if id == "b3" {
                        Verdict::Watch
                    } else {
                        Verdict::Allow
                    },
                    exchanges: 3,
                    busiest_day: Some(if id == "b2" { 60 } else { 3 }),
                    anomaly: Some(if id == "b2" { 0.4 } else { 0.8 }),
                    ..Scored::default()
                }),
                _ => None,
            }
        });
        let c = &eval.campaigns[0];
        assert_eq!((c.accounts, c.blocked), (2, 2));
        assert!((c.before_block_share() - 0.1).abs() < 1e-9);
        assert_eq!(c.hours_to_half_blocked, Some(2.0));
        assert_eq!(c.hours_to_90_blocked, Some(10.0));
        assert_eq!(c.median_account_hours_to_block, Some(2.0));
        assert_eq!((eval.benign.accounts, eval.benign.blocked), (3, 1));
        assert_eq!(eval.benign.watched, 1);
        assert_eq!(eval.benign_by_kind["individual"].watched, 1);
        let e = &eval.benign_by_kind["enterprise"];
        assert_eq!((e.groups_touched, e.groups_blocked), (1, 1));
        assert!(eval.table("t").contains("hydra:x"));
        // Moat blocked one customer; the cap that blocks no more than one stops b2's 60 a
        // day (60 > 50 > 3): it is set at 50, which no campaign account exceeds.
        let cap = eval.daily_cap.unwrap();
        assert_eq!(
            (cap.cap, cap.campaign_blocked, cap.benign_blocked),
            (50, 0, 1)
        );
        // The forest's cut at one customer is b2's 0.4 (b3's 0.8 is above it): both
        // campaign accounts (0.7) lie above the cut too.
        let forest = eval.isolation_forest.unwrap();
        assert_eq!((forest.campaign_blocked, forest.benign_blocked), (2, 1));
        assert!((forest.cut - 0.4).abs() < 1e-12);
    }
}
