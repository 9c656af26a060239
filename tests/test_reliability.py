"""Claim: the engine is reliable at the edges a user reaches: verdicts at the
thresholds, any scale of Hessians and learning rates, any start norm, huge learning
rates, long unstable runs, and bad input rejected with errors that name it."""

import numpy as np
import pytest

import sim
import theory
from sim import Sampling
from sim.nonlinear_toy import simulate_toy
from theory.numeric import max_stable_lr


def _random_cases(count: int = 240):
    """Seeded ensembles of several families with a sampling each."""
    rng = np.random.default_rng(2024)
    for k in range(count):
        family = k % 6
        n = int(rng.integers(2, 9))
        d = int(rng.integers(1, 5))
        if family == 0:
            ens = sim.wishart(n, d, int(rng.integers(1, 4)), seed=k)
        elif family == 1:
            ens = sim.wishart(n, d, int(rng.integers(1, 3)), seed=k, factors=True)
        elif family == 2:
            ens = sim.rank_one(n, d, seed=k)
        elif family == 3:
            ens = sim.prescribed(1.0, float(rng.uniform(0, 1.0)), d, n, seed=k)
        elif family == 4:
            ens = sim.commuting(rng.uniform(0, 2, size=(n, d)), seed=k)
        else:
            ens = sim.from_hessians(rng.uniform(0, 3, size=(n, 1, 1)))
        scheme = ("without", "with", "mixture")[k % 3]
        smp = (Sampling(scheme="mixture", p=float(rng.uniform(0, 1))) if scheme == "mixture"
               else Sampling(int(rng.integers(1, n + 1)), scheme))
        yield ens, smp


def test_report_confirms_every_threshold():
    """At eta_exact report says mean-square stable, at eta_theorem the theorem holds, at
    2/a GD's condition holds, in all of 240 seeded cases (relative tolerance
    VERDICT_RTOL = 1e-8 against thresholds computed to about 1e-12)."""
    misses = {"exact": 0, "theorem": 0, "gd": 0}
    for ens, smp in _random_cases():
        th = sim.thresholds(ens, smp)
        misses["exact"] += not sim.report(ens, th.eta_exact, smp).stable["exact"]
        misses["theorem"] += not sim.report(ens, th.eta_theorem, smp).stable["theorem"]
        misses["gd"] += not sim.report(ens, th.eta_gd, smp).stable["gd"]
    assert misses == {"exact": 0, "theorem": 0, "gd": 0}


def test_theorem_implies_exact():
    """theorem = True with exact = False never happens, at 5 learning rates around each
    case's theorem threshold (the theorem is sufficient: rho(T) <= lambda_max(T(I)))."""
    for ens, smp in _random_cases(120):
        th = sim.thresholds(ens, smp)
        for f in (0.5, 1 - 1e-9, 1.0, 1 + 1e-9, 1.5):
            rep = sim.report(ens, f * th.eta_theorem, smp)
            assert rep.stable["exact"] or not rep.stable["theorem"], (ens, smp, f)
            assert rep.stable["gd"] or not rep.stable["exact"]


def test_zero_ensemble_is_stable():
    """All H_i = 0: T is the identity, rho = 1, stable for every notion at every eta;
    every threshold is infinite."""
    for ens in (sim.from_hessians(np.zeros((3, 2, 2))), sim.from_factors(np.zeros((3, 2, 1)))):
        for eta in (1e-3, 1.0, 1e300):
            rep = sim.report(ens, eta, 2)
            assert rep.rho == 1.0 and all(rep.stable.values()), rep
        th = sim.thresholds(ens, 2)
        assert th.eta_exact == th.eta_theorem == th.eta_gd == th.eta_box == np.inf
        res = sim.simulate(ens, 0.5, 2, 10, 8, 0)
        assert res.growth_rate == pytest.approx(0.0, abs=1e-12)


