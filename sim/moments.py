"""Exact second moments of linearized SGD, matrix-free.

With ``A = I - eta H`` and ``S(M) = (1/n) sum_i H_i M H_i``,

    T(M) = M - eta (H M + M H) + eta^2 ((1 - gamma) H M H + gamma S(M)),

the map ``M_t -> M_{t+1}`` of ``M_t = E[x_t x_t^T]`` (``docs/theory.md``, section 3),
evaluated as ``A M A + eta^2 gamma (1/n) sum_i (H_i - H) M (H_i - H)``: a sum of PSD
terms, so a small ``T(M)`` is not lost to cancellation. It is applied to ``d x d``
matrices; the ``d^2 x d^2`` matrix is never formed.

Scale: every function works on ``ens.unit`` with ``eta * ens.scale`` (the same map),
and factors ``kappa^2 = max(1, eta a)^2`` out of ``T``, so no intermediate overflows.
"""

from __future__ import annotations

import numpy as np

from sim._validate import check_int, check_positive, check_square
from sim.ensembles import Ensemble, check_ensemble
from sim.sampling import Sampling, as_sampling, batch_factor


def markov_gamma(ens: Ensemble, sampling) -> tuple[Sampling, float]:
    """Validated ``(Sampling, gamma)`` for the exact engine (rejects reshuffling)."""
    check_ensemble(ens)
    sampling = as_sampling(sampling)
    return sampling, sampling.gamma(ens.n)


def sandwich_average(ens: Ensemble, M: np.ndarray) -> np.ndarray:
    """``S(M) = (1/n) sum_i H_i M H_i``.

    Notes
    -----
    Dense: ``O(n d^3)``. Factors: ``G_i (G_i^T M G_i) G_i^T`` in ``O(n d^2 r)``.
    """
    if ens.G is None:
        HM = np.matmul(ens.Hs, M)  # (n, d, d)
        return np.einsum("ijk,ikl->jl", HM, ens.Hs) / ens.n
    n, d, r = ens.G.shape
    Gf = ens.stacked  # (d, n r), columns grouped by sample
    G3 = Gf.reshape(d, n, r)
    MG = (M @ Gf).reshape(d, n, r)  # M G_i in column block i
    Y = np.matmul(G3.transpose(1, 2, 0), MG.transpose(1, 0, 2))  # (n, r, r): G_i^T M G_i
    W = np.matmul(G3.transpose(1, 0, 2), Y)  # (n, d, r): G_i Y_i
    return W.transpose(1, 0, 2).reshape(d, n * r) @ Gf.T / n


def noise_sandwich(ens: Ensemble, M: np.ndarray) -> np.ndarray:
    """``(1/n) sum_i (H_i - H) M (H_i - H) = S(M) - H M H``.

    Notes
    -----
    Dense: from the centred ``H_i - H`` (exactly 0 when all ``H_i`` agree), ``O(n d^3)``.
    Factors: as ``S(M) - H M H``, ``O(n d^2 r)``, accurate to round-off of ``H M H``.
    """
    if ens.G is None:
        C = ens.centered
        return np.einsum("ijk,ikl->jl", np.matmul(C, M), C) / ens.n
    return sandwich_average(ens, M) - ens.H @ M @ ens.H


def kappa(unit: Ensemble, eta_unit: float) -> float:
    """``max(1, eta a)`` of a unit-scale ensemble: ``T / kappa^2`` has entries of order
    one however large ``eta`` is."""
    return max(1.0, eta_unit * unit.a)


def apply_scaled(unit: Ensemble, eta_unit: float, gamma: float, M: np.ndarray,
                 k: float = 1.0) -> np.ndarray:
    """``T(M) / k^2`` for a unit-scale ensemble, computed as
    ``(A/k) M (A/k) + (eta/k)^2 gamma N(M)`` (no overflow for ``k >= eta a``)."""
    A = np.eye(unit.d) / k - (eta_unit / k) * unit.H
    out = A @ M @ A
    if gamma and unit.a > 0:  # a = 0: every PSD H_i is 0, and so is the noise
        out += ((eta_unit / k) * (eta_unit / k) * gamma) * noise_sandwich(unit, M)
    return out


def _times_square(X: np.ndarray, k: float) -> np.ndarray:
    """``X * k^2`` without NaN: zeros stay zero, overflow gives ``+-inf``."""
    with np.errstate(over="ignore"):
        return (X * k) * k


