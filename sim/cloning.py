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

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from sim._kernels import CloneArgs, Run, clone_steps_parallel, ensemble_args, resample
from sim._streams import path_states, sampler_args
from sim._validate import (
    check_bool,
    check_choice,
    check_int,
    check_memory,
    check_positive,
    check_real,
    check_seed,
)
from sim.ensembles import Ensemble, check_ensemble
from sim.sampling import as_sampling


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
        not computed). The bias of the estimator is ``O(1/N)``, so in expectation this
        difference is about three times the bias left at ``population``; at practical
        ``N`` it is usually dominated by noise, which ``bias_se`` measures.
    bias_se : float
        Standard error of ``bias`` from the independent replicas of both runs,
        ``sqrt(se_N^2 + se_{N/4}^2)``: only ``|bias|`` well above it (say 3 ``bias_se``)
        resolves the finite-population bias.
    log_mean_weights : ndarray (replicas, steps)
        ``log mean_j w_j`` at every step of every replica.
    status : {"ok", "collapsed"}
        ``collapsed``: in some replica every clone reached exactly 0 at the same step
        (``x_t = 0`` from then on, as when ``eta h_xi = 1`` in 1-D). Then ``value = -inf``
        and ``se = 0`` (``ci = (-inf, -inf)``), ``bias = bias_se = NaN`` (not computed);
        when only some replicas collapsed, ``message`` says how many, and the true
        ``Lambda(q)`` may be finite but too negative for ``population`` clones to resolve.
    message : str
        Why the status is not ``ok``, or why ``bias`` was not computed (the bias check's
        smaller population collapsed); empty otherwise.
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
    bias_se: float = np.nan
    status: str = "ok"
    message: str = ""

    @property
    def half_width(self) -> float:
        """Half-width of :attr:`ci`: the Student-t 95% quantile with ``replicas - 1``
        degrees of freedom times :attr:`se`, plus ``|bias|`` when the bias check ran
        (the difference at ``N`` and ``N/4`` is about three times the bias left at
        ``N`` in expectation, so adding it covers the bias; where noise dominates it,
        :attr:`bias_se` says so, and adding it only widens the interval)."""
        t = float(stats.t.ppf(0.975, self.replicas - 1))
        return t * self.se + (abs(self.bias) if np.isfinite(self.bias) else 0.0)

    @property
    def ci(self) -> tuple:
        """95% interval of ``Lambda(q)`` widened by the finite-population bias bound."""
        return (self.value - self.half_width, self.value + self.half_width)


