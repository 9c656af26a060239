"""Claim: the derived 1-D and heavy-ball thresholds are where the second-moment
recursion's spectral radius crosses 1, and behave as docs/theory.md, section 4, states."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st

import theory
from oracles import crossing
from theory.numeric import max_stable_lr
from theory.symbols import a, beta, eta, gamma, s


def _gamma(nv, Bv, scheme):
    if scheme == "with":
        return 1.0 / Bv
    return 0.0 if Bv == nv else (nv - Bv) / (Bv * (nv - 1))


def _momentum_radius(eta_v, a_v, s_v, g, b):
    """Spectral radius of the heavy-ball moment recursion, written out by hand from
    x' = (1 + b - eta h) x - b x_prev with E h = a, Var h = g s^2."""
    c = 1 + b - eta_v * a_v
    q = c * c + eta_v**2 * g * s_v**2
    A = np.array([[q, -2 * b * c, b * b], [c, -b, 0.0], [1.0, 0.0, 0.0]])
    return np.abs(np.linalg.eigvals(A)).max()


def _bisect_threshold(rho, hi):
    """First eta where rho(eta) > 1, by a scan from 0 then bisection to 1e-13."""
    grid = np.linspace(0, hi, 2001)[1:]
    above = [e for e in grid if rho(e) > 1 + 1e-12]
    assert above, "no instability found on the scan"
    return crossing(rho, above[0] - grid[0], above[0], tol=1e-13)


settings_nb = dict(
    a_v=st.floats(1e-2, 1e2), s_ratio=st.floats(0, 5), nv=st.integers(1, 50),
    B_frac=st.floats(0, 1), b=st.sampled_from([0.0]) | st.floats(0, 0.95),
    scheme=st.sampled_from(["without", "with"]),
)


@given(**settings_nb)
def test_max_stable_lr_equals_bisection(a_v, s_ratio, nv, B_frac, b, scheme):
    """max_stable_lr is the first eta where the (heavy-ball) moment recursion's rho exceeds 1."""
    Bv = max(1, int(round(B_frac * nv)))
    s_v = s_ratio * a_v
    g = _gamma(nv, Bv, scheme)
    got = max_stable_lr(a_v, s_v, nv, Bv, scheme, beta=b)
    want = _bisect_threshold(lambda e: _momentum_radius(e, a_v, s_v, g, b), 1.2 * got)
    assert got == pytest.approx(want, rel=1e-8)


@given(a_v=st.floats(1e-2, 1e2), s_v=st.floats(0, 1e2), nv=st.integers(2, 64),
       b=st.floats(0, 0.95), scheme=st.sampled_from(["without", "with"]))
def test_max_stable_lr_non_decreasing_in_B(a_v, s_v, nv, b, scheme):
    """eta_max is non-decreasing in the batch size B (gamma decreases)."""
    vals = max_stable_lr(a_v, s_v, nv, np.arange(1, nv + 1), scheme, beta=b)
    assert np.all(np.diff(vals) >= -1e-12 * vals[:-1])


@given(a_v=st.floats(1e-2, 1e2), s_v=st.floats(0, 1e2), nv=st.integers(1, 64),
       b=st.floats(0, 0.95))
def test_gd_limit(a_v, s_v, nv, b):
    """gamma = 0 (B = n without replacement): eta_max = 2(1 + beta)/a, GD's threshold."""
    assert max_stable_lr(a_v, s_v, nv, nv, beta=b) == pytest.approx(2 * (1 + b) / a_v,
                                                                     rel=1e-12)


@given(a_v=st.floats(1e-2, 1e2), s_v=st.floats(0, 1e2), Bv=st.integers(1, 16))
def test_with_replacement_never_more_stable(a_v, s_v, Bv):
    """gamma = 1/B >= (n-B)/(B(n-1)), so with replacement has the smaller eta_max."""
    nv = 32
    assume(Bv <= nv)
    assert max_stable_lr(a_v, s_v, nv, Bv, "with") <= max_stable_lr(a_v, s_v, nv, Bv) * (
        1 + 1e-12)


def test_toy_threshold():
    """The toy minimum x = 1 (a = 2, s = 1.8, n = 2, B = 1) has eta_max = 2a/(a^2 + s^2),
    the reference threshold (1e-12)."""
    from sim.nonlinear_toy import reference

    assert max_stable_lr(2.0, 1.8, 2, 1) == pytest.approx(reference().eta_mean_square,
                                                          rel=1e-12)


