#!/usr/bin/env python3
"""How moat's cost grows: with exchanges, with accounts, with a campaign's size.

Runs `moat bench scan` over simulated files of growing size and `moat bench link` over
growing populations and campaigns, then writes the figures as JSON and draws them as one
SVG of three log-log panels (to target/performance-growth.* unless told otherwise: the
committed figures in docs/ change only when asked). Python 3 only, nothing to install.

    python3 scripts/perf-growth.py                      # target/release/moat
    python3 scripts/perf-growth.py --quick              # small sizes, to try it out
    python3 scripts/perf-growth.py --out docs/performance-growth   # update the docs' figures
"""

import argparse
import json
import math
import subprocess
import sys


def bench(moat, *args):
    out = subprocess.run(
        [moat, "bench", *args, "--json", "-q"], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def measure(moat, quick):
    scales = [0.001, 0.002, 0.004] if quick else [0.0025, 0.005, 0.01, 0.02]
    populations = [10_000, 30_000] if quick else [10_000, 30_000, 100_000, 300_000, 1_000_000]
    campaigns = [500, 2_000] if quick else [1_000, 5_000, 25_000, 100_000]
    campaign_population = 20_000 if quick else 200_000
    figures = {"exchanges": [], "accounts": [], "campaign": []}
    for scale in scales:
        print(f"scan, hydra-29m at scale {scale}", file=sys.stderr)
        figures["exchanges"].append(bench(moat, "scan", "--scale", str(scale)))
    print(f"link, {populations} accounts", file=sys.stderr)
    figures["accounts"] = bench(
        moat, "link", "--accounts", ",".join(map(str, populations)), "--campaign", "25000"
    )
    for size in campaigns:
        print(f"link, a {size}-account campaign in {campaign_population}", file=sys.stderr)
        figures["campaign"] += bench(
            moat, "link", "--accounts", str(campaign_population), "--campaign", str(size)
        )
    return figures


# Drawing: three panels side by side, log-log, one polyline per series.
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 330, 260, 58, 14, 34, 46
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def ticks(lo, hi):
    """Powers of ten, and their 2 and 5 multiples when the range is narrow, within lo..hi."""
    out = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        steps = (1, 2, 5) if math.log10(hi / lo) < 2.5 else (1,)
        out += [m * 10**e for m in steps if lo <= m * 10**e <= hi]
    return out


def label(v):
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if v >= size:
            return f"{v / size:g}{unit}"
    return f"{v:g}"


def panel(x0, title, xlabel, ylabel, series):
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts]
    xlo, xhi = min(xs) / 1.3, max(xs) * 1.3
    ylo, yhi = min(ys) / 1.5, max(ys) * 1.5

    def px(x):
        return x0 + PAD_L + (math.log(x / xlo) / math.log(xhi / xlo)) * (W - PAD_L - PAD_R)

    def py(y):
        return PAD_T + (1 - math.log(y / ylo) / math.log(yhi / ylo)) * (H - PAD_T - PAD_B)

    parts = [
        f'<text x="{x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">{title}</text>',
        f'<rect x="{x0 + PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" '
        f'height="{H - PAD_T - PAD_B}" fill="none" stroke="#999"/>',
        f'<text x="{x0 + PAD_L + (W - PAD_L - PAD_R) / 2}" y="{H - 8}" '
        f'text-anchor="middle">{xlabel}</text>',
        f'<text transform="translate({x0 + 13},{PAD_T + (H - PAD_T - PAD_B) / 2}) rotate(-90)" '
        f'text-anchor="middle">{ylabel}</text>',
    ]
    for t in ticks(xlo, xhi):
        parts.append(
            f'<text x="{px(t):.1f}" y="{H - PAD_B + 14}" text-anchor="middle" '
            f'font-size="10">{label(t)}</text>'
        )
    for t in ticks(ylo, yhi):
        parts.append(
            f'<line x1="{x0 + PAD_L}" x2="{x0 + W - PAD_R}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
            f'stroke="#eee"/><text x="{x0 + PAD_L - 4}" y="{py(t) + 3:.1f}" text-anchor="end" '
            f'font-size="10">{label(t)}</text>'
        )
    for k, (name, pts) in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in pts
        ]
        parts.append(
            f'<text x="{x0 + PAD_L + 6}" y="{PAD_T + 14 + 13 * k}" fill="{colour}" '
            f'font-size="11">{name}</text>'
        )
    return parts


def draw(figures):
    scans = figures["exchanges"]
    population = figures["accounts"]
    campaigns = figures["campaign"]
    panels = [
        panel(
            0,
            "Scan time by exchanges",
            "exchanges (hydra-29m, ~1 KB each)",
            "seconds",
            [
                ("moat scan, end to end", [(s["exchanges"], s["scan_s"]) for s in scans]),
                ("parse only, 1 thread", [(s["exchanges"], s["parse_one_thread_s"]) for s in scans]),
                ("parse only, 2 threads", [(s["exchanges"], s["parse_s"]) for s in scans]),
            ],
        ),
        panel(
            W,
            "Linking round by accounts",
            "accounts (6 exchanges each)",
            "seconds",
            [
                ("whole-population round", [(p["accounts"], p["link_round_s"]) for p in population]),
                ("reading the exchanges", [(p["accounts"], p["read_s"]) for p in population]),
            ],
        ),
        panel(
            2 * W,
            "Linking round by campaign size",
            f"campaign accounts (in {label(campaigns[0]['accounts'])})",
            "seconds",
            [
                ("whole-population round", [(c["campaign_accounts"], c["link_round_s"]) for c in campaigns]),
                ("link stage", [(c["campaign_accounts"], max(c["link_s"], 1e-4)) for c in campaigns]),
            ],
        ),
    ]
    body = "\n".join(p for parts in panels for p in parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * W}" height="{H}" '
        f'font-family="sans-serif" font-size="12">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n'
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moat", default="target/release/moat", help="the moat binary")
    parser.add_argument(
        "--out", default="target/performance-growth", help="writes OUT.json and OUT.svg"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, to try it out")
    parser.add_argument(
        "--from-json", action="store_true", help="redraw OUT.svg from OUT.json, measure nothing"
    )
    args = parser.parse_args()
    if args.from_json:
        with open(args.out + ".json") as f:
            figures = json.load(f)
    else:
        figures = measure(args.moat, args.quick)
        with open(args.out + ".json", "w") as f:
            json.dump(figures, f, indent=1)
    with open(args.out + ".svg", "w") as f:
        f.write(draw(figures))
    print(f"wrote {args.out}.json and {args.out}.svg", file=sys.stderr)


if __name__ == "__main__":
    main()
