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
from sim._streams import path_states, sampler_args, seeded_states
from sim._validate import (
    check_bool,
    check_choice,
    check_int,
    check_memory,
    check_positive,
    check_seed,
    real_array,
)
from sim.ensembles import Ensemble, check_ensemble
from sim.estimates import Fit, growth_fit, lyapunov_fit, moment_summaries
from sim.sampling import Sampling, as_sampling

BACKENDS = ("cpu", "cuda")
SIMULATION_METHODS = ("auto", "path", "grouped")
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
        check_choice(self.method, "method", SIMULATION_METHODS)
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
    direction : ndarray (paths, d)
        ``x_T / ||x_T||`` of every path at the last step: with ``log_norms[:, -1]`` the
        end state, from which a run can be continued (``x0=``) or any function of
        ``x_T`` evaluated.
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
    direction: np.ndarray = field(repr=False, default=None)
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


def run_memory(ens: Ensemble, cfg: SimulationConfig) -> float:
    """Estimated bytes of one run of :func:`simulate`: per path the state and work rows
    (``x``, ``y``, the batch, the permutation of random reshuffling, two streams and two
    counters), the grouped kernel's gathered rows, and the recorded log-norms ``(paths,
    R)`` five times over (the kernel's output and the temporaries of
    :func:`sim.estimates.moment_summaries`)."""
    P, B, d = cfg.paths, cfg.sampling.B, ens.d
    width = ens.n if cfg.sampling.scheme == "reshuffle" else 1
    R = cfg.steps // cfg.record_every + 1
    per_path = 3 * d + 2 * B + width + 6
    if _method(ens, cfg) == "grouped":
        per_path += B * (d + 2)
    return 8.0 * P * (per_path + 5 * R)


def _check_run_memory(ens: Ensemble, cfg: SimulationConfig, budget) -> None:
    check_memory(run_memory(ens, cfg), "paths, steps", budget,
                 f"{cfg.paths} paths recorded at {cfg.steps // cfg.record_every + 1} steps "
                 f"(d = {ens.d}, B = {cfg.sampling.B})")


