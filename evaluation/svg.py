"""Tiny inline-SVG charts for the self-contained HTML report (no plotting library to install)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np

W, H = 640, 280
L, R, T, B = 64, 16, 34, 44  # margins
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    return [t for t in np.arange(math.floor(lo / step) * step, hi + step * 0.5, step) if lo - 1e-9 <= t <= hi + 1e-9]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.3g}"


class _Frame:
    def __init__(
        self, title: str, xlabel: str, ylabel: str, x: tuple[float, float], y: tuple[float, float], xticks: bool = True
    ):
        self.x0, self.x1 = x if x[1] > x[0] else (x[0], x[0] + 1)
        self.y0, self.y1 = y if y[1] > y[0] else (y[0], y[0] + 1)
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
            f'font-size="11"><text x="{W / 2}" y="18" text-anchor="middle" font-size="13" '
            f'font-weight="bold">{escape(title)}</text>'
        ]
        for t in _ticks(self.y0, self.y1):
            y = self.py(t)
            self.parts.append(
                f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                f'<text x="{L - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
            )
        for t in _ticks(self.x0, self.x1, 6) if xticks else []:
            x = self.px(t)
            self.parts.append(f'<text x="{x:.1f}" y="{H - B + 14}" text-anchor="middle">{_fmt(t)}</text>')
        self.parts.append(
            f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#888"/>'
            f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{escape(xlabel)}</text>'
            f'<text x="14" y="{H / 2}" text-anchor="middle" transform="rotate(-90 14 {H / 2})">'
            f"{escape(ylabel)}</text>"
        )

    def px(self, v: float) -> float:
        return L + (v - self.x0) / (self.x1 - self.x0) * (W - L - R)

    def py(self, v: float) -> float:
        return H - B - (v - self.y0) / (self.y1 - self.y0) * (H - T - B)

    def legend(self, names: Sequence[str]) -> None:
        for i, name in enumerate(names):
            y = T + 14 + 14 * i
            self.parts.append(
                f'<rect x="{L + 8}" y="{y - 8}" width="10" height="10" fill="{COLORS[i % 6]}"/>'
                f'<text x="{L + 22}" y="{y + 1}">{escape(name)}</text>'
            )

    def done(self) -> str:
        return "".join(self.parts) + "</svg>"


def line_chart(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    points: bool = False,
) -> str:
    """Lines (or dots with ``points``) of several named (x, y) series on one frame."""
    xs = [v for x, _ in series.values() for v in x] or [0.0]
    ys = [v for _, y in series.values() for v in y] or [0.0]
    f = _Frame(title, xlabel, ylabel, (min(xs), max(xs)), (min(0.0, min(ys)), max(ys) * 1.05))
    for i, (x, y) in enumerate(series.values()):
        c = COLORS[i % 6]
        if points:
            f.parts.extend(
                f'<circle cx="{f.px(a):.1f}" cy="{f.py(b):.1f}" r="2" fill="{c}"/>' for a, b in zip(x, y, strict=True)
            )
        elif len(x):
            pts = " ".join(f"{f.px(a):.1f},{f.py(b):.1f}" for a, b in zip(x, y, strict=True))
            f.parts.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.5"/>')
    f.legend(list(series))
    return f.done()


def histogram(
    values: Sequence[float], *, title: str, xlabel: str, bins: int = 40, marker: tuple[float, str] | None = None
) -> str:
    """A histogram, with an optional vertical marker line (e.g. the latency budget)."""
    arr = np.asarray(values, dtype=float)
    hi = max(float(arr.max()) if arr.size else 1.0, marker[0] * 1.05 if marker else 0.0)
    counts, edges = np.histogram(arr, bins=bins, range=(0.0, hi))
    f = _Frame(title, xlabel, "requests", (0.0, hi), (0.0, float(counts.max() if counts.size else 1) * 1.05))
    for n, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        if n:
            f.parts.append(
                f'<rect x="{f.px(a):.1f}" y="{f.py(n):.1f}" width="{max(f.px(b) - f.px(a) - 1, 1):.1f}" '
                f'height="{f.py(0) - f.py(n):.1f}" fill="{COLORS[0]}"/>'
            )
    if marker:
        x = f.px(marker[0])
        f.parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{H - B}" stroke="{COLORS[1]}" '
            f'stroke-dasharray="4 3" stroke-width="2"/><text x="{x - 4:.1f}" y="{T + 12}" '
            f'text-anchor="end" fill="{COLORS[1]}">{escape(marker[1])}</text>'
        )
    return f.done()


def _tick(name: str) -> str:
    """A bar's label, cut to what fits under it (the full name stays in the bar's tooltip)."""
    return name if len(name) <= 14 else name[:13] + "…"


def bar_chart(values: dict[str, float], *, title: str, ylabel: str) -> str:
    """One bar per named value."""
    f = _Frame(title, "", ylabel, (0.0, float(len(values))), (0.0, max([*values.values(), 1e-9]) * 1.15), xticks=False)
    for i, (name, v) in enumerate(values.items()):
        x0, x1 = f.px(i + 0.15), f.px(i + 0.85)
        f.parts.append(
            f'<rect x="{x0:.1f}" y="{f.py(v):.1f}" width="{x1 - x0:.1f}" height="{f.py(0) - f.py(v):.1f}" '
            f'fill="{COLORS[i % 6]}"><title>{escape(name)}: {v:.4f}</title></rect>'
            f'<text x="{(x0 + x1) / 2:.1f}" y="{f.py(v) - 4:.1f}" text-anchor="middle">{v:.3g}</text>'
            f'<text x="{(x0 + x1) / 2:.1f}" y="{H - B + 14}" text-anchor="middle">{escape(_tick(name))}</text>'
        )
    return f.done()


def grouped_bars(groups: dict[str, dict[str, float]], *, title: str, ylabel: str) -> str:
    """One group of bars per name (e.g. a mode), one bar per series within it (e.g. a segment), with a legend."""
    series = list(dict.fromkeys(s for g in groups.values() for s in g))
    values = [v for g in groups.values() for v in g.values() if v == v]
    f = _Frame(title, "", ylabel, (0.0, float(len(groups))), (0.0, max([*values, 1e-9]) * 1.15), xticks=False)
    width = 0.8 / max(len(series), 1)
    for i, (name, g) in enumerate(groups.items()):
        for k, s in enumerate(series):
            v = g.get(s, 0.0)
            v = 0.0 if v != v else v
            x0, x1 = f.px(i + 0.1 + k * width), f.px(i + 0.1 + (k + 1) * width)
            f.parts.append(
                f'<rect x="{x0:.1f}" y="{f.py(v):.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                f'height="{f.py(0) - f.py(v):.1f}" fill="{COLORS[k % 6]}"><title>{escape(name)} / '
                f"{escape(s)}: {v:.4f}</title></rect>"
            )
        f.parts.append(
            f'<text x="{f.px(i + 0.5):.1f}" y="{H - B + 14}" text-anchor="middle">{escape(_tick(name))}</text>'
        )
    f.legend(series)
    return f.done()
