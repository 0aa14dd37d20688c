"""The report's charts as SVG, written by hand: no plotting library, byte-identical output.

Every chart has a title, a subtitle saying what is drawn, labelled axes with units, ticks and a
legend. Colours are Okabe and Ito's colour-blind-safe palette, and each variant also gets its
own dash pattern (lines) or marker shape (points), so no reading depends on colour alone. The
background is opaque white so the charts stay legible in GitHub's dark theme. Coordinates are
written with one decimal, so the same data gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from benchctl.report import units
from benchctl.report.data import Histogram
from benchctl.report.model import Chart, Report

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
DASHES = ("", "7 3", "2 3", "9 3 2 3", "4 4", "1 2", "12 4")
MARKERS = ("circle", "square", "triangle", "diamond", "triangle-down", "plus", "cross")
FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
WIDTH = 760
LEFT, RIGHT, TOP = 72, 24, 64
PLOT_HEIGHT = 260
LEGEND_ROW = 18
CHAR_WIDTH = 6.6  # of the 12px font, for laying out labels without a text engine


@dataclass(frozen=True)
class Style:
    colour: str
    dash: str
    marker: str


NO_SAMPLE = Style("#666666", "", "")


def style(index: int) -> Style:
    # Past seven variants colours repeat, but never with the same dash or marker pairing.
    return Style(
        PALETTE[index % len(PALETTE)],
        DASHES[(index + index // len(PALETTE)) % len(DASHES)],
        MARKERS[(index + index // len(PALETTE)) % len(MARKERS)],
    )


def _f(value: float) -> str:
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{_f(x)}" y="{_f(y)}"{extra}>{escape(text)}</text>'


def nice_ticks(high: float, target: int = 5) -> list[float]:
    """0 and round steps (1, 2, 2.5, 5 x 10^k) up to the first tick at or above ``high``."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    count = math.ceil(high / step - 1e-9)
    return [round(i * step, 12) for i in range(count + 1)]


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """A tick's value with as many decimals as the step between ticks needs (2.5 -> 1)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = next(d for d in range(13) if abs(round(step, d) - step) < step * 1e-6)
    return f"{value:,.{decimals}f}"


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks between two powers of ten exponents, for a log axis."""
    ticks = []
    for exponent in range(math.floor(low), math.ceil(high) + 1):
        for m in (1, 2, 5):
            value = m * 10**exponent
            if low - 1e-9 <= math.log10(value) <= high + 1e-9:
                ticks.append(float(value))
    return ticks


class _Svg:
    def __init__(self, height: float, title: str, subtitle: str) -> None:
        self.height = height
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{_f(height)}"'
            f' viewBox="0 0 {WIDTH} {_f(height)}" role="img" aria-label="{escape(title)}"'
            f' font-family="{escape(FONT)}" font-size="12">',
            f"<title>{escape(title)}</title>",
            f"<desc>{escape(subtitle)}</desc>",
            f'<rect width="{WIDTH}" height="{_f(height)}" fill="#ffffff"/>',
            _text(LEFT, 24, title, font_size="16", font_weight="600", fill="#111111"),
            _text(LEFT, 44, subtitle, fill="#444444"),
        ]

    def add(self, part: str) -> None:
        self.parts.append(part)

    def render(self) -> str:
        return "\n".join([*self.parts, "</svg>"]) + "\n"


def _x_axis(svg: _Svg, ticks: Sequence[tuple[float, str]], y: float, label: str) -> None:
    svg.add('<g class="x-axis" fill="#333333" stroke="#333333">')
    svg.add(f'<line x1="{LEFT}" y1="{_f(y)}" x2="{WIDTH - RIGHT}" y2="{_f(y)}"/>')
    for x, text in ticks:
        svg.add(f'<line x1="{_f(x)}" y1="{_f(y)}" x2="{_f(x)}" y2="{_f(y + 5)}"/>')
        svg.add(_text(x, y + 18, text, text_anchor="middle", stroke="none"))
    svg.add(_text((LEFT + WIDTH - RIGHT) / 2, y + 38, label, text_anchor="middle", stroke="none"))
    svg.add("</g>")


