"""Claim: at a zero-loss (teacher) minimum the Gauss-Newton per-sample Hessians are the
exact ones, curvature() returns the sharpness and non-uniformity of their dense
eigendecomposition, to_ensemble (full or reduced to range(H)) feeds the exact engine,
and off the minimum the exact kind adds the residual term."""

import numpy as np
import pytest

import sim
from oracles import batch_distribution, crossing, operator_bruteforce
from sim import Sampling, data
from sim.nets import MLP, curvature, to_ensemble

NETS = [MLP((3, 6, 2), "tanh", "mean"), MLP((3, 5, 4, 2), "relu", "half"),
        MLP((4, 7, 3), "tanh", "half")]


def _teacher(net, n=5, seed=0, scale=1.5):
    rng = np.random.default_rng(seed)
    theta = net.init(seed, scale=scale)
    X = rng.standard_normal((n, net.n_inputs))
    return theta, X, data.teacher(net, theta, X)


def _per_sample_hessians_fd(net, theta, X, Y, eps=1e-5):
    """Exact per-sample Hessians of f_i = loss on sample i alone, by central differences
    of the exact per-sample gradient (n, p, p)."""
    out = []
    for i in range(len(X)):
        g = lambda t, i=i: net.gradient(t, X[i:i + 1], Y[i:i + 1])  # noqa: E731
        cols = [(g(theta + eps * e) - g(theta - eps * e)) / (2 * eps) for e in np.eye(len(theta))]
        H = np.array(cols).T
        out.append(0.5 * (H + H.T))
    return np.array(out)


def _dense_a_s(Hs):
    H = Hs.mean(0)
    Sigma = np.mean([h @ h for h in Hs], 0) - H @ H
    return np.linalg.eigvalsh(H)[-1], np.sqrt(max(np.linalg.eigvalsh(Sigma)[-1], 0.0))


@pytest.mark.parametrize("net", NETS, ids=repr)
def test_gauss_newton_is_exact_at_teacher_minimum(net):
    """Zero loss: c J_i^T J_i equals the exact per-sample Hessian (finite differences of the
    exact gradient, accurate to about 1e-8)."""
    theta, X, Y = _teacher(net)
    assert net.loss(theta, X, Y) == 0.0
    exact = _per_sample_hessians_fd(net, theta, X, Y)
    J = net.jacobians(theta, X)
    gn = net.c * np.einsum("ikp,ikq->ipq", J, J)
    np.testing.assert_allclose(gn, exact, atol=1e-7 * max(1.0, np.abs(exact).max()))


@pytest.mark.parametrize("net", NETS, ids=repr)
@pytest.mark.parametrize("method", ["explicit", "matrix_free"])
def test_curvature_equals_dense_eigendecomposition(net, method):
    """a and s from Lanczos equal the dense eigendecomposition of the per-sample
    Hessians to 1e-8 relative, with eigen-residuals below 1e-8 a; to_ensemble gives the
    same a and s, full and reduced."""
    theta, X, Y = _teacher(net)
    J = net.jacobians(theta, X)
    a, s = _dense_a_s(net.c * np.einsum("ikp,ikq->ipq", J, J))
    cv = curvature(net, theta, X, Y, method=method)
    assert cv.method == method and cv.loss == 0.0
    assert cv.a == pytest.approx(a, rel=1e-8) and cv.s == pytest.approx(s, rel=1e-8)
    assert cv.a_residual < 1e-8 * a and cv.s_residual < 1e-8 * a**2
    for ens in (to_ensemble(net, theta, X, reduce=False), to_ensemble(net, theta, X)):
        assert ens.a == pytest.approx(a, rel=1e-10) and ens.s == pytest.approx(s, rel=1e-8)
    exact = curvature(net, theta, X, Y, kind="exact")
    assert exact.a == pytest.approx(a, rel=1e-8) and exact.s == pytest.approx(s, rel=1e-8)


@pytest.mark.parametrize("net", NETS + [MLP((5, 9, 7, 6, 3), "relu", "mean")], ids=repr)
def test_ntk_blocks_equal_jacobian_products(net):
    """ntk_blocks (reverse mode from the output seeds, no Jacobians formed) equals
    J_i J_i^T from the explicit Jacobians to round-off."""
    rng = np.random.default_rng(3)
    theta = net.init(1)
    X = rng.standard_normal((11, net.n_inputs))
    J = net.jacobians(theta, X)
    ref = np.einsum("ikp,ilp->ikl", J, J)
    np.testing.assert_allclose(net.ntk_blocks(theta, X), ref, rtol=1e-12,
                               atol=1e-13 * np.abs(ref).max())


