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

from sim._validate import check_bool, check_int, check_memory, check_positive, check_square
from sim.ensembles import PSD_RTOL, Ensemble, check_ensemble
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
    del MG
    # W = [G_1 Y_1 ... G_n Y_n] (d, n r), built in blocks of samples: no (n, d, r) copy
    W = np.empty((d, n, r))
    step = max(1, n // 8)
    for i in range(0, n, step):
        W[:, i:i + step] = np.matmul(G3[:, i:i + step].transpose(1, 0, 2),
                                     Y[i:i + step]).transpose(1, 0, 2)
    return W.reshape(d, n * r) @ Gf.T / n


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


def _check_M0(M0, d: int) -> np.ndarray:
    """``M0`` as a symmetric PSD ``(d, d)`` array: asymmetry up to ``PSD_RTOL max |M0|``
    is symmetrised away, eigenvalues down to ``-PSD_RTOL lambda_max`` count as 0."""
    M = check_square(M0, "M0", d)
    top = float(np.abs(M).max())
    asym = float(np.abs(M - M.T).max())
    if asym > PSD_RTOL * top:
        raise ValueError(f"M0 must be symmetric (E[x_0 x_0^T]): max |M0 - M0^T| = {asym:.3g} "
                         f"exceeds PSD_RTOL * max |M0| = {PSD_RTOL * top:.3g}")
    M = 0.5 * (M + M.T)
    lam = np.linalg.eigvalsh(M)
    if lam[0] < -PSD_RTOL * max(lam[-1], 0.0):
        raise ValueError(f"M0 must be positive semi-definite (E[x_0 x_0^T]): lambda_min = "
                         f"{lam[0]:.3g}, lambda_max = {lam[-1]:.3g} (tolerance PSD_RTOL * "
                         "lambda_max)")
    return M


def _moments_memory(d: int, steps: int, matrices: int) -> float:
    """Bytes of the recursion's output: ``(steps + 1)`` logarithms and traces (three
    vectors) and ``matrices`` stacks of ``(steps + 1, d, d)``."""
    return 8.0 * (steps + 1) * (3 + matrices * d * d)


def _renormalised(ens: Ensemble, eta, sampling, steps, M0, copies: int, budget):
    """The renormalised recursion; ``copies`` ``(steps + 1, d, d)`` stacks are budgeted
    (0: the matrices are not kept)."""
    _, g = markov_gamma(ens, sampling)
    eta = check_positive(eta, "eta")
    steps = check_int(steps, "steps", 0)
    keep = copies > 0
    check_memory(_moments_memory(ens.d, steps, copies), "steps", budget,
                 f"{steps + 1} second moments" + (" and their (d, d) matrices" if keep else ""))
    M = np.eye(ens.d) / ens.d if M0 is None else _check_M0(M0, ens.d)
    unit, eta_u = ens.unit, eta * ens.scale
    k = kappa(unit, eta_u)
    log_tr = np.empty(steps + 1)
    mats = np.empty((steps + 1, ens.d, ens.d)) if keep else None
    tr = np.trace(M)
    with np.errstate(divide="ignore"):
        log_tr[0] = np.log(tr)
    M = M / tr if tr > 0 else np.zeros_like(M)
    if keep:
        mats[0] = M
    for t in range(1, steps + 1):
        M = apply_scaled(unit, eta_u, g, M, k)
        tr = np.trace(M)
        with np.errstate(divide="ignore"):
            log_tr[t] = log_tr[t - 1] + np.log(tr) + 2.0 * np.log(k) if tr > 0 else -np.inf
        M = M / tr if tr > 0 else np.zeros_like(M)
        if keep:
            mats[t] = M
    return log_tr, mats


def log_second_moments(ens: Ensemble, eta: float, sampling, steps: int, M0=None, *,
                       memory_budget=None):
    """``log E||x_t||^2 = log tr M_t`` for ``t = 0..steps`` and the unit-trace
    ``M_t / tr M_t``: the recursion renormalised at every step, finite for any
    number of steps and any ``eta``.

    Parameters
    ----------
    ens, eta, sampling, steps, M0
        As in :func:`second_moments`.
    memory_budget : float, optional
        Bytes the output may take (``(steps + 1) (d^2 + 3)`` float64 values); default
        half of physical memory (:data:`sim._validate.MEMORY_FRACTION`). A larger
        estimate is refused with a ``ValueError`` naming ``steps`` before anything is
        allocated.

    Returns
    -------
    (ndarray (steps+1,), ndarray (steps+1, d, d))
        ``-inf`` from the step at which ``M_t`` becomes exactly 0 (then the matrices
        are 0 too).
    """
    return _renormalised(ens, eta, sampling, steps, M0, 1, memory_budget)


def second_moments(ens: Ensemble, eta: float, sampling, steps: int, M0=None, *,
                   return_matrices: bool = False, log: bool = False, memory_budget=None):
    """Exact ``E||x_t||^2 = tr M_t`` for ``t = 0..steps``.

    Parameters
    ----------
    ens, eta, sampling
        As in :func:`apply_T`.
    steps : int
    M0 : array_like (d, d), optional
        ``E[x_0 x_0^T]``: symmetric PSD (asymmetry up to ``PSD_RTOL max |M0|`` is
        symmetrised, eigenvalues down to ``-PSD_RTOL lambda_max`` pass; anything beyond
        is a ``ValueError``); default ``I/d`` (a uniformly random unit ``x_0``, the Monte
        Carlo default).
    return_matrices : bool
        Also return ``M_t`` of shape ``(steps+1, d, d)``.
    log : bool
        Return ``log tr M_t`` instead: finite for runs that leave the float64 range.
    memory_budget : float, optional
        Bytes the output may take (``3 (steps + 1)`` float64 values, plus three
        ``(steps + 1, d, d)`` stacks with ``return_matrices``: the unit-trace matrices,
        their scaled copy and a temporary); default half of physical
        memory (:data:`sim._validate.MEMORY_FRACTION`). A larger estimate is refused with
        a ``ValueError`` naming ``steps`` before anything is allocated.

    Returns
    -------
    ndarray (steps+1,) or (ndarray, ndarray)
        Computed renormalised at every step (:func:`log_second_moments`), so long
        unstable runs give ``inf`` past ``1e308`` (finite on the log scale), never NaN.
    """
    return_matrices = check_bool(return_matrices, "return_matrices")
    log = check_bool(log, "log")
    log_tr, unit_mats = _renormalised(ens, eta, sampling, steps, M0,
                                      3 if return_matrices else 0, memory_budget)
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
