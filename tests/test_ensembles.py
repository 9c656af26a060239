"""Claim: ensembles hold valid per-sample Hessians and report H, Sigma, a, s as
defined in docs/theory.md, section 1, whether stored dense or as factors."""

import numpy as np
import pytest

import sim
from oracles import random_psd


def _definitions(Hs):
    H = Hs.mean(0)
    Sigma = np.mean([h @ h for h in Hs], 0) - H @ H
    return H, Sigma, np.linalg.eigvalsh(H)[-1], np.sqrt(max(np.linalg.eigvalsh(Sigma)[-1], 0))


@pytest.mark.parametrize("r", [1, 2, 5])
def test_factors_and_dense_agree(r):
    """H_i = G_i G_i^T: factor and dense storage give the same H, Sigma, a, s (1e-12)."""
    fac = sim.wishart(7, 4, r, seed=3, factors=True)
    dense = sim.from_hessians(np.einsum("idr,ier->ide", fac.G, fac.G))
    H, Sigma, a, s = _definitions(dense.Hs)
    for ens in (fac, dense):
        np.testing.assert_allclose(ens.H, H, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ens.Sigma, Sigma, rtol=1e-10, atol=1e-13)
        assert ens.a == pytest.approx(a, rel=1e-12)
        assert ens.s == pytest.approx(s, rel=1e-10)


def test_one_dimensional_s_is_population_std():
    """In 1-D, s is the population standard deviation of the curvatures."""
    h = np.array([0.3, 1.0, 2.5, 4.0])
    ens = sim.from_hessians(h[:, None, None])
    assert ens.a == pytest.approx(h.mean(), rel=1e-14)
    assert ens.s == pytest.approx(h.std(), rel=1e-12)


def test_toy_minima():
    """The toy minima have (a, s) = (2, 0) and (2, 1.8)."""
    flat, sharp = sim.toy()
    assert (flat.a, flat.s) == pytest.approx((2.0, 0.0), abs=1e-12)
    assert (sharp.a, sharp.s) == pytest.approx((2.0, 1.8), rel=1e-12)


@pytest.mark.parametrize("a,s,d,n", [(1.0, 0.5, 3, 6), (2.0, 5.0, 4, 8), (0.3, 0.0, 2, 2),
                                     (1.0, 3.0, 1, 10)])
def test_prescribed_is_exact(a, s, d, n):
    """prescribed(a, s, ...) has sharpness a and non-uniformity s (1e-10 relative)."""
    ens = sim.prescribed(a, s, d, n, seed=1)
    assert ens.a == pytest.approx(a, rel=1e-10)
    assert ens.s == pytest.approx(s, rel=1e-10, abs=1e-12)
    assert np.linalg.eigvalsh(ens.Hs).min() >= -1e-12


def test_prescribed_bound():
    """Non-negative curvatures with mean a have std <= a sqrt(n-1)."""
    with pytest.raises(ValueError, match="^s must be"):
        sim.prescribed(1.0, 3.1, 2, 10)


def test_commuting_shares_eigenbasis():
    """Commuting ensembles commute: H_i H_j = H_j H_i."""
    ens = sim.commuting(np.random.default_rng(0).uniform(0, 2, size=(5, 3)), seed=2)
    for i in range(5):
        for j in range(5):
            np.testing.assert_allclose(ens.Hs[i] @ ens.Hs[j], ens.Hs[j] @ ens.Hs[i], atol=1e-12)


def test_rank_one_is_rank_one():
    """rank_one stores one factor column per sample."""
    ens = sim.rank_one(9, 5, seed=0)
    assert ens.r == 1 and np.linalg.matrix_rank(ens.dense[0]) == 1


def test_immutable():
    """Arrays of an ensemble are read-only."""
    ens = sim.wishart(3, 2, 1)
    with pytest.raises(ValueError):
        ens.Hs[0, 0, 0] = 1.0


def test_validation_names_the_sample():
    """Non-symmetric, non-PSD and non-finite samples are ValueErrors naming Hs[i]."""
    rng = np.random.default_rng(0)
    Hs = np.stack([random_psd(rng, 3) for _ in range(4)])
    bad = Hs.copy()
    bad[2, 0, 1] += 1.0
    with pytest.raises(ValueError, match=r"Hs\[2\] is not symmetric"):
        sim.from_hessians(bad)
    bad = Hs.copy()
    bad[1] -= 5 * np.eye(3)
    with pytest.raises(ValueError, match=r"Hs\[1\] is not positive semi-definite"):
        sim.from_hessians(bad)
    bad = Hs.copy()
    bad[3, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"Hs\[3, 1, 1\] is not finite"):
        sim.from_hessians(bad)
    with pytest.raises(ValueError, match="Hs must have shape"):
        sim.from_hessians(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="Hs must have 3 dimensions"):
        sim.from_hessians(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"G\[0, 0, 0\] is not finite"):
        sim.from_factors(np.full((2, 3, 1), np.inf))
    with pytest.raises(TypeError, match="seed"):
        sim.wishart(3, 2, 1, seed=1.5)
    with pytest.raises(ValueError, match="^d must"):
        sim.wishart(3, 0, 1)


def test_psd_tolerance_is_relative():
    """Round-off negative eigenvalues (1e-14 relative) pass; the matrix is symmetrised."""
    h = np.diag([1e6, 0.0])
    h[1, 1] = -1e-9  # -1e-15 relative to lambda_max
    ens = sim.from_hessians(np.stack([h, np.eye(2)]))
    assert ens.n == 2


def test_repr_is_one_line():
    """Printing an ensemble names it and its sizes; it does not dump the arrays."""
    for ens in (sim.wishart(4, 3, 2, seed=0), sim.wishart(4, 3, 2, seed=0, factors=True)):
        text = repr(ens)
        assert text.startswith("Ensemble(") and "\n" not in text and len(text) < 200
        assert f"n={ens.n}" in text and f"d={ens.d}" in text
