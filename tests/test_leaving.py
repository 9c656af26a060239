"""Claim: the linearized model's "leaving" is measured right: exit steps of a quadratic
form match an independent simulation, and the almost-sure threshold brackets the sign
change of the Lyapunov exponent (``docs/theory.md``, sections 4, 8 and 9)."""

import numpy as np
import pytest

import sim
from sim.estimates import wilson
from sim.montecarlo import almost_sure_threshold, exit_steps
from theory.higher import almost_sure_threshold as as_1d


def test_exit_steps_full_batch_is_deterministic():
    """For GD (B = n) the exit step of every start equals the explicit iteration of
    ``I - eta H`` (checked every 5 steps)."""
    ens = sim.wishart(6, 4, 2, seed=1)
    eta = 1.05 * 2 / ens.a
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((5, 4))
    got = exit_steps(ens, eta, ens.n, x0, 400, factor=100.0, check_every=5)
    A = np.eye(4) - eta * ens.H
    for j, x in enumerate(x0):
        q0, y, expect = x @ ens.H @ x, x.copy(), -1
        for t in range(1, 401):
            y = A @ y
            if t % 5 == 0 and y @ ens.H @ y > 100 * q0:
                expect = t
                break
        assert got[j] == expect


def test_exit_probability_matches_plain_simulation():
    """Toy x = 1, B = 1: the fraction of paths whose ``h``-weighted square exceeds 100x its
    start within 200 steps matches a plain NumPy simulation (5 combined standard
    errors; one comparison)."""
    _, ens = sim.toy()
    eta = 0.6
    steps = 200
    got = exit_steps(ens, eta, 1, np.ones((4000, 1)), steps, seeds=3) >= 0
    rng = np.random.default_rng(7)
    h = np.array([0.2, 3.8])
    factors = np.abs(1 - eta * h[rng.integers(0, 2, (20000, steps))])
    peak = np.max(np.cumsum(2 * np.log(factors), axis=1), axis=1)
    ref = peak > np.log(100)
    se = np.sqrt(got.var() / got.size + ref.var() / ref.size)
    assert abs(got.mean() - ref.mean()) <= 5 * se + 1e-12


def test_exit_steps_draws_the_batches_of_its_seed():
    """A path with seed ``s`` follows the path ``simulate(..., paths=1, seed=s)`` (the
    stream a net trained with ``s`` draws its batches from): with ``Q = I`` its exit step
    is the first checked step where that path's norm exceeds sqrt(factor) times its
    start, for every seed."""
    ens = sim.wishart(8, 3, 1, seed=2, factors=True)
    eta = 1.15 * sim.thresholds(ens, 2).eta_exact
    x0 = np.random.default_rng(4).standard_normal(3)
    for s in range(6):
        got = exit_steps(ens, eta, 2, x0[None], 300, Q=np.eye(3), factor=4.0, check_every=5,
                         seeds=[s])[0]
        L = sim.simulate(ens, eta, 2, 300, 1, s, x0=x0, record_every=5).log_norms[0]
        over = np.flatnonzero(L > L[0] + np.log(2.0))
        assert got == (5 * over[0] if over.size else -1), s


def test_exit_steps_same_seeds_same_batches():
    """Per-path seeds give each path its own stream: a path's exit step does not depend
    on the other paths, and equal seeds give equal steps."""
    ens = sim.wishart(8, 3, 1, seed=2, factors=True)
    x0 = np.random.default_rng(1).standard_normal((3, 3))
    eta = 1.2 * sim.thresholds(ens, 2).eta_exact
    a = exit_steps(ens, eta, 2, x0, 300, seeds=[5, 6, 7])
    b = exit_steps(ens, eta, 2, x0[1:2], 300, seeds=[6])
    assert a[1] == b[0]


def test_exit_steps_bad_input():
    """Bad arguments are refused by name."""
    ens = sim.wishart(4, 3, 1, seed=0)
    x0 = np.ones((2, 3))
    with pytest.raises(ValueError, match="check_every"):
        exit_steps(ens, 0.1, 1, x0, 10, check_every=3)
    with pytest.raises(ValueError, match="factor"):
        exit_steps(ens, 0.1, 1, x0, 10, factor=1.0)
    with pytest.raises(ValueError, match="x0"):
        exit_steps(ens, 0.1, 1, np.ones((2, 2)), 10)
    with pytest.raises(ValueError, match="seeds"):
        exit_steps(ens, 0.1, 1, x0, 10, seeds=[1, 2, 3])
    with pytest.raises(ValueError, match="Q"):
        exit_steps(ens, 0.1, 1, x0, 10, Q=np.triu(np.ones((3, 3))))


@pytest.mark.parametrize("B", [1])
def test_almost_sure_threshold_toy(B):
    """On the toy's x = 1 the bracket ``[lo, hi]`` holds the exact 1-D threshold (where
    ``E log|1 - eta h|`` crosses 0), and the point estimate is within the bracket."""
    _, ens = sim.toy()
    exact = as_1d([0.2, 3.8], "without", B)
    res = almost_sure_threshold(ens, B, steps=2000, paths=512, seed=1)
    assert res.lo <= exact <= res.hi, (res, exact)
    assert res.lo <= res.value <= res.hi
    assert res.lo >= sim.thresholds(ens, B).eta_exact  # eta_as >= eta_exact


def test_almost_sure_threshold_full_batch_is_two_over_a():
    """A full batch is GD's deterministic map: ``eta_as = 2/a`` exactly, no simulation."""
    ens = sim.wishart(5, 3, 2, seed=4)
    res = almost_sure_threshold(ens, 5)
    assert res.status == "exact" and res.value == res.lo == res.hi == 2 / ens.a


def test_wilson_interval():
    """Wilson 95% intervals: known values, never outside [0, 1], the estimate inside."""
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-4)
    k = np.arange(33)
    lo, hi = wilson(k, 32)
    assert np.all((lo <= k / 32) & (k / 32 <= hi))
    with pytest.raises(ValueError, match="^k"):
        wilson(3, 2)
    with pytest.raises(ValueError, match="^k"):
        wilson(1.5, 4)
    with pytest.raises(ValueError, match="^n"):
        wilson(0, 0)
