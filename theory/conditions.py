"""Stability conditions derived from the second-moment recursion.

- :func:`conditions_1d`: the recursion at ``d = 1`` is a scalar multiplier; the
  exact condition, GD's, the box and the solved threshold follow from it.
- :func:`momentum_recursion`: heavy-ball SGD in 1-D needs the joint moments of
  ``(x_t, x_{t-1})``; the 3x3 recursion, its characteristic polynomial, the
  Schur-Cohn/Jury conditions and the threshold are derived from the update rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from theory._validate import check_bool
from theory.recursion import _second_moment_recursion
from theory.sampling import _batch_factor, _check_scheme
from theory.symbols import H, M, S, a, beta, eta, eta_max, gamma, s, z


@cache
def _scalar_multiplier(scheme: str) -> sp.Expr:
    """``T(m)/m`` in 1-D, where ``H = a`` and ``S = (1/n) sum h_i^2 m = (a^2 + s^2) m``."""
    rec = _second_moment_recursion(scheme)
    m = sp.Symbol("m", positive=True)
    scalar = rec.T_gamma.subs({M: m, H: a, S: (a**2 + s**2) * m})
    return sp.factor(sp.expand(scalar / m))


def _positive_root(equation: sp.Expr, var: sp.Symbol) -> sp.Expr:
    roots = [r for r in sp.solve(equation, var) if r != 0]
    if len(roots) != 1:
        raise ArithmeticError(f"expected one nonzero root of {equation}, got {roots}")
    return sp.factor(sp.simplify(roots[0]))


def conditions_1d(scheme: str = "without", *, batch: bool = True) -> dict:
    """Stability conditions of 1-D linearized SGD.

    Parameters
    ----------
    scheme : {"without", "with", "mixture"}
    batch : bool
        If True, ``gamma`` is replaced by the scheme's :func:`batch_factor`
        (in ``n, B`` or ``p``); if False the symbol ``gamma`` is kept.

    Returns
    -------
    dict
        ``"multiplier"``: ``E m_{t+1} / E m_t = (1 - eta a)^2 + eta^2 gamma s^2``
        (derived from the recursion); ``"exact"``: ``multiplier <= 1`` (necessary
        and sufficient); ``"gd"``: ``a <= 2/eta``; ``"box"``: ``a <= 2/eta`` and
        ``s <= 1/(eta sqrt(gamma))``; ``"theorem"``: the paper's condition, which
        in 1-D is the exact one; ``"eta_max"``: ``Eq(eta_max, 2a/(a^2 + gamma s^2))``
        solved by sympy from ``multiplier = 1``; ``"gamma"``: the factor used.
    """
    return dict(_conditions_1d(_check_scheme(scheme), check_bool(batch, "batch")))


@cache
def _conditions_1d(scheme: str, batch: bool) -> dict:
    g = _batch_factor(scheme) if batch else gamma
    mult = _scalar_multiplier(scheme)
    threshold = _positive_root(sp.Eq(mult, 1), eta)
    exact = sp.Le(mult, 1)
    gd = sp.Le(a, 2 / eta)
    box = sp.And(gd, sp.Le(s, 1 / (eta * sp.sqrt(gamma))), evaluate=False)
    out = {
        "multiplier": mult,
        "exact": exact,
        "theorem": exact,
        "gd": gd,
        "box": box,
        "eta_max": sp.Eq(eta_max, threshold),
        "gamma": g,
    }
    return {k: (v.subs(gamma, g) if isinstance(v, sp.Basic) else v) for k, v in out.items()}


@dataclass(frozen=True)
class MomentumRecursion:
    """Second moments of 1-D heavy-ball SGD.

    Attributes
    ----------
    matrix : sympy.Matrix
        3x3 ``A`` with ``s_{t+1} = A s_t`` for the state
        ``s_t = (E x_t^2, E x_t x_{t-1}, E x_{t-1}^2)``.
    charpoly : sympy.Expr
        ``det(z I - A)``, monic cubic in ``z``.
    jury : tuple of sympy relations
        Schur-Cohn/Jury conditions for all roots strictly inside the unit circle.
    eta_max : sympy.Expr
        Root of ``charpoly(1) = 0`` in ``eta``: the learning rate at which the
        eigenvalue 1 is crossed.
    gamma : sympy.Expr
    """

    scheme: str
    matrix: sp.Matrix
    charpoly: sp.Expr
    jury: tuple
    eta_max: sp.Expr
    gamma: sp.Expr


def _jury_cubic(poly: sp.Poly) -> tuple:
    """Jury conditions for ``z^3 + c2 z^2 + c1 z + c0`` (roots inside |z| < 1)."""
    c3, c2, c1, c0 = poly.all_coeffs()
    if c3 != 1:
        raise ArithmeticError("characteristic polynomial is not monic")
    at_one = sp.factor(poly.eval(1))
    at_minus_one = sp.factor(-poly.eval(-1))
    return (
        sp.Gt(at_one, 0),
        sp.Gt(at_minus_one, 0),
        sp.Lt(sp.Abs(c0), 1),
        sp.Gt(sp.Abs(c0**2 - 1), sp.Abs(sp.factor(c0 * c2 - c1))),
    )


def momentum_recursion(scheme: str = "without", *, batch: bool = True) -> MomentumRecursion:
    """Derive the 3x3 second-moment recursion of 1-D heavy-ball SGD.

    ``x_{t+1} = x_t - eta h_xi x_t + beta (x_t - x_{t-1})``, with the batch curvature
    ``h_xi`` independent of the past, ``E h_xi = a`` and
    ``E h_xi^2 = a^2 + gamma s^2`` (``gamma`` from :func:`batch_factor`). Moments of
    the new state are expectations of polynomials in ``h_xi, x_t, x_{t-1}``.

    Parameters
    ----------
    scheme : {"without", "with", "mixture"}
    batch : bool
        As in :func:`conditions_1d`.

    Returns
    -------
    MomentumRecursion
    """
    return _momentum_recursion(_check_scheme(scheme), check_bool(batch, "batch"))


@cache
def _momentum_recursion(scheme: str, batch: bool) -> MomentumRecursion:
    g = _batch_factor(scheme) if batch else gamma
    h, x1, x0 = sp.symbols("h x_t x_tm1", real=True)
    u, v, w = sp.symbols("u v w", real=True)
    h_moments = {0: 1, 1: a, 2: a**2 + gamma * s**2}
    x_moments = {(2, 0): u, (1, 1): v, (0, 2): w}

    def expect(expr: sp.Expr) -> sp.Expr:
        poly = sp.Poly(sp.expand(expr), h, x1, x0)
        total = sp.Integer(0)
        for (kh, k1, k0), c in poly.terms():
            total += c * h_moments[kh] * x_moments[(k1, k0)]
        return sp.expand(total)

    x_next = x1 - eta * h * x1 + beta * (x1 - x0)
    new_state = [expect(x_next**2), expect(x_next * x1), expect(x1**2)]
    A = sp.Matrix([[sp.factor(e.coeff(var)) for var in (u, v, w)] for e in new_state])
    poly = sp.Poly(A.charpoly(z).as_expr(), z)
    jury = _jury_cubic(poly)
    threshold = _positive_root(poly.as_expr().subs(z, 1), eta)
    sub = (lambda e: e.subs(gamma, g)) if batch else (lambda e: e)
    return MomentumRecursion(
        scheme, A.applyfunc(sub), sub(poly.as_expr()),
        tuple(sub(j) for j in jury), sub(threshold), g,
    )


__all__ = ["conditions_1d", "momentum_recursion", "MomentumRecursion"]
