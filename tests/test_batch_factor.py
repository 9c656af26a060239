"""Claim: gamma(n, B) = Var(batch mean) / population variance, derived from
inclusion probabilities, equals brute-force enumeration of every batch."""

import itertools
import math
from fractions import Fraction

import pytest
import sympy as sp

import theory
from theory.numeric import batch_factor_value
from theory.symbols import B, n, p


def _variance_ratio(values, batches, weights=None):
    """Exact Var(batch mean)/population variance over batches with the given
    (integer) multiplicities, equally likely batches by default."""
    nv = len(values)
    weights = [1] * len(batches) if weights is None else weights
    mu = Fraction(sum(values), nv)
    pop_var = sum((v - mu) ** 2 for v in values) / nv
    means = [Fraction(sum(values[i] for i in b), len(b)) for b in batches]
    var = sum(w * (m - mu) ** 2 for w, m in zip(weights, means, strict=True)) / sum(weights)
    return var / pop_var


VALUES = [3, -1, 4, 1, -5, 9, 2, 6]  # distinct, so the population variance is > 0


@pytest.mark.parametrize("nv", range(2, 9))
def test_without_replacement_matches_enumeration(nv):
    """Without replacement: every B-subset enumerated gives gamma = (n-B)/(B(n-1)) exactly."""
    g = theory.batch_factor("without")
    for Bv in range(1, nv + 1):
        batches = list(itertools.combinations(range(nv), Bv))
        expected = _variance_ratio(VALUES[:nv], batches)
        assert sp.Rational(expected.numerator, expected.denominator) == g.subs({n: nv, B: Bv})


@pytest.mark.parametrize("nv", range(2, 9))
def test_with_replacement_matches_enumeration(nv):
    """With replacement: every ordered draw of B indices gives gamma = 1/B exactly.
    The n^B ordered draws are enumerated as multisets, each counted with its number
    of orderings B!/prod(c_i!) (checked against plain enumeration for n^B <= 4096)."""
    g = theory.batch_factor("with")
    for Bv in range(1, nv + 1):
        multisets = list(itertools.combinations_with_replacement(range(nv), Bv))
        orderings = [math.factorial(Bv) // math.prod(math.factorial(b.count(i)) for i in set(b))
                     for b in multisets]
        assert sum(orderings) == nv**Bv
        expected = _variance_ratio(VALUES[:nv], multisets, orderings)
        if nv**Bv <= 4096:
            plain = _variance_ratio(VALUES[:nv], list(itertools.product(range(nv), repeat=Bv)))
            assert plain == expected
        assert sp.Rational(expected.numerator, expected.denominator) == g.subs({n: nv, B: Bv})


def test_closed_forms():
    """The derived expressions simplify to the closed forms of docs/theory.md, section 2."""
    assert sp.simplify(theory.batch_factor("without") - (n - B) / (B * (n - 1))) == 0
    assert sp.simplify(theory.batch_factor("with") - 1 / B) == 0
    assert sp.simplify(theory.batch_factor("mixture") - p) == 0


def test_weights_are_unbiased():
    """Every scheme has E[w_i] = 1/n, so E[H_xi] = H."""
    for scheme in theory.SCHEMES:
        assert sp.simplify(theory.weight_moments(scheme).mean - 1 / n) == 0


def test_numeric_batch_factor_edges():
    """gamma = 1 at B = 1 and 0 at B = n without replacement (also n = 1)."""
    assert batch_factor_value(10, 1) == pytest.approx(1.0, rel=1e-15)
    assert batch_factor_value(10, 10) == 0.0
    assert batch_factor_value(1, 1) == 0.0
    assert batch_factor_value(10, 4, "with") == pytest.approx(0.25, rel=1e-15)


def test_bad_scheme():
    """An unknown scheme is a ValueError naming 'scheme'."""
    with pytest.raises(ValueError, match="scheme"):
        theory.batch_factor("reshuffle")
