"""Exact minima of a network by Gauss-Newton polish (``docs/theory.md``, section 9).

Training stops at a small but non-zero loss, where the theory of sections 3-4 does not
apply. Near an interpolating net the zero-loss set ``{theta : f(x_i; theta) = y_i}``
is a manifold, and the minimum-norm Newton step for the residual equations,

    delta = -J^T (J J^T)^+ r,

(``J`` the stacked ``n K x p`` Jacobian, ``r`` the stacked residuals) is the smallest
move that zeroes the linearized residual: the iteration converges quadratically onto
the manifold. ``J J^T`` is the empirical NTK Gram matrix (:meth:`MLP.ntk`); above a
memory budget the least-squares step is computed by LSQR with one forward-mode and
one reverse-mode pass per iteration. A step that does not lower the loss is retried
with Levenberg-Marquardt damping ``(J J^T + mu I)``.

The outcome is data: a :class:`Polish` with a status, never a silent non-minimum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse.linalg import LinearOperator, lsqr

from sim._validate import check_choice, check_int, check_positive
from sim.ensembles import RANGE_RTOL
from sim.nets.model import SQUARED_LOSSES, Model, check_model

STATUSES = ("converged", "not_interpolating", "stalled", "diverged", "max_iter")
SOLVERS = ("auto", "gram", "lsqr")
GRAM_BUDGET = 2**30
"""``solver="auto"`` forms the ``(n K)^2`` NTK Gram matrix while it takes at most this
many bytes (``n K <= 11585``), and LSQR with ``jvp``/``vjp`` above."""
STALL = 0.5
"""A step that keeps more than this fraction of the loss makes no Gauss-Newton progress
(quadratic convergence divides it by far more)."""
STALL_STEPS = 10
"""Consecutive stalled steps away from a stationary point after which the iteration
gives up (``"stalled"``, or ``"not_interpolating"`` when the residual is out of reach)."""
UNREACHABLE = 0.5
"""A stalled residual is no interpolation failure of the method but of the model when
at least this fraction of it lies outside ``range(J)``, where no step reaches it."""
STATIONARY = 1e-6
"""A stalled residual ``r`` is a least-squares point when
``||J^T r|| <= STATIONARY ||J|| ||r||`` (the gradient vanishes, the residual does not)."""
DAMPING_TRIES = 12
"""Damped retries of a step (``mu`` grows tenfold each) before the iteration stops."""
LSQR_TOL = 1e-14
"""``atol`` and ``btol`` of the LSQR solve of one step (its stopping rule covers both a
consistent and an inconsistent system)."""
LSQR_MAX_ITER = 4
"""The LSQR solve of one step stops after this many times ``n K`` iterations (exact
arithmetic needs at most ``rank J``; round-off on an ill-conditioned ``J`` more)."""


@dataclass(frozen=True, eq=False)
class Polish:
    """Outcome of :func:`polish`.

    Attributes
    ----------
    theta : ndarray (p,)
        The polished parameters (the input where nothing could be done).
    loss_before, loss : float
        Loss at the input and at ``theta``.
    displacement : float
        ``||theta - theta_in|| / ||theta_in||``: the polished minimum is a nearby
        minimum, not the trained point.
    iterations : int
        Accepted Gauss-Newton steps.
    converged : bool
        ``status == "converged"``: ``theta`` is a zero-loss minimum to ``tol``.
    status : {"converged", "not_interpolating", "stalled", "diverged", "max_iter"}
        ``not_interpolating``: the residual stalled above ``tol`` at a least-squares
        point (``J^T r = 0``, relative :data:`STATIONARY`), or stayed stalled for
        :data:`STALL_STEPS` steps with at least :data:`UNREACHABLE` of it outside
        ``range(J)``: no zero-loss point nearby, as when ``p < n K`` with generic
        targets. The message says which, with the ratio ``||J^T r|| / (||J|| ||r||)``
        (0 at a least-squares point). ``stalled``: the residual stopped decreasing
        away from any stationary point (for ReLU nets, typically a unit whose
        pre-activation each step pushes across 0). ``diverged``: the input loss
        is not finite. ``max_iter``: still decreasing when the iterations ran out.
    message : str
    losses : ndarray (iterations + 1,)
        The loss before each step and at the end.
    order : float
        Convergence order estimated from the last three residual norms above
        round-off (about 2 for quadratic convergence; NaN with fewer than three).
    rank : int
        Numerical rank of ``J J^T`` at the last step (``solver="gram"``; -1 for LSQR).
    solver : {"gram", "lsqr"}
    """

    theta: np.ndarray = field(repr=False)
    loss_before: float
    loss: float
    displacement: float
    iterations: int
    converged: bool
    status: str
    message: str
    losses: np.ndarray = field(repr=False)
    order: float
    rank: int
    solver: str


def _eigen(net: Model, theta, X, cache: dict):
    """Eigenpairs of the NTK Gram matrix at ``theta`` above :data:`RANGE_RTOL` of the
    largest (the numerical range of ``J``), made once per point."""
    if "eig" not in cache:
        lam, V = np.linalg.eigh(net.ntk(theta, X))
        keep = lam > RANGE_RTOL * max(lam[-1], 0.0)
        cache["eig"] = lam[keep], V[:, keep]
    return cache["eig"]


def _gram_step(net: Model, theta, X, r: np.ndarray, mu: float, cache: dict):
    """``-J^T (J J^T + mu I)^+ r`` from the eigendecomposition of the NTK Gram matrix
    (made once per point, reused by the damped retries)."""
    lam, V = _eigen(net, theta, X, cache)
    w = V @ ((V.T @ r.ravel()) / (lam + mu))
    return -net.vjp(theta, X, w.reshape(r.shape)), len(lam), float(lam[-1]) if len(lam) else 0.0


def _lsqr_step(net: Model, theta, X, r: np.ndarray, mu: float, cache: dict):
    """The same step without the Gram matrix: LSQR on ``min ||J delta + r||^2 + mu
    ||delta||^2`` with one ``J`` and one ``J^T`` pass per iteration. From ``delta = 0`` its
    iterates stay in ``range(J^T)``, so it returns the minimum-norm (damped) least-squares
    step ``-J^T (J J^T + mu I)^+ r`` also when ``r`` is not in the range of ``J``."""
    if mu == 0.0 and "step0" in cache:
        return cache["step0"]
    shape, p = r.shape, net.n_params
    op = LinearOperator((r.size, p), dtype=np.float64,
                        matvec=lambda v: net.jvp(theta, X, v).ravel(),
                        rmatvec=lambda u: net.vjp(theta, X, u.reshape(shape)))
    out = lsqr(op, -r.ravel(), damp=np.sqrt(mu), atol=LSQR_TOL, btol=LSQR_TOL,
               iter_lim=LSQR_MAX_ITER * r.size)
    delta = out[0]
    if mu == 0.0:  # ||J delta + r|| / ||r||: the part of r that no step reaches
        cache["out"] = float(out[3] / max(np.linalg.norm(r), 1e-300))
    if "top" not in cache:  # a scale for the damping: ||J||^2 by a few power steps
        v = np.random.default_rng(0).standard_normal(p)
        for _ in range(20):
            v = op.rmatvec(op.matvec(v))
            top = float(np.linalg.norm(v))
            v /= top
        cache["top"] = top
    if mu == 0.0:  # the undamped step at this point, asked for again by the first try
        cache["step0"] = (delta, -1, cache["top"])
    return delta, -1, cache["top"]


def _stall(net: Model, theta, X, r, top: float, cache: dict, loss: float, tol: float,
           why: str, final: bool = True):
    """Status and message of a residual that stopped decreasing: a least-squares point
    (the gradient ``J^T r`` vanishes relative to ``||J|| ||r||``) or, if ``final``,
    stalled; ``(None, "")`` to go on."""
    cos = float(np.linalg.norm(net.vjp(theta, X, r))
                / max(np.sqrt(top) * np.linalg.norm(r), 1e-300))
    p, nK = net.n_params, r.size
    if cache.get("solver") == "lsqr" and "out" not in cache:
        _lsqr_step(net, theta, X, r, 0.0, cache)  # measures the unreachable part
    out, rank = cache.get("out", np.nan), "?"
    if cache.get("solver") == "gram":  # the part of r no step can reach: outside range(J)
        V = _eigen(net, theta, X, cache)[1]
        u, rank = r.ravel(), V.shape[1]
        out = float(np.linalg.norm(u - V @ (V.T @ u)) / max(np.linalg.norm(u), 1e-300))
    where = f"p = {p}, rank J = {rank}, n K = {nK}"
    if cos <= STATIONARY:
        return "not_interpolating", (
            f"the residual stalls at loss {loss:.3g} > tol = {tol:.3g} ({why}) at a "
            f"least-squares point: ||J^T r|| / (||J|| ||r||) = {cos:.1e}, and "
            f"{out:.0%} of r lies outside range(J); no zero-loss minimum is nearby ({where})")
    if not final:
        return None, ""
    if out >= UNREACHABLE:
        return "not_interpolating", (
            f"the residual stalls at loss {loss:.3g} > tol = {tol:.3g} ({why}) with {out:.0%} "
            f"of it outside range(J), where no step reaches it: no zero-loss minimum is "
            f"nearby; theta is not yet a least-squares point (||J^T r|| / (||J|| ||r||) = "
            f"{cos:.1e}; {where})")
    return "stalled", (
        f"the residual stalls at loss {loss:.3g} > tol = {tol:.3g} ({why}) away from a "
        f"stationary point (||J^T r|| / (||J|| ||r||) = {cos:.1e}): the Gauss-Newton model "
        f"fails here (for ReLU, a unit at its kink; {where})")


def _order(losses: list[float], floor: float) -> float:
    """``log(e_{k+1}/e_k) / log(e_k/e_{k-1})`` of the last three residual norms
    ``e = sqrt(loss)`` above ``1e4`` times the round-off floor (a step that lands on
    round-off says nothing about the order)."""
    above = [x for x in losses if x > 1e4 * floor]
    e = np.sqrt(np.asarray(above[-3:], dtype=float))
    if len(e) < 3 or e[1] == e[0] or e[2] == e[1]:
        return float("nan")
    return float(np.log(e[2] / e[1]) / np.log(e[1] / e[0]))


def polish(net: Model, theta, X, Y, *, tol: float = 1e-24, max_iter: int = 30,
           solver: str = "auto", gram_budget: int = GRAM_BUDGET) -> Polish:
    """Move ``theta`` to a nearby exact zero-loss minimum by Gauss-Newton steps.

    Parameters
    ----------
    net : MLP
    theta : array_like (p,)
        Start, typically the end of a training run (loss ``1e-3`` or below).
    X, Y : array_like (n, in), (n, K)
    tol : float
        Loss at or below which ``theta`` counts as a minimum. Residuals at round-off
        of the targets (``1e3`` machine epsilons of ``max(1, max |Y|)``, squared) count
        as zero whatever ``tol``.
    max_iter : int
        Accepted steps at most.
    solver : {"auto", "gram", "lsqr"}
        ``gram``: eigendecomposition of the NTK Gram matrix (the pseudo-inverse drops
        eigenvalues below :data:`sim.ensembles.RANGE_RTOL` of the largest, so a
        rank-deficient ``J J^T`` is no failure: the residual may still lie in its
        range); ``lsqr``: LSQR with ``jvp``/``vjp``; ``auto``: ``gram``
        while the Gram matrix fits ``gram_budget`` bytes.
    gram_budget : int
        Bytes for the ``(n K)^2`` Gram matrix under ``solver="auto"``.

    Returns
    -------
    Polish

    Notes
    -----
    ``gram``: ``O((n K)^2 sum_l w_l + (n K)^3)`` per step; ``lsqr``: two passes through
    the net per LSQR iteration, memory ``O(n K + p)``. Deterministic.
    """
    net = check_model(net)
    if getattr(net, "loss_kind", "mean") not in SQUARED_LOSSES:
        raise ValueError(f"net: polish solves r = 0 for a squared loss; loss "
                         f"{net.loss_kind!r} has no zero-loss minimum (docs/theory.md, "
                         "section 11)")
    X = net.check_inputs(X)
    Y = net.check_targets(Y, len(X))
    check_choice(solver, "solver", SOLVERS)
    tol = check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter", 0)
    gram_budget = check_int(gram_budget, "gram_budget", 0)
    try:
        theta0 = np.asarray(theta)
    except ValueError:  # ragged: check_theta names it
        theta0 = theta
    if (isinstance(theta0, np.ndarray) and theta0.dtype.kind in "iuf"
            and theta0.shape == (net.n_params,) and not np.all(np.isfinite(theta0))):
        nan = float("nan")
        return Polish(np.array(theta0, dtype=float), nan, nan, nan, 0, False, "diverged",
                      "theta is not finite (a diverged training run): nothing to polish",
                      np.array([nan]), nan, -1, solver)
    theta0 = net.check_theta(theta0)
    nK = len(X) * net.n_outputs
    if solver == "auto":
        solver = "gram" if 8 * nK * nK <= gram_budget else "lsqr"
    step_of = _gram_step if solver == "gram" else _lsqr_step
    scale = max(1.0, float(np.max(np.abs(Y))))
    floor = net.c / 2 * nK / len(X) * (1e3 * np.finfo(float).eps * scale) ** 2

    theta = theta0.copy()
    with np.errstate(over="ignore", invalid="ignore"):  # an inf loss is the status below
        r = net.residuals(theta, X, Y)
        loss = net.loss(theta, X, Y)
    losses = [loss]
    if not np.isfinite(loss):
        return Polish(theta, loss, loss, 0.0, 0, False, "diverged",
                      f"the loss at theta is {loss}: nothing to polish", np.array(losses),
                      float("nan"), -1, solver)
    mu, stalled, rank, status, message = 0.0, 0, -1, None, ""
    cache = {"solver": solver}  # per point: the Gram eigenpairs, ||J||^2
    while status is None:
        if loss <= max(tol, floor):
            status = "converged"
            break
        if len(losses) > max_iter:
            status, message = "max_iter", f"loss {loss:.3g} > tol after {max_iter} steps"
            break
        for _ in range(DAMPING_TRIES + 1):
            delta, rank, top = step_of(net, theta, X, r, mu, cache)
            trial = theta + delta
            with np.errstate(over="ignore", invalid="ignore"):
                r_new = net.forward(trial, X) - Y if np.all(np.isfinite(trial)) else None
                new = (np.inf if r_new is None or not np.all(np.isfinite(r_new))
                       else float(net.c / 2 * np.sum(r_new * r_new) / len(X)))
            if new < loss:
                break
            mu = max(10.0 * mu, 1e-3 * top)  # Levenberg-Marquardt: a shorter, safer step
        else:
            status, message = _stall(net, theta, X, r, top, cache, loss, tol,
                                     f"no damped step lowers the loss (mu = {mu:.3g})")
            break
        stalled = stalled + 1 if new > STALL * loss else 0
        theta, r, loss = trial, r_new, new
        cache = {"solver": solver}
        losses.append(loss)
        mu = mu / 10.0 if mu > 1e-10 * top else 0.0
        if stalled and loss > max(tol, floor):
            status, message = _stall(net, theta, X, r, top, cache, loss, tol,
                                     f"{stalled} steps each kept more than {STALL:.0%} of "
                                     "the loss", final=stalled >= STALL_STEPS)
    order = _order(losses, floor)
    if status == "converged":
        message = (f"loss {losses[0]:.3g} -> {loss:.3g} in {len(losses) - 1} steps"
                   + (f" (order {order:.2f})" if np.isfinite(order) else ""))
    displacement = float(np.linalg.norm(theta - theta0) / max(np.linalg.norm(theta0), 1e-300))
    return Polish(theta, losses[0], loss, displacement, len(losses) - 1, status == "converged",
                  status, message, np.array(losses), order, rank, solver)


__all__ = ["polish", "Polish", "STATUSES", "SOLVERS", "GRAM_BUDGET"]
