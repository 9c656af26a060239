"""Moments of every order of linearized SGD, in numbers (``docs/theory.md``, section 8).

The numeric twins of :mod:`theory.higher`, with numpy and scipy only (``sim`` never
imports ``theory``; a test ties each twin to its symbolic original to 1e-10):

- :func:`batch_law`: the law of the batch weights of a sampling, by enumeration;
- :func:`moment_function_1d`: ``E|1 - eta h_xi|^q`` in 1-D, whose logarithm is the
  moment Lyapunov function ``Lambda(q)``;
- :func:`moment_threshold`: the ``q``-th moment threshold ``eta_q`` (``Lambda(q)``
  turns positive) and :func:`almost_sure_threshold` (``E log|1 - eta h_xi|`` turns
  positive), by a grid scan for the first crossing and Brent's method in its cell;
- :func:`fourth_moment_operator`: ``E[A (x) A (x) A (x) A]`` with ``A = I - eta H_xi``,
  whose spectral radius is ``exp Lambda(4)``.
"""

from __future__ import annotations

import itertools
from math import comb, factorial, prod

import numpy as np
from scipy.optimize import brentq

from sim._validate import check_int, check_memory, check_positive, check_real, real_array
from sim.ensembles import Ensemble, check_ensemble
from sim.sampling import as_sampling

GRID = 4000
"""Points of the scan for the first crossing of a threshold (as in :mod:`theory.higher`)."""
FOURTH_MAX_D = 4
"""Largest dimension of :func:`fourth_moment_operator` (``d^4 x d^4`` entries)."""
EXPAND = 20
"""Times the default upper end ``4 / max h`` of a threshold search is quadrupled when
no crossing lies below it (a batch mean can be far below ``max h``; the crossing exists
since ``h`` has a positive entry)."""


def batch_count(n: int, smp) -> int:
    """Number of batches :func:`batch_law` enumerates: ``C(n, B)`` without replacement,
    ``C(n + B - 1, B)`` with, ``n + 1`` for the mixture."""
    if smp.scheme == "mixture":
        return n + 1
    if smp.scheme == "without":
        return comb(n, smp.B)
    return comb(n + smp.B - 1, smp.B)


