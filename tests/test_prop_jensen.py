"""Property 9: the top Lyapunov exponent is at most (1/2) log rho(T) (Jensen), and on the
toy minimum it changes sign at eta ~ 0.5595 while rho(T) crosses 1 at 0.5525: between
the two, SGD is almost surely stable but not mean-square stable."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import sim
from sim.nonlinear_toy import reference
from strategies import any_ensemble, batch_sizes, lr_ratios


@settings(max_examples=10)
@given(data=st.data(), ens=any_ensemble(d=st.integers(1, 4), n=st.integers(2, 8)),
       ratio=lr_ratios(), seed=st.integers(0, 2**31))
def test_lyapunov_below_half_log_rho(data, ens, ratio, seed):
    """The Lyapunov estimate minus 5 standard errors is <= (1/2) log rho(T)."""
    B = data.draw(batch_sizes(ens.n))
    eta = ratio * sim.thresholds(ens, B).eta_exact
    est = sim.lyapunov_exponent(ens, eta, B, steps=400, paths=256, seed=seed)
    half_log_rho = 0.5 * np.log(sim.spectral_radius(ens, eta, B).rho)
    if np.isinf(est.value):  # a path hit exactly zero (eta = 1/h_i in 1-D)
        assert est.value < 0
        return
    assert est.value - 5 * est.se <= half_log_rho + 1e-12


def _toy_lyapunov(eta):
    return 0.5 * (np.log(abs(1 - 0.2 * eta)) + np.log(abs(1 - 3.8 * eta)))


REF = reference()


def test_toy_thresholds_differ():
    """Toy x = 1, B = 1: rho(T) = 1 at 0.5525, Lyapunov exponent = 0 at 0.5595 (the
    reference formulas); the
    simulated exponent is negative at eta = 0.556 (mean-square unstable) and positive
    at 0.565 (95% intervals)."""
    ens = sim.toy()[1]
    eta_ms = sim.thresholds(ens, 1).eta_exact
    eta_as = brentq(_toy_lyapunov, 0.53, 0.6)
    assert eta_ms == pytest.approx(REF.eta_mean_square, rel=1e-12)
    assert eta_as == pytest.approx(REF.eta_almost_sure, rel=1e-10)
    assert (1 - 0.2 * eta_as) * (3.8 * eta_as - 1) == pytest.approx(1, rel=1e-12)
    between = sim.lyapunov_exponent(ens, 0.556, 1, steps=20000, paths=512, seed=1)
    beyond = sim.lyapunov_exponent(ens, 0.565, 1, steps=20000, paths=512, seed=2)
    assert sim.spectral_radius(ens, 0.556, 1).rho > 1
    assert between.ci[1] < 0 < beyond.ci[0]
    for est, eta in ((between, 0.556), (beyond, 0.565)):  # 5 standard errors
        assert abs(est.value - _toy_lyapunov(eta)) <= 5 * est.se
