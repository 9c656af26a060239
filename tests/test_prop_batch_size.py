"""Property 4: eta_exact is non-decreasing in B and equals 2/a at B = n; sampling with
replacement is never more stable than without; the mixture ALG(p) with p = gamma(n, B)
has exactly the second moments of sampling without replacement."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim
from strategies import any_ensemble

REL = 1e-9


@given(ens=any_ensemble(n=st.integers(2, 8)))
def test_batch_size_monotone_and_replacement(ens):
    """eta_exact(B) non-decreasing, = 2/a at B = n; eta_exact(with) <= eta_exact(without)."""
    without = [sim.thresholds(ens, B).eta_exact for B in range(1, ens.n + 1)]
    with_ = [sim.thresholds(ens, sim.Sampling(B, "with")).eta_exact for B in range(1, ens.n + 1)]
    assert np.all(np.diff(without) >= -REL * np.array(without[:-1]))
    assert without[-1] == pytest.approx(2 / ens.a, rel=REL)
    assert np.all(np.array(with_) <= np.array(without) * (1 + REL))


@given(ens=any_ensemble())
def test_mixture_with_matching_gamma_has_same_moments(ens):
    """ALG(p = gamma(n, B)) and without-replacement sampling give the same E||x_t||^2."""
    B = max(1, ens.n // 2)
    g = sim.batch_factor(ens.n, B)
    eta = 0.8 * sim.thresholds(ens, B).eta_exact
    a = sim.second_moments(ens, eta, B, 20)
    b = sim.second_moments(ens, eta, sim.Sampling(scheme="mixture", p=g), 20)
    np.testing.assert_allclose(b, a, rtol=1e-10)