def apply_T(ens: Ensemble, eta: float, sampling, M) -> np.ndarray:
    """One step of the second-moment recursion, ``T(M)``.

    Parameters
    ----------
    ens : Ensemble
    eta : float
        Learning rate, ``> 0``.
    sampling : Sampling or int
        Batch sampling (an integer ``B`` means ``Sampling(B)``); not ``"reshuffle"``.
    M : array_like (d, d)

    Returns
    -------
    ndarray (d, d)
        ``T(M)``; entries beyond the float64 range are ``+-inf`` (never NaN): use
        :func:`second_moments` with ``log=True`` or :func:`sim.spectral_radius`'s
        ``log_rho`` for such learning rates.

    Notes
    -----
    Cost ``O(d^3 + n d^3)`` dense, ``O(d^3 + n d^2 r)`` with factors.
    """
    _, g = markov_gamma(ens, sampling)
    eta = check_positive(eta, "eta")
    M = check_square(M, "M", ens.d)
    unit, eta_u = ens.unit, eta * ens.scale
    k = kappa(unit, eta_u)
    return _times_square(apply_scaled(unit, eta_u, g, M, k), k)


def log_second_moments(ens: Ensemble, eta: float, sampling, steps: int, M0=None):
    """``log E||x_t||^2 = log tr M_t`` for ``t = 0..steps`` and the unit-trace
    ``M_t / tr M_t``: the recursion renormalised at every step, finite for any
    number of steps and any ``eta``.

    Returns
    -------
    (ndarray (steps+1,), ndarray (steps+1, d, d))
        ``-inf`` from the step at which ``M_t`` becomes exactly 0 (then the matrices
        are 0 too).
    """
    _, g = markov_gamma(ens, sampling)
    eta = check_positive(eta, "eta")
    steps = check_int(steps, "steps", 0)
    M = np.eye(ens.d) / ens.d if M0 is None else check_square(M0, "M0", ens.d)
    unit, eta_u = ens.unit, eta * ens.scale
    k = kappa(unit, eta_u)
    log_tr = np.empty(steps + 1)
    mats = np.empty((steps + 1, ens.d, ens.d))
    tr = np.trace(M)
    if tr < 0 or not np.isfinite(tr):
        raise ValueError("M0 must be positive semi-definite (tr M0 >= 0)")
    with np.errstate(divide="ignore"):
        log_tr[0] = np.log(tr)
    M = M / tr if tr > 0 else np.zeros_like(M)
    mats[0] = M
    for t in range(1, steps + 1):
        M = apply_scaled(unit, eta_u, g, M, k)
        tr = np.trace(M)
        with np.errstate(divide="ignore"):
            log_tr[t] = log_tr[t - 1] + np.log(tr) + 2.0 * np.log(k) if tr > 0 else -np.inf
        M = M / tr if tr > 0 else np.zeros_like(M)
        mats[t] = M
    return log_tr, mats


def second_moments(ens: Ensemble, eta: float, sampling, steps: int, M0=None, *,
                   return_matrices: bool = False, log: bool = False):
    """Exact ``E||x_t||^2 = tr M_t`` for ``t = 0..steps``.

    Parameters
    ----------
    ens, eta, sampling
        As in :func:`apply_T`.
    steps : int
    M0 : array_like (d, d), optional
        ``E[x_0 x_0^T]`` (PSD); default ``I/d`` (a uniformly random unit ``x_0``, the
        Monte Carlo default).
    return_matrices : bool
        Also return ``M_t`` of shape ``(steps+1, d, d)``.
    log : bool
        Return ``log tr M_t`` instead: finite for runs that leave the float64 range.

    Returns
    -------
    ndarray (steps+1,) or (ndarray, ndarray)
        Computed renormalised at every step (:func:`log_second_moments`), so long
        unstable runs give ``inf`` past ``1e308`` (finite on the log scale), never NaN.
    """
    log_tr, unit_mats = log_second_moments(ens, eta, sampling, steps, M0)
    with np.errstate(over="ignore"):
        traces = log_tr if log else np.exp(log_tr)
    if not return_matrices:
        return traces
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.exp(log_tr)[:, None, None]
        mats = np.where(unit_mats == 0, 0.0, unit_mats * scale)
    return traces, mats


__all__ = ["batch_factor", "apply_T", "second_moments", "log_second_moments",
           "sandwich_average", "noise_sandwich"]
