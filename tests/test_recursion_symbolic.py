"""Claim: the symbolically derived second-moment map equals the average of
(I - eta H_xi) M (I - eta H_xi) over every batch, for each sampling scheme."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import theory
from oracles import apply_T_bruteforce, batch_distribution, operator_bruteforce, random_psd
from theory.symbols import B, H, M, S, eta, gamma, n, p

SCHEMES = [("without", 1), ("without", 2), ("without", 3), ("with", 1), ("with", 2),
           ("mixture", None)]


def _evaluate_terms(rec, Hs, eta_v, M_v, g):
    """Evaluate the derived ``sum coefficient * left M right`` numerically."""
    d = Hs.shape[1]
    vals = {"I": np.eye(d), "H": Hs.mean(axis=0)}
    S_v = np.mean([h @ M_v @ h for h in Hs], axis=0)
    out = np.zeros((d, d))
    for coeff, left, right in rec.terms:
        c = float(coeff.subs({gamma: g, eta: eta_v}))
        out += c * (S_v if left == "S" else vals[left] @ M_v @ vals[right])
    return out


@pytest.mark.parametrize("scheme,Bv", SCHEMES)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 3))
def test_recursion_matches_batch_average(scheme, Bv, seed, d):
    """T(M) from the derivation equals the brute-force batch average to 1e-10 relative."""
    rng = np.random.default_rng(seed)
    nv = 4
    Hs = np.stack([random_psd(rng, d, rank=1 + i % d) for i in range(nv)])
    Mv = random_psd(rng, d)
    eta_v = float(rng.uniform(0.05, 1.0))
    pv = 0.3
    rec = theory.second_moment_recursion(scheme)
    subs = {n: nv, p: pv} if Bv is None else {n: nv, B: Bv}
    g = float(rec.gamma.subs(subs)) if (scheme, Bv) != ("without", nv) else 0.0
    got = _evaluate_terms(rec, Hs, eta_v, Mv, g)
    want = apply_T_bruteforce(Hs, eta_v, Mv, batch_distribution(nv, Bv, scheme, pv))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())


def test_gamma_from_derivation_equals_batch_factor():
    """The coefficient of eta^2 S read off the derivation is the batch factor."""
    for scheme in theory.SCHEMES:
        rec = theory.second_moment_recursion(scheme)
        assert sp.simplify(rec.gamma - theory.batch_factor(scheme)) == 0


def test_kronecker_form_is_I_minus_2etaC_plus_eta2D():
    """vec T = I(x)I - 2 eta C + eta^2 D with C = (I(x)H + H(x)I)/2."""
    from sympy.physics.quantum import TensorProduct

    from theory.symbols import I, P

    rec = theory.second_moment_recursion("without")
    assert sp.expand(rec.kron - (TensorProduct(I, I) - 2 * eta * rec.C + eta**2 * rec.D)) == 0
    assert sp.expand(rec.C - (TensorProduct(I, H) + TensorProduct(H, I)) / 2) == 0
    assert sp.expand(rec.D - ((1 - gamma) * TensorProduct(H, H) + gamma * P)) == 0
    assert sp.expand(rec.T_gamma - ((1 - eta * H) * M * (1 - eta * H)
                                    + eta**2 * gamma * (S - H * M * H))) == 0


@pytest.mark.parametrize("scheme,Bv", [("without", 1), ("without", 2), ("with", 2),
                                       ("mixture", None)])
def test_operator_matrix_matches_kronecker_oracle(scheme, Bv):
    """The d^2 x d^2 sympy operator equals the dense Kronecker average over batches."""
    rng = np.random.default_rng(7)
    d, nv = 2, 3
    Hs_int = [sp.Matrix(2, 2, lambda i, j: 0) for _ in range(nv)]
    for k in range(nv):
        G = sp.Matrix(rng.integers(-3, 4, size=(d, d)).tolist())
        Hs_int[k] = G * G.T
    eta_v = sp.Rational(1, 7)
    T = theory.second_moment_operator(Hs_int, eta_v, Bv, scheme, p_value=sp.Rational(1, 3))
    Hs = np.array([np.array(h, dtype=float) for h in Hs_int])
    want = operator_bruteforce(Hs, float(eta_v), batch_distribution(nv, Bv, scheme, 1 / 3))
    np.testing.assert_allclose(np.array(T, dtype=float), want, rtol=1e-12, atol=1e-14)


def test_operator_symbolic_entries():
    """The operator accepts symbolic Hessians and eta (1-D: the exact multiplier)."""
    h1, h2, e = sp.symbols("h1 h2 e", positive=True)
    T = theory.second_moment_operator([sp.Matrix([[h1]]), sp.Matrix([[h2]])], e, 1)
    abar, var = (h1 + h2) / 2, ((h1 - h2) / 2) ** 2
    assert sp.simplify(T[0, 0] - ((1 - e * abar) ** 2 + e**2 * var)) == 0


@given(seed=st.integers(0, 2**32 - 1), d=st.integers(2, 3))
def test_commuting_operator_radius_is_max_over_directions(seed, d):
    """Diagonal H_i: rho(T) = max_j of the 1-D exact factor of direction j."""
    rng = np.random.default_rng(seed)
    nv, Bv = 3, 1
    diag = rng.integers(0, 6, size=(nv, d))
    Hs = [sp.diag(*[int(v) for v in row]) for row in diag]
    eta_v = sp.Rational(int(rng.integers(1, 40)), 100)
    T = np.array(theory.second_moment_operator(Hs, eta_v, Bv), dtype=float)
    rho = np.abs(np.linalg.eigvals(T)).max()
    mult = theory.conditions_1d("without")["multiplier"]
    from theory.symbols import a, s

    per_direction = []
    for j in range(d):
        h = diag[:, j].astype(float)
        per_direction.append(float(mult.subs({a: h.mean(), s: h.std(), eta: eta_v,
                                              n: nv, B: Bv})))
    assert rho == pytest.approx(max(per_direction), rel=1e-10)


def test_theorem_condition_is_T_of_identity():
    """E[(I - eta H_xi)^2] over batches equals (I - eta H)^2 + eta^2 gamma Sigma (d = 2)."""
    rng = np.random.default_rng(3)
    d, nv, Bv, eta_v = 2, 5, 2, 0.3
    Hs = np.stack([random_psd(rng, d) for _ in range(nv)])
    Hbar = Hs.mean(0)
    Sigma = np.mean([h @ h for h in Hs], 0) - Hbar @ Hbar
    g = float(theory.batch_factor("without").subs({n: nv, B: Bv}))
    expr = theory.theorem_condition(d).subs(gamma, g).subs(eta, eta_v)
    Hsym, Ssym = sp.MatrixSymbol("H", d, d), sp.MatrixSymbol("Sigma", d, d)
    got = np.array(expr.subs({Hsym: sp.Matrix(Hbar), Ssym: sp.Matrix(Sigma)}).doit()
                   .as_explicit(), dtype=float)
    want = apply_T_bruteforce(Hs, eta_v, np.eye(d), batch_distribution(nv, Bv, "without"))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_operator_bad_inputs():
    """Non-symmetric matrices, mismatched shapes and B out of range are ValueErrors."""
    with pytest.raises(ValueError, match=r"Hs\[1\]"):
        theory.second_moment_operator([sp.eye(2), sp.Matrix([[1, 2], [0, 1]])], 1, 1)
    with pytest.raises(ValueError, match=r"Hs\[1\]"):
        theory.second_moment_operator([sp.eye(2), sp.eye(3)], 1, 1)
    with pytest.raises(ValueError, match="B_value"):
        theory.second_moment_operator([sp.eye(2), sp.eye(2)], 1, 3)
    with pytest.raises(ValueError, match="p_value"):
        theory.second_moment_operator([sp.eye(2), sp.eye(2)], 1, scheme="mixture")
    with pytest.raises(ValueError, match="d must"):
        theory.theorem_condition(0)
