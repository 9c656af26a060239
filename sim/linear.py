"""Monte Carlo of linearized SGD ``x_{t+1} = (I - eta H_xi) x_t``.

The dynamics is linear, hence scale-free: each path is renormalised to unit length
after every step and its log-norm accumulated, so strongly unstable runs of
thousands of steps stay finite. Means over paths are taken in the log domain
(``log E||x_t||^2 = logsumexp(2 log||x_t||) - log P``), never as NaN or overflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from sim import _kernels as K
from sim._validate import (
    SCHEMES_MC,
    check_ensemble,
    check_int,
    check_p,
    check_positive,
    check_scheme,
)
from sim.ensembles import Ensemble

BACKENDS = ("cpu", "cuda")
METHODS = ("auto", "path", "grouped")
JACKKNIFE_GROUPS = 100
"""Path groups for the delete-one-group jackknife of the fitted growth rate."""


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """Keyword-only description of one Monte Carlo run, validated on construction
    (``B <= n`` and the dense requirement of ``method="grouped"`` are checked by
    :func:`simulate`, which knows the ensemble). ``fit_from=None`` becomes
    ``steps // 2``; ``B=None`` is allowed for the mixture (then ``B = 1``)."""

    eta: float
    B: int | None
    steps: int
    paths: int
    seed: int
    scheme: str = "without"
    p: float | None = None
    backend: str = "cpu"
    method: str = "auto"
    record_every: int = 1
    fit_from: int | None = None
    divergence_bound: float = 1e100

    def __post_init__(self):
        def set_(name, value):  # normalise a field of the frozen record
            object.__setattr__(self, name, value)

        check_scheme(self.scheme, SCHEMES_MC)
        set_("eta", check_positive(self.eta, "eta"))
        if self.scheme == "mixture":
            set_("p", check_p(self.p))
            set_("B", 1 if self.B is None else check_int(self.B, "B"))
        else:
            set_("B", check_int(self.B, "B"))
        set_("steps", check_int(self.steps, "steps", 1))
        set_("paths", check_int(self.paths, "paths", 1))
        set_("seed", check_int(self.seed, "seed", 0))
        set_("record_every", check_int(self.record_every, "record_every", 1))
        if self.steps % self.record_every:
            raise ValueError(f"record_every must divide steps={self.steps}, "
                             f"got {self.record_every}")
        set_("fit_from", self.steps // 2 if self.fit_from is None
             else check_int(self.fit_from, "fit_from", 0, self.steps))
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        set_("divergence_bound", check_positive(self.divergence_bound, "divergence_bound"))


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Monte Carlo estimates, recorded at ``t``.

    Attributes
    ----------
    t : ndarray (R,)
        Recorded steps ``0, record_every, ..., steps``.
    log_mean_sq_norm, log_mean_sq_norm_se : ndarray (R,)
        ``log E||x_t||^2`` and its standard error (delta method).
    mean_sq_norm, mean_sq_norm_se : ndarray (R,)
        ``E||x_t||^2`` and its standard error (``inf`` only beyond ``1e308``; use
        the log version for strongly unstable runs).
    mean_log_norm, mean_log_norm_se : ndarray (R,)
        ``E log||x_t||`` (almost-sure growth) and its standard error.
    growth_rate : float
        Fitted slope of ``log E||x_t||^2`` per step over ``t >= fit_from``; to
        compare with ``log rho(T)``.
    growth_rate_se, growth_rate_ci : float, (float, float)
        Standard error and 95% interval from a delete-one-group jackknife over 100
        groups of paths.
    lyapunov, lyapunov_se, lyapunov_ci : float, float, (float, float)
        Mean per-step growth of ``log||x_t||`` over ``t >= fit_from``, its standard
        error (independent paths) and 95% interval.
    log_norms : ndarray (paths, R)
        ``log||x_t||`` of every path (the raw data).
    diverged_at : ndarray (paths,) int
        First step at which a path's norm exceeded ``divergence_bound`` (-1: never).
    ess : ndarray (R,)
        Effective sample size ``(sum w)^2 / sum w^2`` of the weights
        ``w = ||x_t||^2`` behind ``E||x_t||^2``. When the second moment is carried by
        rare paths (``ess`` of a few dozen or less), the estimate, its standard
        error and the growth-rate interval are not trustworthy: the typical path
        (``mean_log_norm``, ``lyapunov``) then grows more slowly than ``E||x_t||^2``
        and more paths or a shorter horizon are needed.
    config : SimulationConfig
    """

    t: np.ndarray
    log_mean_sq_norm: np.ndarray
    log_mean_sq_norm_se: np.ndarray
    mean_sq_norm: np.ndarray
    mean_sq_norm_se: np.ndarray
    mean_log_norm: np.ndarray
    mean_log_norm_se: np.ndarray
    growth_rate: float
    growth_rate_se: float
    growth_rate_ci: tuple
    lyapunov: float
    lyapunov_se: float
    lyapunov_ci: tuple
    ess: np.ndarray = field(repr=False)
    log_norms: np.ndarray = field(repr=False)
    diverged_at: np.ndarray = field(repr=False)
    config: SimulationConfig = None

    def reliable_until(self, ess_min: float = 200.0) -> int:
        """Last recorded step up to which the effective sample size stays
        ``>= ess_min`` (``-1`` if even ``t = 0`` falls short)."""
        bad = np.flatnonzero(self.ess < ess_min)
        if bad.size == 0:
            return int(self.t[-1])
        return int(self.t[bad[0] - 1]) if bad[0] > 0 else -1

    def fit_growth(self, t_from: int = 0, t_to: int | None = None):
        """Growth rate of ``log E||x_t||^2``, its jackknife standard error and 95%
        interval, fitted over the recorded steps ``t_from <= t <= t_to``."""
        t_to = int(self.t[-1]) if t_to is None else t_to
        log_m, w, c = _logmeanexp(2.0 * self.log_norms)
        return growth_fit(w, c, log_m, self.t, (self.t >= t_from) & (self.t <= t_to))


def path_states(seed: int, paths: int) -> np.ndarray:
    """Initial xoroshiro128+ states ``(paths, 2)`` derived from one integer seed by
    ``SeedSequence``; path ``p``'s stream does not depend on ``paths``' blocking."""
    seq = np.random.SeedSequence(seed)
    states = seq.generate_state(2 * paths, dtype=np.uint64).reshape(paths, 2)
    zero = (states[:, 0] == 0) & (states[:, 1] == 0)
    states[zero, 0] = np.uint64(0x9E3779B97F4A7C15)  # all-zero is the one bad state
    return states


def _x0_array(x0, d: int, paths: int):
    if x0 is None:
        return np.zeros((1, d)), True
    try:
        arr = np.asarray(x0, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError("x0 must be a real array of shape (d,) or (paths, d)") from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != d or arr.shape[0] not in (1, paths):
        raise ValueError(f"x0 must have shape ({d},) or ({paths}, {d}), got {np.shape(x0)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("x0 must be finite")
    if np.any(np.all(arr == 0, axis=1)):
        raise ValueError("x0 must be non-zero (the minimum itself is a fixed point)")
    return np.ascontiguousarray(arr), False


def _logmeanexp(L: np.ndarray, axis=0):
    """``log mean exp(L)`` along ``axis`` and the scaled terms, stable for -inf."""
    c = np.max(L, axis=axis, keepdims=True)
    c = np.where(np.isfinite(c), c, 0.0)
    w = np.exp(L - c)
    with np.errstate(divide="ignore"):  # every path exactly at 0: log 0 = -inf
        return np.log(np.mean(w, axis=axis)) + np.squeeze(c, axis), w, np.squeeze(c, axis)


def _ols_slope(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``y`` (last axis) against ``t``."""
    tc = t - t.mean()
    return (y - y.mean(axis=-1, keepdims=True)) @ tc / np.dot(tc, tc)