def kernel_args(ens: Ensemble, cfg: SimulationConfig, x0=None, *, memory_budget=None
                ) -> K.Run:
    """What the kernels of one run take (:data:`sim._kernels.Run`): the
    :data:`~sim._kernels.PathArgs` (learning rate ``eta * ens.scale``, random streams, work
    arrays), the unit-scale ensemble ``ens.unit`` and the sampler. A run estimated above
    ``memory_budget`` bytes (:func:`run_memory`; default half of physical memory) is
    refused before anything is allocated."""
    _check_run_memory(ens, cfg, memory_budget)
    unit = ens.unit
    d, n, P = ens.d, ens.n, cfg.paths
    smp = cfg.sampling
    x0_arr, random_x0 = _x0_array(x0, d, P)
    return K.Run(K.PathArgs(
        eta=cfg.eta * ens.scale, steps=cfg.steps, record_every=cfg.record_every,
        x0=x0_arr, random_x0=random_x0, states=path_states(cfg.seed, P),
        X=np.empty((P, d)), Y=np.empty((P, d)), IDX=np.zeros((P, smp.B), dtype=np.int64),
        PERM=np.zeros((P, n if smp.scheme == "reshuffle" else 1), dtype=np.int64),
        POS=np.zeros(P, dtype=np.int64), out_log=np.empty((P, cfg.steps // cfg.record_every + 1)),
        diverged_at=np.empty(P, dtype=np.int64), log_bound=float(np.log(cfg.divergence_bound)),
    ), K.ensemble_args(unit), sampler_args(smp, n))


def _method(ens: Ensemble, cfg: SimulationConfig) -> str:
    if cfg.method == "auto":
        return "path" if ens.has_factors or ens.d < GROUPED_MIN_D else "grouped"
    return cfg.method


def _run_cpu(ens: Ensemble, cfg: SimulationConfig, run: K.Run, parallel: bool = True):
    if _method(ens, cfg) == "path":
        (K.simulate_paths_parallel if parallel else K.simulate_paths_serial)(*run)
        return
    P, width = run.a.IDX.shape
    K.simulate_grouped(*run, K.GroupedWork(
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
             parallel: bool = True, memory_budget=None, **options) -> SimulationResult:
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
    memory_budget : float, optional
        Bytes the run may take (:func:`run_memory`: about ``8 paths (3 d + 2 B + 5 R)``
        for ``R`` recorded steps, plus ``8 paths n`` for random reshuffling); default half
        of physical memory (:data:`sim._validate.MEMORY_FRACTION`). A larger estimate is
        refused with a ``ValueError`` naming ``paths, steps`` before anything is
        allocated.
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
    parallel = check_bool(parallel, "parallel")
    cfg = _config(eta, sampling, steps, paths, seed, config, options)
    cfg.sampling.check(ens.n)
    if cfg.method == "grouped" and ens.has_factors:
        raise ValueError("method='grouped' needs a dense ensemble (factors use 'path')")
    run = kernel_args(ens, cfg, x0, memory_budget=memory_budget)
    args = run.a
    if cfg.backend == "cpu":
        _run_cpu(ens, cfg, run, parallel)
    else:
        from sim import cuda as cuda_backend

        cuda_backend.run(run)
    t = np.arange(0, cfg.steps + 1, cfg.record_every)
    L = args.out_log
    summary, w, c = moment_summaries(L)
    growth = growth_fit(w, c, summary["log_mean_sq_norm"], t, t >= cfg.fit_from)
    return SimulationResult(t=t, **summary, growth_fit=growth,
                            lyapunov_fit=lyapunov_fit(L, t, cfg.fit_from), log_norms=L,
                            diverged_at=args.diverged_at, direction=args.X, config=cfg)


@dataclass(frozen=True)
class LyapunovEstimate:
    """Top Lyapunov exponent of ``prod (I - eta H_xi)`` per step, with a 95% interval.
    Almost-sure stability iff it is ``< 0`` (at 0 the log-norm is a driftless walk).
    ``status``/``message`` as in :class:`sim.estimates.Fit`."""

    value: float
    ci: tuple
    se: float
    paths: int
    steps: int
    status: str = "ok"
    message: str = ""


def lyapunov_exponent(ens: Ensemble, eta: float, sampling, steps: int = 2000,
                      paths: int = 1024, seed: int = 0, *, burn_in: int | None = None,
                      backend: str = "cpu", memory_budget=None) -> LyapunovEstimate:
    """Estimate ``lim (1/t) log||x_t||`` from ``paths`` runs of ``steps`` steps.

    Each path gives ``(log||x_T|| - log||x_b||)/(T - b)`` after a burn-in ``b``
    (default ``steps // 10``); paths are independent, so the interval is the
    t-interval of their mean. ``sampling`` is a :class:`Sampling` or an integer ``B``.
    ``memory_budget``: as in :func:`simulate` (default half of physical memory).
    """
    steps = check_int(steps, "steps", 2)
    burn_in = steps // 10 if burn_in is None else check_int(burn_in, "burn_in", 0, steps - 1)
    every = int(np.gcd(steps, burn_in)) if burn_in else steps
    res = simulate(ens, eta, sampling, steps, paths, seed, backend=backend,
                   record_every=every, fit_from=burn_in, memory_budget=memory_budget)
    f = res.lyapunov_fit
    return LyapunovEstimate(f.value, f.ci, f.se, paths, steps, f.status, f.message)


@dataclass(frozen=True)
class AlmostSureThreshold:
    """The learning rate where the top Lyapunov exponent of linearized SGD changes sign,
    bracketed by Monte Carlo verdicts (``docs/theory.md``, sections 4 and 8).

    Attributes
    ----------
    value : float
        Zero of the exponent, linearly interpolated between the two evaluated learning
        rates nearest the sign change.
    lo, hi : float
        ``eta_as`` lies in ``[lo, hi]``: the exponent is ``<= 0`` at ``lo`` (the
        mean-square threshold, by Jensen's inequality ``lambda <= log rho(T) / 2``, or
        a 95% interval below 0) and its 95% interval lies above 0 at ``hi``. Each
        decision is a 95% test of one sign; the few decisions of a bracket share their
        random numbers, so they err together or not at all.
    evaluations : tuple of (eta, lambda, ci_lo, ci_hi)
        Every estimate made, all with the same seed (common random numbers, so the
        estimates vary smoothly with ``eta``).
    status : {"ok", "exact", "undecided", "no_upper"}
        ``exact``: a full batch (GD), whose exponent ``max_j log|1 - eta h_j|``
        changes sign at ``2/a`` exactly (no simulation), or the all-zero ensemble, for
        which ``x_t = x_0`` at every ``eta`` (``value = lo = hi = inf``); ``undecided``: bisection
        stopped at a learning rate whose interval contains 0 (``[lo, hi]`` is then as
        narrow as ``paths`` and ``steps`` allow); ``no_upper``: no learning rate up to
        the last one tried (``lower (1 + expand 2^9)`` at most) was shown unstable
        (``hi = inf``).
    message : str
    """

    value: float
    lo: float
    hi: float
    evaluations: tuple
    status: str = "ok"
    message: str = ""


def almost_sure_threshold(ens: Ensemble, sampling, *, lower: float | None = None,
                          rtol: float = 0.005, expand: float = 0.02, steps: int = 1000,
                          paths: int = 128, seed: int = 0, max_evals: int = 24,
                          memory_budget=None) -> AlmostSureThreshold:
    """``eta_as``: where the Lyapunov exponent of ``prod (I - eta H_xi)`` crosses 0, by
    bracketing and bisection on :func:`lyapunov_exponent`.

    Parameters
    ----------
    ens : Ensemble
    sampling : Sampling or int
    lower : float, optional
        A learning rate known to have exponent ``<= 0``; default the exact mean-square
        threshold ``eta_exact`` (:func:`sim.thresholds`), a lower bound of ``eta_as``.
    rtol : float
        Bisection stops when ``hi / lo - 1 <= rtol``.
    expand : float
        The first upper candidate is ``lower * (1 + expand)``; the excess doubles until
        the exponent is shown positive.
    steps, paths, seed : int
        Of every :func:`lyapunov_exponent` call (one seed for all: common random
        numbers).
    max_evals : int
        Exponent estimates at most.
    memory_budget : float, optional
        Of every :func:`lyapunov_exponent` call, as in :func:`simulate` (default half of
        physical memory).

    Returns
    -------
    AlmostSureThreshold

    Notes
    -----
    Each estimate costs ``paths * steps`` path-steps (:func:`simulate`); a bracket to
    ``rtol = 0.005`` takes about ``log2(0.02 / 0.005) + 3`` of them.
    """
    check_ensemble(ens)
    rtol = check_positive(rtol, "rtol")
    expand = check_positive(expand, "expand")
    max_evals = check_int(max_evals, "max_evals", 2)
    smp = as_sampling(sampling)
    smp.check(ens.n)
    if ens.a == 0:  # every H_i = 0: x_t = x_0 at every eta
        return AlmostSureThreshold(np.inf, np.inf, np.inf, (), "exact",
                                   "every H_i is 0: the map is the identity and x_t = x_0 "
                                   "at every eta (never unstable)")
    if smp.scheme != "reshuffle" and smp.gamma(ens.n) == 0:  # a full batch: GD's map
        eta_gd = 2.0 / ens.a
        return AlmostSureThreshold(eta_gd, eta_gd, eta_gd, (), "exact",
                                   "full batch: the deterministic map I - eta H, whose "
                                   "exponent max_j log|1 - eta h_j| changes sign at 2/a")
    if lower is None:
        from sim.stability import thresholds

        lower = thresholds(ens, smp).eta_exact
    lo = check_positive(lower, "lower")
    evals = []

    def exponent(eta):
        est = lyapunov_exponent(ens, eta, sampling, steps, paths, seed,
                                memory_budget=memory_budget)
        evals.append((float(eta), float(est.value), float(est.ci[0]), float(est.ci[1])))
        return est

    hi, status, message = np.inf, "ok", ""
    base = lo
    for k in range(min(10, max_evals)):
        eta = base * (1 + expand * 2**k)
        est = exponent(eta)
        if est.ci[0] > 0:
            hi = eta
            break
        if est.ci[1] < 0:
            lo = eta
    else:
        status = "no_upper"
        message = f"the exponent was not shown positive up to eta = {eta:.4g}"
    while status == "ok" and hi / lo - 1 > rtol and len(evals) < max_evals:
        mid = float(np.sqrt(lo * hi))
        est = exponent(mid)
        if est.ci[0] > 0:
            hi = mid
        elif est.ci[1] < 0:
            lo = mid
        else:
            status = "undecided"
            message = (f"the exponent's 95% interval contains 0 at eta = {mid:.6g}: "
                       f"[lo, hi] is as narrow as {paths} paths x {steps} steps decide")
    pts = sorted(evals)
    below = [e for e in pts if e[1] <= 0]
    above = [e for e in pts if e[1] > 0 and (not below or e[0] > below[-1][0])]
    if below and above:
        (e0, l0, *_), (e1, l1, *_) = below[-1], above[0]
        value = e0 + (e1 - e0) * (-l0) / (l1 - l0)
    elif above:
        value = lo
    else:
        value = hi
    return AlmostSureThreshold(float(min(max(value, lo), hi)), float(lo), float(hi),
                               tuple(evals), status, message)


def exit_steps(ens: Ensemble, eta: float, sampling, x0, steps: int, *, Q=None,
               factor: float = 100.0, check_every: int = 1, seeds=0, memory_budget=None
               ) -> np.ndarray:
    """First step at which the quadratic form ``x_t^T Q x_t`` of each path exceeds
    ``factor`` times its start value ``x_0^T Q x_0`` (``-1``: never within ``steps``).

    With ``Q = H`` the form is twice the loss of the linearized model, so this is "SGD
    leaves the minimum" for linearized SGD, checked as for a network every
    ``check_every`` steps.

    Parameters
    ----------
    ens : Ensemble
    eta : float
    sampling : Sampling or int
    x0 : array_like (paths, d)
        Start of every path (each with ``x_0^T Q x_0 > 0``).
    steps : int
        Horizon (a multiple of ``check_every``).
    Q : array_like (d, d) or (d,), optional
        Symmetric PSD form, or the diagonal of a diagonal one (``O(d)`` per check
        instead of ``O(d^2)``; in the basis of :meth:`sim.Ensemble.from_gram` ``H`` is
        diagonal, ``Lambda / n``); default ``ens.H``.
    factor : float
        ``> 1``.
    check_every : int
        The form is checked at steps ``check_every, 2 check_every, ...``.
    seeds : int or sequence of int
        One seed for all paths (streams as in :func:`simulate`), or one per path with
        the streams of :func:`sim.nets.train_many`, so that path ``j`` and a network
        trained with ``seeds[j]`` draw the same batches (for random reshuffling only
        within the first ``check_every`` steps: each check starts a new epoch here).
    memory_budget : float, optional
        As in :func:`simulate` (default half of physical memory).

    Returns
    -------
    ndarray (paths,) int

    Notes
    -----
    One kernel run of ``check_every`` steps per check, the random streams continuing
    from one run to the next (random reshuffling starts a new epoch at every check).
    Cost: :func:`simulate`'s, plus ``O(paths d^2)`` per check.
    """
    check_ensemble(ens)
    x0 = real_array(x0, "x0", 2)
    if x0.shape[1] != ens.d:
        raise ValueError(f"x0 must have shape (paths, {ens.d}), got {x0.shape}")
    P = len(x0)
    every = check_int(check_every, "check_every", 1)
    steps = check_int(steps, "steps", 1)
    if steps % every:
        raise ValueError(f"check_every must divide steps={steps}, got {every}")
    factor = check_positive(factor, "factor")
    if factor <= 1:
        raise ValueError(f"factor must exceed 1, got {factor}")
    Q = np.ascontiguousarray(ens.H if Q is None else real_array(Q, "Q"))
    if Q.ndim == 1:
        if Q.shape != (ens.d,):
            raise ValueError(f"Q must have shape ({ens.d},) as a diagonal, got {Q.shape}")
        q0 = np.sum(Q * x0 * x0, axis=1)
    elif Q.shape != (ens.d, ens.d) or not np.allclose(Q, Q.T, rtol=0,
                                                        atol=1e-12 * np.abs(Q).max()):
        raise ValueError(f"Q must be symmetric of shape ({ens.d}, {ens.d}), got shape "
                         f"{Q.shape}")
    else:
        q0 = np.sum((x0 @ Q) * x0, axis=1)
    if np.any(q0 <= 0):
        raise ValueError("x0 must have x0^T Q x0 > 0 on every path (a start in null(Q) "
                         "never leaves)")
    if np.ndim(seeds) == 0:
        states = path_states(check_seed(seeds), P)
    else:
        if len(seeds) != P:
            raise ValueError(f"seeds must hold {P} values (one per path), got {len(seeds)}")
        states = seeded_states(seeds)
    smp = as_sampling(sampling)
    smp.check(ens.n)
    if smp.scheme != "reshuffle" and smp.gamma(ens.n) == 0:
        # A full batch is the deterministic map I - eta H: run it through the mean
        # Hessian (the mixture's full-batch step, O(d^2)) instead of summing n samples.
        smp = Sampling(scheme="mixture", p=0.0)
    cfg = SimulationConfig(eta=eta, sampling=smp, steps=every, paths=P, seed=0,
                           record_every=every)
    run = kernel_args(ens, cfg, x0, memory_budget=memory_budget)
    run = run._replace(a=run.a._replace(states=states))
    out = np.full(P, -1, dtype=np.int64)
    logn, q = np.zeros(P), np.empty(P)
    bound = np.log(q0) + np.log(factor)
    for k in range(steps // every):
        _run_cpu(ens, cfg, run)
        logn += run.a.out_log[:, -1]
        X = run.a.X
        if Q.ndim == 1:
            np.einsum("pi,i,pi->p", X, Q, X, out=q)
        else:
            K.quadratic_forms(X, Q, q)
        with np.errstate(divide="ignore"):
            log_q = 2 * logn + np.log(q)
        out[(out < 0) & (log_q > bound)] = (k + 1) * every
        if k == 0:
            run = run._replace(a=run.a._replace(x0=np.empty_like(X)))
        run.a.x0[:] = X  # continue from the unit directions (log-norms kept in logn)
    return out


__all__ = ["simulate", "exit_steps", "almost_sure_threshold", "AlmostSureThreshold",
           "SimulationResult", "SimulationConfig", "lyapunov_exponent",
           "LyapunovEstimate", "kernel_args", "run_memory", "BACKENDS", "SIMULATION_METHODS"]
