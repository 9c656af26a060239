"""Claim: Monte Carlo of linearized SGD estimates the exact second moments and
growth rates, reproducibly (same seed, same numbers, any thread count or kernel)."""

import itertools

import numba
import numpy as np
import pytest

import sim
from sim import Sampling
from sim.nonlinear_toy import reference

ESS_MIN = 500
"""Below this effective sample size a mean of ||x_t||^2 is carried by a few paths and
its standard error is not a reliable yardstick, so such steps are not compared."""


def _z_scores(res, exact):
    """|MC - exact| / SE over the recorded steps 1 <= t before ESS first drops below
    ESS_MIN (after that the sample has lost the rare paths that carry the mean)."""
    ok = (res.t >= 1) & (res.t <= res.reliable_until(ESS_MIN))
    return np.abs(res.mean_sq_norm[ok] - exact[ok]) / res.mean_sq_norm_se[ok], res.t[ok]


@pytest.mark.parametrize("smp", [Sampling(2), Sampling(5), Sampling(2, "with"),
                                 Sampling(scheme="mixture", p=0.4)], ids=str)
@pytest.mark.parametrize("method", ["path", "grouped"])
def test_matches_exact_moments(smp, method):
    """Monte Carlo E||x_t||^2 matches the exact recursion within 5 standard errors, t <= 30."""
    ens = sim.wishart(8, 3, 3, seed=1)
    eta = 0.4 * sim.thresholds(ens, smp).eta_exact
    res = sim.simulate(ens, eta, smp, 30, 20000, seed=5, method=method)
    exact = sim.second_moments(ens, eta, smp, 30)
    z, t = _z_scores(res, exact)
    assert t.size >= 10, "too few steps with a usable effective sample size"
    assert z.max() < 5
    assert res.mean_sq_norm[0] == pytest.approx(1.0, rel=1e-12)  # unit random start


def _two_epochs(ens, eta, x0, epoch_batches):
    """Exact E||x_t||^2 over two epochs of random reshuffling: the average over every
    pair of permutations, each split into batches by ``epoch_batches``."""
    perms = list(itertools.permutations(range(ens.n)))
    steps = 2 * len(epoch_batches(perms[0]))
    exact = np.zeros(steps + 1)
    for p1 in perms:
        for p2 in perms:
            x = x0.copy()
            exact[0] += x @ x
            for t, batch in enumerate(epoch_batches(p1) + epoch_batches(p2), start=1):
                x = x - eta * ens.Hs[list(batch)].mean(0) @ x
                exact[t] += x @ x
    return exact / len(perms) ** 2


def test_reshuffle_matches_permutation_enumeration():
    """Random reshuffling (n = 4, B = 2): E||x_t||^2 over two epochs equals the average
    over every pair of permutations, within 5 standard errors."""
    ens = sim.wishart(4, 2, 2, seed=2)
    eta = 0.8 / ens.a
    x0 = np.array([0.6, 0.8])
    exact = _two_epochs(ens, eta, x0, lambda p: [p[:2], p[2:]])
    res = sim.simulate(ens, eta, Sampling(2, "reshuffle"), 4, 20000, seed=1, x0=x0)
    z, t = _z_scores(res, exact)
    assert t.size == 4 and z.max() < 5


def test_reshuffle_keep_last_matches_enumeration():
    """Random reshuffling with drop_last=False (n = 3, B = 2): each epoch is a batch of
    two then a batch of one; E||x_t||^2 over two epochs equals the average over every
    pair of permutations, within 5 standard errors."""
    ens = sim.wishart(3, 2, 2, seed=5)
    eta = 0.8 / ens.a
    x0 = np.array([0.6, 0.8])
    exact = _two_epochs(ens, eta, x0, lambda p: [p[:2], p[2:]])
    smp = Sampling(2, "reshuffle", drop_last=False)
    for method in ("path", "grouped"):
        res = sim.simulate(ens, eta, smp, 4, 20000, seed=3, x0=x0, method=method)
        z, t = _z_scores(res, exact)
        assert t.size == 4 and z.max() < 5


