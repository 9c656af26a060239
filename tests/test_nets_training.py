"""Claim: training is GD/SGD on the linear engine's batches: one GD step is
theta - eta grad; a linear model trained by SGD follows linearized SGD path for path;
at a teacher minimum the mean squared distance of many SGD runs follows the exact
second-moment recursion of to_ensemble; train_many is a loop of train, bit for bit."""

import numba
import numpy as np
import pytest

import sim
from sim import Sampling, data
from sim.nets import MLP, to_ensemble, train, train_many

SAMPLINGS = [Sampling(2), Sampling(2, "with"), Sampling(2, "reshuffle"),
             Sampling(4, "reshuffle", drop_last=False), Sampling(scheme="mixture", p=0.4),
             Sampling(6)]


def _digits(n=40):
    ds = data.digits()
    X, y = data.first(ds.X, ds.y, n)
    return X, data.one_hot(y, 10), y


@pytest.mark.parametrize("method", ["kernel", "blas"])
def test_one_gd_step(method):
    """One GD step from theta is theta - eta * gradient (1e-15 absolute)."""
    X, Y, _ = _digits()
    net = MLP((64, 16, 10), "tanh")
    th = net.init(3)
    res = train(net, th, X, Y, 0.3, len(X), 1, 0, record_every=1, method=method)
    np.testing.assert_allclose(res.theta, th - 0.3 * net.gradient(th, X, Y), rtol=0, atol=1e-15)
    assert res.steps_run == 1 and not res.diverged
    assert res.loss_curve[0] == pytest.approx(net.loss(th, X, Y), rel=1e-12)
    assert res.loss == pytest.approx(net.loss(res.theta, X, Y), rel=1e-12)


@pytest.mark.parametrize("smp", SAMPLINGS, ids=str)
@pytest.mark.parametrize("method", ["kernel", "blas"])
def test_linear_model_is_linearized_sgd(smp, method):
    """A linear model (widths (d, 1), loss "half") at teacher targets: every SGD step is
    exactly theta - theta* <- (I - eta H_xi)(theta - theta*) with H_i = z_i z_i^T,
    z_i = (x_i, 1); train(seed=s) and simulate(seed=s) draw the same batches, so the
    final distance equals the simulated path's (1e-10 relative)."""
    rng = np.random.default_rng(0)
    n, d = 6, 3
    net = MLP((d, 1), loss="half")
    X = rng.standard_normal((n, d))
    theta_star = rng.standard_normal(net.n_params)
    Y = data.teacher(net, theta_star, X)
    ens = sim.from_factors(np.hstack([X, np.ones((n, 1))])[:, :, None])
    x0 = rng.standard_normal(net.n_params)
    eta = 0.8 * sim.thresholds(ens, smp.B if smp.scheme == "reshuffle" else smp).eta_gd
    for seed in (0, 7):
        res = train(net, theta_star + x0, X, Y, eta, smp, 25, seed, record_every=25,
                    method=method)
        path = sim.simulate(ens, eta, smp, 25, 1, seed, x0=x0, method="path")
        got = np.log(np.linalg.norm(res.theta - theta_star))
        assert got == pytest.approx(path.log_norms[0, -1], rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("ratio", [0.5, 1.2])
def test_sgd_at_a_minimum_follows_the_exact_recursion(ratio):
    """From theta* + 1e-6 u at a teacher minimum, the mean of ||theta_t - theta*||^2 over
    4000 SGD runs (B = 1) equals the exact second moment of to_ensemble at t = 4, 8, 12,
    within 5 standard errors, below and above eta_exact (the linearization is right).
    Above, the horizon stops while the effective sample size of the squared distances is
    above 500 (farther out, rare runs carry the mean: docs/theory.md, section 8)."""
    net = MLP((2, 3, 1), "tanh", "mean")
    rng = np.random.default_rng(5)
    theta_star = net.init(5, scale=2.0)
    X = rng.standard_normal((6, 2))
    Y = data.teacher(net, theta_star, X)
    ens = to_ensemble(net, theta_star, X, reduce=False)
    eta = ratio * sim.thresholds(ens, 1).eta_exact
    u = rng.standard_normal(net.n_params)
    u /= np.linalg.norm(u)
    delta, m = 1e-6, 4000
    exact = sim.second_moments(ens, eta, 1, 12, M0=np.outer(u, u))
    assert (exact[12] > 1) == (ratio > 1)
    for T in (4, 8, 12):
        res = train_many(net, np.tile(theta_star + delta * u, (m, 1)), X, Y, eta, 1, T,
                         list(range(m)), record_every=T)
        w = np.sum((res.thetas - theta_star) ** 2, axis=1) / delta**2
        assert w.sum() ** 2 / np.sum(w * w) > 500, "rare paths carry the mean"
        se = w.std(ddof=1) / np.sqrt(m)
        assert abs(w.mean() - exact[T]) <= 5 * se, (T, w.mean(), exact[T], se)


def test_train_many_is_a_loop_of_train():
    """Five models with their own eta, sampling, seed and momentum: train_many equals
    train one by one, bit for bit, and does not depend on the thread count."""
    X, Y, y = _digits(30)
    net = MLP((64, 12, 10))
    thetas = np.stack([net.init(s) for s in range(5)])
    etas = [0.1, 0.2, 0.05, 0.3, 0.15]
    smps = [Sampling(4), Sampling(3, "with"), Sampling(5, "reshuffle"),
            Sampling(scheme="mixture", p=0.5), Sampling(30)]
    moms = [0.0, 0.5, 0.9, 0.0, 0.3]
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            runs.append(train_many(net, thetas, X, Y, etas, smps, 40, [3, 4, 5, 6, 7],
                                   momentum=moms, record_every=10, labels=y))
    finally:
        numba.set_num_threads(before)
    many = runs[0]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.thetas, many.thetas)
    for i in range(5):
        one = train(net, thetas[i], X, Y, etas[i], smps[i], 40, 3 + i, momentum=moms[i],
                    record_every=10, labels=y, method="kernel")
        np.testing.assert_array_equal(one.theta, many.thetas[i])
        np.testing.assert_array_equal(one.loss_curve, many.loss_curves[i])
        assert one.steps_run == many.steps_run[i] == 40
    serial = train_many(net, thetas, X, Y, etas, smps, 40, [3, 4, 5, 6, 7], momentum=moms,
                        record_every=10, labels=y, parallel=False)
    np.testing.assert_array_equal(serial.thetas, many.thetas)


