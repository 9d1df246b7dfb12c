//! The sections of a report: overview, traffic, campaigns, scores, and one part per
//! campaign.

use std::collections::HashMap;

use maud::{Markup, html};
use moat_core::story::{CampaignStory, Timeline};
use moat_core::{AccountVerdict, CampaignReport, EventTime, Signal, Verdict};

use crate::chart::{self, verdict_colour};
use crate::format::{count, day, moment, percent};
use crate::network::network;
use crate::{DETAILED_CAMPAIGNS, Mode, ReportData, script_json};

/// The page's content.
pub fn body(data: &ReportData, mode: Mode) -> Markup {
    let mut members: HashMap<&str, Vec<&AccountVerdict>> = HashMap::new();
    for a in data.accounts {
        if let Some(c) = &a.campaign_id {
            members.entry(c.as_str()).or_default().push(a);
        }
    }
    let detailed: Vec<&CampaignReport> = data
        .report
        .campaigns
        .iter()
        .take(DETAILED_CAMPAIGNS)
        .collect();
    html! {
        header.top {
            h1 { "moat " @if mode == Mode::Live { "live" } @else { "report" } }
            p.source { (data.source) }
            @if mode == Mode::Live {
                p.live-state { span #live-dot {} " updating every 5 s · " span #updated {} }
                form.sign-out method="post" action="/dashboard/sign-out" { button type="submit" { "Sign out" } }
            }
        }
        main {
            (overview(data))
            @if mode == Mode::Live { span #manual-version hidden data-value=(crate::manual_version(data.manual)) {} }
            @if !data.manual.is_empty() { (manual_decisions(data)) }
            (traffic(data))
            (campaign_table(data, &detailed))
            section #scores {
                h2 { "Scores" }
                (chart::score_histogram(data.accounts.iter().map(|a| a.score), data.watch, data.block))
            }
            @for c in &detailed {
                (campaign(data, c, members.get(c.id.as_str()).map_or(&[][..], Vec::as_slice), mode))
            }
        }
    }
}

/// The decisions operators took by hand, beside what the engine says of the same
/// accounts: they win over the engine's verdicts, which go on being computed.
fn manual_decisions(data: &ReportData) -> Markup {
    let engine = |m: &crate::ManualDecision| -> String {
        if m.kind != "account" {
            return "—".to_owned();
        }
        data.accounts
            .iter()
            .find(|a| a.account_id == m.id)
            .map_or("not seen yet".to_owned(), |a| {
                format!("{} {:.2}", a.verdict.as_str(), a.score)
            })
    };
    html! {
        section #manual {
            h2 { "Manual decisions" }
            p.lede { "Decisions taken by hand win over the engine's verdicts, which go on being computed." }
            table {
                thead { tr {
                    th { "target" } th { "decision" } th { "engine says" } th { "by" } th { "when" } th { "reason" }
                } }
                tbody {
                    @for m in data.manual {
                        tr data-target=(format!("{}:{}", m.kind, m.id)) {
                            td { (m.kind) " " code { (m.id) } }
                            td { strong { (m.action) } }
                            td { (engine(m)) }
                            td { (m.actor) }
                            td { (m.at) }
                            td { (m.reason) }
                        }
                    }
                }
            }
        }
    }
}