def test_full_batch_is_gradient_descent():
    """B = n without replacement (and reshuffling) is GD: every path follows
    x_t = (I - eta H)^t x_0 to 1e-12."""
    ens = sim.wishart(5, 3, 2, seed=0)
    eta, x0 = 0.9 / ens.a, np.array([1.0, -2.0, 0.5])
    x, want = x0.copy(), []
    for _ in range(11):
        want.append(np.log(np.linalg.norm(x)))
        x = x - eta * ens.H @ x
    for smp in (Sampling(5), Sampling(5, "reshuffle")):
        res = sim.simulate(ens, eta, smp, 10, 3, seed=0, x0=x0)
        np.testing.assert_allclose(res.log_norms, np.tile(want, (3, 1)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("smp", [Sampling(3), Sampling(3, "with"), Sampling(3, "reshuffle"),
                                 Sampling(4, "reshuffle", drop_last=False),
                                 Sampling(scheme="mixture", p=0.3)], ids=str)
def test_kernels_agree_path_by_path(smp):
    """The path kernel (serial and parallel) and the grouped kernel give the same paths."""
    ens = sim.wishart(9, 10, 3, seed=4)
    a = sim.simulate(ens, 0.5 / ens.a, smp, 40, 64, 9, method="path")
    b = sim.simulate(ens, 0.5 / ens.a, smp, 40, 64, 9, method="path", parallel=False)
    c = sim.simulate(ens, 0.5 / ens.a, smp, 40, 64, 9, method="grouped")
    np.testing.assert_array_equal(a.log_norms, b.log_norms)
    np.testing.assert_allclose(a.log_norms, c.log_norms, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["path", "grouped"])
def test_thread_count_independence(method):
    """Same seed, same numbers, whatever the number of threads (bitwise)."""
    ens = sim.wishart(16, 12, 4, seed=3)
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            runs.append(sim.simulate(ens, 0.3 / ens.a, 4, 20, 257, 42, method=method).log_norms)
    finally:
        numba.set_num_threads(before)
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)


def test_factors_and_dense_same_paths():
    """A factored ensemble and its dense twin give the same paths (1e-12)."""
    fac = sim.wishart(6, 4, 2, seed=8, factors=True)
    dense = sim.from_hessians(fac.dense)
    a = sim.simulate(fac, 0.5 / fac.a, 2, 30, 50, 3)
    b = sim.simulate(dense, 0.5 / fac.a, 2, 30, 50, 3, method="path")
    np.testing.assert_allclose(a.log_norms, b.log_norms, rtol=1e-10, atol=1e-11)


def test_streams_do_not_depend_on_paths():
    """Path p's trajectory is the same whether 10 or 1000 paths run."""
    ens = sim.wishart(6, 3, 2, seed=1)
    small = sim.simulate(ens, 0.5 / ens.a, 2, 15, 10, 4)
    large = sim.simulate(ens, 0.5 / ens.a, 2, 15, 1000, 4)
    np.testing.assert_array_equal(small.log_norms, large.log_norms[:10])


def test_growth_rate_matches_log_rho():
    """The fitted growth of log E||x_t||^2 is within 5 jackknife standard errors of
    log rho(T) on both sides of the threshold, with the right sign."""
    ens = sim.prescribed(1.0, 0.05, 3, 8, seed=0)
    th = sim.thresholds(ens, 2)
    for ratio in (0.8, 1.2):
        eta = ratio * th.eta_exact
        res = sim.simulate(ens, eta, 2, 60, 8192, seed=2, fit_from=20)
        log_rho = sim.spectral_radius(ens, eta, 2).log_rho
        assert res.ess[-1] > ESS_MIN
        assert abs(res.growth_rate - log_rho) <= 5 * res.growth_rate_se, (ratio, res, log_rho)
        lo, hi = res.growth_rate_ci
        assert lo < hi
        assert np.sign(res.growth_rate) == np.sign(ratio - 1)


def test_unstable_long_run_is_finite():
    """3x the threshold for 2000 steps: log-domain estimates stay finite, never NaN,
    and every path is flagged as diverged with the step it crossed the bound."""
    ens = sim.wishart(6, 3, 1, seed=0)
    eta = 3 * sim.thresholds(ens, 1).eta_exact
    res = sim.simulate(ens, eta, 1, 2000, 64, 1)
    assert np.all(np.isfinite(res.log_mean_sq_norm))
    assert np.all(np.isfinite(res.mean_log_norm))
    assert not np.any(np.isnan(res.mean_sq_norm))
    assert np.all(res.diverged_at > 0)
    rows = np.arange(64)
    assert np.all(res.log_norms[rows, res.diverged_at] > np.log(1e100))
    assert np.all(res.log_norms[rows, res.diverged_at - 1] <= np.log(1e100))
    assert np.isfinite(res.lyapunov) and res.lyapunov > 0


def test_lyapunov_below_half_log_rho():
    """Jensen: the Lyapunov exponent is at most (1/2) log rho(T) (95% interval)."""
    ens = sim.wishart(6, 3, 1, seed=0)
    eta = 1.2 * sim.thresholds(ens, 1).eta_exact
    est = sim.lyapunov_exponent(ens, eta, 1, steps=1000, paths=512, seed=3)
    log_rho = np.log(sim.spectral_radius(ens, eta, 1).rho)
    assert est.ci[0] <= est.value <= est.ci[1]
    assert est.value + 5 * est.se < 0.5 * log_rho  # here strictly: typical paths lag


def test_toy_lyapunov_sign():
    """Toy x = 1 at eta = 0.7: the exponent E log|1 - 0.7 h| (about +0.178), within 5
    standard errors."""
    est = sim.lyapunov_exponent(sim.toy()[1], 0.7, 1, steps=2000, paths=2048, seed=0)
    assert abs(est.value - reference().lyapunov_07) <= 5 * est.se
    assert est.status == "ok"


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(eta=0.0), ValueError, "^eta"), (dict(eta=np.inf), ValueError, "^eta"),
    (dict(eta=True), TypeError, "^eta"), (dict(eta="0.1"), TypeError, "^eta"),
    (dict(eta=0.1 + 0j), TypeError, "^eta"),
    (dict(sampling=0), ValueError, "^B"), (dict(sampling=7), ValueError, "^B"),
    (dict(sampling=1.5), TypeError, "^sampling"), (dict(sampling="2"), TypeError, "^sampling"),
    (dict(steps=0), ValueError, "^steps"),
    (dict(paths=0), ValueError, "^paths"), (dict(seed=-1), ValueError, "^seed"),
    (dict(seed=1.0), TypeError, "^seed"),
    (dict(backend="tpu"), ValueError, "^backend"), (dict(method="fast"), ValueError, "^method"),
    (dict(method=["path"]), TypeError, "^method"),
    (dict(record_every=3), ValueError, "^record_every"),
    (dict(x0=np.zeros(3)), ValueError, "^x0"), (dict(x0=np.ones(4)), ValueError, "^x0"),
    (dict(x0=np.array([1.0, np.nan, 0.0])), ValueError, "^x0"),
    (dict(x0=np.array([1.0, 1j, 0.0])), TypeError, "^x0"),
    (dict(x0=["1", "0", "0"]), TypeError, "^x0"),
])
def test_bad_inputs(kwargs, err, match):
    """Invalid arguments raise clear errors naming the argument, before any kernel runs."""
    ens = sim.wishart(6, 3, 1, seed=0)
    args = dict(eta=0.1, sampling=2, steps=10, paths=4, seed=0) | kwargs
    with pytest.raises(err, match=match):
        sim.simulate(ens, **args)


