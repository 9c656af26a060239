"""The moment Lyapunov function of linearized SGD by population dynamics (cloning).

``Lambda(q) = lim (1/t) log E||x_t||^q`` for ``x_t = A_t ... A_1 x_0``,
``A = I - eta H_xi`` (``docs/theory.md``, section 8). When the mean of ``||x_t||^q``
is carried by exponentially rare paths, plain Monte Carlo cannot estimate it; cloning
can (Giardina, Kurchan & Peliti 2006; Vanneste 2010): keep ``N`` unit vectors
(clones); at every step multiply each by its own random ``A``, weight it by
``w_j = ||A x_j||^q``, renormalise, and resample ``N`` clones with probabilities
proportional to the weights (systematic resampling). Then
``Lambda(q) ~ (1/(t - b)) sum_{s > b} log mean_j w_j(s)`` after a burn-in ``b``.

The estimate has a finite-population bias of order ``1/N``: :func:`moment_lyapunov`
reports the difference between the estimates at ``N`` and ``N/4`` as ``bias``; with a
bias ``c/N`` that difference is ``-3c/N``, three times the bias left at ``N`` (with the
opposite sign), so ``|bias|/3`` estimates the bias of the result.

Every clone has its own random stream; the per-clone step is the linear engine's
(batch sampling, batch product); resampling is serial and deterministic, so the
numbers do not depend on the thread count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from sim import _kernels as K
from sim._validate import check_int, check_positive, check_real, check_seed
from sim.ensembles import Ensemble, check_ensemble
from sim.linear import path_states
from sim.sampling import SCHEME_CODES, as_sampling


@njit(cache=True)
def _clone_step(k, X, Y, IDX, PERM, POS, states, Hs, G, Hbar, dense, scheme, n, B, prob,
                drop_last, eta, q, logw):
    """Advance clone ``k`` one step and store ``log ||A x_k||^q`` (``x_k`` renormalised)."""
    x = X[k]
    y = Y[k]
    count = K.sample_batch(states, k, scheme, n, B, prob, drop_last, IDX[k], PERM[k], POS)
    if dense:
        K.batch_product_dense(x, y, Hs, Hbar, IDX[k], count)
    else:
        K.batch_product_factors(x, y, G, Hbar, IDX[k], count)
    logn = K.update_renormalize(x, y, eta)
    logw[k] = q * logn if q != 0.0 else 0.0


@njit(parallel=True, cache=True)
def _population(Hs, G, Hbar, dense, scheme, n, B, prob, drop_last, eta, q, steps, states,
                X, Y, IDX, PERM, POS, Xn, PERMn, POSn, logw, log_mean, u_state):
    """Run ``steps`` cloning steps; ``log_mean[t] = log mean_j w_j`` at step ``t``."""
    N = X.shape[0]
    d = X.shape[1]
    cum = np.empty(N)
    for t in range(steps):
        for k in prange(N):
            _clone_step(k, X, Y, IDX, PERM, POS, states, Hs, G, Hbar, dense, scheme, n, B,
                        prob, drop_last, eta, q, logw)
        top = -np.inf
        for k in range(N):
            top = max(top, logw[k])
        if top == -np.inf:  # every clone hit exactly zero
            for s in range(t, steps):
                log_mean[s] = -np.inf
            return
        total = 0.0
        for k in range(N):
            total += math.exp(logw[k] - top)
            cum[k] = total
        log_mean[t] = top + math.log(total / N)
        # systematic resampling: one uniform, N evenly spaced pointers
        u = K.rng_uniform(u_state, 0)
        j = 0
        for k in range(N):
            target = (u + k) / N * total
            while j < N - 1 and cum[j] <= target:
                j += 1
            for c in range(d):
                Xn[k, c] = X[j, c]
            for c in range(PERM.shape[1]):
                PERMn[k, c] = PERM[j, c]
            POSn[k] = POS[j]
        for k in prange(N):
            for c in range(d):
                X[k, c] = Xn[k, c]
            for c in range(PERM.shape[1]):
                PERM[k, c] = PERMn[k, c]
            POS[k] = POSn[k]


@dataclass(frozen=True, eq=False)
class MomentLyapunov:
    """Cloning estimate of ``Lambda(q)``.

    Attributes
    ----------
    q : float
    value : float
        Mean over replicas of ``(1/(steps - burn_in)) sum_{t >= burn_in} log mean_j w_j``.
    se : float
        Standard error from the independent replicas.
    population, steps, burn_in, replicas : int
    bias : float
        Estimate at ``population`` minus the estimate at ``population // 4`` (NaN when
        not computed): the finite-population bias at ``population`` is about a third of
        it.
    log_mean_weights : ndarray (replicas, steps)
        ``log mean_j w_j`` at every step of every replica.
    """

    q: float
    value: float
    se: float
    population: int
    steps: int
    burn_in: int
    replicas: int
    bias: float
    log_mean_weights: np.ndarray = field(repr=False)


def _run(ens, eta_u, smp, q, steps, population, seed, replicas):
    unit = ens.unit
    d, n = ens.d, ens.n
    dummy = np.zeros((1, 1, 1))
    width = n if smp.scheme == "reshuffle" else 1
    out = np.empty((replicas, steps))
    for r, child in enumerate(np.random.SeedSequence(seed).spawn(replicas)):
        rseed = int(child.generate_state(1, dtype=np.uint32)[0])
        states = path_states(rseed, population + 1)
        rng = np.random.default_rng(rseed)
        X = rng.standard_normal((population, d))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        PERM = np.tile(np.arange(width, dtype=np.int64), (population, 1))
        POS = np.full(population, n, dtype=np.int64)
        _population(unit.Hs if unit.Hs is not None else dummy,
                    unit.G if unit.G is not None else dummy, np.ascontiguousarray(unit.H),
                    unit.G is None, SCHEME_CODES[smp.scheme], n, smp.B,
                    float(smp.p or 0.0), smp.drop_last, eta_u, q, steps,
                    np.ascontiguousarray(states[:population]), X, np.empty_like(X),
                    np.zeros((population, smp.B), dtype=np.int64), PERM, POS,
                    np.empty_like(X), np.empty_like(PERM), np.empty_like(POS),
                    np.empty(population), out[r], np.ascontiguousarray(states[population:]))
    return out


def moment_lyapunov(ens: Ensemble, eta: float, sampling, q, steps: int = 200,
                    population: int = 4096, seed: int = 0, *, burn_in: int | None = None,
                    replicas: int = 8, bias_check: bool = True):
    """``Lambda(q) = lim (1/t) log E||x_t||^q`` of linearized SGD by cloning.

    Parameters
    ----------
    ens : Ensemble
    eta : float
    sampling : Sampling or int
        Any scheme.
    q : float or array_like
        Moment order(s) ``>= 0``; an array gives one estimate per ``q``.
    steps : int
        Steps per replica.
    population : int
        Clones ``N >= 2``.
    seed : int
    burn_in : int, optional
        Steps left out of the average (default ``steps // 4``).
    replicas : int
        Independent replicas (``>= 2``) for the standard error.
    bias_check : bool
        Also run ``population // 4`` clones and report the difference as ``bias``.

    Returns
    -------
    MomentLyapunov or list of MomentLyapunov

    Notes
    -----
    Cost ``O(replicas * steps * N * B * d^2)`` (``d r`` with factors), ``1.25`` times
    that with the bias check. ``Lambda(2) = log rho(T)`` and ``Lambda'(0)`` is the top
    Lyapunov exponent.
    """
    check_ensemble(ens)
    smp = as_sampling(sampling).check(ens.n)
    eta = check_positive(eta, "eta")
    steps = check_int(steps, "steps", 2)
    population = check_int(population, "population", 2)
    seed = check_seed(seed)
    replicas = check_int(replicas, "replicas", 2)
    burn_in = steps // 4 if burn_in is None else check_int(burn_in, "burn_in", 0, steps - 1)
    qs = np.atleast_1d(np.asarray(q, dtype=object))
    values = []
    for qv in qs:
        qv = check_real(qv, "q")
        if qv < 0:
            raise ValueError(f"q must be >= 0, got {qv}")
        values.append(qv)
    results = []
    for qv in values:
        logs = _run(ens, eta * ens.scale, smp, qv, steps, population, seed, replicas)
        per = logs[:, burn_in:].mean(axis=1)
        value = float(per.mean())
        se = float(per.std(ddof=1) / np.sqrt(replicas)) if np.all(np.isfinite(per)) else np.nan
        bias = np.nan
        if bias_check and population >= 8:
            small = _run(ens, eta * ens.scale, smp, qv, steps, population // 4, seed + 1,
                         replicas)
            bias = value - float(small[:, burn_in:].mean())
        results.append(MomentLyapunov(qv, value, se, population, steps, burn_in, replicas,
                                      bias, logs))
    return results[0] if np.ndim(q) == 0 else results


__all__ = ["moment_lyapunov", "MomentLyapunov"]