@pytest.mark.parametrize("method", ["explicit", "matrix_free"])
def test_curvature_which_and_off_minimum_gauss_newton(method):
    """Off the minimum (random targets, a net with p = 180 so Lanczos restarts),
    the Gauss-Newton a and s equal the dense eigendecomposition of c J_i^T J_i to
    1e-8; which="a" / "s" compute one of them (the same numbers) and leave the other
    NaN."""
    net = MLP((5, 12, 8, 3), "tanh", "mean")
    rng = np.random.default_rng(4)
    theta = net.init(2)
    X, Y = rng.standard_normal((30, 5)), rng.standard_normal((30, 3))
    J = net.jacobians(theta, X)
    a, s = _dense_a_s(net.c * np.einsum("ikp,ikq->ipq", J, J))
    both = curvature(net, theta, X, Y, method=method)
    assert both.a == pytest.approx(a, rel=1e-8) and both.s == pytest.approx(s, rel=1e-8)
    only_s = curvature(net, theta, X, Y, method=method, which="s")
    only_a = curvature(net, theta, X, Y, method=method, which="a")
    assert only_s.s == both.s and np.isnan(only_s.a) and np.isnan(only_s.a_residual)
    assert only_a.a == both.a and np.isnan(only_a.s) and np.isnan(only_a.s_residual)
    assert only_s.matvecs + only_a.matvecs == both.matvecs
    no_targets = curvature(net, theta, X, None, method=method)  # Gauss-Newton needs no Y
    assert (no_targets.a, no_targets.s) == (both.a, both.s) and np.isnan(no_targets.loss)


@pytest.mark.parametrize("smp", [Sampling(1), Sampling(2), Sampling(2, "with")], ids=str)
def test_threshold_of_a_trained_minimum_is_exact(smp):
    """thresholds(to_ensemble(...)).eta_exact equals bisection on the dense Kronecker
    operator of the per-sample Hessians (1e-8), for the full and the reduced ensemble.
    p = 9 <= n K = 10, so H has full rank and no null space pins rho at 1."""
    net = MLP((2, 2, 1), "tanh", "mean")  # the p^2 x p^2 operator is 81 x 81
    theta, X, Y = _teacher(net, n=10, seed=3)
    full = to_ensemble(net, theta, X, reduce=False)
    reduced = to_ensemble(net, theta, X, reduce=True)
    assert np.linalg.eigvalsh(full.H)[0] > 1e-8 * full.a
    dist = batch_distribution(10, smp.B, smp.scheme, smp.p)
    rho = lambda e: np.abs(np.linalg.eigvals(operator_bruteforce(full.dense, e, dist))).max()  # noqa: E731
    th = sim.thresholds(full, smp)
    want = crossing(rho, 1e-6 * th.eta_gd, th.eta_gd * (1 + 1e-9))
    assert th.eta_exact == pytest.approx(want, rel=1e-8)
    assert sim.thresholds(reduced, smp).eta_exact == pytest.approx(th.eta_exact, rel=1e-10)


def test_reduction_is_exact():
    """p > n K: the reduced ensemble has dimension n K and the same a, s, rho(T) and
    thresholds (1e-10); G_i = U G'_i with orthonormal U."""
    net = MLP((3, 16, 2), "relu", "mean")
    theta, X, _ = _teacher(net, n=4)
    full = to_ensemble(net, theta, X, reduce=False)
    red, U = full.reduced()
    assert red.d == 8 and full.d == net.n_params
    np.testing.assert_allclose(U.T @ U, np.eye(red.d), atol=1e-12)
    np.testing.assert_allclose(np.einsum("dk,ikr->idr", U, red.G), full.G, atol=1e-12)
    for smp in (1, 3, Sampling(2, "with")):
        a, b = sim.thresholds(full, smp), sim.thresholds(red, smp)
        for name in ("eta_gd", "eta_box", "eta_theorem", "eta_exact"):
            assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-10), name
        # Above the threshold rho(T) is that of range(H); below it the full operator
        # also has the eigenvalue 1 of the null space, which never moves.
        eta = 1.3 * a.eta_exact
        assert sim.spectral_radius(red, eta, smp).rho == pytest.approx(
            sim.spectral_radius(full, eta, smp).rho, rel=1e-10)
        below = 0.9 * a.eta_exact
        assert sim.spectral_radius(red, below, smp).rho < 1
        assert sim.spectral_radius(full, below, smp).rho == pytest.approx(1.0, abs=1e-10)


