"""Claim: any PyTorch network is a model (``sim.nets.TorchModel``) with exact
derivatives, so ``a``, ``s`` and every threshold of its minima are the same numbers the
NumPy MLP gives, and a convolutional net's are those of its dense per-sample Hessians
(``docs/theory.md``, section 11). Tolerances: 1e-10 relative for algebra between two
float64 implementations of the same products (round-off of sums over p <= 10^4 terms
is about 1e-13)."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sim  # noqa: E402
from sim import data  # noqa: E402
from sim.nets import MLP, curvature, polish, to_ensemble  # noqa: E402
from sim.nets.torch_model import (  # noqa: E402
    TorchModel,
    conv_module,
    mlp_module,
    seeded,
)

RTOL = 1e-10


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.max(np.abs(b)), 1e-300)
    return np.max(np.abs(a - b)) <= rtol * scale


def mlp_pair(activation="tanh", loss="mean", widths=(5, 7, 6, 3), seed=1):
    net = MLP(widths, activation, loss)
    return net, TorchModel(mlp_module(widths, activation), loss, input_shape=(widths[0],)), \
        net.init(seed)


def tiny_cnn(loss="mean", classes=3, seed=0):
    """Conv(1->2, 3x3) -> ReLU -> MaxPool(2) -> Flatten -> Linear(8, 5) -> tanh ->
    Linear(5, classes) on 4x4 images: p = 20 + 45 + 6 * classes (dense Hessians fit)."""
    nn = torch.nn

    def build():
        return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, dtype=torch.float64), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(8, 5, dtype=torch.float64), nn.Tanh(),
                             nn.Linear(5, classes, dtype=torch.float64))
    return TorchModel(seeded(build, seed), loss, input_shape=(1, 4, 4))


def explicit_jacobians(model, theta, X):
    """``(n, K, p)`` by ``torch.func.jacrev`` of the whole batch, independent of the
    model's chunked path."""
    x = torch.from_numpy(X).reshape(len(X), *model.input_shape)
    f = model._f(x)
    return torch.func.jacrev(f)(torch.from_numpy(theta)).numpy()


# ---------------------------------------------------------------- the MLP, twice
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("loss", ["mean", "half"])
def test_torch_mlp_equals_numpy_mlp(activation, loss):
    """Same flat layout, same function: forward, J v, J^T U, Jacobians, NTK, exact and
    Gauss-Newton HVPs and the loss agree to 1e-10."""
    net, tm, theta = mlp_pair(activation, loss)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((11, 5)), rng.standard_normal((11, 3))
    v, U = rng.standard_normal(net.n_params), rng.standard_normal((11, 3))
    assert tm.n_params == net.n_params and tm.n_outputs == net.n_outputs and tm.c == net.c
    assert close(tm.forward(theta, X), net.forward(theta, X))
    assert close(tm.jvp(theta, X, v), net.jvp(theta, X, v))
    assert close(tm.vjp(theta, X, U), net.vjp(theta, X, U))
    assert close(tm.jacobians(theta, X), net.jacobians(theta, X))
    assert close(tm.ntk(theta, X), net.ntk(theta, X))
    assert close(tm.ntk_blocks(theta, X), net.ntk_blocks(theta, X))
    for kind in ("exact", "gauss_newton"):
        assert close(tm.hvp(theta, X, Y, v, kind), net.hvp(theta, X, Y, v, kind))
    assert tm.loss(theta, X, Y) == pytest.approx(net.loss(theta, X, Y), rel=RTOL)
    lin = tm.linearize(theta, X)
    assert close(lin.jvp(v), net.jvp(theta, X, v)) and close(lin.vjp(U), net.vjp(theta, X, U))


