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

from theory._validate import check_count, check_number, check_probability
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

    ``n`` and ``B`` are integers (NumPy and sympy integers too, never ``bool``), ``p`` a
    number in ``[0, 1]`` or a sympy expression; ``B`` is ignored by the mixture, ``p``
    required by it.
    """
    scheme = _check_scheme(scheme)
    n = check_count(n, "n")
    if scheme == "mixture":
        if p is None:
            raise ValueError("p is required for scheme='mixture'")
        p = check_probability(p, "p")
        return [(p / n, tuple(sp.Integer(int(i == j)) for j in range(n))) for i in range(n)] \
            + [((1 - p), tuple(sp.Rational(1, n) for _ in range(n)))]
    B = check_count(B, "B", 1, n)
    if scheme == "without":
        subsets = list(itertools.combinations(range(n), B))
        return [(sp.Rational(1, len(subsets)),
                 tuple(sp.Rational(int(j in sub), B) for j in range(n))) for sub in subsets]
    law = Counter()
    for draw in itertools.product(range(n), repeat=B):
        law[tuple(sorted(draw))] += 1
    return [(sp.Rational(count, n**B), tuple(sp.Rational(m.count(j), B) for j in range(n)))
            for m, count in law.items()]


def _curvatures(h) -> list:
    """``h`` as a non-empty list of exact sympy numbers or expressions, naming ``h``."""
    try:
        ndim = np.ndim(h)
    except ValueError:  # ragged
        ndim = -1
    if isinstance(h, (str, bytes)) or ndim != 1:
        raise TypeError(f"h must be a 1-D sequence of curvatures, got {h!r}")
    if len(h) == 0:
        raise ValueError("h must hold at least one curvature")
    return [sp.nsimplify(check_number(v, f"h[{i}]")) for i, v in enumerate(h)]


def moment_function_1d(h, scheme: str = "without", B: int | None = None, p=None) -> sp.Expr:
    """``E|1 - eta h_xi|^q`` for 1-D curvatures ``h`` (numbers or sympy expressions)."""
    h = _curvatures(h)
    law = batch_law(len(h), B, scheme, p)
    return sp.Add(*[prob * sp.Abs(1 - eta * sum(w * v for w, v in zip(ws, h, strict=True))) ** q
                    for prob, ws in law])


def _real(value, name: str, *, positive: bool = False) -> float:
    """A finite real number (``> 0`` when ``positive``) as a float, naming ``name``."""
    expr = check_number(value, name, positive=positive)
    if not expr.is_number:
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(expr)


def _top(h, hi) -> float:
    """Upper end of the search bracket: ``hi`` (a positive number) or ``4 / max h``."""
    if hi is not None:
        return _real(hi, "hi", positive=True)
    hs = _curvatures(h)
    if any(not v.is_number for v in hs):
        raise TypeError("h must hold numbers to bracket a threshold (or give hi)")
    top = max(float(v) for v in hs)
    if not top > 0:
        raise ValueError(f"h must hold a positive curvature, got {h!r}")
    return 4.0 / top


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
    _real(order, "order", positive=True)
    order = sp.nsimplify(check_number(order, "order"))  # exact: 1/3 stays 1/3
    expr = moment_function_1d(h, scheme, B, p).subs(q, order)
    f = sp.lambdify(eta, expr - 1, "math")
    return _first_crossing(f, 1e-9, _top(h, hi))


def almost_sure_threshold(h, scheme: str = "without", B: int | None = None, p=None,
                          hi: float | None = None) -> float:
    """``eta_as``: the smallest ``eta > 0`` where ``E log|1 - eta h_xi|`` turns positive."""
    hs = _curvatures(h)
    law = batch_law(len(hs), B, scheme, p)
    terms = [(float(prob), float(sum(w * v for w, v in zip(ws, hs, strict=True))))
             for prob, ws in law]

    def f(x):
        return sum(pr * np.log(abs(1 - x * hx)) if abs(1 - x * hx) > 0 else -np.inf
                   for pr, hx in terms)

    return _first_crossing(f, 1e-9, _top(h, hi))


def fourth_moment_operator(Hs, eta_value: float, B: int | None = None,
                           scheme: str = "without", p=None) -> np.ndarray:
    """``E[A (x) A (x) A (x) A]`` with ``A = I - eta H_xi`` (``d^4 x d^4``, numeric).

    Its spectral radius is ``exp Lambda(4)``: ``E||x_t||^4`` grows like its powers.
    """
    eta_value = _real(eta_value, "eta_value", positive=True)
    Hs = np.asarray(Hs)
    if Hs.dtype.kind not in "iuf":
        raise TypeError(f"Hs must be a real array (n, d, d), got dtype {Hs.dtype}")
    Hs = Hs.astype(float)
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