def growth_fit(w: np.ndarray, c: np.ndarray, log_m: np.ndarray, t: np.ndarray,
               window: np.ndarray) -> tuple[float, float, tuple]:
    """Slope of ``log E||x_t||^2`` over the steps in ``window``, its standard error and
    95% interval, from a delete-one-group jackknife over :data:`JACKKNIFE_GROUPS`
    groups of paths.

    ``w`` are the per-path weights ``||x_t||^2 / exp(c_t)`` (paths x R).
    """
    none = (np.nan, np.nan)
    tf = t[window]
    if tf.size >= 2 and log_m[window][-1] == -np.inf:  # every path reached exactly 0
        return -np.inf, 0.0, (-np.inf, -np.inf)
    if tf.size < 2 or not np.all(np.isfinite(log_m[window])):
        return np.nan, np.nan, none
    rate = float(_ols_slope(tf, log_m[window]))
    P = w.shape[0]
    groups = np.array_split(np.arange(P), min(JACKKNIFE_GROUPS, P))
    if len(groups) < 2:
        return rate, np.nan, none
    sums = np.stack([w[g][:, window].sum(axis=0) for g in groups])
    sizes = np.array([len(g) for g in groups])
    with np.errstate(divide="ignore"):
        loo = np.log((sums.sum(axis=0) - sums) / (P - sizes)[:, None]) + c[window]
    if not np.all(np.isfinite(loo)):  # one group carries the whole mean: no interval
        return rate, np.nan, none
    slopes = _ols_slope(tf, loo)
    G = len(groups)
    se = float(np.sqrt((G - 1) / G * np.sum((slopes - slopes.mean()) ** 2)))
    half = stats.t.ppf(0.975, G - 1) * se
    return rate, se, (float(rate - half), float(rate + half))