def _y_axis(svg: _Svg, ticks: Sequence[tuple[float, str]], label: str) -> None:
    bottom = TOP + PLOT_HEIGHT
    svg.add('<g class="y-axis" fill="#333333" stroke="#333333">')
    svg.add(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>')
    for y, text in ticks:
        svg.add(
            f'<line x1="{LEFT}" y1="{_f(y)}" x2="{WIDTH - RIGHT}" y2="{_f(y)}" stroke="#dddddd"/>'
        )
        svg.add(_text(LEFT - 8, y + 4, text, text_anchor="end", stroke="none"))
    middle = TOP + PLOT_HEIGHT / 2
    svg.add(
        f'<text x="16" y="{_f(middle)}" transform="rotate(-90 16 {_f(middle)})"'
        f' text-anchor="middle" stroke="none">{escape(label)}</text>'
    )
    svg.add("</g>")


def _marker(kind: str, x: float, y: float, colour: str, size: float = 5) -> str:
    fill = f'fill="{colour}" stroke="{colour}"'
    if kind == "circle":
        return f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(size)}" {fill}/>'
    if kind == "square":
        s = size * 0.9
        return (
            f'<rect x="{_f(x - s)}" y="{_f(y - s)}" width="{_f(2 * s)}" height="{_f(2 * s)}"'
            f" {fill}/>"
        )
    if kind in ("plus", "cross"):
        s = size * 1.2
        if kind == "plus":
            d = f"M{_f(x - s)} {_f(y)}H{_f(x + s)}M{_f(x)} {_f(y - s)}V{_f(y + s)}"
        else:
            d = (
                f"M{_f(x - s)} {_f(y - s)}L{_f(x + s)} {_f(y + s)}"
                f"M{_f(x - s)} {_f(y + s)}L{_f(x + s)} {_f(y - s)}"
            )
        return f'<path d="{d}" stroke="{colour}" stroke-width="2.5" fill="none"/>'
    s = size * 1.25
    points = {
        "triangle": [(x, y - s), (x + s, y + s * 0.8), (x - s, y + s * 0.8)],
        "triangle-down": [(x, y + s), (x + s, y - s * 0.8), (x - s, y - s * 0.8)],
        "diamond": [(x, y - s), (x + s, y), (x, y + s), (x - s, y)],
    }[kind]
    return f'<polygon points="{" ".join(f"{_f(a)},{_f(b)}" for a, b in points)}" {fill}/>'


def _legend(svg: _Svg, top: float, entries: Sequence[tuple[Style, str, bool]]) -> None:
    """One row per entry: a line sample (``True``) or a marker, then the text."""
    svg.add('<g class="legend">')
    for i, (st, text, line) in enumerate(entries):
        y = top + i * LEGEND_ROW
        if st is NO_SAMPLE:
            pass
        elif line:
            dash = f' stroke-dasharray="{st.dash}"' if st.dash else ""
            svg.add(
                f'<line x1="{LEFT}" y1="{_f(y)}" x2="{LEFT + 28}" y2="{_f(y)}"'
                f' stroke="{st.colour}" stroke-width="2.5"{dash}/>'
            )
        else:
            svg.add(_marker(st.marker, LEFT + 14, y, st.colour))
        svg.add(_text(LEFT + 36, y + 4, text, fill="#111111"))
    svg.add("</g>")


def _no_data(svg: _Svg, y: float, text: str) -> None:
    svg.add(_text(WIDTH / 2, y, text, text_anchor="middle", fill="#666666"))


