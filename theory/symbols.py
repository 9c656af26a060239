"""The symbols of ``docs/theory.md``, spelled once.

Scalars are real and (where the math says so) positive, so that sympy can simplify
square roots and sign conditions. Matrix-valued quantities in the second-moment
recursion are noncommutative symbols: ``M`` (the second moment ``E[x x^T]``), ``H``
(the mean Hessian), ``S`` (the per-sample average ``(1/n) sum_i H_i M H_i``) and
``H_xi`` (the batch Hessian). In the vectorised (Kronecker) form, ``I`` is the
``d x d`` identity and ``P`` stands for ``(1/n) sum_i H_i (x) H_i``.
"""

import sympy as sp

eta = sp.Symbol("eta", positive=True)
"""Learning rate."""
n = sp.Symbol("n", positive=True, integer=True)
"""Number of samples."""
B = sp.Symbol("B", positive=True, integer=True)
"""Batch size."""
a = sp.Symbol("a", nonnegative=True)
"""Sharpness ``lambda_max(H)`` (in 1-D the curvature ``H``)."""
s = sp.Symbol("s", nonnegative=True)
"""Non-uniformity ``sqrt(lambda_max(Sigma))`` (in 1-D the std of the ``h_i``)."""
gamma = sp.Symbol("gamma", nonnegative=True)
"""Batch factor ``Var(batch mean) / population variance``."""
beta = sp.Symbol("beta", nonnegative=True)
"""Heavy-ball momentum."""
p = sp.Symbol("p", nonnegative=True)
"""Probability of a single-sample step in the mixture scheme ALG(p)."""
z = sp.Symbol("z")
"""Variable of characteristic polynomials."""
eta_max = sp.Symbol("eta_max", positive=True)
"""Name of a learning-rate threshold in returned equations."""

# Noncommutative symbols of the second-moment recursion.
M = sp.Symbol("M", commutative=False)
H = sp.Symbol("H", commutative=False)
S = sp.Symbol("S", commutative=False)
H_xi = sp.Symbol("H_xi", commutative=False)
# Kronecker form: identity and the per-sample Kronecker average.
I = sp.Symbol("I", commutative=False)  # noqa: E741
P = sp.Symbol("P", commutative=False)

__all__ = ["eta", "n", "B", "a", "s", "gamma", "beta", "p", "z", "eta_max",
           "M", "H", "S", "H_xi", "I", "P"]