def test_torch_mlp_has_the_same_thresholds():
    """At a polished teacher minimum (digits, 64-16-10): a, s by Lanczos and a, s,
    gamma and eta_exact(B) of the reduced ensemble equal the NumPy MLP's to 1e-10."""
    ds = data.digits()
    X = ds.X[:20]
    net = MLP((64, 16, 10), "tanh")
    star = net.init(3)
    Y = data.teacher(net, star, X)
    tm = TorchModel(mlp_module(net.widths, "tanh"), input_shape=(64,))
    for kind in ("gauss_newton", "exact"):
        c_np, c_t = curvature(net, star, X, Y, kind), curvature(tm, star, X, Y, kind)
        assert c_t.a == pytest.approx(c_np.a, rel=RTOL)
        assert c_t.s == pytest.approx(c_np.s, rel=1e-8)  # Lanczos on Sigma, tol 1e-8
    e_np, e_t = to_ensemble(net, star, X), to_ensemble(tm, star, X)
    for B in (1, 4):
        t_np, t_t = sim.thresholds(e_np, B), sim.thresholds(e_t, B)
        assert t_t.eta_exact == pytest.approx(t_np.eta_exact, rel=RTOL)
        assert t_t.a == pytest.approx(t_np.a, rel=RTOL)
        assert t_t.s == pytest.approx(t_np.s, rel=RTOL)


# ---------------------------------------------------------------- a conv net
def test_cnn_products_equal_explicit_jacobians():
    """NTK, NTK blocks, J v and J^T U of a tiny CNN equal products with its explicit
    ``jacrev`` Jacobians (1e-12), whole and chunked (a budget of two samples)."""
    tm = tiny_cnn()
    theta = tm.theta()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 16))
    J = explicit_jacobians(tm, theta, X)
    Jf = J.reshape(-1, tm.n_params)
    v, U = rng.standard_normal(tm.n_params), rng.standard_normal((7, tm.n_outputs))
    small = TorchModel(tm.module, input_shape=(1, 4, 4),
                       jacobian_budget=2 * 8 * tm.n_outputs * tm.n_params)
    for model in (tm, small):
        assert close(model.ntk(theta, X), Jf @ Jf.T, 1e-12)
        assert close(model.ntk_blocks(theta, X), np.matmul(J, J.transpose(0, 2, 1)), 1e-12)
        assert close(model.jacobians(theta, X), J, 1e-12)
    assert close(tm.jvp(theta, X, v), (Jf @ v).reshape(7, -1), 1e-12)
    assert close(tm.vjp(theta, X, U), Jf.T @ U.ravel(), 1e-12)


@pytest.mark.parametrize("B", [1, 3])
def test_cnn_reduced_thresholds_equal_dense(B):
    """``to_ensemble`` (reduced through the NTK Gram matrix) gives the thresholds of the
    dense per-sample Hessians ``c J_i^T J_i`` built from ``jacrev`` Jacobians (p = 83,
    n = 6, nK = 18: dense ``(n, p, p)`` is small)."""
    tm = tiny_cnn()
    theta = tm.theta()
    X = np.random.default_rng(2).standard_normal((6, 16))
    J = explicit_jacobians(tm, theta, X)
    Hs = tm.c * np.matmul(J.transpose(0, 2, 1), J)
    dense = sim.thresholds(sim.from_hessians(Hs), B)
    reduced = sim.thresholds(to_ensemble(tm, theta, X, reduce=True), B)
    for field in ("a", "s", "gamma", "eta_gd", "eta_theorem", "eta_exact"):
        assert getattr(reduced, field) == pytest.approx(getattr(dense, field), rel=1e-9), field


# ---------------------------------------------------------------- cross-entropy
def test_cross_entropy_gauss_newton_is_hessian_minus_residual_term():
    """Per sample: ``hessian(l_i) - sum_k r_ik Hess f_ik = J_i^T L_i J_i`` with
    ``L_i = diag p_i - p_i p_i^T`` and its factor ``F_i F_i^T = L_i``
    (``torch.autograd.functional.hessian``; 1e-10)."""
    tm = tiny_cnn("cross_entropy", classes=3)
    theta = tm.theta()
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 16))
    labels = np.array([0, 2, 1, 2])
    Y = np.eye(3)[labels]
    J = explicit_jacobians(tm, theta, X)
    L, F = tm.output_hessians(theta, X), tm.output_factors(theta, X)
    assert close(np.matmul(F, F.transpose(0, 2, 1)), L, 1e-12)
    assert all(np.linalg.matrix_rank(Li, tol=1e-12) == 2 for Li in L)  # K - 1
    R = tm.residuals(theta, X, Y)
    t = torch.from_numpy(theta)
    for i in range(len(X)):
        x = torch.from_numpy(X[i:i + 1]).reshape(1, 1, 4, 4)
        y = torch.from_numpy(Y[i:i + 1])

        def li(flat, x=x, y=y):
            return -(y * torch.log_softmax(tm._f(x)(flat), dim=1)).sum()
        full = torch.autograd.functional.hessian(li, t).numpy()
        residual = sum(R[i, k] * torch.autograd.functional.hessian(
            lambda flat, x=x, k=k: tm._f(x)(flat)[0, k], t).numpy() for k in range(3))
        assert close(full - residual, J[i].T @ L[i] @ J[i])


