//! Where the signals a profile shows on its own fire: one account's, or the merged profile
//! of a cluster's members, each measure against its limit.

use crate::config::{DetectConfig, Limits};
use crate::profile::Profile;
use crate::signal::{Findings, Signal};

/// Where a profile comes from: one account, or the merge of a cluster's members (whose
/// clocks differ, so timing signals are read per account only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One account.
    Account,
    /// Many accounts merged.
    Group,
}

/// The signals a profile shows on its own.
pub fn profile_findings(p: &Profile, scope: Scope, config: &DetectConfig) -> Findings {
    let w = &config.weights;
    let l: &Limits = &config.limits;
    let mut f = Findings::default();
    let n = p.exchanges as f64;
    if p.exchanges >= l.min_exchanges {
        let share = |count: u32| count as f64 / n;
        let checks = [
            (Signal::ReasoningAsks, share(p.reasoning), l.reasoning_share),
            (Signal::GradingAsks, share(p.grading), l.grading_share),
            (
                Signal::CapabilityFocus,
                share(p.targeted),
                l.capability_share,
            ),
            (
                Signal::SingleTurn,
                share(p.single_turn),
                l.single_turn_share,
            ),
            (
                Signal::HeavyRequests,
                share(p.heavy_requests),
                l.heavy_requests_share,
            ),
        ];
        for (signal, value, limit) in checks {
            if value >= limit {
                f.fire(signal, w.get(signal), value);
            }
        }
        if p.similarity.n >= l.min_exchanges && p.similarity.mean() >= l.template_similarity {
            f.fire(
                Signal::TemplateReuse,
                w.get(Signal::TemplateReuse),
                p.similarity.mean(),
            );
        }
        if p.temperature.n as f64 >= l.temperature_known_share * n && p.temperature.std_dev() < 1e-6
        {
            f.fire(
                Signal::ConstantTemperature,
                w.get(Signal::ConstantTemperature),
                p.temperature.mean(),
            );
        }
        if p.tokens_known >= l.min_exchanges && p.tokens_in > 0 {
            let ratio = p.tokens_out as f64 / p.tokens_in as f64;
            if ratio >= l.output_ratio {
                f.fire(Signal::LongOutputs, w.get(Signal::LongOutputs), ratio);
            }
        }
    }
    if scope == Scope::Account {
        let span_days = p.span_days();
        if p.exchanges >= l.min_exchanges_for_rhythm && span_days >= 2.0 {
            let quiet = p.quietest_hours_share(l.quiet_hours as usize);
            if quiet >= l.quiet_hours_share {
                f.fire(Signal::NoSleep, w.get(Signal::NoSleep), quiet);
            }
        }
        if p.gaps.n >= l.min_exchanges_for_rhythm.min(l.cadence_min_intervals)
            && let Some(cv) = p.gaps.variation()
            && cv <= l.cadence_variation
        {
            f.fire(Signal::RegularCadence, w.get(Signal::RegularCadence), cv);
        }
    }
    if p.accounts > 0 {
        let share = |count: u32| count as f64 / p.accounts as f64;
        if share(p.early_movers) >= l.model_move_share {
            f.fire(
                Signal::EarlyModelMove,
                w.get(Signal::EarlyModelMove),
                share(p.early_movers),
            );
        }
        if share(p.young) >= l.account_fact_share {
            f.fire(
                Signal::YoungAccount,
                w.get(Signal::YoungAccount),
                share(p.young),
            );
        }
        if share(p.program) >= l.account_fact_share {
            f.fire(
                Signal::ProgramSignup,
                w.get(Signal::ProgramSignup),
                share(p.program),
            );
        }
        if share(p.partner_matches) >= l.account_fact_share {
            f.fire(
                Signal::PartnerIntel,
                w.get(Signal::PartnerIntel),
                share(p.partner_matches),
            );
        }
        if p.verification_known > 0 {
            let unverified = p.unverified as f64 / p.verification_known as f64;
            if unverified >= l.unverified_share {
                f.fire(Signal::Unverified, w.get(Signal::Unverified), unverified);
            }
        }
    }
    f
}