def test_reduction_from_the_ntk_gram_matrix():
    """to_ensemble's default reduction goes through the NTK Gram matrix (MLP.ntk equals
    J J^T to round-off; nothing p-dimensional is formed): its a, s and thresholds equal
    those of the full factor ensemble (1e-10), and Ensemble.from_gram of the stacked
    factors' Gram matrix is Ensemble.reduced()."""
    net = MLP((3, 12, 9, 2), "tanh", "half")
    theta, X, _ = _teacher(net, n=6)
    J = net.jacobians(theta, X).reshape(12, -1)
    np.testing.assert_allclose(net.ntk(theta, X), J @ J.T, rtol=1e-12,
                               atol=1e-13 * np.abs(J @ J.T).max())
    full = to_ensemble(net, theta, X, reduce=False)
    red = to_ensemble(net, theta, X)
    assert red.d == 12 and "reduced" in red.name
    assert red.a == pytest.approx(full.a, rel=1e-10) and red.s == pytest.approx(full.s, rel=1e-10)
    for smp in (2, Sampling(3, "with")):
        a, b = sim.thresholds(full, smp), sim.thresholds(red, smp)
        for name in ("eta_theorem", "eta_exact"):
            assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-10), name
    by_gram = sim.Ensemble.from_gram(full.stacked.T @ full.stacked, full.n)
    np.testing.assert_array_equal(by_gram.G, full.reduced(basis=False)[0].G)
    with pytest.raises(ValueError, match="^gram must be square"):
        sim.Ensemble.from_gram(np.eye(6), 4)
    with pytest.raises(ValueError, match="^gram"):
        sim.Ensemble.from_gram(np.ones(6), 2)


def test_off_minimum_exact_kind_has_residual_term():
    """Off the minimum the exact Hessian differs from Gauss-Newton by the residual term;
    the exact hvp matches finite differences and curvature(kind="exact") differs."""
    net = MLP((3, 6, 2), "tanh", "mean")
    theta, X, Y = _teacher(net)
    Y = Y + 0.5 * np.random.default_rng(9).standard_normal(Y.shape)
    v = np.random.default_rng(1).standard_normal(net.n_params)
    exact, gn = net.hvp(theta, X, Y, v), net.hvp(theta, X, Y, v, "gauss_newton")
    fd = (net.gradient(theta + 1e-6 * v, X, Y) - net.gradient(theta - 1e-6 * v, X, Y)) / 2e-6
    np.testing.assert_allclose(exact, fd, atol=1e-7)
    assert np.linalg.norm(exact - gn) > 1e-3 * np.linalg.norm(gn)
    cv_e = curvature(net, theta, X, Y, kind="exact")
    cv_g = curvature(net, theta, X, Y)
    Hs = _per_sample_hessians_fd(net, theta, X, Y)
    a, s = _dense_a_s(Hs)
    assert cv_e.a == pytest.approx(a, rel=1e-6) and cv_e.s == pytest.approx(s, rel=1e-6)
    assert abs(cv_e.a - cv_g.a) > 1e-4 * cv_g.a


def test_curvature_bad_input():
    """Unknown kinds and methods, and kind="exact" with explicit Jacobians, are errors."""
    net = MLP((3, 2))
    theta, X, Y = _teacher(net)
    with pytest.raises(ValueError, match="^kind"):
        curvature(net, theta, X, Y, kind="fisher")
    with pytest.raises(ValueError, match="^method"):
        curvature(net, theta, X, Y, method="dense")
    with pytest.raises(ValueError, match="kind='exact' has no explicit form"):
        curvature(net, theta, X, Y, kind="exact", method="explicit")
    with pytest.raises(ValueError, match="^tol"):
        curvature(net, theta, X, Y, tol=0)
    with pytest.raises(ValueError, match="^Y is needed"):
        curvature(net, theta, X, None, kind="exact")
    with pytest.raises(ValueError, match="^which"):
        curvature(net, theta, X, Y, which="sigma")


def test_batch_sharpness_is_the_curvature_along_the_gradient():
    """With the full batch, batch sharpness is g^T H g / ||g||^2 with H from central
    differences of the gradient (1e-5 relative: O(h^2) truncation); it never exceeds the
    batch's sharpness; a mixture sampling is refused by name."""
    from sim.nets import batch_sharpness

    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((12, 3)), rng.standard_normal((12, 2))
    net = MLP((3, 8, 2), "tanh", "mean")
    theta = net.init(1)
    g = net.gradient(theta, X, Y)
    h = 1e-5
    Hg = (net.gradient(theta + h * g, X, Y) - net.gradient(theta - h * g, X, Y)) / (2 * h)
    want = g @ Hg / (g @ g)
    assert batch_sharpness(net, theta, X, Y, 12) == pytest.approx(want, rel=1e-5)
    exact_a = curvature(net, theta, X, Y, kind="exact").a
    assert batch_sharpness(net, theta, X, Y, 12) <= exact_a * (1 + 1e-10)
    v = batch_sharpness(net, theta, X, Y, 3, batches=8, seed=0)
    assert v == batch_sharpness(net, theta, X, Y, 3, batches=8, seed=0) and np.isfinite(v)
    from sim import Sampling

    with pytest.raises(ValueError, match="sampling"):
        batch_sharpness(net, theta, X, Y, Sampling(1, "mixture", p=0.5))
