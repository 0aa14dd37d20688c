"""One session's calls on a time line, as an SVG drawn like the report's charts.

A row per call in the order they started: the bar spans the call from start to end, its darker
head the wait for the first token (when measured), its colour the status class. Every bar has a
tooltip; the chart's description says in words what it shows, and the page lists the same
calls in a table for whoever cannot see it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from html import escape

from benchctl.browse.models import RequestRow
from benchctl.report import units
from benchctl.report.charts import (
    LEFT,
    RIGHT,
    WIDTH,
    _f,
    _Svg,
    _text,
    _x_axis,
    nice_ticks,
    tick_label,
)

# Okabe and Ito, as the report's charts; failures in the warm colours.
CLASS_COLOURS = {
    "success": "#0072B2",
    "upstream_error": "#D55E00",
    "refused": "#E69F00",
    "cancelled": "#666666",
}
CLASS_NAMES = {
    "success": "success",
    "upstream_error": "upstream error",
    "refused": "refused by the proxy",
    "cancelled": "cancelled by the client",
}
TOP = 84
PLOT_HEIGHT = 280
MAX_ROW = 14.0
MIN_ROW = 1.0


def _seconds(at: datetime, origin: datetime) -> float:
    return (at - origin).total_seconds()


def _end(call: RequestRow) -> datetime:
    if call.ended_at is not None:
        return call.ended_at
    return call.started_at


def _tooltip(index: int, call: RequestRow) -> str:
    parts = [
        f"call {index + 1}: {call.routed_model or call.requested_model or 'unknown model'}",
        CLASS_NAMES[call.status_class],
    ]
    if call.latency_ms is not None:
        parts.append(f"{units.number(call.latency_ms)} ms")
    if call.ttft_ms is not None and call.ttft_quality == "measured":
        parts.append(f"TTFT {units.number(call.ttft_ms)} ms")
    parts.append(f"{call.prompt_tokens:,} in / {call.completion_tokens:,} out tokens")
    if call.cost_usd is not None:
        parts.append(units.usd(call.cost_usd))
    return ", ".join(parts)


def render(calls: Sequence[RequestRow]) -> str:
    """The SVG of ``calls`` (in start order); a short chart saying so when there are none."""
    title = "Calls over the session"
    if not calls:
        svg = _Svg(64, title, "No call of this session was collected.")
        return svg.render()
    origin = calls[0].started_at
    span = max(_seconds(_end(c), origin) for c in calls) or 1.0
    ticks = nice_ticks(span)
    scale = (WIDTH - LEFT - RIGHT) / ticks[-1]
    row = max(MIN_ROW, min(MAX_ROW, PLOT_HEIGHT / len(calls)))
    bar = max(MIN_ROW, row * 0.7)
    plot_bottom = TOP + row * len(calls)
    classes = Counter(c.status_class for c in calls)
    summary = ", ".join(f"{n:,} {CLASS_NAMES[k]}" for k, n in sorted(classes.items()))
    subtitle = (
        f"{len(calls):,} calls over {units.number(span)} s ({summary}); darker head: time to"
        " first token."
    )
    svg = _Svg(plot_bottom + 70, title, subtitle)
    svg.add('<g class="legend">')
    x = float(LEFT)
    for status_class, colour in CLASS_COLOURS.items():
        if status_class not in classes:
            continue
        svg.add(f'<rect x="{_f(x)}" y="58" width="12" height="12" fill="{colour}"/>')
        name = CLASS_NAMES[status_class]
        svg.add(_text(x + 16, 68, name, fill="#333333"))
        x += 16 + 6.6 * len(name) + 18
    svg.add("</g>")
    svg.add('<g class="calls">')
    for index, call in enumerate(calls):
        start = LEFT + _seconds(call.started_at, origin) * scale
        width = max(1.5, _seconds(_end(call), call.started_at) * scale)
        y = TOP + index * row + (row - bar) / 2
        colour = CLASS_COLOURS[call.status_class]
        svg.add(
            f'<g class="call"><title>{escape(_tooltip(index, call))}</title>'
            f'<rect x="{_f(start)}" y="{_f(y)}" width="{_f(width)}" height="{_f(bar)}"'
            f' fill="{colour}" fill-opacity="0.55"/>'
        )
        if call.ttft_ms is not None and call.ttft_quality == "measured":
            head = min(width, call.ttft_ms / 1000 * scale)
            svg.add(
                f'<rect x="{_f(start)}" y="{_f(y)}" width="{_f(max(1.0, head))}"'
                f' height="{_f(bar)}" fill="{colour}"/>'
            )
        svg.add("</g>")
    svg.add("</g>")
    _x_axis(
        svg,
        [(LEFT + t * scale, tick_label(t, ticks)) for t in ticks],
        plot_bottom + 6,
        "seconds since the session's first call",
    )
    return svg.render()