def test_grouped_needs_dense():
    """method='grouped' on a factored ensemble is a ValueError."""
    with pytest.raises(ValueError, match="^method='grouped'"):
        sim.simulate(sim.rank_one(4, 3), 0.1, 1, 5, 2, 0, method="grouped")


def test_config_validates_on_construction():
    """SimulationConfig is keyword-only, frozen, normalised and rejects bad values."""
    from dataclasses import FrozenInstanceError

    cfg = sim.SimulationConfig(eta=0.1, sampling=2, steps=10, paths=4, seed=0)
    assert cfg.fit_from == 5 and cfg.sampling == Sampling(2)
    with pytest.raises(FrozenInstanceError):
        cfg.eta = 1.0
    with pytest.raises(TypeError):
        sim.SimulationConfig(0.1, 2, 10, 4, 0)
    with pytest.raises(ValueError, match="^steps"):
        sim.SimulationConfig(eta=0.1, sampling=2, steps=0, paths=4, seed=0)


def test_simulate_accepts_a_config():
    """simulate(ens, config) gives the same paths as the spelled-out call; mixing a
    config with the spelled-out arguments is a TypeError."""
    ens = sim.wishart(6, 3, 2, seed=1)
    cfg = sim.SimulationConfig(eta=0.2, sampling=Sampling(2, "with"), steps=12, paths=16,
                               seed=3, record_every=3)
    a = sim.simulate(ens, cfg)
    b = sim.simulate(ens, config=cfg)
    c = sim.simulate(ens, 0.2, Sampling(2, "with"), 12, 16, 3, record_every=3)
    np.testing.assert_array_equal(a.log_norms, c.log_norms)
    np.testing.assert_array_equal(b.log_norms, c.log_norms)
    assert a.config == cfg
    with pytest.raises(TypeError, match="either a SimulationConfig"):
        sim.simulate(ens, cfg, 2)
