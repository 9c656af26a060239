"""Claim: the nonlinear toy of docs/theory.md, section 5, is simulated with the exact
gradient of f, GD never leaves x = 1 for eta < 1, and SGD (B = 1) leaves it with
probability 0 below the thresholds and 1 above them."""

import numpy as np
import pytest
from scipy.optimize import brentq

import sim
from sim import nonlinear_toy as toy

REF = toy.reference()
KINKS = REF.kinks


def test_reference_matches_the_poster():
    """The formulas of reference() give the numbers printed by Wu, Ma & E's poster (to
    the digits printed): the one place the published values are typed."""
    assert round(REF.eta_mean_square, 4) == 0.5525 and REF.eta_mean_square == 4 / 7.24
    assert round(REF.eta_almost_sure, 4) == 0.5595
    assert round(REF.mean_square_07, 4) == 1.7476 and round(REF.lyapunov_07, 3) == 0.178
    assert (REF.a, REF.s, REF.eta_gd) == pytest.approx((2.0, 1.8, 1.0), rel=1e-15)
    assert [round(k, 4) for k in KINKS] == [-0.4625, 0.2403, 0.5796, 3.6427]
    for k in KINKS:  # each is a kink: both branches of some f_i agree there
        assert min(abs(k**2 - c * (k - 1) ** 2) for c in toy.C) < 1e-12


def _fd_grad(x, h=1e-6):
    """Central finite difference of the per-sample losses."""
    return (toy.loss_terms(x + h) - toy.loss_terms(x - h)) / (2 * h)


@pytest.mark.parametrize("x", [-0.8, -0.2, 0.1, 0.4, 0.9, 1.0 - 1e-5, 1.3, 2.5, 4.0])
def test_step_is_exact_gradient(x):
    """One GD step is x - eta f'(x); one SGD (B = 1) step is x - eta f_i'(x) for some i
    (f' by central differences, away from the kinks; 1e-6 relative)."""
    assert min(abs(x - k) for k in KINKS) > 1e-3
    eta = 0.3
    g = _fd_grad(np.array(x))
    gd = toy.simulate_toy(eta, 1, 1, 0, B=2, x0=x, keep=1)
    assert gd.paths[0, 1] == pytest.approx(x - eta * g.mean(), rel=1e-6, abs=1e-9)
    sgd = toy.simulate_toy(eta, 64, 1, 0, B=1, x0=x, keep=64)
    outcomes = np.unique(np.round(sgd.paths[:, 1], 12))
    want = np.round(x - eta * g, 12)
    assert len(outcomes) == len(np.unique(want))  # one outcome where both f_i agree
    assert np.allclose(outcomes, np.unique(want), rtol=1e-6)


def test_linearisation_matches_the_ensemble():
    """At x = 1 the toy's multipliers give the exact theory of sim.toy(): E m^2 = rho(T)."""
    ens = sim.toy()[1]
    for eta in (0.3, REF.eta_mean_square, 0.7):
        assert toy.mean_square_multiplier(eta) == pytest.approx(
            sim.spectral_radius(ens, eta, 1).rho, rel=1e-12)
    assert sim.spectral_radius(ens, REF.eta_mean_square, 1).rho == pytest.approx(1.0, rel=1e-12)


def test_toy_ensembles_are_the_toys_curvatures():
    """``sim.toy()`` types the toy's curvatures a second time (the engine cannot import
    the toy): they are the second derivatives of ``f_1, f_2`` at ``x = 0`` and ``x = 1``
    (central differences, 1e-6 relative)."""
    h = 1e-4
    for x, ens in zip((0.0, 1.0), sim.toy(), strict=True):
        curv = (toy.loss_terms(np.array(x + h)) - 2 * toy.loss_terms(np.array(x))
                + toy.loss_terms(np.array(x - h))) / h**2
        np.testing.assert_allclose(ens.Hs[:, 0, 0], curv, rtol=1e-6)


def test_thresholds_have_one_root_in_bracket():
    """Each threshold function changes sign exactly once on the bracket (0.3, 1.5)."""
    grid = np.linspace(0.3, 1.5, 20001)
    for B, replace in ((1, False), (2, True), (2, False)):
        with np.errstate(divide="ignore"):
            curves = (toy.mean_square_multiplier(grid, B, replace) - 1,
                      toy.lyapunov_at_one(grid, B, replace))
        for values in curves:
            signs = np.sign(values[np.isfinite(values)])
            assert np.count_nonzero(np.diff(signs[signs != 0])) == 1
    assert brentq(lambda e: toy.lyapunov_at_one(e), 0.3, 1.5) == pytest.approx(
        REF.eta_almost_sure, rel=1e-10)


def test_basin():
    """The linear region around x = 1 is bounded by the kinks 0.5796 and 3.6427."""
    lo, hi = toy.basin_of_one()
    assert lo == pytest.approx(KINKS[2], rel=1e-14) and hi == pytest.approx(KINKS[3], rel=1e-14)


def test_escape_statistics():
    """Pinned seed, 1000 runs x 3000 steps: GD never escapes (eta = 0.7, 0.95); SGD never
    escapes at 0.45 and 0.5 (every |1 - eta h_i| <= 1 there) and always escapes at 0.6 and
    0.7, ending at x = 0; the escape time at 0.7 has median 60 +- 10."""
    for eta in (0.7, 0.95):
        assert toy.simulate_toy(eta, 200, 3000, 1, B=2).escape_probability == 0.0
    for eta in (0.45, 0.5):
        assert toy.simulate_toy(eta, 1000, 3000, 2).escape_probability == 0.0
    for eta in (0.6, 0.7):
        res = toy.simulate_toy(eta, 1000, 3000, 3)
        assert res.escape_probability == 1.0
        assert res.final_fractions()["0"] == 1.0
    res = toy.simulate_toy(0.7, 1000, 3000, 4)
    assert abs(np.median(res.escape_at) - 60) <= 10


def test_bad_inputs():
    """Invalid arguments name themselves."""
    with pytest.raises(ValueError, match="^eta"):
        toy.simulate_toy(-1.0, 10, 10, 0)
    with pytest.raises(ValueError, match="^B"):
        toy.simulate_toy(0.5, 10, 10, 0, B=3)
    with pytest.raises(ValueError, match="^x0"):
        toy.simulate_toy(0.5, 10, 10, 0, x0=np.nan)
