"""Claim: one validated Sampling record describes every batch, and its gamma is the
derived batch factor of theory for every scheme, n and B."""

from dataclasses import FrozenInstanceError

import numpy as np
import pytest

import sim
import theory
from sim import Sampling
from sim.sampling import MARKOV_SCHEMES, SCHEME_CODES, SCHEMES, as_sampling
from theory import symbols as sym


def test_one_list_of_schemes():
    """The engine, the kernels and the theory name the same schemes: the kernels' codes
    are the positions in sim.SCHEMES, and theory's schemes are the Markov ones."""
    assert sim.SCHEMES == SCHEMES == ("without", "with", "reshuffle", "mixture")
    assert SCHEME_CODES == {name: i for i, name in enumerate(SCHEMES)}
    assert tuple(theory.SCHEMES) == MARKOV_SCHEMES
    from sim import _kernels as K

    assert (K.WITHOUT, K.WITH, K.RESHUFFLE, K.MIXTURE) == tuple(
        SCHEME_CODES[s] for s in ("without", "with", "reshuffle", "mixture"))


@pytest.mark.parametrize("n", range(2, 13))
def test_gamma_equals_theory(n):
    """Sampling.gamma(n) equals theory.batch_factor evaluated exactly, every B (1e-15)."""
    for scheme in ("without", "with"):
        expr = theory.batch_factor(scheme)
        for B in range(1, n + 1):
            want = expr.subs({sym.n: n, sym.B: B})
            assert want.is_Rational
            got = Sampling(B, scheme).gamma(n)
            assert got == pytest.approx(float(want), rel=1e-15, abs=0.0), (n, B, scheme)
    pexpr = theory.batch_factor("mixture")
    for p in (0.0, 0.1, 0.5, 1.0):
        want = float(pexpr.subs(sym.p, p))
        assert Sampling(scheme="mixture", p=p).gamma(n) == pytest.approx(want, rel=1e-15)


def test_gamma_limits():
    """gamma = 1 at B = 1 (without, with), 0 at B = n without replacement."""
    for n in (2, 7):
        assert Sampling(1).gamma(n) == 1.0 == Sampling(1, "with").gamma(n)
        assert Sampling(n).gamma(n) == 0.0
    assert sim.batch_factor(10, 4) == Sampling(4).gamma(10)


def test_record_is_frozen_and_normalised():
    """Sampling is frozen; the mixture's B is 1; an integer is shorthand for Sampling(B)."""
    smp = Sampling(3)
    with pytest.raises(FrozenInstanceError):
        smp.B = 4
    assert Sampling(scheme="mixture", p=0.5).B == 1
    assert as_sampling(3) == smp and as_sampling(np.int64(3)) == smp
    assert as_sampling(smp) is smp
    assert smp.markov and not Sampling(2, "reshuffle").markov


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(B=0), ValueError, "^B"), (dict(B=2.0), TypeError, "^B"), (dict(B=True), TypeError, "^B"),
    (dict(B=None), TypeError, "^B is required"),
    (dict(B=2, scheme="cyclic"), ValueError, "^scheme"),
    (dict(B=2, scheme=["without"]), TypeError, "^scheme"),
    (dict(B=2, p=0.5), ValueError, "^p is only used"),
    (dict(B=2, scheme="with", p=0.5), ValueError, "^p is only used"),
    (dict(scheme="mixture"), ValueError, "^p is required"),
    (dict(scheme="mixture", p=1.5), ValueError, "^p must be in"),
    (dict(scheme="mixture", p=-0.1), ValueError, "^p must be in"),
    (dict(scheme="mixture", p="0.5"), TypeError, "^p must be a real"),
    (dict(scheme="mixture", p=np.nan), ValueError, "^p must be finite"),
    (dict(B=2, scheme="mixture", p=0.5), ValueError, "^B"),
    (dict(B=2, drop_last=False), ValueError, "^drop_last=False only"),
    (dict(B=2, scheme="reshuffle", drop_last=0), TypeError, "^drop_last"),
])
def test_bad_records(kwargs, err, match):
    """Bad fields are rejected on construction, naming the field."""
    with pytest.raises(err, match=match):
        Sampling(**kwargs)


def test_checks_against_n():
    """B > n is rejected where n is known; reshuffling has no gamma."""
    with pytest.raises(ValueError, match="^B must be in"):
        Sampling(5).gamma(4)
    with pytest.raises(ValueError, match="scheme='reshuffle' has no"):
        Sampling(2, "reshuffle").gamma(4)
    with pytest.raises(TypeError, match="^sampling"):
        as_sampling(2.0)
    with pytest.raises(TypeError, match="^sampling"):
        as_sampling("2")
