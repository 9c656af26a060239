"""Claim: the numeric moments of every order in ``sim.higher`` are those derived
symbolically in ``theory.higher``: the batch law, the 1-D moment function, the
q-th moment and almost-sure thresholds and the fourth-moment operator agree to 1e-10
relative (algebra and root finding to machine precision on both sides)."""

import numpy as np
import pytest
import sympy as sp

import sim
from sim import Sampling, higher
from theory import higher as symbolic
from theory.symbols import eta as eta_symbol

RTOL = 1e-10
TOY_H = tuple(sim.toy()[1].Hs[:, 0, 0])
RANDOM_H = tuple(np.random.default_rng(7).uniform(0.1, 4.0, 4))
CASES = [(TOY_H, Sampling(1)), (TOY_H, Sampling(2)), (TOY_H, Sampling(2, "with")),
         (RANDOM_H, Sampling(1)), (RANDOM_H, Sampling(2)), (RANDOM_H, Sampling(3)),
         (RANDOM_H, Sampling(2, "with")), (RANDOM_H, Sampling(3, "with")),
         (RANDOM_H, Sampling(scheme="mixture", p=0.3))]
IDS = [f"{'toy' if h is TOY_H else 'random'}-{smp.label()}" for h, smp in CASES]


def _symbolic_args(smp: Sampling) -> dict:
    return dict(scheme=smp.scheme, B=smp.B, p=smp.p)


@pytest.mark.parametrize("n,smp", [(2, Sampling(1)), (4, Sampling(2)), (5, Sampling(5)),
                                   (3, Sampling(2, "with")), (4, Sampling(3, "with")),
                                   (3, Sampling(scheme="mixture", p=0.25))], ids=str)
def test_batch_law(n, smp):
    """Every batch and its probability are theory's, as a set of (weights, probability)."""
    probs, weights = higher.batch_law(n, smp)
    want = sorted((tuple(float(w) for w in ws), float(pr))
                  for pr, ws in symbolic.batch_law(n, **_symbolic_args(smp)))
    got = sorted((tuple(w), pr) for pr, w in zip(probs, weights, strict=True))
    assert len(got) == len(want)
    for (w_got, p_got), (w_want, p_want) in zip(got, want, strict=True):
        np.testing.assert_allclose(w_got, w_want, rtol=RTOL)
        assert p_got == pytest.approx(p_want, rel=RTOL)
    assert probs.sum() == pytest.approx(1.0, rel=RTOL)


@pytest.mark.parametrize("h,smp", CASES, ids=IDS)
def test_moment_function(h, smp):
    """E|1 - eta h_xi|^q at several eta and q equals theory's expression evaluated there."""
    expr = symbolic.moment_function_1d(h, **_symbolic_args(smp))
    etas = np.array([0.05, 0.3, 0.55, 1.0]) * 4 / max(h)
    for q in (0.5, 1.0, 2.0, 3.0, 4.0):
        f = sp.lambdify(eta_symbol, expr.subs(symbolic.q, sp.nsimplify(q)), "math")
        got = higher.moment_function_1d(h, etas, smp, q)
        assert got.shape == etas.shape
        for e, g in zip(etas, got, strict=True):
            assert g == pytest.approx(f(e), rel=RTOL)


@pytest.mark.parametrize("h,smp", CASES, ids=IDS)
def test_thresholds(h, smp):
    """The q-th moment thresholds (q = 1, 2, 4) and the almost-sure one equal theory's."""
    for q in (1, 2, 4):
        assert higher.moment_threshold(h, smp, q) == pytest.approx(
            symbolic.moment_threshold(h, q, **_symbolic_args(smp)), rel=RTOL)
    assert higher.almost_sure_threshold(h, smp) == pytest.approx(
        symbolic.almost_sure_threshold(h, **_symbolic_args(smp)), rel=RTOL)


@pytest.mark.parametrize("seed,smp", [(0, Sampling(1)), (1, Sampling(2)),
                                      (2, Sampling(2, "with")),
                                      (3, Sampling(scheme="mixture", p=0.5))], ids=str)
def test_fourth_moment_operator(seed, smp):
    """E[A (x) A (x) A (x) A] of a random d = 2 ensemble equals theory's, entry by entry
    (relative to its largest entry)."""
    ens = sim.wishart(5, 2, 1, seed=seed)
    eta = 0.9 / ens.a
    got = higher.fourth_moment_operator(ens, eta, smp)
    want = symbolic.fourth_moment_operator(ens.dense, eta, **_symbolic_args(smp))
    assert got.shape == (16, 16)
    assert np.abs(got - want).max() <= RTOL * np.abs(want).max()


def test_toy_thresholds_are_the_reference():
    """Toy x = 1, B = 1: eta_2 and eta_as are the closed forms of sim.nonlinear_toy."""
    from sim.nonlinear_toy import reference

    ref = reference()
    assert higher.moment_threshold(TOY_H, 1, 2) == pytest.approx(ref.eta_mean_square, rel=RTOL)
    assert higher.almost_sure_threshold(TOY_H, 1) == pytest.approx(ref.eta_almost_sure,
                                                                   rel=RTOL)


@pytest.mark.parametrize("call,err,match", [
    (lambda: higher.batch_law(3, 4), ValueError, "B"),
    (lambda: higher.batch_law(3, Sampling(1, "reshuffle")), ValueError, "sampling"),
    (lambda: higher.moment_threshold((0.2, -1.0), 1, 2), ValueError, "h"),
    (lambda: higher.moment_threshold((0.0, 0.0), 1, 2), ValueError, "h"),
    (lambda: higher.moment_threshold(TOY_H, 1, 0), ValueError, "q"),
    (lambda: higher.moment_function_1d(TOY_H, 0.0, 1, 2), ValueError, "eta"),
    (lambda: higher.moment_function_1d(TOY_H, 0.5, 1, -1), ValueError, "q"),
    (lambda: higher.fourth_moment_operator(sim.wishart(5, 5, 1), 0.1, 1), ValueError, "d"),
    (lambda: higher.fourth_moment_operator(np.eye(2)[None], 0.1, 1), TypeError, "ens"),
])
def test_bad_inputs(call, err, match):
    """Bad arguments raise, naming the argument."""
    with pytest.raises(err, match=match):
        call()