fn overview(data: &ReportData) -> Markup {
    let s = &data.report.summary;
    let span = match (s.first_seen, s.last_seen) {
        (Some(a), Some(b)) => format!("{} to {}", moment(a), moment(b)),
        _ => "no exchanges".to_owned(),
    };
    let in_campaigns: u64 = data.report.campaigns.iter().map(|c| c.accounts).sum();
    let (affected_label, affected) = match data.truth {
        Some(truth) => (
            "customers blocked (ground truth)",
            data.accounts
                .iter()
                .filter(|a| a.verdict == Verdict::Block && truth.get(&a.account_id) == Some(&false))
                .count() as u64,
        ),
        None => (
            "blocked outside any campaign",
            data.accounts
                .iter()
                .filter(|a| a.verdict == Verdict::Block && a.campaign_id.is_none())
                .count() as u64,
        ),
    };
    let before: u64 = data.story.campaigns.iter().map(|c| c.before_block).sum();
    let after: u64 = data.story.campaigns.iter().map(|c| c.after_block).sum();
    html! {
        section #overview {
            p.span { (span) }
            div.cards {
                (card("campaigns", "campaigns found", s.campaigns, None))
                (card("campaign-accounts", "accounts in campaigns", in_campaigns, Some(&count(s.accounts))))
                (card("blocked", "accounts blocked", s.accounts_blocked, None))
                (card("watched", "accounts watched", s.accounts_watched, None))
                (card("exchanges", "exchanges read", s.exchanges, None))
                (card("before-block", "campaign exchanges before blocking", before, Some(&percent(before, before + after))))
                (card("after-block", "campaign exchanges after blocking", after, Some(&percent(after, before + after))))
                (card("affected", affected_label, affected, None))
            }
            @if s.records_rejected > 0 {
                p.warning { (count(s.records_rejected)) " records could not be read and were skipped." }
            }
        }
    }
}

fn card(metric: &str, label: &str, value: u64, of: Option<&str>) -> Markup {
    html! {
        div.card data-metric=(metric) data-value=(value) {
            span.value { (count(value)) }
            span.label { (label) @if let Some(of) = of { " · " (of) } }
        }
    }
}

fn traffic(data: &ReportData) -> Markup {
    let mut campaigns = Timeline::like(&data.story.all);
    for c in &data.story.campaigns {
        for (sum, v) in campaigns.counts.iter_mut().zip(&c.timeline.counts) {
            *sum += v;
        }
    }
    html! {
        section #traffic {
            h2 { "Traffic" }
            (chart::timeline(&data.story.all, &campaigns, "campaigns"))
        }
    }
}

fn campaign_table(data: &ReportData, detailed: &[&CampaignReport]) -> Markup {
    html! {
        section #campaigns {
            h2 { "Campaigns" }
            @if data.report.campaigns.is_empty() {
                p.none { "No campaign found." }
            } @else {
                table.campaigns {
                    thead { tr {
                        th { "campaign" } th.num { "score" } th.num { "accounts" } th.num { "exchanges" }
                        th { "first seen" } th { "last seen" } th { "strongest evidence" }
                    } }
                    tbody {
                        @for (k, c) in data.report.campaigns.iter().enumerate() {
                            tr data-campaign=(c.id) {
                                td { @if k < detailed.len() { a href={ "#" (c.id) } { (c.id) } } @else { (c.id) } }
                                td.num { (format!("{:.2}", c.score)) }
                                td.num { (count(c.accounts)) }
                                td.num { (count(c.exchanges)) }
                                td { (moment(c.first_seen)) }
                                td { (moment(c.last_seen)) }
                                td { @for e in c.evidence.iter().take(2) { span.tag { (e.signal.replace('_', " ")) } } }
                            }
                        }
                    }
                }
                @if data.report.campaigns.len() > detailed.len() {
                    p.note { "The first " (detailed.len()) " campaigns are shown in detail below." }
                }
            }
        }
    }
}