def clone_args(ens: Ensemble, eta_u: float, smp, q: float, population: int, rseed: int, *,
               memory_budget=None):
    """The :data:`CloneArgs` of one replica (clones uniform on the sphere) and the
    random stream of its resampling. ``memory_budget``: bytes for the clones
    (:func:`cloning_memory`); default half of physical memory, refused before allocating
    above it."""
    check_memory(cloning_memory(ens, smp, population, 1, 1), "population", memory_budget,
                 f"{population} clones")
    unit = ens.unit
    d, n = ens.d, ens.n
    width = n if smp.scheme == "reshuffle" else 1
    states = path_states(rseed, population + 1)
    X = np.random.default_rng(rseed).standard_normal((population, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    a = CloneArgs(eta=eta_u, q=float(q), states=np.ascontiguousarray(states[:population]), X=X,
                  Y=np.empty_like(X), IDX=np.zeros((population, smp.B), dtype=np.int64),
                  PERM=np.tile(np.arange(width, dtype=np.int64), (population, 1)),
                  POS=np.full(population, n, dtype=np.int64), logw=np.empty(population))
    return Run(a, ensemble_args(unit), sampler_args(smp, n)), np.ascontiguousarray(
        states[population:])


def _run(ens, eta_u, smp, q, steps, population, seed, replicas, backend="cpu"):
    out = np.empty((replicas, steps))
    if backend == "cuda":
        from sim import cuda as cuda_backend
    for r, child in enumerate(np.random.SeedSequence(seed).spawn(replicas)):
        rseed = int(child.generate_state(1, dtype=np.uint32)[0])
        run, u_state = clone_args(ens, eta_u, smp, q, population, rseed)
        a = run.a
        X = a.X
        work = (np.empty_like(X), np.empty_like(a.PERM), np.empty_like(a.POS),
                np.empty(population))
        for t in range(steps):
            if backend == "cuda":
                cuda_backend.run_clone_steps(run)
            else:
                clone_steps_parallel(*run)
            out[r, t] = resample(a.X, a.PERM, a.POS, a.logw, *work, u_state)
            if out[r, t] == -np.inf:
                out[r, t:] = -np.inf
                break
    return out


def cloning_memory(ens: Ensemble, smp, population: int, steps: int, replicas: int,
                   orders: int = 1) -> float:
    """Estimated bytes of :func:`moment_lyapunov`: per clone the state, its copy and
    resampling work (``5 d``), the batch (``2 B``), the reshuffling permutation and its
    copy (``2 w``), two streams and counters; and the ``(replicas, steps)`` log-weights of
    each of ``orders`` moment orders and of the bias check."""
    width = ens.n if smp.scheme == "reshuffle" else 1
    per_clone = 5 * ens.d + 2 * smp.B + 2 * width + 8
    return 8.0 * (population * per_clone + 2 * orders * replicas * steps)


def moment_lyapunov(ens: Ensemble, eta: float, sampling, q, steps: int = 200,
                    population: int = 4096, seed: int = 0, *, burn_in: int | None = None,
                    replicas: int = 8, bias_check: bool = True, backend: str = "cpu",
                    memory_budget=None):
    """``Lambda(q) = lim (1/t) log E||x_t||^q`` of linearized SGD by cloning.

    Parameters
    ----------
    ens : Ensemble
    eta : float
    sampling : Sampling or int
        Any scheme.
    q : float or array_like
        Moment order(s) ``>= 0``; a non-empty array gives one estimate per ``q``.
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
    backend : {"cpu", "cuda"}
        Where the per-clone steps run (one GPU thread per clone); resampling is serial on
        the host either way, so both give the same numbers.
    memory_budget : float, optional
        Bytes a run may take (:func:`cloning_memory`: about
        ``8 N (5 d + 2 B + 2 w + 8)`` for the clones, ``w = n`` under random reshuffling
        and 1 otherwise, plus ``8 replicas steps`` per ``q``); default half of physical
        memory (:data:`sim._validate.MEMORY_FRACTION`). A larger estimate is refused with
        a ``ValueError`` naming ``population, replicas, steps`` before anything is
        allocated.

    Returns
    -------
    MomentLyapunov or list of MomentLyapunov
        ``status="collapsed"`` (value ``-inf``, see :class:`MomentLyapunov`) where the
        population reached exactly 0.

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
    check_choice(backend, "backend", ("cpu", "cuda"))
    bias_check = check_bool(bias_check, "bias_check")
    qs = np.atleast_1d(np.asarray(q, dtype=object))
    if qs.size == 0:
        raise ValueError("q must hold at least one moment order, got an empty sequence")
    if qs.ndim != 1:
        raise ValueError(f"q must be a number or a 1-D sequence, got shape {qs.shape}")
    check_memory(cloning_memory(ens, smp, population, steps, replicas, len(qs)),
                 "population, replicas, steps", memory_budget,
                 f"{replicas} replicas of {population} clones over {steps} steps")
    values = []
    for qv in qs:
        qv = check_real(qv, "q")
        if qv < 0:
            raise ValueError(f"q must be >= 0, got {qv}")
        values.append(qv)
    results = []
    for qv in values:
        logs = _run(ens, eta * ens.scale, smp, qv, steps, population, seed, replicas, backend)
        dead = int(np.isneginf(logs).any(axis=1).sum())
        if dead:
            some = "every replica" if dead == replicas else f"{dead} of {replicas} replicas"
            results.append(MomentLyapunov(
                qv, -np.inf, 0.0, population, steps, burn_in, replicas, np.nan, logs, np.nan,
                "collapsed", f"every clone reached exactly 0 in {some}: x_t = 0 from then "
                f"on, so the estimate of E||x_t||^q is 0 and Lambda(q) = -inf"
                + ("" if dead == replicas else " (the true value may be finite, below what "
                   f"{population} clones resolve)")))
            continue
        per = logs[:, burn_in:].mean(axis=1)
        value = float(per.mean())
        se = float(per.std(ddof=1) / np.sqrt(replicas))
        bias = bias_se = np.nan
        message = ""
        if bias_check and population >= 8:
            small = _run(ens, eta * ens.scale, smp, qv, steps, population // 4, seed + 1,
                         replicas, backend)
            if np.isneginf(small).any():
                message = (f"the bias check's {population // 4} clones reached exactly 0: "
                           "bias not computed (NaN)")
            else:
                per_small = small[:, burn_in:].mean(axis=1)
                bias = value - float(per_small.mean())
                bias_se = float(np.sqrt(se**2 + per_small.var(ddof=1) / replicas))
        results.append(MomentLyapunov(qv, value, se, population, steps, burn_in, replicas,
                                      bias, logs, bias_se, "ok", message))
    return results[0] if np.ndim(q) == 0 else results


__all__ = ["moment_lyapunov", "MomentLyapunov", "clone_args", "cloning_memory"]