def _summaries(L: np.ndarray, t: np.ndarray, fit_from: int):
    P = L.shape[0]
    L2 = 2.0 * L
    log_m, w, c = _logmeanexp(L2)
    alive = np.any(w > 0, axis=0)  # else every path sits exactly at 0: the mean 0 is exact
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rel_se = np.std(w, axis=0, ddof=1) / np.sqrt(P) / np.mean(w, axis=0) if P > 1 \
            else np.full(t.shape, np.nan)
        rel_se = np.where(alive, rel_se, 0.0)
        mean_sq = np.exp(log_m)
        mean_sq_se = np.where(alive, mean_sq * rel_se, 0.0)
        ess = np.where(alive, np.sum(w, axis=0) ** 2 / np.sum(w * w, axis=0), float(P))
    finite = np.isfinite(L)
    mean_log = np.mean(L, axis=0)
    with np.errstate(invalid="ignore"):  # -inf - -inf where paths hit exactly 0
        mean_log_se = (np.std(L, axis=0, ddof=1) / np.sqrt(P) if P > 1
                       else np.full(t.shape, np.nan))
    mean_log_se = np.where(finite.all(axis=0), mean_log_se, np.nan)

    fit = t >= fit_from
    tf = t[fit]
    rate, rate_se, rate_ci = growth_fit(w, c, log_m, t, fit)
    t0, t1 = tf[0] if tf.size else t[0], t[-1]
    i0 = int(np.searchsorted(t, t0))
    if t1 > t0:
        with np.errstate(invalid="ignore"):  # -inf - -inf: the path is at 0 throughout
            per_path = (L[:, -1] - L[:, i0]) / (t1 - t0)
        per_path = np.where(L[:, -1] == -np.inf, -np.inf, per_path)
        lyap = float(np.mean(per_path))
        if P > 1 and np.all(np.isfinite(per_path)):
            lyap_se = float(np.std(per_path, ddof=1) / np.sqrt(P))
            half = stats.t.ppf(0.975, P - 1) * lyap_se
            lyap_ci = (lyap - half, lyap + half)
        else:
            lyap_se, lyap_ci = np.nan, (np.nan, np.nan)
    else:
        lyap, lyap_se, lyap_ci = np.nan, np.nan, (np.nan, np.nan)
    return dict(log_mean_sq_norm=log_m, log_mean_sq_norm_se=rel_se, mean_sq_norm=mean_sq,
                mean_sq_norm_se=mean_sq_se, ess=ess, mean_log_norm=mean_log,
                mean_log_norm_se=mean_log_se, growth_rate=rate, growth_rate_se=rate_se,
                growth_rate_ci=tuple(map(float, rate_ci)), lyapunov=lyap, lyapunov_se=lyap_se,
                lyapunov_ci=tuple(map(float, lyap_ci)))


