#!/usr/bin/env python3
"""Draws docs/bench.svg from the figures bench/run.sh collects.

    python3 bench/chart.py docs/bench.tsv docs/bench.svg

The input is what examples/bench.rs (`--results`) and bench/tls.sh (`TLS_RESULTS`) write:
tab-separated `protocol server connections rps p50_us p99_us` lines, and `# key: value`
lines (`note`, `commit`, `date`, `quick`). The last line for a (protocol, server,
connections) wins, so figures appended later replace earlier ones.

The SVG is static and self-contained (no script, no external font or style sheet) so that
GitHub shows it as an image; its background is opaque because GitHub's dark mode would
otherwise put dark text on a dark page.
"""

import math
import sys
import xml.dom.minidom
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 360
FONT = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
INK, MUTED, GRID = "#1f2328", "#59636e", "#d1d9e0"

# What the chart shows, in order: (protocol, connections, heading, [(server, label)]).
GROUPS = [
    ("http1", 64, "HTTP/1.1, plain, 64 connections (wrk)",
     [("gateway", "gateway"), ("ceiling", "ceiling (bare hyper)"),
      ("nginx", "nginx proxy_cache"), ("varnish", "Varnish")]),
    ("h2", 64, "HTTP/2 over TLS, 64 connections \u00d7 10 streams (h2load)",
     [("gateway", "gateway"), ("nginx", "nginx proxy_cache")]),
]
COLOURS = {"gateway": "#0969da", "ceiling": "#afb8c1", "nginx": "#6e7781", "varnish": "#6e7781"}

# Geometry: a label column, then the throughput panel, then the latency panel, rows shared.
LABEL_RIGHT = 150
BARS_LEFT, BARS_RIGHT = 160, 390
LAT_LEFT, LAT_RIGHT = 436, 700
TOP = 78
HEADING_H, ROW_H = 20, 23


def read(path):
    """The figures by (protocol, server, connections), and the `# key: value` lines."""
    figures, meta = {}, {"note": []}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if line.startswith("#"):
                key, sep, value = line[1:].strip().partition(":")
                if sep and key in ("note", "commit", "date", "quick"):
                    value = value.strip()
                    if key == "note":
                        meta["note"].append(value)
                    else:
                        meta[key] = value
                continue
            fields = line.split("\t")
            if len(fields) != 6:
                continue
            try:
                rps, p50, p99 = (float(v) for v in fields[3:])
                key = (fields[0], fields[1], int(fields[2]))
            except ValueError:
                # A run whose tool failed leaves a field empty: that server is "not measured".
                continue
            if rps > 0 and p50 > 0 and p99 > 0:
                figures[key] = (rps, p50, p99)
    return figures, meta


def nice_step(span, ticks):
    """A round step (1, 2 or 5 times a power of ten) giving about `ticks` intervals."""
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def kilo(value):
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k" if value % 1000 == 0 else f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def duration(us):
    """A latency in µs as people read it: µs below a millisecond, ms above."""
    if us < 1000:
        return f"{us:.0f} \u00b5s"
    ms = us / 1000
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def decade(power):
    """The label of the tick at 10^power µs."""
    if power < 3:
        return f"{10 ** power:g} \u00b5s" if power >= 0 else f"{10 ** power * 1000:g} ns"
    return f"{10 ** (power - 3):g} ms" if power < 6 else f"{10 ** (power - 6):g} s"


def text_width(text, size):
    # No font metrics without a renderer: an average glyph of a sans-serif face.
    return len(text) * size * 0.56


class Svg:
    def __init__(self):
        self.parts = []

    def add(self, element):
        self.parts.append(element)

    def text(self, x, y, content, size=11, fill=INK, anchor="start", weight=None):
        bold = f' font-weight="{weight}"' if weight else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" '
                 f'text-anchor="{anchor}"{bold}>{escape(content)}</text>')

    def line(self, x1, y1, x2, y2, stroke=GRID, width=1, extra=""):
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                 f'stroke="{stroke}" stroke-width="{width}"{extra}/>')


