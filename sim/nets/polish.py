"""Exact minima of a network by Gauss-Newton polish (``docs/theory.md``, section 9).

Training stops at a small but non-zero loss, where the theory of sections 3-4 does not
apply. Near an interpolating net the zero-loss set ``{theta : f(x_i; theta) = y_i}``
is a manifold, and the minimum-norm Newton step for the residual equations,

    delta = -J^T (J J^T)^+ r,

(``J`` the stacked ``n K x p`` Jacobian, ``r`` the stacked residuals) is the smallest
move that zeroes the linearized residual: the iteration converges quadratically onto
the manifold. ``J J^T`` is the empirical NTK Gram matrix (:meth:`MLP.ntk`); above a
memory budget the system is solved by conjugate gradients with one forward-mode and
one reverse-mode pass per product. A step that does not lower the loss is retried
with Levenberg-Marquardt damping ``(J J^T + mu I)``.

The outcome is data: a :class:`Polish` with a status, never a silent non-minimum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim._validate import check_choice, check_int, check_positive
from sim.ensembles import RANGE_RTOL
from sim.nets.model import Model, check_model

STATUSES = ("converged", "not_interpolating", "stalled", "diverged", "max_iter")
SOLVERS = ("auto", "gram", "cg")
GRAM_BUDGET = 2**30
"""``solver="auto"`` forms the ``(n K)^2`` NTK Gram matrix while it takes at most this
many bytes (``n K <= 11585``), and uses conjugate gradients above."""
STALL = 0.5
"""A step that keeps more than this fraction of the loss makes no Gauss-Newton progress
(quadratic convergence divides it by far more)."""
STALL_STEPS = 10
"""Consecutive stalled steps away from a stationary point after which the iteration
gives up (``"stalled"``)."""
UNREACHABLE = 0.5
"""A stalled residual is no interpolation failure of the method but of the model when
at least this fraction of it lies outside ``range(J)``, where no step reaches it."""
STATIONARY = 1e-6
"""A stalled residual ``r`` is a least-squares point when
``||J^T r|| <= STATIONARY ||J|| ||r||`` (the gradient vanishes, the residual does not)."""
DAMPING_TRIES = 12
"""Damped retries of a step (``mu`` grows tenfold each) before the iteration stops."""
CG_RTOL = 1e-12
"""Relative residual at which the conjugate-gradient solve of one step stops."""
CG_MAX_ITER = 4
"""The conjugate-gradient solve of one step stops after this many times ``n K``
iterations (exact arithmetic needs ``n K``; round-off on an ill-conditioned Gram matrix
more)."""


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
        ``not_interpolating``: the residual stalled above ``tol`` and lies (at least
        :data:`UNREACHABLE` of it) outside ``range(J)``, or ``J^T r`` vanishes: no
        zero-loss point nearby, as when ``p < n K`` with generic targets; ``theta`` is
        the least-squares point the iteration reached. ``stalled``: the residual stopped
        decreasing away from any stationary point (for ReLU nets, typically a unit
        whose pre-activation each step pushes across 0). ``diverged``: the input loss
        is not finite. ``max_iter``: still decreasing when the iterations ran out.
    message : str
    losses : ndarray (iterations + 1,)
        The loss before each step and at the end.
    order : float
        Convergence order estimated from the last three residual norms above
        round-off (about 2 for quadratic convergence; NaN with fewer than three).
    rank : int
        Numerical rank of ``J J^T`` at the last step (``solver="gram"``; -1 for CG).
    solver : {"gram", "cg"}
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


def _cg_step(net: Model, theta, X, r: np.ndarray, mu: float, cache: dict):
    """The same step with ``(J J^T + mu I) w = r`` solved by conjugate gradients, one
    ``J^T`` and one ``J`` pass per product (from ``w = 0`` the iterates stay in the
    range of ``J J^T``: the minimum-norm solution of a consistent system)."""
    shape = r.shape

    def apply(w):
        W = w.reshape(shape)
        return net.jvp(theta, X, net.vjp(theta, X, W)).ravel() + mu * w

    b = r.ravel()
    w = np.zeros_like(b)
    res = b.copy()
    d = res.copy()
    rr = float(res @ res)
    stop = (CG_RTOL * np.sqrt(rr)) ** 2
    for _ in range(CG_MAX_ITER * len(b)):  # n K in exact arithmetic; more in floats
        if rr <= stop:
            break
        Ad = apply(d)
        dAd = float(d @ Ad)
        if dAd <= 0.0:  # the null space of J J^T: the rest of b is unreachable
            break
        alpha = rr / dAd
        w += alpha * d
        res -= alpha * Ad
        rr_new = float(res @ res)
        d = res + (rr_new / rr) * d
        rr = rr_new
    if "top" not in cache:  # a scale for the damping: ||J||^2 by a few power steps
        v = np.random.default_rng(0).standard_normal(len(b))
        for _ in range(20):
            v = apply(v) - mu * v
            top = float(np.linalg.norm(v))
            v /= top
        cache["top"] = top
    return -net.vjp(theta, X, w.reshape(shape)), -1, cache["top"]


def _stall(net: Model, theta, X, r, top: float, cache: dict, loss: float, tol: float,
           why: str, final: bool = True):
    """Status and message of a residual that stopped decreasing: a least-squares point
    (the gradient ``J^T r`` vanishes relative to ``||J|| ||r||``) or, if ``final``,
    stalled; ``(None, "")`` to go on."""
    cos = float(np.linalg.norm(net.vjp(theta, X, r))
                / max(np.sqrt(top) * np.linalg.norm(r), 1e-300))
    p, nK = net.n_params, r.size
    out, rank = np.nan, "?"
    if cache.get("solver") == "gram":  # the part of r no step can reach: outside range(J)
        V = _eigen(net, theta, X, cache)[1]
        u, rank = r.ravel(), V.shape[1]
        out = float(np.linalg.norm(u - V @ (V.T @ u)) / max(np.linalg.norm(u), 1e-300))
    if cos <= STATIONARY or out >= UNREACHABLE:
        return "not_interpolating", (
            f"the residual stalls at loss {loss:.3g} > tol = {tol:.3g} ({why}); "
            f"{out:.0%} of it lies outside range(J) and ||J^T r|| / (||J|| ||r||) = "
            f"{cos:.1e}: no step reaches the residual, so no zero-loss minimum is nearby; "
            f"theta is where the least-squares iteration stopped (p = {p}, rank J = {rank}, "
            f"n K = {nK})")
    if not final:
        return None, ""
    return "stalled", (
        f"the residual stalls at loss {loss:.3g} > tol = {tol:.3g} ({why}) away from a "
        f"stationary point (||J^T r|| / (||J|| ||r||) = {cos:.1e}): the Gauss-Newton model "
        "fails here (for ReLU, a unit at its kink)")


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
        of the outputs (``1e3`` machine epsilons of the largest target or output,
        squared) count as zero whatever ``tol``.
    max_iter : int
        Accepted steps at most.
    solver : {"auto", "gram", "cg"}
        ``gram``: eigendecomposition of the NTK Gram matrix (the pseudo-inverse drops
        eigenvalues below :data:`sim.ensembles.RANGE_RTOL` of the largest, so a
        rank-deficient ``J J^T`` is no failure: the residual may still lie in its
        range); ``cg``: conjugate gradients with ``jvp``/``vjp``; ``auto``: ``gram``
        while the Gram matrix fits ``gram_budget`` bytes.
    gram_budget : int
        Bytes for the ``(n K)^2`` Gram matrix under ``solver="auto"``.

    Returns
    -------
    Polish

    Notes
    -----
    ``gram``: ``O((n K)^2 sum_l w_l + (n K)^3)`` per step; ``cg``: two passes through
    the net per conjugate-gradient iteration, memory ``O(n K + p)``. Deterministic.
    """
    net = check_model(net)
    X = net.check_inputs(X)
    Y = net.check_targets(Y, len(X))
    check_choice(solver, "solver", SOLVERS)
    tol = check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter", 0)
    gram_budget = check_int(gram_budget, "gram_budget", 0)
    theta0 = np.asarray(theta)
    if theta0.ndim == 1 and theta0.shape == (net.n_params,) and not np.all(np.isfinite(
            np.asarray(theta0, dtype=float))):
        nan = float("nan")
        return Polish(np.array(theta0, dtype=float), nan, nan, nan, 0, False, "diverged",
                      "theta is not finite (a diverged training run): nothing to polish",
                      np.array([nan]), nan, -1, solver)
    theta0 = net.check_theta(theta0)
    nK = len(X) * net.n_outputs
    if solver == "auto":
        solver = "gram" if 8 * nK * nK <= gram_budget else "cg"
    step_of = _gram_step if solver == "gram" else _cg_step
    scale = max(1.0, float(np.max(np.abs(Y))))
    floor = net.c / 2 * nK / len(X) * (1e3 * np.finfo(float).eps * scale) ** 2

    theta = theta0.copy()
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
