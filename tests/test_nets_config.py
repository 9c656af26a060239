"""Claim: a training run is described by one validated TrainConfig; the learning-rate
warm-up and the checkpoints happen inside the training loop (kernel and BLAS loop
alike); and curvature, reduction and polish take any object of the written-down model
protocol, through its public members only."""

import numpy as np
import pytest

from sim import data
from sim.nets import (
    MLP,
    Model,
    TrainConfig,
    check_model,
    curvature,
    polish,
    to_ensemble,
    train,
    train_many,
)

MODEL_MEMBERS = ("n_params", "n_outputs", "c", "check_theta", "check_inputs", "check_targets",
                 "forward", "residuals", "loss", "jvp", "vjp", "jacobians", "ntk", "ntk_blocks",
                 "hvp", "linearize")
"""The members of sim.nets.model.Model, written out independently."""


def problem(n=12, seed=0):
    ds = data.digits()
    net = MLP((64, 8, 10), "tanh")
    return net, ds.X[:n], data.one_hot(ds.y[:n], 10), net.init(seed)


def test_config_validates_once_and_names_the_field():
    """Bad options are refused by name when the record is built, and a config and loose
    options together are a TypeError."""
    for kw, match in ((dict(steps=0), "steps"), (dict(steps=10, record_every=3), "record_every"),
                      (dict(steps=10, warmup=11), "warmup"),
                      (dict(steps=10, save_every=4), "save_every"),
                      (dict(steps=10, loss_bound=-1.0), "loss_bound"),
                      (dict(steps=10, backend="tpu"), "backend")):
        with pytest.raises(ValueError, match=match):
            TrainConfig(**kw)
    cfg = TrainConfig(steps=223)
    assert 223 % cfg.record_every == 0
    net, X, Y, theta = problem()
    with pytest.raises(TypeError, match="steps"):
        train(net, theta, X, Y, 0.1, 4, 10, 0, config=TrainConfig(steps=10))
    with pytest.raises(TypeError, match="TrainConfig"):
        train(net, theta, X, Y, 0.1, 4, config=dict(steps=10))


@pytest.mark.parametrize("method", ["kernel", "blas"])
def test_warmup_scales_the_first_steps(method):
    """With a warm-up of ``W`` steps the first GD step moves ``theta`` by ``1/W`` of the
    step without warm-up (algebra: 1e-12 relative), and after ``W`` steps the learning
    rate is the full one."""
    net, X, Y, theta = problem()
    full = train(net, theta, X, Y, 0.3, len(X), 1, 0, method=method)
    warm = train(net, theta, X, Y, 0.3, len(X), 8, 0, warmup=4, save_every=1, method=method)
    step_full = full.theta - theta
    step_warm = warm.checkpoints[1] - theta
    np.testing.assert_allclose(step_warm, step_full / 4, rtol=1e-12, atol=1e-15)
    for t in (2, 5, 8):  # GD step t uses eta min(1, t / 4): full from step 4 on
        th = warm.checkpoints[t - 1]
        want = -0.3 * min(1.0, t / 4) * net.gradient(th, X, Y)
        np.testing.assert_allclose(warm.checkpoints[t] - th, want, rtol=1e-9, atol=1e-14)


def test_checkpoints_are_the_prefix_runs():
    """The parameters saved at step ``k`` are those of the same run stopped at ``k``,
    bit for bit (kernel), and the last checkpoint is the final ``theta``."""
    net, X, Y, theta = problem()
    res = train(net, theta, X, Y, 0.2, 4, 60, 5, save_every=20, method="kernel")
    assert res.checkpoint_steps.tolist() == [0, 20, 40, 60]
    assert np.array_equal(res.checkpoints[0], theta)
    assert np.array_equal(res.checkpoints[-1], res.theta)
    for k, saved in zip(res.checkpoint_steps[1:], res.checkpoints[1:], strict=True):
        prefix = train(net, theta, X, Y, 0.2, 4, int(k), 5, method="kernel")
        assert np.array_equal(prefix.theta, saved)


def test_checkpoints_after_a_stop_are_nan():
    """A run that stops early (converged) leaves the later checkpoints NaN."""
    net, X, Y, theta = problem()
    out = train_many(net, theta[None], X, Y, 0.5, len(X), 400, 0, loss_tol=1e9, save_every=100)
    assert out.steps_run[0] == 0
    assert np.array_equal(out.checkpoints[0, 0], theta)
    assert np.all(np.isnan(out.checkpoints[0, 1:]))


def test_model_protocol():
    """MLP implements the protocol; other objects are refused by name; the
    linearization's products equal the net's own."""
    net, X, Y, theta = problem()
    assert isinstance(net, Model) and check_model(net) is net
    with pytest.raises(TypeError, match="net"):
        curvature(object(), theta, X, Y)
    with pytest.raises(TypeError, match="net"):
        polish("mlp", theta, X, Y)
    class Wrapped:  # exactly the protocol's members, delegated: no MLP inside sim sees it
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            if name not in MODEL_MEMBERS:
                raise AttributeError(name)
            return getattr(self._inner, name)

    wrapped = Wrapped(net)
    assert isinstance(wrapped, Model)
    Yt = data.teacher(net, theta, X)
    for method in ("explicit", "matrix_free"):
        ours, theirs = curvature(net, theta, X, Yt, method=method), curvature(
            wrapped, theta, X, Yt, method=method)
        assert (ours.a, ours.s) == (theirs.a, theirs.s)
    for reduce in (True, False):
        assert to_ensemble(wrapped, theta, X, reduce=reduce).a == pytest.approx(
            to_ensemble(net, theta, X, reduce=reduce).a, rel=1e-12)
    assert polish(wrapped, theta + 1e-3, X, Yt).converged
    lin = net.linearize(theta, X)
    rng = np.random.default_rng(0)
    v, U = rng.standard_normal(net.n_params), rng.standard_normal((len(X), 10))
    np.testing.assert_allclose(lin.jvp(v), net.jvp(theta, X, v), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(lin.vjp(U), net.vjp(theta, X, U), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(lin.ntk_blocks(), net.ntk_blocks(theta, X), rtol=1e-13)