fn campaign(
    data: &ReportData,
    c: &CampaignReport,
    members: &[&AccountVerdict],
    mode: Mode,
) -> Markup {
    let story = data.story.campaign(&c.id);
    let blocked = members
        .iter()
        .filter(|a| a.verdict == Verdict::Block)
        .count() as u64;
    html! {
        section.campaign #(c.id) data-campaign=(c.id) {
            h2 { "Campaign " (c.id) }
            p.lede {
                (count(c.accounts)) " accounts, " (count(c.exchanges)) " exchanges, "
                (moment(c.first_seen)) " to " (moment(c.last_seen)) ". Score " (format!("{:.2}", c.score))
                "; " (count(blocked)) " accounts blocked."
                @if let Some(s) = story {
                    " " (count(s.before_block)) " exchanges made before blocking, "
                    (count(s.after_block)) " after."
                }
            }
            @for m in data.manual.iter().filter(|m| m.kind == "campaign" && m.id == c.id) {
                p.manual {
                    strong { "Manual decision: " (m.action) } " (by " (m.actor) ", " (m.at)
                    "), which every member's decision follows: " (m.reason)
                }
            }
            @if mode == Mode::Live { (campaign_actions(&c.id)) }
            div.grid {
                div.wide {
                    h3 { "Exchanges over time" }
                    @if let Some(s) = story { (chart::timeline(&data.story.all, &s.timeline, "this campaign")) }
                }
                div {
                    h3 { "Evidence" }
                    (evidence(c))
                }
                div {
                    h3 { "What it asked for" }
                    @if let Some(s) = story { (mix(s)) }
                }
                div {
                    h3 { "Accounts opened" }
                    @if let Some(s) = story { (created(s)) }
                }
                div {
                    h3 { "Linked accounts" }
                    @if let Some(s) = story { (network(&s.network)) }
                    (legend())
                }
                div.wide {
                    h3 { "Accounts" }
                    (carriers(c))
                    (member_table(&c.id, members, mode))
                }
            }
        }
    }
}

/// The campaign's accounts that carry other traffic beside its own (resellers, relays),
/// with the share of each that is the campaign's.
fn carriers(c: &CampaignReport) -> Markup {
    let pct = |x: f64| format!("{:.0} %", x * 100.0);
    html! {
        @if !c.carriers.is_empty() {
            p.carriers {
                (count(c.carriers.len() as u64))
                @if c.carriers.len() == 1 { " account carries" } @else { " accounts carry" }
                " this campaign's traffic beside other traffic (a reseller's or relay's \
                customers); the campaign's estimated share of each (90 % interval): "
                @for (k, a) in c.carriers.iter().take(CARRIERS_SHOWN).enumerate() {
                    @if k > 0 { "; " }
                    code { (a.account_id) } " "
                    (pct(a.campaign_share.estimate))
                    " (" (pct(a.campaign_share.low)) "–" (pct(a.campaign_share.high)) ") of "
                    (count(a.exchanges))
                }
                @if c.carriers.len() > CARRIERS_SHOWN { "; and more in report.json" }
                "."
            }
        }
    }
}

/// Carrying accounts named in a campaign's section, at most.
const CARRIERS_SHOWN: usize = 10;

fn evidence(c: &CampaignReport) -> Markup {
    let heaviest = c
        .evidence
        .iter()
        .map(|e| e.weight)
        .fold(0.0, f64::max)
        .max(1e-9);
    html! {
        table.evidence {
            @for e in &c.evidence {
                tr data-signal=(e.signal) {
                    th { (e.signal.replace('_', " ")) }
                    td.bar { span style={ "width:" (format!("{:.1}", e.weight / heaviest * 100.0)) "%" } {} }
                    td.num { (format!("{:.2}", e.weight)) }
                    td.detail { (e.detail) }
                }
            }
        }
    }
}

fn mix(s: &CampaignStory) -> Markup {
    let m = &s.mix;
    let share = |n: u64| {
        if m.exchanges == 0 {
            0.0
        } else {
            n as f64 / m.exchanges as f64
        }
    };
    let rows: Vec<(String, f64, String)> = [
        ("software engineering", m.software),
        ("agentic work", m.agentic),
        ("maths", m.maths),
        ("long-horizon tasks", m.long_horizon),
        ("asks for reasoning", m.reasoning),
        ("asks to grade", m.grading),
    ]
    .into_iter()
    .map(|(label, n)| (label.to_owned(), share(n), percent(n, m.exchanges)))
    .collect();
    html! {
        div.mix data-reasoning=(format!("{:.4}", share(m.reasoning))) {
            (chart::shares(&rows, "#3f6fb5"))
            p.note { "Share of the campaign's " (count(m.exchanges)) " exchanges; a request can target several." }
        }
    }
}

