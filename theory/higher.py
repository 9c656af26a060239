"""Moments of every order of linearized SGD (``docs/theory.md``, section 8).

- :func:`batch_law`: the law of the batch weights of a scheme, from its definition
  (every subset, every ordered draw, or the mixture's two cases), with exact rational
  probabilities;
- :func:`moment_function_1d`: ``E|1 - eta h_xi|^q`` in 1-D, a sympy expression in
  ``eta`` and ``q``, whose logarithm is the moment Lyapunov function ``Lambda(q)``;
- :func:`moment_threshold`: the ``q``-th moment threshold ``eta_q`` (``Lambda(q) = 0``),
  and :func:`almost_sure_threshold` (``E log|1 - eta h_xi| = 0``);
- :func:`fourth_moment_operator`: ``E[A (x) A (x) A (x) A]`` for explicit ``H_i``
  (numeric, ``d <= 4``), whose spectral radius gives ``Lambda(4)``.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import sympy as sp

from theory.sampling import _check_scheme
from theory.symbols import eta

q = sp.Symbol("q", nonnegative=True)
"""Moment order."""


def batch_law(n: int, B: int | None = None, scheme: str = "without", p=None) -> list:
    """``[(probability, weights), ...]``: the law of the batch weights ``w`` (``H_xi =
    sum_i w_i H_i``), each probability a sympy Rational (``p`` may be a symbol).

    - ``"without"``: each of the ``C(n, B)`` subsets, probability ``1/C(n, B)``;
    - ``"with"``: each multiset of ``B`` draws with its multinomial count ``/ n^B``;
    - ``"mixture"``: ``e_i`` with probability ``p/n``, ``1/n`` everywhere with ``1 - p``.
    """
    _check_scheme(scheme)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if scheme == "mixture":
        p = sp.sympify(p)
        return [(p / n, tuple(sp.Integer(int(i == j)) for j in range(n))) for i in range(n)] \
            + [((1 - p), tuple(sp.Rational(1, n) for _ in range(n)))]
    if not isinstance(B, int) or not 1 <= B <= n:
        raise ValueError(f"B must be an integer in [1, n={n}], got {B!r}")
    if scheme == "without":
        subsets = list(itertools.combinations(range(n), B))
        return [(sp.Rational(1, len(subsets)),
                 tuple(sp.Rational(int(j in sub), B) for j in range(n))) for sub in subsets]
    law = Counter()
    for draw in itertools.product(range(n), repeat=B):
        law[tuple(sorted(draw))] += 1
    return [(sp.Rational(count, n**B), tuple(sp.Rational(m.count(j), B) for j in range(n)))
            for m, count in law.items()]


def moment_function_1d(h, scheme: str = "without", B: int | None = None, p=None) -> sp.Expr:
    """``E|1 - eta h_xi|^q`` for 1-D curvatures ``h`` (numbers or sympy expressions)."""
    h = [sp.nsimplify(v) for v in h]
    law = batch_law(len(h), B, scheme, p)
    return sp.Add(*[prob * sp.Abs(1 - eta * sum(w * v for w, v in zip(ws, h, strict=True))) ** q
                    for prob, ws in law])


def _first_crossing(f, lo: float, hi: float, grid: int = 4000) -> float:
    """The smallest root of ``f`` in ``(lo, hi)`` where it turns from <= 0 to > 0."""
    xs = np.linspace(lo, hi, grid)
    vals = np.array([f(x) for x in xs])
    idx = np.flatnonzero((vals[:-1] <= 0) & (vals[1:] > 0))
    if not idx.size:
        raise ArithmeticError("no crossing in the bracket")
    a, b = xs[idx[0]], xs[idx[0] + 1]
    for _ in range(200):
        m = 0.5 * (a + b)
        a, b = (m, b) if f(m) <= 0 else (a, m)
    return 0.5 * (a + b)


def moment_threshold(h, order, scheme: str = "without", B: int | None = None, p=None,
                     hi: float | None = None) -> float:
    """``eta_q``: the smallest ``eta > 0`` with ``E|1 - eta h_xi|^q = 1`` (``Lambda(q)``
    turns positive), from the symbolic moment function."""
    expr = moment_function_1d(h, scheme, B, p).subs(q, sp.nsimplify(order))
    f = sp.lambdify(eta, expr - 1, "math")
    top = max(float(v) for v in h)
    return _first_crossing(f, 1e-9, hi or 4.0 / top)


def almost_sure_threshold(h, scheme: str = "without", B: int | None = None, p=None,
                          hi: float | None = None) -> float:
    """``eta_as``: the smallest ``eta > 0`` where ``E log|1 - eta h_xi|`` turns positive."""
    hs = [sp.nsimplify(v) for v in h]
    law = batch_law(len(hs), B, scheme, p)
    terms = [(float(prob), float(sum(w * v for w, v in zip(ws, hs, strict=True))))
             for prob, ws in law]

    def f(x):
        return sum(pr * np.log(abs(1 - x * hx)) if abs(1 - x * hx) > 0 else -np.inf
                   for pr, hx in terms)

    top = max(float(v) for v in h)
    return _first_crossing(f, 1e-9, hi or 4.0 / top)


def fourth_moment_operator(Hs, eta_value: float, B: int | None = None,
                           scheme: str = "without", p=None) -> np.ndarray:
    """``E[A (x) A (x) A (x) A]`` with ``A = I - eta H_xi`` (``d^4 x d^4``, numeric).

    Its spectral radius is ``exp Lambda(4)``: ``E||x_t||^4`` grows like its powers.
    """
    Hs = np.asarray(Hs, dtype=float)
    if Hs.ndim != 3 or Hs.shape[1] != Hs.shape[2]:
        raise ValueError(f"Hs must have shape (n, d, d), got {Hs.shape}")
    n, d, _ = Hs.shape
    if not 1 <= d <= 4:
        raise ValueError(f"d must be in [1, 4] (the operator is d^4 x d^4), got {d}")
    out = np.zeros((d**4, d**4))
    for prob, ws in batch_law(n, B, scheme, p):
        A = np.eye(d) - eta_value * np.einsum("i,ijk->jk", np.array(ws, dtype=float), Hs)
        AA = np.kron(A, A)
        out += float(prob) * np.kron(AA, AA)
    return out


__all__ = ["q", "batch_law", "moment_function_1d", "moment_threshold", "almost_sure_threshold",
           "fourth_moment_operator"]
