"""Argument checks of the public functions of :mod:`theory` (sympy only; ``theory``
imports nothing from ``sim``).

As in ``sim``, every check names the offending argument and raises ``TypeError`` for a
value of the wrong kind and ``ValueError`` for a value of the right kind out of range.
Integers are Python ``int``, NumPy integers or sympy Integers, never ``bool``; booleans
are ``bool`` or ``numpy.bool_`` only.
"""

from __future__ import annotations

import numbers

import numpy as np
import sympy as sp


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_bool(value, name: str) -> bool:
    """``bool`` or ``numpy.bool_`` (``'no'``, ``0`` or ``None`` would be read by truthiness)."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def check_count(value, name: str, low: int = 1, high: int | None = None) -> int:
    """An integer in ``[low, high]`` (``int``, NumPy or sympy integer; not bool, not a
    float that happens to be whole)."""
    if _is_bool(value) or not isinstance(value, (numbers.Integral, np.integer, sp.Integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        where = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {where}, got {value}")
    return value


def check_choice(value, name: str, allowed: tuple) -> str:
    """A string among ``allowed`` (a list or other unhashable value is a ``TypeError``,
    checked before any cache sees it)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {allowed} (a string), got {value!r}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_number(value, name: str, *, positive: bool = False) -> sp.Expr:
    """A real number or a real sympy expression (symbols allowed); numbers must be
    finite, and ``> 0`` when ``positive``."""
    if _is_bool(value) or value is None or isinstance(
            value, (str, bytes, complex, np.complexfloating)):
        raise TypeError(f"{name} must be a real number or sympy expression, got {value!r}")
    if isinstance(value, np.floating):  # sympify would keep float32's 24-bit precision
        value = float(value)
    elif isinstance(value, np.integer):
        value = int(value)
    try:
        expr = sp.sympify(value)
    except (sp.SympifyError, TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or sympy expression, "
                        f"got {value!r}") from exc
    if not isinstance(expr, sp.Expr):
        raise TypeError(f"{name} must be a real number or sympy expression, got {value!r}")
    if expr.is_number:
        if expr.is_real is not True or not expr.is_finite:
            raise ValueError(f"{name} must be real and finite, got {value!r}")
        if positive and not expr > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    return expr


def check_probability(value, name: str) -> sp.Expr:
    """A number in ``[0, 1]`` or a sympy expression (a symbol stands for any such
    number; a number outside would make a negative probability)."""
    expr = check_number(value, name)
    if expr.is_number and not 0 <= expr <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return expr


__all__ = ["check_bool", "check_count", "check_choice", "check_number", "check_probability"]
