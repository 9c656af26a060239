"""Batch sampling schemes and the batch factor ``gamma``, derived.

A batch is a random weight vector ``w = (w_1, ..., w_n)`` with ``sum_i w_i = 1``:
the batch mean of values ``z_i`` is ``sum_i w_i z_i`` and the batch Hessian is
``H_xi = sum_i w_i H_i``. For an exchangeable scheme three moments describe the
batch completely as far as second moments go:

    E[w_i],   E[w_i^2],   E[w_i w_j]  (i != j).

They are derived here from each scheme's probabilities, and everything else
(``gamma``, the second-moment recursion) is derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from theory._validate import check_choice
from theory.symbols import B, n, p

SCHEMES = ("without", "with", "mixture")
"""Schemes with a per-step Markov recursion: sampling without replacement (the
paper's), with replacement, and the mixture ALG(p) (one random sample with
probability ``p``, the full batch otherwise)."""


def _check_scheme(scheme: str) -> str:
    """``scheme`` if it is one of :data:`SCHEMES`: a ``TypeError`` for a non-string
    (checked before a cache would fail on an unhashable one), else a ``ValueError``."""
    return check_choice(scheme, "scheme", SCHEMES)


@dataclass(frozen=True)
class WeightMoments:
    """Moments of the batch weights of one sampling scheme.

    Attributes
    ----------
    scheme : str
    mean : sympy.Expr
        ``E[w_i]`` (must be ``1/n`` for an unbiased batch).
    second : sympy.Expr
        ``E[w_i^2]``.
    cross : sympy.Expr
        ``E[w_i w_j]`` for ``i != j``.
    """

    scheme: str
    mean: sp.Expr
    second: sp.Expr
    cross: sp.Expr


def weight_moments(scheme: str) -> WeightMoments:
    """Derive ``E[w_i]``, ``E[w_i^2]`` and ``E[w_i w_j]`` for ``scheme``.

    - ``"without"``: ``B`` distinct indices, every ``B``-subset equally likely, so
      ``w_i = 1[i in xi] / B``. Inclusion probabilities are ratios of binomial
      counts: ``P(i in xi) = C(n-1, B-1) / C(n, B)`` and
      ``P(i, j in xi) = C(n-2, B-2) / C(n, B)``.
    - ``"with"``: ``B`` iid uniform draws ``I_1..I_B`` and
      ``w_i = (1/B) sum_k 1[I_k = i]``, so
      ``E[w_i w_j] = (1/B^2) sum_{k,l} P(I_k = i, I_l = j)`` with
      ``P = delta_ij / n`` on the ``B`` diagonal pairs ``k = l`` and ``1/n^2`` on
      the ``B^2 - B`` others.
    - ``"mixture"``: with probability ``p`` the weights are ``e_I`` (one uniform
      sample), otherwise ``1/n`` each (full batch).
    """
    return _weight_moments(_check_scheme(scheme))


@cache
def _weight_moments(scheme: str) -> WeightMoments:
    if scheme == "without":
        total = sp.binomial(n, B)
        incl_1 = sp.combsimp(sp.binomial(n - 1, B - 1) / total)
        incl_2 = sp.combsimp(sp.binomial(n - 2, B - 2) / total)
        mean, second, cross = incl_1 / B, incl_1 / B**2, incl_2 / B**2
    elif scheme == "with":
        k, l = sp.symbols("k l", integer=True, positive=True)
        pairs_all = sp.Sum(sp.Sum(1, (l, 1, B)), (k, 1, B)).doit()
        pairs_diag = sp.Sum(1, (k, 1, B)).doit()
        pairs_off = pairs_all - pairs_diag

        def pair_sum(same_index: bool) -> sp.Expr:
            # sum_{k,l} P(I_k = i, I_l = j): one draw hits both only if i == j.
            on_diag = pairs_diag * (1 / n if same_index else 0)
            return on_diag + pairs_off / n**2

        mean = sp.Sum(1 / n, (k, 1, B)).doit() / B
        second, cross = pair_sum(True) / B**2, pair_sum(False) / B**2
    else:  # mixture: a single sample e_I w.p. p, the uniform weights 1/n otherwise
        mean = p * (1 / n) + (1 - p) / n
        second = p * (1 / n) + (1 - p) / n**2
        cross = p * 0 + (1 - p) / n**2  # two distinct indices never share e_I
    return WeightMoments(scheme, *(sp.factor(sp.simplify(e)) for e in (mean, second, cross)))


def batch_factor(scheme: str) -> sp.Expr:
    """The batch factor ``gamma = Var(batch mean) / population variance``.

    Derived from the weight moments: for values ``z_i`` centred at their mean
    (``sum_i z_i = 0``; allowed because ``sum_i w_i = 1``) and population variance
    ``sigma^2 = (1/n) sum_i z_i^2``,

        E[(sum_i w_i z_i)^2] = E[w_i^2] sum_i z_i^2 + E[w_i w_j] sum_{i != j} z_i z_j
                             = (E[w_i^2] - E[w_i w_j]) n sigma^2,

    since ``sum_{i != j} z_i z_j = (sum_i z_i)^2 - sum_i z_i^2``.

    Returns
    -------
    sympy.Expr
        In ``n, B`` (``"without"``: ``(n-B)/(B(n-1))``; ``"with"``: ``1/B``) or ``p``
        (``"mixture"``).
    """
    return _batch_factor(_check_scheme(scheme))


@cache
def _batch_factor(scheme: str) -> sp.Expr:
    wm = _weight_moments(scheme)
    sum_z, sum_z2, sigma2 = sp.symbols("Sz Sz2 sigma2", real=True)
    second_moment = wm.second * sum_z2 + wm.cross * (sum_z**2 - sum_z2)
    centred = second_moment.subs({sum_z: 0, sum_z2: n * sigma2})
    return sp.factor(sp.simplify(centred / sigma2))
