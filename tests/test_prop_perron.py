"""Property 5 (Perron-Frobenius for the PSD cone): rho(T) = lambda_max(T), and when the
top eigenvalue is simple its eigenmatrix is PSD."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import sim
from oracles import batch_distribution, operator_bruteforce
from strategies import batch_sizes, ensembles, lr_ratios


@given(data=st.data(), ens=ensembles(d=st.integers(1, 3), n=st.integers(2, 6)),
       ratio=lr_ratios())
def test_top_eigenvalue_is_the_radius_with_psd_eigenmatrix(data, ens, ratio):
    """max |eig T| = max eig T (1e-10) and the returned eigenmatrix is PSD (gap > 1e-6)."""
    B = data.draw(batch_sizes(ens.n))
    eta = ratio * sim.thresholds(ens, B).eta_exact
    T = operator_bruteforce(ens.Hs, eta, batch_distribution(ens.n, B, "without"))
    eig = np.linalg.eigvals(T)
    radius = np.abs(eig).max()
    assert np.real(eig).max() == np.float64(radius) or \
        abs(np.real(eig).max() - radius) <= 1e-10 * radius
    res = sim.spectral_radius(ens, eta, B)
    assert abs(res.rho - radius) <= 1e-10 * radius
    top = np.sort(np.real(eig))[::-1]
    assume(top.size == 1 or top[0] - top[1] > 1e-6 * top[0])
    assert np.linalg.eigvalsh(res.eigenmatrix).min() >= -1e-7
