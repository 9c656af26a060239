"""The second-moment recursion of linearized SGD, derived.

Linearized SGD is ``x_{t+1} = (I - eta H_xi) x_t`` with ``H_xi = sum_i w_i H_i``
and batch weights ``w`` independent of ``x_t``. For ``M_t = E[x_t x_t^T]``,

    M_{t+1} = E[(I - eta H_xi) M_t (I - eta H_xi)].

The expectation is taken term by term on the expanded noncommutative polynomial,
using only the weight moments of :mod:`theory.sampling` and the definitions
``H = (1/n) sum_i H_i`` and ``S = (1/n) sum_i H_i M H_i``:

    E[H_xi]         = n E[w_i] H,
    E[H_xi M H_xi]  = E[w_i^2] sum_i H_i M H_i + E[w_i w_j] sum_{i != j} H_i M H_j
                    = n E[w_i^2] S + E[w_i w_j] (n^2 H M H - n S).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp
from sympy.physics.quantum import TensorProduct

from theory._validate import check_count, check_number, check_probability
from theory.sampling import _check_scheme, _weight_moments, batch_factor
from theory.symbols import B, H, H_xi, I, M, P, S, eta, gamma, n, p

# The factors that can stand beside M, by name (the Kronecker form maps them to numbers).
_SIDES = {"I": I, "H": H}


@dataclass(frozen=True)
class Recursion:
    """The derived second-moment map of one sampling scheme.

    Attributes
    ----------
    scheme : str
    gamma : sympy.Expr
        The coefficient produced by the derivation (equals ``batch_factor``).
    T : sympy.Expr
        ``T(M)`` as a noncommutative polynomial in ``M, H, S`` with the
        scheme's ``gamma`` substituted.
    T_gamma : sympy.Expr
        The same map written with the symbol ``gamma``:
        ``M - eta (H M + M H) + eta^2 ((1 - gamma) H M H + gamma S)``.
    kron : sympy.Expr
        Vectorised form ``I(x)I - eta (I(x)H + H(x)I) + eta^2 ((1-gamma) H(x)H +
        gamma P)`` with ``P = (1/n) sum_i H_i (x) H_i`` and column-major
        ``vec(X M Y) = (Y^T (x) X) vec(M)``; equals ``I - 2 eta C + eta^2 D``.
    C, D : sympy.Expr
        ``C = (I(x)H + H(x)I)/2`` and ``D = (1-gamma) H(x)H + gamma P``.
    terms : tuple of (coefficient, left, right)
        ``T_gamma`` as ``sum coefficient * left M right`` with ``left``/``right``
        in ``{"I", "H"}``, plus one term ``(coefficient, "S", "S")`` for ``S``:
        the data :func:`second_moment_operator` evaluates.
    """

    scheme: str
    gamma: sp.Expr
    T: sp.Expr
    T_gamma: sp.Expr
    kron: sp.Expr
    C: sp.Expr
    D: sp.Expr
    terms: tuple


def _expect(term: sp.Expr, wm) -> sp.Expr:
    """Expectation over the batch of one monomial ``c * X_1 X_2 ... X_k``."""
    coeff, factors = term.args_cnc()
    coeff = sp.Mul(*coeff)
    factors = list(factors)
    # Powers such as H_xi**2 never occur: M sits between the two H_xi.
    k = factors.count(H_xi)
    if k == 0:
        return coeff * sp.Mul(*factors)
    if k == 1:
        mean_H = n * wm.mean * H
        return coeff * sp.Mul(*[mean_H if f == H_xi else f for f in factors])
    if factors == [H_xi, M, H_xi]:
        return coeff * (n * wm.second * S + wm.cross * (n**2 * H * M * H - n * S))
    raise ValueError(f"unexpected monomial {term}")


def _split_at_M(term: sp.Expr) -> tuple[sp.Expr, str, str]:
    """Write a monomial as ``c * left M right`` (or ``c * S``)."""
    coeff, factors = term.args_cnc()
    coeff = sp.Mul(*coeff)
    if factors == [S]:
        return coeff, "S", "S"
    i = factors.index(M)
    left, right = factors[:i], factors[i + 1:]
    if left not in ([], [H]) or right not in ([], [H]):
        raise ValueError(f"unexpected monomial {term}")
    return coeff, "H" if left else "I", "H" if right else "I"


def second_moment_recursion(scheme: str = "without") -> Recursion:
    """Derive ``T(M) = E[(I - eta H_xi) M (I - eta H_xi)]`` for ``scheme``.

    Parameters
    ----------
    scheme : {"without", "with", "mixture"}

    Returns
    -------
    Recursion
        The map in matrix and Kronecker form, with ``gamma`` read off the
        derivation as the coefficient of ``eta^2 S``.
    """
    return _second_moment_recursion(_check_scheme(scheme))


@cache
def _second_moment_recursion(scheme: str) -> Recursion:
    wm = _weight_moments(scheme)
    step = sp.expand((1 - eta * H_xi) * M * (1 - eta * H_xi))
    T = sp.expand(sp.Add(*[_expect(t, wm) for t in sp.Add.make_args(step)]))
    derived_gamma = sp.factor(sp.simplify(T.coeff(eta, 2).coeff(S)))
    # Rewrite with the symbol gamma; the remainder must vanish identically.
    T_gamma = M - eta * (H * M + M * H) + eta**2 * ((1 - gamma) * H * M * H + gamma * S)
    residual = sp.simplify(sp.expand(T - T_gamma.subs(gamma, derived_gamma)))
    if residual != 0:
        raise ArithmeticError(f"derivation left a residual {residual}")
    terms = []
    for t in sp.Add.make_args(sp.expand(T_gamma)):
        terms.append(_split_at_M(t))
    kron = sp.Integer(0)
    for coeff, left, right in terms:
        if left == "S":
            kron += coeff * P
        else:  # vec(left M right) = (right^T (x) left) vec(M), right symmetric
            kron += coeff * TensorProduct(_SIDES[right], _SIDES[left])
    kron = sp.expand(kron)
    C = sp.expand(-kron.coeff(eta, 1) / 2)
    D = sp.expand(kron.coeff(eta, 2))
    return Recursion(scheme, derived_gamma, sp.expand(T_gamma.subs(gamma, derived_gamma)),
                     T_gamma, kron, C, D, tuple(terms))


def _as_matrices(Hs) -> list[sp.Matrix]:
    try:
        raw = [np.asarray(h, dtype=object) for h in Hs]
    except (TypeError, ValueError) as exc:
        raise TypeError("Hs must be a sequence of square matrices of real numbers") from exc
    for i, h in enumerate(raw):
        if any(isinstance(e, (str, bytes, complex)) for e in h.ravel()):
            raise TypeError(f"Hs[{i}] entries must be real numbers or sympy expressions")
    try:
        mats = [sp.Matrix(h) for h in Hs]
    except (TypeError, ValueError, sp.SympifyError) as exc:
        raise TypeError("Hs must be a sequence of square matrices of real numbers") from exc
    if not mats:
        raise ValueError("Hs must hold at least one matrix")
    d = mats[0].shape[0]
    if d == 0:
        raise ValueError("Hs must hold d x d matrices with d >= 1, got d = 0")
    for i, m in enumerate(mats):
        if m.shape != (d, d):
            raise ValueError(f"Hs[{i}] has shape {m.shape}, expected {(d, d)}")
        for entry in m:
            check_number(entry, f"Hs[{i}] entries")
        if m != m.T:
            raise ValueError(f"Hs[{i}] is not symmetric")
        if m.is_symbolic():
            continue
        eigs = [complex(e) for e in m.evalf().eigenvals(multiple=True)]
        scale = max([abs(e) for e in eigs] + [1e-300])
        if min(e.real for e in eigs) < -1e-12 * scale:
            raise ValueError(f"Hs[{i}] is not positive semi-definite")
    return mats


def second_moment_operator(Hs, eta_value, B_value=None, scheme: str = "without",
                           p_value=None) -> sp.Matrix:
    """The ``d^2 x d^2`` matrix of ``T`` for explicit per-sample Hessians.

    Parameters
    ----------
    Hs : sequence of n (d, d) symmetric matrices
        Numbers or sympy expressions.
    eta_value : number or sympy.Expr
        Learning rate.
    B_value : int, optional
        Batch size (``"without"``, ``"with"``).
    scheme : {"without", "with", "mixture"}
    p_value : number or sympy.Expr, optional
        Mixture probability (``"mixture"``).

    Returns
    -------
    sympy.Matrix
        Acts on column-major ``vec(M)``. Cost grows like ``d^4 n``: meant for
        ``d <= 3``.
    """
    rec = second_moment_recursion(scheme)
    mats = _as_matrices(Hs)
    n_value, d = len(mats), mats[0].shape[0]
    subs = {eta: check_number(eta_value, "eta_value", positive=True), n: n_value}
    if scheme == "mixture":
        if p_value is None:
            raise ValueError("p_value is required for scheme='mixture'")
        subs[p] = check_probability(p_value, "p_value")
    else:
        subs[B] = check_count(B_value, "B_value", 1, n_value)
    g = rec.gamma.subs(subs) if not (scheme == "without" and subs.get(B) == n_value) else 0
    mean_H = sum(mats, sp.zeros(d, d)) / n_value
    values = {"I": sp.eye(d), "H": mean_H}
    kron_avg = sum((sp.kronecker_product(h, h) for h in mats), sp.zeros(d * d, d * d)) / n_value
    out = sp.zeros(d * d, d * d)
    for coeff, left, right in rec.terms:
        c = coeff.subs(gamma, g).subs(subs)
        if left == "S":
            out += c * kron_avg
        else:
            out += c * sp.kronecker_product(values[right].T, values[left])
    return out.applyfunc(sp.simplify) if out.free_symbols else out


def theorem_condition(d: int) -> sp.MatrixExpr:
    """The paper's sufficient condition as a ``d x d`` matrix expression.

    Wu, Ma & E's theorem: ``E||x_t||^2`` cannot grow when the largest eigenvalue of
    ``E[(I - eta H_xi)^2] = T(I)`` is at most 1. It is derived by evaluating the
    recursion at ``M = I``, where ``S = (1/n) sum_i H_i^2 = Sigma + H^2``.

    Returns
    -------
    sympy.MatrixExpr
        ``(I - eta H)^2 + eta^2 gamma Sigma`` (expanded) in the ``d x d``
        ``MatrixSymbol``s ``H`` and ``Sigma``; ``.as_explicit()`` gives entries.
        ``gamma`` is left symbolic: substitute :func:`batch_factor`.
    """
    d = check_count(d, "d")
    Hm = sp.MatrixSymbol("H", d, d)
    Sigma = sp.MatrixSymbol("Sigma", d, d)
    Id = sp.Identity(d)
    values = {"I": Id, "H": Hm}
    rec = second_moment_recursion("without")
    out = sp.ZeroMatrix(d, d)
    for coeff, left, right in rec.terms:
        if left == "S":
            out += coeff * (Sigma + Hm * Hm)
        else:
            out += coeff * values[left] * Id * values[right]
    return sp.expand(out.doit())


__all__ = ["Recursion", "second_moment_recursion", "second_moment_operator",
           "theorem_condition", "batch_factor"]
