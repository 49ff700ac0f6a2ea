"""Order statistics for the views' summaries: median and percentiles, computed in Python.

SQLite has no percentile function and PostgreSQL's ``percentile_cont`` is not portable, so a
summary fetches the values it needs (a column of minutes, say) and folds them here; every view
uses these two functions so that "median" and "p90" mean the same thing in every answer.

Method: linear interpolation between closest ranks (numpy's default ``linear``, Excel's
``PERCENTILE.INC``, Hyndman & Fan type 7). For sorted values ``x[0..n-1]`` and ``q`` in 0..100,
the rank is ``h = (n - 1) * q / 100`` and the answer ``x[floor(h)] + (h - floor(h)) *
(x[floor(h) + 1] - x[floor(h)])``. So the median of an even count is the mean of the two middle
values, ``percentile(v, 0)`` is the minimum and ``percentile(v, 100)`` the maximum, and the answer
may lie between two observed values. No values: ``None``. ``method="nearest"`` gives the
nearest-rank percentile instead (always an observed value: the smallest ``x`` with at least
``q`` percent of the values at or below it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float, *, method: str = "linear") -> float | None:
    """The ``q``-th percentile (0 <= q <= 100) of the values; None when there are none."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, not {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    n = len(ordered)
    if method == "nearest":
        rank = max(1, math.ceil(q / 100 * n))  # 1-based
        return ordered[rank - 1]
    if method != "linear":
        raise ValueError(f"method must be linear or nearest, not {method!r}")
    h = (n - 1) * q / 100
    low = math.floor(h)
    if low + 1 >= n:
        return ordered[-1]
    return ordered[low] + (h - low) * (ordered[low + 1] - ordered[low])


def median(values: Iterable[float]) -> float | None:
    """The middle value (the mean of the two middle ones for an even count); None when there are none."""
    return percentile(values, 50)
