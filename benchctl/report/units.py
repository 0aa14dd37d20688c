"""Numbers as a report shows them: no more digits than the measurement supports.

Milliseconds, tokens/s and counts of seconds get three significant figures (a latency known to
1 ms in 1,234 is not known to 0.1 ms); dollars get cents above $1 and three significant figures
below; shares are whole percent; differences a sign.
"""

from __future__ import annotations

import math

DASH = "\u2013"  # en dash: no figure
RANGE = "\u2013"  # en dash between the bounds of an interval


def sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, grouped thousands, never scientific."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    decimals = digits - 1 - exponent
    rounded = round(value, decimals)
    # Rounding up can gain a digit (999.7 -> 1000): keep the significance, not the decimals.
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > exponent:
        decimals -= 1
    return f"{rounded:,.{max(decimals, 0)}f}"


def number(value: float | None, digits: int = 3) -> str:
    return DASH if value is None else sig(value, digits)


def usd(value: float | None) -> str:
    if value is None:
        return DASH
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return "$" + sig(value)


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.0f}%"


def percent_range(low: float, high: float) -> str:
    return f"{percent(low)}{RANGE}{percent(high)}"


def relative(value: float) -> str:
    """A relative difference: ``+30%``, ``-4.2%``."""
    pct = value * 100
    return f"{pct:+.1f}%" if abs(pct) < 9.95 else f"{pct:+.0f}%"


def points(value: float) -> str:
    """A difference of proportions, in percentage points."""
    return f"{value * 100:+.1f} pts"


def count(value: int) -> str:
    return f"{value:,}"
