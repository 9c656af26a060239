"""Property 2: for 1-D and commuting ensembles the theorem is exact (its threshold
equals eta_exact) and both equal the 1-D formula theory.numeric.max_stable_lr applied
per eigen-direction. Documented finding: the box threshold is NOT equal to them; in
1-D it is larger (the box is only necessary), equal exactly when s = 0 or a = sqrt(gamma) s."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim
from sim.nonlinear_toy import reference
from strategies import batch_sizes, commuting_ensembles, one_d_ensembles
from theory.numeric import max_stable_lr

REL = 1e-9


def _directions(ens):
    """Per-direction curvatures h[i, j] in a shared eigenbasis (generic combination)."""
    c = np.random.default_rng(0).uniform(0.5, 1.5, size=ens.n)
    _, V = np.linalg.eigh(np.einsum("i,ijk->jk", c, ens.Hs))
    h = np.einsum("jk,ijl,lk->ik", V, ens.Hs, V)
    assert h.min() >= -1e-10 * max(1.0, h.max())  # PSD up to round-off
    return np.clip(h, 0.0, None)


@given(data=st.data(), ens=one_d_ensembles() | commuting_ensembles(d=st.integers(2, 4)),
       scheme=st.sampled_from(["without", "with"]))
def test_theorem_equals_exact_equals_formula(data, ens, scheme):
    """Commuting H_i: eta_theorem = eta_exact = min_j max_stable_lr(a_j, s_j, n, B) (1e-9)."""
    B = data.draw(batch_sizes(ens.n))
    th = sim.thresholds(ens, sim.Sampling(B, scheme))
    h = _directions(ens)
    formula = np.min(max_stable_lr(h.mean(0), h.std(0), ens.n, B, scheme))
    assert th.eta_exact == pytest.approx(formula, rel=REL)
    assert th.eta_theorem == pytest.approx(th.eta_exact, rel=REL)


@given(data=st.data(), ens=one_d_ensembles())
def test_box_is_only_necessary_in_1d(data, ens):
    """1-D: eta_box >= eta_exact, with equality iff s = 0 or a = sqrt(gamma) s (or gamma = 0)."""
    B = data.draw(batch_sizes(ens.n))
    th = sim.thresholds(ens, B)
    assert th.eta_box >= th.eta_exact * (1 - REL)
    root_gamma_s = np.sqrt(th.gamma) * th.s
    if th.eta_box <= th.eta_exact * (1 + REL):
        assert root_gamma_s <= 1e-6 * th.a or root_gamma_s == pytest.approx(th.a, rel=1e-3)


def test_box_counterexample_toy():
    """The toy minimum x = 1 (a = 2, s = 1.8, B = 1): eta_box = 1/s = 0.5556 but
    eta_exact = eta_theorem = 2a/(a^2 + s^2) = 0.5525; at eta = 0.554 it is inside the
    box yet mean-square unstable."""
    ref = reference()
    ens = sim.toy()[1]
    th = sim.thresholds(ens, 1)
    assert th.eta_box == pytest.approx(1 / ref.s, rel=1e-12)
    assert th.eta_exact == pytest.approx(ref.eta_mean_square, rel=1e-12)
    assert ref.eta_mean_square < 0.554 < 1 / ref.s
    rep = sim.report(ens, 0.554, 1)
    assert rep.box and not rep.stable["exact"]