def test_broadcasting():
    """Arrays broadcast like NumPy, and every entry is the scalar call's value (1e-14)."""
    a_arr, s_arr = np.array([[1.0], [2.0]]), np.array([0.0, 1.0, 2.0])
    out = max_stable_lr(a_arr, s_arr, 10, np.array([[1], [3]]))
    assert out.shape == (2, 3)
    for i, j in np.ndindex(out.shape):
        B = (1, 3)[i]
        want = max_stable_lr(float(a_arr[i, 0]), float(s_arr[j]), 10, B)
        assert out[i, j] == pytest.approx(float(want), rel=1e-14)
        g = (10 - B) / (B * 9)
        assert out[i, j] == pytest.approx(2 * a_arr[i, 0] / (a_arr[i, 0] ** 2 + g * s_arr[j] ** 2),
                                          rel=1e-12)


def test_1d_conditions_derived():
    """The solved threshold is 2a/(a^2 + gamma s^2) and the exact condition is
    (1 - eta a)^2 + eta^2 gamma s^2 <= 1."""
    c = theory.conditions_1d("without", batch=False)
    assert sp.simplify(c["eta_max"].rhs - 2 * a / (a**2 + gamma * s**2)) == 0
    assert sp.expand(c["multiplier"] - ((1 - eta * a) ** 2 + eta**2 * gamma * s**2)) == 0
    # At eta = eta_max the multiplier is exactly 1.
    assert sp.simplify(c["multiplier"].subs(eta, c["eta_max"].rhs) - 1) == 0


def test_momentum_reductions():
    """beta = 0 gives the exact 1-D threshold; gamma = 0 gives 2(1 + beta)/a."""
    mom = theory.momentum_recursion("without", batch=False)
    one_d = theory.conditions_1d("without", batch=False)["eta_max"].rhs
    assert sp.simplify(mom.eta_max.subs(beta, 0) - one_d) == 0
    assert sp.simplify(mom.eta_max.subs(gamma, 0) - 2 * (1 + beta) / a) == 0
    # At beta = 0 the top-left entry is the 1-D multiplier.
    mult = theory.conditions_1d("without", batch=False)["multiplier"]
    assert sp.expand(mom.matrix[0, 0].subs(beta, 0) - mult) == 0


@given(a_v=st.floats(0.1, 10), s_v=st.floats(0, 10), g=st.floats(0, 1), b=st.floats(0, 0.9),
       ratio=st.floats(0.05, 2.0))
def test_jury_conditions_match_radius(a_v, s_v, g, b, ratio):
    """All Jury conditions hold exactly when the 3x3 recursion has rho < 1."""
    mom = theory.momentum_recursion("without", batch=False)
    thr = float(mom.eta_max.subs({a: a_v, s: s_v, gamma: g, beta: b}))
    eta_v = ratio * thr
    rho = _momentum_radius(eta_v, a_v, s_v, g, b)
    assume(abs(rho - 1) > 1e-6)
    vals = {a: a_v, s: s_v, gamma: g, beta: b, eta: eta_v}
    jury = all(bool(c.subs(vals)) for c in mom.jury)
    assert jury == (rho < 1)


def test_latex_output():
    """Every derived record renders to LaTeX strings with the project's symbols."""
    tex = theory.latex(theory.conditions_1d())
    assert r"\eta_{\max}" in tex["eta_max"] and r"\leq" in tex["exact"]
    rec = theory.latex(theory.second_moment_recursion("with"))
    assert set(rec) >= {"gamma", "T", "kron", "C", "D"}
    assert r"\eta" in theory.latex(theory.theorem_condition(2))
    with pytest.raises(TypeError, match="obj"):
        theory.latex(3.0)


@pytest.mark.parametrize("kwargs,name", [
    (dict(a=-1.0, s=1.0, n=4, B=1), "a"),
    (dict(a=1.0, s=-1.0, n=4, B=1), "s"),
    (dict(a=1.0, s=1.0, n=4, B=0), "B"),
    (dict(a=1.0, s=1.0, n=4, B=5), "B"),
    (dict(a=1.0, s=1.0, n=0, B=1), "n"),
    (dict(a=1.0, s=1.0, n=4, B=1.5), "B"),
    (dict(a=1.0, s=1.0, n=4, B=1, beta=1.0), "beta"),
    (dict(a=1.0, s=1.0, n=4, B=1, beta=-0.1), "beta"),
    (dict(a=float("nan"), s=1.0, n=4, B=1), "a"),
    (dict(a=1.0, s=1.0, n=4, B=1, scheme="mixture"), "scheme"),
])
def test_bad_inputs(kwargs, name):
    """Invalid arguments raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        max_stable_lr(**kwargs)


def test_non_numeric_input():
    """A non-numeric argument is a TypeError naming it."""
    with pytest.raises(TypeError, match="^a"):
        max_stable_lr("x", 1.0, 4, 1)
