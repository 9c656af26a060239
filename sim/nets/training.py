"""Training small MLPs with GD, SGD and heavy-ball momentum: one model or many at once.

Every batch comes from the linear engine's sampler on the model's own random stream
(:func:`sim._streams.path_states` of its seed), so ``train(seed=s)`` and the linear
simulator with seed ``s`` draw the same batches, and :func:`train_many` equals a loop
of :func:`train`, bit for bit. GD is ``Sampling(n)``. Divergence is data: a run whose
loss exceeds ``loss_bound`` (or becomes NaN) stops with ``diverged=True``.

The update is PyTorch's SGD with momentum ``mu``: ``v <- mu v + g``,
``theta <- theta - eta v`` (plain SGD at ``mu = 0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim._kernels import FULL_BATCH
from sim._streams import path_states, sampler_args, sampler_arrays, seeded_states
from sim._validate import (
    check_bool,
    check_choice,
    check_int,
    check_positive,
    check_real,
    check_seed,
    real_array,
)
from sim.nets import _kernels as NK
from sim.nets.mlp import MLP
from sim.sampling import Sampling, as_sampling

BACKENDS = ("cpu", "cuda")
TRAIN_METHODS = ("auto", "kernel", "blas")
BLAS_WORK = 20_000
"""``method="auto"`` of :func:`train` runs the NumPy (BLAS) loop when a step touches
more than this many parameter-sample pairs (``B p``), the numba kernel below."""


def default_record_every(steps: int) -> int:
    """``gcd(steps, steps // 100)`` (at least 1): a divisor of ``steps``, and ``steps // 100``
    itself when that divides it (loss curves of about 100 points)."""
    return math.gcd(steps, max(1, steps // 100))


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Keyword-only options of a training run shared by every model, validated on
    construction (the per-model learning rate, sampling, seed and momentum are
    arguments of :func:`train` and :func:`train_many`).

    Attributes
    ----------
    steps : int
        ``>= 1``.
    record_every : int, optional
        Steps between recorded full-data loss and accuracy (must divide ``steps``);
        ``None`` becomes :func:`default_record_every`.
    loss_tol : float, optional
        A model stops at the first recorded step whose full loss is ``<= loss_tol``.
    loss_bound : float
        A model whose full loss exceeds it (or is NaN) stops as diverged.
    warmup : int
        Linear learning-rate warm-up: step ``t`` uses ``eta min(1, t / warmup)``
        (``0``: none; at most ``steps``).
    save_every : int, optional
        Save the parameters at steps ``0, save_every, 2 save_every, ...`` (must divide
        ``steps``): the checkpoints of :class:`TrainResult`.
    backend : {"cpu", "cuda"}
    """

    steps: int
    record_every: int | None = None
    loss_tol: float | None = None
    loss_bound: float = 1e10
    warmup: int = 0
    save_every: int | None = None
    backend: str = "cpu"

    def __post_init__(self):
        def set_(name, value):  # normalise a field of the frozen record
            object.__setattr__(self, name, value)

        set_("steps", check_int(self.steps, "steps", 1))
        every = (default_record_every(self.steps) if self.record_every is None
                 else check_int(self.record_every, "record_every"))
        if self.steps % every:
            raise ValueError(f"record_every must divide steps={self.steps}, got {every}")
        set_("record_every", every)
        if self.loss_tol is not None:
            set_("loss_tol", check_real(self.loss_tol, "loss_tol"))
        set_("loss_bound", check_positive(self.loss_bound, "loss_bound"))
        set_("warmup", check_int(self.warmup, "warmup", 0, self.steps))
        if self.save_every is not None:
            set_("save_every", check_int(self.save_every, "save_every"))
            if self.steps % self.save_every:
                raise ValueError(f"save_every must divide steps={self.steps}, "
                                 f"got {self.save_every}")
        check_choice(self.backend, "backend", BACKENDS)

    @property
    def recorded_steps(self) -> np.ndarray:
        return np.arange(0, self.steps + 1, self.record_every)

    @property
    def saved_steps(self) -> np.ndarray | None:
        if self.save_every is None:
            return None
        return np.arange(0, self.steps + 1, self.save_every)


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of one training run.

    Attributes
    ----------
    theta : ndarray (p,)
        Final parameters.
    steps_run : int
        Steps taken (fewer than asked when the run converged or diverged).
    converged : bool
        The full training loss reached ``loss_tol``.
    diverged : bool
        The loss exceeded ``loss_bound`` or became NaN; ``theta`` is where it stopped.
    loss, accuracy : float
        Full training loss and accuracy at the last recorded step.
    t : ndarray (R,)
        Recorded steps ``0, record_every, ...``.
    loss_curve, accuracy_curve : ndarray (R,)
        Full training loss and accuracy at ``t`` (NaN after the run stopped).
    checkpoints : ndarray (C, p) or None
        Parameters at ``checkpoint_steps`` (``save_every``; NaN after the run stopped).
    checkpoint_steps : ndarray (C,) or None
    """

    theta: np.ndarray = field(repr=False)
    steps_run: int
    converged: bool
    diverged: bool
    loss: float
    accuracy: float
    t: np.ndarray = field(repr=False)
    loss_curve: np.ndarray = field(repr=False)
    accuracy_curve: np.ndarray = field(repr=False)
    checkpoints: np.ndarray | None = field(repr=False, default=None)
    checkpoint_steps: np.ndarray | None = field(repr=False, default=None)


@dataclass(frozen=True, eq=False)
class ManyResult:
    """Outcome of :func:`train_many`: the fields of :class:`TrainResult` stacked over
    models (``thetas`` ``(m, p)``, curves ``(m, R)``, checkpoints ``(m, C, p)``, the
    rest ``(m,)``)."""

    thetas: np.ndarray = field(repr=False)
    steps_run: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    t: np.ndarray = field(repr=False)
    loss_curves: np.ndarray = field(repr=False)
    accuracy_curves: np.ndarray = field(repr=False)
    checkpoints: np.ndarray | None = field(repr=False, default=None)
    checkpoint_steps: np.ndarray | None = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.thetas)

    def __getitem__(self, i: int) -> TrainResult:
        return TrainResult(self.thetas[i], int(self.steps_run[i]), bool(self.converged[i]),
                           bool(self.diverged[i]), float(self.loss[i]), float(self.accuracy[i]),
                           self.t, self.loss_curves[i], self.accuracy_curves[i],
                           None if self.checkpoints is None else self.checkpoints[i],
                           self.checkpoint_steps)


def _labels(Y: np.ndarray, labels) -> np.ndarray:
    if labels is None:
        return np.argmax(Y, axis=1).astype(np.int64)
    lab = np.asarray(labels)
    if lab.shape != (len(Y),) or lab.dtype.kind not in "iu":
        raise ValueError(f"labels must be {len(Y)} integers")
    return lab.astype(np.int64)


def _per_model(values, m: int, name: str, check) -> list:
    if np.ndim(values) == 0 or isinstance(values, Sampling):
        values = [values] * m
    values = list(values)
    if len(values) != m:
        raise ValueError(f"{name} must hold {m} values (one per model), got {len(values)}")
    return [check(v) for v in values]


def _momentum(value) -> float:
    mom = check_real(value, "momentum")
    if not 0 <= mom < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {value!r}")
    return mom


def _config(steps, config, options) -> TrainConfig:
    """The :class:`TrainConfig` of a call: ``config``, or one built from ``steps`` and
    the keyword options (not both)."""
    if config is None:
        return TrainConfig(steps=steps, **options)
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a sim.nets.TrainConfig, got {type(config).__name__}")
    given = (["steps"] if steps is not None else []) + sorted(options)
    if given:
        raise TypeError(f"give either a TrainConfig or {', '.join(given)}, not both")
    return config


def _check_net(net) -> MLP:
    if not isinstance(net, MLP):
        raise TypeError(f"net must be a sim.nets.MLP, got {type(net).__name__}")
    return net


def train_many(net: MLP, thetas0, X, Y, etas, samplings, steps: int | None = None,
               seeds=0, *, config: TrainConfig | None = None, momentum=0.0, labels=None,
               parallel: bool = True, **options) -> ManyResult:
    """Train ``m`` copies of ``net`` from ``thetas0`` at once, each with its own learning
    rate, sampling, seed and momentum.

    Parameters
    ----------
    net : MLP
    thetas0 : array_like (m, p)
    X, Y : array_like (n, in), (n, K)
    etas : float or array_like (m,)
        Learning rates (after the warm-up).
    samplings : Sampling, int or sequence of them (m,)
        ``Sampling(n)`` (or ``n``) is GD.
    steps : int
        Or give ``config``.
    seeds : int or array_like (m,)
        One non-negative seed per model (its batch stream).
    config : TrainConfig, optional
        Instead of ``steps`` and ``options``.
    momentum : float or array_like (m,)
        Heavy-ball momentum in ``[0, 1)``.
    labels : array_like (n,), optional
        Class labels for the accuracy; default ``argmax Y``.
    parallel : bool
        CPU only: ``False`` runs the serial compilation of the same loop (``bool`` or
        ``numpy.bool_``).
    **options
        ``record_every``, ``loss_tol``, ``loss_bound``, ``warmup``, ``save_every``,
        ``backend``: the fields of :class:`TrainConfig`.

    Notes
    -----
    Cost per step ``O(B p)`` per model (``O(n p)`` for GD) plus ``O(n p)`` per recorded
    step; work memory ``O(p + sum(widths))`` per model. The same seed gives the same
    result whatever the thread count.
    """
    net = _check_net(net)
    cfg = _config(steps, config, options)
    parallel = check_bool(parallel, "parallel")
    X = net.check_inputs(X)
    n = len(X)
    Y = net.check_targets(Y, n)
    thetas = np.array(real_array(thetas0, "thetas0", 2), copy=True)
    if thetas.shape[1] != net.n_params:
        raise ValueError(f"thetas0 must have shape (m, {net.n_params}), got {thetas.shape}")
    m = len(thetas)
    smps = _per_model(samplings, m, "samplings", lambda s: as_sampling(s).check(n))
    eta = np.array(_per_model(etas, m, "etas", lambda e: check_positive(e, "eta")))
    seeds = _per_model(seeds, m, "seeds", check_seed)
    mom = np.array(_per_model(momentum, m, "momentum", _momentum))
    widths = np.array(net.widths, dtype=np.int64)
    offs = np.array(net.offsets, dtype=np.int64)
    reshuffle = any(s.scheme == "reshuffle" for s in smps)
    saved = cfg.saved_steps
    args = NK.TrainArgs(
        theta=thetas, vel=np.zeros_like(thetas), grad=np.zeros_like(thetas), widths=widths,
        woff=offs[:, 0].copy(), boff=offs[:, 1].copy(),
        aoff=np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64),
        relu=net.activation == "relu", c=net.c, X=X, Y=Y, labels=_labels(Y, labels),
        eta=eta, warmup=cfg.warmup, momentum=mom,
        steps=cfg.steps, record_every=cfg.record_every,
        loss_tol=-np.inf if cfg.loss_tol is None else cfg.loss_tol,
        loss_bound=cfg.loss_bound, states=seeded_states(seeds),
        IDX=np.zeros((m, max(s.B for s in smps)), dtype=np.int64),
        PERM=np.zeros((m, n if reshuffle else 1), dtype=np.int64),
        POS=np.zeros(m, dtype=np.int64), acts=np.empty((m, int(widths.sum()))),
        delta=np.empty((m, 2, int(widths.max()))),
        loss_curve=np.empty((m, len(cfg.recorded_steps))),
        acc_curve=np.empty((m, len(cfg.recorded_steps))), steps_run=np.zeros(m, dtype=np.int64),
        status=np.zeros(m, dtype=np.int64), save_every=cfg.save_every or 0,
        saved=np.empty((m, len(saved), net.n_params) if saved is not None else (m, 0, 0)))
    sampler = sampler_arrays(smps, n)
    if cfg.backend == "cpu":
        (NK.train_models_parallel if parallel else NK.train_models_serial)(args, sampler)
    else:
        from sim.nets import cuda as nets_cuda

        nets_cuda.run(args, sampler)
    last = np.array([np.flatnonzero(np.isfinite(c))[-1] if np.isfinite(c).any() else 0
                     for c in args.loss_curve])
    rows = np.arange(m)
    return ManyResult(thetas=args.theta, steps_run=args.steps_run,
                      converged=args.status == NK.CONVERGED, diverged=args.status == NK.DIVERGED,
                      loss=args.loss_curve[rows, last], accuracy=args.acc_curve[rows, last],
                      t=cfg.recorded_steps, loss_curves=args.loss_curve,
                      accuracy_curves=args.acc_curve,
                      checkpoints=args.saved if saved is not None else None,
                      checkpoint_steps=saved)


def _train_blas(net, theta0, X, Y, eta, smp, seed, momentum, cfg: TrainConfig,
                labels) -> TrainResult:
    """The same training as the kernel, each step one vectorised NumPy gradient (BLAS):
    same batches, same update, round-off differences only."""
    n, steps, every = len(X), cfg.steps, cfg.record_every
    IDX = np.zeros((steps, smp.B), dtype=np.int64)
    CNT = np.zeros(steps, dtype=np.int64)
    NK.draw_batches(path_states(seed, 1), sampler_args(smp, n), IDX, CNT)
    lab = _labels(Y, labels)
    loss_tol = -np.inf if cfg.loss_tol is None else cfg.loss_tol
    loss_curve = np.full(len(cfg.recorded_steps), np.nan)
    acc_curve = np.full(len(cfg.recorded_steps), np.nan)
    saved_steps = cfg.saved_steps
    saved = None if saved_steps is None else np.full((len(saved_steps), len(theta0)), np.nan)
    theta, vel = theta0.copy(), np.zeros_like(theta0)

    def record(t):
        # A diverging run overflows to inf: that is data (status DIVERGED), not a warning.
        with np.errstate(over="ignore", invalid="ignore"):
            out = net.forward(theta, X) if np.all(np.isfinite(theta)) else None
            loss = np.nan if out is None else float(net.c / 2 * np.sum((out - Y) ** 2) / n)
        acc = np.nan if out is None else float(np.mean(np.argmax(out, axis=1) == lab))
        if t % every == 0:
            loss_curve[t // every], acc_curve[t // every] = loss, acc
        if not loss <= cfg.loss_bound:
            return NK.DIVERGED
        return NK.CONVERGED if loss <= loss_tol else NK.RUNNING

    def save(t):
        if saved is not None and t % cfg.save_every == 0:
            saved[t // cfg.save_every] = theta

    save(0)
    status, t = record(0), 0
    while status == NK.RUNNING and t < steps:
        rows = slice(None) if CNT[t] == FULL_BATCH else IDX[t, :CNT[t]]
        t += 1
        with np.errstate(over="ignore", invalid="ignore"):
            g = net.gradient(theta, X[rows], Y[rows]) if np.all(np.isfinite(theta)) \
                else np.full_like(theta, np.nan)
            vel = momentum * vel + g
            theta = theta - eta * NK.warmup_factor(t, cfg.warmup) * vel
        save(t)
        if t % every == 0 or t == steps:
            status = record(t)
    last = np.flatnonzero(np.isfinite(loss_curve))
    i = last[-1] if last.size else 0
    return TrainResult(theta, t, status == NK.CONVERGED, status == NK.DIVERGED,
                       float(loss_curve[i]), float(acc_curve[i]), cfg.recorded_steps,
                       loss_curve, acc_curve, saved, saved_steps)


def train(net: MLP, theta0, X, Y, eta: float, sampling, steps: int | None = None,
          seed: int = 0, *, config: TrainConfig | None = None, momentum: float = 0.0,
          labels=None, method: str = "auto", **options) -> TrainResult:
    """Train one network with GD/SGD from ``theta0``.

    Parameters
    ----------
    net : MLP
    theta0 : array_like (p,)
    X, Y : array_like (n, in), (n, K)
    eta : float
        Learning rate (after the warm-up).
    sampling : Sampling or int
        ``Sampling(n)`` (or ``n``) is GD.
    steps : int
        Or give ``config``.
    seed : int
    config : TrainConfig, optional
        Instead of ``steps`` and ``options``.
    momentum, labels
        As in :func:`train_many`.
    method : {"auto", "kernel", "blas"}
        ``kernel``: :func:`train_many` with one model (the same code and numbers, bit
        for bit); ``blas``: a NumPy loop whose matrix products use BLAS (fast for large
        networks and batches; the same batches and update, equal to round-off);
        ``auto``: ``blas`` when ``B p`` exceeds :data:`BLAS_WORK` on the CPU.
    **options
        The fields of :class:`TrainConfig` but ``steps``.

    Returns
    -------
    TrainResult
    """
    net = _check_net(net)
    cfg = _config(steps, config, options)
    theta0 = net.check_theta(theta0)
    check_choice(method, "method", TRAIN_METHODS)
    if method != "kernel" and cfg.backend == "cpu":
        X_, smp = net.check_inputs(X), as_sampling(sampling)
        work = smp.B * net.n_params if smp.scheme != "mixture" else len(X_) * net.n_params
        if method == "blas" or work > BLAS_WORK:
            smp.check(len(X_))
            return _train_blas(net, theta0, X_, net.check_targets(Y, len(X_)),
                               check_positive(eta, "eta"), smp, check_seed(seed),
                               _momentum(momentum), cfg, labels)
    return train_many(net, theta0[None, :], X, Y, [eta], [sampling], seeds=[seed], config=cfg,
                      momentum=[momentum], labels=labels)[0]


__all__ = ["train", "train_many", "TrainConfig", "TrainResult", "ManyResult", "TRAIN_METHODS",
           "BLAS_WORK", "default_record_every"]
