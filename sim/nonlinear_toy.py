"""The nonlinear 1-D toy of ``docs/theory.md``, section 5 (Wu, Ma & E's poster).

``f = (f_1 + f_2)/2`` with ``f_i(x) = min(x^2, c_i (x - 1)^2)``, ``c = (0.1, 1.9)``.
Both ``x = 0`` (curvatures ``2, 2``: ``a = 2, s = 0``) and ``x = 1`` (curvatures
``0.2, 3.8``: ``a = 2, s = 1.8``) are global minima of equal sharpness; GD keeps
either for ``eta <= 1``, SGD with ``B = 1`` leaves ``x = 1`` above ``eta ~ 0.55``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from sim._kernels import rng_below
from sim._streams import path_states
from sim._validate import check_bool, check_int, check_positive, check_real

C = np.array([0.1, 1.9])
"""Curvature factors ``c_i`` of the branches around ``x = 1``."""
C1, C2 = float(C[0]), float(C[1])


def loss_terms(x):
    """``(f_1(x), f_2(x))`` as an array of shape ``(2,) + x.shape``."""
    x = np.asarray(x, dtype=float)
    return np.minimum(x**2, C.reshape((2,) + (1,) * x.ndim) * (x - 1.0) ** 2)


@njit(cache=True)
def grad_term(x, c):
    """Gradient of ``min(x^2, c (x - 1)^2)`` (the branch that attains the min)."""
    if x * x <= c * (x - 1.0) ** 2:
        return 2.0 * x
    return 2.0 * c * (x - 1.0)


def basin_of_one() -> tuple[float, float]:
    """Interval around ``x = 1`` where both ``f_i`` are on their ``c_i (x - 1)^2``
    branch, i.e. where SGD at ``x = 1`` is exactly linear:
    ``x / |x - 1| >= sqrt(c_i)`` for both ``i``."""
    r = np.sqrt(C)
    lo = np.max(r / (1 + r))           # x/(1-x) = sqrt(c) below 1
    hi = np.min(np.where(r > 1, r / (r - 1), np.inf))  # x/(x-1) = sqrt(c) above 1
    return float(lo), float(hi)


@njit(cache=True)
def _step_gradient(x, states, p, B, replace):
    """Batch gradient at ``x``: ``B = 2`` without replacement is the full gradient."""
    if B == 2 and not replace:
        return 0.5 * (grad_term(x, C1) + grad_term(x, C2))
    g = 0.0
    for _ in range(B):
        i = rng_below(states, p, 2)
        g += grad_term(x, C1 if i == 0 else C2)
    return g / B


@njit(parallel=True, cache=True)
def _runs(x0, eta, B, replace, steps, lo, hi, states, escape_at, final_x, keep, paths_out):
    P = escape_at.shape[0]
    for p in prange(P):
        x = x0
        esc = -1
        for t in range(1, steps + 1):
            x -= eta * _step_gradient(x, states, p, B, replace)
            if esc < 0 and (x < lo or x > hi):
                esc = t
            if p < keep:
                paths_out[p, t] = x
            if abs(x) > 1e150:  # diverged: record and stop this run
                x = np.inf
                if p < keep:
                    for u in range(t + 1, steps + 1):
                        paths_out[p, u] = np.inf
                break
        escape_at[p] = esc
        final_x[p] = x


@dataclass(frozen=True, eq=False)
class ToyRuns:
    """Outcome of many runs of the toy from ``x0`` at one learning rate.

    Attributes
    ----------
    escape_at : ndarray (runs,) int
        First step at which the iterate left :func:`basin_of_one` (-1: never).
    final_x : ndarray (runs,)
        Iterate after ``steps`` steps (``inf`` if it diverged).
    paths : ndarray (keep, steps + 1)
        The first ``keep`` trajectories.
    """

    eta: float
    B: int
    replace: bool
    steps: int
    x0: float
    escape_at: np.ndarray
    final_x: np.ndarray
    paths: np.ndarray

    @property
    def escape_probability(self) -> float:
        return float(np.mean(self.escape_at > 0))

    def final_fractions(self, tol: float = 0.05) -> dict:
        """Fractions ending within ``tol`` of 0, of 1, diverged, or elsewhere."""
        tol = check_positive(tol, "tol")
        at0 = np.abs(self.final_x) < tol
        at1 = np.abs(self.final_x - 1) < tol
        div = ~np.isfinite(self.final_x)
        return {"0": float(at0.mean()), "1": float(at1.mean()), "diverged": float(div.mean()),
                "other": float(1 - at0.mean() - at1.mean() - div.mean())}


def simulate_toy(eta: float, runs: int, steps: int, seed: int, *, B: int = 1,
                 replace: bool = False, x0: float = 1 - 1e-5, keep: int = 0) -> ToyRuns:
    """Run GD (``B = 2``, ``replace=False``) or SGD on the toy from ``x0``.

    Parameters
    ----------
    eta : float
    runs, steps, seed : int
    B : {1, 2}
        Batch size (``n = 2``); ``B = 1`` is the same with or without replacement.
    replace : bool
        Sample the batch with replacement (``B = 2`` then has ``gamma = 1/2``).
    x0 : float
        Start; default ``1 - 1e-5``.
    keep : int
        Number of trajectories to keep.
    """
    eta = check_positive(eta, "eta")
    runs, steps = check_int(runs, "runs"), check_int(steps, "steps")
    B = check_int(B, "B", 1, 2)
    replace = check_bool(replace, "replace")
    keep = check_int(keep, "keep", 0, runs)
    x0 = check_real(x0, "x0")
    lo, hi = basin_of_one()
    escape_at = np.empty(runs, dtype=np.int64)
    final_x = np.empty(runs)
    paths = np.empty((keep, steps + 1))
    paths[:, 0] = x0
    _runs(float(x0), eta, B, replace, steps, lo, hi, path_states(seed, runs), escape_at,
          final_x, keep, paths)
    return ToyRuns(eta, B, replace, steps, float(x0), escape_at, final_x, paths)


def batch_curvatures(B: int = 1, replace: bool = False):
    """Curvatures ``h_xi`` of the possible batches at ``x = 1`` and their
    probabilities (``h_i = 2 c_i``); ``B`` in ``{1, 2}``, ``replace`` a bool."""
    B = check_int(B, "B", 1, 2)
    replace = check_bool(replace, "replace")
    h = 2 * C
    if B == 1:
        return h, np.array([0.5, 0.5])
    if not replace:
        return np.array([h.mean()]), np.array([1.0])
    return np.array([h[0], h[1], h.mean()]), np.array([0.25, 0.25, 0.5])


def _etas(eta) -> np.ndarray:
    """Learning rates: a finite real number or array (not bool, str, complex or None)."""
    try:
        raw = np.asarray(eta)
    except ValueError:  # ragged
        raw = np.asarray(None)
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"eta must be a real number or array, got {eta!r}")
    arr = raw.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"eta must be finite, got {eta!r}")
    return arr


def lyapunov_at_one(eta, B: int = 1, replace: bool = False):
    """Exact Lyapunov exponent ``E log|1 - eta h_xi|`` of SGD linearised at ``x = 1``."""
    eta = _etas(eta)
    h, probs = batch_curvatures(B, replace)
    with np.errstate(divide="ignore"):
        return sum(p * np.log(np.abs(1 - eta * hb)) for p, hb in zip(probs, h, strict=True))


def mean_square_multiplier(eta, B: int = 1, replace: bool = False):
    """``E (1 - eta h_xi)^2``: the second moment's growth factor at ``x = 1``."""
    eta = _etas(eta)
    h, probs = batch_curvatures(B, replace)
    return sum(p * (1 - eta * hb) ** 2 for p, hb in zip(probs, h, strict=True))


