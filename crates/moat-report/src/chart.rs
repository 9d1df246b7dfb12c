//! Charts drawn as inline SVG: nothing to fetch, nothing to run, readable in any browser.
//! Each chart carries its figures in `data-` attributes, so what it draws can be checked.

use maud::{Markup, html};
use moat_core::Verdict;
use moat_core::story::Timeline;

use crate::format::{count, day, hour};

const W: f64 = 900.0;
/// The width of a chart drawn in half the page.
const HALF_W: f64 = 440.0;
const H: f64 = 180.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 22.0;

/// The colour of a verdict.
pub fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Block => "#c8372d",
        Verdict::Watch => "#e09a1f",
        Verdict::Allow => "#7f93a8",
    }
}

/// The colour of a kind of shared key.
pub fn kind_colour(kind: &str) -> &'static str {
    match kind {
        "payment" => "#8e44ad",
        "email_domain" => "#2e86c1",
        "signup_hour" => "#17a589",
        "ip" => "#d35400",
        "prefix" => "#f0a04b",
        "client" => "#5d6d7e",
        "system_prompt" => "#c0392b",
        "template" => "#27ae60",
        _ => "#999999",
    }
}

/// Exchanges over time, stacked: `part` (a campaign, drawn in red) below the rest of
/// `all`. Buckets are drawn as steps of one path per series.
pub fn timeline(all: &Timeline, part: &Timeline, part_label: &str) -> Markup {
    let n = all.counts.len().max(1);
    let at = |counts: &[u64], k: usize| counts.get(k).copied().unwrap_or(0);
    let p = |k: usize| at(&part.counts, k);
    let rest: Vec<u64> = (0..n)
        .map(|k| at(&all.counts, k).saturating_sub(p(k)))
        .collect();
    let peak = (0..n)
        .map(|k| at(&all.counts, k).max(p(k)))
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = W - LEFT;
    let plot_h = H - BOTTOM;
    let x = |k: usize| LEFT + k as f64 * plot_w / n as f64;
    let y = |v: u64| plot_h - v as f64 / peak as f64 * (plot_h - 6.0);
    let steps = |lower: &dyn Fn(usize) -> u64, upper: &dyn Fn(usize) -> u64| {
        let mut d = format!("M{:.1},{:.1}", x(0), y(lower(0)));
        for k in 0..n {
            d.push_str(&format!("L{:.1},{:.1}H{:.1}", x(k), y(upper(k)), x(k + 1)));
        }
        for k in (0..n).rev() {
            d.push_str(&format!("L{:.1},{:.1}H{:.1}", x(k + 1), y(lower(k)), x(k)));
        }
        d.push('Z');
        d
    };
    let part_path = steps(&|_| 0, &p);
    let rest_path = steps(&p, &|k| p(k) + rest[k]);
    let part_total: u64 = (0..n).map(p).sum();
    let rest_total: u64 = rest.iter().sum();
    let unit = if all.bucket_hours == 1 {
        "hour".to_owned()
    } else {
        format!("{} hours", all.bucket_hours)
    };
    let ticks = time_ticks(all, n);
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (W) " " (H) } role="img" class="timeline"
                data-part=(part_total) data-rest=(rest_total) data-buckets=(n) data-peak=(peak) {
                title { "Exchanges per " (unit) ": " (part_label) " " (count(part_total)) ", everything else " (count(rest_total)) }
                line.axis x1=(LEFT) y1=(plot_h) x2=(W) y2=(plot_h) {}
                text.label x=(LEFT - 6.0) y="12" text-anchor="end" { (count(peak)) }
                text.label x=(LEFT - 6.0) y=(plot_h) text-anchor="end" { "0" }
                path.rest d=(rest_path) {}
                path.part d=(part_path) {}
                @for (k, label) in &ticks {
                    text.label x=(format!("{:.1}", x(*k))) y=(H - 6.0) text-anchor="middle" { (label) }
                }
            }
            figcaption {
                "Exchanges per " (unit) ". "
                span.key.part {} (part_label) " (" (count(part_total)) ") "
                span.key.rest {} "everything else (" (count(rest_total)) ")"
            }
        }
    }
}

fn time_ticks(t: &Timeline, n: usize) -> Vec<(usize, String)> {
    let Some(start) = t.start else {
        return Vec::new();
    };
    let hours = n as i64 * i64::from(t.bucket_hours);
    let label = |k: usize| {
        let at = start.as_unix_micros()
            + k as i64 * i64::from(t.bucket_hours) * moat_core::time::MICROS_PER_HOUR;
        if hours <= 72 { hour(at) } else { day(at) }
    };
    [0, n / 4, n / 2, 3 * n / 4]
        .into_iter()
        .map(|k| (k, label(k)))
        .collect()
}