def _validate(ens, eta, B, steps, paths, seed, scheme, p, backend, method, record_every,
              fit_from, divergence_bound) -> SimulationConfig:
    check_ensemble(ens)
    cfg = SimulationConfig(eta=eta, B=B, steps=steps, paths=paths, seed=seed, scheme=scheme,
                           p=p, backend=backend, method=method, record_every=record_every,
                           fit_from=fit_from, divergence_bound=divergence_bound)
    check_int(cfg.B, "B", 1, ens.n)
    if cfg.method == "grouped" and ens.has_factors:
        raise ValueError("method='grouped' needs a dense ensemble (factors use 'path')")
    return cfg


def _kernel_arrays(ens: Ensemble, cfg: SimulationConfig, x0):
    d, n = ens.d, ens.n
    P = cfg.paths
    x0_arr, random_x0 = _x0_array(x0, d, P)
    R = cfg.steps // cfg.record_every + 1
    width = max(cfg.B, 1)
    Hs = ens.Hs if ens.Hs is not None else np.zeros((1, 1, 1))
    G = ens.G if ens.G is not None else np.zeros((1, 1, 1))
    return dict(
        Hs=np.ascontiguousarray(Hs), G=np.ascontiguousarray(G),
        Hbar=np.ascontiguousarray(ens.H), dense=ens.G is None,
        scheme=K.SCHEME_CODES[cfg.scheme], n=n, B=cfg.B,
        prob=float(cfg.p) if cfg.p is not None else 0.0, eta=cfg.eta, steps=cfg.steps,
        record_every=cfg.record_every, x0=x0_arr, random_x0=random_x0,
        states=path_states(cfg.seed, P), X=np.empty((P, d)), Y=np.empty((P, d)),
        IDX=np.zeros((P, width), dtype=np.int64),
        PERM=np.zeros((P, n if cfg.scheme == "reshuffle" else 1), dtype=np.int64),
        POS=np.zeros(P, dtype=np.int64), out_log=np.empty((P, R)),
        diverged_at=np.empty(P, dtype=np.int64), log_bound=float(np.log(cfg.divergence_bound)),
    )


def _run_cpu(ens: Ensemble, cfg: SimulationConfig, arrays: dict, parallel: bool = True):
    method = cfg.method
    if method == "auto":
        method = "path" if ens.has_factors or ens.d < 8 else "grouped"
    if method == "path":
        kernel = K.simulate_paths_parallel if parallel else K.simulate_paths_serial
        kernel(**arrays)
        return
    P, width = arrays["IDX"].shape
    shared = {k: v for k, v in arrays.items() if k not in ("G", "dense")}  # dense only
    K.simulate_grouped(
        **shared, CNT=np.zeros(P, dtype=np.int64), SLOT=np.zeros((P, width), dtype=np.int64),
        ROWS=np.zeros(P * width, dtype=np.int64), OFF=np.zeros(ens.n + 2, dtype=np.int64),
        Z=np.empty((P * width, ens.d)))