def distribution(
    metric: str,
    title: str,
    axis: str,
    report: Report,
    histograms: Sequence[Histogram],
) -> str:
    """Overlaid step histograms of ``metric`` per variant on a log axis, medians dashed."""
    styles = {(v.variant, v.version): (i, v) for i, v in enumerate(report.variants)}
    drawn = sorted(
        (h for h in histograms if h.metric == metric and (h.variant, h.variant_version) in styles),
        key=lambda h: styles[(h.variant, h.variant_version)][0],
    )
    shown = {(h.variant, h.variant_version) for h in drawn}
    absent = [
        v.label
        for v in report.variants
        if v.figures.sessions and (v.variant, v.version) not in shown
    ]
    legend_top = TOP + PLOT_HEIGHT + 64
    svg = _Svg(
        legend_top + (max(len(drawn), 1) + bool(absent)) * LEGEND_ROW + 8,
        title,
        "Share of each variant's calls per bin (bins 26% wide); dashed: the variant's median.",
    )
    if not drawn:
        _no_data(svg, TOP + PLOT_HEIGHT / 2, "no data")
        return svg.render()
    per_decade = drawn[0].per_decade
    lo, hi = drawn[0].lo_bin / per_decade, drawn[0].hi_bin / per_decade
    # Whole 1-2-5 ticks at both ends, so the axis starts and ends on a labelled value.
    lo_axis = min(lo, math.log10(max(t for t in log_ticks(lo - 1, lo) if math.log10(t) <= lo)))
    hi_axis = max(hi, math.log10(min(t for t in log_ticks(hi, hi + 1) if math.log10(t) >= hi)))
    shares = [(h, {b: c / sum(h.counts.values()) for b, c in h.counts.items()}) for h in drawn]
    y_ticks = nice_ticks(max(max(s.values()) for _, s in shares) * 100)
    y_max = y_ticks[-1] / 100
    plot_w = WIDTH - LEFT - RIGHT
    bottom = TOP + PLOT_HEIGHT

    def x_of(log_value: float) -> float:
        return LEFT + (log_value - lo_axis) / (hi_axis - lo_axis) * plot_w

    def y_of(share: float) -> float:
        return bottom - share / y_max * PLOT_HEIGHT

    _y_axis(svg, [(y_of(t / 100), f"{tick_label(t, y_ticks)}%") for t in y_ticks], "share of calls")
    _x_axis(
        svg,
        [(x_of(math.log10(t)), units.sig(t)) for t in log_ticks(lo_axis, hi_axis)],
        bottom,
        axis,
    )
    entries = []
    for h, share in shares:
        index, variant = styles[(h.variant, h.variant_version)]
        st = style(index)
        d = [f"M{_f(x_of(h.lo_bin / per_decade))} {_f(bottom)}"]
        for b in range(h.hi_bin - h.lo_bin):
            y = y_of(share.get(b, 0.0))
            d.append(f"V{_f(y)}H{_f(x_of((h.lo_bin + b + 1) / per_decade))}")
        d.append(f"V{_f(bottom)}")
        dash = f' stroke-dasharray="{st.dash}"' if st.dash else ""
        svg.add(
            f'<path class="series" data-variant="{escape(variant.label)}" d="{"".join(d)}"'
            f' fill="none" stroke="{st.colour}" stroke-width="2"{dash}/>'
        )
        median = getattr(variant.figures, f"{metric.removesuffix('_ms')}_p50_ms")
        if median:
            x = x_of(math.log10(median))
            svg.add(
                f'<line class="median" x1="{_f(x)}" y1="{TOP}" x2="{_f(x)}" y2="{_f(bottom)}"'
                f' stroke="{st.colour}" stroke-width="1.5" stroke-dasharray="3 3"/>'
            )
        n = sum(h.counts.values())
        entries.append(
            (st, f"{variant.label}: median {units.number(median)} ms, {n:,} calls", True)
        )
    if absent:
        entries.append((NO_SAMPLE, f"nothing to draw for {', '.join(absent)}", False))
    _legend(svg, legend_top, entries)
    return svg.render()


