"""Claim: the MLP's outputs and every derivative (gradient, per-sample Jacobians, JVP,
VJP, exact and Gauss-Newton Hessian-vector products) are exact: they match central
finite differences on tiny nets and sympy's symbolic derivatives of a one-hidden-layer
net, and the parameter layout is PyTorch's."""

import numpy as np
import pytest
import sympy as sp

from sim.nets import MLP

NETS = [MLP((3, 5, 4, 2), act, loss) for act in ("relu", "tanh") for loss in ("mean", "half")]
NETS += [MLP((4, 6, 3), "tanh", "mean"), MLP((2, 3), "relu", "half")]
EPS = 1e-6
FD_TOL = 1e-7
"""Central differences with step 1e-6 are accurate to about eps^2 f''' + 1e-16/eps, i.e.
1e-9 here; 1e-7 leaves room (ReLU kinks are avoided by the random data)."""


def _data(net, n=6, seed=1):
    rng = np.random.default_rng(seed)
    theta = net.init(seed, scale=1.3)
    X = rng.standard_normal((n, net.n_inputs))
    Y = rng.standard_normal((n, net.n_outputs))
    v = rng.standard_normal(net.n_params)
    return theta, X, Y, v


def _fd(f, theta, directions):
    return np.stack([(f(theta + EPS * e) - f(theta - EPS * e)) / (2 * EPS) for e in directions],
                    axis=-1)


@pytest.mark.parametrize("net", NETS, ids=repr)
def test_first_derivatives_match_finite_differences(net):
    """gradient, jacobians, jvp and vjp equal central differences (1e-7 absolute)."""
    theta, X, Y, v = _data(net)
    basis = np.eye(net.n_params)
    assert net.n_params <= 300
    fd_grad = _fd(lambda t: np.array(net.loss(t, X, Y)), theta, basis)
    np.testing.assert_allclose(net.gradient(theta, X, Y), fd_grad, atol=FD_TOL)
    J = net.jacobians(theta, X)
    np.testing.assert_allclose(J, _fd(lambda t: net.forward(t, X), theta, basis), atol=FD_TOL)
    fd_jvp = (net.forward(theta + EPS * v, X) - net.forward(theta - EPS * v, X)) / (2 * EPS)
    np.testing.assert_allclose(net.jvp(theta, X, v), fd_jvp, atol=FD_TOL * 10)
    U = np.random.default_rng(2).standard_normal(Y.shape)
    np.testing.assert_allclose(net.vjp(theta, X, U), np.einsum("ikp,ik->p", J, U), atol=1e-13)
    np.testing.assert_allclose(net.jvp(theta, X, v), J @ v, atol=1e-13)


@pytest.mark.parametrize("net", NETS, ids=repr)
def test_hvp_matches_finite_differences(net):
    """hvp(kind="exact") equals central differences of the gradient along v; the
    Gauss-Newton product equals (c/n) sum_i J_i^T J_i v (1e-13)."""
    theta, X, Y, v = _data(net)
    fd = (net.gradient(theta + EPS * v, X, Y) - net.gradient(theta - EPS * v, X, Y)) / (2 * EPS)
    np.testing.assert_allclose(net.hvp(theta, X, Y, v), fd, atol=FD_TOL * 10)
    J = net.jacobians(theta, X)
    gn = net.c / len(X) * np.einsum("ikp,ik->p", J, J @ v)
    np.testing.assert_allclose(net.hvp(theta, X, Y, v, "gauss_newton"), gn, atol=1e-13)


def test_one_hidden_layer_against_sympy():
    """A 2-3-1 tanh net with loss "half": sympy differentiates the closed form
    f = w2 . tanh(W1 x + b1) + b2; gradient and exact Hessian agree (1e-12)."""
    net = MLP((2, 3, 1), "tanh", "half")
    theta, X, Y, _ = _data(net, n=3, seed=4)
    syms = sp.symbols(f"t0:{net.n_params}", real=True)
    W1 = sp.Matrix(3, 2, syms[0:6])
    b1 = sp.Matrix(syms[6:9])
    w2 = sp.Matrix(1, 3, syms[9:12])
    b2 = syms[12]
    loss = 0
    for x, y in zip(X, Y, strict=True):
        h = (W1 * sp.Matrix(x) + b1).applyfunc(sp.tanh)
        f = (w2 * h)[0] + b2
        loss += sp.Rational(1, 2) * (f - y[0]) ** 2
    loss /= len(X)
    grad = sp.lambdify(syms, [sp.diff(loss, s) for s in syms])(*theta)
    hess = np.array(sp.lambdify(syms, sp.hessian(loss, syms))(*theta), dtype=float)
    np.testing.assert_allclose(net.gradient(theta, X, Y), grad, rtol=1e-12, atol=1e-14)
    assert net.loss(theta, X, Y) == pytest.approx(float(sp.lambdify(syms, loss)(*theta)),
                                                  rel=1e-13)
    for v in np.eye(net.n_params):
        np.testing.assert_allclose(net.hvp(theta, X, Y, v), hess @ v, rtol=1e-11, atol=1e-13)


