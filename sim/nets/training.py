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

from sim._streams import path_states, seeded_states
from sim._validate import check_choice, check_int, check_positive, check_real, check_seed
from sim.nets import _kernels as NK
from sim.nets.mlp import MLP
from sim.sampling import SCHEME_CODES, Sampling, as_sampling

BACKENDS = ("cpu", "cuda")
METHODS = ("auto", "kernel", "blas")
BLAS_WORK = 20_000
"""``method="auto"`` of :func:`train` runs the NumPy (BLAS) loop when a step touches
more than this many parameter-sample pairs (``B p``), the numba kernel below."""


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


@dataclass(frozen=True, eq=False)
class ManyResult:
    """Outcome of :func:`train_many`: the fields of :class:`TrainResult` stacked over
    models (``thetas`` ``(m, p)``, curves ``(m, R)``, the rest ``(m,)``)."""

    thetas: np.ndarray = field(repr=False)
    steps_run: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    t: np.ndarray = field(repr=False)
    loss_curves: np.ndarray = field(repr=False)
    accuracy_curves: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.thetas)

    def __getitem__(self, i: int) -> TrainResult:
        return TrainResult(self.thetas[i], int(self.steps_run[i]), bool(self.converged[i]),
                           bool(self.diverged[i]), float(self.loss[i]), float(self.accuracy[i]),
                           self.t, self.loss_curves[i], self.accuracy_curves[i])


