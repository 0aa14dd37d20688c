"""Small descriptive statistics helpers."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["mean", "median"]


def mean(values: Iterable[float]) -> float:
    """Return the arithmetic mean of *values*.

    Raises ValueError when *values* is empty.
    """
    data = list(values)
    if not data:
        raise ValueError("mean() of an empty sequence")
    return sum(data) / len(data)


def median(values: Iterable[float]) -> float:
    """Return the median (middle value) of *values*.

    The input does not need to be sorted. For an even number of values the median is
    the mean of the two middle values. Raises ValueError when *values* is empty.
    """
    data = sorted(values)
    n = len(data)
    return data[n // 2]