@dataclass(frozen=True)
class ToyReference:
    """The toy's reference numbers, each computed from its formula (the one place
    they are defined; tests and reports read them from :func:`reference`).

    Attributes
    ----------
    a, s : float
        Sharpness and non-uniformity of ``x = 1``: mean and population std of
        ``h_i = 2 c_i``.
    eta_gd : float
        ``2 / a``: GD keeps both minima up to it.
    eta_mean_square : float
        SGD, ``B = 1``: ``E(1 - eta h)^2 = 1`` at ``eta = 2 E h / E h^2``.
    eta_almost_sure : float
        SGD, ``B = 1``: ``E log|1 - eta h| = 0``, i.e. ``(1 - eta h_1)(eta h_2 - 1) = 1``,
        the smaller root of ``h_1 h_2 eta^2 - (h_1 + h_2) eta + 2 = 0``.
    eta_escape_min : float
        ``1 / max h_i``: below it every multiplier ``1 - eta h_i`` is in ``[0, 1]``.
    mean_square_07, lyapunov_07 : float
        ``E(1 - 0.7 h)^2`` and ``E log|1 - 0.7 h|``.
    basin : (float, float)
        :func:`basin_of_one`, where the dynamics around ``x = 1`` is exactly linear.
    kinks : tuple of float
        The four points where some ``f_i`` switches branch, ``x^2 = c_i (x - 1)^2``:
        ``x = r/(r - 1)`` and ``x = r/(r + 1)`` for ``r = sqrt(c_i)``, sorted.
    """

    a: float
    s: float
    eta_gd: float
    eta_mean_square: float
    eta_almost_sure: float
    eta_escape_min: float
    mean_square_07: float
    lyapunov_07: float
    basin: tuple
    kinks: tuple


def reference() -> ToyReference:
    """The toy's reference numbers from their formulas (see :class:`ToyReference`)."""
    h1, h2 = 2.0 * C
    a, s = (h1 + h2) / 2, abs(h2 - h1) / 2
    eta_as = ((h1 + h2) - np.sqrt((h1 + h2) ** 2 - 8 * h1 * h2)) / (2 * h1 * h2)
    return ToyReference(a=a, s=s, eta_gd=2 / a, eta_mean_square=2 * a / (a**2 + s**2),
                        eta_almost_sure=float(eta_as), eta_escape_min=1 / max(h1, h2),
                        mean_square_07=float(mean_square_multiplier(0.7)),
                        lyapunov_07=float(lyapunov_at_one(0.7)), basin=basin_of_one(),
                        kinks=tuple(sorted(float(x) for r in np.sqrt(C)
                                           for x in (r / (r - 1), r / (r + 1)))))


__all__ = ["C", "ToyReference", "reference", "loss_terms", "grad_term", "basin_of_one",
           "simulate_toy", "ToyRuns", "lyapunov_at_one", "mean_square_multiplier",
           "batch_curvatures"]