def draw(figures, meta):
    rows = []  # (y of the row's centre, server, label, figures or None)
    headings = []  # (y of the baseline, text)
    y = TOP
    for protocol, connections, heading, servers in GROUPS:
        headings.append((y + 14, heading))
        y += HEADING_H
        for server, label in servers:
            rows.append((y + ROW_H / 2, server, label, figures.get((protocol, server, connections))))
            y += ROW_H
        y += 4
    bottom = y

    measured = [f for _, _, _, f in rows if f]
    top_rps = max((f[0] for f in measured), default=1.0)
    step = nice_step(top_rps * 1.2, 4)
    rps_max = step * math.ceil(top_rps * 1.25 / step)  # room for the value after the bar
    # Whole decades, with a margin so that no mark sits on the panel's edge.
    low = math.floor(math.log10(min((f[1] for f in measured), default=100) / 1.3))
    high = math.ceil(math.log10(max((f[2] for f in measured), default=1000) * 1.3))
    high = max(high, low + 2)

    def bar_x(value):
        return BARS_LEFT + (BARS_RIGHT - BARS_LEFT) * value / rps_max

    def lat_x(us):
        return LAT_LEFT + (LAT_RIGHT - LAT_LEFT) * (math.log10(us) - low) / (high - low)

    svg = Svg()
    commit = meta.get("commit", "unknown commit")
    date = meta.get("date", "undated")
    title = f"appsignal-gateway cache hits \u2014 {date}, commit {commit}"
    svg.add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{FONT}" role="img">')
    svg.add(f"<title>{escape(title)}</title>")
    svg.add(f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff" stroke="{GRID}"/>')
    svg.text(16, 24, title, size=15, weight="600")
    if meta.get("quick"):
        svg.text(16, 42, "A quick smoke run (bench/run.sh --quick: one round of 1 s per server): "
                 "a placeholder, not a measurement.", size=11, fill="#9a6700", weight="600")
    else:
        svg.text(16, 42, "Each server on one core of a 2-core VM, the load generator on the other; every "
                 "request a cache hit, the same path and body for each server.", size=11, fill=MUTED)

    # Panel titles and the latency legend.
    svg.text(BARS_LEFT, 66, "Throughput, requests/s (higher is better)", size=11.5, weight="600")
    svg.text(LAT_LEFT, 66, "Latency (lower is better):", size=11.5, weight="600")
    legend = LAT_LEFT + text_width("Latency (lower is better):", 11.5) + 8
    svg.add(f'<circle cx="{legend + 4:.1f}" cy="62" r="4" fill="{MUTED}"/>')
    svg.text(legend + 11, 66, "p50", size=11, fill=MUTED)
    svg.line(legend + 40, 56, legend + 40, 68, stroke=MUTED, width=3)
    svg.text(legend + 46, 66, "p99", size=11, fill=MUTED)

    # Grids and axes, shared by every row.
    tick = 0.0
    while tick <= rps_max + step / 2:
        x = bar_x(tick)
        svg.line(x, TOP, x, bottom)
        svg.text(x, bottom + 14, kilo(tick), size=10, fill=MUTED, anchor="middle")
        tick += step
    for power in range(low, high + 1):
        x = lat_x(10 ** power)
        svg.line(x, TOP, x, bottom)
        svg.text(x, bottom + 14, decade(power), size=10, fill=MUTED, anchor="middle")
        if power < high:  # minor ticks at 2x and 5x, so a reader can place a point
            for m in (2, 5):
                xm = lat_x(m * 10 ** power)
                svg.line(xm, bottom - 3, xm, bottom, stroke=MUTED)
    svg.line(BARS_LEFT, bottom, BARS_RIGHT, bottom, stroke=MUTED)
    svg.line(LAT_LEFT, bottom, LAT_RIGHT, bottom, stroke=MUTED)
    svg.text((BARS_LEFT + BARS_RIGHT) / 2, bottom + 28, "requests per second", size=10.5,
             fill=MUTED, anchor="middle")
    svg.text((LAT_LEFT + LAT_RIGHT) / 2, bottom + 28, "response time, log scale (p50 to p99)",
             size=10.5, fill=MUTED, anchor="middle")

    for baseline, heading in headings:
        svg.text(16, baseline, heading, size=11.5, weight="600")
    for centre, server, label, figure in rows:
        colour = COLOURS.get(server, MUTED)
        weight = "600" if server == "gateway" else None
        svg.text(LABEL_RIGHT, centre + 4, label, size=11.5, anchor="end", weight=weight)
        if figure is None:
            svg.text(BARS_LEFT + 4, centre + 4, "not measured in this run", size=10.5, fill=MUTED)
            continue
        rps, p50, p99 = figure
        end = bar_x(rps)
        svg.add(f'<rect x="{BARS_LEFT}" y="{centre - 7:.1f}" width="{end - BARS_LEFT:.1f}" '
                f'height="14" fill="{colour}"/>')
        svg.text(end + 4, centre + 4, f"{rps:,.0f}", size=10.5, weight=weight)
        x50, x99 = lat_x(p50), lat_x(p99)
        svg.line(x50, centre, x99, centre, stroke=colour, width=2)
        svg.add(f'<circle cx="{x50:.1f}" cy="{centre:.1f}" r="4" fill="{colour}"/>')
        svg.line(x99, centre - 6, x99, centre + 6, stroke=colour, width=3)
        values = f"{duration(p50)} / {duration(p99)}"
        if x99 + 6 + text_width(values, 10) <= WIDTH - 8:
            svg.text(x99 + 6, centre + 4, values, size=10, fill=MUTED)
        else:
            svg.text(x50 - 7, centre + 4, values, size=10, fill=MUTED, anchor="end")

    notes = meta["note"] + ["Regenerate with bench/run.sh (writes docs/bench.tsv and this chart)."]
    for i, note in enumerate(notes[:3]):
        svg.text(16, bottom + 48 + 13 * i, note, size=10, fill=MUTED)
    svg.add("</svg>")
    return "\n".join(svg.parts) + "\n"


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: chart.py RESULTS.tsv OUT.svg")
    figures, meta = read(argv[1])
    svg = draw(figures, meta)
    # A chart GitHub cannot parse shows as a broken image: refuse to write one.
    xml.dom.minidom.parseString(svg)
    with open(argv[2], "w", encoding="utf-8") as out:
        out.write(svg)


if __name__ == "__main__":
    main(sys.argv)