fn created(s: &CampaignStory) -> Markup {
    let (values, days) = per_day(&s.created);
    html! {
        @if values.is_empty() {
            p.none { "No account's opening date is known." }
        } @else {
            figure.chart {
                (chart::bars(&values, "#3f6fb5", "created"))
                figcaption {
                    @if days == 1 { "Accounts opened per day." } @else { "Accounts opened per week, by the week's first day." }
                    @if s.created_unknown > 0 {
                        " " (count(s.created_unknown)) " accounts' opening dates are unknown."
                    }
                }
            }
        }
    }
}

/// Counts per day as a continuous series from the first day to the last (by week when
/// that spans more than half a year), labelled by each bar's first day; and the days a
/// bar spans.
fn per_day(days: &[(EventTime, u64)]) -> (Vec<(String, u64)>, i64) {
    const DAY: i64 = moat_core::time::MICROS_PER_DAY;
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return (Vec::new(), 1);
    };
    let first = first.0.as_unix_micros().div_euclid(DAY);
    let span = last.0.as_unix_micros().div_euclid(DAY) - first + 1;
    let width = if span > 183 { 7 } else { 1 };
    let mut out: Vec<(String, u64)> = (0..(span + width - 1) / width)
        .map(|k| (day((first + k * width) * DAY), 0))
        .collect();
    for (t, n) in days {
        let k = (t.as_unix_micros().div_euclid(DAY) - first) / width;
        if let Some(slot) = out.get_mut(k as usize) {
            slot.1 += n;
        }
    }
    (out, width)
}

fn legend() -> Markup {
    html! {
        p.legend {
            @for v in [Verdict::Block, Verdict::Watch, Verdict::Allow] {
                span.swatch.round style={ "background:" (verdict_colour(v)) } {} (v.as_str()) " "
            }
        }
    }
}

/// One member account, compact (a campaign can have a hundred thousand): id, verdict
/// (0 allow, 1 watch, 2 block), score, exchanges, minute blocked (since the Unix epoch; 0
/// when never), signals as bits of [`Signal::ALL`].
#[derive(serde::Serialize)]
struct Row<'a>(&'a str, u8, f64, u64, i64, u32);

fn member_table(id: &str, members: &[&AccountVerdict], mode: Mode) -> Markup {
    let signal_bit = |name: &str| {
        Signal::ALL
            .iter()
            .position(|s| s.name() == name)
            .map_or(0, |i| 1u32 << i)
    };
    let mut rows: Vec<Row> = members
        .iter()
        .map(|a| {
            Row(
                &a.account_id,
                match a.verdict {
                    Verdict::Allow => 0,
                    Verdict::Watch => 1,
                    Verdict::Block => 2,
                },
                (a.score * 1e4).round() / 1e4,
                a.exchanges,
                a.flagged_at.map_or(0, |t| {
                    t.as_unix_micros()
                        .div_euclid(moat_core::time::MICROS_PER_MINUTE)
                }),
                a.signals
                    .iter()
                    .map(|s| signal_bit(s))
                    .fold(0, |m, b| m | b),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(b.0)));
    let signals: Vec<&str> = Signal::ALL.iter().map(|s| s.name()).collect();
    html! {
        div.members data-campaign=(id) data-rows=(rows.len()) data-actions=(mode == Mode::Live)
            data-signals=(signals.join(",")) {
            input.filter type="search" placeholder="filter accounts" aria-label="filter accounts";
            table {
                thead { tr {
                    th { "account" } th { "verdict" } th.num { "score" } th.num { "exchanges" }
                    th { "blocked at" } th { "signals" }
                    @if mode == Mode::Live { th { "action" } }
                } }
                tbody {}
            }
            p.pager {}
            script type="application/json" { (script_json(&rows)) }
        }
    }
}

fn campaign_actions(id: &str) -> Markup {
    html! {
        form.actions data-campaign=(id) {
            input name="reason" type="text" placeholder="reason (required)" required;
            button type="button" data-action="block" { "Block campaign" }
            button type="button" data-action="allow" { "Allow campaign" }
            button type="button" data-action="clear" { "Clear decision" }
            span.result role="status" {}
        }
    }
}