SCALES = [1e-200, 4.0**-100, 1e-20, 3.7, 1e20, 4.0**100, 1e200]


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("factors", [False, True])
def test_scale_invariance(c, factors):
    """Hs -> c Hs, eta -> eta / c leaves rho, verdicts, Monte Carlo paths and Lyapunov
    exponents unchanged and divides every threshold by c (1e-10 relative; bitwise for
    powers of 4, whose scaling is exact)."""
    base = sim.wishart(6, 3, 2, seed=1, factors=factors)
    ens = (sim.from_factors(base.G * np.sqrt(c)) if factors
           else sim.from_hessians(base.Hs * c))
    smp = Sampling(2)
    th0, th = sim.thresholds(base, smp), sim.thresholds(ens, smp)
    for name in ("eta_gd", "eta_box", "eta_theorem", "eta_exact"):
        assert getattr(th, name) * c == pytest.approx(getattr(th0, name), rel=1e-10), name
    assert th.a / c == pytest.approx(th0.a, rel=1e-12)
    assert th.s / c == pytest.approx(th0.s, rel=1e-10)
    for ratio in (0.7, 1.3):
        eta = ratio * th0.eta_exact
        r0, r = sim.report(base, eta, smp), sim.report(ens, eta / c, smp)
        assert r.rho == pytest.approx(r0.rho, rel=1e-10)
        assert r.stable == r0.stable
        m0 = sim.second_moments(base, eta, smp, 30)
        np.testing.assert_allclose(sim.second_moments(ens, eta / c, smp, 30), m0, rtol=1e-10)
        a = sim.simulate(base, eta, smp, 40, 16, 3)
        b = sim.simulate(ens, eta / c, smp, 40, 16, 3)
        if np.log(c) / np.log(4) == round(np.log(c) / np.log(4)):
            np.testing.assert_array_equal(a.log_norms, b.log_norms)
        else:
            np.testing.assert_allclose(a.log_norms, b.log_norms, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("eta_a", [1e3, 1e100, 1e300])
@pytest.mark.parametrize("method", ["path", "grouped"])
def test_huge_learning_rates_stay_finite(eta_a, method):
    """eta a up to 1e300: Monte Carlo log-norms, growth rate and Lyapunov exponent are
    finite (log||x_t|| grows by about log(eta a) a step), and the exact engine gives a
    finite log rho = the fitted rate (5 standard errors) without NaN or raw errors."""
    ens = sim.wishart(8, 3, 3, seed=2)
    eta = eta_a / ens.a
    res = sim.simulate(ens, eta, 2, 40, 256, 1, method=method)
    assert np.all(np.isfinite(res.log_norms))
    assert np.isfinite(res.growth_rate) and np.isfinite(res.lyapunov)
    assert res.growth_fit.ok and res.lyapunov_fit.ok
    assert res.lyapunov == pytest.approx(np.log(eta_a), rel=0.2)
    sr = sim.spectral_radius(ens, eta, 2)
    assert np.isfinite(sr.log_rho) and not np.isnan(sr.rho)
    assert abs(res.growth_rate - sr.log_rho) <= 5 * res.growth_rate_se + 1e-9 * sr.log_rho
    rep = sim.report(ens, eta, 2)
    assert not any(rep.stable.values())
    T = sim.apply_T(ens, eta, 2, np.eye(3))
    assert not np.any(np.isnan(T))
    logm = sim.second_moments(ens, eta, 2, 200, log=True)
    assert np.all(np.isfinite(logm))
    assert not np.any(np.isnan(sim.second_moments(ens, eta, 2, 200)))


def test_long_unstable_exact_run_is_finite():
    """10^4 steps at twice the threshold: log tr M_t is finite and grows by log rho a
    step (1e-9 relative); the linear scale overflows to inf, never NaN."""
    ens = sim.wishart(6, 3, 2, seed=0)
    eta = 2 * sim.thresholds(ens, 1).eta_exact
    logm = sim.second_moments(ens, eta, 1, 10_000, log=True)
    assert np.all(np.isfinite(logm))
    slope = (logm[-1] - logm[5000]) / 5000
    assert slope == pytest.approx(sim.spectral_radius(ens, eta, 1).log_rho, rel=1e-9)
    lin, mats = sim.second_moments(ens, eta, 1, 10_000, return_matrices=True)
    assert not np.any(np.isnan(lin)) and not np.any(np.isnan(mats))
    assert np.isinf(lin[-1])


@pytest.mark.parametrize("norm", [1e-170, 1e-300, 1e170, 1e300])
def test_start_norm_is_irrelevant(norm):
    """x0 of norm 1e-300 .. 1e300: log||x_t|| = log||x0|| + the paths of the unit start."""
    ens = sim.wishart(6, 4, 2, seed=3)
    u = np.array([0.5, -0.5, 0.5, 0.5])
    unit = sim.simulate(ens, 0.8 / ens.a, 2, 30, 8, 5, x0=u)
    big = sim.simulate(ens, 0.8 / ens.a, 2, 30, 8, 5, x0=norm * u)
    np.testing.assert_allclose(big.log_norms - np.log(norm), unit.log_norms, rtol=0,
                               atol=1e-9)


def test_max_stable_lr_extremes():
    """max_stable_lr is right at a = 1e155 and 1e-170 (2/a for s = 0 or gamma = 0)."""
    assert max_stable_lr(1e155, 0, 10, 2) == pytest.approx(2e-155, rel=1e-14)
    assert max_stable_lr(1e-170, 0, 10, 2) == pytest.approx(2e170, rel=1e-14)
    assert max_stable_lr(1e155, 1e155, 10, 10) == pytest.approx(2e-155, rel=1e-14)
    a, s = 3e200, 2e200
    g = Sampling(2).gamma(10)
    assert max_stable_lr(a, s, 10, 2) == pytest.approx(2 * 3 / (9 + g * 4) * 1e-200, rel=1e-13)


# ----------------------------------------------------------------- rejected inputs
ENS = sim.wishart(5, 2, 1, seed=0)
HS = ENS.Hs.copy()

BAD_CALLS = [
    # (description, callable, error, message prefix)
    ("complex Hs", lambda: sim.from_hessians(HS + 0j), TypeError, "^Hs must be a real array"),
    ("complex G", lambda: sim.from_factors(ENS.dense[:, :, :1] + 1j), TypeError, "^G must be"),
    ("string entries in Hs", lambda: sim.from_hessians(HS.astype(str)), TypeError, "^Hs must"),
    ("object entries in Hs", lambda: sim.from_hessians(HS.astype(object)), TypeError, "^Hs"),
    ("nan in Hs", lambda: sim.from_hessians(np.where(HS > 0.3, np.nan, HS)), ValueError,
     r"^Hs\[.*\] is not finite"),
    ("non-PSD Hs", lambda: sim.from_hessians(-HS - np.eye(2)), ValueError,
     "is not positive semi-definite"),
    ("Ensemble with neither", lambda: sim.Ensemble(), ValueError, "^give exactly one"),
    ("Ensemble with both", lambda: sim.Ensemble(Hs=HS, G=HS), ValueError, "^give exactly one"),
    ("Ensemble non-PSD", lambda: sim.Ensemble(Hs=-HS - np.eye(2)), ValueError, "Hs"),
    ("bool eta", lambda: sim.apply_T(ENS, True, 2, np.eye(2)), TypeError, "^eta"),
    ("str eta", lambda: sim.spectral_radius(ENS, "0.1", 2), TypeError, "^eta"),
    ("complex eta", lambda: sim.report(ENS, 0.1 + 0j, 2), TypeError, "^eta"),
    ("complex M", lambda: sim.apply_T(ENS, 0.1, 2, np.eye(2) * 1j), TypeError, "^M"),
    ("list as scheme", lambda: Sampling(2, ["without"]), TypeError, "^scheme"),
    ("reshuffle exact", lambda: sim.thresholds(ENS, Sampling(2, "reshuffle")), ValueError,
     "scheme='reshuffle'"),
    ("negative seed wishart", lambda: sim.wishart(3, 2, 1, seed=-1), ValueError, "^seed"),
    ("negative seed rank_one", lambda: sim.rank_one(3, 2, seed=-1), ValueError, "^seed"),
    ("negative seed commuting", lambda: sim.commuting(np.ones((2, 2)), seed=-1), ValueError,
     "^seed"),
    ("negative seed prescribed", lambda: sim.prescribed(1.0, 0.1, 2, 3, seed=-1), ValueError,
     "^seed"),
    ("negative seed simulate", lambda: sim.simulate(ENS, 0.1, 2, 3, 2, -1), ValueError,
     "^seed"),
    ("negative seed lyapunov", lambda: sim.lyapunov_exponent(ENS, 0.1, 2, 4, 2, -5),
     ValueError, "^seed"),
    ("negative seed toy", lambda: simulate_toy(0.5, 2, 3, -1), ValueError, "^seed"),
    ("float seed", lambda: sim.wishart(3, 2, 1, seed=0.5), TypeError, "^seed"),
    ("bool x0 toy", lambda: simulate_toy(0.5, 2, 3, 0, x0="1"), TypeError, "^x0"),
    ("prescribed bool a", lambda: sim.prescribed(True, 0.1, 2, 3), TypeError, "^a"),
    ("theory B_value 2.5", lambda: theory.second_moment_operator([[[1]], [[2]], [[3]]], 0.1, 2.5),
     TypeError, "^B_value"),
    ("theory B_value 4 > n", lambda: theory.second_moment_operator([[[1]], [[2]]], 0.1, 4),
     ValueError, "^B_value"),
    ("theory p_value 1.5", lambda: theory.second_moment_operator([[[1]], [[2]]], 0.1,
                                                                 scheme="mixture",
                                                                 p_value=1.5),
     ValueError, "^p_value"),
    ("theory eta 0", lambda: theory.second_moment_operator([[[1]], [[2]]], 0, 1), ValueError,
     "^eta_value"),
    ("theory eta -1", lambda: theory.second_moment_operator([[[1]], [[2]]], -1, 1),
     ValueError, "^eta_value"),
    ("theory eta str", lambda: theory.second_moment_operator([[[1]], [[2]]], "x", 1),
     TypeError, "^eta_value"),
    ("theory d = 0", lambda: theory.second_moment_operator([np.zeros((0, 0))], 0.1, 1),
     ValueError, "d >= 1"),
    ("theory nan Hs", lambda: theory.second_moment_operator([[[np.nan]]], 0.1, 1), ValueError,
     r"^Hs\[0\] entries"),
    ("theory non-PSD Hs", lambda: theory.second_moment_operator([[[-1.0]]], 0.1, 1),
     ValueError, "positive semi-definite"),
    ("theory string Hs", lambda: theory.second_moment_operator([[["a"]]], 0.1, 1),
     (TypeError, ValueError), "Hs"),
]


@pytest.mark.parametrize("what,call,err,match", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_is_rejected(what, call, err, match):
    """Bad input raises TypeError/ValueError naming the argument, never a raw error,
    a warning turned silent or a NaN."""
    with pytest.raises(err, match=match):
        call()


def test_readonly_results():
    """Ensembles and the rotated ensembles of the threshold code hold read-only arrays."""
    from sim.stability import _range_of_H, _rotated

    ens = sim.wishart(5, 3, 2, seed=0)
    for arr in (ens.Hs, ens.H, ens.Sigma, ens.unit.Hs):
        with pytest.raises(ValueError):
            arr[0, 0] = 1.0
    _, U = _range_of_H(ens)
    rot = _rotated(ens, U)
    with pytest.raises(ValueError):
        rot.Hs[0, 0, 0] = 1.0
    fac = _rotated(sim.wishart(5, 3, 2, seed=0, factors=True), U)
    with pytest.raises(ValueError):
        fac.G[0, 0, 0] = 1.0
