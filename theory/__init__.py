"""Symbolic theory of SGD's dynamical stability at interpolating minima (sympy only).

Derivations start from definitions: the batch factor from inclusion probabilities,
the second-moment recursion from ``E[(I - eta H_xi) M (I - eta H_xi)]``, the
conditions from the recursion. :mod:`theory.numeric` turns results into NumPy
callables through one ``lambdify`` site.
"""

from theory import higher, numeric
from theory.conditions import MomentumRecursion, conditions_1d, momentum_recursion
from theory.latex import latex
from theory.recursion import (
    Recursion,
    second_moment_operator,
    second_moment_recursion,
    theorem_condition,
)
from theory.sampling import SCHEMES, WeightMoments, batch_factor, weight_moments

__all__ = [
    "SCHEMES", "WeightMoments", "weight_moments", "batch_factor",
    "Recursion", "second_moment_recursion", "second_moment_operator", "theorem_condition",
    "conditions_1d", "momentum_recursion", "MomentumRecursion",
    "latex", "numeric", "higher",
]
