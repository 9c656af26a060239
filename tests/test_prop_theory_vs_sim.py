"""Property 10: the symbolic operator of theory (sympy) equals sim.moments.apply_T
(numpy) on basis matrices, and theory's 1-D threshold equals sim's eta_exact."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
import theory
from strategies import batch_sizes, ensembles, one_d_ensembles
from theory.numeric import max_stable_lr


@settings(max_examples=10)
@given(data=st.data(), ens=ensembles(d=st.integers(1, 2), n=st.integers(2, 4)),
       scheme=st.sampled_from(["without", "with"]), eta=st.floats(0.01, 1.0))
def test_symbolic_operator_equals_apply_T(data, ens, scheme, eta):
    """T_sympy vec(E_jk) = vec(apply_T(E_jk)) for every basis matrix (1e-10)."""
    B = data.draw(batch_sizes(ens.n))
    d = ens.d
    T = np.array(theory.second_moment_operator([sp.Matrix(h) for h in ens.Hs], eta, B, scheme),
                 dtype=float)
    scale = max(1.0, np.abs(T).max())
    for j in range(d):
        for k in range(d):
            E = np.zeros((d, d))
            E[j, k] = 1.0
            got = sim.apply_T(ens, eta, sim.Sampling(B, scheme), E).reshape(-1, order="F")
            np.testing.assert_allclose(got, T @ E.reshape(-1, order="F"), atol=1e-10 * scale)


@given(data=st.data(), ens=one_d_ensembles(), scheme=st.sampled_from(["without", "with"]))
def test_1d_threshold_theory_equals_sim(data, ens, scheme):
    """max_stable_lr(a, s, n, B) = sim.thresholds(...).eta_exact in 1-D (1e-9)."""
    B = data.draw(batch_sizes(ens.n))
    want = sim.thresholds(ens, sim.Sampling(B, scheme)).eta_exact
    got = max_stable_lr(ens.a, ens.s, ens.n, B, scheme)
    assert got == pytest.approx(want, rel=1e-9)