def simulate(ens: Ensemble, eta: float, B: int | None, steps: int, paths: int, seed: int,
             scheme: str = "without", x0=None, backend: str = "cpu", *, p: float | None = None,
             method: str = "auto", record_every: int = 1, fit_from: int | None = None,
             divergence_bound: float = 1e100, parallel: bool = True) -> SimulationResult:
    """Simulate ``paths`` independent runs of linearized SGD.

    Parameters
    ----------
    ens : Ensemble
    eta : float
        Learning rate ``> 0``.
    B : int
        Batch size ``1 <= B <= n`` (ignored by ``"mixture"``).
    steps, paths, seed : int
    scheme : {"without", "with", "reshuffle", "mixture"}
    x0 : array_like (d,) or (paths, d), optional
        Start; default a uniformly random unit vector per path (``E x_0 x_0^T = I/d``,
        the default ``M0`` of :func:`sim.moments.second_moments`).
    backend : {"cpu", "cuda"}
    p : float, optional
        Mixture probability.
    method : {"auto", "path", "grouped"}
        CPU algorithm: one path at a time, or all paths stepping together with
        paths that share a sample multiplied as a block (dense ensembles). ``auto``
        takes ``grouped`` for dense ensembles with ``d >= 8``.
    record_every : int
        Record every this many steps (must divide ``steps``).
    fit_from : int, optional
        First step of the growth-rate and Lyapunov fits (default ``steps // 2``).
    divergence_bound : float
        A path whose norm exceeds it is flagged in ``diverged_at`` (the run goes on:
        renormalisation keeps it finite).
    parallel : bool
        CPU path method only: the serial compilation of the same kernel.

    Returns
    -------
    SimulationResult

    Notes
    -----
    Cost ``O(paths * steps * B * d^2)`` dense, ``O(paths * steps * B * d r)`` with
    factors. Every path has its own xoroshiro128+ stream derived from ``seed``, so
    the result is the same for any thread count and on the CUDA backend.
    """
    cfg = _validate(ens, eta, B, steps, paths, seed, scheme, p, backend, method,
                    record_every, fit_from, divergence_bound)
    arrays = _kernel_arrays(ens, cfg, x0)
    if cfg.backend == "cpu":
        _run_cpu(ens, cfg, arrays, parallel)
    else:
        from sim import cuda as cuda_backend

        cuda_backend.run(arrays)
    t = np.arange(0, cfg.steps + 1, cfg.record_every)
    L = arrays["out_log"]
    return SimulationResult(t=t, **_summaries(L, t, cfg.fit_from), log_norms=L,
                            diverged_at=arrays["diverged_at"], config=cfg)


@dataclass(frozen=True)
class LyapunovEstimate:
    """Top Lyapunov exponent of ``prod (I - eta H_xi)`` per step, with a 95% interval.
    Almost-sure stability iff it is ``<= 0``."""

    value: float
    ci: tuple
    se: float
    paths: int
    steps: int


def lyapunov_exponent(ens: Ensemble, eta: float, B: int | None, steps: int = 2000,
                      paths: int = 1024, seed: int = 0, scheme: str = "without", *,
                      burn_in: int | None = None, p: float | None = None,
                      backend: str = "cpu") -> LyapunovEstimate:
    """Estimate ``lim (1/t) log||x_t||`` from ``paths`` runs of ``steps`` steps.

    Each path gives ``(log||x_T|| - log||x_b||)/(T - b)`` after a burn-in ``b``
    (default ``steps // 10``); paths are independent, so the interval is the
    t-interval of their mean.
    """
    steps = check_int(steps, "steps", 2)
    burn_in = steps // 10 if burn_in is None else check_int(burn_in, "burn_in", 0, steps - 1)
    every = int(np.gcd(steps, burn_in)) if burn_in else steps
    res = simulate(ens, eta, B, steps, paths, seed, scheme, backend=backend, p=p,
                   record_every=every, fit_from=burn_in)
    return LyapunovEstimate(res.lyapunov, res.lyapunov_ci, res.lyapunov_se, paths, steps)


__all__ = ["simulate", "SimulationResult", "SimulationConfig", "lyapunov_exponent",
           "LyapunovEstimate", "path_states", "BACKENDS", "METHODS"]