def test_convergence_and_divergence_are_data():
    """A loss tolerance stops a run as converged; a learning rate far above 2/a stops it
    as diverged (no exception, steps_run says when)."""
    rng = np.random.default_rng(1)
    net = MLP((3, 8, 1), "tanh", "half")
    X = rng.standard_normal((5, 3))
    Y = data.teacher(net, net.init(2), X)
    th0 = net.init(4)
    ok = train(net, th0, X, Y, 0.2, 5, 20000, 0, loss_tol=1e-8, record_every=10)
    assert ok.converged and not ok.diverged and ok.steps_run < 20000 and ok.loss <= 1e-8
    bad = train_many(net, th0[None], X, Y, 50.0, 5, 2000, 0, record_every=1)
    assert bad.diverged[0] and not bad.converged[0] and bad.steps_run[0] < 2000
    assert np.isnan(bad.loss_curves[0, -1])


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(thetas0=np.zeros((2, 5))), ValueError, "^thetas0"),
    (dict(thetas0=np.full((1, 9), np.nan)), ValueError, "^thetas0"),
    (dict(etas=0.0), ValueError, "^eta"), (dict(etas=[0.1, 0.2]), ValueError, "^etas"),
    (dict(samplings=7), ValueError, "^B"), (dict(samplings=2.5), TypeError, "^sampling"),
    (dict(seeds=-1), ValueError, "^seed"), (dict(steps=0), ValueError, "^steps"),
    (dict(momentum=1.0), ValueError, "^momentum"),
    (dict(record_every=3), ValueError, "^record_every"),
    (dict(backend="tpu"), ValueError, "^backend"),
    (dict(X=np.zeros((5, 4))), ValueError, "^X"),
])
def test_bad_input(kwargs, err, match):
    """Bad shapes, NaN, samplings and settings get clear errors naming the argument."""
    net = MLP((3, 2, 1))
    args = dict(thetas0=np.zeros((1, 11)), X=np.zeros((5, 3)), Y=np.zeros((5, 1)), etas=0.1,
                samplings=2, steps=10, seeds=0) | kwargs
    if kwargs.keys() & {"thetas0"} and args["thetas0"].shape[1] == 9:
        net = MLP((3, 2, 1))
        args["thetas0"] = np.full((1, net.n_params), np.nan)
    with pytest.raises(err, match=match):
        train_many(net, args.pop("thetas0"), args.pop("X"), args.pop("Y"), args.pop("etas"),
                   args.pop("samplings"), args.pop("steps"), args.pop("seeds"), **args)