def batch_law(n: int, sampling, *, memory_budget=None) -> tuple[np.ndarray, np.ndarray]:
    """The law of the batch weights ``w`` (``H_xi = sum_i w_i H_i``) of ``sampling``.

    - ``"without"``: each of the ``C(n, B)`` subsets, probability ``1/C(n, B)``;
    - ``"with"``: each multiset of ``B`` draws, probability its multinomial count
      ``/ n^B``;
    - ``"mixture"``: ``e_i`` with probability ``p/n``, ``1/n`` everywhere with ``1 - p``.

    Parameters
    ----------
    n : int
        Number of samples.
    sampling : Sampling or int
        A Markov scheme (not ``"reshuffle"``); an integer is ``Sampling(B)``.
    memory_budget : float, optional
        Bytes the law may take (``m (n + 2)`` float64 values, ``m`` from
        :func:`batch_count`); default half of physical memory
        (:data:`sim._validate.MEMORY_FRACTION`). A larger estimate is refused with a
        ``ValueError`` naming ``n, sampling`` before anything is enumerated.

    Returns
    -------
    probs : ndarray (m,)
        Probability of each batch; they sum to 1.
    weights : ndarray (m, n)
        Its weights; each row sums to 1.

    Notes
    -----
    ``m = C(n, B)`` without replacement, ``C(n + B - 1, B)`` with, ``n + 1`` for the
    mixture; the weights cost ``O(m n)``.
    """
    n = check_int(n, "n")
    smp = as_sampling(sampling).check(n)
    if not smp.markov:
        raise ValueError("sampling must be a Markov scheme (without, with, mixture), got "
                         f"{smp.scheme!r}")
    m = batch_count(n, smp)
    check_memory(8.0 * m * (n + 2), "n, sampling", memory_budget,
                 f"the law of {m} batches of {smp.B} of {n} samples ({smp.scheme!r})")
    if smp.scheme == "mixture":
        weights = np.vstack([np.eye(n), np.full((1, n), 1.0 / n)])
        return np.append(np.full(n, smp.p / n), 1.0 - smp.p), weights
    B = smp.B
    if smp.scheme == "without":
        subsets = list(itertools.combinations(range(n), B))
        weights = np.zeros((len(subsets), n))
        for k, subset in enumerate(subsets):
            weights[k, list(subset)] = 1.0 / B
        return np.full(len(subsets), 1.0 / len(subsets)), weights
    counts = np.array([np.bincount(draw, minlength=n)
                       for draw in itertools.combinations_with_replacement(range(n), B)])
    ways = [factorial(B) // prod(factorial(int(c)) for c in row) for row in counts]
    return np.array([w / n**B for w in ways]), counts / B


def _curvatures(h) -> np.ndarray:
    h = real_array(h, "h", ndim=1)
    if np.any(h < 0):
        raise ValueError(f"h must be non-negative (curvatures of a minimum), got {h}")
    return h


def _batch_curvatures(h, sampling, budget=None) -> tuple[np.ndarray, np.ndarray]:
    """``(probs, h_xi)``: each batch's probability and curvature ``sum_i w_i h_i``."""
    h = _curvatures(h)
    probs, weights = batch_law(h.size, sampling, memory_budget=budget)
    return probs, weights @ h


def moment_function_1d(h, eta, sampling, q: float, *, memory_budget=None):
    """``E|1 - eta h_xi|^q`` for 1-D curvatures ``h``.

    Parameters
    ----------
    h : array_like (n,)
        Per-sample curvatures ``h_i >= 0``.
    eta : float or array_like
        Learning rates ``> 0``.
    sampling : Sampling or int
    q : float
        Moment order ``>= 0``.
    memory_budget : float, optional
        For the batch law (:func:`batch_law`) and the ``(eta.size, m)`` table of
        ``|1 - eta h_xi|^q``; default half of physical memory.

    Returns
    -------
    float or ndarray
        Of the shape of ``eta``.
    """
    q = check_real(q, "q")
    if q < 0:
        raise ValueError(f"q must be >= 0, got {q}")
    eta = real_array(np.atleast_1d(eta), "eta").reshape(np.shape(eta))
    if np.any(eta <= 0):
        raise ValueError(f"eta must be positive, got {eta}")
    probs, hb = _batch_curvatures(h, sampling, memory_budget)
    check_memory(8.0 * 2 * eta.size * hb.size, "eta", memory_budget,
                 f"the ({eta.size}, {hb.size}) table of |1 - eta h_xi|^q")
    out = np.abs(1.0 - np.multiply.outer(eta, hb)) ** q @ probs
    return out[()] if out.ndim == 0 else out


def _first_crossing(f, lo: float, hi: float, given: bool) -> float:
    """The smallest root of ``f`` in ``(lo, hi)`` where it turns from ``<= 0`` to ``> 0``:
    the first such cell of a :data:`GRID`-point scan, then Brent's method in it. Without
    a crossing, a default ``hi`` is quadrupled up to :data:`EXPAND` times (each new scan
    covers ``[hi, 4 hi]``); a ``hi`` the caller gave is a ``ValueError`` naming it."""
    for _ in range(1 if given else EXPAND + 1):
        xs = np.linspace(lo, hi, GRID)
        vals = f(xs)
        idx = np.flatnonzero((vals[:-1] <= 0) & (vals[1:] > 0))
        if idx.size or vals[-1] > 0 or not np.isfinite(4.0 * hi):
            break
        lo, hi = hi, 4.0 * hi
    if not idx.size:
        if given:
            raise ValueError(f"hi: no crossing in ({lo:g}, {hi:g}]; the threshold is above "
                             f"hi = {hi:g} (pass a larger hi, or none)")
        raise ValueError(f"h: no crossing below eta = {hi:g} (the moment function does "
                         "not exceed 1 there)")
    a, b = xs[idx[0]], xs[idx[0] + 1]
    if vals[idx[0]] == 0:
        return float(a)
    return float(brentq(lambda x: float(f(np.array([x]))[0]), a, b, xtol=1e-15))


def _bracket(h: np.ndarray, hi) -> float:
    if h.max() == 0:
        raise ValueError("h must have a positive entry (else every eta is stable)")
    if hi is not None:
        return check_positive(hi, "hi")
    with np.errstate(over="ignore"):
        top = 4.0 / h.max()
    if not np.isfinite(top):
        raise ValueError(f"h: max h = {h.max():.3g} is too small for a threshold in the "
                         "float64 range")
    return float(top)


def moment_threshold(h, sampling, q: float, hi: float | None = None, *,
                     memory_budget=None) -> float:
    """``eta_q``: the smallest ``eta > 0`` where ``E|1 - eta h_xi|^q`` exceeds 1
    (``Lambda(q)`` turns positive).

    Parameters
    ----------
    h : array_like (n,)
        Per-sample curvatures ``h_i >= 0``, at least one positive.
    sampling : Sampling or int
    q : float
        Moment order ``> 0``.
    hi : float, optional
        Upper end of the search; default ``4 / max h``, quadrupled (up to
        :data:`EXPAND` times) until a crossing lies below it. A given ``hi`` with no
        crossing below it is a ``ValueError`` naming ``hi``.
    memory_budget : float, optional
        For the batch law and the scan's ``(GRID, m)`` table; default half of physical
        memory, refused before allocating above it.

    Notes
    -----
    :data:`GRID` evaluations of :func:`moment_function_1d`, each ``O(m)`` for ``m``
    batches (:func:`batch_law`), then Brent's method to machine precision.
    """
    q = check_positive(q, "q")
    probs, hb = _batch_curvatures(h, sampling, memory_budget)
    check_memory(8.0 * 3 * GRID * hb.size, "n, sampling", memory_budget,
                 f"the ({GRID}, {hb.size}) scan")
    top = _bracket(_curvatures(h), hi)
    return _first_crossing(lambda x: np.abs(1.0 - np.multiply.outer(x, hb)) ** q @ probs - 1.0,
                           1e-9 * min(1.0, top), top, hi is not None)


def almost_sure_threshold(h, sampling, hi: float | None = None, *,
                          memory_budget=None) -> float:
    """``eta_as``: the smallest ``eta > 0`` where ``E log|1 - eta h_xi|`` turns positive
    (the Lyapunov exponent of 1-D linearized SGD; ``docs/theory.md``, section 8).

    Parameters
    ----------
    h : array_like (n,)
        Per-sample curvatures ``h_i >= 0``, at least one positive.
    sampling : Sampling or int
    hi : float, optional
        As in :func:`moment_threshold`.
    memory_budget : float, optional
        For the batch law and the scan's ``(GRID, m)`` table; default half of physical
        memory, refused before allocating above it.

    Notes
    -----
    As :func:`moment_threshold`. Exact in 1-D, unlike the Monte Carlo bracket of
    :func:`sim.montecarlo.almost_sure_threshold` for any ``d``.
    """
    probs, hb = _batch_curvatures(h, sampling, memory_budget)
    check_memory(8.0 * 3 * GRID * hb.size, "n, sampling", memory_budget,
                 f"the ({GRID}, {hb.size}) scan")
    top = _bracket(_curvatures(h), hi)

    def exponent(x):
        with np.errstate(divide="ignore"):
            return np.log(np.abs(1.0 - np.multiply.outer(x, hb))) @ probs

    return _first_crossing(exponent, 1e-9 * min(1.0, top), top, hi is not None)


def fourth_moment_operator(ens: Ensemble, eta: float, sampling, *,
                           memory_budget=None) -> np.ndarray:
    """``E[A (x) A (x) A (x) A]`` with ``A = I - eta H_xi``: ``E||x_t||^4`` grows like
    its powers, and its spectral radius is ``exp Lambda(4)``.

    Parameters
    ----------
    ens : Ensemble
        ``d <= FOURTH_MAX_D``.
    eta : float
    sampling : Sampling or int
    memory_budget : float, optional
        For the batch law (:func:`batch_law`); default half of physical memory.

    Returns
    -------
    ndarray (d^4, d^4)

    Notes
    -----
    ``O(m d^8)`` for ``m`` batches (:func:`batch_law`).
    """
    check_ensemble(ens)
    eta = check_positive(eta, "eta")
    d = ens.d
    if d > FOURTH_MAX_D:
        raise ValueError(f"ens.d must be <= {FOURTH_MAX_D} (the operator is d^4 x d^4), "
                         f"got {d}")
    Hs = ens.dense
    out = np.zeros((d**4, d**4))
    for prob, w in zip(*batch_law(ens.n, sampling, memory_budget=memory_budget), strict=True):
        A = np.eye(d) - eta * np.einsum("i,ijk->jk", w, Hs)
        AA = np.kron(A, A)
        out += prob * np.kron(AA, AA)
    return out


__all__ = ["batch_law", "batch_count", "moment_function_1d", "moment_threshold",
           "almost_sure_threshold", "fourth_moment_operator", "GRID", "FOURTH_MAX_D", "EXPAND"]
