"""Table cells and intervals of the study summaries: a cell never shows ``nan`` or
``inf``, it says what happened (``missing``), and every mean over runs comes with its
spread or its 95% interval.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def num(value, spec: str = ".3g", missing: str = "-") -> str:
    """``format(value, spec)``, or ``missing`` where ``value`` is None, NaN or infinite."""
    if value is None or not np.isfinite(value):
        return missing
    return format(value, spec)


def mean_sd(values, spec: str = ".3g", missing: str = "-") -> str:
    """``"m +- sd"`` of the finite ``values`` (sample standard deviation; ``"m"`` alone for
    one value), or ``missing`` where there is none."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not v.size:
        return missing
    if v.size == 1:
        return format(v[0], spec)
    return f"{format(v.mean(), spec)} +- {format(v.std(ddof=1), '.2g')}"


def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the Student-t ``level`` interval of the mean of the finite
    ``values`` (``n - 1`` degrees of freedom); ``(mean, nan, nan)`` for one value, all NaN
    for none."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not v.size:
        return math.nan, math.nan, math.nan
    m = float(v.mean())
    if v.size == 1:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, m - half, m + half


def mean_ci(values, spec: str = ".3g", missing: str = "-") -> str:
    """``"m [lo, hi]"`` (:func:`t_interval`), ``"m"`` for one value, ``missing`` for none."""
    return ci_cell(t_interval(values), spec, missing)


def ci_cell(interval, spec: str = ".3g", missing: str = "-") -> str:
    """``"m [lo, hi]"`` of a ``(mean, lo, hi)`` triple (:func:`t_interval`)."""
    m, lo, hi = interval
    if not np.isfinite(m):
        return missing
    if not np.isfinite(lo):
        return format(m, spec)
    return f"{format(m, spec)} [{format(lo, spec)}, {format(hi, spec)}]"


def share(k: int, n: int, lo: float, hi: float) -> str:
    """``"k/n = p [lo, hi]"`` for a count with its (Wilson) interval; ``"no runs"`` for n = 0."""
    if n == 0:
        return "no runs"
    return f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]"


__all__ = ["num", "mean_sd", "t_interval", "mean_ci", "ci_cell", "share"]
