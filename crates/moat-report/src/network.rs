//! A campaign's structure, laid out by force (Fruchterman–Reingold) and drawn as SVG: the
//! keys its accounts share most as hubs coloured by kind, and a few of the accounts holding
//! each, coloured by verdict.

use maud::{Markup, html};
use moat_core::story::{HOLDERS_PER_KEY, KEYS_PER_KIND, Network};

use crate::chart::{kind_colour, verdict_colour};
use crate::format::count;

const SIZE: f64 = 560.0;
const ITERATIONS: usize = 120;

/// Positions in [0, SIZE]² for `n` nodes joined by `edges`; deterministic.
fn layout(n: usize, edges: &[(usize, usize)]) -> Vec<(f64, f64)> {
    if n == 0 {
        return Vec::new();
    }
    let area = SIZE * SIZE;
    let k = (area / n as f64).sqrt() * 0.8;
    // Start on a sunflower spiral: even, deterministic, no two nodes in one place.
    let mut pos: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let r = (i as f64 + 0.5).sqrt() / (n as f64).sqrt() * SIZE * 0.45;
            let a = i as f64 * 2.399_963;
            (SIZE / 2.0 + r * a.cos(), SIZE / 2.0 + r * a.sin())
        })
        .collect();
    let mut shift = vec![(0.0f64, 0.0f64); n];
    let mut temperature = SIZE / 10.0;
    for _ in 0..ITERATIONS {
        shift.iter_mut().for_each(|d| *d = (0.0, 0.0));
        for i in 0..n {
            for j in i + 1..n {
                let (dx, dy) = (pos[i].0 - pos[j].0, pos[i].1 - pos[j].1);
                let d2 = (dx * dx + dy * dy).max(0.01);
                let f = k * k / d2;
                shift[i].0 += dx * f;
                shift[i].1 += dy * f;
                shift[j].0 -= dx * f;
                shift[j].1 -= dy * f;
            }
        }
        for &(a, b) in edges {
            let (dx, dy) = (pos[a].0 - pos[b].0, pos[a].1 - pos[b].1);
            let d = (dx * dx + dy * dy).sqrt().max(0.1);
            let f = d / k;
            shift[a].0 -= dx * f;
            shift[a].1 -= dy * f;
            shift[b].0 += dx * f;
            shift[b].1 += dy * f;
        }
        for (p, d) in pos.iter_mut().zip(&shift) {
            let len = (d.0 * d.0 + d.1 * d.1).sqrt().max(1e-9);
            let step = len.min(temperature);
            p.0 = (p.0 + d.0 / len * step).clamp(8.0, SIZE - 8.0);
            p.1 = (p.1 + d.1 / len * step).clamp(8.0, SIZE - 8.0);
        }
        temperature = (temperature * 0.95).max(1.0);
    }
    fit(&mut pos);
    pos
}

/// Stretches positions to fill the drawing, keeping their proportions.
fn fit(pos: &mut [(f64, f64)]) {
    // Room for the keys' squares and their labels at the edges.
    const MARGIN: f64 = 28.0;
    let (mut lo, mut hi) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
    for p in pos.iter() {
        lo = (lo.0.min(p.0), lo.1.min(p.1));
        hi = (hi.0.max(p.0), hi.1.max(p.1));
    }
    let extent = (hi.0 - lo.0).max(hi.1 - lo.1);
    if extent < 1e-6 {
        return;
    }
    let scale = (SIZE - 2.0 * MARGIN) / extent;
    let offset = (
        (SIZE - (hi.0 - lo.0) * scale) / 2.0,
        (SIZE - (hi.1 - lo.1) * scale) / 2.0,
    );
    for p in pos.iter_mut() {
        *p = (
            offset.0 + (p.0 - lo.0) * scale,
            offset.1 + (p.1 - lo.1) * scale,
        );
    }
}

