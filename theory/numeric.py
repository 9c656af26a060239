"""Numeric callables of the derived formulas: the one ``lambdify`` site.

Every symbolic result that becomes a number goes through :func:`_compile`, with
``cse=True`` and the argument order documented in :data:`ARGUMENTS`. Public
functions validate their input and broadcast like NumPy.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from theory import symbols as sym
from theory._validate import check_choice
from theory.conditions import momentum_recursion
from theory.sampling import batch_factor

ARGUMENTS = {
    "batch_factor": (sym.n, sym.B),
    "momentum_eta_max": (sym.a, sym.s, sym.gamma, sym.beta),
}
"""Fixed argument order of each compiled formula."""


def _formula(name: str, scheme: str | None) -> sp.Expr:
    if name == "batch_factor":
        return batch_factor(scheme)
    if name == "momentum_eta_max":
        return momentum_recursion("without", batch=False).eta_max
    raise KeyError(name)


@cache
def _compile(name: str, scheme: str | None = None):
    """Lambdify formula ``name`` (for ``scheme``) over ``ARGUMENTS[name]``."""
    return sp.lambdify(ARGUMENTS[name], _formula(name, scheme), modules="numpy", cse=True)


def _as_float_array(x, name: str) -> np.ndarray:
    """``x`` as a float array: integer or real entries only (a bool, str, complex, None
    or ragged value is a ``TypeError`` naming ``name``), all finite."""
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or array, got {x!r}") from exc
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number or array, got {x!r}")
    arr = raw.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return arr


def _as_count_array(x, name: str) -> np.ndarray:
    """Counts as a float array: integers, or floats with integer values (``B = 1.5`` is a
    ``ValueError``; ``True`` is a ``TypeError``, not the count 1)."""
    arr = _as_float_array(x, name)
    if np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be integer-valued, got {x!r}")
    return arr


def _check_n_B(n_arr: np.ndarray, B_arr: np.ndarray) -> None:
    if np.any(n_arr < 1):
        raise ValueError(f"n must be >= 1, got {n_arr}")
    if np.any(B_arr < 1):
        raise ValueError(f"B must be >= 1, got {B_arr}")
    if np.any(B_arr > n_arr):
        raise ValueError(f"B must be <= n, got B={B_arr}, n={n_arr}")


def batch_factor_value(n, B, scheme: str = "without"):
    """Numeric ``gamma(n, B)`` of :func:`theory.batch_factor` (``0`` at ``B = n``
    without replacement, including ``n = 1``)."""
    check_choice(scheme, "scheme", ("without", "with"))
    n_arr = _as_count_array(n, "n")
    B_arr = _as_count_array(B, "B")
    _check_n_B(n_arr, B_arr)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.asarray(_compile("batch_factor", scheme)(n_arr, B_arr), dtype=float)
    g = np.where(B_arr == n_arr, 0.0, g) if scheme == "without" else g
    return g[()] if g.ndim == 0 else g


def max_stable_lr(a, s, n, B, scheme: str = "without", beta=0.0):
    """Largest learning rate at which 1-D (heavy-ball) SGD is mean-square stable.

    ``eta_max = 2 a (1 - beta^2) / ((1 - beta) a^2 + (1 + beta) gamma s^2)``, the
    root of the momentum recursion's ``charpoly(1) = 0``; at ``beta = 0`` it is the
    exact 1-D threshold ``2a / (a^2 + gamma s^2)``, at ``gamma = 0`` GD's
    ``2(1 + beta)/a``.

    Parameters
    ----------
    a, s : float or array_like
        Sharpness ``a >= 0`` and non-uniformity ``s >= 0``.
    n, B : int or array_like
        Sample count and batch size, ``1 <= B <= n``.
    scheme : {"without", "with"}
    beta : float or array_like
        Momentum in ``[0, 1)``.

    Returns
    -------
    float or ndarray
        Broadcast over the inputs; ``inf`` where ``a = 0`` and ``gamma s^2 = 0``
        (the dynamics is the identity), ``0`` where ``a = 0 < gamma s^2``.
    """
    a_arr = _as_float_array(a, "a")
    s_arr = _as_float_array(s, "s")
    beta_arr = _as_float_array(beta, "beta")
    if np.any(a_arr < 0):
        raise ValueError(f"a must be >= 0, got {a!r}")
    if np.any(s_arr < 0):
        raise ValueError(f"s must be >= 0, got {s!r}")
    if np.any((beta_arr < 0) | (beta_arr >= 1)):
        raise ValueError(f"beta must lie in [0, 1), got {beta!r}")
    g = np.asarray(batch_factor_value(n, B, scheme))
    a_arr, s_arr, g, beta_arr = np.broadcast_arrays(a_arr, s_arr, g, beta_arr)
    # eta_max(a, s) = eta_max(a/c, s/c) / c: evaluate at unit scale (c a power of 2,
    # so the division is exact) and the squares cannot overflow or underflow.
    top = np.maximum(a_arr, s_arr)
    with np.errstate(divide="ignore"):
        c = np.where(top > 0, np.exp2(np.round(np.log2(np.where(top > 0, top, 1.0)))), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(_compile("momentum_eta_max")(a_arr / c, s_arr / c, g, beta_arr),
                         dtype=float) / c
    identity = (a_arr == 0) & ((g == 0) | (s_arr == 0))
    out = np.where(identity, np.inf, out)
    return out[()] if out.ndim == 0 else out


__all__ = ["max_stable_lr", "batch_factor_value", "ARGUMENTS"]
