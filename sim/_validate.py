"""Argument checks shared by the public functions of :mod:`sim`."""

from __future__ import annotations

import numpy as np

SCHEMES_EXACT = ("without", "with", "mixture")
SCHEMES_MC = ("without", "with", "reshuffle", "mixture")


def check_ensemble(ens):
    from sim.ensembles import Ensemble  # sim.ensembles uses the checks below

    if not isinstance(ens, Ensemble):
        raise TypeError(f"ens must be a sim.Ensemble, got {type(ens).__name__}")
    return ens


def check_int(value, name: str, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {rng}, got {value}")
    return int(value)


def check_positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {value!r}") from exc
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def check_scheme(scheme, allowed=SCHEMES_EXACT) -> str:
    if scheme not in allowed:
        raise ValueError(f"scheme must be one of {allowed}, got {scheme!r}")
    return scheme


def check_p(p) -> float:
    try:
        v = float(p)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"p must be a real number in [0, 1], got {p!r}") from exc
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    return v


def check_square(M, name: str, d: int) -> np.ndarray:
    try:
        arr = np.asarray(M, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real ({d}, {d}) array") from exc
    if arr.shape != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr
