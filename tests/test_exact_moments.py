"""Claim: the matrix-free second-moment map equals the dense Kronecker average over
every batch (d <= 4), for every scheme with a recursion, dense or factored."""

import numpy as np
import pytest

import sim
from oracles import apply_T_bruteforce, batch_distribution, operator_bruteforce

CASES = [("without", 1, None), ("without", 3, None), ("without", 5, None), ("with", 1, None),
         ("with", 2, None), ("mixture", None, 0.35)]


def _ensemble(seed, d, n=5, factors=False):
    return sim.wishart(n, d, 2, seed=seed, factors=factors)


@pytest.mark.parametrize("scheme,B,p", CASES)
@pytest.mark.parametrize("d", [1, 2, 4])
def test_apply_T_matches_batch_average(scheme, B, p, d):
    """T(M) equals E[(I - eta H_xi) M (I - eta H_xi)] over all batches (1e-12 relative)."""
    ens = _ensemble(d, d)
    rng = np.random.default_rng(d)
    G = rng.standard_normal((d, d))
    M = G @ G.T
    eta = 0.7 / ens.a
    want = apply_T_bruteforce(ens.Hs, eta, M, batch_distribution(ens.n, B, scheme, p))
    got = sim.apply_T(ens, eta, B, M, scheme, p=p)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * np.abs(want).max())


@pytest.mark.parametrize("scheme,B,p", CASES)
def test_factors_give_same_moments(scheme, B, p):
    """Factor and dense storage of one ensemble give the same E||x_t||^2 (1e-12)."""
    fac = _ensemble(11, 3, factors=True)
    dense = sim.from_hessians(fac.dense)
    eta = 0.9 / fac.a
    a = sim.second_moments(fac, eta, B, 25, scheme=scheme, p=p)
    b = sim.second_moments(dense, eta, B, 25, scheme=scheme, p=p)
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("scheme,B,p", CASES)
def test_second_moments_iterate_kronecker_oracle(scheme, B, p):
    """tr M_t from second_moments equals tr of the dense operator's powers applied to M0."""
    ens = _ensemble(5, 3)
    eta = 1.1 / ens.a
    T = operator_bruteforce(ens.Hs, eta, batch_distribution(ens.n, B, scheme, p))
    v = (np.eye(3) / 3).reshape(-1, order="F")
    want = []
    for _ in range(21):
        want.append(v.reshape(3, 3, order="F").trace())
        v = T @ v
    got = sim.second_moments(ens, eta, B, 20, scheme=scheme, p=p)
    np.testing.assert_allclose(got, want, rtol=1e-11)


def test_batch_factor_values():
    """gamma: (n-B)/(B(n-1)) without, 1/B with, p for the mixture, 0 at B = n."""
    assert sim.batch_factor(10, 3) == pytest.approx(7 / 27, rel=1e-15)
    assert sim.batch_factor(10, 3, "with") == pytest.approx(1 / 3, rel=1e-15)
    assert sim.batch_factor(10, None, "mixture", p=0.2) == 0.2
    assert sim.batch_factor(10, 10) == 0.0


@pytest.mark.parametrize("kwargs,match", [
    (dict(eta=0.0), "^eta"), (dict(eta=-1.0), "^eta"), (dict(eta=np.nan), "^eta"),
    (dict(B=0), "^B"), (dict(B=6), "^B"), (dict(scheme="reshuffle"), "^scheme"),
    (dict(M=np.eye(2)), "^M must have shape"), (dict(M=np.full((3, 3), np.nan)), "^M must be"),
    (dict(scheme="mixture", p=1.5), "^p must"),
])
def test_bad_inputs(kwargs, match):
    """Invalid arguments are ValueErrors naming the argument."""
    ens = _ensemble(0, 3)
    args = dict(eta=0.1, B=2, M=np.eye(3), scheme="without", p=None) | kwargs
    with pytest.raises(ValueError, match=match):
        sim.apply_T(ens, args["eta"], args["B"], args["M"], args["scheme"], p=args["p"])


def test_type_errors():
    """A non-ensemble or non-integer batch size is a TypeError naming it."""
    with pytest.raises(TypeError, match="^ens"):
        sim.apply_T(np.eye(2), 0.1, 1, np.eye(2))
    with pytest.raises(TypeError, match="^B"):
        sim.apply_T(_ensemble(0, 2), 0.1, 1.5, np.eye(2))