def test_cross_entropy_exact_hvp_is_full_hessian():
    """``hvp(kind="exact")`` of the mean cross-entropy equals the full autograd Hessian
    times ``v`` (1e-10), and the gradient is ``(1/n) J^T (softmax - Y)``."""
    tm = tiny_cnn("cross_entropy", classes=3)
    theta = tm.theta()
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((5, 16)), np.eye(3)[[0, 1, 2, 1, 0]]
    v = rng.standard_normal(tm.n_params)
    x, y = torch.from_numpy(X).reshape(5, 1, 4, 4), torch.from_numpy(Y)
    Hfull = torch.autograd.functional.hessian(tm._flat_loss(x, y), torch.from_numpy(theta))
    assert close(tm.hvp(theta, X, Y, v, "exact"), Hfull.numpy() @ v)
    g = torch.func.grad(tm._flat_loss(x, y))(torch.from_numpy(theta)).numpy()
    assert close(tm.gradient(theta, X, Y), g)


# ---------------------------------------------------------------- polish
@pytest.mark.parametrize("seed", [0, 1])
def test_polish_reaches_teacher_minimum_of_a_cnn(seed):
    """MSE against a teacher CNN's outputs: polish from 5% away reaches loss below
    1e-25 (an exact zero-loss minimum), status "converged"."""
    teacher = tiny_cnn(seed=10 + seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((6, 16))
    star = teacher.theta()
    Y = teacher.forward(star, X)
    start = star + 0.05 * np.linalg.norm(star) / np.sqrt(teacher.n_params) * \
        rng.standard_normal(teacher.n_params)
    pol = polish(teacher, start, X, Y, tol=1e-28)
    assert pol.converged, pol.message
    assert pol.loss < 1e-25 and teacher.loss(pol.theta, X, Y) < 1e-25


# ---------------------------------------------------------------- refusals
def test_refuses_batch_dependent_layers():
    nn = torch.nn
    bn = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, dtype=torch.float64),
                       nn.BatchNorm1d(3, dtype=torch.float64), nn.Linear(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="BatchNorm1d in training mode"):
        TorchModel(bn, input_shape=(4,))
    TorchModel(bn.eval(), input_shape=(4,))  # eval mode: running statistics, fixed
    drop = nn.Sequential(nn.Linear(4, 3, dtype=torch.float64), nn.Dropout(0.5),
                         nn.Linear(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="Dropout in training mode"):
        TorchModel(drop, input_shape=(4,))
    TorchModel(drop.eval(), input_shape=(4,))


def test_eval_batchnorm_is_per_sample():
    """Eval-mode BatchNorm is an affine map per sample: the forward of a batch equals the
    forwards of its samples one by one, and the Jacobians agree with jacrev."""
    nn = torch.nn
    net = seeded(lambda: nn.Sequential(
        nn.Conv2d(1, 2, 3, dtype=torch.float64), nn.BatchNorm2d(2, dtype=torch.float64),
        nn.ReLU(), nn.Flatten(), nn.Linear(8, 2, dtype=torch.float64)), 0)
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
    tm = TorchModel(net.eval(), input_shape=(1, 4, 4))
    X = np.random.default_rng(5).standard_normal((5, 16))
    theta = tm.theta()
    whole = tm.forward(theta, X)
    one = np.concatenate([tm.forward(theta, X[i:i + 1]) for i in range(5)])
    assert close(whole, one, 1e-12)
    assert close(tm.jacobians(theta, X), explicit_jacobians(tm, theta, X), 1e-12)


def test_refuses_bad_parameters_and_shapes():
    nn = torch.nn
    f32 = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="torch.float32, not torch.float64.*cast=True"):
        TorchModel(f32, input_shape=(3,))
    tm = TorchModel(f32, input_shape=(3,), cast=True)
    assert tm.theta().dtype == np.float64
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        TorchModel(lambda x: x, input_shape=(3,))
    with pytest.raises(TypeError, match="cast must be a bool"):
        TorchModel(f32, input_shape=(3,), cast="yes")
    with pytest.raises(ValueError, match="loss must be one of"):
        TorchModel(f32, "l1", input_shape=(3,), cast=True)
    with pytest.raises(ValueError, match="module must map"):
        TorchModel(nn.Conv2d(1, 1, 1, dtype=torch.float64), input_shape=(1, 2, 2))
    theta, X = tm.theta(), np.ones((4, 3))
    with pytest.raises(ValueError, match="X must have shape"):
        tm.forward(theta, np.ones((4, 5)))
    with pytest.raises(ValueError, match="theta must have shape"):
        tm.forward(theta[:-1], X)
    with pytest.raises(ValueError, match="Y must have shape"):
        tm.loss(theta, X, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"X\[1, 2\] is not finite"):
        tm.forward(theta, np.where(np.arange(12).reshape(4, 3) == 5, np.nan, 1.0))
    bad = theta.copy()
    bad[0] = np.inf
    with pytest.raises(ValueError, match=r"theta\[0\] is not finite"):
        tm.jvp(bad, X, theta)
    ce = TorchModel(f32, "cross_entropy", input_shape=(3,), cast=True)
    with pytest.raises(ValueError, match="probability rows"):
        ce.loss(theta, X, np.ones((4, 2)))


