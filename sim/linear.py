"""Monte Carlo of linearized SGD ``x_{t+1} = (I - eta H_xi) x_t``.

The dynamics is linear, hence scale-free: each path is renormalised to unit length
after every step and its log-norm accumulated, so strongly unstable runs of
thousands of steps stay finite. Means over paths are taken in the log domain
(``log E||x_t||^2 = logsumexp(2 log||x_t||) - log P``), never as NaN or overflow;
the statistics live in :mod:`sim.estimates`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim import _kernels as K
from sim._validate import check_choice, check_int, check_positive, check_seed, real_array
from sim.ensembles import Ensemble, check_ensemble
from sim.estimates import Fit, growth_fit, lyapunov_fit, moment_summaries
from sim.sampling import SCHEME_CODES, Sampling, as_sampling

BACKENDS = ("cpu", "cuda")
METHODS = ("auto", "path", "grouped")
GROUPED_MIN_D = 40
"""``method="auto"`` runs the grouped kernel for dense ensembles from this dimension on
(measured, 2 cores: path/grouped 315/650 ns per path-step at ``d = 20``, 676/853 at
32, 1725/1465 at 50, 15539/6970 at 100)."""


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """Keyword-only description of one Monte Carlo run, validated on construction
    (``B <= n`` and the dense requirement of ``method="grouped"`` are checked by
    :func:`simulate`, which knows the ensemble).

    Attributes
    ----------
    eta : float
        Learning rate ``> 0``.
    sampling : Sampling or int
        Stored as a :class:`Sampling` (an integer ``B`` means ``Sampling(B)``).
    steps, paths : int
        ``>= 1``.
    seed : int
        ``>= 0``.
    backend : {"cpu", "cuda"}
    method : {"auto", "path", "grouped"}
        ``auto``: the grouped kernel for dense ensembles with ``d >=``
        :data:`GROUPED_MIN_D`, the per-path kernel otherwise.
    record_every : int
        Must divide ``steps``.
    fit_from : int, optional
        First step of the growth and Lyapunov fits; ``None`` becomes ``steps // 2``.
    divergence_bound : float
        Norm above which a path is flagged in ``diverged_at``.
    """

    eta: float
    sampling: Sampling
    steps: int
    paths: int
    seed: int
    backend: str = "cpu"
    method: str = "auto"
    record_every: int = 1
    fit_from: int | None = None
    divergence_bound: float = 1e100

    def __post_init__(self):
        def set_(name, value):  # normalise a field of the frozen record
            object.__setattr__(self, name, value)

        set_("eta", check_positive(self.eta, "eta"))
        set_("sampling", as_sampling(self.sampling))
        set_("steps", check_int(self.steps, "steps", 1))
        set_("paths", check_int(self.paths, "paths", 1))
        set_("seed", check_seed(self.seed))
        set_("record_every", check_int(self.record_every, "record_every", 1))
        if self.steps % self.record_every:
            raise ValueError(f"record_every must divide steps={self.steps}, "
                             f"got {self.record_every}")
        set_("fit_from", self.steps // 2 if self.fit_from is None
             else check_int(self.fit_from, "fit_from", 0, self.steps))
        check_choice(self.backend, "backend", BACKENDS)
        check_choice(self.method, "method", METHODS)
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
    growth_fit : sim.estimates.Fit
        Fitted slope of ``log E||x_t||^2`` per step over ``t >= fit_from`` (to compare
        with ``log rho(T)``), its standard error and 95% interval from a
        delete-one-group jackknife over 100 groups of paths, and a status that says
        why a fit could not be made. ``growth_rate``, ``growth_rate_se`` and
        ``growth_rate_ci`` read it.
    lyapunov_fit : sim.estimates.Fit
        Mean per-step growth of ``log||x_t||`` over ``t >= fit_from``, its standard
        error (independent paths) and 95% interval; ``lyapunov``, ``lyapunov_se`` and
        ``lyapunov_ci`` read it.
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
    growth_fit: Fit
    lyapunov_fit: Fit
    ess: np.ndarray = field(repr=False)
    log_norms: np.ndarray = field(repr=False)
    diverged_at: np.ndarray = field(repr=False)
    config: SimulationConfig = None

    @property
    def growth_rate(self) -> float:
        return self.growth_fit.value

    @property
    def growth_rate_se(self) -> float:
        return self.growth_fit.se

    @property
    def growth_rate_ci(self) -> tuple:
        return self.growth_fit.ci

    @property
    def lyapunov(self) -> float:
        return self.lyapunov_fit.value

    @property
    def lyapunov_se(self) -> float:
        return self.lyapunov_fit.se

    @property
    def lyapunov_ci(self) -> tuple:
        return self.lyapunov_fit.ci

    def reliable_until(self, ess_min: float = 200.0) -> int:
        """Last recorded step up to which the effective sample size stays
        ``>= ess_min`` (``-1`` if even ``t = 0`` falls short)."""
        bad = np.flatnonzero(self.ess < ess_min)
        if bad.size == 0:
            return int(self.t[-1])
        return int(self.t[bad[0] - 1]) if bad[0] > 0 else -1

    def fit_growth(self, t_from: int = 0, t_to: int | None = None) -> Fit:
        """Growth rate of ``log E||x_t||^2``, its jackknife standard error and 95%
        interval, fitted over the recorded steps ``t_from <= t <= t_to``."""
        t_to = int(self.t[-1]) if t_to is None else t_to
        summary, w, c = moment_summaries(self.log_norms)
        return growth_fit(w, c, summary["log_mean_sq_norm"], self.t,
                          (self.t >= t_from) & (self.t <= t_to))


def path_states(seed: int, paths: int) -> np.ndarray:
    """Initial xoroshiro128+ states ``(paths, 2)`` derived from one integer seed by
    ``SeedSequence``; path ``p``'s stream does not depend on ``paths``' blocking."""
    seq = np.random.SeedSequence(check_seed(seed))
    states = seq.generate_state(2 * paths, dtype=np.uint64).reshape(paths, 2)
    zero = (states[:, 0] == 0) & (states[:, 1] == 0)
    states[zero, 0] = np.uint64(0x9E3779B97F4A7C15)  # all-zero is the one bad state
    return states


def _x0_array(x0, d: int, paths: int):
    if x0 is None:
        return np.zeros((1, d)), True
    arr = real_array(x0, "x0")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != d or arr.shape[0] not in (1, paths):
        raise ValueError(f"x0 must have shape ({d},) or ({paths}, {d}), got {np.shape(x0)}")
    if np.any(np.all(arr == 0, axis=1)):
        raise ValueError("x0 must be non-zero (the minimum itself is a fixed point)")
    return np.ascontiguousarray(arr), False


def kernel_args(ens: Ensemble, cfg: SimulationConfig, x0=None) -> K.PathArgs:
    """The :data:`sim._kernels.PathArgs` of one run: the unit-scale ensemble
    (``ens.unit``, learning rate ``eta * ens.scale``), random streams and work arrays."""
    unit = ens.unit
    d, n, P = ens.d, ens.n, cfg.paths
    smp = cfg.sampling
    x0_arr, random_x0 = _x0_array(x0, d, P)
    dummy = np.zeros((1, 1, 1))
    return K.PathArgs(
        Hs=unit.Hs if unit.Hs is not None else dummy,
        G=unit.G if unit.G is not None else dummy,
        Hbar=np.ascontiguousarray(unit.H), dense=unit.G is None,
        scheme=SCHEME_CODES[smp.scheme], n=n, B=smp.B,
        prob=float(smp.p) if smp.p is not None else 0.0, drop_last=smp.drop_last,
        eta=cfg.eta * ens.scale, steps=cfg.steps, record_every=cfg.record_every,
        x0=x0_arr, random_x0=random_x0, states=path_states(cfg.seed, P),
        X=np.empty((P, d)), Y=np.empty((P, d)), IDX=np.zeros((P, smp.B), dtype=np.int64),
        PERM=np.zeros((P, n if smp.scheme == "reshuffle" else 1), dtype=np.int64),
        POS=np.zeros(P, dtype=np.int64), out_log=np.empty((P, cfg.steps // cfg.record_every + 1)),
        diverged_at=np.empty(P, dtype=np.int64), log_bound=float(np.log(cfg.divergence_bound)),
    )


def _method(ens: Ensemble, cfg: SimulationConfig) -> str:
    if cfg.method == "auto":
        return "path" if ens.has_factors or ens.d < GROUPED_MIN_D else "grouped"
    return cfg.method


def _run_cpu(ens: Ensemble, cfg: SimulationConfig, args: K.PathArgs, parallel: bool = True):
    if _method(ens, cfg) == "path":
        (K.simulate_paths_parallel if parallel else K.simulate_paths_serial)(args)
        return
    P, width = args.IDX.shape
    K.simulate_grouped(args, K.GroupedWork(
        CNT=np.zeros(P, dtype=np.int64), SLOT=np.zeros((P, width), dtype=np.int64),
        ROWS=np.zeros(P * width, dtype=np.int64), OFF=np.zeros(ens.n + 2, dtype=np.int64),
        Z=np.empty((P * width, ens.d))))


def _config(eta, sampling, steps, paths, seed, config, options) -> SimulationConfig:
    if isinstance(eta, SimulationConfig):
        eta, config = None, eta
    if config is None:
        return SimulationConfig(eta=eta, sampling=sampling, steps=steps, paths=paths,
                                seed=seed, **options)
    if not isinstance(config, SimulationConfig):
        raise TypeError(f"config must be a sim.SimulationConfig, got {type(config).__name__}")
    given = [k for k, v in dict(eta=eta, sampling=sampling, steps=steps, paths=paths,
                                seed=seed).items() if v is not None]
    if given:
        raise TypeError(f"give either a SimulationConfig or {', '.join(given)}, not both")
    return config


def simulate(ens: Ensemble, eta=None, sampling=None, steps: int | None = None,
             paths: int | None = None, seed: int | None = None, *, config=None, x0=None,
             parallel: bool = True, **options) -> SimulationResult:
    """Simulate ``paths`` independent runs of linearized SGD.

    Call as ``simulate(ens, eta, sampling, steps, paths, seed, **options)`` or
    ``simulate(ens, config)`` with a :class:`SimulationConfig`.

    Parameters
    ----------
    ens : Ensemble
    eta : float
        Learning rate ``> 0``.
    sampling : Sampling or int
        Batch sampling, any scheme (an integer ``B`` means ``Sampling(B)``).
    steps, paths, seed : int
    config : SimulationConfig, optional
        Instead of the five arguments above and ``options``.
    x0 : array_like (d,) or (paths, d), optional
        Start; default a uniformly random unit vector per path (``E x_0 x_0^T = I/d``,
        the default ``M0`` of :func:`sim.moments.second_moments`). Any non-zero norm.
    parallel : bool
        CPU path method only: ``False`` runs the serial compilation of the same kernel.
    **options
        ``backend``, ``method``, ``record_every``, ``fit_from``, ``divergence_bound``:
        the fields of :class:`SimulationConfig`.

    Returns
    -------
    SimulationResult

    Notes
    -----
    Cost ``O(paths * steps * B * d^2)`` dense, ``O(paths * steps * B * d r)`` with
    factors. Every path has its own xoroshiro128+ stream derived from ``seed``, so
    the result is the same for any thread count and on the CUDA backend. The kernels
    run on ``ens.unit`` with ``eta * ens.scale`` and a norm that cannot overflow, so
    any ``eta a`` up to about ``1e300`` and any start norm give finite log-norms.
    """
    check_ensemble(ens)
    cfg = _config(eta, sampling, steps, paths, seed, config, options)
    cfg.sampling.check(ens.n)
    if cfg.method == "grouped" and ens.has_factors:
        raise ValueError("method='grouped' needs a dense ensemble (factors use 'path')")
    args = kernel_args(ens, cfg, x0)
    if cfg.backend == "cpu":
        _run_cpu(ens, cfg, args, parallel)
    else:
        from sim import cuda as cuda_backend

        cuda_backend.run(args)
    t = np.arange(0, cfg.steps + 1, cfg.record_every)
    L = args.out_log
    summary, w, c = moment_summaries(L)
    growth = growth_fit(w, c, summary["log_mean_sq_norm"], t, t >= cfg.fit_from)
    return SimulationResult(t=t, **summary, growth_fit=growth,
                            lyapunov_fit=lyapunov_fit(L, t, cfg.fit_from), log_norms=L,
                            diverged_at=args.diverged_at, config=cfg)


@dataclass(frozen=True)
class LyapunovEstimate:
    """Top Lyapunov exponent of ``prod (I - eta H_xi)`` per step, with a 95% interval.
    Almost-sure stability iff it is ``<= 0``. ``status``/``message`` as in
    :class:`sim.estimates.Fit`."""

    value: float
    ci: tuple
    se: float
    paths: int
    steps: int
    status: str = "ok"
    message: str = ""


def lyapunov_exponent(ens: Ensemble, eta: float, sampling, steps: int = 2000,
                      paths: int = 1024, seed: int = 0, *, burn_in: int | None = None,
                      backend: str = "cpu") -> LyapunovEstimate:
    """Estimate ``lim (1/t) log||x_t||`` from ``paths`` runs of ``steps`` steps.

    Each path gives ``(log||x_T|| - log||x_b||)/(T - b)`` after a burn-in ``b``
    (default ``steps // 10``); paths are independent, so the interval is the
    t-interval of their mean. ``sampling`` is a :class:`Sampling` or an integer ``B``.
    """
    steps = check_int(steps, "steps", 2)
    burn_in = steps // 10 if burn_in is None else check_int(burn_in, "burn_in", 0, steps - 1)
    every = int(np.gcd(steps, burn_in)) if burn_in else steps
    res = simulate(ens, eta, sampling, steps, paths, seed, backend=backend,
                   record_every=every, fit_from=burn_in)
    f = res.lyapunov_fit
    return LyapunovEstimate(f.value, f.ci, f.se, paths, steps, f.status, f.message)


__all__ = ["simulate", "SimulationResult", "SimulationConfig", "lyapunov_exponent",
           "LyapunovEstimate", "path_states", "kernel_args", "BACKENDS", "METHODS"]