/// A bar per labelled value, drawn to fill half the page's width (its labels read at the
/// size of the other charts'): the first and last labels stand inside the drawing.
pub fn bars(values: &[(String, u64)], colour: &str, class: &str) -> Markup {
    const W: f64 = HALF_W;
    let n = values.len().max(1);
    let peak = values.iter().map(|v| v.1).max().unwrap_or(0).max(1);
    let plot_w = W - LEFT;
    let plot_h = H - BOTTOM;
    let w = plot_w / n as f64;
    let total: u64 = values.iter().map(|v| v.1).sum();
    let ticks: Vec<usize> = if n <= 4 {
        (0..n).collect()
    } else {
        vec![0, n / 2, n - 1]
    };
    // A label centred under its bar, or flush with the drawing's edge at either end.
    let tick = |k: usize| {
        if n > 1 && k == 0 {
            (LEFT + k as f64 * w, "start")
        } else if n > 1 && k == n - 1 {
            (W, "end")
        } else {
            (LEFT + (k as f64 + 0.5) * w, "middle")
        }
    };
    html! {
        svg viewBox={ "0 0 " (W) " " (H) } role="img" class=(class) data-total=(total) data-bars=(values.len()) {
            line.axis x1=(LEFT) y1=(plot_h) x2=(W) y2=(plot_h) {}
            text.label x=(LEFT - 6.0) y="12" text-anchor="end" { (count(peak)) }
            @for (k, (label, v)) in values.iter().enumerate() {
                @let h = *v as f64 / peak as f64 * (plot_h - 6.0);
                rect x=(format!("{:.1}", LEFT + k as f64 * w + w * 0.1)) y=(format!("{:.1}", plot_h - h))
                    width=(format!("{:.1}", (w * 0.8).max(0.5))) height=(format!("{:.1}", h)) fill=(colour) {
                    title { (label) ": " (count(*v)) }
                }
            }
            @for k in ticks {
                @if let Some((label, _)) = values.get(k) {
                    @let (x, anchor) = tick(k);
                    text.label x=(format!("{x:.1}")) y=(H - 6.0) text-anchor=(anchor) { (label) }
                }
            }
        }
    }
}

/// Accounts by score: 50 bins over [0, 1], bar heights on a log scale (a handful of
/// campaign accounts stay visible beside a million customers), the thresholds marked.
pub fn score_histogram(scores: impl Iterator<Item = f64>, watch: f64, block: f64) -> Markup {
    const BINS: usize = 50;
    let mut bins = [0u64; BINS];
    for s in scores {
        bins[((s.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1)] += 1;
    }
    let peak = (*bins.iter().max().unwrap_or(&1)).max(1) as f64;
    let plot_w = W - LEFT;
    let plot_h = H - BOTTOM;
    let w = plot_w / BINS as f64;
    let x = |score: f64| LEFT + score * plot_w;
    let bins_json = serde_json::to_string(&bins.to_vec()).unwrap_or_default();
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (W) " " (H) } role="img" class="scores" data-bins=(bins_json) {
                title { "Accounts by score" }
                line.axis x1=(LEFT) y1=(plot_h) x2=(W) y2=(plot_h) {}
                text.label x=(LEFT - 6.0) y="12" text-anchor="end" { (count(peak as u64)) }
                @for (k, &c) in bins.iter().enumerate() {
                    @let score = k as f64 / BINS as f64;
                    @let h = if c == 0 { 0.0 } else { (1.0 + (c as f64).ln()) / (1.0 + peak.ln()) * (plot_h - 6.0) };
                    @let colour = if score >= block { verdict_colour(Verdict::Block) } else if score + 1.0 / BINS as f64 > watch { verdict_colour(Verdict::Watch) } else { verdict_colour(Verdict::Allow) };
                    rect x=(format!("{:.1}", LEFT + k as f64 * w + 1.0)) y=(format!("{:.1}", plot_h - h))
                        width=(format!("{:.1}", w - 2.0)) height=(format!("{:.1}", h)) fill=(colour) {
                        title { (format!("score {:.2}–{:.2}", score, score + 1.0 / BINS as f64)) ": " (count(c)) " accounts" }
                    }
                }
                @for (t, name) in [(watch, "watch"), (block, "block")] {
                    line.threshold x1=(format!("{:.1}", x(t))) y1="0" x2=(format!("{:.1}", x(t))) y2=(plot_h) {}
                    text.label x=(format!("{:.1}", x(t) + 4.0)) y="12" { (name) " ≥ " (t) }
                }
                @for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
                    @let anchor = if t < 1.0 { "middle" } else { "end" };
                    text.label x=(format!("{:.1}", x(t))) y=(H - 6.0) text-anchor=(anchor) { (t) }
                }
            }
            figcaption { "Accounts by final score (bar height on a log scale); the lines are the watch and block thresholds." }
        }
    }
}

/// Horizontal bars of shares in [0, 1], each with its label and the figure behind it.
pub fn shares(rows: &[(String, f64, String)], colour: &str) -> Markup {
    html! {
        table.shares {
            @for (label, share, figure) in rows {
                tr {
                    th { (label) }
                    td.bar {
                        span style={ "width:" (format!("{:.1}", share.clamp(0.0, 1.0) * 100.0)) "%;background:" (colour) } {}
                    }
                    td.num data-share=(format!("{share:.4}")) { (figure) }
                }
            }
        }
    }
}