/// The network as an SVG: the campaign's most shared keys as squares (sized by how many
/// of its accounts hold them), a few holders of each as dots (coloured by verdict), each
/// dot tied to every drawn key it holds; with a legend of the kinds of key shared.
pub fn network(net: &Network) -> Markup {
    let keys = net.keys.len();
    let edges: Vec<(usize, usize)> = net
        .edges
        .iter()
        .map(|e| (e.key as usize, keys + e.account as usize))
        .filter(|&(k, a)| k < keys && a < keys + net.nodes.len())
        .collect();
    let pos = layout(keys + net.nodes.len(), &edges);
    let radius = if net.nodes.len() > 120 { 3.5 } else { 4.5 };
    let most = net.keys.iter().map(|k| k.holders).max().unwrap_or(1).max(1) as f64;
    let side = |holders: u64| 8.0 + 14.0 * (holders as f64 / most).sqrt();
    html! {
        figure.network {
            svg viewBox={ "0 0 " (SIZE) " " (SIZE) } role="img" class="network-graph"
                data-nodes=(net.nodes.len()) data-keys=(keys) data-edges=(edges.len()) data-accounts=(net.accounts) {
                title { "Linked accounts: " (keys) " shared keys and " (net.nodes.len()) " of " (net.accounts) " accounts drawn" }
                g.edges {
                    @for &(k, a) in &edges {
                        line x1=(px(pos[k].0)) y1=(px(pos[k].1)) x2=(px(pos[a].0)) y2=(px(pos[a].1))
                            stroke=(kind_colour(&net.keys[k].kind)) data-kind=(net.keys[k].kind) {}
                    }
                }
                g.nodes {
                    @for (node, p) in net.nodes.iter().zip(&pos[keys..]) {
                        circle cx=(px(p.0)) cy=(px(p.1)) r=(radius)
                            fill=(verdict_colour(node.verdict)) data-verdict=(node.verdict.as_str()) {
                            title { (node.account_id) " · " (node.verdict.as_str()) " · score " (format!("{:.2}", node.score)) }
                        }
                    }
                }
                g.keys {
                    @for (key, p) in net.keys.iter().zip(&pos) {
                        @let d = side(key.holders);
                        rect x=(px(p.0 - d / 2.0)) y=(px(p.1 - d / 2.0)) width=(px(d)) height=(px(d))
                            fill=(kind_colour(&key.kind)) data-kind=(key.kind) data-holders=(key.holders) {
                            title { (key.kind.replace('_', " ")) " held by " (count(key.holders)) " of the campaign's accounts" }
                        }
                        text.label x=(px(p.0 + d / 2.0 + 3.0)) y=(px(p.1 + 4.0)) { "×" (count(key.holders)) }
                    }
                }
            }
            figcaption {
                "Squares: the keys most shared (up to " (KEYS_PER_KIND) " of each kind, sized by how many accounts hold them); dots: up to "
                (HOLDERS_PER_KEY) " accounts holding each, "
                (net.nodes.len()) " of " (count(net.accounts)) " accounts, each tied to every key drawn it holds."
            }
            table.kinds {
                thead { tr { th { "shared key" } th.num { "keys" } th.num { "accounts holding one" } } }
                tbody {
                    @for k in &net.kinds {
                        tr data-kind=(k.kind) {
                            td { span.swatch style={ "background:" (kind_colour(&k.kind)) } {} (k.kind.replace('_', " ")) }
                            td.num { (count(k.keys)) }
                            td.num { (count(k.accounts)) }
                        }
                    }
                }
            }
        }
    }
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_nodes_end_closer_than_unlinked_ones() {
        // Two triangles, not joined to each other.
        let edges = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)];
        let p = layout(6, &edges);
        let d = |a: usize, b: usize| ((p[a].0 - p[b].0).powi(2) + (p[a].1 - p[b].1).powi(2)).sqrt();
        let within = (d(0, 1) + d(1, 2) + d(3, 4)) / 3.0;
        let across = (d(0, 3) + d(1, 4) + d(2, 5)) / 3.0;
        assert!(within < across, "within {within:.1}, across {across:.1}");
        assert!(
            p.iter()
                .all(|&(x, y)| (0.0..=SIZE).contains(&x) && (0.0..=SIZE).contains(&y))
        );
        assert_eq!(layout(6, &edges), p, "the layout is deterministic");
    }
}
