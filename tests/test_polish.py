"""Claim: Gauss-Newton polish moves a trained point to a nearby exact zero-loss minimum
with minimum-norm steps ``-J^T (J J^T)^+ r`` (quadratic convergence), and says so as
data when there is none (``docs/theory.md``, section 9)."""

import numpy as np
import pytest

from sim import data
from sim.nets import MLP, polish


def teacher_problem(activation: str, seed: int, widths=(5, 12, 3), n: int = 10,
                    loss: str = "half", noise: float = 0.05):
    """A teacher net's targets on Gaussian inputs, and a start ``noise`` (relative) away
    from the teacher: an exact zero-loss minimum exists nearby."""
    rng = np.random.default_rng(seed)
    net = MLP(widths, activation, loss)
    star = net.init(seed, scale=2.0)
    X = rng.standard_normal((n, widths[0]))
    Y = data.teacher(net, star, X)
    start = star + noise * np.linalg.norm(star) / np.sqrt(net.n_params) * rng.standard_normal(
        net.n_params)
    return net, X, Y, start


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_teacher_minimum_recovered(activation, seed):
    """From 5% off a teacher net, polish reaches loss below 1e-25 (O(1) targets, loss
    "half") in at most 10 steps, with a convergence order near 2."""
    net, X, Y, start = teacher_problem(activation, seed)
    pol = polish(net, start, X, Y, tol=1e-28)
    assert pol.converged and pol.status == "converged", pol.message
    assert pol.loss < 1e-25
    assert pol.iterations <= 10
    assert abs(pol.loss - net.loss(pol.theta, X, Y)) <= 1e-30
    if pol.iterations >= 3:  # three residuals above round-off: quadratic, not linear
        assert np.isfinite(pol.order) and pol.order > 1.5, pol.losses
    assert pol.displacement == pytest.approx(
        np.linalg.norm(pol.theta - start) / np.linalg.norm(start), rel=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_first_step_is_pseudo_inverse(activation):
    """The first (undamped) step equals ``-pinv(J) r`` from the explicit stacked Jacobian
    (algebra: 1e-10 relative)."""
    net, X, Y, start = teacher_problem(activation, 3, widths=(3, 4, 2), n=5)
    J = net.jacobians(start, X).reshape(-1, net.n_params)
    r = net.residuals(start, X, Y).ravel()
    expect = -np.linalg.pinv(J, rcond=1e-13) @ r
    pol = polish(net, start, X, Y, max_iter=1)
    step = pol.theta - start
    assert np.linalg.norm(step - expect) <= 1e-10 * np.linalg.norm(expect)


def test_rank_deficient_gram_is_no_failure():
    """A ReLU net with dead units (very negative biases) has a rank-deficient ``J J^T``,
    rank below ``n K``, and still polishes to an exact minimum: the residual of a
    teacher lies in the range of ``J``."""
    ds = data.digits()
    X = ds.X[:30]
    net = MLP((64, 24, 10), "relu", "mean")
    star = net.init(0)
    (W1, b1), _ = net.unflatten(star)
    b1[:16] = -100.0  # 16 of the 24 hidden units never fire on [0, 1] pixels
    Y = data.teacher(net, star, X)
    start = star + 1e-3 * np.random.default_rng(0).standard_normal(net.n_params)
    pol = polish(net, start, X, Y)
    assert pol.converged, pol.message
    assert pol.rank < len(X) * 10  # J J^T is singular (n K = 300)
    assert pol.loss <= 1e-24


def test_under_parameterized_reports_not_interpolating():
    """With ``p < n K`` and generic targets there is no zero-loss point: the status says
    so, and the returned loss is not smaller than where training stopped by much."""
    rng = np.random.default_rng(0)
    net = MLP((4, 2, 3), "tanh", "half")  # p = 19 < n K = 60
    X = rng.standard_normal((20, 4))
    Y = rng.standard_normal((20, 3))
    for solver in ("gram", "lsqr"):
        pol = polish(net, net.init(0), X, Y, solver=solver)
        assert pol.status == "not_interpolating", pol.message
        assert not pol.converged and pol.loss > 1e-3
        assert "range(J)" in pol.message and "p = 19" in pol.message
        # at (or near) a least-squares point: the gradient ratio the message reports
        ratio = float(pol.message.split("||J^T r|| / (||J|| ||r||) = ")[1][:7])
        assert ratio < 1e-2


def test_cg_solver_reaches_the_same_kind_of_minimum():
    """Conjugate gradients with jvp/vjp (the solver above the Gram budget) also reaches
    an exact minimum; its first step equals the Gram solver's to the LSQR tolerance."""
    net, X, Y, start = teacher_problem("tanh", 4)
    gram = polish(net, start, X, Y, max_iter=1, solver="gram")
    cg = polish(net, start, X, Y, max_iter=1, solver="lsqr")
    step = gram.theta - start
    assert np.linalg.norm(cg.theta - gram.theta) <= 1e-6 * np.linalg.norm(step)
    full = polish(net, start, X, Y, solver="auto", gram_budget=0)
    assert full.solver == "lsqr" and full.converged, full.message


def test_deterministic():
    """Two calls give bitwise-equal results."""
    net, X, Y, start = teacher_problem("relu", 5)
    a, b = polish(net, start, X, Y), polish(net, start, X, Y)
    assert np.array_equal(a.theta, b.theta) and np.array_equal(a.losses, b.losses)


def test_statuses_as_data():
    """A non-finite start is "diverged" (no exception), a budget too small is
    "max_iter", and a start already at a minimum takes no step."""
    net, X, Y, start = teacher_problem("tanh", 6)
    bad = start.copy()
    bad[0] = np.nan
    d = polish(net, bad, X, Y)
    assert d.status == "diverged" and not d.converged
    m = polish(net, start, X, Y, max_iter=1, tol=1e-30)
    assert m.status == "max_iter" and m.iterations == 1
    done = polish(net, polish(net, start, X, Y).theta, X, Y)
    assert done.converged and done.iterations == 0 and done.displacement == 0.0


def test_bad_input_named():
    """Bad arguments are refused by name."""
    net, X, Y, start = teacher_problem("tanh", 7)
    with pytest.raises(TypeError, match="net"):
        polish(None, start, X, Y)
    with pytest.raises(ValueError, match="tol"):
        polish(net, start, X, Y, tol=-1.0)
    with pytest.raises(ValueError, match="solver"):
        polish(net, start, X, Y, solver="lu")
    with pytest.raises(ValueError, match="theta"):
        polish(net, start[:-1], X, Y)
    with pytest.raises(ValueError, match="Y"):
        polish(net, start, X, Y[:-1])