def default_record_every(steps: int) -> int:
    """``gcd(steps, steps // 100)`` (at least 1): a divisor of ``steps``, and ``steps // 100``
    itself when that divides it (loss curves of about 100 points)."""
    return math.gcd(steps, max(1, steps // 100))


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


def train_many(net: MLP, thetas0, X, Y, etas, samplings, steps: int, seeds, *,
               momentum=0.0, loss_tol: float | None = None, loss_bound: float = 1e10,
               record_every: int | None = None, labels=None, backend: str = "cpu",
               parallel: bool = True) -> ManyResult:
    """Train ``m`` copies of ``net`` from ``thetas0`` at once, each with its own learning
    rate, sampling, seed and momentum.

    Parameters
    ----------
    net : MLP
    thetas0 : array_like (m, p)
    X, Y : array_like (n, in), (n, K)
    etas : float or array_like (m,)
    samplings : Sampling, int or sequence of them (m,)
        ``Sampling(n)`` (or ``n``) is GD.
    steps : int
    seeds : int or array_like (m,)
        One non-negative seed per model (its batch stream).
    momentum : float or array_like (m,)
        Heavy-ball momentum in ``[0, 1)``.
    loss_tol : float, optional
        Stop a model at the first recorded step whose full loss is ``<= loss_tol``.
    loss_bound : float
        A model whose full loss exceeds it (or is NaN) stops as diverged.
    record_every : int, optional
        Steps between recorded full-data loss and accuracy (must divide ``steps``);
        default ``gcd(steps, steps // 100)`` (a divisor, at least 1).
    labels : array_like (n,), optional
        Class labels for the accuracy; default ``argmax Y``.
    backend : {"cpu", "cuda"}
        ``cuda``: one GPU thread per model, the same per-model code.
    parallel : bool
        CPU only: ``False`` runs the serial compilation of the same loop.

    Notes
    -----
    Cost per step ``O(B p)`` per model (``O(n p)`` for GD) plus ``O(n p)`` per recorded
    step; work memory ``O(p + sum(widths))`` per model. The same seed gives the same
    result whatever the thread count.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be a sim.nets.MLP, got {type(net).__name__}")
    X = net._X(X)
    n = len(X)
    Y = net._Y(Y, n)
    thetas = np.array(thetas0, dtype=np.float64, copy=True)
    if thetas.ndim != 2 or thetas.shape[1] != net.n_params:
        raise ValueError(f"thetas0 must have shape (m, {net.n_params}), got {thetas.shape}")
    if not np.all(np.isfinite(thetas)):
        raise ValueError("thetas0 must be finite")
    m = len(thetas)
    steps = check_int(steps, "steps", 1)
    record_every = default_record_every(steps) if record_every is None else check_int(
        record_every, "record_every")
    if steps % record_every:
        raise ValueError(f"record_every must divide steps={steps}, got {record_every}")
    smps = _per_model(samplings, m, "samplings", lambda s: as_sampling(s).check(n))
    eta = np.array(_per_model(etas, m, "etas", lambda e: check_positive(e, "eta")))
    seeds = _per_model(seeds, m, "seeds", check_seed)
    mom = np.array(_per_model(momentum, m, "momentum", lambda b: check_real(b, "momentum")))
    if np.any((mom < 0) | (mom >= 1)):
        raise ValueError("momentum must lie in [0, 1)")
    tol = -1.0 if loss_tol is None else check_real(loss_tol, "loss_tol")
    bound = check_positive(loss_bound, "loss_bound")
    check_choice(backend, "backend", BACKENDS)
    states = seeded_states(seeds)
    widths = np.array(net.widths, dtype=np.int64)
    offs = np.array(net.offsets, dtype=np.int64)
    Bmax = max(s.B for s in smps)
    reshuffle = any(s.scheme == "reshuffle" for s in smps)
    R = steps // record_every + 1
    args = NK.TrainArgs(
        theta=thetas, vel=np.zeros_like(thetas), grad=np.zeros_like(thetas), widths=widths,
        woff=offs[:, 0].copy(), boff=offs[:, 1].copy(),
        aoff=np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64),
        relu=net.activation == "relu", c=net.c, X=X, Y=Y, labels=_labels(Y, labels),
        scheme=np.array([SCHEME_CODES[s.scheme] for s in smps], dtype=np.int64), n=n,
        B=np.array([s.B for s in smps], dtype=np.int64),
        prob=np.array([s.p if s.p is not None else 0.0 for s in smps]),
        drop_last=np.array([s.drop_last for s in smps]), eta=eta, momentum=mom, steps=steps,
        record_every=record_every, loss_tol=tol, loss_bound=bound, states=states,
        IDX=np.zeros((m, Bmax), dtype=np.int64),
        PERM=np.zeros((m, n if reshuffle else 1), dtype=np.int64),
        POS=np.zeros(m, dtype=np.int64), acts=np.empty((m, int(widths.sum()))),
        delta=np.empty((m, 2, int(widths.max()))), loss_curve=np.empty((m, R)),
        acc_curve=np.empty((m, R)), steps_run=np.zeros(m, dtype=np.int64),
        status=np.zeros(m, dtype=np.int64))
    if backend == "cpu":
        (NK.train_models_parallel if parallel else NK.train_models_serial)(args)
    else:
        from sim.nets import cuda as nets_cuda

        nets_cuda.run(args)
    t = np.arange(0, steps + 1, record_every)
    last = np.array([np.flatnonzero(np.isfinite(c))[-1] if np.isfinite(c).any() else 0
                     for c in args.loss_curve])
    rows = np.arange(m)
    return ManyResult(thetas=args.theta, steps_run=args.steps_run,
                      converged=args.status == NK.CONVERGED, diverged=args.status == NK.DIVERGED,
                      loss=args.loss_curve[rows, last], accuracy=args.acc_curve[rows, last],
                      t=t, loss_curves=args.loss_curve, accuracy_curves=args.acc_curve)


def _train_blas(net, theta0, X, Y, eta, smp, steps, seed, momentum, loss_tol, loss_bound,
                record_every, labels) -> TrainResult:
    """The same training as the kernel, each step one vectorised NumPy gradient (BLAS):
    same batches, same update, round-off differences only."""
    n = len(X)
    IDX = np.zeros((steps, smp.B), dtype=np.int64)
    CNT = np.zeros(steps, dtype=np.int64)
    NK.draw_batches(path_states(seed, 1), SCHEME_CODES[smp.scheme], n, smp.B,
                    float(smp.p or 0.0), smp.drop_last, IDX, CNT)
    lab = _labels(Y, labels)
    R = steps // record_every + 1
    loss_curve, acc_curve = np.full(R, np.nan), np.full(R, np.nan)
    theta, vel = theta0.copy(), np.zeros_like(theta0)

    def record(t):
        with np.errstate(over="ignore", invalid="ignore"):
            out = net.forward(theta, X) if np.all(np.isfinite(theta)) else None
        loss = np.nan if out is None else float(net.c / 2 * np.sum((out - Y) ** 2) / n)
        acc = np.nan if out is None else float(np.mean(np.argmax(out, axis=1) == lab))
        if t % record_every == 0:
            loss_curve[t // record_every], acc_curve[t // record_every] = loss, acc
        if not loss <= loss_bound:
            return NK.DIVERGED
        return NK.CONVERGED if loss <= (-1.0 if loss_tol is None else loss_tol) else NK.RUNNING

    status, t = record(0), 0
    while status == NK.RUNNING and t < steps:
        rows = slice(None) if CNT[t] == -1 else IDX[t, :CNT[t]]
        with np.errstate(over="ignore", invalid="ignore"):
            g = net.gradient(theta, X[rows], Y[rows]) if np.all(np.isfinite(theta)) \
                else np.full_like(theta, np.nan)
            vel = momentum * vel + g
            theta = theta - eta * vel
        t += 1
        if t % record_every == 0 or t == steps:
            status = record(t)
    last = np.flatnonzero(np.isfinite(loss_curve))
    i = last[-1] if last.size else 0
    return TrainResult(theta, t, status == NK.CONVERGED, status == NK.DIVERGED,
                       float(loss_curve[i]), float(acc_curve[i]),
                       np.arange(0, steps + 1, record_every), loss_curve, acc_curve)


def train(net: MLP, theta0, X, Y, eta: float, sampling, steps: int, seed: int, *,
          momentum: float = 0.0, loss_tol: float | None = None, loss_bound: float = 1e10,
          record_every: int | None = None, labels=None, backend: str = "cpu",
          method: str = "auto") -> TrainResult:
    """Train one network with GD/SGD from ``theta0``.

    Parameters
    ----------
    net : MLP
    theta0 : array_like (p,)
    X, Y : array_like (n, in), (n, K)
    eta : float
    sampling : Sampling or int
        ``Sampling(n)`` (or ``n``) is GD.
    steps, seed : int
    momentum, loss_tol, loss_bound, record_every, labels, backend
        As in :func:`train_many`.
    method : {"auto", "kernel", "blas"}
        ``kernel``: :func:`train_many` with one model (the same code and numbers, bit
        for bit); ``blas``: a NumPy loop whose matrix products use BLAS (fast for large
        networks and batches; the same batches and update, equal to round-off);
        ``auto``: ``blas`` when ``B p`` exceeds :data:`BLAS_WORK` on the CPU.

    Returns
    -------
    TrainResult
    """
    theta0 = net._theta(theta0)
    check_choice(method, "method", METHODS)
    if method != "kernel" and backend == "cpu":
        X_, smp = net._X(X), as_sampling(sampling)
        work = smp.B * net.n_params if smp.scheme != "mixture" else len(X_) * net.n_params
        if method == "blas" or work > BLAS_WORK:
            smp.check(len(X_))
            steps = check_int(steps, "steps", 1)
            every = default_record_every(steps) if record_every is None else check_int(
                record_every, "record_every")
            if steps % every:
                raise ValueError(f"record_every must divide steps={steps}, got {every}")
            mom = check_real(momentum, "momentum")
            if not 0 <= mom < 1:
                raise ValueError("momentum must lie in [0, 1)")
            return _train_blas(net, theta0, X_, net._Y(Y, len(X_)),
                               check_positive(eta, "eta"), smp, steps, check_seed(seed), mom,
                               None if loss_tol is None else check_real(loss_tol, "loss_tol"),
                               check_positive(loss_bound, "loss_bound"), every, labels)
    return train_many(net, theta0[None, :], X, Y, [eta], [sampling], steps, [seed],
                      momentum=[momentum], loss_tol=loss_tol, loss_bound=loss_bound,
                      record_every=record_every, labels=labels, backend=backend)[0]


__all__ = ["train", "train_many", "TrainResult", "ManyResult", "METHODS", "BLAS_WORK"]
