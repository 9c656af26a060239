"""Claim: the matrix-free second-moment map equals the dense Kronecker average over
every batch (d <= 4), for every scheme with a recursion, dense or factored."""

import numpy as np
import pytest

import sim
from oracles import apply_T_bruteforce, batch_distribution, operator_bruteforce
from sim import Sampling

CASES = [Sampling(1), Sampling(3), Sampling(5), Sampling(1, "with"), Sampling(2, "with"),
         Sampling(scheme="mixture", p=0.35)]


def _ensemble(seed, d, n=5, factors=False):
    return sim.wishart(n, d, 2, seed=seed, factors=factors)


@pytest.mark.parametrize("smp", CASES, ids=str)
@pytest.mark.parametrize("d", [1, 2, 4])
def test_apply_T_matches_batch_average(smp, d):
    """T(M) equals E[(I - eta H_xi) M (I - eta H_xi)] over all batches (1e-12 relative)."""
    ens = _ensemble(d, d)
    rng = np.random.default_rng(d)
    G = rng.standard_normal((d, d))
    M = G @ G.T
    eta = 0.7 / ens.a
    want = apply_T_bruteforce(ens.Hs, eta, M, batch_distribution(ens.n, smp.B, smp.scheme, smp.p))
    got = sim.apply_T(ens, eta, smp, M)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * np.abs(want).max())


@pytest.mark.parametrize("smp", CASES, ids=str)
def test_factors_give_same_moments(smp):
    """Factor and dense storage of one ensemble give the same E||x_t||^2 (1e-12)."""
    fac = _ensemble(11, 3, factors=True)
    dense = sim.from_hessians(fac.dense)
    eta = 0.9 / fac.a
    a = sim.second_moments(fac, eta, smp, 25)
    b = sim.second_moments(dense, eta, smp, 25)
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("smp", CASES, ids=str)
def test_second_moments_iterate_kronecker_oracle(smp):
    """tr M_t from second_moments equals tr of the dense operator's powers applied to M0."""
    ens = _ensemble(5, 3)
    eta = 1.1 / ens.a
    T = operator_bruteforce(ens.Hs, eta, batch_distribution(ens.n, smp.B, smp.scheme, smp.p))
    v = (np.eye(3) / 3).reshape(-1, order="F")
    want = []
    for _ in range(21):
        want.append(v.reshape(3, 3, order="F").trace())
        v = T @ v
    got = sim.second_moments(ens, eta, smp, 20)
    np.testing.assert_allclose(got, want, rtol=1e-11)


def test_batch_factor_values():
    """gamma: (n-B)/(B(n-1)) without, 1/B with, p for the mixture, 0 at B = n."""
    assert sim.batch_factor(10, 3) == pytest.approx(7 / 27, rel=1e-15)
    assert sim.batch_factor(10, Sampling(3, "with")) == pytest.approx(1 / 3, rel=1e-15)
    assert Sampling(scheme="mixture", p=0.2).gamma(10) == 0.2
    assert sim.batch_factor(10, 10) == 0.0


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(eta=0.0), ValueError, "^eta"), (dict(eta=-1.0), ValueError, "^eta"),
    (dict(eta=np.nan), ValueError, "^eta"), (dict(eta=True), TypeError, "^eta"),
    (dict(eta="0.1"), TypeError, "^eta"), (dict(eta=None), TypeError, "^eta"),
    (dict(sampling=0), ValueError, "^B"), (dict(sampling=6), ValueError, "^B"),
    (dict(sampling=1.5), TypeError, "^sampling"), (dict(sampling="2"), TypeError, "^sampling"),
    (dict(sampling=Sampling(2, "reshuffle")), ValueError, "^scheme='reshuffle'"),
    (dict(M=np.eye(2)), ValueError, "^M must have shape"),
    (dict(M=np.full((3, 3), np.nan)), ValueError, r"^M\[0, 0\] is not finite"),
    (dict(M=np.eye(3) + 0j), TypeError, "^M must be a real array, got complex"),
    (dict(M=[["1", "0", "0"]] * 3), TypeError, "^M must be a real array"),
])
def test_bad_inputs(kwargs, err, match):
    """Invalid arguments raise TypeError/ValueError naming the argument."""
    ens = _ensemble(0, 3)
    args = dict(eta=0.1, sampling=2, M=np.eye(3)) | kwargs
    with pytest.raises(err, match=match):
        sim.apply_T(ens, args["eta"], args["sampling"], args["M"])


def test_type_errors():
    """A non-ensemble is a TypeError naming it."""
    with pytest.raises(TypeError, match="^ens"):
        sim.apply_T(np.eye(2), 0.1, 1, np.eye(2))
