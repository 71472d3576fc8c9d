"""Writes the latency curve (p50/p99/p999 against offered rate, Portcullis
and Redis, one run of benches/compare.sh) as an SVG plot. Standard library
only.

    python3 curve_svg.py OUT.svg DATE rate,pp50,pp99,pp999,rp50,rp99,rp999 ...

Latencies in microseconds; the y axis is logarithmic.
"""

import math
import sys


def main():
    out, date = sys.argv[1], sys.argv[2]
    rows = []
    for arg in sys.argv[3:]:
        f = arg.split(",")
        if len(f) != 7:
            continue
        try:
            rows.append([float(x) for x in f])
        except ValueError:
            continue
    if not rows:
        sys.exit("no data")
    w, h, left, right, top, bottom = 760, 440, 70, 200, 40, 50
    pw, ph = w - left - right, h - top - bottom
    xmax = max(r[0] for r in rows) * 1.05
    ys = [v for r in rows for v in r[1:] if v > 0]
    ylo = 10 ** math.floor(math.log10(max(min(ys), 1)))
    yhi = 10 ** math.ceil(math.log10(max(ys)))

    def x(v):
        return left + pw * v / xmax

    def y(v):
        v = max(v, ylo)
        return top + ph * (1 - (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">Latency against offered rate, open loop (one run, {date})</text>',
    ]
    d = ylo
    while d <= yhi:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(d):.1f}" y2="{y(d):.1f}" stroke="#ddd"/>')
        label = f"{d / 1000:g} ms" if d >= 1000 else f"{d:g} µs"
        parts.append(f'<text x="{left - 6}" y="{y(d) + 4:.1f}" text-anchor="end">{label}</text>')
        d *= 10
    steps = 5
    for i in range(steps + 1):
        v = xmax * i / steps
        parts.append(f'<text x="{x(v):.1f}" y="{top + ph + 18}" text-anchor="middle">{v / 1000:.0f}k</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{h - 10}" text-anchor="middle">offered verifications per second</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    series = [
        ("Portcullis p50", 1, "#8a1538", ""),
        ("Portcullis p99", 2, "#8a1538", "6,3"),
        ("Portcullis p999", 3, "#8a1538", "2,3"),
        ("Redis p50", 4, "#1f5fa8", ""),
        ("Redis p99", 5, "#1f5fa8", "6,3"),
        ("Redis p999", 6, "#1f5fa8", "2,3"),
    ]
    for n, (name, col, color, dash) in enumerate(series):
        pts = " ".join(f"{x(r[0]):.1f},{y(r[col]):.1f}" for r in rows if r[col] > 0)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
        for r in rows:
            if r[col] > 0:
                parts.append(f'<circle cx="{x(r[0]):.1f}" cy="{y(r[col]):.1f}" r="2.5" fill="{color}"/>')
        ly = top + 10 + n * 20
        parts.append(f'<line x1="{left + pw + 15}" x2="{left + pw + 45}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{left + pw + 52}" y="{ly + 4}">{name}</text>')
    parts.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
