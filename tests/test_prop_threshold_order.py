"""Property 1 (Wu-Ma-E; Ma-Ying; Mulayoff-Michaeli): eta_theorem <= eta_exact <= 2/a
and eta_theorem <= eta_box, with rho(T) crossing 1 at eta_exact."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim
from strategies import any_ensemble, samplings

REL = 1e-9  # eigen-solver accuracy of the thresholds (1e-12) with room for round-off


@given(data=st.data(), ens=any_ensemble())
def test_threshold_order(data, ens):
    """eta_theorem <= eta_exact <= eta_gd and eta_theorem <= eta_box for every ensemble."""
    smp = data.draw(samplings(ens.n))
    th = sim.thresholds(ens, smp)
    assert th.eta_theorem <= th.eta_exact * (1 + REL)
    assert th.eta_exact <= th.eta_gd * (1 + REL)
    assert th.eta_theorem <= th.eta_box * (1 + REL)
    if not th.eta_exact < float("inf"):
        return  # a mixture with p = 0 and H = 0 cannot move: no threshold
    below = sim.spectral_radius(ens, th.eta_exact * (1 - 1e-3), smp).rho
    above = sim.spectral_radius(ens, th.eta_exact * (1 + 1e-3), smp).rho
    assert below <= 1 + 1e-10
    assert above > 1 or above == pytest.approx(1, abs=1e-10)  # flat only if T = I there