def test_layout_is_pytorch_linear():
    """flatten/unflatten: W_l (out, in) row-major then b_l, per layer; round trip exact."""
    net = MLP((3, 4, 2))
    layers = [(np.arange(12.0).reshape(4, 3), np.arange(4.0) + 100),
              (np.arange(8.0).reshape(2, 4) + 200, np.array([300.0, 301.0]))]
    theta = net.flatten(layers)
    assert net.n_params == 12 + 4 + 8 + 2
    np.testing.assert_array_equal(theta[:12], np.arange(12.0))
    np.testing.assert_array_equal(theta[12:16], np.arange(4.0) + 100)
    for (W, b), (W2, b2) in zip(layers, net.unflatten(theta), strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    x = np.array([[1.0, -2.0, 0.5]])
    h = np.maximum(layers[0][0] @ x[0] + layers[0][1], 0)
    np.testing.assert_allclose(net.forward(theta, x)[0], layers[1][0] @ h + layers[1][1])


def test_init_schemes():
    """torch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b; kaiming: N(0, 2/fan_in), b = 0;
    scale multiplies; same seed, same parameters."""
    net = MLP((400, 300, 10))
    th = net.init(0)
    (W1, b1), (W2, b2) = net.unflatten(th)
    assert np.abs(W1).max() <= 1 / np.sqrt(400) and np.abs(b2).max() <= 1 / np.sqrt(300)
    assert W1.std() == pytest.approx(1 / np.sqrt(400) / np.sqrt(3), rel=0.02)
    (K1, c1), _ = net.unflatten(net.init(0, "kaiming"))
    assert K1.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02) and not c1.any()
    np.testing.assert_array_equal(net.init(0, scale=3.0), 3.0 * th)
    np.testing.assert_array_equal(net.init(0), th)


@pytest.mark.parametrize("make,err,match", [
    (lambda: MLP((3,)), ValueError, "^widths must hold"),
    (lambda: MLP((3, 0, 2)), ValueError, r"^widths\[1\]"),
    (lambda: MLP((3, 2.5, 2)), TypeError, r"^widths\[1\]"),
    (lambda: MLP(3), TypeError, "^widths"),
    (lambda: MLP((3, 2), activation="gelu"), ValueError, "^activation"),
    (lambda: MLP((3, 2), loss="l1"), ValueError, "^loss"),
    (lambda: MLP((3, 2)).forward(np.zeros(7), np.zeros((1, 3))), ValueError, "^theta"),
    (lambda: MLP((3, 2)).forward(np.zeros(8), np.zeros((1, 4))), ValueError, "^X"),
    (lambda: MLP((3, 2)).forward(np.zeros(8), np.full((1, 3), np.nan)), ValueError, r"^X\["),
    (lambda: MLP((3, 2)).forward(np.zeros(8) + 0j, np.zeros((1, 3))), TypeError, "^theta"),
    (lambda: MLP((3, 2)).loss(np.zeros(8), np.zeros((2, 3)), np.zeros((2, 3))), ValueError,
     "^Y"),
    (lambda: MLP((3, 2)).hvp(np.zeros(8), np.zeros((2, 3)), np.zeros((2, 2)), np.zeros(8),
                             kind="fisher"), ValueError, "^kind"),
    (lambda: MLP((3, 2)).init(-1), ValueError, "^seed"),
    (lambda: MLP((3, 2)).init(0, init="xavier"), ValueError, "^init"),
    (lambda: MLP((3, 2)).flatten([(np.zeros((2, 3)), np.zeros(3))]), ValueError, "^layer 0"),
])
def test_bad_input(make, err, match):
    """Bad widths, names, shapes, NaN and dtypes get clear errors naming the argument."""
    with pytest.raises(err, match=match):
        make()
