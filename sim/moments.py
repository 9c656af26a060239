"""Exact second moments of linearized SGD, matrix-free.

With ``A = I - eta H`` and ``S(M) = (1/n) sum_i H_i M H_i``,

    T(M) = M - eta (H M + M H) + eta^2 ((1 - gamma) H M H + gamma S(M)),

the map ``M_t -> M_{t+1}`` of ``M_t = E[x_t x_t^T]`` (THEORY.md section 3), evaluated
as ``A M A + eta^2 gamma (1/n) sum_i (H_i - H) M (H_i - H)`` with ``A = I - eta H``. It
is applied to ``d x d`` matrices; the ``d^2 x d^2`` matrix is never formed.
"""

from __future__ import annotations

import numpy as np

from sim._validate import (
    check_ensemble,
    check_int,
    check_p,
    check_positive,
    check_scheme,
    check_square,
)
from sim.ensembles import Ensemble


def batch_factor(n: int, B: int | None = None, scheme: str = "without",
                 p: float | None = None) -> float:
    """``gamma = Var(batch mean)/population variance``: ``(n-B)/(B(n-1))`` without
    replacement (0 at ``B = n``), ``1/B`` with replacement, ``p`` for the mixture."""
    check_scheme(scheme)
    n = check_int(n, "n")
    if scheme == "mixture":
        return check_p(p)
    B = check_int(B, "B", 1, n)
    if scheme == "with":
        return 1.0 / B
    return 0.0 if B == n else (n - B) / (B * (n - 1))


def _gamma(ens: Ensemble, B, scheme, p) -> float:
    check_ensemble(ens)
    return batch_factor(ens.n, B, scheme, p)


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
    Gf = ens.G.transpose(1, 0, 2).reshape(d, n * r)  # columns grouped by sample
    MG = (M @ Gf).reshape(d, n, r)
    Y = np.einsum("dir,dis->irs", ens.G.transpose(1, 0, 2), MG)  # G_i^T M G_i
    Z = np.einsum("dir,irs->dis", ens.G.transpose(1, 0, 2), Y).reshape(d, n * r)
    return Z @ Gf.T / n


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


def _apply(ens: Ensemble, eta: float, gamma: float, M: np.ndarray) -> np.ndarray:
    """``T(M) = A M A + eta^2 gamma (1/n) sum_i (H_i - H) M (H_i - H)``, ``A = I - eta H``:
    a sum of PSD terms for PSD ``M``, so a small ``T(M)`` is not lost to cancellation."""
    A = np.eye(ens.d) - eta * ens.H
    out = A @ M @ A
    if gamma:
        out += (eta**2 * gamma) * noise_sandwich(ens, M)
    return out


def apply_T(ens: Ensemble, eta: float, B: int | None, M, scheme: str = "without",
            p: float | None = None) -> np.ndarray:
    """One step of the second-moment recursion, ``T(M)``.

    Parameters
    ----------
    ens : Ensemble
    eta : float
        Learning rate, ``> 0``.
    B : int or None
        Batch size, ``1 <= B <= n`` (ignored for ``"mixture"``).
    M : array_like (d, d)
    scheme : {"without", "with", "mixture"}
    p : float, optional
        Mixture probability (``gamma = p``).

    Returns
    -------
    ndarray (d, d)

    Notes
    -----
    Cost ``O(d^3 + n d^3)`` dense, ``O(d^3 + n d^2 r)`` with factors.
    """
    g = _gamma(ens, B, scheme, p)
    eta = check_positive(eta, "eta")
    M = check_square(M, "M", ens.d)
    return _apply(ens, eta, g, M)


def second_moments(ens: Ensemble, eta: float, B: int | None, steps: int, M0=None,
                   scheme: str = "without", p: float | None = None,
                   return_matrices: bool = False):
    """Exact ``E||x_t||^2 = tr M_t`` for ``t = 0..steps``.

    Parameters
    ----------
    M0 : array_like (d, d), optional
        ``E[x_0 x_0^T]``; default ``I/d`` (a uniformly random unit ``x_0``, the
        Monte Carlo default).
    return_matrices : bool
        Also return ``M_t`` of shape ``(steps+1, d, d)``.

    Returns
    -------
    ndarray (steps+1,) or (ndarray, ndarray)
    """
    g = _gamma(ens, B, scheme, p)
    eta = check_positive(eta, "eta")
    steps = check_int(steps, "steps", 0)
    M = np.eye(ens.d) / ens.d if M0 is None else check_square(M0, "M0", ens.d)
    traces = np.empty(steps + 1)
    mats = np.empty((steps + 1, ens.d, ens.d)) if return_matrices else None
    for t in range(steps + 1):
        traces[t] = np.trace(M)
        if mats is not None:
            mats[t] = M
        if t < steps:
            M = _apply(ens, eta, g, M)
    return (traces, mats) if return_matrices else traces


__all__ = ["batch_factor", "apply_T", "second_moments", "sandwich_average", "noise_sandwich"]