def _pareto(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both cost (lower) and success (higher)."""
    return [
        i
        for i, (cost, rate) in enumerate(points)
        if not any(
            (c <= cost and r >= rate) and (c < cost or r > rate)
            for j, (c, r) in enumerate(points)
            if j != i
        )
    ]


def cost_vs_success(report: Report) -> str:
    """The Pareto view: cost per successful task against the success rate, both with the task
    card as the unit and their cluster-bootstrap intervals; the frontier joins the variants no
    other beats on both."""
    points = [
        (i, v)
        for i, v in enumerate(report.variants)
        if v.task_level.success_rate is not None and v.task_level.cost_per_success_usd is not None
    ]
    legend_top = TOP + PLOT_HEIGHT + 64
    counted = "verified" if report.self_reported_outcomes == "exclude" else "all counted"
    svg = _Svg(
        legend_top + max(len(points), 1) * LEGEND_ROW + 8,
        "Cost per successful task and success rate, by variant",
        "Up and left is better; dashed: the Pareto frontier. Bars: 95% intervals over task cards.",
    )
    if not points:
        _no_data(svg, TOP + PLOT_HEIGHT / 2, "no variant has a successful task yet")
        return svg.render()
    highs = [
        v.task_level.cost_per_success_interval.high
        if v.task_level.cost_per_success_interval
        else v.task_level.cost_per_success_usd or 0.0
        for _, v in points
    ]
    x_ticks = nice_ticks(max(highs) * 1.05)
    x_max = x_ticks[-1]
    plot_w = WIDTH - LEFT - RIGHT
    bottom = TOP + PLOT_HEIGHT

    def x_of(cost: float) -> float:
        return LEFT + min(cost, x_max) / x_max * plot_w

    def y_of(rate: float) -> float:
        return bottom - rate * PLOT_HEIGHT

    _y_axis(
        svg,
        [(y_of(t / 100), f"{t:.0f}%") for t in range(0, 101, 20)],
        f"success rate ({counted} outcomes)",
    )
    _x_axis(
        svg,
        [(x_of(t), f"${tick_label(t, x_ticks)}") for t in x_ticks],
        bottom,
        "cost per successful task (USD)",
    )
    xy = [
        (v.task_level.cost_per_success_usd or 0.0, v.task_level.success_rate or 0.0)
        for _, v in points
    ]
    frontier = sorted((xy[i] for i in _pareto(xy)), key=lambda p: p[0])
    if len(frontier) > 1:
        path = "".join(
            f"{'M' if n == 0 else 'L'}{_f(x_of(c))} {_f(y_of(r))}"
            for n, (c, r) in enumerate(frontier)
        )
        svg.add(f'<path class="frontier" d="{path}" stroke="#888888" stroke-dasharray="4 3"'
                ' stroke-width="1" fill="none"/>')  # fmt: skip
    entries = []
    for (index, v), (cost, rate) in zip(points, xy, strict=True):
        st = style(index)
        t = v.task_level
        x, y = x_of(cost), y_of(rate)
        svg.add(f'<g class="series" data-variant="{escape(v.label)}">')
        if t.success_interval:
            top, low = y_of(t.success_interval.high), y_of(t.success_interval.low)
            svg.add(
                f'<path d="M{_f(x)} {_f(top)}V{_f(low)}M{_f(x - 4)} {_f(top)}H{_f(x + 4)}'
                f'M{_f(x - 4)} {_f(low)}H{_f(x + 4)}" stroke="{st.colour}" stroke-width="1.5"'
                ' fill="none"/>'
            )
        if t.cost_per_success_interval:
            left, right = (
                x_of(t.cost_per_success_interval.low),
                x_of(t.cost_per_success_interval.high),
            )
            svg.add(
                f'<path d="M{_f(left)} {_f(y)}H{_f(right)}M{_f(left)} {_f(y - 4)}V{_f(y + 4)}'
                f'M{_f(right)} {_f(y - 4)}V{_f(y + 4)}" stroke="{st.colour}" stroke-width="1.5"'
                ' fill="none"/>'
            )
        svg.add(_marker(st.marker, x, y, st.colour))
        svg.add("</g>")
        ci = (
            f" ({units.percent_range(t.success_interval.low, t.success_interval.high)})"
            if t.success_interval
            else ""
        )
        entries.append(
            (
                st,
                f"{v.label}: {units.percent(rate)}{ci} over {t.tasks:,} task card(s),"
                f" {units.usd(cost)} per successful task",
                False,
            )
        )
    _legend(svg, legend_top, entries)
    return svg.render()


def throughput(report: Report) -> str:
    """Median output tokens per second, one bar per variant."""
    bars = [(i, v) for i, v in enumerate(report.variants) if v.figures.tokens_per_s_p50]
    left = max(LEFT, 16 + CHAR_WIDTH * max((len(v.label) for _, v in bars), default=0))
    row = 28
    bottom = TOP + max(len(bars), 1) * row + 8
    svg = _Svg(
        bottom + 48,
        "Output tokens per second, by variant",
        "Median over successful calls: completion tokens over the time spent generating them.",
    )
    if not bars:
        _no_data(svg, TOP + row, "no successful call reported its throughput")
        return svg.render()
    ticks = nice_ticks(max(v.figures.tokens_per_s_p50 or 0 for _, v in bars) * 1.15)
    plot_w = WIDTH - left - RIGHT

    def x_of(value: float) -> float:
        return left + value / ticks[-1] * plot_w

    svg.add('<g class="x-axis" fill="#333333" stroke="#333333">')
    svg.add(f'<line x1="{_f(left)}" y1="{_f(bottom)}" x2="{WIDTH - RIGHT}" y2="{_f(bottom)}"/>')
    for t in ticks:
        x = x_of(t)
        svg.add(f'<line x1="{_f(x)}" y1="{TOP}" x2="{_f(x)}" y2="{_f(bottom)}" stroke="#dddddd"/>')
        svg.add(_text(x, bottom + 18, tick_label(t, ticks), text_anchor="middle", stroke="none"))
    svg.add(
        _text(
            (left + WIDTH - RIGHT) / 2,
            bottom + 38,
            "output tokens per second (median call)",
            text_anchor="middle",
            stroke="none",
        )
    )
    svg.add("</g>")
    for slot, (index, v) in enumerate(bars):
        st = style(index)
        value = v.figures.tokens_per_s_p50 or 0.0
        y = TOP + 8 + slot * row
        svg.add(f'<g class="series" data-variant="{escape(v.label)}">')
        svg.add(
            f'<rect x="{_f(left)}" y="{_f(y)}" width="{_f(x_of(value) - left)}" height="18"'
            f' fill="{st.colour}"/>'
        )
        svg.add(_text(left - 8, y + 13, v.label, text_anchor="end", fill="#111111"))
        svg.add(_text(x_of(value) + 6, y + 13, units.sig(value), fill="#111111"))
        svg.add("</g>")
    return svg.render()


def render(report: Report, histograms: Sequence[Histogram]) -> tuple[list[Chart], dict[str, str]]:
    """The charts there is data for: their entries in the report, and path -> SVG text."""
    made: list[tuple[Chart, str]] = []
    metrics = {h.metric for h in histograms}
    if "latency_ms" in metrics:
        made.append(
            (
                Chart(name="latency", path="charts/latency.svg", title="Latency per call"),
                distribution(
                    "latency_ms",
                    "Latency per call, by variant",
                    "latency of successful calls (ms, log scale)",
                    report,
                    histograms,
                ),
            )
        )
    if "ttft_ms" in metrics:
        made.append(
            (
                Chart(name="ttft", path="charts/ttft.svg", title="Time to first token"),
                distribution(
                    "ttft_ms",
                    "Time to first token, by variant",
                    "time to first token, measured calls only (ms, log scale)",
                    report,
                    histograms,
                ),
            )
        )
    if any(v.figures.success_rate is not None for v in report.variants):
        made.append(
            (
                Chart(
                    name="cost-vs-success",
                    path="charts/cost-vs-success.svg",
                    title="Cost per successful task and success rate",
                ),
                cost_vs_success(report),
            )
        )
    if any(v.figures.tokens_per_s_p50 for v in report.variants):
        made.append(
            (
                Chart(name="tokens-per-s", path="charts/tokens-per-s.svg", title="Output tokens/s"),
                throughput(report),
            )
        )
    return [c for c, _ in made], {c.path: svg for c, svg in made}