def test_module_is_copied():
    """Changing the caller's module afterwards changes nothing in the model."""
    lin = torch.nn.Linear(3, 2, dtype=torch.float64)
    tm = TorchModel(lin, input_shape=(3,))
    before = tm.forward(tm.theta(), np.ones((1, 3)))
    with torch.no_grad():
        lin.weight.add_(1.0)
    assert np.array_equal(tm.forward(tm.theta(), np.ones((1, 3))), before)


def test_import_sim_never_imports_torch():
    """``import sim`` (and its wings) leave torch unimported."""
    code = ("import sys, sim, sim.nets, sim.studies, sim.nets.torch_model; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_torch_names_the_extra(monkeypatch):
    from sim.nets import torch_model

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[torch\]"'):
        torch_model.TorchModel(object(), input_shape=(1,))


def test_conv_module_defaults():
    """The study's conv net on 8x8 digits: p and K as documented."""
    tm = TorchModel(seeded(conv_module, 0), input_shape=(1, 8, 8))
    assert tm.n_outputs == 10
    assert tm.n_params == (9 * 8 + 8) + (8 * 16 * 32 + 32) + (32 * 10 + 10)


# ---------------------------------------------------------------- SGD and the conv study
def test_sgd_is_reproducible_and_gd_is_the_gradient_iteration():
    """The same seed gives the same numbers; GD (B = n) is the gradient iteration
    ``theta - eta grad L`` (1e-12); a blow-up is data (diverged, loss inf), not an
    exception."""
    from sim.nets.torch_model import sgd

    tm = tiny_cnn()
    rng = np.random.default_rng(6)
    X, Y = rng.standard_normal((8, 16)), rng.standard_normal((8, 3))
    T0 = np.tile(tm.theta(), (3, 1))
    a = sgd(tm, T0, X, Y, 0.1, 2, 50, 7, check_every=10)
    b = sgd(tm, T0, X, Y, 0.1, 2, 50, 7, check_every=10)
    assert np.array_equal(a.thetas, b.thetas) and np.array_equal(a.loss_curves, b.loss_curves)
    gd = sgd(tm, tm.theta(), X, Y, 0.1, 8, 20, 0, check_every=5)
    theta = tm.theta()
    for _ in range(20):
        theta = theta - 0.1 * tm.gradient(theta, X, Y)
    assert close(gd.thetas[0], theta, 1e-12)
    assert gd.loss_curves[0, -1] == pytest.approx(tm.loss(theta, X, Y), rel=1e-12)
    blow = sgd(tm, tm.theta(), X, Y, 1e6, 8, 50, 0, check_every=5)
    assert blow.diverged[0] and blow.loss_curves[0, -1] == np.inf


def test_nn_conv_tiny(tmp_path):
    """The conv-net study end to end: every reported row is a polished minimum whose a,
    s and eta_exact are recomputed from its saved parameters to 1e-10; its sentence
    follows the data."""
    from sim.studies import nn_conv, preset, read_summary, run
    from sim.studies.core import read_runs

    cfg = preset(nn_conv.Config, None, n=20, channels=2, hidden=16, Bs=(4,), seeds=1,
                 steps=3000, stay_Bs=(2,), ratios=(0.8, 2.0), runs=4, stay_steps=100,
                 lyapunov_paths=32, lyapunov_steps=200)
    folder = run(nn_conv.STUDY, cfg, out=tmp_path, quiet=True)
    sm = read_summary(folder)
    records = read_runs(folder, nn_conv.STUDY.size(cfg))
    X, Y, *_ = nn_conv.data_of(cfg)
    minima = [r for r in records if r["at_minimum"]]
    assert minima, "no minimum in the tiny preset"
    for r in minima:
        assert r["loss"] < 1e-20
        seed = nn_conv.task_seed(cfg, records.index(r))
        model = nn_conv.model_of(cfg, seed)
        ens = to_ensemble(model, r["theta"], X, reduce=True)
        assert ens.a == pytest.approx(r["a"], rel=1e-10)
        assert ens.s == pytest.approx(r["s"], rel=1e-10)
        assert sim.thresholds(ens, r["B"]).eta_exact == pytest.approx(r["eta_exact"], rel=1e-10)
    fig3 = {int(k): v for k, v in sm["figure3"].items()}
    assert nn_conv.sentence(fig3, sm["transitions"], cfg.n) == sm["sentence"]
    assert f"{len(minima)} of {len(records)} runs reached an exact minimum" in sm["sentence"]
    flipped = [dict(t, verdict="disagrees") for t in sm["transitions"]]
    if flipped:
        assert "disagrees in" in nn_conv.sentence(fig3, flipped, cfg.n)
        assert f"agrees with eta_as in 0 of {len(flipped)}" in nn_conv.sentence(
            fig3, flipped, cfg.n)


def test_cross_entropy_curvature_and_thresholds_equal_dense():
    """Cross-entropy: ``a``, ``s`` by Lanczos (explicit and matrix-free) and the
    thresholds of ``to_ensemble`` (reduced and unreduced) equal those of the dense
    per-sample Gauss-Newton Hessians ``J_i^T L_i J_i`` (1e-9: Lanczos asked to 1e-10)."""
    from sim.nets import residual_gap

    tm = tiny_cnn("cross_entropy", classes=3)
    theta = tm.theta()
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((6, 16)), np.eye(3)[[0, 1, 2, 0, 1, 2]]
    J = explicit_jacobians(tm, theta, X)
    L = tm.output_hessians(theta, X)
    Hs = np.matmul(np.matmul(J.transpose(0, 2, 1), L), J)
    dense = sim.from_hessians(Hs)
    for method in ("explicit", "matrix_free"):
        cv = curvature(tm, theta, X, Y, tol=1e-10, method=method)
        assert cv.a == pytest.approx(dense.a, rel=1e-9)
        assert cv.s == pytest.approx(dense.s, rel=1e-9)
    for reduce in (True, False):
        ens = to_ensemble(tm, theta, X, reduce=reduce)
        for B in (1, 3):
            got, want = sim.thresholds(ens, B), sim.thresholds(dense, B)
            assert got.eta_exact == pytest.approx(want.eta_exact, rel=1e-9)
            assert got.a == pytest.approx(want.a, rel=1e-9)
    gap = residual_gap(tm, theta, X, Y)
    Hfull = torch.autograd.functional.hessian(
        tm._flat_loss(torch.from_numpy(X).reshape(6, 1, 4, 4), torch.from_numpy(Y)),
        torch.from_numpy(theta)).numpy()
    a_exact = np.linalg.eigvalsh(Hfull)[-1]
    assert gap == pytest.approx((a_exact - dense.a) / dense.a, rel=1e-6, abs=1e-9)
    with pytest.raises(ValueError, match="no zero-loss minimum"):
        polish(tm, theta, X, Y)
